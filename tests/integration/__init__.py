"""
Tests in the test process with real parts: servers listening on real
sockets of 127.0.0.1 and clients talking to them over HTTP and gRPC, the
real reactor, SQLite files, and PostgreSQL.  The store suites of SQLite and
PostgreSQL, the HTTP and gRPC APIs, auth and TLS, health, metrics, hostile
input and fuzzing, the service C{twist resonate} builds, and the
deterministic simulation.

Nothing here starts a process, and nothing needs a server running
beforehand: the PostgreSQL tests skip unless C{RESONATE_TEST_POSTGRES_DSN}
names one they may create scratch databases on.
"""
