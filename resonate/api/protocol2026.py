# -*- test-case-name: tests.unit.test_api_protocol2026 -*-
"""
The 2026 protocol's operations (protocol-2026.md section 7, as settled by
DECISIONS 23-32): the adapter between the C{POST /} envelope
(L{resonate.api.envelope}) and the store's C{handle2026}.

Three parts, the first two pure:

  - L{readData}: a request's C{data} into the value the store runs (a
    request of L{resonate.model.requests2026}, a C{CreatePromise}, a
    C{CreateSchedule} or a task request of L{resonate.model.tasks2026}),
    or the 400 to answer.  Every check that needs no store is here, in the
    reference's order: deserialisation (C{"Invalid request: ..."}), then
    field validation (messages joined with C{"; "}), then the checks a
    struct makes once its fields are valid (section 5's id rules, section
    4's C{resonate:delay}, a task.create action's tags, a schedule's
    target), then addresses and cron.
  - L{renderReply}: the store's L{Reply} into the C{data} of the answer:
    records as section 3 shapes them, C{settledAt}, C{ttl}, C{pid},
    C{lastRunAt} and C{cursor} left out when they have no value; an error
    is its message as a plain string.
  - L{Protocol2026}: one request from body to answer, for the HTTP API:
    the envelope, JWT auth (L{authorize}), the debug switch, the request's
    "now", admission and the store (through
    L{resonate.api.operations.Operations}), failures, and the
    C{resonate_request_*} metrics.

Auth (protocol section 14, issue 19), when the server verifies JWTs: the
token is C{head.auth} (the C{Authorization} header is not read here); it
is checked after the envelope (section 2, step 5), before the kind is
dispatched and its data read.  No token, or one that does not verify:
401 C{"Unauthorized"}.  Then the token's principal must allow the ids the
request names (L{resourceIds}), else 403 C{"Forbidden"}: an admin, or a
prefix C{""}, may do everything but for C{debug.*}, which only an admin
may; a prefix may name only ids that start with it, so searches (which
name no id) and unknown kinds are refused it, and so is an id that cannot
be read (the data is read, and refused, only after auth).  Beyond
section 14's one resource id per kind, every other id a request names is
checked too: a fence's inner promise, a suspend's awaited promises, a
callback's awaiter (upstream checks only the first; a worker whose ids
share its root's origin never names another).

Values.  The protocol's C{data} of a C{param}/C{value}/C{promiseParam} is an
opaque string (the SDKs send base64 of JSON); the store keeps bytes, shared
with v0.5, whose wire base64-encodes them.  A string that is canonical
base64 (decoding it strictly and encoding the bytes gives it back) is
stored decoded, so that either protocol reads the other's data; any other
string is stored as its UTF-8 bytes.  Data is always answered as the base64
of the stored bytes, so a string that was not canonical base64 comes back
base64-encoded, not as sent: a known limitation (no SDK sends one).

Choices where the reference is open:

  - A kind this server does not know is counted in the metrics under the
    one label C{"unknown"}, as is an envelope whose kind cannot be read.
  - The ids a create stores (promise, task and schedule ids) are at most
    2048 bytes of UTF-8, as in v0.5 (a longer one would fail in
    PostgreSQL's indexes); a cron expression at most 1024 characters.
  - Cron: 5 fields (C{min hour dom mon dow}, seconds 0) or 6-7 with the
    seconds first and an optional trailing year, as Rust's C{cron} crate;
    also v0.5's descriptors and C{@every}.  Evaluated as v0.5 evaluates
    them (croniter, server local time, Sunday 0 or 7), not the C{cron}
    crate's 1-7 weekdays.  A 6-field expression means the same in both
    protocols (leading seconds), so expressions are stored as sent.
  - Store failures, a full admission queue and shutdown answer 503 with
    their message (DECISIONS 28); anything unexpected 500
    C{"Internal error"}, logged.
  - C{debug.snap} answers section 7.20's members: C{promises} and
    C{tasks} as records; C{promiseTimeouts} C{{id, timeout}} for every
    pending promise (every one times out here, DECISIONS 27);
    C{callbacks} C{{awaiter, awaited}} for those not yet ready (ready ones
    count in their task's C{resumes}); C{listeners} C{{id, address}};
    C{taskTimeouts} C{{id, type, timeout}} (type 0 retry, 1 lease);
    C{messages} C{{address, message}} for the outbox, C{execute}s by task
    id then C{unblock}s by promise id and address, with the message as
    delivered but an empty C{head}.
"""

import base64
import binascii
import re
from dataclasses import dataclass
from http import HTTPStatus

from twisted.internet.defer import fail, maybeDeferred, succeed
from twisted.logger import Logger

from resonate.api.envelope import (
    DataReader,
    Response,
    badRequest,
    failure,
    isInteger,
    parseRequest,
    resolveNow,
    success,
    unknownOperation,
)
from resonate.api.tokens import TokenRejected
from resonate.errors import ResonateError
from resonate.metrics import Metrics
from resonate.model import ids
from resonate.model.addresses import INVALID_LISTENER, INVALID_TARGET, isValidAddress
from resonate.model.promise import CreatePromise, State, Value
from resonate.model.requests2026 import (
    DEFAULT_LIMIT,
    DEFAULT_SCHEDULE_LIMIT,
    MAX_LIMIT,
    ContinueTask,
    DeleteSchedule,
    FenceTask,
    GetPromise,
    GetSchedule,
    GetTask,
    HaltTask,
    RegisterCallback,
    RegisterListener,
    ReleaseTask,
    Reply,
    ResetAll,
    SearchPromises,
    SearchSchedules,
    SearchTasks,
    SettlePromise,
    Snapshot,
)
from resonate.model.schedule import CreateSchedule, InvalidCron, checkCron
from resonate.model.tasks2026 import (
    DELAY_TAG,
    TARGET_TAG,
    AcquireTask,
    CreateTask,
    Execute,
    FulfillTask,
    HeartbeatTasks,
    SuspendTask,
    TaskAtVersion,
    TaskState,
    Unblock,
)
from resonate.status import Status

#: The kinds of section 7.
PROMISE_KINDS = (
    "promise.get",
    "promise.create",
    "promise.settle",
    "promise.register_callback",
    "promise.register_listener",
    "promise.search",
)
TASK_KINDS = (
    "task.get",
    "task.create",
    "task.acquire",
    "task.release",
    "task.fulfill",
    "task.suspend",
    "task.fence",
    "task.heartbeat",
    "task.halt",
    "task.continue",
    "task.search",
)
SCHEDULE_KINDS = (
    "schedule.create",
    "schedule.get",
    "schedule.delete",
    "schedule.search",
)
DEBUG_KINDS = ("debug.start", "debug.stop", "debug.reset", "debug.snap", "debug.tick")
KINDS = frozenset(PROMISE_KINDS + TASK_KINDS + SCHEDULE_KINDS + DEBUG_KINDS)

#: The metrics label of a kind not in L{KINDS}.
UNKNOWN_KIND_LABEL = "unknown"

#: The longest id a create stores, in bytes of UTF-8 (as v0.5's).
MAX_ID_BYTES = 2048

#: The longest cron expression, in characters (as v0.5's).
MAX_CRON_LENGTH = 1024

# The reference's messages.
TASK_ID_REQUIRED = "Task ID is required"
VERSION_NEGATIVE = "Version must be a non-negative integer"
PID_REQUIRED = "Process ID is required"
TTL_NOT_POSITIVE = "TTL must be a positive integer"
TIMEOUT_NEGATIVE = "TimeoutAt must be a non-negative integer"
ADDRESS_REQUIRED = "Address is required"
LIMIT_NOT_POSITIVE = "Limit must be a positive integer"
LIMIT_TOO_LARGE = "Invalid 'limit' \u2014 must be between 1 and 1000"
ACTIONS_EMPTY = "Actions array cannot be empty"
TASKS_EMPTY = "Tasks array must not be empty"
ACTION_NEEDS_TARGET = "Action must have a resonate:target tag"
ACTION_HAS_DELAY = "Action must not have a resonate:delay tag"
DELAY_INVALID = "resonate:delay must be a non-negative integer"
DELAY_NOT_BEFORE_TIMEOUT = "resonate:delay must be less than timeoutAt"
DELAY_WITHOUT_TARGET = "resonate:delay requires a resonate:target tag"
CRON_REQUIRED = "Cron expression is required"
TEMPLATE_REQUIRED = "Promise ID template is required"
PROMISE_TIMEOUT_NEGATIVE = "Promise timeout must be a non-negative integer"
SCHEDULE_NEEDS_TARGET = "promiseTags must include a resonate:target tag"
INVALID_CRON = "Invalid cron expression"
INVALID_FENCE_KIND = "Invalid fence action kind"
DEBUG_DISABLED = "Debug operations are disabled"
TICK_TIME_INVALID = "Missing or invalid 'time' field"
TICK_TIME_DIFFERS = "resonate:debug_time must equal data.time"
INTERNAL_ERROR = "Internal error"
UNAUTHORIZED = "Unauthorized"
FORBIDDEN = "Forbidden"

# Our own, where the reference has none.
PROMISE_ID_TOO_LONG = f"Promise ID must be at most {MAX_ID_BYTES} bytes of UTF-8"
SCHEDULE_ID_TOO_LONG = f"Schedule ID must be at most {MAX_ID_BYTES} bytes of UTF-8"

_MALFORMED = "Invalid request: "
_MALFORMED_ACTION = "Invalid action data: "

#: The promise states by wire name (section 3), and back.
PROMISE_STATES = {
    "pending": State.PENDING,
    "resolved": State.RESOLVED,
    "rejected": State.REJECTED,
    "rejected_canceled": State.REJECTED_CANCELED,
    "rejected_timedout": State.REJECTED_TIMEDOUT,
}
_STATE_NAMES = {state: name for name, state in PROMISE_STATES.items()}

#: The states C{promise.settle} and C{task.fulfill} may ask for.
SETTLE_STATES = ("resolved", "rejected", "rejected_canceled")

#: The task states by wire name.
TASK_STATES = {state.value: state for state in TaskState}

#: What Rust's C{str::parse::<i64>} accepts (range aside).
_I64_TEXT = re.compile(r"[+-]?[0-9]+\Z")

_FENCE_KINDS = ("promise.create", "promise.settle")


# Values.


def dataToBytes(data):
    """
    The bytes to store for a value's wire C{data}: the decoded bytes of
    canonical base64, else the string's UTF-8.

    @param data: a C{str}, or L{None} when the value has no data.
    @return: C{bytes}, or L{None}.
    """
    if data is None:
        return None
    try:
        decoded = base64.b64decode(data, validate=True)
    except (ValueError, binascii.Error):
        return data.encode("utf-8")
    if base64.b64encode(decoded).decode("ascii") != data:
        return data.encode("utf-8")
    return decoded


def bytesToData(data):
    """
    A stored value's bytes as the wire C{data}: their base64.

    @param data: C{bytes}, or L{None}.
    @return: a C{str}, or L{None}.
    """
    if data is None:
        return None
    return base64.b64encode(data).decode("ascii")


def _value(wire):
    """
    The L{Value} to store for a L{resonate.api.envelope.WireValue}, or
    L{None} when it could not be read.
    """
    if wire is None:
        return None
    return Value(headers=dict(wire.headers), data=dataToBytes(wire.data))


# Reading.


class _Refused(Exception):
    """
    A reader's 400 with a message of its own, not a reader problem.
    """

    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class DebugStart:
    """
    C{debug.start}: pause the background loops.
    """


@dataclass(frozen=True)
class DebugStop:
    """
    C{debug.stop}: resume the background loops.
    """


@dataclass(frozen=True)
class DebugTick:
    """
    C{debug.tick}: run the background timeout processing at C{time}.
    """

    time: int


def _nonEmpty(reader, text, message):
    """
    Record C{message} when C{text} was read and is empty.
    """
    if text == "":
        reader.invalid(message)


def _atLeast(reader, number, minimum, message):
    """
    Record C{message} when C{number} was read and is below C{minimum}.
    """
    if number is not None and number < minimum:
        reader.invalid(message)


def _tooLong(text):
    return text is not None and len(text.encode("utf-8")) > MAX_ID_BYTES


def _limit(reader, default):
    """
    Read an optional page C{limit}: 1 to 1000, C{default} when absent.
    """
    limit = reader.integer("limit", optional=True)
    if limit is None:
        return default
    if limit < 1:
        reader.invalid(LIMIT_NOT_POSITIVE)
    elif limit > MAX_LIMIT:
        reader.invalid(LIMIT_TOO_LARGE)
    return limit


def _delayProblem(tags, timeoutAt):
    """
    Section 4's rule for C{resonate:delay}: an integer >= 0, before the
    timeout, on a promise with a target.
    """
    delay = tags.get(DELAY_TAG)
    if delay is None:
        return None
    if not _I64_TEXT.match(delay) or not isInteger(int(delay)) or int(delay) < 0:
        return DELAY_INVALID
    if int(delay) >= timeoutAt:
        return DELAY_NOT_BEFORE_TIMEOUT
    if TARGET_TAG not in tags:
        return DELAY_WITHOUT_TARGET
    return None


def _readCreate(reader):
    """
    Read C{promise.create}'s data (also a task.create's action and a
    fenced create): the field rules, then, when they hold, the id rules of
    section 5 and C{resonate:delay}'s.  The target's address is the
    caller's to check, after every other rule.

    @return: a L{CreatePromise}.
    """
    promiseId = reader.string("id", allowNul=True)
    timeoutAt = reader.integer("timeoutAt")
    param = reader.value("param")
    tags = reader.stringMap("tags")
    problems = []
    if promiseId is not None:
        problems.append(ids.checkPromiseId(promiseId))
        if _tooLong(promiseId):
            problems.append(PROMISE_ID_TOO_LONG)
    if timeoutAt is not None and timeoutAt < 0:
        problems.append(TIMEOUT_NEGATIVE)
    problems = [p for p in problems if p is not None]
    for problem in problems:
        reader.invalid(problem)
    if not problems and reader.isWellFormed:
        reader.invalid(
            ids.checkLineage(promiseId, tags) or _delayProblem(tags, timeoutAt)
        )
    return CreatePromise(
        id=promiseId, timeout=timeoutAt, param=_value(param), tags=tags
    )


def _checkTarget(reader, tags):
    """
    Once every other rule holds: a C{resonate:target} must be a valid
    address (section 6).
    """
    if reader.problem is None and tags is not None:
        target = tags.get(TARGET_TAG)
        if target is not None and not isValidAddress(target):
            reader.invalid(INVALID_TARGET)


def _readSettle(reader):
    """
    Read C{promise.settle}'s data (also a fenced settle).

    @return: a L{SettlePromise}.
    """
    promiseId = reader.string("id")
    state = reader.choice("state", SETTLE_STATES)
    value = reader.value("value")
    if promiseId is not None:
        reader.invalid(ids.checkPromiseId(promiseId))
    return SettlePromise(
        id=promiseId, state=PROMISE_STATES.get(state), value=_value(value)
    )


def _readTaskId(reader):
    taskId = reader.string("id")
    _nonEmpty(reader, taskId, TASK_ID_REQUIRED)
    return taskId


def _readVersion(reader):
    version = reader.integer("version")
    _atLeast(reader, version, 0, VERSION_NEGATIVE)
    return version


def _readAction(reader, readData):
    """
    Read the member C{action}: an object with a string C{kind} (not used),
    a C{head} (any JSON, not used) and a C{data} object that C{readData}
    reads.

    @return: what C{readData} returned, or L{None} when there is no
        C{data} object to read.
    """
    action = reader.object("action")
    if action is None:
        return None
    action.string("kind")
    action.anything("head")
    data = action.object("data")
    return None if data is None else readData(data)


def readPromiseGet(reader, now):
    promiseId = reader.string("id")
    if promiseId is not None:
        reader.invalid(ids.checkPromiseId(promiseId))
    return GetPromise(promiseId)


def readPromiseCreate(reader, now):
    create = _readCreate(reader)
    _checkTarget(reader, create.tags)
    return create


def readPromiseSettle(reader, now):
    return _readSettle(reader)


def readRegisterCallback(reader, now):
    awaited = reader.string("awaited")
    awaiter = reader.string("awaiter")
    if awaited is not None and awaiter is not None:
        reader.invalid(ids.checkCallback(awaited, awaiter))
    return RegisterCallback(awaited, awaiter)


def readRegisterListener(reader, now):
    awaited = reader.string("awaited")
    address = reader.string("address")
    _nonEmpty(reader, awaited, ids.AWAITED_REQUIRED)
    _nonEmpty(reader, address, ADDRESS_REQUIRED)
    if reader.problem is None and not isValidAddress(address):
        reader.invalid(INVALID_LISTENER)
    return RegisterListener(awaited, address)


def readPromiseSearch(reader, now):
    state = reader.choice("state", tuple(PROMISE_STATES), optional=True)
    tags = reader.stringMap("tags", optional=True)
    limit = _limit(reader, DEFAULT_LIMIT)
    cursor = reader.string("cursor", optional=True)
    return SearchPromises(
        state=PROMISE_STATES.get(state),
        tags=tags or {},
        limit=limit,
        cursor=cursor,
    )


def readTaskGet(reader, now):
    return GetTask(_readTaskId(reader))


def readTaskCreate(reader, now):
    pid = reader.string("pid")
    ttl = reader.integer("ttl")
    _nonEmpty(reader, pid, PID_REQUIRED)
    _atLeast(reader, ttl, 1, TTL_NOT_POSITIVE)
    create = _readAction(reader, _readCreate)
    if reader.problem is None:
        if TARGET_TAG not in create.tags:
            reader.invalid(ACTION_NEEDS_TARGET)
        elif DELAY_TAG in create.tags:
            reader.invalid(ACTION_HAS_DELAY)
        _checkTarget(reader, create.tags)
    return CreateTask(pid=pid, ttl=ttl, promise=create)


def readTaskAcquire(reader, now):
    taskId = _readTaskId(reader)
    version = _readVersion(reader)
    pid = reader.string("pid")
    ttl = reader.integer("ttl")
    _nonEmpty(reader, pid, PID_REQUIRED)
    _atLeast(reader, ttl, 1, TTL_NOT_POSITIVE)
    return AcquireTask(id=taskId, version=version, pid=pid, ttl=ttl)


def readTaskRelease(reader, now):
    return ReleaseTask(id=_readTaskId(reader), version=_readVersion(reader))


def readTaskFulfill(reader, now):
    taskId = _readTaskId(reader)
    version = _readVersion(reader)
    settle = _readAction(reader, _readSettle)
    if reader.problem is None:
        reader.invalid(ids.checkFulfill(taskId, settle.id))
    if settle is None:
        return None
    return FulfillTask(
        id=taskId, version=version, state=settle.state, value=settle.value
    )


def readTaskSuspend(reader, now):
    taskId = _readTaskId(reader)
    version = _readVersion(reader)
    actions = reader.array("actions")
    callbacks = []
    for index, item in enumerate(actions or ()):
        path = f"{reader.pathOf('actions')}.{index}"
        action = reader.nested(item, path)
        if action is None:
            continue
        action.string("kind")
        action.anything("head")
        data = action.object("data")
        if data is None:
            continue
        callbacks.append((data.string("awaited"), data.string("awaiter")))
    if actions is not None and not actions:
        reader.invalid(ACTIONS_EMPTY)
    if not reader.isWellFormed:
        return None
    if reader.problem is None:
        # The struct's own rules, only once every field is valid.
        reader.invalid(ids.checkSuspend(taskId, callbacks))
    else:
        for awaited, awaiter in callbacks:
            reader.invalid(ids.checkCallback(awaited, awaiter))
    return SuspendTask(
        id=taskId, version=version, awaited=tuple(a for a, _ in callbacks)
    )


def _actionDataProblem(reader):
    """
    The 400 message of a fenced action's C{data}: as any other, but a
    deserialisation problem says C{"Invalid action data: ..."}.
    """
    problem = reader.problem
    if problem is not None and not reader.isWellFormed:
        return _MALFORMED_ACTION + problem[len(_MALFORMED):]
    return problem


def readTaskFence(reader, now):
    taskId = _readTaskId(reader)
    version = _readVersion(reader)
    # The action's data is any JSON here, read as its kind says below.
    kind = data = None
    action = reader.object("action")
    if action is not None:
        kind = action.string("kind")
        action.anything("head", optional=True)
        data = action.anything("data")
    if reader.problem is not None:
        return None
    actionId = data.get("id") if isinstance(data, dict) else None
    reader.invalid(
        ids.checkFence(taskId, actionId if isinstance(actionId, str) else None)
    )
    if reader.problem is not None:
        return None
    if kind not in _FENCE_KINDS:
        raise _Refused(INVALID_FENCE_KIND)
    # Its own problems: a deserialisation problem of the inner data has
    # its own prefix.
    inner = DataReader({}, reader.pathOf("action"))
    innerData = inner.nested(data, inner.pathOf("data"))
    if innerData is None:
        raise _Refused(_actionDataProblem(inner))
    if kind == "promise.create":
        fenced = _readCreate(innerData)
        _checkTarget(innerData, fenced.tags)
    else:
        fenced = _readSettle(innerData)
    problem = _actionDataProblem(inner)
    if problem is not None:
        raise _Refused(problem)
    return FenceTask(id=taskId, version=version, action=fenced)


def readTaskHeartbeat(reader, now):
    pid = reader.string("pid")
    items = reader.array("tasks")
    tasks = []
    for index, item in enumerate(items or ()):
        entry = reader.nested(item, f"{reader.pathOf('tasks')}.{index}")
        if entry is not None:
            tasks.append(TaskAtVersion(entry.string("id"), entry.integer("version")))
    _nonEmpty(reader, pid, PID_REQUIRED)
    if items is not None and not items:
        reader.invalid(TASKS_EMPTY)
    return HeartbeatTasks(pid=pid, tasks=tuple(tasks))


def readTaskHalt(reader, now):
    return HaltTask(_readTaskId(reader))


def readTaskContinue(reader, now):
    return ContinueTask(_readTaskId(reader))


def readTaskSearch(reader, now):
    state = reader.choice("state", tuple(TASK_STATES), optional=True)
    limit = _limit(reader, DEFAULT_LIMIT)
    cursor = reader.string("cursor", optional=True)
    return SearchTasks(state=TASK_STATES.get(state), limit=limit, cursor=cursor)


def _readScheduleId(reader):
    scheduleId = reader.string("id")
    if scheduleId is not None:
        reader.invalid(ids.checkScheduleId(scheduleId))
    return scheduleId


def readScheduleCreate(reader, now):
    scheduleId = _readScheduleId(reader)
    cron = reader.string("cron")
    template = reader.string("promiseId")
    timeout = reader.integer("promiseTimeout")
    param = reader.value("promiseParam")
    tags = reader.stringMap("promiseTags")
    if _tooLong(scheduleId):
        reader.invalid(SCHEDULE_ID_TOO_LONG)
    _nonEmpty(reader, cron, CRON_REQUIRED)
    _nonEmpty(reader, template, TEMPLATE_REQUIRED)
    _atLeast(reader, timeout, 0, PROMISE_TIMEOUT_NEGATIVE)
    if reader.problem is None and TARGET_TAG not in tags:
        reader.invalid(SCHEDULE_NEEDS_TARGET)
    if reader.problem is None:
        reader.check(_isValidCron(cron, now), INVALID_CRON)
    return CreateSchedule(
        id=scheduleId,
        cron=cron,
        promiseId=template,
        promiseTimeout=timeout,
        promiseParam=_value(param),
        promiseTags=tags,
    )


def _isValidCron(cron, now):
    """
    Whether C{cron} is an expression of the 2026 protocol that fires after
    C{now}.
    """
    if len(cron) > MAX_CRON_LENGTH:
        return False
    try:
        checkCron(cron, withYear=True, after=now)
    except InvalidCron:
        return False
    return True


def readScheduleGet(reader, now):
    return GetSchedule(_readScheduleId(reader))


def readScheduleDelete(reader, now):
    return DeleteSchedule(_readScheduleId(reader))


def readScheduleSearch(reader, now):
    tags = reader.stringMap("tags", optional=True)
    limit = _limit(reader, DEFAULT_SCHEDULE_LIMIT)
    cursor = reader.string("cursor", optional=True)
    return SearchSchedules(tags=tags or {}, limit=limit, cursor=cursor)


def readDebugStart(reader, now):
    return DebugStart()


def readDebugStop(reader, now):
    return DebugStop()


def readDebugReset(reader, now):
    return ResetAll()


def readDebugSnap(reader, now):
    return Snapshot()


def readDebugTick(reader, now):
    # The reference reads C{time} loosely, with its own message.
    time = reader.anything("time", optional=True)
    if not isInteger(time):
        raise _Refused(TICK_TIME_INVALID)
    return DebugTick(time)


_READERS = {
    "promise.get": readPromiseGet,
    "promise.create": readPromiseCreate,
    "promise.settle": readPromiseSettle,
    "promise.register_callback": readRegisterCallback,
    "promise.register_listener": readRegisterListener,
    "promise.search": readPromiseSearch,
    "task.get": readTaskGet,
    "task.create": readTaskCreate,
    "task.acquire": readTaskAcquire,
    "task.release": readTaskRelease,
    "task.fulfill": readTaskFulfill,
    "task.suspend": readTaskSuspend,
    "task.fence": readTaskFence,
    "task.heartbeat": readTaskHeartbeat,
    "task.halt": readTaskHalt,
    "task.continue": readTaskContinue,
    "task.search": readTaskSearch,
    "schedule.create": readScheduleCreate,
    "schedule.get": readScheduleGet,
    "schedule.delete": readScheduleDelete,
    "schedule.search": readScheduleSearch,
    "debug.start": readDebugStart,
    "debug.stop": readDebugStop,
    "debug.reset": readDebugReset,
    "debug.snap": readDebugSnap,
    "debug.tick": readDebugTick,
}


def readData(request, now):
    """
    Read a request's C{data} as its kind says (step 7 up to the store).

    @param request: a L{resonate.api.envelope.Request}.
    @param now: the time the request runs at (epoch ms): a schedule's cron
        must fire after it.
    @return: the value to run (see the module docstring), or the
        L{Response} to answer instead: 400 for an unknown kind or a
        refused C{data}.
    """
    read = _READERS.get(request.kind)
    if read is None:
        return unknownOperation(request)
    reader = DataReader(request.data)
    try:
        value = read(reader, now)
    except _Refused as refused:
        return badRequest(request, refused.message)
    if reader.problem is not None:
        return badRequest(request, reader.problem)
    return value


# Rendering.


def renderValue(value):
    """
    A param or value record: C{headers} and C{data} only when present, so
    an empty value is C{{}}.
    """
    rendered = {}
    if value.headers:
        rendered["headers"] = dict(value.headers)
    if value.data is not None:
        rendered["data"] = bytesToData(value.data)
    return rendered


def renderPromise(promise):
    """
    A promise record (section 3): C{settledAt} only once settled.

    @param promise: a L{resonate.model.promise.Promise}.
    """
    rendered = {
        "id": promise.id,
        "state": _STATE_NAMES[promise.state],
        "param": renderValue(promise.param),
        "value": renderValue(promise.value),
        "tags": dict(promise.tags),
        "timeoutAt": promise.timeout,
        "createdAt": promise.createdOn,
    }
    if promise.state is not State.PENDING and promise.completedOn is not None:
        rendered["settledAt"] = promise.completedOn
    return rendered


def renderTask(view):
    """
    A task record (section 3): C{ttl} and C{pid} only while acquired.

    @param view: a L{resonate.model.requests2026.TaskView}.
    """
    task = view.task
    rendered = {
        "id": task.id,
        "state": task.state.value,
        "version": task.version,
        "resumes": view.resumes,
    }
    if task.state is TaskState.ACQUIRED:
        rendered["ttl"] = task.ttl
        rendered["pid"] = task.pid
    return rendered


def renderSchedule(schedule):
    """
    A schedule record (section 3): C{lastRunAt} only after its first
    firing.

    @param schedule: a L{resonate.model.schedule.Schedule}.
    """
    rendered = {
        "id": schedule.id,
        "cron": schedule.cron,
        "promiseId": schedule.promiseId,
        "promiseTimeout": schedule.promiseTimeout,
        "promiseParam": renderValue(schedule.promiseParam),
        "promiseTags": dict(schedule.promiseTags),
        "createdAt": schedule.createdOn,
        "nextRunAt": schedule.nextRunTime,
    }
    if schedule.lastRunTime is not None:
        rendered["lastRunAt"] = schedule.lastRunTime
    return rendered


def _page(name, records, cursor):
    rendered = {name: records}
    if cursor is not None:
        rendered["cursor"] = cursor
    return rendered


def _preload(reply):
    return [renderPromise(p) for p in reply.preload or ()]


def _renderPromiseData(request, reply):
    return {"promise": renderPromise(reply.promise)}


def _renderEmpty(request, reply):
    return {}


def _renderPromisePage(request, reply):
    return _page(
        "promises", [renderPromise(p) for p in reply.promises or ()], reply.cursor
    )


def _renderTaskData(request, reply):
    return {"task": renderTask(reply.task)}


def _renderAcquired(request, reply):
    return {
        "task": renderTask(reply.task),
        "promise": renderPromise(reply.promise),
        "preload": _preload(reply),
    }


def _renderSuspend(request, reply):
    if reply.status == HTTPStatus.MULTIPLE_CHOICES:
        return {"preload": _preload(reply)}
    return {}


def _renderFence(request, reply):
    inner = reply.action
    if inner.isError:
        data = inner.message
    else:
        data = {"promise": renderPromise(inner.promise)}
    return {
        "action": Response(
            request.data["action"]["kind"], request.corrId, int(inner.status), data
        ).toJSON(),
        "preload": _preload(reply),
    }


def _renderTaskPage(request, reply):
    return _page("tasks", [renderTask(t) for t in reply.tasks or ()], reply.cursor)


def _renderScheduleData(request, reply):
    return {"schedule": renderSchedule(reply.schedule)}


def _renderSchedulePage(request, reply):
    return _page(
        "schedules",
        [renderSchedule(s) for s in reply.schedules or ()],
        reply.cursor,
    )


def _renderTick(request, reply):
    return []


def renderSnapshot(reply):
    """
    C{debug.snap}'s data (section 7.20; see the module docstring).
    """
    promises = sorted(reply.promises or (), key=lambda p: p.id)
    views = sorted(reply.tasks or (), key=lambda v: v.task.id)
    byId = {p.id: p for p in promises}
    executes, unblocks = [], []
    for entry in reply.messages or ():
        message = entry.message
        if isinstance(message, Execute):
            executes.append(
                (
                    message.taskId,
                    {
                        "address": message.address,
                        "message": {
                            "kind": "execute",
                            "head": {},
                            "data": {
                                "task": {
                                    "id": message.taskId,
                                    "version": message.version,
                                }
                            },
                        },
                    },
                )
            )
        elif isinstance(message, Unblock):
            promise = byId.get(message.promiseId)
            record = (
                {"id": message.promiseId} if promise is None else renderPromise(promise)
            )
            unblocks.append(
                (
                    (message.promiseId, message.address),
                    {
                        "address": message.address,
                        "message": message.message(record),
                    },
                )
            )
    return {
        "promises": [renderPromise(p) for p in promises],
        "promiseTimeouts": [
            {"id": p.id, "timeout": p.timeout}
            for p in promises
            if p.state is State.PENDING
        ],
        "callbacks": sorted(
            (
                {"awaiter": c.awaiter, "awaited": c.awaited}
                for c in reply.callbacks or ()
                if not c.ready
            ),
            key=lambda c: (c["awaiter"], c["awaited"]),
        ),
        "listeners": sorted(
            (
                {"id": l.promiseId, "address": l.address}
                for l in reply.listeners or ()
            ),
            key=lambda l: (l["id"], l["address"]),
        ),
        "tasks": [renderTask(v) for v in views],
        "taskTimeouts": [
            {"id": v.task.id, "type": int(timer.kind), "timeout": timer.at}
            for v in views
            for timer in [v.task.timer]
            if timer is not None
        ],
        "messages": [m for _, m in sorted(executes, key=lambda e: e[0])]
        + [m for _, m in sorted(unblocks, key=lambda e: e[0])],
    }


_RENDERERS = {
    "promise.get": _renderPromiseData,
    "promise.create": _renderPromiseData,
    "promise.settle": _renderPromiseData,
    "promise.register_callback": _renderPromiseData,
    "promise.register_listener": _renderPromiseData,
    "promise.search": _renderPromisePage,
    "task.get": _renderTaskData,
    "task.create": _renderAcquired,
    "task.acquire": _renderAcquired,
    "task.release": _renderEmpty,
    "task.fulfill": _renderPromiseData,
    "task.suspend": _renderSuspend,
    "task.fence": _renderFence,
    "task.heartbeat": _renderEmpty,
    "task.halt": _renderEmpty,
    "task.continue": _renderEmpty,
    "task.search": _renderTaskPage,
    "schedule.create": _renderScheduleData,
    "schedule.get": _renderScheduleData,
    "schedule.delete": _renderEmpty,
    "schedule.search": _renderSchedulePage,
    "debug.start": _renderEmpty,
    "debug.stop": _renderEmpty,
    "debug.reset": _renderEmpty,
    "debug.snap": lambda request, reply: renderSnapshot(reply),
    "debug.tick": _renderTick,
}


def renderReply(request, reply):
    """
    The answer to C{request} given the store's C{reply}: an error's message
    as a string, or the kind's data with the reply's status (200, or 300
    for the suspend redirect).

    @param request: the L{resonate.api.envelope.Request}, of a kind in
        L{KINDS}.
    @param reply: a L{Reply}.
    @return: a L{Response}.
    """
    status = int(reply.status)
    if reply.isError:
        message = reply.message or HTTPStatus(status).phrase
        return failure(request, status, message)
    return success(request, _RENDERERS[request.kind](request, reply), status)


def kindLabel(kind):
    """
    The metrics label of C{kind}: itself when known, else
    L{UNKNOWN_KIND_LABEL}.
    """
    return kind if kind in KINDS else UNKNOWN_KIND_LABEL


# Auth.


def _member(data, *path):
    """
    The JSON value at C{path} inside C{data}, or L{None} when some step is
    missing or not an object.
    """
    for name in path:
        if not isinstance(data, dict):
            return None
        data = data.get(name)
    return data


def _items(data, name, *path):
    """
    The values at C{path} in each item of the array C{data[name]}; L{None}
    when it is not an array.
    """
    items = _member(data, name)
    if not isinstance(items, list):
        return None
    return [_member(item, *path) for item in items]


#: The members of C{data} naming the ids a kind acts on (protocol
#: section 14, and the other ids a request names: see the module
#: docstring), each a function of C{data} to a list of values (strings
#: when well formed), or L{None} when the kind names no id.
_RESOURCE_IDS = {
    "promise.get": lambda d: [_member(d, "id")],
    "promise.create": lambda d: [_member(d, "id")],
    "promise.settle": lambda d: [_member(d, "id")],
    "promise.register_callback": lambda d: [
        _member(d, "awaited"), _member(d, "awaiter")
    ],
    "promise.register_listener": lambda d: [_member(d, "awaited")],
    "task.get": lambda d: [_member(d, "id")],
    "task.create": lambda d: [_member(d, "action", "data", "id")],
    "task.acquire": lambda d: [_member(d, "id")],
    "task.release": lambda d: [_member(d, "id")],
    "task.fulfill": lambda d: [_member(d, "id")],
    "task.suspend": lambda d: [_member(d, "id")]
    + (_items(d, "actions", "data", "awaited") or [None]),
    "task.fence": lambda d: [_member(d, "id"), _member(d, "action", "data", "id")],
    "task.heartbeat": lambda d: _items(d, "tasks", "id") or [None],
    "task.halt": lambda d: [_member(d, "id")],
    "task.continue": lambda d: [_member(d, "id")],
    "schedule.create": lambda d: [_member(d, "promiseId")],
    "schedule.get": lambda d: [_member(d, "id")],
    "schedule.delete": lambda d: [_member(d, "id")],
}


def resourceIds(kind, data):
    """
    The ids a request of C{kind} names, which a restricted principal must
    be allowed (section 14).

    @param data: the request's C{data}, as sent (not yet checked).
    @return: a list of the values found (not necessarily strings: a value
        that is not one allows no one but the unrestricted), or L{None}
        for a kind that names no id (searches, C{debug.*}, unknown kinds).
    """
    find = _RESOURCE_IDS.get(kind)
    return None if find is None else find(data)


def authorize(principal, request):
    """
    Whether C{principal} may make C{request} (section 14): C{debug.*} only
    an admin; anything else an unrestricted principal; a restricted one
    only a request whose every id it allows.

    @param principal: a L{resonate.api.tokens.Principal}.
    @param request: a L{resonate.api.envelope.Request}.
    """
    if request.kind in DEBUG_KINDS:
        return principal.admin
    if principal.unrestricted:
        return True
    named = resourceIds(request.kind, request.data)
    if named is None:
        return False
    return principal.allowsAll(named)


#: The statuses of L{ResonateError}s that mean "try again": 503.
_UNAVAILABLE = frozenset(
    [
        Status.STORE_FAILURE,
        Status.STORE_ENCODING_FAILURE,
        Status.SHUTTING_DOWN,
        Status.API_SUBMISSION_QUEUE_FULL,
        Status.AIO_SUBMISSION_QUEUE_FULL,
        Status.NETWORK_FAILURE,
    ]
)


class Protocol2026:
    """
    Answer C{POST /} bodies: the whole of a 2026 request but the HTTP.
    """

    _log = Logger()

    def __init__(self, operations, metrics=None, debug=None, tokens=None):
        """
        @param operations: the L{resonate.api.operations.Operations} whose
            C{handle2026} runs the store's part, and whose C{now} is the
            time of a request.
        @param metrics: the L{resonate.metrics.Metrics} that counts every
            answer by kind and status; L{None} for a private one.
        @param debug: L{None} when the server does not run with C{--debug}
            (every C{debug.*} answers 403 and C{resonate:debug_time} is
            ignored); else an object with C{pause()}, C{resume()} and
            C{tick(time)}, each returning a C{Deferred} or nothing (a
            L{resonate.services.debug.DebugControl}).
        @param tokens: L{None} when JWT auth is off, else the
            L{resonate.api.tokens.TokenVerifier} of C{head.auth}.
        """
        self._operations = operations
        self._tokens = tokens
        self._metrics = metrics if metrics is not None else Metrics()
        self._debug = debug

    def handle(self, body):
        """
        Answer one request body.

        @param body: C{bytes}.
        @return: a C{Deferred} that fires with the L{Response} (never
            fails), counted in the metrics once answered.
        """
        started = self._metrics.rpcStarted()
        try:
            d = self._answer(body)
        except Exception:
            d = fail()
        return d.addErrback(self._unreadable).addCallback(self._counted, started)

    def _counted(self, response, started):
        self._metrics.rpcFinished(kindLabel(response.kind), response.status, started)
        return response

    def _unreadable(self, reason):
        """
        The last resort: something failed before a request was read.
        """
        self._log.failure("a 2026 request failed", reason)
        return Response("unknown", "0", 500, INTERNAL_ERROR)

    def _answer(self, body):
        parsed = parseRequest(body)
        if isinstance(parsed, Response):
            return succeed(parsed)
        request = parsed
        if self._tokens is not None:
            refusal = self._refusal(request)
            if refusal is not None:
                return succeed(refusal)
        if request.kind in DEBUG_KINDS and self._debug is None:
            return succeed(failure(request, 403, DEBUG_DISABLED))
        now = resolveNow(request, self._operations.now(), self._debug is not None)
        value = readData(request, now)
        if isinstance(value, Response):
            return succeed(value)
        try:
            d = self._run(request, value, now)
        except Exception:
            d = fail()
        d.addCallback(lambda reply: renderReply(request, reply))
        return d.addErrback(self._failed, request)

    def _refusal(self, request):
        """
        Step 5 (section 14): the 401 or 403 to answer C{request} with, or
        L{None} when its token allows it.
        """
        try:
            principal = self._tokens.verify(request.auth)
        except TokenRejected:
            return failure(request, 401, UNAUTHORIZED)
        if not authorize(principal, request):
            return failure(request, 403, FORBIDDEN)
        return None

    def _run(self, request, value, now):
        """
        Run C{value}: the debug control's own operations on it, everything
        else on the store.

        @return: a C{Deferred} firing with a L{Reply}.
        """
        if isinstance(value, DebugStart):
            return maybeDeferred(self._debug.pause).addCallback(lambda _: Reply())
        if isinstance(value, DebugStop):
            return maybeDeferred(self._debug.resume).addCallback(lambda _: Reply())
        if isinstance(value, DebugTick):
            if request.debugTime is not None and request.debugTime != value.time:
                return succeed(Reply(HTTPStatus.BAD_REQUEST, TICK_TIME_DIFFERS))
            return maybeDeferred(self._debug.tick, value.time).addCallback(
                lambda _: Reply()
            )
        return self._operations.handle2026(value, now)

    def _failed(self, reason, request):
        """
        The operation failed: 503 with its message when the store, the
        admission queue or shutdown refused it (DECISIONS 28), else 500.
        """
        error = reason.value
        if isinstance(error, ResonateError) and error.status in _UNAVAILABLE:
            self._log.warn(
                "{kind} {corrId} failed: {code} {message}",
                kind=request.kind,
                corrId=request.corrId,
                code=error.status.value,
                message=error.message,
            )
            return failure(request, 503, error.message)
        self._log.failure(
            "{kind} {corrId} failed", reason, kind=request.kind, corrId=request.corrId
        )
        return failure(request, 500, INTERNAL_ERROR)
