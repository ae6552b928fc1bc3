# -*- test-case-name: tests.unit.test_model_tasks2026 -*-
"""
The tasks of the "2026-04-01" protocol: their values and their state machine.

A promise created with a C{resonate:target} tag has one task (same id).  The
task is offered to the worker at that address by an C{execute} message; a
worker acquires it (the version is bumped: it is the fencing token), may
release it, suspend it on other promises (callbacks), or fulfil it by
settling its promise.  Clients wait for a promise through listeners, which
get one C{unblock} message when it settles.  Reference: C{protocol-2026.md}
sections 7.4-7.16, 9 and 10, as settled by C{DECISIONS.md} 23-29.

    (none) --create with target--> PENDING v0  (retry timer, execute)
    (none) --task.create--> ACQUIRED v1 (lease)
    (none) --created already timed out--> FULFILLED v0
    PENDING --acquire (version v)--> ACQUIRED v+1 (lease, ready callbacks cleared)
    ACQUIRED --release / lease expiry--> PENDING v (retry timer, execute)
    ACQUIRED --suspend, all awaited pending--> SUSPENDED v (no timer)
    SUSPENDED --an awaited promise settles--> PENDING v (retry timer, execute)
    any but FULFILLED --halt--> HALTED (no timer)
    HALTED --continue--> PENDING v (retry timer, execute)
    any --its promise settles (fulfill, settle, fence, timeout)--> FULFILLED

Only acquiring changes the version.  C{FULFILLED} is terminal.

Like L{resonate.model.promise}, everything here is a pure function of the
stored rows, a request and one C{now} (epoch ms): a C{decide*} function
returns a L{TaskDecision} naming the status (an L{HTTPStatus}, as the 2026
envelope answers), the error text, the records to answer with, and the
L{Effects}: row writes, the timer changes they imply and the outbox messages
to add, all to be made in the caller's transaction.

Preconditions every caller (a store script) keeps:

  - B{try_timeout}: before deciding, each promise the operation touches (the
    ids section 7 lists) has been timed out if it is overdue, with its
    settlement chain (L{decideTimeout}); the decisions here read the promises
    they are given as current.
  - Wire validation (types, non-empty strings, C{ttl >= 1}, addresses, the
    section 5 id rules of creates) is the protocol adapter's.  The checks
    here are the semantic ones section 7 lists, plus the few 400s that need
    no store (a suspend's awaited ids, a task.create's tags).

Choices where the reference is open (DECISIONS first, then section 20):

  - A task keeps its one timer (section 9.2: retry while pending, lease
    while acquired, none otherwise) as C{timeoutAt} on the task record, so
    that every state change and its timer are one conditional row write;
    L{Effects.timers} lists the same change as L{SetTimer}/L{ClearTimer} for
    stores that keep a separate C{task_timeouts} table.
  - A task copies its promise's C{resonate:target} as C{address} when it is
    created (tags never change), so that timer expiries and wake-ups need
    not read the promise to address an C{execute}.
  - Promises are L{resonate.model.promise.Promise} values: one row for both
    protocols (DECISIONS 23).  A timeout resolves a promise tagged either
    C{resonate:timer} or v0.5's C{resonate:timeout} C{"true"} (DECISIONS 27).
  - C{resonate:delay} defers the first C{execute}: the retry timer starts at
    the delay (DECISIONS 26; section 20 follows oracle.rs).
  - A heartbeat renews each entry held by its pid at its version and
    ignores the rest, across origins (DECISIONS 25).
  - C{promise.register_callback} on a settled awaited records a I{ready}
    callback for a pending or acquired awaiter (section 20: SQL, not the
    oracle).
  - C{task.create} on a fulfilled task answers no preload (section 20: SQL).
  - The 409 of release, fulfill and suspend says C{"Version mismatch"}, the
    text section 7.13 gives fence for the same check.
  - Timers and promise timeouts are due at C{now >= at} (DECISIONS 11).
"""

import enum
from dataclasses import dataclass, field, replace
from http import HTTPStatus

from resonate.model.promise import (
    COMPLETION_STATES,
    Insert,
    Promise,
    State,
    Update,
    Value,
    asOf,
    decideCreate,
    isOverdue,
    timedOut,
)

#: How long a pending task waits before its C{execute} is sent again (ms).
RETRY_TIMEOUT = 30_000

TARGET_TAG = "resonate:target"
DELAY_TAG = "resonate:delay"
BRANCH_TAG = "resonate:branch"

TASK_NOT_FOUND = "Task not found"
PROMISE_NOT_FOUND = "Promise not found"
NOT_PENDING = "Task is not pending"
VERSION_MISMATCH = "Version mismatch"
ALREADY_EXISTS = "Already exists"


class TaskState(enum.Enum):
    """
    The state of a 2026 task (section 9.1); the values are the wire names.
    """

    PENDING = "pending"
    ACQUIRED = "acquired"
    SUSPENDED = "suspended"
    HALTED = "halted"
    FULFILLED = "fulfilled"


class TimerKind(enum.IntEnum):
    """
    The kind of a task's timer (section 9.2), numbered as Rust's
    C{task_timeouts.timeout_type}.
    """

    RETRY = 0
    LEASE = 1


_TIMER_KINDS = {TaskState.PENDING: TimerKind.RETRY, TaskState.ACQUIRED: TimerKind.LEASE}


@dataclass(frozen=True)
class Timer:
    """
    A task's timer, as a C{task_timeouts} row: at C{at} (epoch ms) a retry
    re-sends the C{execute}; a lease returns the task to pending.  A lease
    names its holder and the ttl each heartbeat renews it by.
    """

    taskId: str
    kind: TimerKind
    at: int
    pid: str = None
    ttl: int = None


@dataclass(frozen=True)
class Task:
    """
    A 2026 task as stored.  Its id is its promise's id.

    @ivar version: the fencing token; only acquiring bumps it.
    @ivar address: where its C{execute}s go: its promise's C{resonate:target}.
    @ivar pid: the holder's process id, only while C{ACQUIRED}.
    @ivar ttl: the lease length (ms) given at acquire, only while C{ACQUIRED}.
    @ivar timeoutAt: when its one timer fires (epoch ms): the retry while
        C{PENDING}, the lease's end while C{ACQUIRED}, else L{None}.
    """

    id: str
    state: TaskState
    version: int
    address: str
    pid: str = None
    ttl: int = None
    timeoutAt: int = None

    @property
    def timer(self):
        """
        This task's L{Timer}, or L{None} when it has none.
        """
        kind = _TIMER_KINDS.get(self.state)
        if kind is None or self.timeoutAt is None:
            return None
        return Timer(self.id, kind, self.timeoutAt, self.pid, self.ttl)


@dataclass(frozen=True)
class Callback:
    """
    A callback (section 9.3): when C{awaited} settles the callback becomes
    ready, which wakes the task C{awaiter} if it is suspended, and counts in
    its C{resumes}.
    """

    awaited: str
    awaiter: str
    ready: bool = False


@dataclass(frozen=True)
class Listener:
    """
    A listener (section 9.3b): one C{unblock} to C{address} when the
    promise settles.
    """

    promiseId: str
    address: str


@dataclass(frozen=True)
class Execute:
    """
    Outbox: offer task C{taskId} at C{version} to C{address}.  There is at
    most one per task: a newer one replaces an undelivered older one.
    """

    taskId: str
    version: int
    address: str

    def message(self, serverUrl):
        """
        The message as delivered (section 10).
        """
        return {
            "kind": "execute",
            "head": {"serverUrl": serverUrl},
            "data": {"task": {"id": self.taskId, "version": self.version}},
        }


@dataclass(frozen=True)
class Unblock:
    """
    Outbox: tell C{address} that promise C{promiseId} has settled.
    """

    promiseId: str
    address: str

    def message(self, promiseRecord):
        """
        The message as delivered (section 10), carrying the promise's wire
        record as read at delivery time.
        """
        return {"kind": "unblock", "head": {}, "data": {"promise": promiseRecord}}


# Row writes, besides the promise model's Insert and Update.


@dataclass(frozen=True)
class InsertTask:
    """
    Write: insert C{task}, whose id has no task yet.
    """

    task: Task


@dataclass(frozen=True)
class UpdateTask:
    """
    Write: replace the stored task with C{task}, on condition that the
    stored row is still exactly C{previous} (state, version, holder and
    timer), so that, say, a lease expiry read before a heartbeat renewed the
    lease does not overwrite the renewal; a script that finds it changed
    reads again and decides again.
    """

    previous: Task
    task: Task


@dataclass(frozen=True)
class InsertCallback:
    """
    Write: insert C{callback} unless its (awaited, awaiter) pair exists.
    """

    callback: Callback


@dataclass(frozen=True)
class ReadyCallbacks:
    """
    Write: mark every callback on the promise C{awaited} ready.
    """

    awaited: str


@dataclass(frozen=True)
class DeleteReadyCallbacks:
    """
    Write: delete the ready callbacks of the task C{awaiter} (its resumes).
    """

    awaiter: str


@dataclass(frozen=True)
class DeleteCallbacks:
    """
    Write: delete every callback of the task C{awaiter}.
    """

    awaiter: str


@dataclass(frozen=True)
class InsertListener:
    """
    Write: insert C{listener} unless it exists (set semantics).
    """

    listener: Listener


@dataclass(frozen=True)
class DeleteListeners:
    """
    Write: delete every listener of the promise C{promiseId}.
    """

    promiseId: str


@dataclass(frozen=True)
class SetTimer:
    """
    Timer change: arm C{timer}, replacing the task's previous timer.
    """

    timer: Timer


@dataclass(frozen=True)
class ClearTimer:
    """
    Timer change: the task C{taskId} has no timer any more.
    """

    taskId: str


@dataclass(frozen=True)
class Effects:
    """
    What a decision changes, in order.

    @ivar writes: row writes (promise L{Insert}/L{Update}, L{InsertTask},
        L{UpdateTask}, callback and listener writes).
    @ivar timers: the L{SetTimer}/L{ClearTimer} changes the task writes
        imply (already contained in their C{timeoutAt}).
    @ivar messages: L{Execute}s and L{Unblock}s to add to the outbox.
    """

    writes: tuple = ()
    timers: tuple = ()
    messages: tuple = ()

    def __add__(self, other):
        return Effects(
            self.writes + other.writes,
            self.timers + other.timers,
            self.messages + other.messages,
        )


@dataclass(frozen=True)
class TaskDecision:
    """
    The outcome of a request or of background work.

    @ivar status: the L{HTTPStatus} to answer with (200, 300, 400, 404, 409
        or 422).
    @ivar message: the error text when C{status} is an error.
    @ivar task: the task to answer with, if any.
    @ivar promise: the promise to answer with, if any.
    @ivar preloadFor: the promise whose branch the answer's C{preload}
        lists (L{selectPreload}); L{None} for none (an empty list where the
        answer has one).
    @ivar effects: the L{Effects} to carry out.
    """

    status: HTTPStatus
    message: str = None
    task: Task = None
    promise: Promise = None
    preloadFor: Promise = None
    effects: Effects = field(default_factory=Effects)


@dataclass(frozen=True)
class Concern:
    """
    The rows a settlement of one promise concerns (section 9.4).

    @ivar task: the promise's own task, or L{None}.
    @ivar callbacks: the callbacks on the promise (it is their C{awaited}).
    @ivar awaiters: the tasks of those callbacks' awaiters.
    @ivar listeners: the promise's listeners.
    """

    task: Task = None
    callbacks: tuple = ()
    awaiters: tuple = ()
    listeners: tuple = ()


# Requests (the adapter has checked their types).


@dataclass(frozen=True)
class AcquireTask:
    """
    C{task.acquire}: take task C{id}, offered at C{version}, for C{ttl} ms.
    """

    id: str
    version: int
    pid: str
    ttl: int


@dataclass(frozen=True)
class TaskAtVersion:
    """
    A request naming a task at the version its holder acquired
    (C{task.release}, C{task.fence}, a heartbeat entry).
    """

    id: str
    version: int


@dataclass(frozen=True)
class FulfillTask:
    """
    C{task.fulfill}: settle the task's promise as C{state} with C{value}.
    """

    id: str
    version: int
    state: State
    value: Value = field(default_factory=Value)


@dataclass(frozen=True)
class SuspendTask:
    """
    C{task.suspend}: wait for the promises C{awaited} (a tuple of ids).
    """

    id: str
    version: int
    awaited: tuple


@dataclass(frozen=True)
class HeartbeatTasks:
    """
    C{task.heartbeat}: C{tasks} is a tuple of L{TaskAtVersion}.
    """

    pid: str
    tasks: tuple


@dataclass(frozen=True)
class CreateTask:
    """
    C{task.create}: create C{promise} (a
    L{resonate.model.promise.CreatePromise}) and acquire its task.
    """

    pid: str
    ttl: int
    promise: object


# Helpers.


def origin(promiseId):
    """
    The origin of an id (section 5, post-snapshot): the text before the
    first C{:}, or the whole id.
    """
    return promiseId.split(":", 1)[0]


def resumes(callbacks):
    """
    A task's C{resumes}: how many of its callbacks (as awaiter) are ready.
    """
    return sum(1 for c in callbacks if c.ready)


def _change(previous, task):
    """
    The effects of replacing C{previous} with C{task}: the conditional
    write, and the timer change if the timer differs.
    """
    if task.timer == (previous.timer if previous is not None else None):
        timers = ()
    elif task.timer is None:
        timers = (ClearTimer(task.id),)
    else:
        timers = (SetTimer(task.timer),)
    write = InsertTask(task) if previous is None else UpdateTask(previous, task)
    return Effects(writes=(write,), timers=timers)


def _offered(previous, task, now, retryTimeout, at=None):
    """
    Make C{task} (from C{previous}) pending at its version with a retry
    timer and an C{execute}; or, when C{at} is given (a future
    C{resonate:delay}), the retry timer at C{at} and no message yet.
    """
    pending = replace(
        task,
        state=TaskState.PENDING,
        pid=None,
        ttl=None,
        timeoutAt=now + retryTimeout if at is None else at,
    )
    effects = _change(previous, pending)
    if at is None:
        effects += Effects(messages=(Execute(task.id, task.version, task.address),))
    return pending, effects


def _acquired(previous, pid, ttl, now):
    """
    C{previous} acquired by C{pid} for C{ttl} ms: version bumped, lease
    armed, its ready callbacks cleared.
    """
    task = replace(
        previous,
        state=TaskState.ACQUIRED,
        version=previous.version + 1,
        pid=pid,
        ttl=ttl,
        timeoutAt=now + ttl,
    )
    return task, _change(previous, task) + Effects(
        writes=(DeleteReadyCallbacks(task.id),)
    )


def _error(status, message):
    return TaskDecision(status, message)


def _heldAt(task, version):
    """
    The 404/409 check of the operations that need the task acquired at the
    caller's version; L{None} when it is.
    """
    if task is None:
        return _error(HTTPStatus.NOT_FOUND, TASK_NOT_FOUND)
    if task.state is not TaskState.ACQUIRED or task.version != version:
        return _error(HTTPStatus.CONFLICT, VERSION_MISMATCH)
    return None


# Creation.


def newPromise(request, now):
    """
    The promise a create of a new id stores (section 7.2): pending since
    C{now}, or, when C{now} is already at its timeout, settled by timeout
    and created and settled at its timeout.

    @param request: a L{resonate.model.promise.CreatePromise}.
    """
    promise = decideCreate(None, request, now).promise
    if isOverdue(promise, now):
        return timedOut(replace(promise, createdOn=request.timeout))
    return promise


def newTask(promise, now, retryTimeout=RETRY_TIMEOUT):
    """
    The task a newly stored promise gets (section 7.2, 9.1), with the
    effects of creating it: none without a C{resonate:target}; C{FULFILLED}
    v0 with no message when the promise was created settled; else
    C{PENDING} v0 with its retry timer and an C{execute}, or, when a
    C{resonate:delay} lies in the future, the retry timer at the delay and
    no message yet (DECISIONS 26).

    @return: C{(task, effects)}, C{(None, Effects())} without a target.
    """
    address = promise.tags.get(TARGET_TAG)
    if address is None:
        return None, Effects()
    task = Task(id=promise.id, state=TaskState.FULFILLED, version=0, address=address)
    if promise.state is not State.PENDING:
        return task, _change(None, task)
    delay = promise.tags.get(DELAY_TAG)
    at = int(delay) if delay is not None and int(delay) > now else None
    return _offered(None, task, now, retryTimeout, at)


#: The tags a schedule's 2026 promise is stamped with: its lineage starts
#: at itself (section 12).
LINEAGE_TAGS = ("resonate:origin", "resonate:branch", "resonate:parent")


def scheduledPromise(promise, invocationTag):
    """
    The promise a schedule fires, as the 2026 protocol makes it (section
    12) when its tags carry a C{resonate:target}: the root of its own
    lineage (C{resonate:origin}, C{resonate:branch} and
    C{resonate:parent} all its id), without v0.5's C{invocationTag}.  A
    promise without a target is v0.5's and is returned unchanged.

    @param promise: the promise L{resonate.model.schedule.fire} made.
    """
    if TARGET_TAG not in promise.tags:
        return promise
    tags = {k: v for k, v in promise.tags.items() if k != invocationTag}
    tags.update({tag: promise.id for tag in LINEAGE_TAGS})
    return replace(promise, tags=tags)


def decideCreateTask(promise, task, request, now, retryTimeout=RETRY_TIMEOUT):
    """
    C{task.create} (section 7.8): create the promise and acquire its task
    in one step, or acquire the existing pending task.

      - the promise has no C{resonate:target}, or has C{resonate:delay}: 400
      - new id, pending: promise stored, task C{ACQUIRED} v1 by the pid (no
        C{execute}: the caller is the worker); 200 with preload
      - new id, created timed out: task C{FULFILLED} v0; 200, no preload
      - existing promise without a task: 422
      - task C{PENDING}: acquired (version + 1); 200 with preload
      - task C{FULFILLED}: 200 with it and no preload (section 20: SQL)
      - task C{ACQUIRED}, C{SUSPENDED}, C{HALTED}: 409 C{"Already exists"}

    @param promise: the stored promise of C{request.promise.id}, or L{None}.
    @param task: its stored task, or L{None}.
    """
    tags = request.promise.tags
    if TARGET_TAG not in tags:
        return _error(HTTPStatus.BAD_REQUEST, "task.create requires a resonate:target tag")
    if DELAY_TAG in tags:
        return _error(HTTPStatus.BAD_REQUEST, "task.create does not accept resonate:delay")

    if promise is None:
        promise = newPromise(request.promise, now)
        created = Effects(writes=(Insert(promise),))
        if promise.state is not State.PENDING:
            task, effects = newTask(promise, now, retryTimeout)
            return TaskDecision(
                HTTPStatus.OK, task=task, promise=promise, effects=created + effects
            )
        task = Task(
            id=promise.id,
            state=TaskState.ACQUIRED,
            version=1,
            address=tags[TARGET_TAG],
            pid=request.pid,
            ttl=request.ttl,
            timeoutAt=now + request.ttl,
        )
        return TaskDecision(
            HTTPStatus.OK,
            task=task,
            promise=promise,
            preloadFor=promise,
            effects=created + _change(None, task),
        )

    if task is None:
        return _error(HTTPStatus.UNPROCESSABLE_ENTITY, "Promise has no task")
    if task.state is TaskState.FULFILLED:
        return TaskDecision(HTTPStatus.OK, task=task, promise=promise)
    if task.state is not TaskState.PENDING:
        return _error(HTTPStatus.CONFLICT, ALREADY_EXISTS)
    acquired, effects = _acquired(task, request.pid, request.ttl, now)
    return TaskDecision(
        HTTPStatus.OK, task=acquired, promise=promise, preloadFor=promise, effects=effects
    )


# The worker's operations.


def decideAcquire(task, promise, request, now):
    """
    C{task.acquire} (section 7.9): a C{PENDING} task offered at the
    requested version becomes C{ACQUIRED} by the pid at version + 1, with a
    lease of C{ttl} ms from C{now}; its ready callbacks are cleared
    (C{resumes} 0).  404 when there is no task; 409 C{"Task is not pending"}
    in any other state; 409 C{"Version mismatch"} at another version.

    @param promise: the task's promise, answered with the task.
    """
    if task is None:
        return _error(HTTPStatus.NOT_FOUND, TASK_NOT_FOUND)
    if task.state is not TaskState.PENDING:
        return _error(HTTPStatus.CONFLICT, NOT_PENDING)
    if task.version != request.version:
        return _error(HTTPStatus.CONFLICT, VERSION_MISMATCH)
    acquired, effects = _acquired(task, request.pid, request.ttl, now)
    return TaskDecision(
        HTTPStatus.OK, task=acquired, promise=promise, preloadFor=promise, effects=effects
    )


def decideRelease(task, request, now, retryTimeout=RETRY_TIMEOUT):
    """
    C{task.release} (section 7.10): an C{ACQUIRED} task at the requested
    version becomes C{PENDING} at the same version, with a retry timer and
    an C{execute}.  404 without a task; 409 otherwise.
    """
    refused = _heldAt(task, request.version)
    if refused is not None:
        return refused
    pending, effects = _offered(task, task, now, retryTimeout)
    return TaskDecision(HTTPStatus.OK, task=pending, effects=effects)


def decideFulfill(task, promise, concern, request, now, retryTimeout=RETRY_TIMEOUT):
    """
    C{task.fulfill} (section 7.11): settle the promise of a task held at
    the requested version, which runs the settlement chain (L{settle}): the
    task is C{FULFILLED}, its timer and its callbacks deleted, awaiters
    woken, listeners unblocked.  400 for a state that is not a completion
    state; 404 without a task; 409 when it is not acquired at that version
    (a task whose promise settled otherwise is already C{FULFILLED}).

    @param promise: the task's promise.
    @param concern: the L{Concern} of the promise (its C{task} is replaced
        by C{task}).
    """
    if request.state not in COMPLETION_STATES:
        return _error(HTTPStatus.BAD_REQUEST, "Invalid state")
    refused = _heldAt(task, request.version)
    if refused is not None:
        return refused
    concern = replace(concern, task=task)
    if promise.state is State.PENDING:
        settled = replace(
            promise,
            state=request.state,
            value=request.value,
            completedOn=now,
        )
        effects = Effects(writes=(Update(settled),))
    else:
        settled, effects = promise, Effects()
    effects += settlementChain(settled, concern, now, retryTimeout)
    return TaskDecision(HTTPStatus.OK, promise=settled, effects=effects)


def decideSuspend(task, promise, awaited, request, now):
    """
    C{task.suspend} (section 7.12).

      - no awaited id, an awaited id equal to the task's, or one of another
        origin: 400
      - no task: 404; not acquired at the requested version: 409
      - an awaited promise missing: 422, task unchanged
      - an awaited promise already settled: 300 with the preload; nothing
        registered; the task stays acquired at its version with its lease;
        its ready callbacks are cleared
      - all pending: a callback per awaited id (duplicates folded), the old
        ready callbacks cleared, the task C{SUSPENDED} with no timer; 200

    @param promise: the task's promise (for the 300's preload).
    @param awaited: a mapping from each awaited id to its stored promise (as
        of now) or L{None}.
    """
    ids = tuple(dict.fromkeys(request.awaited))
    if not ids:
        return _error(HTTPStatus.BAD_REQUEST, "actions must not be empty")
    if request.id in ids:
        return _error(HTTPStatus.BAD_REQUEST, "a task cannot await itself")
    if any(origin(i) != origin(request.id) for i in ids):
        return _error(HTTPStatus.BAD_REQUEST, "awaited promises must share the task's origin")
    refused = _heldAt(task, request.version)
    if refused is not None:
        return refused
    if any(awaited.get(i) is None for i in ids):
        return _error(HTTPStatus.UNPROCESSABLE_ENTITY, PROMISE_NOT_FOUND)
    clearReady = Effects(writes=(DeleteReadyCallbacks(task.id),))
    if any(awaited[i].state is not State.PENDING for i in ids):
        return TaskDecision(
            HTTPStatus.MULTIPLE_CHOICES,
            task=task,
            promise=promise,
            preloadFor=promise,
            effects=clearReady,
        )
    suspended = replace(task, state=TaskState.SUSPENDED, pid=None, ttl=None, timeoutAt=None)
    callbacks = Effects(writes=tuple(InsertCallback(Callback(i, task.id)) for i in ids))
    return TaskDecision(
        HTTPStatus.OK,
        task=suspended,
        effects=clearReady + callbacks + _change(task, suspended),
    )


def decideFence(task, promise, request):
    """
    C{task.fence} (section 7.13): the guard before the inner
    C{promise.create}/C{promise.settle} runs with its full rules (a created
    child with a target gets L{newTask}; a settle runs L{settlementChain}).
    404 without a task; 409 C{"Version mismatch"} unless acquired at the
    requested version, and then nothing is applied.  200 means: run the
    inner action and answer with the preload of C{promise}.
    """
    refused = _heldAt(task, request.version)
    if refused is not None:
        return refused
    return TaskDecision(HTTPStatus.OK, task=task, promise=promise, preloadFor=promise)


def decideHeartbeat(tasks, request, now):
    """
    C{task.heartbeat} (section 7.14, DECISIONS 25): each entry whose task is
    C{ACQUIRED} at the entry's version by the request's pid gets its lease
    renewed to C{now} plus the ttl given at acquire; every other entry (no
    such task, another state, version or holder) is ignored, whatever its
    origin.  400 only for an empty pid or no entries; else 200.

    @param tasks: a mapping from id to the stored task, for the ids of
        C{request.tasks} that have one.
    """
    if not request.pid:
        return _error(HTTPStatus.BAD_REQUEST, "pid must not be empty")
    if not request.tasks:
        return _error(HTTPStatus.BAD_REQUEST, "tasks must not be empty")
    effects = Effects()
    renewed = set()
    for entry in request.tasks:
        task = tasks.get(entry.id)
        if (
            task is None
            or entry.id in renewed
            or task.state is not TaskState.ACQUIRED
            or task.version != entry.version
            or task.pid != request.pid
        ):
            continue
        renewed.add(entry.id)
        effects += _change(task, replace(task, timeoutAt=now + task.ttl))
    return TaskDecision(HTTPStatus.OK, effects=effects)


def decideHalt(task):
    """
    C{task.halt} (section 7.15): any task but a C{FULFILLED} one becomes
    C{HALTED} with no timer (no lease, no retry, no redelivery); its
    callbacks are kept, so settlements still make them ready.  404 without a
    task; 409 when fulfilled; 200 with no change when already halted.
    """
    if task is None:
        return _error(HTTPStatus.NOT_FOUND, TASK_NOT_FOUND)
    if task.state is TaskState.FULFILLED:
        return _error(HTTPStatus.CONFLICT, "Task is fulfilled")
    if task.state is TaskState.HALTED:
        return TaskDecision(HTTPStatus.OK, task=task)
    halted = replace(task, state=TaskState.HALTED, pid=None, ttl=None, timeoutAt=None)
    return TaskDecision(HTTPStatus.OK, task=halted, effects=_change(task, halted))


def decideContinue(task, now, retryTimeout=RETRY_TIMEOUT):
    """
    C{task.continue} (section 7.15): a C{HALTED} task becomes C{PENDING} at
    its version with a retry timer and an C{execute}.  404 without a task;
    409 unless halted.
    """
    if task is None:
        return _error(HTTPStatus.NOT_FOUND, TASK_NOT_FOUND)
    if task.state is not TaskState.HALTED:
        return _error(HTTPStatus.CONFLICT, "Task is not halted")
    pending, effects = _offered(task, task, now, retryTimeout)
    return TaskDecision(HTTPStatus.OK, task=pending, effects=effects)


# Background work.


def isDue(task, now):
    """
    Whether C{task}'s timer has fired at C{now} (inclusive).
    """
    return task.timer is not None and now >= task.timeoutAt


def decideTimerExpiry(task, now, retryTimeout=RETRY_TIMEOUT):
    """
    A task's timer has fired (section 9.2): a retry re-sends the
    C{execute} at the current version and re-arms; a lease's end returns
    the task to C{PENDING} (version unchanged) with a retry timer and an
    C{execute}.  404 when the task is gone; 409 when its timer is not due
    (it was renewed or the task moved on since the sweep read it).
    """
    if task is None:
        return _error(HTTPStatus.NOT_FOUND, TASK_NOT_FOUND)
    if not isDue(task, now):
        return _error(HTTPStatus.CONFLICT, "Timer is not due")
    pending, effects = _offered(task, task, now, retryTimeout)
    return TaskDecision(HTTPStatus.OK, task=pending, effects=effects)


def settlementChain(promise, concern, now, retryTimeout=RETRY_TIMEOUT):
    """
    The settlement chain (section 9.4), for a promise that has just settled
    in any way (2026 settle, fulfill, fence-settle, either protocol's
    timeout, a v0.5 completion: DECISIONS 23, 27):

      1. its own task, unless fulfilled, becomes C{FULFILLED} (version
         unchanged), its timer and its callbacks as awaiter deleted;
      2. its callbacks become ready; each C{SUSPENDED} awaiter becomes
         C{PENDING} with a retry timer and an C{execute} (other awaiters only
         count a resume; a C{HALTED} one ignores it);
      3. each listener gets one C{unblock}, and the listeners are deleted.

    @param promise: the promise as settled (not pending).
    @param concern: the L{Concern} rows of the promise.
    @return: the L{Effects}.
    """
    effects = Effects()
    own = concern.task
    if own is not None and own.state is not TaskState.FULFILLED:
        fulfilled = replace(own, state=TaskState.FULFILLED, pid=None, ttl=None, timeoutAt=None)
        effects += _change(own, fulfilled) + Effects(writes=(DeleteCallbacks(own.id),))
    if concern.callbacks:
        effects += Effects(writes=(ReadyCallbacks(promise.id),))
        waiting = {c.awaiter for c in concern.callbacks if not c.ready}
        for awaiter in concern.awaiters:
            if awaiter.id in waiting and awaiter.state is TaskState.SUSPENDED:
                effects += _offered(awaiter, awaiter, now, retryTimeout)[1]
    if concern.listeners:
        effects += Effects(
            writes=(DeleteListeners(promise.id),),
            messages=tuple(Unblock(promise.id, l.address) for l in concern.listeners),
        )
    return effects


def decideTimeout(promise, concern, now, retryTimeout=RETRY_TIMEOUT):
    """
    Time out C{promise} if it is overdue (section 8; the lazy try_timeout
    and the background sweep alike, with or without a target, DECISIONS
    27): it settles as L{resonate.model.promise.timedOut} (a timer resolves, which fulfils
    a sleep's task and wakes the sleeper), then the settlement chain runs.
    409 with no effects when it is not overdue.
    """
    if not isOverdue(promise, now):
        return TaskDecision(HTTPStatus.CONFLICT, "Promise is not overdue", promise=promise)
    settled = timedOut(promise)
    effects = Effects(writes=(Update(settled),)) + settlementChain(
        settled, concern, now, retryTimeout
    )
    return TaskDecision(HTTPStatus.OK, promise=settled, effects=effects)


# Registrations.


def decideRegisterCallback(awaited, awaiter, awaiterTask, now, retryTimeout=RETRY_TIMEOUT):
    """
    C{promise.register_callback} (section 7.4), after the adapter's 400s.

      - no awaited promise: 404; no awaiter promise, or it has no task: 422
      - both pending: a (not ready) callback
      - awaited settled, awaiter pending: a C{SUSPENDED} awaiter task is
        woken (pending, retry timer, C{execute}); then, if it is C{PENDING}
        or C{ACQUIRED}, a I{ready} callback counts a resume (section 20:
        SQL)
      - 200 with the awaited promise
    """
    if awaited is None:
        return _error(HTTPStatus.NOT_FOUND, PROMISE_NOT_FOUND)
    if awaiter is None or awaiterTask is None or TARGET_TAG not in awaiter.tags:
        return _error(HTTPStatus.UNPROCESSABLE_ENTITY, "Awaiter has no task")
    answer = TaskDecision(HTTPStatus.OK, promise=awaited)
    if awaiter.state is not State.PENDING:
        return answer
    if awaited.state is State.PENDING:
        callback = Callback(awaited.id, awaiter.id)
        return replace(answer, effects=Effects(writes=(InsertCallback(callback),)))
    task, effects = awaiterTask, Effects()
    if task.state is TaskState.SUSPENDED:
        task, effects = _offered(task, task, now, retryTimeout)
    if task.state in (TaskState.PENDING, TaskState.ACQUIRED):
        callback = Callback(awaited.id, awaiter.id, ready=True)
        effects += Effects(writes=(InsertCallback(callback),))
    return replace(answer, effects=effects)


def decideRegisterListener(promise, address):
    """
    C{promise.register_listener} (section 7.5): 404 without the promise;
    a pending one gets the listener (set semantics); 200 with the promise,
    settled or not.
    """
    if promise is None:
        return _error(HTTPStatus.NOT_FOUND, PROMISE_NOT_FOUND)
    if promise.state is not State.PENDING:
        return TaskDecision(HTTPStatus.OK, promise=promise)
    effects = Effects(writes=(InsertListener(Listener(promise.id, address)),))
    return TaskDecision(HTTPStatus.OK, promise=promise, effects=effects)


# Preload.


def branchOf(promise):
    """
    The branch whose promises a preload of C{promise} lists, or L{None}
    when it has no C{resonate:branch} tag (then the preload is empty).
    """
    return None if promise is None else promise.tags.get(BRANCH_TAG)


def selectPreload(promise, candidates, now):
    """
    The preload of a task's promise (section 9.5): every promise of its
    branch but itself, ordered by id, each as of C{now} (an overdue one
    timed out, DECISIONS 27).

    @param candidates: promises the store found for L{branchOf}; any not of
        the branch are dropped.
    @return: a tuple of promises.
    """
    branch = branchOf(promise)
    if branch is None:
        return ()
    chosen = [
        asOf(p, now)
        for p in candidates
        if p.id != promise.id and p.tags.get(BRANCH_TAG) == branch
    ]
    return tuple(sorted(chosen, key=lambda p: p.id))
