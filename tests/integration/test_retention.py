"""
Retention (issue #18) on the SQL stores: schema version 7 and the plans of
the collection's reads.  The collection's rules are the store suite's
(L{resonate.testing.storeadmin}), run on every store.
"""

import sqlite3

from twisted.internet.defer import succeed
from twisted.trial import unittest

from resonate.model.promise import CompletePromise, CreatePromise, State
from resonate.model.requestsadmin import CollectGarbage
from resonate.store import migrate
from resonate.store.postgres.rows import PostgresRows
from resonate.store.sqlite.rows import SQLiteRows
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
            found = []

            class Explaining:
                def execute(self, sql, parameters=()):
                    found.extend(
                        row[3]
                        for row in connection.execute(
                            "EXPLAIN QUERY PLAN " + sql, parameters
                        )
                    )
                    return connection.execute(sql, parameters)

            getattr(SQLiteRows(Explaining()), method)(*args)
            return " ".join(found)

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
            found = []

            def execute(statement, parameters):
                cursor.execute("EXPLAIN " + statement, parameters)
                found.extend(line for (line,) in cursor.fetchall())
                cursor.execute(statement, parameters)
                return succeed(cursor)

            getattr(PostgresRows(execute), method)(*args)
            return "\n".join(found)

        self.assertIn("promises_settled", plan(*_READS[0]))
        self.assertIn("promises_settled", plan(*_READS[1]))
        self.assertIn("tasks_promise", plan("tasks05Of", "t"))
        for read in _READS:
            self.assertNotIn("Sort", plan(*read), read[0])
        for lookup in _LOOKUPS:
            self.assertNotIn("Seq Scan", plan(*lookup), lookup[0])
        await _collectAfterRetention(self, store)

