# -*- test-case-name: tests.integration.test_store_sqlite,tests.integration.test_store_postgres -*-
"""
What the SQL stores share: the C{promises}, C{schedules}, C{locks} and
C{tasks} columns and those of the 2026 tables (C{tasks_2026}, C{callbacks},
C{listeners}, C{outbox_messages}), the one mapping between their rows and
model values, search
patterns as C{LIKE} patterns, and search states as conditions on a row's
state and timeout.

Each dialect brings only how it encodes a mapping (SQLite: JSON text;
PostgreSQL: JSONB) and how its driver returns bytes.
"""

from resonate.model.lock import Lock
from resonate.model.promise import Promise, State, Value, stateFilter
from resonate.model.schedule import Schedule
from resonate.model.outbox import OutboxEntry
from resonate.model.task import Task
from resonate.model.tasks2026 import (
    Callback,
    Execute,
    Listener,
    Task as Task2026,
    TaskState,
    Unblock,
)

#: The columns of C{promises}, in the order L{promiseFromRow} reads them.
COLUMNS = (
    "sort_id, id, state, param_headers, param_data, value_headers, "
    "value_data, timeout, idempotency_key_for_create, "
    "idempotency_key_for_complete, tags, created_on, completed_on"
)

#: The columns L{rowFromPromise} gives values for, in its order (C{id} last).
WRITTEN_COLUMNS = (
    "state",
    "param_headers",
    "param_data",
    "value_headers",
    "value_data",
    "timeout",
    "idempotency_key_for_create",
    "idempotency_key_for_complete",
    "tags",
    "created_on",
    "completed_on",
    "id",
)


def promiseFromRow(row, decodeMapping, decodeBytes):
    """
    Turn a row of L{COLUMNS} into a C{(sortId, Promise)} pair: with
    L{rowFromPromise}, the one place where rows and model values meet.

    @param decodeMapping: turns a stored headers or tags column into a
        C{dict} (a missing one into C{{}}).
    @param decodeBytes: turns a stored data column into C{bytes} or L{None}.
    """
    (
        sortId,
        promiseId,
        state,
        paramHeaders,
        paramData,
        valueHeaders,
        valueData,
        timeout,
        idempotencyKeyForCreate,
        idempotencyKeyForComplete,
        tags,
        createdOn,
        completedOn,
    ) = row
    return sortId, Promise(
        id=promiseId,
        state=State(state),
        timeout=timeout,
        createdOn=createdOn,
        param=Value(decodeMapping(paramHeaders), decodeBytes(paramData)),
        value=Value(decodeMapping(valueHeaders), decodeBytes(valueData)),
        idempotencyKeyForCreate=idempotencyKeyForCreate,
        idempotencyKeyForComplete=idempotencyKeyForComplete,
        completedOn=completedOn,
        tags=decodeMapping(tags),
    )


def rowFromPromise(promise, encodeMapping):
    """
    The values of L{WRITTEN_COLUMNS} for C{promise}.

    @param encodeMapping: turns a headers or tags C{dict} into what the
        dialect stores.
    """
    return (
        promise.state.value,
        encodeMapping(promise.param.headers),
        promise.param.data,
        encodeMapping(promise.value.headers),
        promise.value.data,
        promise.timeout,
        promise.idempotencyKeyForCreate,
        promise.idempotencyKeyForComplete,
        encodeMapping(promise.tags),
        promise.createdOn,
        promise.completedOn,
        promise.id,
    )


#: The columns of C{locks}, in the order L{lockFromRow} reads them and
#: L{rowFromLock} gives them.
LOCK_COLUMNS = (
    "resource_id, process_id, execution_id, expiry_in_milliseconds, timeout"
)


def lockFromRow(row):
    """
    Turn a row of L{LOCK_COLUMNS} into a L{Lock}.
    """
    resourceId, processId, executionId, expiry, timeout = row
    return Lock(
        resourceId=resourceId,
        processId=processId,
        executionId=executionId,
        expiryInMilliseconds=expiry,
        expiresAt=timeout,
    )


def rowFromLock(lock):
    """
    The values of L{LOCK_COLUMNS} for C{lock}.
    """
    return (
        lock.resourceId,
        lock.processId,
        lock.executionId,
        lock.expiryInMilliseconds,
        lock.expiresAt,
    )


#: The columns of C{schedules}, in the order L{scheduleFromRow} reads them.
SCHEDULE_COLUMNS = (
    "sort_id, id, description, cron, tags, promise_id, promise_timeout, "
    "promise_param_headers, promise_param_data, promise_tags, "
    "last_run_time, next_run_time, idempotency_key, created_on"
)

#: The columns L{rowFromSchedule} gives values for, in its order: every
#: column but C{sort_id}, which the database assigns.
WRITTEN_SCHEDULE_COLUMNS = (
    "id",
    "description",
    "cron",
    "tags",
    "promise_id",
    "promise_timeout",
    "promise_param_headers",
    "promise_param_data",
    "promise_tags",
    "last_run_time",
    "next_run_time",
    "idempotency_key",
    "created_on",
)


def scheduleFromRow(row, decodeMapping, decodeBytes):
    """
    Turn a row of L{SCHEDULE_COLUMNS} into a C{(sortId, Schedule)} pair:
    with L{rowFromSchedule}, the one place where schedule rows and model
    values meet.

    @param decodeMapping: turns a stored headers or tags column into a
        C{dict} (a missing one into C{{}}).
    @param decodeBytes: turns a stored data column into C{bytes} or L{None}.
    """
    (
        sortId,
        scheduleId,
        description,
        cron,
        tags,
        promiseId,
        promiseTimeout,
        promiseParamHeaders,
        promiseParamData,
        promiseTags,
        lastRunTime,
        nextRunTime,
        idempotencyKey,
        createdOn,
    ) = row
    return sortId, Schedule(
        id=scheduleId,
        description=description,
        cron=cron,
        tags=decodeMapping(tags),
        promiseId=promiseId,
        promiseTimeout=promiseTimeout,
        promiseParam=Value(
            decodeMapping(promiseParamHeaders), decodeBytes(promiseParamData)
        ),
        promiseTags=decodeMapping(promiseTags),
        lastRunTime=lastRunTime,
        nextRunTime=nextRunTime,
        idempotencyKey=idempotencyKey,
        createdOn=createdOn,
    )


def rowFromSchedule(schedule, encodeMapping):
    """
    The values of L{WRITTEN_SCHEDULE_COLUMNS} for C{schedule}.

    @param encodeMapping: turns a headers or tags C{dict} into what the
        dialect stores.
    """
    return (
        schedule.id,
        schedule.description,
        schedule.cron,
        encodeMapping(schedule.tags),
        schedule.promiseId,
        schedule.promiseTimeout,
        encodeMapping(schedule.promiseParam.headers),
        schedule.promiseParam.data,
        encodeMapping(schedule.promiseTags),
        schedule.lastRunTime,
        schedule.nextRunTime,
        schedule.idempotencyKey,
        schedule.createdOn,
    )


#: The columns of C{tasks}, in the order L{taskFromRow} reads them and
#: L{rowFromTask} gives them.
TASK_COLUMNS = (
    "id, counter, promise_id, claim_timeout, complete_timeout, "
    "promise_timeout, created_on, completed_on, is_completed"
)


def taskFromRow(row):
    """
    Turn a row of L{TASK_COLUMNS} into a L{Task}.  C{is_completed} may be
    stored as an integer (SQLite) or a boolean (PostgreSQL).
    """
    (
        taskId,
        counter,
        promiseId,
        claimTimeout,
        completeTimeout,
        promiseTimeout,
        createdOn,
        completedOn,
        isCompleted,
    ) = row
    return Task(
        id=taskId,
        counter=counter,
        promiseId=promiseId,
        claimTimeout=claimTimeout,
        completeTimeout=completeTimeout,
        promiseTimeout=promiseTimeout,
        createdOn=createdOn,
        completedOn=completedOn,
        isCompleted=bool(isCompleted),
    )


def rowFromTask(task):
    """
    The values of L{TASK_COLUMNS} for C{task} (C{is_completed} as a
    C{bool}, which both drivers bind).
    """
    return (
        task.id,
        task.counter,
        task.promiseId,
        task.claimTimeout,
        task.completeTimeout,
        task.promiseTimeout,
        task.createdOn,
        task.completedOn,
        bool(task.isCompleted),
    )


#: The columns of C{tasks_2026}, in the order L{task2026FromRow} reads them
#: and L{rowFromTask2026} gives them.
TASK_2026_COLUMNS = "id, state, version, address, pid, ttl, timeout_at"


def task2026FromRow(row):
    """
    Turn a row of L{TASK_2026_COLUMNS} into a 2026
    L{resonate.model.tasks2026.Task}.
    """
    taskId, state, version, address, pid, ttl, timeoutAt = row
    return Task2026(
        id=taskId,
        state=TaskState(state),
        version=version,
        address=address,
        pid=pid,
        ttl=ttl,
        timeoutAt=timeoutAt,
    )


def rowFromTask2026(task):
    """
    The values of L{TASK_2026_COLUMNS} for a 2026 C{task}.
    """
    return (
        task.id,
        task.state.value,
        task.version,
        task.address,
        task.pid,
        task.ttl,
        task.timeoutAt,
    )


#: The columns of C{callbacks}, in the order L{callbackFromRow} reads them.
CALLBACK_COLUMNS = "awaited_id, awaiter_id, ready"


def callbackFromRow(row):
    """
    Turn a row of L{CALLBACK_COLUMNS} into a L{Callback}.  C{ready} may be
    stored as an integer (SQLite) or a boolean (PostgreSQL).
    """
    awaited, awaiter, ready = row
    return Callback(awaited=awaited, awaiter=awaiter, ready=bool(ready))


def rowFromCallback(callback):
    """
    The values of L{CALLBACK_COLUMNS} for C{callback} (C{ready} as a
    C{bool}, which both drivers bind).
    """
    return (callback.awaited, callback.awaiter, bool(callback.ready))


#: The columns of C{listeners}.
LISTENER_COLUMNS = "promise_id, address"


def listenerFromRow(row):
    """
    Turn a row of L{LISTENER_COLUMNS} into a L{Listener}.
    """
    promiseId, address = row
    return Listener(promiseId=promiseId, address=address)


#: The columns of C{outbox_messages}, in the order L{outboxFromRow} reads
#: them.
OUTBOX_COLUMNS = (
    "id, kind, promise_id, version, address, created_on, attempts, "
    "next_attempt_at"
)

#: The columns L{rowFromOutbox} gives values for, in its order: every
#: column but C{id}, which the database assigns.
WRITTEN_OUTBOX_COLUMNS = (
    "kind, promise_id, version, address, created_on, attempts, "
    "next_attempt_at"
)


def outboxFromRow(row):
    """
    Turn a row of L{OUTBOX_COLUMNS} into an L{OutboxEntry}.
    """
    entryId, kind, promiseId, version, address, createdOn, attempts, nextAt = row
    if kind == "execute":
        message = Execute(taskId=promiseId, version=version, address=address)
    else:
        message = Unblock(promiseId=promiseId, address=address)
    return OutboxEntry(entryId, message, createdOn, attempts, nextAt)


def rowFromOutbox(message, now):
    """
    The values of L{WRITTEN_OUTBOX_COLUMNS} for C{message} written at
    C{now}: not yet attempted, due at once.
    """
    if isinstance(message, Execute):
        return ("execute", message.taskId, message.version, message.address, now, 0, now)
    return ("unblock", message.promiseId, None, message.address, now, 0, now)


def likePattern(pattern):
    """
    Translate a search pattern, where C{*} is the only wildcard, into a LIKE
    pattern with C{ESCAPE '\\'}: C{\\}, C{%} and C{_} match themselves.
    """
    return (
        pattern.replace("\\", "\\\\")
        .replace("%", "\\%")
        .replace("_", "\\_")
        .replace("*", "%")
    )


def stateCondition(states, now, timer, mark):
    """
    Translate L{resonate.model.promise.stateFilter} into SQL: the condition
    and parameters that select the rows of C{promises} in one of C{states}
    at C{now}, reading a due pending row as the state its timeout gives it,
    so that a search needs no sweep first; or L{None} when every row is
    selected.

    @param states: a non-empty C{frozenset} of L{State}s.
    @param timer: the dialect's C{(condition, parameters)} that is true for
        a timer row and false, never NULL, for any other.
    @param mark: the dialect's parameter placeholder (C{?} or C{%s}).
    """
    wanted = stateFilter(states)
    stored = sorted(state.value for state in wanted.stored)
    if wanted.allPending:
        stored.append(State.PENDING.value)
    if len(stored) == len(State):
        return None
    conditions = []
    parameters = []
    if stored:
        conditions.append(f"state IN ({', '.join([mark] * len(stored))})")
        parameters.extend(stored)
    if wanted.anyPending and not wanted.allPending:
        # Due is timeout <= now (inclusive), as in overduePromises.
        timing = []
        if wanted.pending:
            timing.append(f"timeout > {mark}")
            parameters.append(now)
        if wanted.dueTimers and wanted.dueOthers:
            timing.append(f"timeout <= {mark}")
            parameters.append(now)
        elif wanted.dueTimers or wanted.dueOthers:
            negation = "" if wanted.dueTimers else "NOT "
            timing.append(f"(timeout <= {mark} AND {negation}{timer[0]})")
            parameters.append(now)
            parameters.extend(timer[1])
        timing = timing[0] if len(timing) == 1 else f"({' OR '.join(timing)})"
        conditions.append(f"(state = 'PENDING' AND {timing})")
    if len(conditions) == 1:
        return conditions[0], parameters
    return f"({' OR '.join(conditions)})", parameters
