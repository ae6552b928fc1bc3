# -*- test-case-name: tests.integration.test_health -*-
"""
Tests for C{GET /healthz} (the process answers) and C{GET /readyz} (the
store answers), over real sockets, on real stores, a PostgreSQL one among
them whose connections are cut.  A real C{twist resonate} process whose
connections are cut is in L{tests.processes.test_health_processes}.
"""

import time

from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import deferLater
from twisted.trial import unittest

from resonate.config import StoreConfig
from resonate.errors import ResonateError
from resonate.status import Status
from resonate.store.memory import MemoryStore
from resonate.store.sqlite.store import SQLiteStore
from tests.integration.test_store_postgres import SKIP, PostgresTestsMixin, adminQuery
from tests.support.apitools import LiveAPI

#: How long a store may take to notice that its database went away, or came
#: back, in seconds.
NOTICE = 15.0


async def until(testCase, check, seconds=NOTICE):
    """
    Call C{check()} (a coroutine function) until it returns something true,
    pausing briefly between calls.

    @return: what it returned.
    """
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            testCase.fail(f"no change within {seconds}s; last: {result!r}")
        await deferLater(reactor, 0.05, lambda: None)


class HealthTests(unittest.TestCase):
    """
    The health routes over an in-memory and an SQLite store.
    """

    def assertHealthy(self, response):
        """
        C{response} is C{200 {"status": "ok"}} in JSON.
        """
        self.assertEqual(response.code, 200, response)
        self.assertEqual(response.body, {"status": "ok"})
        self.assertEqual(
            response.headers.getRawHeaders(b"content-type"),
            [b"application/json"],
        )

    def assertNotReady(self, response, code):
        """
        C{response} is 503 with the envelope and C{code}.
        """
        self.assertEqual(response.code, 503, response)
        self.assertEqual(response.errorCode, code)
        self.assertEqual(
            response.headers.getRawHeaders(b"content-type"),
            [b"application/json"],
        )

    async def test_healthy(self):
        """
        A running server answers both routes with 200.
        """
        api = await LiveAPI(self).start()
        self.assertHealthy(await api.request("GET", "/healthz"))
        self.assertHealthy(await api.request("GET", "/readyz"))

    async def test_methods(self):
        """
        The health routes are C{GET} only (C{HEAD} too): another method is
        405.
        """
        api = await LiveAPI(self).start()
        for path in ["/healthz", "/readyz"]:
            self.assertEqual((await api.request("HEAD", path)).code, 200)
            response = await api.request("POST", path)
            self.assertEqual((response.code, response.errorCode), (405, 4050))

    async def test_overload(self):
        """
        With C{api.size} requests in flight, requests get 503 (5031) but
        both health routes answer 200: neither is subject to admission.
        """
        api = await LiveAPI(self, size=1).start()
        blocked = Deferred()
        original = api.store.readPromise
        api.store.readPromise = lambda promiseId, now, **kw: blocked.addCallback(
            lambda _: original(promiseId, now, **kw)
        )
        first = ensureDeferred(api.request("GET", "/promises/p"))
        while api.operations.inFlight == 0:
            await deferLater(reactor, 0.01, lambda: None)
        refused = await api.request("GET", "/promises/q")
        self.assertEqual((refused.code, refused.errorCode), (503, 5031))
        self.assertHealthy(await api.request("GET", "/healthz"))
        self.assertHealthy(await api.request("GET", "/readyz"))
        blocked.callback(None)
        self.assertEqual((await first).code, 404)

    async def test_sqliteClosed(self):
        """
        Over an SQLite store, C{/readyz} answers 200 while it is open and
        503 (5002) once it is closed; C{/healthz} stays 200.
        """
        store = SQLiteStore(StoreConfig(options={"path": self.mktemp()}), reactor)
        self.addCleanup(store.close)
        api = await LiveAPI(self, store=store).start()
        self.assertHealthy(await api.request("GET", "/readyz"))
        await store.close()
        response = await api.request("GET", "/readyz")
        self.assertNotReady(response, 5002)
        self.assertIn(
            "shutting down", response.body["error"]["details"][0]["message"]
        )
        self.assertHealthy(await api.request("GET", "/healthz"))

    async def test_shuttingDown(self):
        """
        Once the server is stopping, C{/readyz} answers 503 (5030).
        """
        api = await LiveAPI(self).start()
        await api.operations.stop()
        self.assertNotReady(await api.request("GET", "/readyz"), 5030)
        self.assertHealthy(await api.request("GET", "/healthz"))

    async def test_unexpectedFailure(self):
        """
        A store whose ping fails with an unexpected error makes C{/readyz}
        answer 503 (5002); the error is logged once, with its traceback.
        """
        store = MemoryStore()

        def ping():
            raise RuntimeError("disk on fire")

        store.ping = ping
        api = await LiveAPI(self, store=store).start()
        self.assertNotReady(await api.request("GET", "/readyz"), 5002)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class OperationsPingTests(unittest.TestCase):
    """
    Tests for L{resonate.api.operations.Operations.ping}: whatever the store
    fails with, readiness reports a store failure (5002).
    """

    async def test_storeStatuses(self):
        """
        A store that refuses with another status (queue full, closing) is
        not ready: 5002, with the store's reason in the message.
        """
        from resonate.api.operations import Operations

        for status in [
            Status.AIO_SUBMISSION_QUEUE_FULL,
            Status.SHUTTING_DOWN,
            Status.STORE_FAILURE,
        ]:
            store = MemoryStore()
            store.ping = lambda: _failed(ResonateError(status))
            operations = Operations(store, reactor, 1)
            try:
                await operations.ping()
            except ResonateError as e:
                self.assertEqual(e.status, Status.STORE_FAILURE)
                self.assertIn(status.message, e.message)
            else:
                self.fail(f"{status} did not fail the ping")


def _failed(error):
    d = Deferred()
    d.errback(error)
    return d


def cutDatabase(database):
    """
    Refuse new connections to C{database} and end the open ones.
    """
    adminQuery(None, f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
    adminQuery(
        None,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = %s",
        (database,),
    )


def restoreDatabase(database):
    """
    Accept connections to C{database} again.
    """
    adminQuery(None, f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")


class PostgresReadinessTests(PostgresTestsMixin, unittest.TestCase):
    """
    C{/readyz} follows a PostgreSQL database that goes away and comes back.
    """

    skip = SKIP

    async def test_store(self):
        """
        Over a PostgreSQL store, C{/readyz} answers 200, then 503 (5002)
        within C{txTimeout} per probe while the database is away, then 200
        again once it is back.
        """
        database = self.scratchDatabase()
        self.addCleanup(restoreDatabase, database)
        store = self.openStore(database, txTimeout=1.0)
        api = await LiveAPI(self, store=store).start()
        self.assertEqual((await api.request("GET", "/readyz")).code, 200)
        cutDatabase(database)

        async def notReady():
            started = time.monotonic()
            response = await api.request("GET", "/readyz")
            self.assertLess(time.monotonic() - started, 1.0 + 0.5)
            return response.code == 503 and response

        response = await until(self, notReady)
        self.assertEqual(response.errorCode, 5002)
        self.assertEqual((await api.request("GET", "/healthz")).code, 200)
        restoreDatabase(database)

        async def ready():
            return (await api.request("GET", "/readyz")).code == 200

        await until(self, ready)
