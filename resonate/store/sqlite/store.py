# -*- test-case-name: tests.integration.test_store_sqlite -*-
"""
L{SQLiteStore}, an L{IStore} in one SQLite database file, and
L{SQLiteStoreProvider}; with the shared scripts of L{resonate.store.scripts}
as the callables its writer and readers run.
"""

import fcntl
import os
import sqlite3
import time
from functools import partial

from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from resonate.errors import ResonateError, StoreFailure
from resonate.interfaces import IGroupCommitStore, IStore, IStoreProvider
from resonate.model.promise import decideRead
from resonate.model.requests2026 import READ_REQUESTS, ResetAll
from resonate.model.requestsadmin import CollectGarbage, readsOnly
from resonate.status import Status
from resonate.model.tasks2026 import RETRY_TIMEOUT
from resonate.store import migrate, scripts, scripts2026
from resonate.store.sqlite.cache import _PromiseCache
from resonate.store.sqlite.options import SQLITE_OPTIONS, SQLiteOptions
from resonate.store.sqlite.rows import _WriteRequired
from resonate.store.sqlite.threads import (
    _GroupCommitWriter,
    _ReaderPool,
    _Submission,
)


def _overRows(script):
    """
    Adapt a generator script of L{resonate.store.scripts} to the
    C{work(rows, *args)} callables the writer and readers run.
    """

    def work(rows, *args):
        return scripts.runSync(rows, script(*args))

    return work


_readPromise = _overRows(scripts.readPromise)
_createPromise = _overRows(scripts.createPromise)
_completePromise = _overRows(scripts.completePromise)
_searchPromises = _overRows(scripts.searchPromises)
_timeoutPromises = _overRows(scripts.timeoutPromises)


@_overRows
def _timeoutPromisesIfAny(now, limit, retryTimeout=RETRY_TIMEOUT):
    """
    The reader's half of L{scripts.timeoutPromises}: answer 0 unless some
    promise is overdue, which only the writer may time out (one row read,
    not a batch decoded only to be read again on the writer).
    """
    if (yield scripts.RowOp("overduePromises", (now, 1))):
        raise _WriteRequired()
    return 0


@_overRows
def _timeoutLocksIfAny(now, limit):
    """
    The reader's half of L{scripts.timeoutLocks}: answer 0 unless some lock
    has expired, which only the writer may delete.
    """
    if (yield scripts.RowOp("expiredLockExists", (now,))):
        raise _WriteRequired()
    return 0


# Readers never write, so a ping never moves to the writer.
_ping = _overRows(scripts.ping)

_createSchedule = _overRows(scripts.createSchedule)
_readSchedule = _overRows(scripts.readSchedule)
_deleteSchedule = _overRows(scripts.deleteSchedule)
_searchSchedules = _overRows(scripts.searchSchedules)
_fireSchedules = _overRows(scripts.fireSchedules)
_nextRunTime = _overRows(scripts.nextRunTime)

_acquireLock = _overRows(scripts.acquireLock)
_releaseLock = _overRows(scripts.releaseLock)
_heartbeatLocks = _overRows(scripts.heartbeatLocks)
_timeoutLocks = _overRows(scripts.timeoutLocks)

_createPromiseAndTask = _overRows(scripts.createPromiseAndTask)
_claimTask = _overRows(scripts.claimTask)
_completeTask = _overRows(scripts.completeTask)
_dispatchTasks = _overRows(scripts.dispatchTasks)

_handle2026 = _overRows(scripts2026.handle)
_expireTasks2026 = _overRows(scripts2026.expireTasks)
_takeMessages = _overRows(scripts2026.takeMessages)
_settleMessages = _overRows(scripts2026.settleMessages)
_dropExpiredMessages = _overRows(scripts2026.dropExpiredMessages)


@_overRows
def _expireTasks2026IfAny(now, limit, retryTimeout):
    """
    The reader's half of L{scripts2026.expireTasks}: answer 0 unless some
    task timer is due, which only the writer may act on.
    """
    if (yield scripts.RowOp("dueTasks2026", (now, 1))):
        raise _WriteRequired()
    return 0


def _openLockFile(lockPath, path):
    """
    Open (creating) a lock file beside the database.

    @return: its descriptor.
    @raise StoreFailure: it cannot be opened.
    """
    try:
        return os.open(lockPath, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise StoreFailure(f"cannot open SQLite database {path!r}: {e}")


def _queuedWriter(base, lockFd):
    """
    A connection class whose write transactions queue for an exclusive
    C{flock} on C{lockFd} before C{BEGIN}, and release it once they end.

    Workers sharing one file would otherwise meet at SQLite's own write
    lock, whose busy handler polls with sleeps of 1 to 100 ms: measured
    with 2 workers, creates' p99 went from 35 ms to 230-425 ms.  The
    kernel hands a released C{flock} to the next waiter at once, so a
    writer waits only for the transaction ahead of it.  Only the writer
    thread takes it (it may block there, never on the reactor thread).
    """

    class QueuedWriter(base):
        def execute(self, sql, *args):
            if sql.startswith("BEGIN"):
                fcntl.flock(lockFd, fcntl.LOCK_EX)
                try:
                    return super().execute(sql, *args)
                except BaseException:
                    fcntl.flock(lockFd, fcntl.LOCK_UN)
                    raise
            if sql == "ROLLBACK":
                try:
                    return super().execute(sql, *args)
                finally:
                    fcntl.flock(lockFd, fcntl.LOCK_UN)
            if sql == "COMMIT":
                try:
                    return super().execute(sql, *args)
                finally:
                    # A failed COMMIT may leave the transaction open: its
                    # ROLLBACK releases the lock then.
                    if not self.in_transaction:
                        fcntl.flock(lockFd, fcntl.LOCK_UN)
            return super().execute(sql, *args)

    QueuedWriter.__name__ = f"QueuedWriter({base.__name__})"
    return QueuedWriter


@implementer(IStore, IGroupCommitStore)
class SQLiteStore:
    """
    An L{IStore} in one SQLite database file, for one server process, or
    shared by the worker processes of one server (C{config.shared}).

    Writes go through one writer thread that group-commits; reads run on
    C{workers} reader threads, each with its own connection, and move to the
    writer only when they turn out to need a write (an overdue promise, an
    expired lock to sweep).

    @cvar connectionFactory: the C{sqlite3.Connection} class every
        connection is made with (tests substitute one that watches threads).
    """

    _log = Logger()
    connectionFactory = sqlite3.Connection

    def __init__(self, config, reactor=None):
        """
        Open (creating or migrating) the database, synchronously, and start
        the writer and reader threads.

        @param config: a L{resonate.config.StoreConfig}.
        @param reactor: the reactor results are delivered on; the global one
            when L{None}.
        @raise StoreFailure: the options are wrong or the database cannot be
            opened.
        """
        if reactor is None:
            from twisted.internet import reactor
        self._reactor = reactor
        self._options = SQLiteOptions.fromConfig(config.options)
        for name in ("size", "batchSize", "workers"):
            value = getattr(config, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise StoreFailure(
                    f"store {name} must be at least 1, not {value!r}"
                )
        self._size = config.size
        path = self._options.path
        shared = getattr(config, "shared", False)
        self._lock = self._lockDatabase(path, shared)
        self._writeLock = None
        try:
            # Shared by workers: the supervisor opened it first and did any
            # reset; doing it here would delete the other workers' data.
            if self._options.reset and not shared:
                self._removeDatabase(path)
            factory = self.connectionFactory
            if shared:
                self._writeLock = _openLockFile(path + "-writer", path)
                factory = _queuedWriter(factory, self._writeLock)
            connection = self._open(path, factory)
        except BaseException:
            os.close(self._lock)
            if self._writeLock is not None:
                os.close(self._writeLock)
            raise
        # The cache is right only while this process makes every write; the
        # other workers change (and debug.reset deletes) rows under it.
        self._cache = _PromiseCache(0 if shared else self._options.cacheSize)

        self._closing = False
        self._writerStopping = False
        self._closed = False
        self._closeWaiters = []
        self._commitObservers = []
        self._readsInFlight = 0

        self._readers = _ReaderPool(
            config.workers,
            partial(self._connect, readOnly=True),
            reactor,
            config.batchSize,
            self._deliverReads,
        )
        self._writer = _GroupCommitWriter(
            connection, reactor, config.batchSize, self._deliver, self._finish
        )
        self._readers.start()
        self._writer.start()

    @property
    def commits(self):
        """
        How many group commits the writer has made.
        """
        return self._writer.commits

    @property
    def committedRequests(self):
        """
        How many write transactions those group commits carried.
        """
        return self._writer.committedRequests

    @property
    def writerThread(self):
        """
        The writer thread, the only one that writes.
        """
        return self._writer.thread

    def _lockDatabase(self, path, shared=False):
        """
        Take the database for this process alone: an exclusive C{flock} on
        C{PATH-lock}, held until the store is closed (or the process ends,
        however it ends).  The cache is right only if every write passes
        through this store's writer; several servers share PostgreSQL, not
        a SQLite file.  The workers of one server (C{shared}) take it
        shared instead: they keep no cache, and keep out a server that
        would.

        @return: the lock file's descriptor.
        @raise StoreFailure: another process (or store) holds the database.
        """
        lockPath = path + "-lock"
        try:
            fd = os.open(lockPath, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise StoreFailure(f"cannot open SQLite database {path!r}: {e}")
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreFailure(
                f"SQLite database {path!r} is in use by another server "
                f"({lockPath!r} is locked): one server per SQLite file "
                "(with as many workers as api.workers says); use PostgreSQL "
                "to run several"
            )
        return fd

    def _removeDatabase(self, path):
        """
        Delete the database file and its WAL, shared-memory and journal
        files.
        """
        for name in (path, path + "-wal", path + "-shm", path + "-journal"):
            try:
                os.remove(name)
            except FileNotFoundError:
                pass
            except OSError as e:
                raise StoreFailure(
                    f"cannot reset SQLite database {path!r}: {e}"
                )

    def _open(self, path, factory=None):
        """
        Open the write connection and bring the schema up to date.
        """
        try:
            connection = self._connect(factory=factory)
        except sqlite3.Error as e:
            raise StoreFailure(f"cannot open SQLite database {path!r}: {e}")
        try:
            migrate.migrate(connection, migrate.loadMigrations("sqlite"))
        except (sqlite3.Error, StoreFailure) as e:
            connection.close()
            reason = e.message if isinstance(e, StoreFailure) else e
            raise StoreFailure(
                f"cannot open SQLite database {path!r}: {reason}"
            )
        return connection

    def _connect(self, readOnly=False, factory=None):
        """
        Make a connection: WAL, the configured durability, a busy timeout of
        C{txTimeout}, case-sensitive LIKE, and transactions only where we say
        BEGIN.  Any one thread may use it, one thread at a time.
        """
        connection = sqlite3.connect(
            self._options.path,
            timeout=self._options.txTimeout,
            isolation_level=None,
            check_same_thread=False,
            factory=factory or self.connectionFactory,
        )
        try:
            (mode,) = connection.execute(
                "PRAGMA journal_mode = WAL"
            ).fetchone()
            if mode.lower() != "wal":
                raise sqlite3.OperationalError(
                    f"WAL is not available (journal mode {mode})"
                )
            # A pragma's value cannot be bound; fromConfig allowed only
            # SYNCHRONOUS_MODES.
            connection.execute(
                f"PRAGMA synchronous = {self._options.synchronous}"
            )
            connection.execute("PRAGMA case_sensitive_like = ON")
            if readOnly:
                connection.execute("PRAGMA query_only = ON")
        except BaseException:
            connection.close()
            raise
        return connection

    def _storeError(self, failure):
        """
        Let a L{ResonateError} through; log anything else, once, and replace
        it with L{StoreFailure}.
        """
        if failure.check(ResonateError):
            return failure
        self._log.failure("SQLite store transaction failed", failure)
        return Failure(StoreFailure())

    def _write(self, script, *args, accepted=False):
        """
        Run C{script} on the writer.

        @param accepted: the request was accepted before close() (a read
            moving to the writer), so shutting down does not refuse it.
        """
        if self._writerStopping or (self._closing and not accepted):
            return fail(ResonateError(Status.SHUTTING_DOWN))
        if self._writer.waiting() >= self._size:
            return fail(ResonateError(Status.AIO_SUBMISSION_QUEUE_FULL))
        d = Deferred()
        self._writer.submit(
            _Submission(
                script, args, d, time.monotonic() + self._options.txTimeout
            )
        )
        return d

    def observeCommits(self, observer):
        """
        See L{IGroupCommitStore.observeCommits}.
        """
        self._commitObservers.append(observer)

    def _deliver(self, outcomes, batchFailure, committed, written=()):
        """
        On the reactor thread, keep what the batch wrote in the cache, tell
        the commit observers, then fire a committed (or failed) batch's
        Deferreds.
        """
        self._cache.committed(written)
        if batchFailure is not None:
            self._log.failure("SQLite group commit failed", batchFailure)
        if committed:
            for observer in self._commitObservers:
                try:
                    observer(committed)
                except Exception:
                    self._log.failure("a commit observer failed")
        for d, result in outcomes:
            if isinstance(result, Failure):
                d.errback(self._storeError(result))
            else:
                d.callback(result)

    def _read(self, readScript, writeScript, *args):
        """
        Run C{readScript} on a reader; if it needs to write, run
        C{writeScript} with the same arguments on the writer instead.
        """
        if self._closing:
            return fail(ResonateError(Status.SHUTTING_DOWN))
        self._readsInFlight += 1
        d = Deferred()
        self._readers.submit(readScript, args, d)
        d.addBoth(self._readFinished, writeScript, args)
        return d

    def _deliverReads(self, outcomes):
        """
        On the reactor thread, fire a batch of reads' Deferreds.
        """
        for d, result in outcomes:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(result)

    def _readFinished(self, result, writeScript, args):
        """
        On the reactor thread, a reader is done: hand a transaction that must
        write to the writer, turn unexpected errors into L{StoreFailure}, and
        let a pending close() go on once no read is left.
        """
        if isinstance(result, Failure):
            if result.check(_WriteRequired):
                result = self._write(writeScript, *args, accepted=True)
            else:
                result = self._storeError(result)
        # Only after any hand-over to the writer, so close() queues its stop
        # behind it.
        self._readsInFlight -= 1
        if self._closing and self._readsInFlight == 0:
            self._stopWriter()
        return result

    def readPromise(self, promiseId, now, retryTimeout=RETRY_TIMEOUT):
        """
        Read a promise: from the cache if it is there and not overdue,
        otherwise on a reader, timing it out on the writer if overdue.
        """
        cached = self._cache.get(promiseId)
        if cached is not None and not self._closing:
            decision = decideRead(cached, now)
            if decision.write is None:
                return succeed(decision)
        return self._read(
            _readPromise, _readPromise, promiseId, now, retryTimeout
        ).addCallback(self._readDecided, self._cache.generation)

    def _readDecided(self, decision, generation):
        """
        Keep a promise a reader found, unless a batch that wrote promises
        was committed since the read began: the reader may have seen the
        row before it.
        """
        if decision.promise is not None and generation == self._cache.generation:
            self._cache.put(decision.promise)
        return decision

    def createPromise(self, request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Create or deduplicate on the writer.
        """
        return self._write(_createPromise, request, now, retryTimeout)

    def completePromise(self, request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Complete or deduplicate on the writer.
        """
        return self._write(_completePromise, request, now, retryTimeout)

    def searchPromises(self, query, now):
        """
        Search on a reader: a search writes nothing, however many promises
        are overdue.
        """
        return self._read(_searchPromises, _searchPromises, query, now)

    def timeoutPromises(self, now, limit, retryTimeout=RETRY_TIMEOUT):
        """
        Time out overdue promises on the writer, after a reader has found
        there are some (the common answer, none, costs no write).
        """
        return self._read(
            _timeoutPromisesIfAny, _timeoutPromises, now, limit, retryTimeout
        )

    def createSchedule(self, request, now):
        """
        Create or deduplicate a schedule on the writer.
        """
        return self._write(_createSchedule, request, now)

    def readSchedule(self, scheduleId, now):
        """
        Read a schedule on a reader.
        """
        return self._read(_readSchedule, _readSchedule, scheduleId, now)

    def deleteSchedule(self, scheduleId, now):
        """
        Delete a schedule on the writer.
        """
        return self._write(_deleteSchedule, scheduleId, now)

    def searchSchedules(self, query, now):
        """
        Search schedules on a reader.
        """
        return self._read(_searchSchedules, _searchSchedules, query, now)

    def fireSchedules(self, now, limit, isRouted=None, retryTimeout=RETRY_TIMEOUT):
        """
        Fire due slots on the writer, after a reader has found there are
        some (the common answer, none, costs no write): the reader's first
        advance stops its transaction and hands the whole script over.
        """
        return self._read(
            _fireSchedules, _fireSchedules, now, limit, isRouted, retryTimeout
        )

    def nextRunTime(self):
        """
        The earliest next slot of any schedule, read on a reader.
        """
        return self._read(_nextRunTime, _nextRunTime)

    def acquireLock(self, request, now):
        """
        Acquire, re-acquire or take over an expired lock, on the writer.
        """
        return self._write(_acquireLock, request, now)

    def releaseLock(self, request, now):
        """
        Release a lock on the writer.
        """
        return self._write(_releaseLock, request, now)

    def heartbeatLocks(self, processId, now):
        """
        Extend a process's locks on the writer.
        """
        return self._write(_heartbeatLocks, processId, now)

    def timeoutLocks(self, now, limit):
        """
        Delete expired locks on the writer, after a reader has found there
        are some (the common answer, none, costs no write).
        """
        return self._read(_timeoutLocksIfAny, _timeoutLocks, now, limit)

    def createPromiseAndTask(self, request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Create or deduplicate a routed promise, and its task, on the writer.
        """
        return self._write(_createPromiseAndTask, request, now, retryTimeout)

    def claimTask(self, request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Claim a task (taking its promise's lock) on the writer.
        """
        return self._write(_claimTask, request, now, retryTimeout)

    def completeTask(self, request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Complete a task and its promise (releasing the lock) on the writer.
        """
        return self._write(_completeTask, request, now, retryTimeout)

    def dispatchTasks(self, now, limit, claimWindow):
        """
        Offer dispatchable tasks on the writer, after a reader has found
        there are some (the common answer, none, costs no write): the
        reader's first offer stops its transaction and hands the whole
        script over.
        """
        return self._read(
            _dispatchTasks, _dispatchTasks, now, limit, claimWindow
        )

    def ping(self):
        """
        Read from the database on a reader, as reads do.
        """
        return self._read(_ping, _ping)

    def handle2026(self, request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Answer a 2026 request: one that usually only reads on a reader
        (moving to the writer if it must time a promise out), any other on
        the writer.
        """
        if isinstance(request, READ_REQUESTS) or readsOnly(request):
            return self._read(_handle2026, _handle2026, request, now, retryTimeout)
        d = self._write(_handle2026, request, now, retryTimeout)
        if isinstance(request, ResetAll):
            # The rows are gone: so must be the cached copies.
            d.addCallback(self._resetCommitted)
        elif isinstance(request, CollectGarbage):
            d.addCallback(self._garbageCollected)
        return d

    def _garbageCollected(self, reply):
        # Collected promises may be created again: no cached copy may
        # answer for them.
        self._cache.forget(reply.promises)
        return reply

    def _resetCommitted(self, reply):
        self._cache.clear()
        return reply

    def expireTasks2026(self, now, limit, retryTimeout=RETRY_TIMEOUT):
        """
        Act on due task timers on the writer, after a reader has found
        there are some (the common answer, none, costs no write).
        """
        return self._read(
            _expireTasks2026IfAny, _expireTasks2026, now, limit, retryTimeout
        )

    def takeMessages(self, now, limit, route, lease):
        """
        Take due outbox messages on the writer, after a reader has found
        there are some (the common answer, none, costs no write): the
        reader's first write hands the whole script over.
        """
        return self._read(_takeMessages, _takeMessages, now, limit, route, lease)

    def settleMessages(self, delivered, failed):
        """
        Settle a look's messages on the writer, in one write request.
        """
        return self._write(_settleMessages, list(delivered), list(failed))

    def dropExpiredMessages(self, createdBefore, limit):
        """
        Drop expired messages on the writer, after a reader has found there
        are some.
        """
        return self._read(
            _dropExpiredMessages, _dropExpiredMessages, createdBefore, limit
        )

    def close(self):
        """
        Refuse new requests, let reads finish (and hand over their writes),
        commit everything queued, then stop the threads and close the
        connections, off the reactor thread.

        @return: a C{Deferred} firing once everything accepted is committed,
            the reader threads are joined and every connection is closed
            (the writer thread, which reports this, then only returns).
        """
        if self._closed:
            return succeed(None)
        d = Deferred()
        self._closeWaiters.append(d)
        if not self._closing:
            self._closing = True
            if self._readsInFlight == 0:
                self._stopWriter()
        return d

    def _stopWriter(self):
        """
        Queue the writer's stop, once, behind everything accepted.
        """
        if not self._writerStopping:
            self._writerStopping = True
            self._writer.stop()

    def _finish(self):
        """
        In the writer thread, once it has stopped: stop the readers, close
        every connection, then tell the reactor thread.
        """
        failure = None
        try:
            # Each reader thread closes its own connection as it ends.
            self._readers.stop()
        except Exception:
            failure = Failure()
            failure.cleanFailure()
        self._reactor.callFromThread(self._closeFinished, failure)

    def _closeFinished(self, failure):
        """
        On the reactor thread: every thread has stopped; fire close()'s
        Deferreds.
        """
        self._closed = True
        os.close(self._lock)
        if self._writeLock is not None:
            os.close(self._writeLock)
        waiters, self._closeWaiters = self._closeWaiters, []
        if failure is not None:
            self._log.failure("Closing the SQLite store failed", failure)
        for d in waiters:
            d.callback(None)


@implementer(IStoreProvider)
class SQLiteStoreProvider:
    """
    Makes L{SQLiteStore}s: C{kind: sqlite}, the default.
    """

    name = "sqlite"
    description = (
        "SQLite: one database file (WAL), group-committed by one writer thread"
    )
    options = SQLITE_OPTIONS

    def makeStore(self, config, reactor):
        """
        Open the SQLite store C{config} describes, before the reactor runs.

        @raise StoreFailure: it cannot be opened.
        """
        return SQLiteStore(config, reactor)
