"""
Tests that start child processes: C{twist resonate} servers (killed,
stopped, flooded, several on one PostgreSQL database), the C{resonate}
command, the Resonate Python SDK, task workers, the simulation's command,
schemathesis, systemd readiness, the benchmark smoke runs and the install
checks.

The server and the C{resonate} command run from the install under test:
when C{RESONATE_TEST_PLAIN_VENV} names a plain install (the README's first
command, no test extra), from that virtualenv, else from the interpreter
running the tests (L{tests.support.processtools}); C{.ci/run} sets it.
"""
