# -*- test-case-name: tests.test_store_sqlite -*-
"""
The SQLite store: one database file, the default, embedded store.

Every transaction is one of the shared scripts of L{resonate.store.scripts}
run over L{SQLitePromiseRows}, so this module decides nothing about
promises, schedules or locks; where it disagrees with
L{resonate.store.memory}, it is wrong.

Threads, because sqlite3 blocks and the reactor must not::

    reactor thread --submit--> queue --> writer thread (the only write
        connection): group commit, a batch run again with a SAVEPOINT per
        request if one fails, results delivered with one callFromThread per
        batch, after COMMIT
    reactor thread --submit--> queue --> reader threads (a connection
        each): whatever reads are queued, in one read-only transaction,
        each result posted to an outbox the reactor drains; a script that
        needs to write is handed to the writer and run again there

Nothing SQLite runs on the reactor thread, except opening and migrating the
database in the constructor, which runs before the reactor does so that a bad
path stops startup.
"""

import fcntl
import json
import os
import queue
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from functools import partial

from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from resonate.errors import ResonateError, StoreFailure
from resonate.interfaces import (
    IGroupCommitStore,
    ILockRows,
    IPromiseRows,
    IScheduleRows,
    IStore,
    IStoreProvider,
    ITaskRows,
)
from resonate.model.promise import TIMER_TAG, Promise, State, Value, decideRead
from resonate.status import Status
from resonate.store import migrate, scripts
from resonate.store.sqlrows import (
    COLUMNS,
    LOCK_COLUMNS,
    SCHEDULE_COLUMNS,
    TASK_COLUMNS,
    lockFromRow,
    rowFromLock,
    likePattern,
    promiseFromRow,
    rowFromPromise,
    stateCondition,
    rowFromSchedule,
    scheduleFromRow,
    rowFromTask,
    taskFromRow,
)

#: The values PRAGMA synchronous accepts; a pragma's value cannot be a bound
#: parameter, so only these are ever put into its SQL.
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")

#: Tag keys that JSON encodes as themselves, so that a quoted JSON path
#: (C{$."key"}) finds them in every SQLite version.  Others are matched
#: through json_each, which decodes keys.
_PLAIN_KEY = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*\Z")


#: One encoder: json.dumps with arguments builds a new one per call.
_encodeJSON = json.JSONEncoder(separators=(",", ":")).encode


def _encodeMapping(mapping):
    """
    Encode headers or tags: a JSON object of strings, ASCII only so that
    any Python string (even a lone surrogate) survives.
    """
    return _encodeJSON(mapping) if mapping else "{}"


def _decodeMapping(text):
    """
    Decode what L{_encodeMapping} stored; a missing object is empty.
    """
    return json.loads(text) if text and text != "{}" else {}



def _promiseFromSQLite(row):
    return promiseFromRow(row, _decodeMapping, lambda data: data)


def _rowForSQLite(promise):
    return rowFromPromise(promise, _encodeMapping)


def _scheduleFromSQLite(row):
    return scheduleFromRow(row, _decodeMapping, lambda data: data)


def _scheduleRowForSQLite(schedule):
    return rowFromSchedule(schedule, _encodeMapping)


def _idCondition(pattern):
    """
    The SQL condition and parameters that select ids matching C{pattern}, or
    L{None} when every id does.
    """
    if "*" not in pattern:
        return "id = ?", [pattern]
    if pattern.strip("*") == "":
        return None
    return "id LIKE ? ESCAPE '\\'", [likePattern(pattern)]


#: The C{json_each} subqueries that match a tag key a quoted JSON path
#: cannot name, by the table whose C{tags} they decode.
_TAG_EACH = {
    table: (
        f"EXISTS (SELECT 1 FROM json_each({table}.tags) AS tag "
        "WHERE tag.key = ? AND tag.type = 'text' AND tag.value = ?)"
    )
    for table in ("promises", "schedules")
}


def _tagCondition(key, value, table="promises"):
    """
    The SQL condition and parameters that select rows of C{table}
    (C{promises} or C{schedules}) tagged C{key} = C{value}.  Both are
    always bound parameters; a key that a quoted JSON path cannot name
    exactly is matched by decoding the tags instead.
    """
    if _PLAIN_KEY.match(key):
        return "json_extract(tags, ?) = ?", ['$."' + key + '"', value]
    return _TAG_EACH[table], [key, value]


def _timerCondition():
    """
    The SQL condition and parameters true for a timer row and false, not
    NULL, for any other (a missing tag extracts as NULL).
    """
    condition, parameters = _tagCondition(TIMER_TAG, "true")
    return f"coalesce({condition}, 0)", parameters


_TIMER_CONDITION = _timerCondition()


@implementer(IPromiseRows, IScheduleRows, ILockRows, ITaskRows)
class SQLitePromiseRows:
    """
    Promise, schedule, lock and task rows on one sqlite3 connection, inside a
    transaction its owner has begun.
    """

    def __init__(self, connection):
        """
        @param connection: an C{sqlite3.Connection} used by one thread at a
            time.
        """
        self._connection = connection

    def ping(self):
        """
        Read one page of the promises table: the cheapest read that
        touches the database file (for L{scripts.ping}).
        """
        self._connection.execute("SELECT 1 FROM promises LIMIT 1").fetchall()

    def readPromise(self, promiseId):
        """
        Read one promise by id.
        """
        row = self._connection.execute(
            f"SELECT {COLUMNS} FROM promises WHERE id = ?", (promiseId,)
        ).fetchone()
        return None if row is None else _promiseFromSQLite(row)[1]

    def insertPromise(self, promise):
        """
        Insert C{promise} unless its id is taken.
        """
        cursor = self._connection.execute(
            "INSERT INTO promises (state, param_headers, param_data, "
            "value_headers, value_data, timeout, "
            "idempotency_key_for_create, idempotency_key_for_complete, "
            "tags, created_on, completed_on, id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO NOTHING",
            _rowForSQLite(promise),
        )
        return cursor.rowcount == 1

    def updatePromise(self, promise):
        """
        Replace the stored promise, if it is still pending.
        """
        cursor = self._connection.execute(
            "UPDATE promises SET state = ?, "
            "param_headers = ?, param_data = ?, "
            "value_headers = ?, value_data = ?, timeout = ?, "
            "idempotency_key_for_create = ?, "
            "idempotency_key_for_complete = ?, "
            "tags = ?, created_on = ?, completed_on = ? "
            "WHERE id = ? AND state = 'PENDING'",
            _rowForSQLite(promise),
        )
        return cursor.rowcount == 1

    def overduePromises(self, now, limit):
        """
        Pending promises whose timeout is due, by timeout then age (the
        partial index on pending timeouts serves this).
        """
        rows = self._connection.execute(
            f"SELECT {COLUMNS} FROM promises "
            "WHERE state = 'PENDING' AND timeout <= ? "
            "ORDER BY timeout, sort_id LIMIT ?",
            (now, -1 if limit is None else limit),
        )
        return [_promiseFromSQLite(row)[1] for row in rows]

    def searchPromises(self, query, now):
        """
        A page of stored promises matching C{query} at C{now}, newest
        first.
        """
        if not query.states:
            return []
        conditions = []
        parameters = []
        if query.sortId is not None:
            conditions.append("sort_id < ?")
            parameters.append(query.sortId)
        idCondition = _idCondition(query.id)
        if idCondition is not None:
            conditions.append(idCondition[0])
            parameters.extend(idCondition[1])
        states = stateCondition(query.states, now, _TIMER_CONDITION, "?")
        if states is not None:
            conditions.append(states[0])
            parameters.extend(states[1])
        for key, value in sorted(query.tags.items()):
            condition, tagParameters = _tagCondition(key, value)
            conditions.append(condition)
            parameters.extend(tagParameters)
        where = " AND ".join(conditions) or "1"
        parameters.append(query.limit)
        # The page's keys first, then its rows: an id prefix is a range of
        # the id index, whose entries carry sort_id, so the matches are
        # sorted as integers without reading a row; sorting whole rows cost
        # two to three times as much (1.1 s for a prefix of 999,000 rows).
        rows = self._connection.execute(
            f"SELECT {COLUMNS} FROM promises WHERE sort_id IN "
            f"(SELECT sort_id FROM promises WHERE {where} "
            "ORDER BY sort_id DESC LIMIT ?) ORDER BY sort_id DESC",
            parameters,
        )
        return [_promiseFromSQLite(row) for row in rows]

    def readSchedule(self, scheduleId):
        """
        Read one schedule by id.
        """
        row = self._connection.execute(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = ?",
            (scheduleId,),
        ).fetchone()
        return None if row is None else _scheduleFromSQLite(row)[1]

    def insertSchedule(self, schedule):
        """
        Insert C{schedule} unless its id is taken.
        """
        cursor = self._connection.execute(
            "INSERT INTO schedules (id, description, cron, tags, "
            "promise_id, promise_timeout, promise_param_headers, "
            "promise_param_data, promise_tags, last_run_time, "
            "next_run_time, idempotency_key, created_on) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO NOTHING",
            _scheduleRowForSQLite(schedule),
        )
        return cursor.rowcount == 1

    def deleteSchedule(self, scheduleId):
        """
        Delete the schedule C{scheduleId}, if there is one.
        """
        cursor = self._connection.execute(
            "DELETE FROM schedules WHERE id = ?", (scheduleId,)
        )
        return cursor.rowcount == 1

    def searchSchedules(self, query):
        """
        A page of schedules matching C{query}, newest first.
        """
        conditions = []
        parameters = []
        if query.sortId is not None:
            conditions.append("sort_id < ?")
            parameters.append(query.sortId)
        idCondition = _idCondition(query.id)
        if idCondition is not None:
            conditions.append(idCondition[0])
            parameters.extend(idCondition[1])
        for key, value in sorted(query.tags.items()):
            condition, tagParameters = _tagCondition(key, value, "schedules")
            conditions.append(condition)
            parameters.extend(tagParameters)
        where = " AND ".join(conditions) or "1"
        parameters.append(query.limit)
        rows = self._connection.execute(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE {where} "
            "ORDER BY sort_id DESC LIMIT ?",
            parameters,
        )
        return [_scheduleFromSQLite(row) for row in rows]

    def dueSchedules(self, now, limit):
        """
        Schedules whose next slot is due, earliest slot first, then oldest
        (the next_run_time index serves this).  One writer: nothing to
        skip.
        """
        rows = self._connection.execute(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules "
            "WHERE next_run_time <= ? "
            "ORDER BY next_run_time, sort_id LIMIT ?",
            (now, -1 if limit is None else limit),
        )
        return [_scheduleFromSQLite(row)[1] for row in rows]

    def advanceSchedule(self, previous, advanced):
        """
        Record that C{previous}'s slot fired: set C{advanced}'s run times,
        if the stored next slot is still the one fired.
        """
        cursor = self._connection.execute(
            "UPDATE schedules SET last_run_time = ?, next_run_time = ? "
            "WHERE id = ? AND next_run_time = ?",
            (
                advanced.lastRunTime,
                advanced.nextRunTime,
                previous.id,
                previous.nextRunTime,
            ),
        )
        return cursor.rowcount == 1

    def earliestRunTime(self):
        """
        The earliest next slot of any schedule, or L{None}.
        """
        (earliest,) = self._connection.execute(
            "SELECT MIN(next_run_time) FROM schedules"
        ).fetchone()
        return earliest

    def readLock(self, resourceId):
        """
        Read the lock on C{resourceId}, expired or not.
        """
        row = self._connection.execute(
            f"SELECT {LOCK_COLUMNS} FROM locks WHERE resource_id = ?",
            (resourceId,),
        ).fetchone()
        return None if row is None else lockFromRow(row)

    def insertLock(self, lock):
        """
        Insert C{lock} unless its resource has a lock row.
        """
        cursor = self._connection.execute(
            f"INSERT INTO locks ({LOCK_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(resource_id) DO NOTHING",
            rowFromLock(lock),
        )
        return cursor.rowcount == 1

    def replaceLock(self, previous, lock):
        """
        Replace the lock row of C{previous}'s resource with C{lock}, if the
        row is still exactly C{previous}.  (C{lock} is of the same
        resource: L{resonate.model.lock.decideAcquire} never moves a lock.)
        """
        cursor = self._connection.execute(
            "UPDATE locks SET process_id = ?, execution_id = ?, "
            "expiry_in_milliseconds = ?, timeout = ? "
            "WHERE resource_id = ? AND process_id = ? AND execution_id = ? "
            "AND expiry_in_milliseconds = ? AND timeout = ?",
            rowFromLock(lock)[1:] + rowFromLock(previous),
        )
        return cursor.rowcount == 1

    def deleteLock(self, resourceId, executionId):
        """
        Delete the lock on C{resourceId} if C{executionId} holds it.
        """
        cursor = self._connection.execute(
            "DELETE FROM locks WHERE resource_id = ? AND execution_id = ?",
            (resourceId, executionId),
        )
        return cursor.rowcount == 1

    def heartbeatLocks(self, processId, now):
        """
        Extend every lock of C{processId} by one lease from C{now}.
        """
        # This is resonate.model.lock.heartbeat, in SQL: one lease from now,
        # not from the previous expiry.
        cursor = self._connection.execute(
            "UPDATE locks SET timeout = ? + expiry_in_milliseconds "
            "WHERE process_id = ?",
            (now, processId),
        )
        return cursor.rowcount

    def deleteExpiredLocks(self, now, limit):
        """
        Delete at most C{limit} (all when L{None}) expired locks, those
        that expired first first.
        """
        cursor = self._connection.execute(
            "DELETE FROM locks WHERE resource_id IN ("
            "SELECT resource_id FROM locks WHERE timeout <= ? "
            "ORDER BY timeout LIMIT ?)",
            (now, -1 if limit is None else limit),
        )
        return cursor.rowcount

    def expiredLockExists(self, now):
        """
        Whether some lock has expired by C{now}: what a reader checks
        before handing the lock sweep to the writer.  (Not part of
        L{ILockRows}; only L{_timeoutLocksIfAny} asks it.)
        """
        row = self._connection.execute(
            "SELECT 1 FROM locks WHERE timeout <= ? LIMIT 1", (now,)
        ).fetchone()
        return row is not None

    def readTask(self, taskId):
        """
        Read one task by id.
        """
        row = self._connection.execute(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (taskId,)
        ).fetchone()
        return None if row is None else taskFromRow(row)

    def insertTask(self, task):
        """
        Insert C{task} unless its id is taken.
        """
        cursor = self._connection.execute(
            f"INSERT INTO tasks ({TASK_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO NOTHING",
            rowFromTask(task),
        )
        return cursor.rowcount == 1

    def updateTask(self, previous, task):
        """
        Replace the stored task with C{task}, if its counter, claim
        timeout, complete timeout and completion are still C{previous}'s.
        """
        cursor = self._connection.execute(
            "UPDATE tasks SET counter = ?, promise_id = ?, "
            "claim_timeout = ?, complete_timeout = ?, promise_timeout = ?, "
            "created_on = ?, completed_on = ?, is_completed = ? "
            "WHERE id = ? AND counter = ? AND claim_timeout = ? "
            "AND complete_timeout = ? AND is_completed = ?",
            rowFromTask(task)[1:]
            + (
                previous.id,
                previous.counter,
                previous.claimTimeout,
                previous.completeTimeout,
                bool(previous.isCompleted),
            ),
        )
        return cursor.rowcount == 1

    def dispatchableTasks(self, now, limit):
        """
        At most C{limit} tasks to offer, oldest first (the partial index
        on tasks not completed serves this).
        """
        rows = self._connection.execute(
            f"SELECT {TASK_COLUMNS} FROM tasks "
            "WHERE is_completed = 0 AND claim_timeout < ? "
            "AND complete_timeout < ? AND promise_timeout > ? "
            "ORDER BY created_on, id LIMIT ?",
            (now, now, now, -1 if limit is None else limit),
        )
        return [taskFromRow(row) for row in rows]


class _WriterRows(SQLitePromiseRows):
    """
    The writer's rows: they remember every promise they wrote, so that once
    the batch is committed the store's cache can take them.

    @ivar written: the promises inserted or updated since the writer last
        cleared it, in order.
    """

    def __init__(self, connection):
        super().__init__(connection)
        self.written = []

    def insertPromise(self, promise):
        done = super().insertPromise(promise)
        if done:
            self.written.append(promise)
        return done

    def updatePromise(self, promise):
        done = super().updatePromise(promise)
        if done:
            self.written.append(promise)
        return done


#: A state's value to the state, without an Enum call per cached read.
_STATES = {state.value: state for state in State}


def _frozen(promise):
    """
    C{promise} as one tuple of strings, numbers, bytes and tuples of
    string pairs, which the garbage collector stops tracking after its
    first look at them: ten thousand cached promises would otherwise be
    visited by every full collection (with a dict inside, even one the
    collector does not track, a tuple stays tracked for ever).
    """
    param, value = promise.param, promise.value
    return (
        promise.id, promise.state.value, promise.timeout, promise.createdOn,
        tuple(param.headers.items()), param.data,
        tuple(value.headers.items()), value.data,
        promise.idempotencyKeyForCreate, promise.idempotencyKeyForComplete,
        promise.completedOn, tuple(promise.tags.items()),
    )


def _thawed(entry):
    """
    The promise L{_frozen} kept, with dicts of its own (whoever it is
    handed to may change them).  Positional, not keywords: this is on
    every cached read.
    """
    (
        promiseId, state, timeout, createdOn, paramHeaders, paramData,
        valueHeaders, valueData, keyForCreate, keyForComplete, completedOn,
        tags,
    ) = entry
    return Promise(
        promiseId, _STATES[state], timeout, createdOn,
        Value(dict(paramHeaders), paramData), Value(dict(valueHeaders), valueData),
        keyForCreate, keyForComplete, completedOn, dict(tags),
    )


class _PromiseCache:
    """
    The latest committed version of recently written or read promises, on
    the reactor thread, so that a read of one needs neither a reader thread
    nor a turn of the reactor.  It is right only because one process owns
    the database file (L{SQLiteStore} locks it) and every write passes
    through its writer, which hands over what it wrote once committed.

    Least recently used first out: a promise written or read moves to the
    back.
    """

    def __init__(self, size):
        """
        @param size: the most promises kept; 0 keeps none.
        """
        self._size = size
        self._promises = {}
        #: Goes up with every committed batch that wrote a promise; a read
        #: begun under an older generation may have seen an older row.
        self.generation = 0

    def get(self, promiseId):
        """
        A copy of the cached promise with this id, or L{None}.
        """
        promises = self._promises
        entry = promises.pop(promiseId, None)
        if entry is None:
            return None
        promises[promiseId] = entry
        return _thawed(entry)

    def put(self, promise):
        """
        Keep a copy of C{promise}, the latest committed version of its id.
        """
        if not self._size:
            return
        promises = self._promises
        promises.pop(promise.id, None)
        promises[promise.id] = _frozen(promise)
        if len(promises) > self._size:
            del promises[next(iter(promises))]

    def committed(self, written):
        """
        A batch that wrote C{written} (promises, in order) was committed.
        """
        if written:
            self.generation += 1
            for promise in written:
                self.put(promise)


class _WriteRequired(Exception):
    """
    A transaction on a reader found it must write; run it on the writer.
    """


def _refuseWrite(self, *args):
    """
    Refuse: readers do not write.
    """
    raise _WriteRequired()


class _ReadOnlyPromiseRows(SQLitePromiseRows):
    """
    Promise, schedule, lock and task rows for the readers: any write stops
    the transaction with L{_WriteRequired}.
    """

    insertPromise = updatePromise = _refuseWrite
    insertSchedule = deleteSchedule = advanceSchedule = _refuseWrite
    insertLock = replaceLock = deleteLock = _refuseWrite
    heartbeatLocks = deleteExpiredLocks = _refuseWrite
    insertTask = updateTask = _refuseWrite


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
def _timeoutPromisesIfAny(now, limit):
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


def _isCount(value, minimum):
    """
    Whether C{value} is an C{int} (not a C{bool}) of at least C{minimum}.
    """
    return not isinstance(value, bool) and isinstance(value, int) and value >= minimum


@dataclass(frozen=True)
class SQLiteOptions:
    """
    The options under C{aio.subsystems.store.config.sqlite}.

    @ivar path: the database file.
    @ivar txTimeout: seconds a write may wait for the writer (and any
        connection for a lock) before it fails with 5002.
    @ivar reset: delete the database before opening it.
    @ivar synchronous: C{PRAGMA synchronous}; C{FULL} fsyncs every commit,
        so nothing acknowledged is lost on power failure.
    @ivar cacheSize: how many promises are kept in memory for reads; 0 for
        none.
    """

    path: str = "resonate.db"
    txTimeout: float = 0.25
    reset: bool = False
    synchronous: str = "FULL"
    cacheSize: int = 10000

    @classmethod
    def fromConfig(cls, options):
        """
        Read and check the options a L{resonate.config.StoreConfig} carries.

        @raise StoreFailure: an option has the wrong type or value.
        """
        defaults = cls()
        path = options.get("path", defaults.path)
        txTimeout = options.get("txTimeout", defaults.txTimeout)
        reset = options.get("reset", defaults.reset)
        synchronous = options.get("synchronous", defaults.synchronous)
        cacheSize = options.get("cacheSize", defaults.cacheSize)
        if not isinstance(path, str) or not path:
            raise StoreFailure(
                f"sqlite path must be a file name, not {path!r}"
            )
        if path == ":memory:" or path.startswith("file:"):
            raise StoreFailure(
                f"sqlite path must be a file name, not {path!r} "
                "(use kind: memory for a store in memory)"
            )
        if (
            isinstance(txTimeout, bool)
            or not isinstance(txTimeout, (int, float))
            or not txTimeout > 0
        ):
            raise StoreFailure(
                "sqlite txTimeout must be a positive duration, "
                f"not {txTimeout!r}"
            )
        if not isinstance(reset, bool):
            raise StoreFailure(
                f"sqlite reset must be true or false, not {reset!r}"
            )
        if (
            not isinstance(synchronous, str)
            or synchronous.upper() not in SYNCHRONOUS_MODES
        ):
            raise StoreFailure(
                "sqlite synchronous must be one of "
                f"{', '.join(SYNCHRONOUS_MODES)}, "
                f"not {synchronous!r}"
            )
        if not _isCount(cacheSize, 0):
            raise StoreFailure(
                f"sqlite cacheSize must be 0 or more, not {cacheSize!r}"
            )
        return cls(path, float(txTimeout), reset, synchronous.upper(), cacheSize)


class _Submission:
    """
    A write transaction waiting for the writer.

    @ivar script: a script of L{resonate.store.scripts}, called with the
        writer's rows and C{args}.
    @ivar deferred: fires, on the reactor thread, with the script's result.
    @ivar deadline: the C{time.monotonic()} after which it is too late to
        start.
    """

    __slots__ = ("script", "args", "deferred", "deadline")

    def __init__(self, script, args, deferred, deadline):
        self.script = script
        self.args = args
        self.deferred = deferred
        self.deadline = deadline


#: Put on the writer's (or a reader's) queue by close(): finish what came
#: before, then stop.
_STOP = object()


def _takeBatch(items, batchSize):
    """
    Block for one item of the queue C{items}, then take whatever else is
    already queued (no timer: waiting would only add latency), up to
    C{batchSize}.

    @return: the batch, and whether L{_STOP} was reached.
    """
    first = items.get()
    if first is _STOP:
        return [], True
    batch = [first]
    while len(batch) < batchSize:
        try:
            item = items.get_nowait()
        except queue.Empty:
            break
        if item is _STOP:
            return batch, True
        batch.append(item)
    return batch, False


class _GroupCommitWriter:
    """
    The writer thread: it owns the only write connection and commits
    whatever submissions are queued together, one transaction per batch.

    @ivar commits: how many batches were committed.
    @ivar committedRequests: how many submissions those batches carried.
    """

    def __init__(self, connection, reactor, batchSize, deliver, finish):
        """
        @param connection: the write connection, handed over to the thread.
        @param deliver: called on the reactor thread with a batch's list of
            C{(deferred, result or Failure)}, the L{Failure} that failed
            the whole batch, or L{None}, how many requests were committed
            (0 when none was), and the promises the committed batch wrote,
            in order.
        @param finish: called in the writer thread once it has stopped and
            closed its connection.
        """
        self._connection = connection
        self._rows = _WriterRows(connection)
        self._reactor = reactor
        self._batchSize = batchSize
        self._deliver = deliver
        self._finish = finish
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name="resonate-sqlite-writer", daemon=True
        )
        self.commits = 0
        self.committedRequests = 0

    @property
    def thread(self):
        """
        The writer thread.
        """
        return self._thread

    def start(self):
        """
        Start the writer thread.
        """
        self._thread.start()

    def waiting(self):
        """
        How many submissions are queued and not yet taken.
        """
        return self._queue.qsize()

    def submit(self, submission):
        """
        Queue a L{_Submission}.
        """
        self._queue.put(submission)

    def stop(self):
        """
        Stop once everything queued so far is committed.
        """
        self._queue.put(_STOP)

    def _run(self):
        """
        The thread: take batches and commit them until told to stop, then
        close the connection and call C{finish}.
        """
        try:
            stopping = False
            while not stopping:
                batch, stopping = self._takeBatch()
                if batch:
                    self._commitBatch(batch)
        finally:
            try:
                self._connection.close()
            finally:
                self._finish()

    def _takeBatch(self):
        """
        See L{_takeBatch}.
        """
        return _takeBatch(self._queue, self._batchSize)

    def _commitBatch(self, batch):
        """
        Run a batch in one transaction and deliver its results, only once
        COMMIT has returned: nothing acknowledged can be lost.
        """
        outcomes = []
        runnable = []
        started = time.monotonic()
        for submission in batch:
            if submission.deadline < started:
                outcomes.append(
                    (
                        submission.deferred,
                        Failure(
                            StoreFailure("timed out waiting for the writer")
                        ),
                    )
                )
            else:
                runnable.append(submission)
        batchFailure = None
        written = []
        if runnable:
            try:
                outcomes.extend(self._transact(runnable))
            except Exception:
                batchFailure = Failure()
                batchFailure.cleanFailure()
                self._rollback()
                outcomes.extend(
                    (
                        submission.deferred,
                        Failure(
                            StoreFailure("the transaction was not committed")
                        ),
                    )
                    for submission in runnable
                )
            else:
                self.commits += 1
                self.committedRequests += len(runnable)
                written = self._rows.written
            self._rows.written = []
        self._reactor.callFromThread(
            self._deliver,
            outcomes,
            batchFailure,
            len(runnable) if runnable and batchFailure is None else 0,
            written,
        )

    def _transact(self, batch):
        """
        One transaction for the batch.  Scripts run one after the other
        without savepoints; if one fails, the batch is rolled back and run
        again with a savepoint per submission (L{_transactIsolated}), so a
        failing script undoes only its own writes and fails only its own
        request.  Failures are rare, and a savepoint costs two more SQLite
        calls per request, each of which gives up the GIL and must win it
        back from the busy reactor thread.

        @raise Exception: the transaction as a whole failed; nothing of it
            is committed.
        """
        connection = self._connection
        outcomes = []
        self._rows.written = []
        connection.execute("BEGIN IMMEDIATE")
        for submission in batch:
            try:
                result = submission.script(self._rows, *submission.args)
            except Exception:
                connection.execute("ROLLBACK")
                return self._transactIsolated(batch)
            outcomes.append((submission.deferred, result))
        connection.execute("COMMIT")
        return outcomes

    def _transactIsolated(self, batch):
        """
        One transaction, one savepoint per submission.  Scripts decide from
        what they read, so running one again after a rollback decides the
        same way.

        @raise Exception: the transaction as a whole failed; nothing of it
            is committed.
        """
        connection = self._connection
        outcomes = []
        written = self._rows.written = []
        connection.execute("BEGIN IMMEDIATE")
        for submission in batch:
            connection.execute("SAVEPOINT request")
            mark = len(written)
            try:
                result = submission.script(self._rows, *submission.args)
            except Exception:
                result = Failure()
                result.cleanFailure()
                connection.execute("ROLLBACK TO request")
                # Its writes are undone: the cache must not see them.
                del written[mark:]
            connection.execute("RELEASE request")
            outcomes.append((submission.deferred, result))
        connection.execute("COMMIT")
        return outcomes

    def _rollback(self):
        """
        End a failed transaction, if SQLite has not already.
        """
        try:
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
        except sqlite3.Error:
            # The connection is unusable; the next BEGIN will say so.
            pass


class _ReaderPool:
    """
    The reader threads.  Each owns a read-only connection; it takes every
    read queued (up to C{batchSize}) and runs them in one read transaction.
    Each outcome goes to the reactor thread as soon as it is known, but
    through one outbox: a wake-up of the reactor is scheduled only when the
    outbox was empty, and it delivers everything posted by then.

    This is what makes reads cheap: per read there is no thread-pool
    bookkeeping, rarely a wake-up of the reactor of its own, and two fewer
    SQLite calls (each of which gives up the GIL and must win it back from
    the busy reactor thread); and the reactor answers the first reads of a
    batch while the reader runs the rest.  One snapshot serves the batch:
    it is taken after every read in it was submitted, so each sees every
    write acknowledged before it was asked.

    @ivar threads: the reader threads.
    """

    def __init__(self, count, connect, reactor, batchSize, deliver):
        """
        @param connect: makes a read-only connection (in the thread).
        @param deliver: called on the reactor thread with a list of
            C{(deferred, result or Failure)}.
        """
        self._connect = connect
        self._reactor = reactor
        self._batchSize = batchSize
        self._deliver = deliver
        self._queue = queue.SimpleQueue()
        self._outbox = []
        self._outboxLock = threading.Lock()
        self.threads = [
            threading.Thread(
                target=self._run, name=f"resonate-sqlite-reader-{i}", daemon=True
            )
            for i in range(count)
        ]

    def start(self):
        """
        Start the reader threads.
        """
        for thread in self.threads:
            thread.start()

    def submit(self, script, args, deferred):
        """
        Queue a read: C{script(rows, *args)}, whose outcome fires
        C{deferred} on the reactor thread.
        """
        self._queue.put((script, args, deferred))

    def stop(self):
        """
        Stop every reader thread once the reads queued before are done, and
        wait for them (not on the reactor thread).
        """
        for _ in self.threads:
            self._queue.put(_STOP)
        for thread in self.threads:
            thread.join()

    def _run(self):
        connection = None
        try:
            stopping = False
            while not stopping:
                batch, stopping = self._takeBatch()
                if not batch:
                    continue
                if connection is None:
                    try:
                        connection = self._connect()
                    except Exception:
                        failure = Failure()
                        failure.cleanFailure()
                        for _, _, d in batch:
                            self._post(d, failure)
                        continue
                self._runBatch(connection, batch)
        finally:
            if connection is not None:
                connection.close()

    def _takeBatch(self):
        """
        See L{_takeBatch}.
        """
        return _takeBatch(self._queue, self._batchSize)

    def _post(self, d, result):
        """
        In a reader thread: hand an outcome to the reactor thread, waking it
        only if nothing was waiting to be delivered.
        """
        with self._outboxLock:
            self._outbox.append((d, result))
            if len(self._outbox) > 1:
                return
        self._reactor.callFromThread(self._drain)

    def _drain(self):
        """
        On the reactor thread: deliver everything posted so far.
        """
        with self._outboxLock:
            outcomes, self._outbox = self._outbox, []
        self._deliver(outcomes)

    def _runBatch(self, connection, batch):
        """
        Run a batch of reads in one read transaction, posting each outcome
        as soon as it is known.
        """
        rows = _ReadOnlyPromiseRows(connection)
        for script, args, d in batch:
            try:
                if not connection.in_transaction:
                    connection.execute("BEGIN")
                result = script(rows, *args)
            except BaseException:
                result = Failure()
                result.cleanFailure()
            self._post(d, result)
        try:
            if connection.in_transaction:
                connection.execute("COMMIT")
        except sqlite3.Error:
            # A read transaction has nothing to lose; the next BEGIN starts
            # afresh.
            try:
                connection.execute("ROLLBACK")
            except sqlite3.Error:
                pass


@implementer(IStore, IGroupCommitStore)
class SQLiteStore:
    """
    An L{IStore} in one SQLite database file, for one server process.

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
            if not _isCount(value, 1):
                raise StoreFailure(
                    f"store {name} must be at least 1, not {value!r}"
                )
        self._size = config.size
        path = self._options.path
        self._lock = self._lockDatabase(path)
        try:
            if self._options.reset:
                self._removeDatabase(path)
            connection = self._open(path)
        except BaseException:
            os.close(self._lock)
            raise
        self._cache = _PromiseCache(self._options.cacheSize)

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

    def _lockDatabase(self, path):
        """
        Take the database for this process alone: an exclusive C{flock} on
        C{PATH-lock}, held until the store is closed (or the process ends,
        however it ends).  The cache is right only if every write passes
        through this store's writer; several servers share PostgreSQL, not
        a SQLite file.

        @return: the lock file's descriptor.
        @raise StoreFailure: another process (or store) holds the database.
        """
        lockPath = path + "-lock"
        try:
            fd = os.open(lockPath, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise StoreFailure(f"cannot open SQLite database {path!r}: {e}")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreFailure(
                f"SQLite database {path!r} is in use by another server "
                f"({lockPath!r} is locked): one server per SQLite file; "
                "use PostgreSQL to run several"
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

    def _open(self, path):
        """
        Open the write connection and bring the schema up to date.
        """
        try:
            connection = self._connect()
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

    def _connect(self, readOnly=False):
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
            factory=self.connectionFactory,
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

    def readPromise(self, promiseId, now):
        """
        Read a promise: from the cache if it is there and not overdue,
        otherwise on a reader, timing it out on the writer if overdue.
        """
        cached = self._cache.get(promiseId)
        if cached is not None and not self._closing:
            decision = decideRead(cached, now)
            if decision.write is None:
                return succeed(decision)
        return self._read(_readPromise, _readPromise, promiseId, now).addCallback(
            self._readDecided, self._cache.generation
        )

    def _readDecided(self, decision, generation):
        """
        Keep a promise a reader found, unless a batch that wrote promises
        was committed since the read began: the reader may have seen the
        row before it.
        """
        if decision.promise is not None and generation == self._cache.generation:
            self._cache.put(decision.promise)
        return decision

    def createPromise(self, request, now):
        """
        Create or deduplicate on the writer.
        """
        return self._write(_createPromise, request, now)

    def completePromise(self, request, now):
        """
        Complete or deduplicate on the writer.
        """
        return self._write(_completePromise, request, now)

    def searchPromises(self, query, now):
        """
        Search on a reader: a search writes nothing, however many promises
        are overdue.
        """
        return self._read(_searchPromises, _searchPromises, query, now)

    def timeoutPromises(self, now, limit):
        """
        Time out overdue promises on the writer, after a reader has found
        there are some (the common answer, none, costs no write).
        """
        return self._read(
            _timeoutPromisesIfAny, _timeoutPromises, now, limit
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

    def fireSchedules(self, now, limit, isRouted=None):
        """
        Fire due slots on the writer, after a reader has found there are
        some (the common answer, none, costs no write): the reader's first
        advance stops its transaction and hands the whole script over.
        """
        return self._read(_fireSchedules, _fireSchedules, now, limit, isRouted)

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

    def createPromiseAndTask(self, request, now):
        """
        Create or deduplicate a routed promise, and its task, on the writer.
        """
        return self._write(_createPromiseAndTask, request, now)

    def claimTask(self, request, now):
        """
        Claim a task (taking its promise's lock) on the writer.
        """
        return self._write(_claimTask, request, now)

    def completeTask(self, request, now):
        """
        Complete a task and its promise (releasing the lock) on the writer.
        """
        return self._write(_completeTask, request, now)

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

    def makeStore(self, config, reactor):
        """
        Open the SQLite store C{config} describes, before the reactor runs.

        @raise StoreFailure: it cannot be opened.
        """
        return SQLiteStore(config, reactor)
