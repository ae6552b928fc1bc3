"""
Retention (issue #18) on the SQL stores: schema version 7 and the plans of
the collection's reads, and C{POST /gc} over a socket.  The collection's
rules are the store suite's (L{resonate.testing.storeadmin}), run on every
store.
"""

import sqlite3

from twisted.internet import reactor
from twisted.internet.defer import gatherResults
from twisted.trial import unittest

from resonate.api.auth import BasicCredentials, basicAuthorization
from resonate.config import StoreConfig
from resonate.metrics import Metrics
from resonate.model.promise import CompletePromise, CreatePromise, State
from resonate.model.requestsadmin import GARBAGE_BATCH, CollectGarbage
from resonate.store import migrate
from resonate.store.sqlite.store import SQLiteStore
from tests.support.apitools import LiveAPI
from tests.support.queryplans import postgresPlans, sqlitePlans
from tests.integration.test_store_postgres import (
    PostgresTestsMixin,
    adminConnection,
    adminQuery,
)
from tests.integration.test_store_sqlite import SQLiteStoreTestsMixin

NOW = 1_700_000_000_000
LATER = NOW + 3_600_000


async def _writeBeforeRetention(store):
    """
    What a store at schema version 6 holds: settled and pending promises,
    one with a v0.5 task.
    """
    for promiseId in ("s1", "s2", "pending"):
        await store.createPromise(CreatePromise(promiseId, LATER), NOW)
    for promiseId, at in (("s2", NOW + 1), ("s1", NOW + 2)):
        await store.completePromise(CompletePromise(promiseId, State.RESOLVED), at)
    await store.createPromiseAndTask(CreatePromise("t", LATER), NOW)


async def _collectAfterRetention(test, store):
    """
    The promises written before version 7 are collected oldest first, the
    pending ones kept.
    """
    reply = await store.handle2026(CollectGarbage(NOW + 10, 100), NOW + 10)
    test.assertEqual(reply.promises, ("s2", "s1"))


#: The reads of the collection and the console, whose plans must not sort
#: (C{tasks05Of} sorts the one task of a promise).
_READS = (
    ("settledPromises", NOW + 10, None, 10),
    ("settledPromises", NOW + 10, (NOW + 1, "s2"), 10),
    ("locksById", "a", 10),
    ("tasks05ById", "a", 10),
)


#: The collection's lookups by lists of ids, which must not scan a table.
_LOOKUPS = (
    ("unfinishedAmong", ["s1", "t"]),
    ("callbacksOnEach", ["s1", "t"]),
    ("pendingAmong", ["s1", "pending"]),
    ("countGarbageOf", ["s1", "t"]),
)

_TABLES = ("promises", "tasks_2026", "tasks", "callbacks", "listeners")


class SQLiteRetentionSchemaTests(SQLiteStoreTestsMixin, unittest.TestCase):
    """
    SQLite's schema version 7.
    """

    async def test_migratesToRetention(self):
        """
        A database made at schema version 6 opens at version 7,
        C{retention}; its settled promises are collected, and the reads
        use the new indexes: candidates are one range of
        C{promises_settled}, a promise's v0.5 tasks of C{tasks_promise},
        and none sorts.
        """
        migrations = migrate.loadMigrations("sqlite")
        self.assertEqual((migrations[6].version, migrations[6].name), (7, "retention"))
        path = self.mktemp()
        self.patch(migrate, "loadMigrations", lambda dialect="sqlite": migrations[:6])
        old = self.openStore(path=path)
        await _writeBeforeRetention(old)
        await old.close()
        self.patch(migrate, "loadMigrations", lambda dialect="sqlite": migrations[:7])
        store = self.openStore(path=path)
        connection = sqlite3.connect(path)
        self.addCleanup(connection.close)
        self.assertEqual(migrate.schemaVersion(connection), 7)

        def plan(method, *args):
            return " ".join(sqlitePlans(connection, method, *args)[0])

        self.assertIn("USING INDEX promises_settled", plan(*_READS[0]))
        self.assertIn("USING INDEX promises_settled", plan(*_READS[1]))
        self.assertIn("USING INDEX tasks_promise", plan("tasks05Of", "t"))
        for read in _READS:
            self.assertNotIn("TEMP B-TREE", plan(*read), read[0])
        for lookup in _LOOKUPS:
            found = plan(*lookup) + " "
            for table in _TABLES:
                # SQLite before 3.36 says "SCAN TABLE name".
                self.assertNotIn(f"SCAN {table} ", found, lookup[0])
                self.assertNotIn(f"SCAN TABLE {table} ", found, lookup[0])
        await _collectAfterRetention(self, store)


class PostgresRetentionSchemaTests(PostgresTestsMixin, unittest.TestCase):
    """
    PostgreSQL's schema version 7.
    """

    async def test_migratesToRetention(self):
        """
        A database made at schema version 6 opens at version 7; its
        settled promises are collected, and the reads use the new indexes
        without sorting.
        """
        migrations = migrate.loadMigrations("postgres")
        self.assertEqual((migrations[6].version, migrations[6].name), (7, "retention"))
        database = self.scratchDatabase()
        self.patch(migrate, "loadMigrations", lambda dialect="postgres": migrations[:6])
        old = self.openStore(database)
        await _writeBeforeRetention(old)
        await old.close()
        self.patch(migrate, "loadMigrations", lambda dialect="postgres": migrations[:7])
        store = self.openStore(database)
        self.assertEqual(
            adminQuery(database, "SELECT MAX(version) FROM schema_versions"), [(7,)]
        )
        connection = adminConnection(database)
        self.addCleanup(connection.close)
        cursor = connection.cursor()
        # The tables are tiny: make the planner show what it would do with
        # large ones.
        cursor.execute("SET enable_seqscan = off")

        def plan(method, *args):
            return "\n".join(postgresPlans(cursor, method, *args)[0])

        self.assertIn("promises_settled", plan(*_READS[0]))
        self.assertIn("promises_settled", plan(*_READS[1]))
        self.assertIn("tasks_promise", plan("tasks05Of", "t"))
        for read in _READS:
            self.assertNotIn("Sort", plan(*read), read[0])
        for lookup in _LOOKUPS:
            self.assertNotIn("Seq Scan", plan(*lookup), lookup[0])
        await _collectAfterRetention(self, store)


class CollectGarbageHTTPTestsMixin:
    """
    C{POST /gc} over a real socket, on the store C{makeStore} returns.
    """

    def makeStore(self):
        raise NotImplementedError()

    async def startAPI(self, **kwargs):
        self.metrics = Metrics()
        return await LiveAPI(
            self, store=self.makeStore(), metrics=self.metrics, **kwargs
        ).start()

    async def settled(self, api, promiseId, at):
        api.setNow(at)
        self.assertEqual((await api.create(promiseId, timeout=at + 60_000)).code, 201)
        response = await api.complete(promiseId, "RESOLVED")
        self.assertEqual(response.code, 201)

    async def test_collects(self):
        """
        C{POST /gc} deletes what settled more than C{olderThan} ms ago and
        answers the counts, which the metrics add up; a dry run deletes
        nothing and answers the same counts.
        """
        api = await self.startAPI()
        await self.settled(api, "old", NOW)
        await self.settled(api, "new", NOW + 6_000)
        await api.create("pending", timeout=NOW + 600_000)
        api.setNow(NOW + 10_000)
        dry = await api.request("POST", "/gc", {"olderThan": 5_000, "dryRun": True})
        expected = {
            "settledBefore": NOW + 5_000,
            "promises": 1,
            "tasks": 0,
            "callbacks": 0,
            "listeners": 0,
        }
        self.assertEqual((dry.code, dry.body), (200, dict(expected, dryRun=True)))
        self.assertEqual((await api.request("GET", "/promises/old")).code, 200)
        self.assertNotIn(b"resonate_retention_deleted_total{", self.metrics.exposition())
        real = await api.request("POST", "/gc", {"olderThan": 5_000})
        self.assertEqual((real.code, real.body), (200, dict(expected, dryRun=False)))
        self.assertEqual((await api.request("GET", "/promises/old")).code, 404)
        for kept in ("new", "pending"):
            self.assertEqual((await api.request("GET", "/promises/" + kept)).code, 200)
        self.assertIn(
            b'resonate_retention_deleted_total{kind="promises"} 1.0',
            self.metrics.exposition(),
        )
        # The id is free again.
        self.assertEqual((await api.create("old", timeout=NOW + 600_000)).code, 201)

    async def test_everyBatch(self):
        """
        One request works through every batch: more promises than one
        transaction takes are all deleted.
        """
        api = await self.startAPI()
        count = GARBAGE_BATCH * 2 + 5
        for n in range(count):
            await self.settled(api, f"p{n:04}", NOW + n)
        api.setNow(NOW + count + 1)
        response = await api.request("POST", "/gc", {"olderThan": 0})
        self.assertEqual((response.code, response.body["promises"]), (200, count))
        page = await api.request("GET", "/promises?id=*&limit=10")
        self.assertEqual(page.body["promises"], [])

    async def test_invalid(self):
        """
        A bad body is refused with the validation envelope (400, 4000),
        naming each bad field.
        """
        api = await self.startAPI()
        for body, fields in [
            ({}, ["olderThan"]),
            ({"olderThan": -1}, ["olderThan"]),
            ({"olderThan": "30d"}, ["olderThan"]),
            ({"olderThan": 1.5}, ["olderThan"]),
            ({"olderThan": True}, ["olderThan"]),
            ({"olderThan": 2**63}, ["olderThan"]),
            ({"olderThan": 1, "dryRun": "yes"}, ["dryRun"]),
            ({"dryRun": 1}, ["olderThan", "dryRun"]),
        ]:
            response = await api.request("POST", "/gc", body)
            self.assertEqual((response.code, response.errorCode), (400, 4000), body)
            self.assertEqual(
                [d["field"] for d in response.body["error"]["details"]], fields, body
            )
        response = await api.request("POST", "/gc", raw=b"[1]")
        self.assertEqual((response.code, response.errorCode), (400, 4000))

    async def test_authenticated(self):
        """
        C{POST /gc} is behind the same basic auth as every route.
        """
        api = await self.startAPI(credentials=BasicCredentials("u", "p"))
        good = {"authorization": basicAuthorization("u", "p").decode("ascii")}
        await api.request("POST", "/promises", {"id": "old", "timeout": NOW + 1}, good)
        await api.request("PATCH", "/promises/old", {"state": "RESOLVED"}, good)
        response = await api.request("POST", "/gc", {"olderThan": 0})
        self.assertEqual(response.code, 401)
        api.setNow(NOW + 1)
        response = await api.request("POST", "/gc", {"olderThan": 0}, headers=good)
        self.assertEqual((response.code, response.body["promises"]), (200, 1))


class SQLiteCollectGarbageHTTPTests(CollectGarbageHTTPTestsMixin, unittest.TestCase):
    """
    C{POST /gc} over SQLite.
    """

    def makeStore(self):
        store = SQLiteStore(StoreConfig(options={"path": self.mktemp()}), reactor)
        self.addCleanup(store.close)
        return store


class PostgresCollectGarbageHTTPTests(
    PostgresTestsMixin, CollectGarbageHTTPTestsMixin, unittest.TestCase
):
    """
    C{POST /gc} over PostgreSQL.
    """

    def makeStore(self):
        return self.openStore()


class PostgresConcurrentCollectionTests(PostgresTestsMixin, unittest.TestCase):
    """
    Collections running at once on PostgreSQL (two workers, or a
    C{POST /gc} beside the retention loop) share the work.
    """

    async def test_skipLocked(self):
        """
        Two collections at once, each on its own connection, delete
        disjoint sets of promises that together are all of them: each skips
        the candidates the other holds.
        """
        store = self.openStore(workers=4)
        for n in range(40):
            await store.createPromise(CreatePromise(f"p{n:02}", LATER), NOW)
            await store.completePromise(CompletePromise(f"p{n:02}", State.RESOLVED), NOW + n)
        first, second = await gatherResults(
            [
                store.handle2026(CollectGarbage(NOW + 100, 30), NOW + 100),
                store.handle2026(CollectGarbage(NOW + 100, 30), NOW + 100),
            ]
        )
        self.assertEqual(set(first.promises) & set(second.promises), set())
        self.assertEqual(
            sorted(first.promises + second.promises), [f"p{n:02}" for n in range(40)]
        )
        self.assertTrue(first.promises and second.promises)
