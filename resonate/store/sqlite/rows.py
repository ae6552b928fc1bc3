# -*- test-case-name: tests.integration.test_store_sqlite -*-
"""
The rows of the SQLite store, as SQL on one connection: L{SQLiteRows}, the
writer's L{_WriterRows} and the readers' L{_ReadOnlyRows}, and the SQL
conditions (ids, tags, timers) their searches are built from.
"""

import json
import re

import orjson

from zope.interface import implementer

from resonate.interfaces import (
    IAdminRows,
    ILockRows,
    IPromiseRows,
    IScheduleRows,
    ITask2026Rows,
    ITaskRows,
)
from resonate.model.promise import TIMER_TAGS
from resonate.model.tasks2026 import BRANCH_TAG, Execute
from resonate.store.sqlrows import (
    CALLBACK_COLUMNS,
    COLUMNS,
    LISTENER_COLUMNS,
    OUTBOX_COLUMNS,
    TASK_2026_COLUMNS,
    WRITTEN_OUTBOX_COLUMNS,
    callbackFromRow,
    listenerFromRow,
    outboxFromRow,
    rowFromCallback,
    rowFromOutbox,
    rowFromTask2026,
    task2026FromRow,
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

    orjson writes it, at a fifth of json's cost on the writer thread, when
    what it writes is printable ASCII: then no string held a character
    json would have escaped (non-ASCII, and DEL, which orjson writes as
    itself), and the two write the same text.  Anything else (lone
    surrogates, which orjson refuses, too) is json's.
    """
    if not mapping:
        return "{}"
    try:
        encoded = orjson.dumps(mapping)
    except TypeError:
        return _encodeJSON(mapping)
    if encoded.isascii() and b"\x7f" not in encoded:
        return encoded.decode("ascii")
    return _encodeJSON(mapping)


def _decodeMapping(text):
    """
    Decode what L{_encodeMapping} stored; a missing object is empty.
    orjson decodes what it accepts (as json would: objects of strings);
    json what it refuses (an escaped lone surrogate).
    """
    if not text or text == "{}":
        return {}
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


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


#: The columns that hold tags, as C{table.column}.
_TAG_COLUMNS = ("promises.tags", "schedules.tags", "schedules.promise_tags")

#: The C{json_each} subqueries that match a tag key a quoted JSON path
#: cannot name, by the column whose tags they decode.
_TAG_EACH = {
    column: (
        f"EXISTS (SELECT 1 FROM json_each({column}) AS tag "
        "WHERE tag.key = ? AND tag.type = 'text' AND tag.value = ?)"
    )
    for column in _TAG_COLUMNS
}

#: The conditions that match a tag key a quoted JSON path names, by column.
_TAG_EXTRACT = {column: f"json_extract({column}, ?) = ?" for column in _TAG_COLUMNS}


def _tagCondition(key, value, column="promises.tags"):
    """
    The SQL condition and parameters that select rows whose C{column} (one
    of L{_TAG_COLUMNS}) has the tag C{key} = C{value}.  Both are always
    bound parameters; a key that a quoted JSON path cannot name exactly is
    matched by decoding the tags instead.
    """
    if _PLAIN_KEY.match(key):
        return _TAG_EXTRACT[column], ['$."' + key + '"', value]
    return _TAG_EACH[column], [key, value]


def _tagConditions(tags, column="promises.tags"):
    """
    The SQL conditions and parameters that select rows whose C{column} has
    every tag of C{tags} (L{_tagCondition} for each).
    """
    conditions = []
    parameters = []
    for key, value in sorted(tags.items()):
        condition, tagParameters = _tagCondition(key, value, column)
        conditions.append(condition)
        parameters.extend(tagParameters)
    return conditions, parameters


#: The branch of a promise, written exactly as the expression index
#: C{promises_branch} (schema version 6) is on, so that SQLite uses it.
_BRANCH = f"json_extract(tags, '$.\"{BRANCH_TAG}\"')"

#: A list of ids bound as one parameter, a JSON array (L{_idList}): one
#: statement whatever the count of ids.
_IDS = "(SELECT value FROM json_each(?))"


def _idList(ids):
    """
    C{ids} as the parameter of L{_IDS}.
    """
    return json.dumps(list(ids))


#: The prefixes of the addresses a push delivers to
#: (C{dueOutboxFor} with C{push}).
_PUSH_PREFIXES = ("http://", "https://")

#: Every table of the store's data (all but C{schema_versions}).
_TABLES = (
    "promises",
    "schedules",
    "locks",
    "tasks",
    "tasks_2026",
    "callbacks",
    "listeners",
    "outbox_messages",
)


def _timerCondition():
    """
    The SQL condition and parameters true for a timer row (one of
    L{TIMER_TAGS} is C{"true"}) and false, not NULL, for any other (a
    missing tag extracts as NULL).
    """
    conditions = []
    parameters = []
    for tag in TIMER_TAGS:
        condition, tagParameters = _tagCondition(tag, "true")
        conditions.append(f"coalesce({condition}, 0)")
        parameters.extend(tagParameters)
    return f"({' OR '.join(conditions)})", parameters


_TIMER_CONDITION = _timerCondition()


@implementer(
    IPromiseRows, IScheduleRows, ILockRows, ITaskRows, ITask2026Rows, IAdminRows
)
class SQLiteRows:
    """
    The rows of every table of the SQLite store (promises, schedules,
    locks, tasks and the 2026 tables) on one sqlite3 connection, inside a
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
        touches the database file (for L{resonate.store.scripts.ping}).
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
        tagConditions, tagParameters = _tagConditions(query.tags)
        conditions.extend(tagConditions)
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
        tagConditions, tagParameters = _tagConditions(query.tags, "schedules.tags")
        conditions.extend(tagConditions)
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
        L{ILockRows}; only
        L{resonate.store.sqlite.store._timeoutLocksIfAny} asks it.)
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

    def readTask2026(self, taskId):
        """
        Read one 2026 task by id.  (One writer: nothing to lock.)
        """
        row = self._connection.execute(
            f"SELECT {TASK_2026_COLUMNS} FROM tasks_2026 WHERE id = ?",
            (taskId,),
        ).fetchone()
        return None if row is None else task2026FromRow(row)

    def insertTask2026(self, task):
        """
        Insert a 2026 C{task} unless its id is taken.
        """
        cursor = self._connection.execute(
            f"INSERT INTO tasks_2026 ({TASK_2026_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
            rowFromTask2026(task),
        )
        return cursor.rowcount == 1

    def updateTask2026(self, previous, task):
        """
        Replace the stored 2026 task with C{task}, if its row is still
        exactly C{previous} (C{IS}: a NULL matches only a NULL).
        """
        cursor = self._connection.execute(
            "UPDATE tasks_2026 SET state = ?, version = ?, address = ?, "
            "pid = ?, ttl = ?, timeout_at = ? "
            "WHERE id = ? AND state = ? AND version = ? AND address = ? "
            "AND pid IS ? AND ttl IS ? AND timeout_at IS ?",
            rowFromTask2026(task)[1:] + rowFromTask2026(previous),
        )
        return cursor.rowcount == 1

    def dueTasks2026(self, now, limit):
        """
        2026 tasks whose timer is due, earliest first (the partial index
        on timeout_at serves this).  One writer: nothing to skip.
        """
        rows = self._connection.execute(
            f"SELECT {TASK_2026_COLUMNS} FROM tasks_2026 "
            "WHERE timeout_at <= ? ORDER BY timeout_at, id LIMIT ?",
            (now, -1 if limit is None else limit),
        )
        return [task2026FromRow(row) for row in rows]

    def insertCallback(self, callback):
        """
        Insert C{callback} unless its pair exists.
        """
        cursor = self._connection.execute(
            f"INSERT INTO callbacks ({CALLBACK_COLUMNS}) VALUES (?, ?, ?) "
            "ON CONFLICT(awaited_id, awaiter_id) DO NOTHING",
            rowFromCallback(callback),
        )
        return cursor.rowcount == 1

    def readyCallbacks(self, awaited):
        """
        Mark the callbacks on C{awaited} ready.
        """
        return self._connection.execute(
            "UPDATE callbacks SET ready = 1 WHERE awaited_id = ?", (awaited,)
        ).rowcount

    def deleteReadyCallbacks(self, awaiter):
        """
        Delete the ready callbacks of C{awaiter}.
        """
        return self._connection.execute(
            "DELETE FROM callbacks WHERE awaiter_id = ? AND ready = 1",
            (awaiter,),
        ).rowcount

    def deleteCallbacks(self, awaiter):
        """
        Delete every callback of C{awaiter}.
        """
        return self._connection.execute(
            "DELETE FROM callbacks WHERE awaiter_id = ?", (awaiter,)
        ).rowcount

    def callbacksOf(self, awaited):
        """
        The callbacks on C{awaited}, by awaiter (the primary key serves
        this).
        """
        rows = self._connection.execute(
            f"SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE awaited_id = ? "
            "ORDER BY awaiter_id",
            (awaited,),
        )
        return [callbackFromRow(row) for row in rows]

    def callbacksOfAwaiter(self, awaiter):
        """
        The callbacks of C{awaiter}, by awaited promise.
        """
        rows = self._connection.execute(
            f"SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE awaiter_id = ? "
            "ORDER BY awaited_id",
            (awaiter,),
        )
        return [callbackFromRow(row) for row in rows]

    def insertListener(self, listener):
        """
        Insert C{listener} unless it exists.
        """
        cursor = self._connection.execute(
            f"INSERT INTO listeners ({LISTENER_COLUMNS}) VALUES (?, ?) "
            "ON CONFLICT(promise_id, address) DO NOTHING",
            (listener.promiseId, listener.address),
        )
        return cursor.rowcount == 1

    def listenersOf(self, promiseId):
        """
        The listeners of C{promiseId}, by address.
        """
        rows = self._connection.execute(
            f"SELECT {LISTENER_COLUMNS} FROM listeners WHERE promise_id = ? "
            "ORDER BY address",
            (promiseId,),
        )
        return [listenerFromRow(row) for row in rows]

    def deleteListeners(self, promiseId):
        """
        Delete the listeners of C{promiseId}.
        """
        return self._connection.execute(
            "DELETE FROM listeners WHERE promise_id = ?", (promiseId,)
        ).rowcount

    def insertOutbox(self, message, now):
        """
        Add C{message} to the outbox: an execute replaces its task's older
        one (deleted, so the new one gets a new id); an unblock already
        there is not added again.
        """
        if isinstance(message, Execute):
            self._connection.execute(
                "DELETE FROM outbox_messages "
                "WHERE kind = 'execute' AND promise_id = ?",
                (message.taskId,),
            )
        cursor = self._connection.execute(
            f"INSERT INTO outbox_messages ({WRITTEN_OUTBOX_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(promise_id, address) WHERE kind = 'unblock' "
            "DO NOTHING",
            rowFromOutbox(message, now),
        )
        return cursor.rowcount == 1

    def dueOutbox(self, now, limit):
        """
        Outbox entries due, oldest first (the next_attempt_at index serves
        this).  One writer: nothing to skip.
        """
        rows = self._connection.execute(
            f"SELECT {OUTBOX_COLUMNS} FROM outbox_messages "
            "WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
            (now, -1 if limit is None else limit),
        )
        return [outboxFromRow(row) for row in rows]

    def dueOutboxFor(self, now, limit, addresses, prefixes, push):
        """
        Outbox entries due for one process's addresses, oldest first: the
        next_attempt_at index gives them in order and the address is
        filtered on the way (C{substr}, not C{LIKE}: a prefix is matched
        as it is, with no wildcard to escape).  The addresses and prefixes
        are each one JSON parameter, however many there are.  One writer:
        nothing to skip.
        """
        prefixes = [*prefixes, *(_PUSH_PREFIXES if push else ())]
        rows = self._connection.execute(
            f"SELECT {OUTBOX_COLUMNS} FROM outbox_messages "
            "WHERE next_attempt_at <= ? AND ("
            "address IN (SELECT value FROM json_each(?)) OR EXISTS ("
            "SELECT 1 FROM json_each(?) "
            "WHERE substr(address, 1, length(value)) = value)) "
            "ORDER BY next_attempt_at, id LIMIT ?",
            (now, _encodeJSON(list(addresses)), _encodeJSON(prefixes), limit),
        )
        return [outboxFromRow(row) for row in rows]

    def deleteOutbox(self, entryId):
        """
        Delete the outbox entry C{entryId}.
        """
        return self._connection.execute(
            "DELETE FROM outbox_messages WHERE id = ?", (entryId,)
        ).rowcount == 1

    def deferOutbox(self, entryId, attempts, nextAttemptAt):
        """
        Set the outbox entry's attempts and next attempt.
        """
        return self._connection.execute(
            "UPDATE outbox_messages SET attempts = ?, next_attempt_at = ? "
            "WHERE id = ?",
            (attempts, nextAttemptAt, entryId),
        ).rowcount == 1

    def expiredOutbox(self, createdBefore, limit):
        """
        Outbox entries created at or before C{createdBefore}, oldest first.
        """
        rows = self._connection.execute(
            f"SELECT {OUTBOX_COLUMNS} FROM outbox_messages "
            "WHERE created_on <= ? ORDER BY created_on, id LIMIT ?",
            (createdBefore, limit),
        )
        return [outboxFromRow(row) for row in rows]

    def _byId(self, columns, table, conditions, parameters, afterId, limit):
        """
        Run a read by id: the C{columns} of the rows of C{table} that meet
        every one of C{conditions} (with their C{parameters}), with an id
        greater than C{afterId} (any when L{None}), by id ascending (BINARY:
        UTF-8 bytes, so code-point order; the id's index serves this), at
        most C{limit} (all when L{None}).

        @return: the cursor.
        """
        if afterId is not None:
            conditions = [*conditions, "id > ?"]
            parameters = [*parameters, afterId]
        where = " AND ".join(conditions) or "1"
        return self._connection.execute(
            f"SELECT {columns} FROM {table} WHERE {where} ORDER BY id LIMIT ?",
            [*parameters, -1 if limit is None else limit],
        )

    def promisesById(self, state, tags, afterId, limit, now):
        """
        A page of a C{promise.search}: by id, in C{state} as of C{now} (an
        overdue pending row as its timeout leaves it), with C{tags}.
        """
        conditions, parameters = _tagConditions(tags)
        if state is not None:
            # One state is never every state: there is always a condition.
            condition, stateParameters = stateCondition(
                frozenset([state]), now, _TIMER_CONDITION, "?"
            )
            conditions.append(condition)
            parameters.extend(stateParameters)
        rows = self._byId(COLUMNS, "promises", conditions, parameters, afterId, limit)
        return [_promiseFromSQLite(row)[1] for row in rows]

    def tasksById(self, state, afterId, limit):
        """
        A page of a C{task.search}: 2026 tasks by id, in C{state} (the
        index on state and id serves this).
        """
        conditions, parameters = [], []
        if state is not None:
            conditions, parameters = ["state = ?"], [state.value]
        rows = self._byId(
            TASK_2026_COLUMNS, "tasks_2026", conditions, parameters, afterId, limit
        )
        return [task2026FromRow(row) for row in rows]

    def schedulesById(self, promiseTags, afterId, limit):
        """
        A page of a C{schedule.search}: schedules by id whose promise tags
        include C{promiseTags}.
        """
        conditions, parameters = _tagConditions(promiseTags, "schedules.promise_tags")
        rows = self._byId(
            SCHEDULE_COLUMNS, "schedules", conditions, parameters, afterId, limit
        )
        return [_scheduleFromSQLite(row)[1] for row in rows]

    def branchPromises(self, branch, limit):
        """
        The promises of C{branch}, by id: one range of the index
        C{promises_branch}.
        """
        rows = self._connection.execute(
            f"SELECT {COLUMNS} FROM promises WHERE {_BRANCH} = ? "
            "ORDER BY id LIMIT ?",
            (branch, -1 if limit is None else limit),
        )
        return [_promiseFromSQLite(row)[1] for row in rows]

    def allCallbacks(self):
        """
        Every callback, in the primary key's order.
        """
        rows = self._connection.execute(
            f"SELECT {CALLBACK_COLUMNS} FROM callbacks "
            "ORDER BY awaited_id, awaiter_id"
        )
        return [callbackFromRow(row) for row in rows]

    def allListeners(self):
        """
        Every listener, in the primary key's order.
        """
        rows = self._connection.execute(
            f"SELECT {LISTENER_COLUMNS} FROM listeners "
            "ORDER BY promise_id, address"
        )
        return [listenerFromRow(row) for row in rows]

    # IAdminRows

    def locksById(self, afterId, limit):
        """
        A page of locks by resource id (the primary key serves this).
        """
        condition, parameters = "", []
        if afterId is not None:
            condition, parameters = "WHERE resource_id > ? ", [afterId]
        rows = self._connection.execute(
            f"SELECT {LOCK_COLUMNS} FROM locks {condition}"
            "ORDER BY resource_id LIMIT ?",
            [*parameters, limit],
        )
        return [lockFromRow(row) for row in rows]

    def tasks05ById(self, afterId, limit):
        """
        A page of v0.5 tasks by id (the primary key serves this).
        """
        rows = self._byId(TASK_COLUMNS, "tasks", [], [], afterId, limit)
        return [taskFromRow(row) for row in rows]

    def tasks05Of(self, promiseId):
        """
        The v0.5 tasks of C{promiseId} (the index C{tasks_promise}).
        """
        rows = self._connection.execute(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE promise_id = ? ORDER BY id",
            (promiseId,),
        )
        return [taskFromRow(row) for row in rows]

    def settledPromises(self, settledBefore, after, limit):
        """
        Settled promises completed before C{settledBefore}, oldest first:
        one range of the partial index C{promises_settled}.  (One writer:
        nothing to skip.)
        """
        condition, parameters = "", [settledBefore]
        if after is not None:
            condition = "AND (completed_on, id) > (?, ?) "
            parameters.extend(after)
        rows = self._connection.execute(
            f"SELECT {COLUMNS} FROM promises "
            "WHERE state <> 'PENDING' AND completed_on < ? "
            f"{condition}ORDER BY completed_on, id LIMIT ?",
            [*parameters, limit],
        )
        return [_promiseFromSQLite(row)[1] for row in rows]

    def unfinishedAmong(self, promiseIds):
        """
        Which of C{promiseIds} have an unfinished 2026 or v0.5 task (the
        primary key of tasks_2026, the index C{tasks_promise}).
        """
        ids = _idList(promiseIds)
        rows = self._connection.execute(
            f"SELECT id FROM tasks_2026 WHERE id IN {_IDS} "
            "AND state <> 'fulfilled' "
            f"UNION SELECT promise_id FROM tasks WHERE promise_id IN {_IDS} "
            "AND is_completed = 0",
            (ids, ids),
        )
        return [row[0] for row in rows]

    def callbacksOnEach(self, promiseIds):
        """
        The callbacks on any of C{promiseIds} (the primary key serves
        this).
        """
        rows = self._connection.execute(
            f"SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE awaited_id IN {_IDS}",
            (_idList(promiseIds),),
        )
        return [callbackFromRow(row) for row in rows]

    def pendingAmong(self, promiseIds):
        """
        Which of C{promiseIds} are pending.
        """
        rows = self._connection.execute(
            f"SELECT id FROM promises WHERE state = 'PENDING' AND id IN {_IDS}",
            (_idList(promiseIds),),
        )
        return [row[0] for row in rows]

    def deleteSettledPromises(self, promises):
        """
        Delete each of C{promises} still settled at its C{completedOn}: a
        statement each, which in-process SQLite runs in microseconds.
        """
        deleted = []
        for promise in promises:
            cursor = self._connection.execute(
                "DELETE FROM promises WHERE id = ? AND state <> 'PENDING' "
                "AND completed_on = ?",
                (promise.id, promise.completedOn),
            )
            if cursor.rowcount == 1:
                deleted.append(promise.id)
        return deleted

    def countGarbageOf(self, promiseIds):
        """
        Count what L{deleteGarbageOf} would delete.
        """
        ids = _idList(promiseIds)
        return self._connection.execute(
            "SELECT "
            f"(SELECT count(*) FROM tasks_2026 WHERE id IN {_IDS} "
            "AND state = 'fulfilled') "
            f"+ (SELECT count(*) FROM tasks WHERE promise_id IN {_IDS} "
            "AND is_completed = 1), "
            f"(SELECT count(*) FROM callbacks WHERE awaited_id IN {_IDS} "
            f"OR awaiter_id IN {_IDS}), "
            f"(SELECT count(*) FROM listeners WHERE promise_id IN {_IDS})",
            (ids,) * 5,
        ).fetchone()

    def deleteGarbageOf(self, promiseIds):
        """
        Delete what refers to C{promiseIds}: a statement per table (the
        outbox's one per kind, each served by that kind's partial index).
        """
        ids = _idList(promiseIds)

        def delete(statement, times=1):
            return self._connection.execute(statement, (ids,) * times).rowcount

        tasks = delete(
            f"DELETE FROM tasks_2026 WHERE id IN {_IDS} AND state = 'fulfilled'"
        ) + delete(
            f"DELETE FROM tasks WHERE promise_id IN {_IDS} AND is_completed = 1"
        )
        callbacks = delete(
            f"DELETE FROM callbacks WHERE awaited_id IN {_IDS} "
            f"OR awaiter_id IN {_IDS}",
            2,
        )
        listeners = delete(f"DELETE FROM listeners WHERE promise_id IN {_IDS}")
        for kind in ("execute", "unblock"):
            delete(
                f"DELETE FROM outbox_messages WHERE kind = '{kind}' "
                f"AND promise_id IN {_IDS}"
            )
        return tasks, callbacks, listeners

    def deleteEverything(self):
        """
        Empty every table (SQLite truncates a table a C{DELETE} without
        C{WHERE} empties).  Sort and outbox ids go on from where they were
        (C{AUTOINCREMENT}), as they would after deleting row by row.
        """
        for table in _TABLES:
            self._connection.execute(f"DELETE FROM {table}")


class _WriterRows(SQLiteRows):
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


class _WriteRequired(Exception):
    """
    A transaction on a reader found it must write; run it on the writer.
    """


def _refuseWrite(self, *args):
    """
    Refuse: readers do not write.
    """
    raise _WriteRequired()


class _ReadOnlyRows(SQLiteRows):
    """
    Promise, schedule, lock and task rows for the readers: any write stops
    the transaction with L{_WriteRequired}.
    """

    insertPromise = updatePromise = _refuseWrite
    insertSchedule = deleteSchedule = advanceSchedule = _refuseWrite
    insertLock = replaceLock = deleteLock = _refuseWrite
    heartbeatLocks = deleteExpiredLocks = _refuseWrite
    insertTask = updateTask = _refuseWrite
    insertTask2026 = updateTask2026 = _refuseWrite
    insertCallback = readyCallbacks = _refuseWrite
    deleteReadyCallbacks = deleteCallbacks = _refuseWrite
    insertListener = deleteListeners = insertOutbox = _refuseWrite
    deleteOutbox = deferOutbox = _refuseWrite
    deleteEverything = _refuseWrite
    deleteSettledPromises = deleteGarbageOf = _refuseWrite
