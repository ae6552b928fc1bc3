"""
Tests for L{resonate}, run with C{trial tests}, in three folders by what
they need:

  - L{tests.unit}: fast, in the test process, nothing real but temporary
    files;
  - L{tests.integration}: in the test process, with real sockets on
    127.0.0.1, SQLite files, PostgreSQL and the real reactor;
  - L{tests.processes}: real child processes (C{twist resonate}, the
    C{resonate} command, the SDK, task workers, the benchmarks).

L{tests.support} holds the tools they share.
"""
