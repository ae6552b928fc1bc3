"""
Fast tests, all in the test process: the models, the configuration, the
statuses and errors, the logs, the plugin discovery, the trial reporter,
the memory store against the store contract, and the services on a
L{twisted.internet.task.Clock} over in-memory stores.

Nothing here listens on a port, opens a database server or starts a
process: C{trial tests.unit} takes seconds.
"""
