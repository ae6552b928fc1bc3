# -*- test-case-name: tests.test_store_postgres -*-
"""
The PostgreSQL store: several server processes may share one database.

Every transaction is one of the shared scripts of L{resonate.store.scripts}
driven by L{scripts.runAsync} over L{PostgresPromiseRows}, so this module
decides nothing about promises; where it disagrees with
L{resonate.store.memory}, it is wrong.

Correctness across processes rests on the database alone, never on locks in
this process:

  - every write is conditional (C{INSERT ... ON CONFLICT DO NOTHING},
    C{UPDATE ... WHERE state = 'PENDING'}); a script whose write finds the
    row changed under it starts again from its read.  So requests run each
    statement in autocommit, with no C{BEGIN}/C{COMMIT} round trips: a
    create or a complete is two round trips, a read one;
  - the background sweep (L{PostgresStore.timeoutPromises}) times out a
    batch with one C{UPDATE} whose subquery claims the rows with C{SELECT
    ... FOR UPDATE SKIP LOCKED}, so sweeps in several processes share the
    work instead of fighting over it;
  - the scheduler (L{PostgresStore.fireSchedules}) likewise claims due
    schedules with C{FOR UPDATE SKIP LOCKED} and advances each, conditional
    on the slot it fires, in the transaction that inserts the slot's
    promise, so a slot fires at most once across processes;
  - the schema is created or migrated at startup under a transaction-scoped
    advisory lock, so processes that start together apply it once.

Connections are txpostgres connections in a small pool of our own
(L{_ConnectionPool}): a transaction takes one for its whole length.  A lost
connection is dropped and reopened, with backoff, on the injected reactor;
while no connection is open, requests fail at once with L{StoreFailure}
(5002) instead of waiting.  Nothing here ever cancels a txpostgres
C{Deferred} (its cancel raises into the caller): a request that outlives
C{txTimeout} is answered 5002 by a timer, the server's C{statement_timeout}
ends the statement it was running, and a connection that still does not
come back is closed.
"""

from collections import deque
from dataclasses import dataclass

import psycopg2
import psycopg2.errorcodes
import psycopg2.extensions
from psycopg2.extras import Json
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    ensureDeferred,
    fail,
    succeed,
)
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.logger import Logger
from twisted.python.failure import Failure
from txpostgres import txpostgres
from zope.interface import implementer

from resonate.errors import ResonateError, StoreFailure
from resonate.interfaces import (
    ILockRows,
    IPromiseRows,
    IScheduleRows,
    IStore,
    IStoreProvider,
    ITaskRows,
)
from resonate.model.promise import TIMER_TAG, decideCreate, timedOutState
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

#: The key of the advisory lock that serialises schema changes across
#: processes: "resonate" in ASCII, as a signed 64-bit integer.
MIGRATION_LOCK_KEY = int.from_bytes(b"resonate", "big")

#: Every table this store creates, dropped by C{reset: true}.  A schema
#: version that adds a table adds it here.
_DROP_TABLES = (
    "DROP TABLE IF EXISTS promises, locks, schedules, tasks, "
    "schema_versions"
)

#: The pgcodes after which a transaction is worth running again.
RETRYABLE_PGCODES = frozenset(
    [
        psycopg2.errorcodes.SERIALIZATION_FAILURE,
        psycopg2.errorcodes.DEADLOCK_DETECTED,
    ]
)

#: How many times a transaction runs when it keeps hitting
#: L{RETRYABLE_PGCODES}.
MAX_RETRIES = 3

#: Seconds between attempts to reopen a lost connection: the first delay,
#: and the most it grows to.
RECONNECT_DELAY = 0.05
MAX_RECONNECT_DELAY = 2.0

#: Seconds the blocking startup connection may take to connect, unless the
#: C{query} option sets C{connect_timeout}.
STARTUP_CONNECT_TIMEOUT = 10

_INSERT = (
    "INSERT INTO promises (state, param_headers, param_data, "
    "value_headers, value_data, timeout, "
    "idempotency_key_for_create, idempotency_key_for_complete, "
    "tags, created_on, completed_on, id) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (id) DO NOTHING"
)

#: The columns of L{_INSERT}; L{PostgresPromiseRows.insertPromises} adds
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


#: True for a timer row, false (not NULL) for any other.
_TIMER_CONDITION = (
    "coalesce(tags @> %s::jsonb, FALSE)",
    [Json({TIMER_TAG: "true"})],
)


#: Time out at most a batch of overdue promises that no other transaction
#: holds, in one statement: what L{resonate.model.promise.timedOut} does,
#: written in SQL so that a batch is one round trip instead of one per
#: promise.  The state comes from L{timedOutState}; the rest (no value, no
#: completion key, completed at the timeout) is restated here, and the store
#: suite compares swept rows with C{timedOut}.  C{due} is L{_OVERDUE}'s
#: selection, claiming its rows (C{SKIP LOCKED}: sweeps in other processes
#: take other rows), and C{MATERIALIZED} so that it runs once: as an
#: C{IN (subquery)} the planner may rescan it per row, and each rescan skips
#: the rows this statement has just updated and claims more, past the limit.
#: The outer C{state = 'PENDING'} keeps the update conditional like every
#: other.
_TIMEOUT_OVERDUE = (
    "WITH due AS MATERIALIZED (SELECT id FROM promises "
    "WHERE state = 'PENDING' AND timeout <= %s "
    "ORDER BY timeout, sort_id LIMIT %s FOR UPDATE SKIP LOCKED) "
    "UPDATE promises SET "
    f"state = CASE WHEN {_TIMER_CONDITION[0]} THEN %s ELSE %s END, "
    "value_headers = %s, value_data = NULL, "
    "idempotency_key_for_complete = NULL, completed_on = timeout "
    "FROM due WHERE promises.id = due.id AND state = 'PENDING'"
)


def _timeoutOverdueParameters(now, limit):
    """
    The parameters of L{_TIMEOUT_OVERDUE}.
    """
    return (
        now,
        limit,
        *_TIMER_CONDITION[1],
        timedOutState(True).value,
        timedOutState(False).value,
        Json({}),
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


@implementer(IPromiseRows, IScheduleRows, ILockRows, ITaskRows)
class PostgresPromiseRows:
    """
    Promise, schedule, lock and task rows in PostgreSQL: each method runs
    one statement and returns a C{Deferred}.

    @ivar claimOverdue: L{overduePromises}, L{dueSchedules} and
        L{dispatchableTasks} lock the rows they return and skip rows another
        transaction has locked (for the sweep, the scheduler and the
        dispatcher, which run in a transaction).
    @ivar lockReads: L{readTask} and L{readPromise} lock the row they read
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
        C{SELECT 1}: a round trip to the server (for L{scripts.ping}).
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

    def timeoutOverdue(self, now, limit):
        """
        Time out at most C{limit} overdue promises that no other
        transaction holds, oldest timeout first, with one statement (not
        part of L{IPromiseRows}: only L{_timeoutPromises} asks it).

        @return: how many were timed out.
        """
        return self._execute(
            _TIMEOUT_OVERDUE, _timeoutOverdueParameters(now, limit)
        ).addCallback(lambda cursor: cursor.rowcount)

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


def _timeoutPromises(now, limit):
    """
    L{scripts.timeoutPromises} as one statement (see L{_TIMEOUT_OVERDUE}).
    """
    return (yield scripts.RowOp("timeoutOverdue", (now, limit)))


def _oneLine(error):
    """
    A database error's message on one line.
    """
    return " ".join(str(error).split()) or type(error).__name__


@dataclass(frozen=True)
class PostgresOptions:
    """
    The options under C{aio.subsystems.store.config.postgres}.

    @ivar query: extra libpq connection parameters (C{sslmode}, ...).
    @ivar txTimeout: seconds a transaction may take, waiting for a
        connection included, before it fails with 5002.
    @ivar reset: drop this store's tables at startup and create them again.
    """

    host: str = "localhost"
    port: int = 5432
    username: str = ""
    password: str = ""
    database: str = "resonate"
    query: dict = None
    txTimeout: float = 0.25
    reset: bool = False

    @classmethod
    def fromConfig(cls, options):
        """
        Read and check the options a L{resonate.config.StoreConfig} carries.

        @raise StoreFailure: an option has the wrong type or value.
        """
        defaults = cls()
        values = {}
        for name in ("host", "username", "password", "database"):
            value = options.get(name, getattr(defaults, name))
            if not isinstance(value, str):
                raise StoreFailure(
                    f"postgres {name} must be a string, not {value!r}"
                )
            values[name] = value
        port = options.get("port", defaults.port)
        if isinstance(port, bool) or not isinstance(port, int) or not (
            1 <= port <= 65535
        ):
            raise StoreFailure(
                f"postgres port must be from 1 to 65535, not {port!r}"
            )
        query = options.get("query") or {}
        if not isinstance(query, dict) or not all(
            isinstance(k, str) and isinstance(v, str)
            for k, v in query.items()
        ):
            raise StoreFailure(
                "postgres query must map names to strings, "
                f"not {query!r}"
            )
        txTimeout = options.get("txTimeout", defaults.txTimeout)
        if (
            isinstance(txTimeout, bool)
            or not isinstance(txTimeout, (int, float))
            or not txTimeout > 0
        ):
            raise StoreFailure(
                "postgres txTimeout must be a positive duration, "
                f"not {txTimeout!r}"
            )
        reset = options.get("reset", defaults.reset)
        if not isinstance(reset, bool):
            raise StoreFailure(
                f"postgres reset must be true or false, not {reset!r}"
            )
        return cls(
            port=port,
            query=dict(query),
            txTimeout=float(txTimeout),
            reset=reset,
            **values,
        )

    @property
    def where(self):
        """
        The database, for messages: C{host:port/database}.
        """
        return f"{self.host}:{self.port}/{self.database}"

    def dsn(self, **extra):
        """
        The libpq connection string; C{extra} parameters apply unless the
        C{query} option sets them.
        """
        parameters = dict(
            host=self.host, port=self.port, dbname=self.database
        )
        if self.username:
            parameters["user"] = self.username
        if self.password:
            parameters["password"] = self.password
        parameters.update(extra)
        parameters.update(self.query or {})
        return psycopg2.extensions.make_dsn(**parameters)


def _schemaVersion(cursor):
    """
    The version of the schema in the database: 0 when it has none.

    @raise StoreFailure: the database has a C{promises} table but records
        no version, so it was not made by this server.
    """
    cursor.execute(
        "SELECT to_regclass('schema_versions') IS NOT NULL, "
        "to_regclass('promises') IS NOT NULL"
    )
    hasVersions, hasPromises = cursor.fetchone()
    if not hasVersions:
        if hasPromises:
            raise StoreFailure(
                "the database has a promises table but no schema_versions "
                "table; it was not made by this server"
            )
        return 0
    cursor.execute("SELECT COALESCE(MAX(version), 0) FROM schema_versions")
    return cursor.fetchone()[0]


def prepareDatabase(options, migrations=None):
    """
    Create or migrate the schema (dropping it first when C{reset} is set),
    on a blocking connection, in one transaction under an advisory lock so
    that processes starting together apply each version once.

    @param options: L{PostgresOptions}.
    @param migrations: the L{migrate.Migration}s, by default the shipped
        C{postgres} ones.
    @return: the schema version the database now has.
    @raise StoreFailure: the database cannot be reached, or its schema is
        newer than this server knows or not this server's.
    """
    if migrations is None:
        migrations = migrate.loadMigrations("postgres")
    latest = migrations[-1].version if migrations else 0
    try:
        connection = psycopg2.connect(
            options.dsn(
                connect_timeout=STARTUP_CONNECT_TIMEOUT,
                application_name="resonate",
            )
        )
    except psycopg2.Error as e:
        raise StoreFailure(
            f"cannot connect to PostgreSQL {options.where}: {_oneLine(e)}"
        )
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,)
            )
            if options.reset:
                cursor.execute(_DROP_TABLES)
            current = _schemaVersion(cursor)
            if current > latest:
                raise StoreFailure(
                    f"the database has schema version {current}, newer "
                    f"than the {latest} this server knows; upgrade the "
                    "server"
                )
            if current < latest:
                cursor.execute(
                    "CREATE TABLE IF NOT EXISTS schema_versions ("
                    "version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
                )
                for migration in migrations[current:]:
                    cursor.execute(migration.sql)
                    cursor.execute(
                        "INSERT INTO schema_versions (version, name) "
                        "VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
    except (psycopg2.Error, StoreFailure) as e:
        reason = e.message if isinstance(e, StoreFailure) else _oneLine(e)
        raise StoreFailure(
            f"cannot open PostgreSQL database {options.where}: {reason}"
        )
    finally:
        connection.close()
    return max(current, latest)


class _Connection(txpostgres.Connection):
    """
    A txpostgres connection that reports its own loss instead of logging an
    unhandled error: when the server drops an idle connection, txpostgres
    raises out of C{doRead}.

    @ivar onLost: called with this connection when it is lost.
    """

    onLost = None

    def doRead(self):
        """
        Read as txpostgres does; a database error disconnects quietly.
        """
        try:
            return txpostgres.Connection.doRead(self)
        except psycopg2.Error as e:
            return e

    def connectionLost(self, reason):
        """
        Let txpostgres finish its poll cycle, then tell the pool.
        """
        txpostgres.Connection.connectionLost(self, reason)
        if self.onLost is not None:
            self.onLost(self)

    @property
    def broken(self):
        """
        Whether this connection can run nothing more.
        """
        return self._connection is None or bool(self._connection.closed)

    def abandon(self):
        """
        Close, whatever state the connection is in.
        """
        if self._connection is not None:
            self.close()


class _ConnectionPool:
    """
    C{count} connections, each reopened with backoff when lost, and a
    bounded queue of transactions waiting for one.

    While no connection is open and the last attempt to open one failed,
    L{acquire} fails at once: a database that is away is reported now, not
    after C{txTimeout}.
    """

    _log = Logger()

    def __init__(self, reactor, dsn, settings, count, size, connectTimeout):
        """
        @param settings: a statement and parameters run on every new
            connection.
        @param size: the most transactions that may wait for a connection.
        @param connectTimeout: seconds an attempt to connect may take.
        """
        self._reactor = reactor
        self._dsn = dsn
        self._settings = settings
        self._count = count
        self._size = size
        self._connectTimeout = connectTimeout
        self._idle = []
        self._busy = set()
        self._connecting = set()
        self._waiters = deque()
        self._timers = set()
        self._delay = RECONNECT_DELAY
        self._available = True
        self._lastError = None
        self._connectFailing = False
        self._closed = False

    @property
    def open(self):
        """
        How many connections are open.
        """
        return len(self._idle) + len(self._busy)

    def start(self):
        """
        Open every connection.
        """
        for _ in range(self._count):
            self._connect()

    def _connect(self):
        """
        Open one connection; on failure, try again after a growing delay.
        """
        if self._closed:
            return
        connection = _Connection(self._reactor)
        self._connecting.add(connection)
        d = connection.connect(self._dsn)
        d.addCallback(lambda _: connection.runOperation(*self._settings))
        timer = self._reactor.callLater(
            self._connectTimeout, connection.abandon
        )

        def connected(_):
            self._connecting.discard(connection)
            if timer.active():
                timer.cancel()
            if self._closed:
                connection.abandon()
                return
            connection.onLost = self._lost
            self._delay = RECONNECT_DELAY
            if not self._available:
                self._log.info("PostgreSQL connection restored")
            self._available = True
            self._connectFailing = False
            self._lastError = None
            self._release(connection)

        def failed(failure):
            self._connecting.discard(connection)
            if timer.active():
                timer.cancel()
            connection.abandon()
            if self._closed:
                return
            if not self._connectFailing:
                self._connectFailing = True
                self._log.warn(
                    "cannot connect to PostgreSQL: {reason}; retrying",
                    reason=_oneLine(failure.value),
                )
            self._lastError = _oneLine(failure.value)
            if self.open == 0:
                self._unavailable()
            self._retryLater()

        d.addCallbacks(connected, failed)

    def _retryLater(self):
        """
        Schedule the next attempt to connect.
        """
        delay = self._delay
        self._delay = min(self._delay * 2, MAX_RECONNECT_DELAY)

        def attempt():
            self._timers.discard(call)
            self._connect()

        call = self._reactor.callLater(delay, attempt)
        self._timers.add(call)

    def _unavailable(self):
        """
        No connection is left: fail every waiter now, and every request
        until one is open again.
        """
        self._available = False
        waiters, self._waiters = self._waiters, deque()
        for d in waiters:
            d.errback(self._unavailableFailure())

    def _unavailableFailure(self):
        """
        The L{StoreFailure} a request gets while no connection is open.
        """
        reason = f": {self._lastError}" if self._lastError else ""
        return Failure(StoreFailure(f"PostgreSQL is unavailable{reason}"))

    def _lost(self, connection):
        """
        An open connection was lost (C{connectionLost}): drop it and open
        another.
        """
        if connection in self._idle:
            self._idle.remove(connection)
        elif connection in self._busy:
            # Its transaction fails by itself and gives it back.
            return
        else:
            return
        self._dropped(connection, "lost while idle")

    def _dropped(self, connection, why):
        """
        C{connection}, no longer in the pool, is lost: close it and open
        another.
        """
        connection.onLost = None
        connection.abandon()
        if self._closed:
            return
        self._log.warn("PostgreSQL connection {why}; reconnecting", why=why)
        if self.open == 0:
            self._lastError = self._lastError or f"connection {why}"
            self._unavailable()
        self._retryLater()

    def acquire(self):
        """
        A connection for one transaction.

        @return: a C{Deferred} firing with a connection; cancelling it gives
            up the place in the queue.
        """
        if self._closed:
            return fail(ResonateError(Status.SHUTTING_DOWN))
        while self._idle:
            connection = self._idle.pop()
            if connection.broken:
                self._dropped(connection, "found broken")
                continue
            self._busy.add(connection)
            return succeed(connection)
        if not self._available:
            return fail(self._unavailableFailure())
        if len(self._waiters) >= self._size:
            return fail(ResonateError(Status.AIO_SUBMISSION_QUEUE_FULL))

        def cancel(d):
            self._waiters.remove(d)
            d.errback(StoreFailure("timed out waiting for a connection"))

        d = Deferred(cancel)
        self._waiters.append(d)
        return d

    def release(self, connection):
        """
        Take back a connection from L{acquire}.
        """
        self._busy.discard(connection)
        if connection.broken:
            self._dropped(connection, "lost")
        else:
            self._release(connection)

    def _release(self, connection):
        """
        Hand an open connection to the next waiter, or keep it idle.
        """
        if self._closed:
            connection.onLost = None
            connection.abandon()
            return
        if self._waiters:
            self._busy.add(connection)
            self._waiters.popleft().callback(connection)
        else:
            self._idle.append(connection)

    def close(self):
        """
        Stop reconnecting, fail the waiters and close the idle connections;
        busy ones are closed as they are released.
        """
        self._closed = True
        for call in self._timers:
            call.cancel()
        self._timers.clear()
        waiters, self._waiters = self._waiters, deque()
        for d in waiters:
            d.errback(ResonateError(Status.SHUTTING_DOWN))
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.onLost = None
            connection.abandon()
        for connection in list(self._connecting):
            connection.abandon()


#: Errors that may mean the connection, not the statement, failed.
_CONNECTION_ERRORS = (
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    ConnectionDone,
    ConnectionLost,
)


class _Expired(Exception):
    """
    The transaction ran past its deadline; it runs no further statement.
    """


class _Transaction:
    """
    One request: a script run on one connection, under a deadline.

    @ivar expired: the deadline has passed and the requester has been
        answered.
    """

    def __init__(self, pool, reactor, txTimeout, log):
        self._pool = pool
        self._reactor = reactor
        self._txTimeout = txTimeout
        self._log = log
        self.expired = False
        self.connection = None
        self._acquiring = None
        self._overdue = None

    def execute(self, statement, parameters):
        """
        Run one statement on this transaction's connection.

        @return: a C{Deferred} firing with the cursor.
        """
        if self.expired:
            return fail(_Expired())
        return self.connection.cursor().execute(statement, parameters)

    def run(self, script, args, inTransaction):
        """
        Run C{script(*args)} over L{PostgresPromiseRows}.

        @param inTransaction: run it between C{BEGIN} and C{COMMIT}, with
            overdue rows claimed (the sweep); otherwise every statement is
            its own autocommit transaction.
        @return: a C{Deferred} firing with the script's result or failing
            with a L{ResonateError}, within C{txTimeout}.
        """
        answer = Deferred()
        work = ensureDeferred(self._run(script, args, inTransaction))
        deadline = self._reactor.callLater(
            self._txTimeout, self._expire, answer
        )

        def finished(result):
            if deadline.active():
                deadline.cancel()
            if not answer.called:
                answer.callback(result)

        work.addBoth(self._storeError).addBoth(finished)
        return answer

    def _expire(self, answer):
        """
        The deadline: answer 5002 now; stop waiting for a connection, or
        close the connection if its statement has not ended by the time
        C{statement_timeout} should have ended it.
        """
        self.expired = True
        try:
            self._abandon()
        finally:
            # Last: whoever waits for the answer may run at once and must
            # find this transaction out of the queue.
            if not answer.called:
                answer.errback(
                    StoreFailure(
                        f"the transaction timed out after {self._txTimeout}s"
                    )
                )

    def _abandon(self):
        """
        Stop waiting for a connection, or arrange to close the connection if
        its statement has not ended by the time C{statement_timeout} should
        have ended it.
        """
        if self._acquiring is not None:
            self._acquiring.cancel()
        elif self.connection is not None:
            connection = self.connection

            def overdue():
                if self.connection is connection:
                    self._log.warn(
                        "closing a PostgreSQL connection whose statement "
                        "outlived its timeout"
                    )
                    connection.abandon()

            self._overdue = self._reactor.callLater(
                self._txTimeout + 1.0, overdue
            )

    async def _run(self, script, args, inTransaction):
        """
        Take a connection, run the script (again, on a serialization failure
        or deadlock), give the connection back.
        """
        self._acquiring = self._pool.acquire()
        try:
            self.connection = await self._acquiring
        finally:
            self._acquiring = None
        if self.expired:
            self._pool.release(self.connection)
            self.connection = None
            raise _Expired()
        try:
            for attempt in range(1, MAX_RETRIES + 1):
                try:
                    return await self._attempt(script, args, inTransaction)
                except psycopg2.Error as e:
                    if (
                        e.pgcode not in RETRYABLE_PGCODES
                        or attempt == MAX_RETRIES
                        or self.connection.broken
                    ):
                        raise
        except _CONNECTION_ERRORS as e:
            if getattr(e, "pgcode", None) is None:
                # No answer from the server: the connection itself failed.
                self.connection.abandon()
            raise
        finally:
            if self._overdue is not None and self._overdue.active():
                self._overdue.cancel()
            connection, self.connection = self.connection, None
            self._pool.release(connection)

    async def _attempt(self, script, args, inTransaction):
        """
        Run the script once, in autocommit or in one transaction.
        """
        rows = PostgresPromiseRows(self.execute, claimOverdue=inTransaction)
        if not inTransaction:
            return await scripts.runAsync(rows, script(*args))
        await self.execute("BEGIN", None)
        try:
            result = await scripts.runAsync(rows, script(*args))
            await self.connection.cursor().execute("COMMIT", None)
        except BaseException:
            if not self.connection.broken:
                try:
                    await self.connection.cursor().execute("ROLLBACK", None)
                except psycopg2.Error:
                    pass
            raise
        return result

    def _storeError(self, result):
        """
        Let a result or a L{ResonateError} through; turn a database error
        into L{StoreFailure}, logging what was not expected.
        """
        if not isinstance(result, Failure) or result.check(
            ResonateError, _Expired
        ):
            return result
        if result.check(psycopg2.Error):
            self._log.warn(
                "PostgreSQL transaction failed: {reason}",
                reason=_oneLine(result.value),
            )
            return Failure(StoreFailure(_oneLine(result.value)))
        if result.check(CancelledError):
            # txpostgres's name for QueryCanceledError: statement_timeout.
            self._log.warn("PostgreSQL statement timed out")
            return Failure(StoreFailure("the statement timed out"))
        if result.check(ConnectionDone, ConnectionLost):
            return Failure(
                StoreFailure("the PostgreSQL connection was lost")
            )
        self._log.failure("PostgreSQL transaction failed", result)
        return Failure(StoreFailure())


class _CreateBatch:
    """
    Creates waiting together for one connection, inserted with one
    statement when it comes (L{PostgresStore.createPromise}).

    @ivar entries: C{(request, now, deferred)}, in arrival order.
    """

    def __init__(self):
        self.entries = []
        self._taken = None

    def take(self, store):
        """
        Stop taking entries (the next create starts another batch) and
        return them; a retried transaction gets the same ones again.
        """
        if self._taken is None:
            self._taken = self.entries
            store._batchTaken(self)
        return self._taken


def _insertNewPromises(batch, store):
    """
    The first step of L{scripts.createPromise} for a whole batch: each
    promise as L{decideCreate} makes it when its id is new, all inserted
    with one statement.

    @return: per entry, its decision if its promise was inserted, or
        L{None} when the id was taken (or came earlier in the batch): that
        request is decided again by L{scripts.createPromise}.
    """
    entries = batch.take(store)
    decisions = [decideCreate(None, request, now) for request, now, _ in entries]
    inserted = yield scripts.RowOp(
        "insertPromises", ([decision.promise for decision in decisions],)
    )
    answers = []
    for decision in decisions:
        if decision.promise.id in inserted:
            # Only the first of a repeated id was inserted.
            inserted.discard(decision.promise.id)
            answers.append(decision)
        else:
            answers.append(None)
    return answers


@implementer(IStore)
class PostgresStore:
    """
    An L{IStore} in a PostgreSQL database that any number of server
    processes may share.

    @ivar pool: the connections (tests look at C{pool.open}).
    """

    _log = Logger()

    def __init__(self, config, reactor=None):
        """
        Create or migrate the schema, synchronously, then start opening
        C{config.workers} connections on C{reactor}.

        @param config: a L{resonate.config.StoreConfig}.
        @param reactor: the reactor the connections run on; the global one
            when L{None}.
        @raise StoreFailure: the options are wrong or the database cannot be
            opened.
        """
        if reactor is None:
            from twisted.internet import reactor
        self._reactor = reactor
        self._options = PostgresOptions.fromConfig(config.options)
        for name in ("size", "workers"):
            value = getattr(config, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < 1
            ):
                raise StoreFailure(
                    f"store {name} must be at least 1, not {value!r}"
                )
        prepareDatabase(self._options)
        timeoutMilliseconds = max(1, int(self._options.txTimeout * 1000))
        self.pool = _ConnectionPool(
            reactor,
            self._options.dsn(application_name="resonate"),
            (
                "SELECT set_config('statement_timeout', %s, false), "
                "set_config('idle_in_transaction_session_timeout', %s, "
                "false)",
                (str(timeoutMilliseconds), str(timeoutMilliseconds * 4)),
            ),
            config.workers,
            config.size,
            max(self._options.txTimeout, 2.0),
        )
        self._running = 0
        self._closing = False
        self._closeWaiters = []
        self._size = config.size
        self._batchSize = config.batchSize
        #: The batch new creates join, until a connection takes it.
        self._openBatch = None
        #: Creates in batches no connection has taken yet.
        self._createsWaiting = 0
        self.pool.start()

    def _run(self, script, *args, inTransaction=False, accepted=False):
        """
        Run a shared script as one request.

        @param accepted: the request was accepted before close() (a create
            decided again after its batch), so shutting down does not
            refuse it.
        """
        if self._closing and not accepted:
            return fail(ResonateError(Status.SHUTTING_DOWN))
        self._running += 1
        d = _Transaction(
            self.pool, self._reactor, self._options.txTimeout, self._log
        ).run(script, args, inTransaction)
        d.addBoth(self._finished)
        return d

    def _finished(self, result):
        """
        A request is answered; the last one lets a pending close() go on.
        """
        self._running -= 1
        if self._closing and self._running == 0:
            self._closeNow()
        return result

    def ping(self):
        """
        C{SELECT 1} on a pooled connection, within C{txTimeout}; fails at
        once with L{StoreFailure} while no connection is open.
        """
        return self._run(scripts.ping)

    def readPromise(self, promiseId, now):
        """
        Read a promise, timing it out if it is overdue.
        """
        return self._run(scripts.readPromise, promiseId, now)

    def createPromise(self, request, now):
        """
        Create or deduplicate.  Creates that arrive while every connection
        is busy wait together, and the first connection free inserts them
        with one statement and one commit (one round trip for many); a
        request whose id was taken is then decided on its own, as
        L{scripts.createPromise} decides it.  At most C{size} creates wait
        so (more answer 503, as a full queue does).
        """
        if self._closing:
            return fail(ResonateError(Status.SHUTTING_DOWN))
        if self._createsWaiting >= self._size:
            return fail(ResonateError(Status.AIO_SUBMISSION_QUEUE_FULL))
        batch = self._openBatch
        opened = batch is None or len(batch.entries) >= self._batchSize
        if opened:
            batch = self._openBatch = _CreateBatch()
        d = Deferred()
        batch.entries.append((request, now, d))
        self._createsWaiting += 1
        if opened:
            # Held until the batch's creates decided again are under way,
            # so that close() waits for them too.
            self._running += 1
            self._run(_insertNewPromises, batch, self).addBoth(
                self._batchAnswered, batch
            )
        return d

    def _batchTaken(self, batch):
        """
        A connection has taken C{batch}: new creates start another.
        """
        if self._openBatch is batch:
            self._openBatch = None
        self._createsWaiting -= len(batch.entries)

    def _batchAnswered(self, result, batch):
        """
        Answer each create of C{batch}: with its decision, by deciding it
        again on its own, or with the batch's failure.
        """
        entries = batch.take(self)
        try:
            if isinstance(result, Failure):
                for _, _, d in entries:
                    d.errback(result)
                return None
            for (request, now, d), decision in zip(entries, result):
                if decision is not None:
                    d.callback(decision)
                else:
                    self._run(
                        scripts.createPromise, request, now, accepted=True
                    ).chainDeferred(d)
            return None
        finally:
            self._finished(None)

    def completePromise(self, request, now):
        """
        Complete or deduplicate.
        """
        return self._run(scripts.completePromise, request, now)

    def searchPromises(self, query, now):
        """
        Search with one read-only statement: overdue promises are answered
        timed out, and left to the sweep to write.
        """
        return self._run(scripts.searchPromises, query, now)

    def timeoutPromises(self, now, limit):
        """
        Time out at most C{limit} overdue promises that no other process is
        timing out now, with one statement (its own transaction).
        """
        return self._run(_timeoutPromises, now, limit)

    def createSchedule(self, request, now):
        """
        Create or deduplicate a schedule (the insert is conditional).
        """
        return self._run(scripts.createSchedule, request, now)

    def readSchedule(self, scheduleId, now):
        """
        Read a schedule.
        """
        return self._run(scripts.readSchedule, scheduleId, now)

    def deleteSchedule(self, scheduleId, now):
        """
        Delete a schedule.
        """
        return self._run(scripts.deleteSchedule, scheduleId, now)

    def searchSchedules(self, query, now):
        """
        Search schedules, newest first.
        """
        return self._run(scripts.searchSchedules, query, now)

    def fireSchedules(self, now, limit, isRouted=None):
        """
        Fire at most C{limit} due slots that no other process is firing
        now, in one transaction: each advance commits with its promise or
        not at all, so a slot fires at most once across processes.
        """
        return self._run(
            scripts.fireSchedules, now, limit, isRouted, inTransaction=True
        )

    def nextRunTime(self):
        """
        The earliest next slot of any schedule.
        """
        return self._run(scripts.nextRunTime)

    def acquireLock(self, request, now):
        """
        Acquire, re-acquire or take over a lock.
        """
        return self._run(scripts.acquireLock, request, now)

    def releaseLock(self, request, now):
        """
        Release a lock held by the requesting execution.
        """
        return self._run(scripts.releaseLock, request, now)

    def heartbeatLocks(self, processId, now):
        """
        Extend every lock of a process.
        """
        return self._run(scripts.heartbeatLocks, processId, now)

    def timeoutLocks(self, now, limit):
        """
        Delete at most C{limit} expired locks.
        """
        return self._run(scripts.timeoutLocks, now, limit)

    def createPromiseAndTask(self, request, now):
        """
        Create or deduplicate a routed promise and, when it is created, its
        task, in one transaction.
        """
        return self._run(
            scripts.createPromiseAndTask, request, now, inTransaction=True
        )

    def claimTask(self, request, now):
        """
        Claim a task, in one transaction: the task row is locked while its
        promise's lock is taken, so claims of one task serialise.
        """
        return self._run(scripts.claimTask, request, now, inTransaction=True)

    def completeTask(self, request, now):
        """
        Complete a task, its promise and release the lock, in one
        transaction, with the task row (and the promise row) locked.
        """
        return self._run(
            scripts.completeTask, request, now, inTransaction=True
        )

    def dispatchTasks(self, now, limit, claimWindow):
        """
        Offer at most C{limit} dispatchable tasks that no other process is
        offering now, in one transaction.
        """
        return self._run(
            scripts.dispatchTasks,
            now,
            limit,
            claimWindow,
            inTransaction=True,
        )

    def close(self):
        """
        Refuse new requests, let the running ones finish, then close every
        connection.

        @return: a C{Deferred} firing once the connections are closed.
        """
        if self._closing and self._running == 0:
            return succeed(None)
        d = Deferred()
        self._closeWaiters.append(d)
        self._closing = True
        if self._running == 0:
            self._closeNow()
        return d

    def _closeNow(self):
        """
        Nothing is running: close the connections and fire close()'s
        C{Deferred}s.
        """
        self.pool.close()
        waiters, self._closeWaiters = self._closeWaiters, []
        for d in waiters:
            d.callback(None)


@implementer(IStoreProvider)
class PostgresStoreProvider:
    """
    Makes L{PostgresStore}s: C{kind: postgres}.
    """

    name = "postgres"
    description = (
        "PostgreSQL: several server processes may share one database"
    )

    def makeStore(self, config, reactor):
        """
        Open the PostgreSQL store C{config} describes, creating or migrating
        its schema before the reactor runs.

        @raise StoreFailure: it cannot be opened.
        """
        return PostgresStore(config, reactor)
