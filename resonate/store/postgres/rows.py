# -*- test-case-name: tests.integration.test_store_postgres -*-
"""
The rows of the PostgreSQL store: L{PostgresRows}, one statement per
method, and the statements it runs.
"""

from psycopg2.extras import Json
from twisted.internet.defer import succeed
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


_INSERT = (
    "INSERT INTO promises (state, param_headers, param_data, "
    "value_headers, value_data, timeout, "
    "idempotency_key_for_create, idempotency_key_for_complete, "
    "tags, created_on, completed_on, id) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (id) DO NOTHING"
)

#: The columns of L{_INSERT}; L{PostgresRows.insertPromises} adds
#: a row of placeholders per promise.
_INSERT_MANY = _INSERT.split(" VALUES ")[0] + " VALUES "
_INSERT_ROW = "(" + ", ".join(["%s"] * 12) + ")"

_UPDATE = (
    "UPDATE promises SET state = %s, "
    "param_headers = %s, param_data = %s, "
    "value_headers = %s, value_data = %s, timeout = %s, "
    "idempotency_key_for_create = %s, "
    "idempotency_key_for_complete = %s, "
    "tags = %s, created_on = %s, completed_on = %s "
    "WHERE id = %s AND state = 'PENDING'"
)

#: L{PostgresRows.updatePromises}: the columns of L{_INSERT}, in its
#: order, one typed row of values per promise.
_UPDATE_MANY_COLUMNS = [
    ("state", "text"),
    ("param_headers", "jsonb"),
    ("param_data", "bytea"),
    ("value_headers", "jsonb"),
    ("value_data", "bytea"),
    ("timeout", "bigint"),
    ("idempotency_key_for_create", "text"),
    ("idempotency_key_for_complete", "text"),
    ("tags", "jsonb"),
    ("created_on", "bigint"),
    ("completed_on", "bigint"),
    ("id", "text"),
]
_UPDATE_MANY_HEAD = (
    "UPDATE promises AS p SET "
    + ", ".join(
        f"{name} = v.{name}" for name, _ in _UPDATE_MANY_COLUMNS if name != "id"
    )
    + " FROM (VALUES "
)
_UPDATE_MANY_ROW = (
    "(" + ", ".join(f"%s::{kind}" for _, kind in _UPDATE_MANY_COLUMNS) + ")"
)
_UPDATE_MANY_TAIL = (
    ") AS v("
    + ", ".join(name for name, _ in _UPDATE_MANY_COLUMNS)
    + ") WHERE p.id = v.id AND p.state = 'PENDING' RETURNING p.id"
)

_OVERDUE = (
    f"SELECT {COLUMNS} FROM promises "
    "WHERE state = 'PENDING' AND timeout <= %s "
    "ORDER BY timeout, sort_id LIMIT %s"
)


_INSERT_SCHEDULE = (
    "INSERT INTO schedules (id, description, cron, tags, "
    "promise_id, promise_timeout, promise_param_headers, "
    "promise_param_data, promise_tags, last_run_time, "
    "next_run_time, idempotency_key, created_on) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (id) DO NOTHING"
)

_DUE_SCHEDULES = (
    f"SELECT {SCHEDULE_COLUMNS} FROM schedules "
    "WHERE next_run_time <= %s "
    "ORDER BY next_run_time, sort_id LIMIT %s"
)


_DISPATCHABLE_TASKS = (
    f"SELECT {TASK_COLUMNS} FROM tasks "
    "WHERE NOT is_completed AND claim_timeout < %s "
    "AND complete_timeout < %s AND promise_timeout > %s "
    "ORDER BY created_on, id LIMIT %s"
)


_UPDATE_TASK_2026 = (
    "UPDATE tasks_2026 SET state = %s, version = %s, address = %s, "
    "pid = %s, ttl = %s, timeout_at = %s "
    "WHERE id = %s AND state = %s AND version = %s AND address = %s "
    "AND pid IS NOT DISTINCT FROM %s AND ttl IS NOT DISTINCT FROM %s "
    "AND timeout_at IS NOT DISTINCT FROM %s"
)

#: An execute replaces its task's undelivered one, under a new id; an
#: unblock already there is not added again.
_INSERT_OUTBOX = {
    "execute": (
        f"INSERT INTO outbox_messages ({WRITTEN_OUTBOX_COLUMNS}) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (promise_id) WHERE kind = 'execute' DO UPDATE SET "
        "id = DEFAULT, version = EXCLUDED.version, "
        "address = EXCLUDED.address, created_on = EXCLUDED.created_on, "
        "attempts = EXCLUDED.attempts, "
        "next_attempt_at = EXCLUDED.next_attempt_at"
    ),
    "unblock": (
        f"INSERT INTO outbox_messages ({WRITTEN_OUTBOX_COLUMNS}) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (promise_id, address) WHERE kind = 'unblock' "
        "DO NOTHING"
    ),
}


#: The prefixes of the addresses a push delivers to
#: (C{dueOutboxFor} with C{push}).
_PUSH_PREFIXES = ("http://", "https://")


def _prefixPattern(prefix):
    """
    The C{LIKE} pattern (escape C{\\}, PostgreSQL's default) of the
    strings that start with C{prefix}: its C{\\}, C{%} and C{_} match
    themselves.
    """
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _bytesOrNone(data):
    """
    BYTEA comes back as a C{memoryview}; the model wants C{bytes}.
    """
    return None if data is None else bytes(data)




def _promiseFromPostgres(row):
    # psycopg2 decodes JSONB itself.
    return promiseFromRow(row, lambda mapping: mapping or {}, _bytesOrNone)


def _rowForPostgres(promise):
    return rowFromPromise(promise, Json)


def _scheduleFromPostgres(row):
    # psycopg2 decodes JSONB itself.
    return scheduleFromRow(row, lambda mapping: mapping or {}, _bytesOrNone)


def _scheduleRowForPostgres(schedule):
    return rowFromSchedule(schedule, Json)


def _scheduleSearchStatement(query):
    """
    The statement and parameters of a schedule search, or L{None} when it
    can find nothing.
    """
    if query.limit < 1:
        return None
    conditions = []
    parameters = []
    if query.sortId is not None:
        conditions.append("sort_id < %s")
        parameters.append(query.sortId)
    if "*" not in query.id:
        conditions.append("id = %s")
        parameters.append(query.id)
    elif query.id.strip("*"):
        conditions.append("id LIKE %s ESCAPE '\\'")
        parameters.append(likePattern(query.id))
    if query.tags:
        conditions.append("tags @> %s::jsonb")
        parameters.append(Json(query.tags))
    where = " AND ".join(conditions) or "TRUE"
    parameters.append(query.limit)
    return (
        f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE {where} "
        "ORDER BY sort_id DESC LIMIT %s",
        parameters,
    )


#: True for a timer row (one of TIMER_TAGS is "true"), false (not NULL) for
#: any other.
_TIMER_CONDITION = (
    "coalesce(" + " OR ".join(["tags @> %s::jsonb"] * len(TIMER_TAGS)) + ", FALSE)",
    [Json({tag: "true"}) for tag in TIMER_TAGS],
)


def _searchStatement(query, now):
    """
    The statement and parameters of a search at C{now}, or L{None} when it
    can find nothing.
    """
    if not query.states or query.limit < 1:
        return None
    conditions = []
    parameters = []
    if query.sortId is not None:
        conditions.append("sort_id < %s")
        parameters.append(query.sortId)
    if "*" not in query.id:
        conditions.append("id = %s")
        parameters.append(query.id)
    elif query.id.strip("*"):
        conditions.append("id LIKE %s ESCAPE '\\'")
        parameters.append(likePattern(query.id))
    states = stateCondition(query.states, now, _TIMER_CONDITION, "%s")
    if states is not None:
        conditions.append(states[0])
        parameters.extend(states[1])
    if query.tags:
        conditions.append("tags @> %s::jsonb")
        parameters.append(Json(query.tags))
    where = " AND ".join(conditions) or "TRUE"
    parameters.append(query.limit)
    return (
        f"SELECT {COLUMNS} FROM promises WHERE {where} "
        "ORDER BY sort_id DESC LIMIT %s",
        parameters,
    )


def _byIdStatement(columns, table, conditions, parameters, afterId, limit):
    """
    The statement and parameters of a read by id: the C{columns} of the
    rows of C{table} that meet every one of C{conditions} (with their
    C{parameters}), with an id greater than C{afterId} (any when L{None}),
    by id ascending, at most C{limit} (all when L{None}).  Ids are
    C{COLLATE "C"} columns, compared and ordered byte by byte: code-point
    order, the order of their primary key's index.
    """
    if afterId is not None:
        conditions = [*conditions, 'id > %s COLLATE "C"']
        parameters = [*parameters, afterId]
    where = " AND ".join(conditions) or "TRUE"
    return (
        f"SELECT {columns} FROM {table} WHERE {where} "
        'ORDER BY id COLLATE "C" LIMIT %s',
        [*parameters, limit],
    )


#: The branch of a promise, written exactly as the expression index
#: C{promises_branch} (schema version 6) is on, so that the planner uses it.
_BRANCH_PROMISES = (
    f"SELECT {COLUMNS} FROM promises WHERE (tags ->> '{BRANCH_TAG}') = %s "
    'ORDER BY id COLLATE "C" LIMIT %s'
)

#: Every table of the store's data (all but C{schema_versions}), emptied
#: by one script of C{DELETE}s: unlike C{TRUNCATE}, a C{DELETE} takes no
#: lock that waits for, or deadlocks with, other processes' transactions.
_DELETE_EVERYTHING = "; ".join(
    f"DELETE FROM {table}"
    for table in (
        "promises",
        "schedules",
        "locks",
        "tasks",
        "tasks_2026",
        "callbacks",
        "listeners",
        "outbox_messages",
    )
)


#: What L{PostgresRows.deleteGarbageOf} deletes, counted.
_COUNT_GARBAGE = (
    "SELECT "
    "(SELECT count(*) FROM tasks_2026 WHERE id = ANY(%s) AND state = 'fulfilled') "
    "+ (SELECT count(*) FROM tasks WHERE promise_id = ANY(%s) AND is_completed), "
    "(SELECT count(*) FROM callbacks "
    "WHERE awaited_id = ANY(%s) OR awaiter_id = ANY(%s)), "
    "(SELECT count(*) FROM listeners WHERE promise_id = ANY(%s))"
)

#: What refers to deleted promises, deleted and counted in one round trip;
#: the outbox's kinds each served by that kind's partial index.
_DELETE_GARBAGE = (
    "WITH t AS (DELETE FROM tasks_2026 WHERE id = ANY(%s) "
    "AND state = 'fulfilled' RETURNING 1), "
    "t5 AS (DELETE FROM tasks WHERE promise_id = ANY(%s) AND is_completed "
    "RETURNING 1), "
    "c AS (DELETE FROM callbacks WHERE awaited_id = ANY(%s) "
    "OR awaiter_id = ANY(%s) RETURNING 1), "
    "l AS (DELETE FROM listeners WHERE promise_id = ANY(%s) RETURNING 1), "
    "o AS (DELETE FROM outbox_messages "
    "WHERE (kind = 'execute' AND promise_id = ANY(%s)) "
    "OR (kind = 'unblock' AND promise_id = ANY(%s)) RETURNING 1) "
    "SELECT (SELECT count(*) FROM t) + (SELECT count(*) FROM t5), "
    "(SELECT count(*) FROM c), (SELECT count(*) FROM l)"
)


@implementer(
    IPromiseRows, IScheduleRows, ILockRows, ITaskRows, ITask2026Rows, IAdminRows
)
class PostgresRows:
    """
    The rows of every table of the PostgreSQL store (promises, schedules,
    locks, tasks and the 2026 tables): each method runs one statement and
    returns a C{Deferred}.

    @ivar claimOverdue: L{overduePromises}, L{dueSchedules},
        L{dispatchableTasks}, L{dueTasks2026}, L{dueOutbox},
        L{dueOutboxFor} and L{expiredOutbox} lock the rows they return
        and skip rows another transaction has locked (for the sweeps, the
        scheduler, the dispatcher and delivery, which run in a
        transaction).
    @ivar lockReads: L{readTask}, L{readTask2026} and L{readPromise} lock
        the row they read
        (C{SELECT ... FOR UPDATE}), so that transactions claiming or
        completing one task serialise on it (set in a transaction).
    """

    def __init__(self, execute, claimOverdue=False, lockReads=None):
        """
        @param execute: called with a statement and its parameters, returns
            a C{Deferred} firing with a cursor that has run it.
        @param lockReads: by default, as C{claimOverdue}.
        """
        self._execute = execute
        self.claimOverdue = claimOverdue
        self.lockReads = claimOverdue if lockReads is None else lockReads

    def _forUpdate(self, statement):
        return statement + " FOR UPDATE" if self.lockReads else statement

    def ping(self):
        """
        C{SELECT 1}: a round trip to the server (for
        L{resonate.store.scripts.ping}).
        """
        return self._execute("SELECT 1", None).addCallback(lambda cursor: None)

    def readPromise(self, promiseId):
        """
        Read one promise by id.
        """

        def found(cursor):
            row = cursor.fetchone()
            return None if row is None else _promiseFromPostgres(row)[1]

        return self._execute(
            self._forUpdate(f"SELECT {COLUMNS} FROM promises WHERE id = %s"),
            (promiseId,),
        ).addCallback(found)

    def readPromises(self, promiseIds):
        """
        Read many promises by id with one statement (the batches of
        L{resonate.store.postgres.batch}); locked, in id order, when
        L{lockReads} is set, so that two transactions locking overlapping
        sets lock them in one order and cannot deadlock on them.

        @return: a C{Deferred} firing with a C{dict} of the promises found,
            by id.
        """

        def found(cursor):
            return {
                promise.id: promise
                for promise in (
                    _promiseFromPostgres(row)[1] for row in cursor.fetchall()
                )
            }

        return self._execute(
            self._forUpdate(
                f"SELECT {COLUMNS} FROM promises WHERE id = ANY(%s) "
                'ORDER BY id COLLATE "C"'
            ),
            (list(promiseIds),),
        ).addCallback(found)

    def updatePromises(self, promises):
        """
        L{updatePromise} for promises of distinct ids, with one statement:
        an C{UPDATE ... FROM (VALUES ...)}, each row's condition as
        L{updatePromise}'s (planned once, where one C{UPDATE} per promise
        cost PostgreSQL a plan each).

        @return: a C{Deferred} firing with the set of ids updated.
        """
        ids = [promise.id for promise in promises]
        if len(set(ids)) != len(ids):
            raise ValueError("updatePromises needs distinct ids")
        statement = (
            _UPDATE_MANY_HEAD
            + ", ".join([_UPDATE_MANY_ROW] * len(promises))
            + _UPDATE_MANY_TAIL
        )
        parameters = [
            value for promise in promises for value in _rowForPostgres(promise)
        ]
        return self._execute(statement, parameters).addCallback(
            lambda cursor: {row[0] for row in cursor.fetchall()}
        )

    def callbacksOfEach(self, awaitedIds):
        """
        L{callbacksOf} for many promises with one statement.

        @return: a C{Deferred} firing with a C{dict} from each of
            C{awaitedIds} to its callbacks, by awaiter.
        """
        return self._groupedRows(
            f"SELECT {CALLBACK_COLUMNS} FROM callbacks "
            "WHERE awaited_id = ANY(%s) ORDER BY awaited_id, awaiter_id",
            awaitedIds,
            callbackFromRow,
            lambda callback: callback.awaited,
        )

    def listenersOfEach(self, promiseIds):
        """
        L{listenersOf} for many promises with one statement.

        @return: a C{Deferred} firing with a C{dict} from each of
            C{promiseIds} to its listeners, by address.
        """
        return self._groupedRows(
            f"SELECT {LISTENER_COLUMNS} FROM listeners "
            "WHERE promise_id = ANY(%s) ORDER BY promise_id, address",
            promiseIds,
            listenerFromRow,
            lambda listener: listener.promiseId,
        )

    def _groupedRows(self, statement, ids, fromRow, keyOf):
        """
        Run C{statement} (one C{= ANY(%s)} over C{ids}) and group what it
        finds by id, in the statement's order; an id with nothing found
        maps to an empty list.
        """

        def found(cursor):
            result = {each: [] for each in ids}
            for row in cursor.fetchall():
                value = fromRow(row)
                result[keyOf(value)].append(value)
            return result

        return self._execute(statement, (list(ids),)).addCallback(found)

    def readTasks2026(self, taskIds):
        """
        L{readTask2026} for many tasks with one statement; locked, in id
        order, when L{lockReads} is set.

        @return: a C{Deferred} firing with a C{dict} of the tasks found, by
            id.
        """

        def found(cursor):
            return {
                task.id: task
                for task in (task2026FromRow(row) for row in cursor.fetchall())
            }

        return self._execute(
            self._forUpdate(
                f"SELECT {TASK_2026_COLUMNS} FROM tasks_2026 "
                'WHERE id = ANY(%s) ORDER BY id COLLATE "C"'
            ),
            (list(taskIds),),
        ).addCallback(found)

    def insertPromise(self, promise):
        """
        Insert C{promise} unless its id is taken.
        """
        return self._execute(_INSERT, _rowForPostgres(promise)).addCallback(
            lambda cursor: cursor.rowcount == 1
        )

    def insertPromises(self, promises):
        """
        Insert each of C{promises} whose id is not taken, with one
        statement.

        @return: a C{Deferred} firing with the set of ids inserted (an id
            given twice is inserted once).
        """
        statement = (
            _INSERT_MANY
            + ", ".join([_INSERT_ROW] * len(promises))
            + " ON CONFLICT (id) DO NOTHING RETURNING id"
        )
        parameters = [
            value for promise in promises for value in _rowForPostgres(promise)
        ]
        return self._execute(statement, parameters).addCallback(
            lambda cursor: {row[0] for row in cursor.fetchall()}
        )

    def updatePromise(self, promise):
        """
        Replace the stored promise, if it is still pending.
        """
        return self._execute(_UPDATE, _rowForPostgres(promise)).addCallback(
            lambda cursor: cursor.rowcount == 1
        )

    def overduePromises(self, now, limit):
        """
        Pending promises whose timeout is due, by timeout then age; claimed
        when L{claimOverdue} is set.
        """
        statement = _OVERDUE
        if self.claimOverdue:
            statement += " FOR UPDATE SKIP LOCKED"
        return self._execute(statement, (now, limit)).addCallback(
            lambda cursor: [
                _promiseFromPostgres(row)[1] for row in cursor.fetchall()
            ]
        )

    def searchPromises(self, query, now):
        """
        A page of stored promises matching C{query} at C{now}, newest
        first.
        """
        statement = _searchStatement(query, now)
        if statement is None:
            return succeed([])
        return self._execute(*statement).addCallback(
            lambda cursor: [_promiseFromPostgres(row) for row in cursor.fetchall()]
        )

    def readSchedule(self, scheduleId):
        """
        Read one schedule by id.
        """

        def found(cursor):
            row = cursor.fetchone()
            return None if row is None else _scheduleFromPostgres(row)[1]

        return self._execute(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = %s",
            (scheduleId,),
        ).addCallback(found)

    def insertSchedule(self, schedule):
        """
        Insert C{schedule} unless its id is taken.
        """
        return self._execute(
            _INSERT_SCHEDULE, _scheduleRowForPostgres(schedule)
        ).addCallback(lambda cursor: cursor.rowcount == 1)

    def deleteSchedule(self, scheduleId):
        """
        Delete the schedule C{scheduleId}, if there is one.
        """
        return self._execute(
            "DELETE FROM schedules WHERE id = %s", (scheduleId,)
        ).addCallback(lambda cursor: cursor.rowcount == 1)

    def searchSchedules(self, query):
        """
        A page of schedules matching C{query}, newest first.
        """
        statement = _scheduleSearchStatement(query)
        if statement is None:
            return succeed([])
        return self._execute(*statement).addCallback(
            lambda cursor: [
                _scheduleFromPostgres(row) for row in cursor.fetchall()
            ]
        )

    def dueSchedules(self, now, limit):
        """
        Schedules whose next slot is due, earliest slot first, then oldest;
        claimed when L{claimOverdue} is set, so that of several processes
        firing at once each fires different schedules.
        """
        statement = _DUE_SCHEDULES
        if self.claimOverdue:
            statement += " FOR UPDATE SKIP LOCKED"
        return self._execute(statement, (now, limit)).addCallback(
            lambda cursor: [
                _scheduleFromPostgres(row)[1] for row in cursor.fetchall()
            ]
        )

    def advanceSchedule(self, previous, advanced):
        """
        Record that C{previous}'s slot fired: set C{advanced}'s run times,
        if the stored next slot is still the one fired.
        """
        return self._execute(
            "UPDATE schedules SET last_run_time = %s, next_run_time = %s "
            "WHERE id = %s AND next_run_time = %s",
            (
                advanced.lastRunTime,
                advanced.nextRunTime,
                previous.id,
                previous.nextRunTime,
            ),
        ).addCallback(lambda cursor: cursor.rowcount == 1)

    def earliestRunTime(self):
        """
        The earliest next slot of any schedule, or L{None}.
        """
        return self._execute(
            "SELECT MIN(next_run_time) FROM schedules", None
        ).addCallback(lambda cursor: cursor.fetchone()[0])

    def readLock(self, resourceId):
        """
        Read the lock on C{resourceId}, expired or not.
        """

        def found(cursor):
            row = cursor.fetchone()
            return None if row is None else lockFromRow(row)

        return self._execute(
            f"SELECT {LOCK_COLUMNS} FROM locks WHERE resource_id = %s",
            (resourceId,),
        ).addCallback(found)

    def insertLock(self, lock):
        """
        Insert C{lock} unless its resource has a lock row.
        """
        return self._execute(
            f"INSERT INTO locks ({LOCK_COLUMNS}) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (resource_id) DO NOTHING",
            rowFromLock(lock),
        ).addCallback(lambda cursor: cursor.rowcount == 1)

    def replaceLock(self, previous, lock):
        """
        Replace the lock row of C{previous}'s resource with C{lock}, if the
        row is still exactly C{previous}: of two processes taking over one
        expired lock, only one succeeds.
        """
        return self._execute(
            "UPDATE locks SET process_id = %s, execution_id = %s, "
            "expiry_in_milliseconds = %s, timeout = %s "
            "WHERE resource_id = %s AND process_id = %s AND execution_id = %s "
            "AND expiry_in_milliseconds = %s AND timeout = %s",
            rowFromLock(lock)[1:] + rowFromLock(previous),
        ).addCallback(lambda cursor: cursor.rowcount == 1)

    def deleteLock(self, resourceId, executionId):
        """
        Delete the lock on C{resourceId} if C{executionId} holds it.
        """
        return self._execute(
            "DELETE FROM locks WHERE resource_id = %s AND execution_id = %s",
            (resourceId, executionId),
        ).addCallback(lambda cursor: cursor.rowcount == 1)

    def heartbeatLocks(self, processId, now):
        """
        Extend every lock of C{processId} by one lease from C{now}.
        """
        # This is resonate.model.lock.heartbeat, in SQL: one lease from now,
        # not from the previous expiry.
        return self._execute(
            "UPDATE locks SET timeout = %s + expiry_in_milliseconds "
            "WHERE process_id = %s",
            (now, processId),
        ).addCallback(lambda cursor: cursor.rowcount)

    def deleteExpiredLocks(self, now, limit):
        """
        Delete at most C{limit} (all when L{None}) expired locks, skipping
        rows another process is deleting.
        """
        return self._execute(
            "DELETE FROM locks WHERE resource_id IN ("
            "SELECT resource_id FROM locks WHERE timeout <= %s "
            "ORDER BY timeout LIMIT %s FOR UPDATE SKIP LOCKED)",
            (now, limit),
        ).addCallback(lambda cursor: cursor.rowcount)

    def readTask(self, taskId):
        """
        Read one task by id; locked when L{lockReads} is set.
        """

        def found(cursor):
            row = cursor.fetchone()
            return None if row is None else taskFromRow(row)

        return self._execute(
            self._forUpdate(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = %s"),
            (taskId,),
        ).addCallback(found)

    def insertTask(self, task):
        """
        Insert C{task} unless its id is taken.
        """
        return self._execute(
            f"INSERT INTO tasks ({TASK_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO NOTHING",
            rowFromTask(task),
        ).addCallback(lambda cursor: cursor.rowcount == 1)

    def updateTask(self, previous, task):
        """
        Replace the stored task with C{task}, if its counter, claim
        timeout, complete timeout and completion are still C{previous}'s.
        """
        return self._execute(
            "UPDATE tasks SET counter = %s, promise_id = %s, "
            "claim_timeout = %s, complete_timeout = %s, "
            "promise_timeout = %s, created_on = %s, completed_on = %s, "
            "is_completed = %s "
            "WHERE id = %s AND counter = %s AND claim_timeout = %s "
            "AND complete_timeout = %s AND is_completed = %s",
            rowFromTask(task)[1:]
            + (
                previous.id,
                previous.counter,
                previous.claimTimeout,
                previous.completeTimeout,
                bool(previous.isCompleted),
            ),
        ).addCallback(lambda cursor: cursor.rowcount == 1)

    def dispatchableTasks(self, now, limit):
        """
        At most C{limit} tasks to offer, oldest first; claimed when
        L{claimOverdue} is set, so that of several processes dispatching
        at once each offers different tasks.
        """
        statement = _DISPATCHABLE_TASKS
        if self.claimOverdue:
            statement += " FOR UPDATE SKIP LOCKED"
        return self._execute(statement, (now, now, now, limit)).addCallback(
            lambda cursor: [taskFromRow(row) for row in cursor.fetchall()]
        )

    def _claiming(self, statement):
        return statement + " FOR UPDATE SKIP LOCKED" if self.claimOverdue else statement

    def readTask2026(self, taskId):
        """
        Read one 2026 task by id; locked when L{lockReads} is set.
        """

        def found(cursor):
            row = cursor.fetchone()
            return None if row is None else task2026FromRow(row)

        return self._execute(
            self._forUpdate(
                f"SELECT {TASK_2026_COLUMNS} FROM tasks_2026 WHERE id = %s"
            ),
            (taskId,),
        ).addCallback(found)

    def insertTask2026(self, task):
        """
        Insert a 2026 C{task} unless its id is taken.
        """
        return self._execute(
            f"INSERT INTO tasks_2026 ({TASK_2026_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            rowFromTask2026(task),
        ).addCallback(lambda cursor: cursor.rowcount == 1)

    def updateTask2026(self, previous, task):
        """
        Replace the stored 2026 task with C{task}, if its row is still
        exactly C{previous} (C{IS NOT DISTINCT FROM}: a NULL matches only a
        NULL): of two processes changing one task, one wins.
        """
        return self._execute(
            _UPDATE_TASK_2026,
            rowFromTask2026(task)[1:] + rowFromTask2026(previous),
        ).addCallback(lambda cursor: cursor.rowcount == 1)

    def dueTasks2026(self, now, limit):
        """
        2026 tasks whose timer is due, earliest first; claimed when
        L{claimOverdue} is set, so that of several processes sweeping at
        once each takes different tasks.
        """
        return self._execute(
            self._claiming(
                f"SELECT {TASK_2026_COLUMNS} FROM tasks_2026 "
                "WHERE timeout_at <= %s ORDER BY timeout_at, id LIMIT %s"
            ),
            (now, limit),
        ).addCallback(
            lambda cursor: [task2026FromRow(row) for row in cursor.fetchall()]
        )

    def insertCallback(self, callback):
        """
        Insert C{callback} unless its pair exists.
        """
        return self._execute(
            f"INSERT INTO callbacks ({CALLBACK_COLUMNS}) VALUES (%s, %s, %s) "
            "ON CONFLICT (awaited_id, awaiter_id) DO NOTHING",
            rowFromCallback(callback),
        ).addCallback(lambda cursor: cursor.rowcount == 1)

    def readyCallbacks(self, awaited):
        """
        Mark the callbacks on C{awaited} ready.
        """
        return self._execute(
            "UPDATE callbacks SET ready = TRUE WHERE awaited_id = %s",
            (awaited,),
        ).addCallback(lambda cursor: cursor.rowcount)

    def deleteReadyCallbacks(self, awaiter):
        """
        Delete the ready callbacks of C{awaiter}.
        """
        return self._execute(
            "DELETE FROM callbacks WHERE awaiter_id = %s AND ready",
            (awaiter,),
        ).addCallback(lambda cursor: cursor.rowcount)

    def deleteCallbacks(self, awaiter):
        """
        Delete every callback of C{awaiter}.
        """
        return self._execute(
            "DELETE FROM callbacks WHERE awaiter_id = %s", (awaiter,)
        ).addCallback(lambda cursor: cursor.rowcount)

    def callbacksOf(self, awaited):
        """
        The callbacks on C{awaited}, by awaiter.
        """
        return self._execute(
            f"SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE awaited_id = %s "
            "ORDER BY awaiter_id",
            (awaited,),
        ).addCallback(
            lambda cursor: [callbackFromRow(row) for row in cursor.fetchall()]
        )

    def callbacksOfAwaiter(self, awaiter):
        """
        The callbacks of C{awaiter}, by awaited promise.
        """
        return self._execute(
            f"SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE awaiter_id = %s "
            "ORDER BY awaited_id",
            (awaiter,),
        ).addCallback(
            lambda cursor: [callbackFromRow(row) for row in cursor.fetchall()]
        )

    def insertListener(self, listener):
        """
        Insert C{listener} unless it exists.
        """
        return self._execute(
            f"INSERT INTO listeners ({LISTENER_COLUMNS}) VALUES (%s, %s) "
            "ON CONFLICT (promise_id, address) DO NOTHING",
            (listener.promiseId, listener.address),
        ).addCallback(lambda cursor: cursor.rowcount == 1)

    def listenersOf(self, promiseId):
        """
        The listeners of C{promiseId}, by address.
        """
        return self._execute(
            f"SELECT {LISTENER_COLUMNS} FROM listeners WHERE promise_id = %s "
            "ORDER BY address",
            (promiseId,),
        ).addCallback(
            lambda cursor: [listenerFromRow(row) for row in cursor.fetchall()]
        )

    def deleteListeners(self, promiseId):
        """
        Delete the listeners of C{promiseId}.
        """
        return self._execute(
            "DELETE FROM listeners WHERE promise_id = %s", (promiseId,)
        ).addCallback(lambda cursor: cursor.rowcount)

    def insertOutbox(self, message, now):
        """
        Add C{message} to the outbox with one statement: an execute
        replaces its task's undelivered one (with a new id), an unblock
        already there is not added again.
        """
        kind = "execute" if isinstance(message, Execute) else "unblock"
        return self._execute(
            _INSERT_OUTBOX[kind], rowFromOutbox(message, now)
        ).addCallback(lambda cursor: cursor.rowcount == 1)

    def dueOutbox(self, now, limit):
        """
        Outbox entries due, oldest first; claimed when L{claimOverdue} is
        set, so that of several processes delivering at once each takes
        different messages.
        """
        return self._execute(
            self._claiming(
                f"SELECT {OUTBOX_COLUMNS} FROM outbox_messages "
                "WHERE next_attempt_at <= %s "
                "ORDER BY next_attempt_at, id LIMIT %s"
            ),
            (now, limit),
        ).addCallback(
            lambda cursor: [outboxFromRow(row) for row in cursor.fetchall()]
        )

    def dueOutboxFor(self, now, limit, addresses, prefixes, push):
        """
        Outbox entries due for one process's addresses, oldest first (the
        next_attempt_at index, the address filtered on the way): exact
        addresses by C{= ANY}, prefixes by C{LIKE ANY} with their
        wildcards escaped; claimed as L{dueOutbox}'s are.
        """
        patterns = [
            _prefixPattern(prefix)
            for prefix in (*prefixes, *(_PUSH_PREFIXES if push else ()))
        ]
        return self._execute(
            self._claiming(
                f"SELECT {OUTBOX_COLUMNS} FROM outbox_messages "
                "WHERE next_attempt_at <= %s "
                "AND (address = ANY(%s::text[]) "
                "OR address LIKE ANY(%s::text[])) "
                "ORDER BY next_attempt_at, id LIMIT %s"
            ),
            (now, list(addresses), patterns, limit),
        ).addCallback(
            lambda cursor: [outboxFromRow(row) for row in cursor.fetchall()]
        )

    def deleteOutbox(self, entryId):
        """
        Delete the outbox entry C{entryId}.
        """
        return self._execute(
            "DELETE FROM outbox_messages WHERE id = %s", (entryId,)
        ).addCallback(lambda cursor: cursor.rowcount == 1)

    def deferOutbox(self, entryId, attempts, nextAttemptAt):
        """
        Set the outbox entry's attempts and next attempt.
        """
        return self._execute(
            "UPDATE outbox_messages SET attempts = %s, next_attempt_at = %s "
            "WHERE id = %s",
            (attempts, nextAttemptAt, entryId),
        ).addCallback(lambda cursor: cursor.rowcount == 1)

    def expiredOutbox(self, createdBefore, limit):
        """
        Outbox entries created at or before C{createdBefore}, oldest
        first; claimed as L{dueOutbox}'s are.
        """
        return self._execute(
            self._claiming(
                f"SELECT {OUTBOX_COLUMNS} FROM outbox_messages "
                "WHERE created_on <= %s ORDER BY created_on, id LIMIT %s"
            ),
            (createdBefore, limit),
        ).addCallback(
            lambda cursor: [outboxFromRow(row) for row in cursor.fetchall()]
        )

    def promisesById(self, state, tags, afterId, limit, now):
        """
        A page of a C{promise.search}: by id, in C{state} as of C{now} (an
        overdue pending row as its timeout leaves it), with C{tags} (the
        GIN index on tags serves a containment).
        """
        conditions, parameters = [], []
        if tags:
            conditions.append("tags @> %s::jsonb")
            parameters.append(Json(tags))
        if state is not None:
            # One state is never every state: there is always a condition.
            condition, stateParameters = stateCondition(
                frozenset([state]), now, _TIMER_CONDITION, "%s"
            )
            conditions.append(condition)
            parameters.extend(stateParameters)
        return self._execute(
            *_byIdStatement(COLUMNS, "promises", conditions, parameters, afterId, limit)
        ).addCallback(
            lambda cursor: [
                _promiseFromPostgres(row)[1] for row in cursor.fetchall()
            ]
        )

    def tasksById(self, state, afterId, limit):
        """
        A page of a C{task.search}: 2026 tasks by id, in C{state} (the
        index on state and id serves this).
        """
        conditions, parameters = [], []
        if state is not None:
            conditions, parameters = ["state = %s"], [state.value]
        return self._execute(
            *_byIdStatement(
                TASK_2026_COLUMNS, "tasks_2026", conditions, parameters, afterId, limit
            )
        ).addCallback(
            lambda cursor: [task2026FromRow(row) for row in cursor.fetchall()]
        )

    def schedulesById(self, promiseTags, afterId, limit):
        """
        A page of a C{schedule.search}: schedules by id whose promise tags
        include C{promiseTags}.
        """
        conditions, parameters = [], []
        if promiseTags:
            conditions.append("promise_tags @> %s::jsonb")
            parameters.append(Json(promiseTags))
        return self._execute(
            *_byIdStatement(
                SCHEDULE_COLUMNS, "schedules", conditions, parameters, afterId, limit
            )
        ).addCallback(
            lambda cursor: [
                _scheduleFromPostgres(row)[1] for row in cursor.fetchall()
            ]
        )

    def branchPromises(self, branch, limit):
        """
        The promises of C{branch}, by id: one range of the index
        C{promises_branch}.
        """
        return self._execute(_BRANCH_PROMISES, (branch, limit)).addCallback(
            lambda cursor: [
                _promiseFromPostgres(row)[1] for row in cursor.fetchall()
            ]
        )

    def allCallbacks(self):
        """
        Every callback, in the primary key's order.
        """
        return self._execute(
            f"SELECT {CALLBACK_COLUMNS} FROM callbacks "
            "ORDER BY awaited_id, awaiter_id",
            None,
        ).addCallback(
            lambda cursor: [callbackFromRow(row) for row in cursor.fetchall()]
        )

    def allListeners(self):
        """
        Every listener, in the primary key's order.
        """
        return self._execute(
            f"SELECT {LISTENER_COLUMNS} FROM listeners "
            "ORDER BY promise_id, address",
            None,
        ).addCallback(
            lambda cursor: [listenerFromRow(row) for row in cursor.fetchall()]
        )

    # IAdminRows

    def locksById(self, afterId, limit):
        """
        A page of locks by resource id (the primary key serves this).
        """
        condition, parameters = "", []
        if afterId is not None:
            condition, parameters = 'WHERE resource_id > %s COLLATE "C" ', [afterId]
        return self._execute(
            f"SELECT {LOCK_COLUMNS} FROM locks {condition}"
            'ORDER BY resource_id COLLATE "C" LIMIT %s',
            [*parameters, limit],
        ).addCallback(lambda cursor: [lockFromRow(row) for row in cursor.fetchall()])

    def tasks05ById(self, afterId, limit):
        """
        A page of v0.5 tasks by id (the primary key serves this).
        """
        return self._execute(
            *_byIdStatement(TASK_COLUMNS, "tasks", [], [], afterId, limit)
        ).addCallback(lambda cursor: [taskFromRow(row) for row in cursor.fetchall()])

    def tasks05Of(self, promiseId):
        """
        The v0.5 tasks of C{promiseId} (the index C{tasks_promise}),
        sorted here: there is one (a task's id is its promise's), and an
        C{ORDER BY id} would tempt the planner to walk the primary key.
        """
        return self._execute(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE promise_id = %s",
            (promiseId,),
        ).addCallback(
            lambda cursor: sorted(
                (taskFromRow(row) for row in cursor.fetchall()), key=lambda t: t.id
            )
        )

    def settledPromises(self, settledBefore, after, limit):
        """
        Settled promises completed before C{settledBefore}, oldest first:
        one range of the partial index C{promises_settled}; claimed when
        L{claimOverdue} is set, so that of several processes collecting at
        once each takes different promises.
        """
        condition, parameters = "", [settledBefore]
        if after is not None:
            condition = 'AND (completed_on, id) > (%s, %s COLLATE "C") '
            parameters.extend(after)
        return self._execute(
            self._claiming(
                f"SELECT {COLUMNS} FROM promises "
                "WHERE state <> 'PENDING' AND completed_on < %s "
                f'{condition}ORDER BY completed_on, id COLLATE "C" LIMIT %s'
            ),
            [*parameters, limit],
        ).addCallback(
            lambda cursor: [
                _promiseFromPostgres(row)[1] for row in cursor.fetchall()
            ]
        )

    def unfinishedAmong(self, promiseIds):
        """
        Which of C{promiseIds} have an unfinished 2026 or v0.5 task, with
        one statement (the primary key of tasks_2026, the index
        C{tasks_promise}).
        """
        ids = list(promiseIds)
        return self._execute(
            "SELECT id FROM tasks_2026 WHERE id = ANY(%s) "
            "AND state <> 'fulfilled' "
            "UNION SELECT promise_id FROM tasks WHERE promise_id = ANY(%s) "
            "AND NOT is_completed",
            (ids, ids),
        ).addCallback(lambda cursor: [row[0] for row in cursor.fetchall()])

    def callbacksOnEach(self, promiseIds):
        """
        The callbacks on any of C{promiseIds}, with one statement (the
        primary key serves it).
        """
        return self._execute(
            f"SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE awaited_id = ANY(%s)",
            (list(promiseIds),),
        ).addCallback(
            lambda cursor: [callbackFromRow(row) for row in cursor.fetchall()]
        )

    def pendingAmong(self, promiseIds):
        """
        Which of C{promiseIds} are pending, with one statement, not locked.
        """
        return self._execute(
            "SELECT id FROM promises WHERE id = ANY(%s) AND state = 'PENDING'",
            (list(promiseIds),),
        ).addCallback(lambda cursor: [row[0] for row in cursor.fetchall()])

    def deleteSettledPromises(self, promises):
        """
        Delete each of C{promises} still settled at its C{completedOn},
        with one statement.
        """
        return self._execute(
            "DELETE FROM promises AS p "
            "USING unnest(%s::text[], %s::bigint[]) AS g (id, completed_on) "
            "WHERE p.id = g.id AND p.completed_on = g.completed_on "
            "AND p.state <> 'PENDING' RETURNING p.id",
            ([p.id for p in promises], [p.completedOn for p in promises]),
        ).addCallback(lambda cursor: [row[0] for row in cursor.fetchall()])

    def countGarbageOf(self, promiseIds):
        """
        Count what L{deleteGarbageOf} would delete, with one statement.
        """
        ids = list(promiseIds)
        return self._execute(_COUNT_GARBAGE, (ids,) * 5).addCallback(
            lambda cursor: tuple(cursor.fetchone())
        )

    def deleteGarbageOf(self, promiseIds):
        """
        Delete what refers to C{promiseIds} with one statement (a
        data-modifying C{WITH} per table runs whether read or not).
        """
        ids = list(promiseIds)
        return self._execute(_DELETE_GARBAGE, (ids,) * 7).addCallback(
            lambda cursor: tuple(cursor.fetchone())
        )

    def deleteEverything(self):
        """
        Empty every table, in one round trip.  Sort and outbox ids go on
        from where they were (their sequences are not reset).
        """
        return self._execute(_DELETE_EVERYTHING, None).addCallback(
            lambda cursor: None
        )
