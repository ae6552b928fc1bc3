"""
The PostgreSQL side of the process tests: whether they can run, a scratch
database per test, and the client helpers the multi-server tests share.

C{RESONATE_TEST_POSTGRES_DSN} names the server (a libpq DSN whose own
database the tests connect to as admin); without it, or without psycopg2,
L{NO_POSTGRES} says why, and a test case sets C{skip = NO_POSTGRES}.
Importing this module never needs either.
"""

import getpass
import os
import uuid

from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred, gatherResults

try:
    import psycopg2
    from psycopg2 import sql
    from psycopg2.extensions import parse_dsn
except ImportError:  # pragma: no cover
    psycopg2 = None

#: The libpq DSN of the PostgreSQL server to test on, or L{None}.
DSN = os.environ.get("RESONATE_TEST_POSTGRES_DSN")

#: Why the PostgreSQL process tests cannot run here, or L{None} when they
#: can: the value of a test case's C{skip}.
NO_POSTGRES = (
    "set RESONATE_TEST_POSTGRES_DSN to run the PostgreSQL process tests"
    if not DSN
    else "psycopg2 is not installed" if psycopg2 is None else None
)

#: The longest any single request may take before it counts as hung.
REQUEST_TIMEOUT = 10.0


def scratchDatabase(testCase):
    """
    Create an empty database on the DSN's server and drop it when the test
    ends.  Register this before starting processes on it: cleanups run last
    first, so the processes are killed before the database is dropped.

    @return: C{(name, admin, flags)}: the database's name, a blocking
        autocommit admin connection to the DSN's own database, and the
        C{twist resonate} flags for a postgres store on the scratch database.
    """
    params = parse_dsn(DSN)
    name = "resonate_test_" + uuid.uuid4().hex
    admin = psycopg2.connect(DSN)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(
            sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        )

    def drop():
        try:
            with admin.cursor() as cursor:
                cursor.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(name)
                    )
                )
        finally:
            admin.close()

    testCase.addCleanup(drop)
    flags = [
        "--aio-store", "postgres",
        "--aio-store-postgres-host", params.get("host", "localhost"),
        "--aio-store-postgres-port", params.get("port", "5432"),
        "--aio-store-postgres-username", params.get("user") or getpass.getuser(),
        "--aio-store-postgres-database", name,
    ]
    if params.get("password"):
        flags += ["--aio-store-postgres-password", params["password"]]
    return name, admin, flags


async def attempt(call):
    """
    Send one request, timing it, and never raise.

    @param call: a no-argument callable returning the request's coroutine.
    @return: C{(response, problem, seconds)}: the L{tests.support.apitools.Response}
        or L{None}, and, when there is none, what went wrong instead (the
        connection dropped, the body was not JSON, no answer in time).
    """
    started = reactor.seconds()
    try:
        response = await ensureDeferred(call()).addTimeout(
            REQUEST_TIMEOUT, reactor
        )
    except Exception as e:
        return None, repr(e), reactor.seconds() - started
    return response, None, reactor.seconds() - started


def isEnvelope(response, *codes):
    """
    Whether C{response} is the contract's error envelope with one of
    C{codes}, whose HTTP status is its code divided by ten.
    """
    body = response.body
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return False
    code = body["error"].get("code")
    return code in codes and response.code == code // 10


async def runClients(clients, work, act):
    """
    Let C{clients} coroutines take items off C{work} in order, one at a
    time each, until none is left.
    """
    items = iter(work)

    async def client(number):
        for item in items:
            await act(number, item)

    await gatherResults(
        [ensureDeferred(client(n)) for n in range(clients)],
        consumeErrors=True,
    )


class PostgresStore:
    """
    A test case mixin (listed before the mixin whose C{storeFlags} it
    supplies): each test's server on a scratch database of its own, named
    C{self.database}; the test skips without PostgreSQL.
    """

    skip = NO_POSTGRES

    def setUp(self):
        self.database, _, self.flags = scratchDatabase(self)

    def storeFlags(self):
        return self.flags
