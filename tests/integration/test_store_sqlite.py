# -*- test-case-name: tests.integration.test_store_sqlite -*-
"""
Tests for L{resonate.store.sqlite} and L{resonate.store.migrate}.

The store runs threads and delivers results through the real reactor, so
these tests use it and return Deferreds (or are coroutines); every store is
closed in cleanup.
"""

import dataclasses
import gc
import os
import random
import sqlite3
import threading

from twisted.internet import reactor
from twisted.internet.defer import gatherResults
from twisted.internet.task import deferLater
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from resonate.config import ConfigError, StoreConfig, loadConfig
from resonate.errors import ResonateError, StoreFailure
from resonate.interfaces import (
    IPromiseRows,
    IStore,
    IStoreProvider,
    ITask2026Rows,
)
from resonate.model.promise import (
    ALL_STATES,
    SEARCH_STATES,
    CompletePromise,
    CreatePromise,
    Promise,
    PromiseQuery,
    State,
    Value,
    matchesPattern,
)
from resonate.model.lock import AcquireLock
from resonate.model.tasks2026 import BRANCH_TAG, TaskState
from resonate.status import Status
from resonate.store import migrate
from resonate.model.requests2026 import ResetAll
from resonate.store.sqlite.cache import _PromiseCache
from resonate.store.sqlite.rows import SQLiteRows
from resonate.store.sqlite.store import (
    SQLiteStore,
    SQLiteStoreProvider,
    _overRows,
)
from resonate.store.sqlrows import likePattern
from resonate.testing.store import StoreTestsMixin
from tests.support.queryplans import sqlitePlans

NOW = 1_700_000_000_000
LATER = NOW + 60_000


class ThreadWatchingConnection(sqlite3.Connection):
    """
    A connection that records the thread of every statement it runs, so
    tests can tell that nothing runs on the reactor thread.

    @cvar threads: the list the threads are appended to; set per test.
    """

    threads = None

    def execute(self, *args, **kwargs):
        """
        Record the current thread, then execute.
        """
        if self.threads is not None:
            self.threads.append(threading.current_thread())
        return super().execute(*args, **kwargs)


class CommitFailingConnection(sqlite3.Connection):
    """
    A connection whose COMMIT fails while C{failCommits} is set.
    """

    failCommits = False

    def execute(self, sql, *args, **kwargs):
        """
        Fail a COMMIT when asked to; run anything else.
        """
        if self.failCommits and sql == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error (simulated)")
        return super().execute(sql, *args, **kwargs)


async def writeBeforeTables2026(store):
    """
    What the migration tests store at schema version 4, before the 2026
    tables: a routed promise with its task, and a lock.

    @return: the promise.
    """
    created = await store.createPromiseAndTask(
        CreatePromise(id="old", timeout=LATER, tags={"t": "1"}), NOW
    )
    await store.acquireLock(
        AcquireLock("old.lock", "process", "execution", 10_000), NOW
    )
    return created.promise


async def assertKeptAfterTables2026(testCase, store, promise):
    """
    Assert that C{store}, migrated to the 2026 tables, still has what
    L{writeBeforeTables2026} stored: the promise, its task (offered), the
    lock (held).
    """
    read = await store.readPromise("old", NOW)
    testCase.assertEqual(read.promise, promise)
    refused = await store.acquireLock(
        AcquireLock("old.lock", "process", "other", 10_000), NOW + 1
    )
    testCase.assertEqual(refused.status, Status.LOCK_ALREADY_ACQUIRED)
    offered = await store.dispatchTasks(NOW + 1, 10, 5_000)
    testCase.assertEqual([t.id for t in offered], ["old"])


async def writeBeforeSearches2026(store):
    """
    What the migration tests store at schema version 5, before the indexes
    of the 2026 reads by id: promises on the branches C{"b"} and C{"c"},
    and one on none.
    """
    for promiseId, tags in [
        ("b:2", {BRANCH_TAG: "b"}),
        ("b", {BRANCH_TAG: "b", "t": "1"}),
        ("c", {BRANCH_TAG: "c"}),
        ("none", {}),
    ]:
        await store.createPromise(CreatePromise(promiseId, LATER, tags=tags), NOW)


#: Reads by id that schema version 6 serves in id order, without a sort:
#: a row operation and its arguments each.
READS_BY_ID = [
    ("promisesById", None, {}, "a", 10, NOW),
    ("tasksById", None, "a", 10),
    ("schedulesById", {}, "a", 10),
    ("allCallbacks",),
    ("allListeners",),
]


class SQLiteStoreTestsMixin:
    """
    Helpers to open stores in temporary files and close them in cleanup.
    """

    def storeConfig(
        self, path=None, size=100, workers=2, batchSize=100, **options
    ):
        """
        A L{StoreConfig} for a database at C{path} (a new temporary file by
        default).
        """
        if path is None:
            path = self.mktemp()
        options.setdefault("path", path)
        # Generous: these tests are not about the deadline, and CI may share
        # two cores with other work (0.25 s, the store's own default, was
        # missed once by a read handed to the writer during close()).
        options.setdefault("txTimeout", 5.0)
        return StoreConfig(
            kind="sqlite",
            size=size,
            workers=workers,
            batchSize=batchSize,
            options=options,
        )

    def openStore(self, config=None, **kwargs):
        """
        Open a store, closed again in cleanup.
        """
        if config is None:
            config = self.storeConfig(**kwargs)
        store = SQLiteStore(config, reactor)
        self.addCleanup(store.close)
        return store

    def create(self, store, promiseId, now=NOW, timeout=LATER, **kwargs):
        """
        Ask C{store} to create a promise.
        """
        return store.createPromise(
            CreatePromise(id=promiseId, timeout=timeout, **kwargs), now
        )


class SQLiteStoreContractTests(StoreTestsMixin, unittest.TestCase):
    """
    The SQLite store keeps the contract every store keeps.
    """

    rowsClass = SQLiteRows

    def makeStore(self):
        """
        A new store in a new file, two readers, closed in cleanup.
        """
        self.config = StoreConfig(workers=2, options={"path": self.mktemp()})
        return self.openConfigured()

    def openConfigured(self):
        """
        A store as C{self.config} says, closed in cleanup.
        """
        store = SQLiteStore(self.config, reactor)
        self.addCleanup(store.close)
        return store

    async def reopenStore(self):
        """
        Close the store and open its file again.
        """
        await self.store.close()
        return self.openConfigured()

    def runRowScript(self, script, *args):
        """
        Run a script of row operations on the writer, as one write
        request (L{SQLiteStore._write}), the way the store's own scripts
        that write run.
        """
        return self.store._write(_overRows(script), *args)


class SQLiteStoreContractOneAtATimeTests(SQLiteStoreContractTests):
    """
    The contract holds with batches of one, a single reader and no cache,
    too (every read on the reader).
    """

    def makeStore(self):
        """
        A store that commits every request alone and caches nothing.
        """
        self.config = StoreConfig(
            workers=1,
            batchSize=1,
            options={"path": self.mktemp(), "cacheSize": 0},
        )
        return self.openConfigured()


class SQLiteSharedStoreContractTests(SQLiteStoreContractTests):
    """
    The contract holds for a store opened shared, as each worker of
    C{api.workers} opens it.
    """

    def makeStore(self):
        """
        A store opened shared on a new file.
        """
        self.config = StoreConfig(
            workers=2, options={"path": self.mktemp()}, shared=True
        )
        return self.openConfigured()


class SharedTests(SQLiteStoreTestsMixin, unittest.TestCase):
    """
    Several stores (the workers of one server) share one file: each sees
    the others' writes at once, and their writes serialize.
    """

    def sharedConfig(self, path, **options):
        return dataclasses.replace(self.storeConfig(path, **options), shared=True)

    async def test_seeEachOther(self):
        """
        A promise created by one store is read by the other, and its
        completion by the other is read by the first: no cached copy
        hides it.
        """
        path = self.mktemp()
        first = self.openStore(self.sharedConfig(path))
        second = self.openStore(self.sharedConfig(path))
        await self.create(first, "s.1")
        decision = await second.readPromise("s.1", NOW)
        self.assertEqual(decision.status, Status.OK)
        await second.completePromise(
            CompletePromise("s.1", State.RESOLVED, Value({}, b"v")), NOW
        )
        decision = await first.readPromise("s.1", NOW)
        self.assertIs(decision.promise.state, State.RESOLVED)
        # And after that, a completion the first had read as pending.
        await self.create(first, "s.2")
        self.assertIs((await first.readPromise("s.2", NOW)).promise.state, State.PENDING)
        await second.completePromise(
            CompletePromise("s.2", State.REJECTED, Value({}, b"")), NOW
        )
        self.assertIs((await first.readPromise("s.2", NOW)).promise.state, State.REJECTED)

    async def test_racingCreates(self):
        """
        The same ids created through both stores at once, with different
        idempotency keys: each is created once, and the other request
        finds it (never two rows, never a lost answer).
        """
        path = self.mktemp()
        first = self.openStore(self.sharedConfig(path))
        second = self.openStore(self.sharedConfig(path))
        ids = [f"race.{n}" for n in range(50)]
        decisions = await gatherResults(
            [self.create(first, i, idempotencyKey="a") for i in ids]
            + [self.create(second, i, idempotencyKey="b") for i in ids]
        )
        for n in range(len(ids)):
            statuses = sorted(
                [decisions[n].status.value, decisions[n + len(ids)].status.value]
            )
            self.assertEqual(
                statuses, sorted([Status.CREATED.value, Status.PROMISE_ALREADY_EXISTS.value])
            )

    async def test_writersQueue(self):
        """
        A shared store's writes wait for the writer lock file (where the
        other workers queue, woken at once by the kernel, rather than at
        SQLite's busy lock, which polls with sleeps), and go on once it
        is released.
        """
        import fcntl

        path = self.mktemp()
        store = self.openStore(self.sharedConfig(path))
        fd = os.open(path + "-writer", os.O_RDWR)
        self.addCleanup(os.close, fd)
        fcntl.flock(fd, fcntl.LOCK_EX)
        created = self.create(store, "queued")
        await deferLater(reactor, 0.3, lambda: None)
        self.assertNoResult(created)
        fcntl.flock(fd, fcntl.LOCK_UN)
        self.assertEqual((await created).status, Status.CREATED)
        # Released after the commit: another writer gets it at once.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)

    async def test_noReset(self):
        """
        A store opened shared never deletes the database, whatever the
        reset option says: the supervisor did that once, before the
        workers opened it.
        """
        path = self.mktemp()
        first = self.openStore(path=path)
        await self.create(first, "kept")
        await first.close()
        shared = self.openStore(self.sharedConfig(path, reset=True))
        self.assertEqual((await shared.readPromise("kept", NOW)).status, Status.OK)

    async def test_exclusiveAndShared(self):
        """
        A store of one process is refused while shared stores hold the
        file, and shared stores while one process holds it.
        """
        path = self.mktemp()
        shared = self.openStore(self.sharedConfig(path))
        error = self.assertRaises(
            StoreFailure, SQLiteStore, self.storeConfig(path), reactor
        )
        self.assertIn("in use by another server", error.message)
        await shared.close()
        alone = self.openStore(path=path)
        self.assertRaises(StoreFailure, SQLiteStore, self.sharedConfig(path), reactor)
        await alone.close()


class ProviderTests(SQLiteStoreTestsMixin, unittest.TestCase):
    """
    L{SQLiteStoreProvider} makes stores.
    """

    def test_interface(self):
        """
        The provider provides L{IStoreProvider} and is named C{sqlite}.
        """
        provider = SQLiteStoreProvider()
        self.assertTrue(verifyObject(IStoreProvider, provider))
        self.assertEqual(provider.name, "sqlite")

    def test_makeStore(self):
        """
        C{makeStore} opens an L{IStore} on the configured path.
        """
        path = self.mktemp()
        store = SQLiteStoreProvider().makeStore(
            self.storeConfig(path), reactor
        )
        self.addCleanup(store.close)
        self.assertTrue(verifyObject(IStore, store))
        self.assertTrue(os.path.exists(path))

    def test_rowsInterface(self):
        """
        L{SQLiteRows} provides L{IPromiseRows} and L{ITask2026Rows}.
        """
        connection = sqlite3.connect(":memory:")
        self.addCleanup(connection.close)
        self.assertTrue(
            verifyObject(IPromiseRows, SQLiteRows(connection))
        )
        self.assertTrue(
            verifyObject(ITask2026Rows, SQLiteRows(connection))
        )

    def test_badPath(self):
        """
        A path in a directory that does not exist fails at once with a
        L{StoreFailure} that names it.
        """
        path = os.path.join(self.mktemp(), "missing", "resonate.db")
        error = self.assertRaises(
            StoreFailure, SQLiteStore, self.storeConfig(path), reactor
        )
        self.assertEqual(error.status, Status.STORE_FAILURE)
        self.assertIn(repr(path), error.message)

    def test_notADatabase(self):
        """
        A file that is not an SQLite database fails at once with a
        L{StoreFailure}.
        """
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(b"this is not a database" * 100)
        error = self.assertRaises(
            StoreFailure, SQLiteStore, self.storeConfig(path), reactor
        )
        self.assertIn("cannot open SQLite database", error.message)

    def test_foreignDatabase(self):
        """
        An SQLite database with tables but no schema version is refused.
        """
        path = self.mktemp()
        connection = sqlite3.connect(path)
        connection.execute("CREATE TABLE promises (id INTEGER)")
        connection.commit()
        connection.close()
        error = self.assertRaises(
            StoreFailure, SQLiteStore, self.storeConfig(path), reactor
        )
        self.assertIn("not made by this server", error.message)

    def test_badOptions(self):
        """
        The declared options refuse wrong values in the configuration,
        naming the option's key path; a store handed an option nobody
        declared fails with a L{StoreFailure} naming it.
        """
        for flag, value, key in [
            ("path", "", "path"),
            ("path", ":memory:", "path"),
            ("path", "file:x.db?mode=memory", "path"),
            ("tx-timeout", "0", "txTimeout"),
            ("tx-timeout", "1", "txTimeout"),
            ("reset", "yes", "reset"),
            ("synchronous", "ALWAYS; DROP TABLE promises", "synchronous"),
            ("cache-size", "-1", "cacheSize"),
            ("cache-size", "1.5", "cacheSize"),
        ]:
            error = self.assertRaises(
                ConfigError, loadConfig, None, {f"aio-store-sqlite-{flag}": value}
            )
            self.assertEqual(
                [path for path, message in error.errors],
                [f"aio.subsystems.store.config.sqlite.{key}"],
            )
        error = self.assertRaises(
            StoreFailure, SQLiteStore, self.storeConfig(txTimout=1.0), reactor
        )
        self.assertIn("'txTimout'", error.message)
        for field in ["size", "batchSize", "workers"]:
            config = StoreConfig(**{field: 0}, options={"path": self.mktemp()})
            error = self.assertRaises(
                StoreFailure, SQLiteStore, config, reactor
            )
            self.assertIn(field, error.message)

    def test_connectionSettings(self):
        """
        The database is in WAL mode, C{synchronous} is FULL by default and
        can be set, and the busy timeout follows C{txTimeout}.
        """
        path = self.mktemp()
        store = self.openStore(path=path, txTimeout=1.5, synchronous="normal")
        connection = store._connect()
        self.addCleanup(connection.close)
        pragma = lambda name: connection.execute(f"PRAGMA {name}").fetchone()[
            0
        ]
        self.assertEqual(pragma("journal_mode"), "wal")
        self.assertEqual(pragma("synchronous"), 1)
        self.assertEqual(pragma("busy_timeout"), 1500)
        full = self.openStore()._connect()
        self.addCleanup(full.close)
        self.assertEqual(full.execute("PRAGMA synchronous").fetchone()[0], 2)


class DurabilityTests(SQLiteStoreTestsMixin, unittest.TestCase):
    """
    What is acknowledged is on disk: it survives close and reopen, until
    C{reset}.
    """

    async def test_survivesReopen(self):
        """
        Promises written before close are read back after reopening.
        """
        path = self.mktemp()
        store = self.openStore(path=path)
        created = await self.create(
            store,
            "durable",
            param=Value({"h": "v"}, b"\x00\xff"),
            tags={"t": "1"},
        )
        self.assertEqual(created.status, Status.CREATED)
        await store.close()
        reopened = self.openStore(path=path)
        decision = await reopened.readPromise("durable", NOW)
        self.assertEqual(decision.status, Status.OK)
        self.assertEqual(decision.promise, created.promise)

    async def test_reset(self):
        """
        C{reset} starts from an empty database.
        """
        path = self.mktemp()
        store = self.openStore(path=path)
        await self.create(store, "gone")
        await store.close()
        reopened = self.openStore(path=path, reset=True)
        decision = await reopened.readPromise("gone", NOW)
        self.assertEqual(decision.status, Status.PROMISE_NOT_FOUND)
        created = await self.create(reopened, "gone")
        self.assertEqual(created.status, Status.CREATED)

    def test_resetMissingFile(self):
        """
        C{reset} on a path with no database yet is no error.
        """
        store = self.openStore(reset=True)
        self.assertTrue(verifyObject(IStore, store))

    async def test_closeCommitsQueued(self):
        """
        close() lets the writer commit everything already accepted before it
        fires.
        """
        path = self.mktemp()
        store = self.openStore(path=path)
        creates = [self.create(store, f"queued.{n}") for n in range(20)]
        await store.close()
        decisions = await gatherResults(creates)
        self.assertEqual({d.status for d in decisions}, {Status.CREATED})
        reopened = self.openStore(path=path)
        page = await reopened.searchPromises(PromiseQuery(id="queued.*"), NOW)
        self.assertEqual(len(page.promises), 20)


class SchemaTests(SQLiteStoreTestsMixin, unittest.TestCase):
    """
    The schema is versioned and a newer one is refused.
    """

    def test_shippedMigrations(self):
        """
        The shipped SQLite schema starts at version 1, C{initial}.
        """
        migrations = migrate.loadMigrations("sqlite")
        self.assertEqual(migrations[0].version, 1)
        self.assertEqual(migrations[0].name, "initial")
        self.assertIn("CREATE TABLE promises", migrations[0].sql)

    def test_versionRecorded(self):
        """
        A new database records every shipped version.
        """
        path = self.mktemp()
        self.openStore(path=path)
        connection = sqlite3.connect(path)
        self.addCleanup(connection.close)
        latest = migrate.loadMigrations("sqlite")[-1].version
        self.assertEqual(migrate.schemaVersion(connection), latest)

    async def test_newerVersionRefused(self):
        """
        A database whose schema is newer than the code is refused with a
        L{StoreFailure} that says so.
        """
        path = self.mktemp()
        await self.openStore(path=path).close()
        connection = sqlite3.connect(path)
        connection.execute(
            "INSERT INTO schema_versions (version, name) VALUES (?, ?)",
            (999, "future"),
        )
        connection.commit()
        connection.close()
        error = self.assertRaises(
            StoreFailure, SQLiteStore, self.storeConfig(path), reactor
        )
        self.assertIn("newer", error.message)
        self.assertIn("999", error.message)

    def test_laterMigrationApplied(self):
        """
        Opening a database applies only the versions it lacks, each once.
        """
        connection = sqlite3.connect(":memory:", isolation_level=None)
        self.addCleanup(connection.close)
        first = migrate.Migration(1, "first", "CREATE TABLE a (x INTEGER);")
        second = migrate.Migration(
            2,
            "second",
            "-- a comment; with a semicolon\n"
            "CREATE TABLE b (y TEXT);\nINSERT INTO a (x) VALUES (1);\n",
        )
        self.assertEqual(migrate.migrate(connection, [first]), 1)
        self.assertEqual(migrate.migrate(connection, [first, second]), 2)
        self.assertEqual(migrate.migrate(connection, [first, second]), 2)
        self.assertEqual(
            connection.execute("SELECT x FROM a").fetchall(), [(1,)]
        )
        self.assertEqual(
            connection.execute(
                "SELECT version, name FROM schema_versions ORDER BY version"
            ).fetchall(),
            [(1, "first"), (2, "second")],
        )

    async def test_migratesToTables2026(self):
        """
        A database made at schema version 4 (before the 2026 tables) opens:
        version 5, C{tasks_2026}, adds the 2026 tables (empty), and the
        promises, tasks, locks and schedules it held are as they were.
        """
        migrations = migrate.loadMigrations("sqlite")
        self.assertEqual(
            (migrations[4].version, migrations[4].name), (5, "tasks_2026")
        )
        path = self.mktemp()
        self.patch(
            migrate, "loadMigrations", lambda dialect="sqlite": migrations[:4]
        )
        old = self.openStore(path=path)
        promise = await writeBeforeTables2026(old)
        await old.close()
        connection = sqlite3.connect(path)
        self.addCleanup(connection.close)
        self.assertEqual(migrate.schemaVersion(connection), 4)
        tables = "tasks_2026", "callbacks", "listeners", "outbox_messages"
        self.assertEqual(
            connection.execute(
                "SELECT name FROM sqlite_master WHERE name IN (?, ?, ?, ?)",
                tables,
            ).fetchall(),
            [],
        )
        self.patch(
            migrate, "loadMigrations", lambda dialect="sqlite": migrations[:5]
        )
        store = self.openStore(path=path)
        self.assertEqual(migrate.schemaVersion(connection), 5)
        for table in tables:
            self.assertEqual(
                connection.execute(f"SELECT COUNT(*) FROM {table}").fetchall(),
                [(0,)],
            )
        await assertKeptAfterTables2026(self, store, promise)

    async def test_migratesToSearches2026(self):
        """
        A database made at schema version 5 opens: version 6,
        C{searches_2026}, indexes the promises it held by branch, and the
        rows' reads use the new indexes: a preload is one range of
        C{promises_branch}, a task search in one state one range of
        C{tasks_2026_state}, and no read by id sorts.
        """
        migrations = migrate.loadMigrations("sqlite")
        self.assertEqual(
            (migrations[5].version, migrations[5].name), (6, "searches_2026")
        )
        path = self.mktemp()
        self.patch(
            migrate, "loadMigrations", lambda dialect="sqlite": migrations[:5]
        )
        old = self.openStore(path=path)
        await writeBeforeSearches2026(old)
        await old.close()
        # Up to version 6 only: later versions are tested on their own.
        self.patch(
            migrate, "loadMigrations", lambda dialect="sqlite": migrations[:6]
        )
        await self.openStore(path=path).close()
        connection = sqlite3.connect(path)
        self.addCleanup(connection.close)
        self.assertEqual(migrate.schemaVersion(connection), 6)

        def plans(method, *args):
            return sqlitePlans(connection, method, *args)

        [plan], branch = plans("branchPromises", "b", None)
        self.assertIn("USING INDEX promises_branch", plan)
        self.assertEqual([p.id for p in branch], ["b", "b:2"])
        [plan], _ = plans("tasksById", TaskState.PENDING, "a", 10)
        self.assertIn("USING INDEX tasks_2026_state", plan)
        for method, *args in [
            *READS_BY_ID,
            # Tags are matched row by row, in id order.
            ("promisesById", State.PENDING, {"t": "1"}, None, 10, NOW),
        ]:
            found, _ = plans(method, *args)
            self.assertNotIn("TEMP B-TREE", " ".join(found), method)

    def test_failedMigrationRolledBack(self):
        """
        A version that fails leaves the database as it was.
        """
        connection = sqlite3.connect(":memory:", isolation_level=None)
        self.addCleanup(connection.close)
        first = migrate.Migration(1, "first", "CREATE TABLE a (x INTEGER);")
        broken = migrate.Migration(
            2, "broken", "CREATE TABLE b (y TEXT);\nNOT SQL AT ALL;\n"
        )
        migrate.migrate(connection, [first])
        self.assertRaises(
            sqlite3.Error, migrate.migrate, connection, [first, broken]
        )
        self.assertEqual(migrate.schemaVersion(connection), 1)
        tables = connection.execute(
            "SELECT name FROM sqlite_master WHERE name = 'b'"
        ).fetchall()
        self.assertEqual(tables, [])


class GroupCommitTests(SQLiteStoreTestsMixin, unittest.TestCase):
    """
    The writer commits queued requests together, one savepoint each.
    """

    async def test_batches(self):
        """
        Fifty creates submitted together commit in fewer than fifty
        transactions, and all of them are created.
        """
        store = self.openStore()
        decisions = await gatherResults(
            [self.create(store, f"batch.{n}") for n in range(50)]
        )
        self.assertEqual({d.status for d in decisions}, {Status.CREATED})
        self.assertEqual(store.committedRequests, 50)
        self.assertLess(store.commits, 50)

    async def test_batchSize(self):
        """
        No commit carries more than C{batchSize} requests.
        """
        store = self.openStore(batchSize=4)
        await gatherResults(
            [self.create(store, f"small.{n}") for n in range(20)]
        )
        self.assertEqual(store.committedRequests, 20)
        self.assertGreaterEqual(store.commits, 5)

    async def test_failureIsolated(self):
        """
        A request whose script fails in the middle of a batch fails alone:
        its writes are rolled back, the others in the batch commit.
        """
        store = self.openStore()

        def failingScript(rows, now):
            rows.insertPromise(
                Promise(
                    id="half-written",
                    state=State.PENDING,
                    timeout=LATER,
                    createdOn=now,
                )
            )
            raise ZeroDivisionError("script failed")

        blocker = self.blockWriter(store)
        before = [self.create(store, f"before.{n}") for n in range(5)]
        failing = store._write(failingScript, NOW)
        after = [self.create(store, f"after.{n}") for n in range(5)]
        commits = store.commits
        blocker.release()
        failure = await self.assertFailure(failing, StoreFailure)
        self.assertEqual(failure.status, Status.STORE_FAILURE)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        decisions = await gatherResults(before + after)
        self.assertEqual({d.status for d in decisions}, {Status.CREATED})
        # The blocker's batch, then one batch for all eleven.
        self.assertEqual(store.commits, commits + 2)
        missing = await store.readPromise("half-written", NOW)
        self.assertEqual(missing.status, Status.PROMISE_NOT_FOUND)

    async def test_resonateErrorPassesThrough(self):
        """
        A L{ResonateError} raised by a script reaches the caller unchanged
        and is not logged.
        """
        store = self.openStore()
        error = ResonateError(Status.PROMISE_NOT_FOUND, "custom")

        def script(rows):
            raise error

        result = await self.assertFailure(store._write(script), ResonateError)
        self.assertIs(result, error)
        self.assertEqual(self.flushLoggedErrors(), [])

    async def test_commitFailureFailsBatch(self):
        """
        When COMMIT fails, every request of the batch fails with
        L{StoreFailure}, the failure is logged once per batch, and nothing of
        the batch is stored.
        """
        self.patch(SQLiteStore, "connectionFactory", CommitFailingConnection)
        store = self.openStore()
        blocker = self.blockWriter(store)
        creates = [self.create(store, f"lost.{n}") for n in range(3)]
        self.patch(CommitFailingConnection, "failCommits", True)
        blocker.release()
        await self.assertFailure(self.blocked, StoreFailure)
        for d in creates:
            await self.assertFailure(d, StoreFailure)
        self.assertEqual(
            len(self.flushLoggedErrors(sqlite3.OperationalError)), 2
        )
        CommitFailingConnection.failCommits = False
        page = await store.searchPromises(PromiseQuery(id="lost.*"), NOW)
        self.assertEqual(page.promises, [])
        created = await self.create(store, "lost.0")
        self.assertEqual(created.status, Status.CREATED)

    def blockWriter(self, store):
        """
        Occupy the writer with a request that waits until released, so that
        tests can queue requests behind it.  Its Deferred is
        C{self.blocked}.

        @return: an object with C{release()}.
        """
        started = threading.Event()
        proceed = threading.Event()

        class Blocker:
            def release(self):
                proceed.set()

        def block(rows):
            started.set()
            proceed.wait(10)

        self.blocked = store._write(block)
        self.assertTrue(started.wait(10))
        blocker = Blocker()
        self.addCleanup(blocker.release)
        return blocker

    async def test_queueFull(self):
        """
        Beyond C{size} queued writes, a write fails at once with 5032.
        """
        store = self.openStore(size=3)
        blocker = self.blockWriter(store)
        queued = [self.create(store, f"full.{n}") for n in range(3)]
        refused = self.create(store, "full.refused")
        error = await self.assertFailure(refused, ResonateError)
        self.assertEqual(error.status, Status.AIO_SUBMISSION_QUEUE_FULL)
        blocker.release()
        await self.blocked
        decisions = await gatherResults(queued)
        self.assertEqual({d.status for d in decisions}, {Status.CREATED})

    async def test_deadlinePassed(self):
        """
        A write that waited longer than C{txTimeout} for the writer fails
        with L{StoreFailure} without running.
        """
        store = self.openStore(txTimeout=0.05)
        blocker = self.blockWriter(store)
        late = self.create(store, "late")
        await deferLater(reactor, 0.2, lambda: None)
        blocker.release()
        error = await self.assertFailure(late, StoreFailure)
        self.assertIn("timed out", error.message)
        missing = await store.readPromise("late", NOW)
        self.assertEqual(missing.status, Status.PROMISE_NOT_FOUND)


class ShutdownTests(SQLiteStoreTestsMixin, unittest.TestCase):
    """
    close() stops the store without blocking the reactor.
    """

    async def test_afterClose(self):
        """
        Every request after close() answers 5030.
        """
        store = self.openStore()
        await store.close()
        requests = [
            self.create(store, "closed"),
            store.completePromise(
                CompletePromise("closed", State.RESOLVED), NOW
            ),
            store.readPromise("closed", NOW),
            store.searchPromises(PromiseQuery(), NOW),
            store.timeoutPromises(NOW, 10),
        ]
        for d in requests:
            error = await self.assertFailure(d, ResonateError)
            self.assertEqual(error.status, Status.SHUTTING_DOWN)

    async def test_closing(self):
        """
        Requests made while close() is under way answer 5030, and close()
        fires once the threads have stopped.
        """
        store = self.openStore()
        closed = store.close()
        error = await self.assertFailure(
            self.create(store, "x"), ResonateError
        )
        self.assertEqual(error.status, Status.SHUTTING_DOWN)
        await closed
        # All that is left of the writer thread is to return.
        store.writerThread.join(10)
        self.assertFalse(store.writerThread.is_alive())
        for thread in store._readers.threads:
            self.assertFalse(thread.is_alive())

    async def test_closeTwice(self):
        """
        close() may be called again, during or after closing.
        """
        store = self.openStore()
        await gatherResults([store.close(), store.close()])
        await store.close()

    async def test_readMovingToWriterDuringClose(self):
        """
        A read accepted before close() that needs the writer (an overdue
        promise) still completes.
        """
        store = self.openStore()
        await self.create(store, "overdue", timeout=NOW + 1)
        read = store.readPromise("overdue", LATER)
        closed = store.close()
        decision = await read
        self.assertIs(decision.promise.state, State.REJECTED_TIMEDOUT)
        await closed


class ThreadTests(SQLiteStoreTestsMixin, unittest.TestCase):
    """
    SQLite never runs on the reactor thread, and only the writer writes.
    """

    async def test_noSQLiteOnReactorThread(self):
        """
        Once the store is open, no statement runs on the reactor thread.
        """
        self.patch(SQLiteStore, "connectionFactory", ThreadWatchingConnection)
        threads = []
        store = self.openStore()
        self.patch(ThreadWatchingConnection, "threads", threads)
        await self.create(store, "threads", timeout=NOW + 1)
        await store.readPromise("threads", NOW)
        await store.readPromise("threads", LATER)
        await store.searchPromises(PromiseQuery(), LATER)
        await store.timeoutPromises(LATER, 10)
        await store.completePromise(
            CompletePromise("threads", State.RESOLVED), NOW
        )
        await store.close()
        self.assertNotEqual(threads, [])
        self.assertNotIn(threading.current_thread(), threads)

    async def test_writesOnWriterOnly(self):
        """
        Inserts and updates run on the writer thread only; reads of promises
        that need no write stay on the readers (with the cache off: see
        L{CacheTests}).
        """
        writes = []
        reads = []

        def recording(method, calls):
            def record(self, *args):
                calls.append(threading.current_thread())
                return method(self, *args)

            return record

        for name in ["insertPromise", "updatePromise"]:
            self.patch(
                SQLiteRows,
                name,
                recording(getattr(SQLiteRows, name), writes),
            )
        self.patch(
            SQLiteRows,
            "readPromise",
            recording(SQLiteRows.readPromise, reads),
        )
        store = self.openStore(cacheSize=0)
        await self.create(store, "w.1", timeout=NOW + 1)
        await self.create(store, "w.2")
        await store.completePromise(
            CompletePromise("w.2", State.RESOLVED), NOW
        )
        del reads[:]
        decision = await store.readPromise("w.2", LATER)
        self.assertIs(decision.promise.state, State.RESOLVED)
        self.assertEqual(len(reads), 1)
        self.assertNotIn(store.writerThread, reads)
        self.assertNotIn(threading.current_thread(), reads)
        decision = await store.readPromise("w.1", LATER)
        self.assertIs(decision.promise.state, State.REJECTED_TIMEDOUT)
        self.assertIn(store.writerThread, reads)
        self.assertEqual(len(writes), 4)
        self.assertEqual(set(writes), {store.writerThread})

    async def test_searchOverdueStaysOnReader(self):
        """
        A search that finds overdue promises answers them timed out from a
        reader and commits nothing: the writer is not asked, so requests
        queued for it do not wait behind a backlog of timeouts.
        """
        searches = []
        search = SQLiteRows.searchPromises

        def recording(self, query, now):
            searches.append(threading.current_thread())
            return search(self, query, now)

        self.patch(SQLiteRows, "searchPromises", recording)
        store = self.openStore()
        await self.create(store, "s.1", timeout=NOW + 1)
        commits = store.commits
        page = await store.searchPromises(PromiseQuery(), NOW)
        self.assertIs(page.promises[0].state, State.PENDING)
        page = await store.searchPromises(PromiseQuery(), LATER)
        self.assertIs(page.promises[0].state, State.REJECTED_TIMEDOUT)
        self.assertEqual(store.commits, commits)
        self.assertEqual(len(searches), 2)
        self.assertNotIn(store.writerThread, searches)

    async def test_timeoutNothingCommitsNothing(self):
        """
        Timing out when nothing is overdue answers 0 without the writer.
        """
        store = self.openStore()
        await self.create(store, "t.1")
        commits = store.commits
        self.assertEqual(await store.timeoutPromises(NOW, 10), 0)
        self.assertEqual(store.commits, commits)
        self.assertEqual(await store.timeoutPromises(LATER, 10), 1)
        self.assertEqual(store.commits, commits + 1)

    async def test_timeoutReaderReadsOneRow(self):
        """
        The reader only asks whether any promise is overdue (one row); the
        batch is read once, on the writer.
        """
        calls = []
        overdue = SQLiteRows.overduePromises

        def recording(self, now, limit):
            calls.append((threading.current_thread(), limit))
            return overdue(self, now, limit)

        self.patch(SQLiteRows, "overduePromises", recording)
        store = self.openStore()
        for i in range(3):
            await self.create(store, f"o.{i}")
        del calls[:]
        self.assertEqual(await store.timeoutPromises(LATER, 10), 3)
        self.assertEqual(
            [limit for thread, limit in calls if thread is not store.writerThread],
            [1],
        )
        self.assertEqual(
            [limit for thread, limit in calls if thread is store.writerThread],
            [10],
        )

    async def test_unexpectedReaderError(self):
        """
        An unexpected error on a reader answers L{StoreFailure} and is
        logged once.
        """
        store = self.openStore()

        def broken(self, promiseId):
            raise KeyError(promiseId)

        self.patch(SQLiteRows, "readPromise", broken)
        await self.assertFailure(store.readPromise("x", NOW), StoreFailure)
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)


class PromiseCacheTests(unittest.TestCase):
    """
    The cache's entries are plain values: copies in and out, and nothing
    for the garbage collector to visit once it has looked at them once.
    """

    promise = Promise(
        "p.1", State.RESOLVED, 10, 1, Value({"h": "1"}, b"param"),
        Value({"v": "2"}, b"value"), "ikc", "ikp", 5, {"t": "3"},
    )

    def test_copies(self):
        """
        What goes in comes out equal, and changing what came out changes
        nothing kept.
        """
        cache = _PromiseCache(10)
        cache.put(self.promise)
        first = cache.get("p.1")
        self.assertEqual(first, self.promise)
        first.tags["t"] = "changed"
        first.param.headers["h"] = "changed"
        self.assertEqual(cache.get("p.1"), self.promise)

    def test_untrackedByCollector(self):
        """
        After a few collections no entry is tracked: ten thousand cached
        promises would otherwise be visited by every full collection.
        """
        cache = _PromiseCache(10)
        cache.put(self.promise)
        for _ in range(3):
            gc.collect()
        (entry,) = cache._promises.values()
        self.assertFalse(gc.is_tracked(entry))


class CacheTests(SQLiteStoreTestsMixin, unittest.TestCase):
    """
    Promises written or read are kept in memory, as committed, and read
    from there without a reader; one process owns the file.
    """

    def recordReads(self):
        """
        Record every promise read by id that reaches SQLite.

        @return: the list the ids go to.
        """
        reads = []
        original = SQLiteRows.readPromise

        def readPromise(rows, promiseId):
            reads.append(promiseId)
            return original(rows, promiseId)

        self.patch(SQLiteRows, "readPromise", readPromise)
        return reads

    async def test_writtenReadFromMemory(self):
        """
        A promise created, then completed, is read as committed without
        touching SQLite.
        """
        store = self.openStore()
        created = await self.create(store, "c.1", tags={"t": "1"})
        reads = self.recordReads()
        decision = await store.readPromise("c.1", NOW)
        self.assertEqual(decision.status, Status.OK)
        self.assertEqual(decision.promise, created.promise)
        completed = await store.completePromise(
            CompletePromise("c.1", State.RESOLVED, Value({"v": "1"}, b"x")), NOW
        )
        del reads[:]
        decision = await store.readPromise("c.1", NOW)
        self.assertEqual(decision.promise, completed.promise)
        self.assertIs(decision.promise.state, State.RESOLVED)
        self.assertEqual(reads, [])

    async def test_resetForgetsCached(self):
        """
        After C{debug.reset} deletes every row, a promise that was cached
        is not found any more.
        """
        store = self.openStore()
        await self.create(store, "gone")
        self.assertEqual((await store.readPromise("gone", NOW)).status, Status.OK)
        await store.handle2026(ResetAll(), NOW)
        decision = await store.readPromise("gone", NOW)
        self.assertIsNone(decision.promise)

    async def test_readOnceFromReader(self):
        """
        After a restart a promise is read on a reader once, then from
        memory.
        """
        path = self.mktemp()
        store = self.openStore(path=path)
        created = await self.create(store, "r.1")
        await store.close()
        reopened = self.openStore(path=path)
        reads = self.recordReads()
        first = await reopened.readPromise("r.1", NOW)
        second = await reopened.readPromise("r.1", NOW)
        self.assertEqual(first.promise, created.promise)
        self.assertEqual(second.promise, created.promise)
        self.assertEqual(reads, ["r.1"])

    async def test_overdueTimedOutOnWriter(self):
        """
        A cached promise that is overdue is timed out on the writer, as
        without the cache, and read as timed out afterwards.
        """
        store = self.openStore()
        await self.create(store, "o.1", timeout=NOW + 1)
        commits = store.commits
        decision = await store.readPromise("o.1", LATER)
        self.assertIs(decision.promise.state, State.REJECTED_TIMEDOUT)
        self.assertEqual(store.commits, commits + 1)
        reads = self.recordReads()
        again = await store.readPromise("o.1", LATER)
        self.assertEqual(again.promise, decision.promise)
        self.assertEqual(reads, [])

    async def test_rolledBackNotCached(self):
        """
        A promise written by a script that then failed, and was rolled
        back, never reaches the cache; the rest of its batch does.
        """

        def insertTask(rows, task):
            raise RuntimeError("after the promise's insert")

        self.patch(SQLiteRows, "insertTask", insertTask)
        store = self.openStore()
        results = await gatherResults(
            [
                self.create(store, "fine.1"),
                store.createPromiseAndTask(
                    CreatePromise(id="boom", timeout=LATER), NOW
                ).addErrback(lambda f: f.value),
                self.create(store, "fine.2"),
            ]
        )
        self.assertEqual(results[0].status, Status.CREATED)
        self.assertIsInstance(results[1], StoreFailure)
        self.assertEqual(results[2].status, Status.CREATED)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        reads = self.recordReads()
        missing = await store.readPromise("boom", NOW)
        self.assertEqual(missing.status, Status.PROMISE_NOT_FOUND)
        self.assertEqual(reads, ["boom"])
        for promiseId in ("fine.1", "fine.2"):
            decision = await store.readPromise(promiseId, NOW)
            self.assertEqual(decision.status, Status.OK)
        self.assertEqual(reads, ["boom"])

    async def test_staleReadNotCached(self):
        """
        A reader's result is not kept when a batch that wrote promises was
        committed after the read began: the reader may have read the row
        before that write.
        """
        store = self.openStore()
        created = await self.create(store, "s.1")
        store._cache._promises.clear()
        generation = store._cache.generation
        await store.completePromise(CompletePromise("s.1", State.RESOLVED), NOW)
        store._readDecided(created, generation)
        decision = await store.readPromise("s.1", NOW)
        self.assertIs(decision.promise.state, State.RESOLVED)

    async def test_bounded(self):
        """
        At most C{cacheSize} promises are kept, the least recently written
        or read leaving first.
        """
        store = self.openStore(cacheSize=2)
        for n in range(3):
            await self.create(store, f"b.{n}")
        reads = self.recordReads()
        for n in (2, 1, 0):
            await store.readPromise(f"b.{n}", NOW)
        self.assertEqual(reads, ["b.0"])

    async def test_readKeepsPromise(self):
        """
        A promise read from the cache moves to the back: the least recently
        used one leaves first.
        """
        store = self.openStore(cacheSize=2)
        await self.create(store, "k.a")
        await self.create(store, "k.b")
        await store.readPromise("k.a", NOW)
        await self.create(store, "k.c")
        reads = self.recordReads()
        await store.readPromise("k.a", NOW)
        await store.readPromise("k.c", NOW)
        self.assertEqual(reads, [])
        await store.readPromise("k.b", NOW)
        self.assertEqual(reads, ["k.b"])

    async def test_off(self):
        """
        With C{cacheSize} 0 every read reaches SQLite.
        """
        store = self.openStore(cacheSize=0)
        await self.create(store, "off.1")
        reads = self.recordReads()
        await store.readPromise("off.1", NOW)
        await store.readPromise("off.1", NOW)
        self.assertEqual(reads, ["off.1", "off.1"])

    async def test_oneProcessPerFile(self):
        """
        A second store on a file in use is refused, saying why; once the
        first is closed the file opens again.
        """
        path = self.mktemp()
        store = self.openStore(path=path)
        error = self.assertRaises(
            StoreFailure, SQLiteStore, self.storeConfig(path), reactor
        )
        self.assertIn("in use by another server", error.message)
        self.assertIn(repr(path), error.message)
        await store.close()
        reopened = self.openStore(path=path)
        self.assertTrue(verifyObject(IStore, reopened))

class SearchTests(SQLiteStoreTestsMixin, unittest.TestCase):
    """
    The SQL search agrees with the model's reference matching exactly.
    """

    async def searchIds(self, store, **query):
        """
        Search C{store} with one large page.

        @return: the ids found, newest first.
        """
        page = await store.searchPromises(
            PromiseQuery(limit=1000, **query), NOW
        )
        return [promise.id for promise in page.promises]

    def test_likePattern(self):
        """
        C{*} becomes C{%}; C{%}, C{_} and C{\\} are escaped.
        """
        self.assertEqual(likePattern("a*b"), "a%b")
        self.assertEqual(likePattern("a_b%c\\d*"), "a\\_b\\%c\\\\d%")

    async def test_patternsMatchReference(self):
        """
        For ids and patterns over a small alphabet with the LIKE specials
        and both cases, the store finds exactly what L{matchesPattern} does.
        """
        store = self.openStore()
        alphabet = "aA_%\\.b"
        chance = random.Random(19)
        ids = sorted(
            {
                "".join(
                    chance.choice(alphabet)
                    for _ in range(chance.randint(0, 5))
                )
                for _ in range(150)
            }
        )
        for promiseId in ids:
            await self.create(store, promiseId)
        patterns = {
            "*",
            "**",
            "",
            "_",
            "%",
            "\\",
            "a*",
            "*a",
            "A*",
            "*_*",
            "*%*",
        }
        patterns |= {
            "".join(
                chance.choice(alphabet + "**")
                for _ in range(chance.randint(0, 5))
            )
            for _ in range(80)
        }
        for pattern in sorted(patterns):
            found = await self.searchIds(store, id=pattern)
            expected = [i for i in reversed(ids) if matchesPattern(pattern, i)]
            self.assertEqual(found, expected, pattern)

    async def test_caseSensitive(self):
        """
        Patterns are case-sensitive, also for non-ASCII letters.
        """
        store = self.openStore()
        for promiseId in ["Abc", "abc", "ÉTÉ", "été"]:
            await self.create(store, promiseId)
        self.assertEqual(await self.searchIds(store, id="a*"), ["abc"])
        self.assertEqual(await self.searchIds(store, id="*BC"), [])
        self.assertEqual(await self.searchIds(store, id="é*"), ["été"])
        self.assertEqual(await self.searchIds(store, id="ABC"), [])

    async def test_tagKeys(self):
        """
        Tag keys with dots, quotes, spaces, backslashes, JSON path syntax,
        unicode and control characters are matched exactly.
        """
        store = self.openStore()
        keys = [
            "a.b",
            'q"uote',
            "it's",
            "sp ace",
            "back\\slash",
            "$",
            "[0]",
            "é",
            "new\nline",
            "",
            "a",
        ]
        for n, key in enumerate(keys):
            await self.create(
                store, f"tag.{n}", tags={key: f"v{n}", "common": "x"}
            )
        for n, key in enumerate(keys):
            found = await self.searchIds(store, tags={key: f"v{n}"})
            self.assertEqual(found, [f"tag.{n}"], key)
            self.assertEqual(await self.searchIds(store, tags={key: "no"}), [])
        self.assertEqual(
            len(await self.searchIds(store, tags={"common": "x"})), 11
        )
        self.assertEqual(
            await self.searchIds(store, tags={"a.b": "v0", "common": "x"}),
            ["tag.0"],
        )
        self.assertEqual(await self.searchIds(store, tags={"b": "v0"}), [])

    async def test_tagKeysNotPaths(self):
        """
        A key that looks like a JSON path does not reach into nested
        structure or other keys.
        """
        store = self.openStore()
        await self.create(store, "nested", tags={"a": "1", "b": "2"})
        for key in ["a.b", '"a"', "a[0]", "$.a", "*"]:
            self.assertEqual(
                await self.searchIds(store, tags={key: "1"}), [], key
            )

    async def test_sortOrderAndPaging(self):
        """
        Results are newest first by creation, and C{sortId} pages strictly
        past the previous page.
        """
        store = self.openStore()
        for n in range(7):
            await self.create(store, f"order.{n}")
        page = await store.searchPromises(
            PromiseQuery(id="order.*", limit=3), NOW
        )
        self.assertEqual(
            [p.id for p in page.promises], ["order.6", "order.5", "order.4"]
        )
        page = await store.searchPromises(page.next, NOW)
        self.assertEqual(
            [p.id for p in page.promises], ["order.3", "order.2", "order.1"]
        )
        page = await store.searchPromises(page.next, NOW)
        self.assertEqual([p.id for p in page.promises], ["order.0"])
        self.assertIsNone(page.next)

    async def test_states(self):
        """
        State filters select by state, and no states select nothing.
        """
        store = self.openStore()
        await self.create(store, "st.pending")
        await self.create(store, "st.resolved")
        await store.completePromise(
            CompletePromise("st.resolved", State.RESOLVED), NOW
        )
        self.assertEqual(
            await self.searchIds(store, states=SEARCH_STATES["pending"]),
            ["st.pending"],
        )
        self.assertEqual(
            await self.searchIds(store, states=SEARCH_STATES["resolved"]),
            ["st.resolved"],
        )
        self.assertEqual(await self.searchIds(store, states=frozenset()), [])
        self.assertEqual(
            await self.searchIds(store, states=ALL_STATES),
            ["st.resolved", "st.pending"],
        )


class RoundTripTests(SQLiteStoreTestsMixin, unittest.TestCase):
    """
    Values come back exactly as they were given.
    """

    async def test_bytes(self):
        """
        Data stays bytes, byte for byte; L{None} and C{b""} stay distinct;
        empty headers read back as C{{}}.
        """
        store = self.openStore()
        for n, data in enumerate([None, b"", b"\x00", bytes(range(256))]):
            promiseId = f"bytes.{n}"
            created = await self.create(
                store, promiseId, param=Value({}, data)
            )
            await store.completePromise(
                CompletePromise(promiseId, State.RESOLVED, Value({}, data)),
                NOW,
            )
            decision = await store.readPromise(promiseId, NOW)
            self.assertEqual(decision.promise.param, Value({}, data))
            self.assertEqual(decision.promise.value, Value({}, data))
            self.assertIs(type(decision.promise.param.data), type(data))
            self.assertEqual(decision.promise.param.headers, {})
            self.assertEqual(created.promise.createdOn, NOW)


class LockSchemaTests(SQLiteStoreTestsMixin, unittest.TestCase):
    """
    Schema version 2 adds the locks table.
    """

    def test_shippedLocksMigration(self):
        """
        The shipped SQLite schema's version 2 is C{locks}, which creates
        the C{locks} table.
        """
        migrations = migrate.loadMigrations("sqlite")
        self.assertEqual(
            [(m.version, m.name) for m in migrations[:2]],
            [(1, "initial"), (2, "locks")],
        )
        self.assertIn("CREATE TABLE locks", migrations[1].sql)

    async def test_upgradeFromVersion1(self):
        """
        Opening a version-1 database upgrades it to the latest version,
        keeping its promises, and locks then work.
        """
        path = self.mktemp()
        connection = sqlite3.connect(path, isolation_level=None)
        self.assertEqual(
            migrate.migrate(connection, migrate.loadMigrations("sqlite")[:1]),
            1,
        )
        connection.execute(
            "INSERT INTO promises (id, state, timeout, created_on) "
            "VALUES (?, ?, ?, ?)",
            ("old", "PENDING", NOW + 60_000, NOW),
        )
        connection.close()
        store = self.openStore(path=path)
        read = await store.readPromise("old", NOW)
        self.assertEqual(read.status, Status.OK)
        self.assertEqual(read.promise.id, "old")
        decision = await store.acquireLock(AcquireLock("r", "p", "e", 10), NOW)
        self.assertEqual(decision.status, Status.CREATED)
        await store.close()
        connection = sqlite3.connect(path)
        self.addCleanup(connection.close)
        self.assertEqual(
            migrate.schemaVersion(connection),
            migrate.loadMigrations("sqlite")[-1].version,
        )
        self.assertEqual(
            connection.execute(
                "SELECT version, name FROM schema_versions ORDER BY version"
            ).fetchall()[:2],
            [(1, "initial"), (2, "locks")],
        )
        self.assertEqual(
            connection.execute(
                "SELECT resource_id, process_id, execution_id, "
                "expiry_in_milliseconds, timeout FROM locks"
            ).fetchall(),
            [("r", "p", "e", 10, NOW + 10)],
        )
        indexes = {
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master "
                "WHERE type = 'index' AND tbl_name = 'locks'"
            )
        }
        self.assertTrue({"locks_process", "locks_timeout"} <= indexes)


class ScheduleSchemaTests(SQLiteStoreTestsMixin, unittest.TestCase):
    """
    Schema version 3 adds the schedules table.
    """

    def test_shippedSchedulesMigration(self):
        """
        The shipped SQLite schema's version 3 is C{schedules}, which
        creates the C{schedules} table.
        """
        migrations = migrate.loadMigrations("sqlite")
        self.assertEqual(
            [(m.version, m.name) for m in migrations[:3]],
            [(1, "initial"), (2, "locks"), (3, "schedules")],
        )
        self.assertIn("CREATE TABLE schedules", migrations[2].sql)

    async def test_upgradeFromVersion2(self):
        """
        Opening a version-2 database upgrades it to the latest version,
        keeping its promises and locks, and creates the C{schedules} table.
        """
        path = self.mktemp()
        connection = sqlite3.connect(path, isolation_level=None)
        self.assertEqual(
            migrate.migrate(connection, migrate.loadMigrations("sqlite")[:2]),
            2,
        )
        connection.execute(
            "INSERT INTO promises (id, state, timeout, created_on) "
            "VALUES (?, ?, ?, ?)",
            ("old", "PENDING", NOW + 60_000, NOW),
        )
        connection.execute(
            "INSERT INTO locks (resource_id, process_id, execution_id, "
            "expiry_in_milliseconds, timeout) VALUES (?, ?, ?, ?, ?)",
            ("r", "p", "e", 10, NOW + 10),
        )
        connection.close()
        store = self.openStore(path=path)
        read = await store.readPromise("old", NOW)
        self.assertEqual(read.status, Status.OK)
        self.assertEqual(read.promise.id, "old")
        again = await store.acquireLock(AcquireLock("r", "p", "e", 10), NOW)
        self.assertEqual(again.status, Status.CREATED)
        taken = await store.acquireLock(AcquireLock("r", "q", "f", 10), NOW)
        self.assertEqual(taken.status, Status.LOCK_ALREADY_ACQUIRED)
        await store.close()
        connection = sqlite3.connect(path)
        self.addCleanup(connection.close)
        self.assertEqual(
            migrate.schemaVersion(connection),
            migrate.loadMigrations("sqlite")[-1].version,
        )
        self.assertEqual(
            connection.execute(
                "SELECT version, name FROM schema_versions ORDER BY version"
            ).fetchall()[:3],
            [(1, "initial"), (2, "locks"), (3, "schedules")],
        )
        self.assertEqual(
            connection.execute("SELECT id, state FROM promises").fetchall(),
            [("old", "PENDING")],
        )
        self.assertEqual(
            connection.execute(
                "SELECT resource_id, process_id, execution_id FROM locks"
            ).fetchall(),
            [("r", "p", "e")],
        )
        self.assertEqual(
            connection.execute("SELECT COUNT(*) FROM schedules").fetchall(),
            [(0,)],
        )
        indexes = {
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master "
                "WHERE type = 'index' AND tbl_name = 'schedules'"
            )
        }
        self.assertIn("schedules_next_run_time", indexes)
