# -*- test-case-name: tests.unit.test_model_schedule -*-
"""
Schedules: cron expressions that create promises ("stateful reminders").

Pure rules: when a schedule next fires, which promise a firing creates, and
what creating or firing a schedule writes.  Times are epoch milliseconds;
cron is evaluated in the server's local time, as v0.5 did.

Cron expressions: 5 fields (C{min hour dom mon dow}), 6 with a leading
seconds field (C{sec min hour dom mon dow}), the descriptors and C{@every}
(DECISIONS 12).  The 2026 protocol also accepts 7 fields, a trailing year
after the 6 (C{sec min hour dom mon dow year}, as Rust's C{cron} crate
reads them): L{nextRunTime} evaluates them, since a stored schedule does
not say which protocol made it, but only L{checkCron} with C{withYear}
accepts them, so that v0.5 requests keep refusing them.
"""

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from croniter import croniter

from resonate.model.promise import Promise, State, Value, isOverdue, timedOut
from resonate.status import Status

#: The descriptors accepted besides 5- and 6-field expressions.
DESCRIPTORS = frozenset(
    ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]
)

_EVERY = re.compile(r"@every\s+(\S+)\Z")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)")
_UNIT_MS = {"h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1, "us": 1e-3, "µs": 1e-3, "ns": 1e-6}
_ID = re.compile(r"\{\{\s*\.id\s*\}\}")
_TIMESTAMP = re.compile(r"\{\{\s*\.timestamp\s*\}\}")

#: Tags every fired promise carries.
SCHEDULE_TAG = "resonate:schedule"
INVOCATION_TAG = "resonate:invocation"


class InvalidCron(ValueError):
    """
    The expression is not a cron expression this server accepts.
    """


def _everyMilliseconds(expression):
    found = _EVERY.match(expression)
    if found is None:
        return None
    text = found.group(1)
    position, total = 0, 0.0
    for part in _DURATION_PART.finditer(text):
        if part.start() != position:
            break
        total += float(part.group(1)) * _UNIT_MS[part.group(2)]
        position = part.end()
    if position != len(text) or total <= 0:
        raise InvalidCron(f"invalid duration in {expression!r}")
    # Whole seconds, at least one, as robfig/cron runs them.
    return max(1000, int(total // 1000) * 1000)


def checkCron(expression, withYear=False, after=0):
    """
    Check a cron expression: 5 fields, 6 with a leading seconds field, a
    descriptor, or C{@every <duration>}; with C{withYear} (the 2026
    protocol), 7 fields too: the 6 and a trailing year.

    @param after: epoch milliseconds after which the expression must fire
        at least once (a year field may name years long after 1970).
    @raise InvalidCron: it is none of those, or never fires after
        C{after}.
    """
    if (
        not withYear
        and isinstance(expression, str)
        and len(expression.split()) == 7
    ):
        raise InvalidCron("expected 5 or 6 fields, got 7")
    nextRunTime(expression, after)


def nextRunTime(expression, after):
    """
    The first time the expression fires strictly after C{after}.

    @param after: epoch milliseconds.
    @return: epoch milliseconds.
    @raise InvalidCron: the expression is invalid.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidCron("cron expression is empty")
    expression = " ".join(expression.split())
    every = _everyMilliseconds(expression)
    if every is not None:
        return after - after % 1000 + every
    fields = expression.split(" ")
    if expression.startswith("@"):
        if expression not in DESCRIPTORS:
            raise InvalidCron(f"unknown descriptor {expression!r}")
        expression = "@yearly" if expression == "@annually" else expression
        seconds = False
    elif len(fields) == 5:
        seconds = False
    elif len(fields) in (6, 7):
        # A leading seconds field, and for 7 a trailing year.
        seconds = True
    else:
        raise InvalidCron(f"expected 5 or 6 fields, got {len(fields)}")
    start = datetime.fromtimestamp(after / 1000)
    try:
        when = croniter(expression, start, second_at_beginning=seconds).get_next(datetime)
    except (ValueError, KeyError) as e:
        raise InvalidCron(f"invalid cron expression {expression!r}: {e}")
    return int(when.timestamp() * 1000)


@dataclass(frozen=True)
class Schedule:
    """
    A schedule as stored.  C{promiseTimeout} is relative (milliseconds).
    """

    id: str
    cron: str
    promiseId: str
    promiseTimeout: int
    nextRunTime: int
    createdOn: int
    description: str = None
    tags: dict = field(default_factory=dict)
    promiseParam: Value = field(default_factory=Value)
    promiseTags: dict = field(default_factory=dict)
    lastRunTime: int = None
    idempotencyKey: str = None


@dataclass(frozen=True)
class CreateSchedule:
    """
    A request to create a schedule.
    """

    id: str
    cron: str
    promiseId: str
    promiseTimeout: int
    description: str = None
    tags: dict = field(default_factory=dict)
    promiseParam: Value = field(default_factory=Value)
    promiseTags: dict = field(default_factory=dict)
    idempotencyKey: str = None


@dataclass(frozen=True)
class ScheduleDecision:
    """
    The outcome of creating a schedule: status, the schedule to answer
    with, and whether it must be inserted.
    """

    status: Status
    schedule: Schedule = None
    insert: bool = False


def decideCreateSchedule(existing, request, now):
    """
    Create a schedule (201), or deduplicate a repeat with the same
    idempotency key (200); anything else on an existing id is 409.  The
    body of a repeat is not compared.
    """
    if existing is None:
        schedule = Schedule(
            id=request.id,
            description=request.description,
            cron=request.cron,
            tags=request.tags,
            promiseId=request.promiseId,
            promiseTimeout=request.promiseTimeout,
            promiseParam=request.promiseParam,
            promiseTags=request.promiseTags,
            nextRunTime=nextRunTime(request.cron, now),
            idempotencyKey=request.idempotencyKey,
            createdOn=now,
        )
        return ScheduleDecision(Status.CREATED, schedule, insert=True)
    if (
        request.idempotencyKey is not None
        and request.idempotencyKey == existing.idempotencyKey
    ):
        return ScheduleDecision(Status.OK, existing)
    return ScheduleDecision(Status.SCHEDULE_ALREADY_EXISTS)


def firedPromiseId(schedule, fireTime):
    """
    The id of the promise a firing creates: C{{{.id}}} is the schedule id,
    C{{{.timestamp}}} the fire time in milliseconds.
    """
    return expandPromiseId(schedule.promiseId, schedule.id, fireTime)


def expandPromiseId(template, scheduleId, fireTime):
    """
    The promise id C{template} gives for the schedule C{scheduleId} firing
    at C{fireTime}: see L{firedPromiseId}.
    """
    promiseId = _ID.sub(lambda m: scheduleId, template)
    return _TIMESTAMP.sub(lambda m: str(fireTime), promiseId)


def fire(schedule, now):
    """
    Fire a due schedule's next slot.

    @return: C{(promise, advanced)}: the promise the slot creates (already
        timed out if its timeout has passed by C{now}), and the schedule
        advanced to its next slot after the fired one (so missed slots are
        caught up one by one).
    """
    fireTime = schedule.nextRunTime
    promiseId = firedPromiseId(schedule, fireTime)
    promise = Promise(
        id=promiseId,
        state=State.PENDING,
        timeout=fireTime + schedule.promiseTimeout,
        createdOn=fireTime,
        param=schedule.promiseParam,
        tags={
            **schedule.promiseTags,
            SCHEDULE_TAG: schedule.id,
            INVOCATION_TAG: "true",
        },
        idempotencyKeyForCreate=promiseId,
    )
    if isOverdue(promise, now):
        promise = timedOut(promise)
    advanced = replace(
        schedule,
        lastRunTime=fireTime,
        nextRunTime=nextRunTime(schedule.cron, fireTime),
    )
    return promise, advanced


@dataclass(frozen=True)
class ScheduleQuery:
    """
    A search over schedules, newest first: C{id} pattern (C{*} the only
    wildcard), C{tags} that must all match, a page C{limit}, and C{sortId}
    to continue after.
    """

    id: str = "*"
    tags: dict = field(default_factory=dict)
    limit: int = 100
    sortId: int = None


@dataclass(frozen=True)
class SchedulePage:
    """
    A page of schedules, newest first, and the query for the next page
    (L{None} unless this page is full).
    """

    schedules: list
    next: ScheduleQuery = None


def schedulePageOf(query, rows):
    """
    Build the L{SchedulePage} for C{query} from C{(sortId, schedule)} rows,
    newest first, at most C{query.limit} long.
    """
    schedules = [schedule for _, schedule in rows]
    if rows and len(rows) == query.limit:
        return SchedulePage(schedules, replace(query, sortId=rows[-1][0]))
    return SchedulePage(schedules)
