# -*- test-case-name: tests.unit.test_store_memory -*-
"""
Transaction scripts of the 2026 protocol, shared by every store.

Like L{resonate.store.scripts}, each script is a generator of
L{RowOp}s over the rows of L{resonate.interfaces.IPromiseRows},
L{resonate.interfaces.IScheduleRows} and
L{resonate.interfaces.ITask2026Rows}, driven by the store in one
transaction with one C{now}: it reads the rows a decision needs, asks the
pure state machine of L{resonate.model.tasks2026} for the decision, and
writes its L{Effects <resonate.model.tasks2026.Effects>} with
L{applyEffects}.  A decision whose first conditional write is refused (the
rows changed since they were read: another process) is read and decided
again.

L{handle} answers one C{POST /} request (a value of
L{resonate.model.requests2026}) with a L{Reply}; L{expireTasks} is the
background work of task timers.  The settlement chain every settlement
runs, whichever protocol causes it (DECISIONS 23), is
L{resonate.store.scripts.settle}, which the v0.5 scripts run too.

Every operation first times out the promises it names that are overdue
(section 7's try_timeout), with their settlement chains, in the same
transaction (L{current}).
"""

from dataclasses import replace
from http import HTTPStatus

from resonate.errors import StoreFailure
from resonate.model.promise import Insert, State, Update, asOf, isOverdue
from resonate.model.requests2026 import (
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
    TaskView,
)
from resonate.model.promise import CreatePromise
from resonate.model.schedule import CreateSchedule, decideCreateSchedule
from resonate.model.tasks2026 import (
    PROMISE_NOT_FOUND,
    RETRY_TIMEOUT,
    TASK_NOT_FOUND,
    AcquireTask,
    Concern,
    CreateTask,
    Effects,
    FulfillTask,
    HeartbeatTasks,
    SuspendTask,
    Unblock,
    branchOf,
    decideAcquire,
    decideContinue,
    decideCreateTask,
    decideFence,
    decideFulfill,
    decideHalt,
    decideHeartbeat,
    decideRegisterCallback,
    decideRegisterListener,
    decideRelease,
    decideSuspend,
    decideTimeout,
    decideTimerExpiry,
    newPromise,
    newTask,
    resumes,
    selectPreload,
    settlementChain,
)
from resonate.store import scriptsadmin
from resonate.store.scripts import (
    MAX_ATTEMPTS,
    RowOp,
    applyEffects,
    applyFollowing,
    concern,
)

SCHEDULE_NOT_FOUND = "Schedule not found"

#: The page a snapshot reads its promises and tasks in.
_SNAPSHOT_PAGE = 1000

#: Later than any timer: a snapshot lists every outbox entry.
_END_OF_TIME = 2**63 - 1


def _op(method, *args):
    return RowOp(method, args)


def _gaveUp(what):
    return StoreFailure(f"{what} kept changing; gave up")


# Reads shared by the operations.


def current(promiseId, now, retryTimeout=RETRY_TIMEOUT):
    """
    try_timeout: read a promise and, if it is overdue, time it out with its
    settlement chain.

    @return: the promise as it now is, or L{None}.
    """
    for _ in range(MAX_ATTEMPTS):
        promise = yield _op("readPromise", promiseId)
        if promise is None or not isOverdue(promise, now):
            return promise
        decision = decideTimeout(promise, (yield from concern(promise)), now, retryTimeout)
        if (yield from applyEffects(decision.effects, now)):
            return decision.promise
    raise _gaveUp(f"promise {promiseId!r}")


def _view(task):
    """
    The L{TaskView} of C{task}: its C{resumes} read from its callbacks.
    """
    if task is None:
        return None
    return TaskView(task, resumes((yield _op("callbacksOfAwaiter", task.id))))


def _preload(promise, now):
    """
    The preload of a task's promise (section 9.5).
    """
    branch = branchOf(promise)
    if branch is None:
        return ()
    return selectPreload(promise, (yield _op("branchPromises", branch, None)), now)


def _decide(decideOnce, now, what):
    """
    Read and decide with C{decideOnce} (a generator function returning a
    L{TaskDecision <resonate.model.tasks2026.TaskDecision>}) and write its
    effects; again from the reads when its first write is refused.
    """
    for _ in range(MAX_ATTEMPTS):
        decision = yield from decideOnce()
        if (yield from applyEffects(decision.effects, now)):
            return decision
    raise _gaveUp(what)


def _failed(decision):
    return Reply(decision.status, decision.message)


def _notFound(message):
    return Reply(HTTPStatus.NOT_FOUND, message)


# Promises.


def getPromise(request, now, retryTimeout):
    promise = yield from current(request.id, now, retryTimeout)
    if promise is None:
        return _notFound(PROMISE_NOT_FOUND)
    return Reply(promise=promise)


def createPromise(request, now, retryTimeout):
    """
    C{promise.create} (section 7.2): the stored promise unchanged if the id
    exists; else the new one, with its task and C{execute} when it has a
    target.
    """
    for _ in range(MAX_ATTEMPTS):
        existing = yield from current(request.id, now, retryTimeout)
        if existing is not None:
            return Reply(promise=existing)
        promise = newPromise(request, now)
        effects = Effects(writes=(Insert(promise),)) + newTask(promise, now, retryTimeout)[1]
        if (yield from applyEffects(effects, now)):
            return Reply(promise=promise)
    raise _gaveUp(f"promise {request.id!r}")


def settlePromise(request, now, retryTimeout):
    """
    C{promise.settle} (section 7.3): a pending promise settles with the
    settlement chain; a settled one is answered unchanged.
    """

    def decideOnce():
        promise = yield from current(request.id, now, retryTimeout)
        if promise is None:
            return _Answer(_notFound(PROMISE_NOT_FOUND))
        if promise.state is not State.PENDING:
            return _Answer(Reply(promise=promise))
        settled = replace(
            promise, state=request.state, value=request.value, completedOn=now
        )
        effects = Effects(writes=(Update(settled),)) + settlementChain(
            settled, (yield from concern(promise)), now, retryTimeout
        )
        return _Answer(Reply(promise=settled), effects)

    return (yield from _decide(decideOnce, now, f"promise {request.id!r}")).reply


class _Answer:
    """
    A L{Reply} with the effects to write before it is sent (for
    L{_decide}).
    """

    def __init__(self, reply, effects=None):
        self.reply = reply
        self.effects = effects if effects is not None else Effects()


def registerCallback(request, now, retryTimeout):
    def decideOnce():
        awaited = yield from current(request.awaited, now, retryTimeout)
        awaiter = yield from current(request.awaiter, now, retryTimeout)
        task = yield _op("readTask2026", request.awaiter)
        return decideRegisterCallback(awaited, awaiter, task, now, retryTimeout)

    decision = yield from _decide(decideOnce, now, f"callback on {request.awaited!r}")
    if decision.status is not HTTPStatus.OK:
        return _failed(decision)
    return Reply(promise=decision.promise)


def registerListener(request, now, retryTimeout):
    def decideOnce():
        promise = yield from current(request.awaited, now, retryTimeout)
        return decideRegisterListener(promise, request.address)

    decision = yield from _decide(decideOnce, now, f"listener on {request.awaited!r}")
    if decision.status is not HTTPStatus.OK:
        return _failed(decision)
    return Reply(promise=decision.promise)


def _page(rows, limit, key):
    """
    Split C{limit + 1} rows into a page and its cursor (the last key of the
    page when more rows follow).
    """
    rows = list(rows)
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, key(rows[-1])
    return rows, None


def searchPromises(request, now, retryTimeout):
    """
    C{promise.search} (section 7.6): each promise as of now (DECISIONS 27),
    nothing written.
    """
    rows = yield _op(
        "promisesById", request.state, request.tags, request.cursor, request.limit + 1, now
    )
    page, cursor = _page(rows, request.limit, lambda p: p.id)
    return Reply(promises=tuple(asOf(p, now) for p in page), cursor=cursor)


# Tasks.


def getTask(request, now, retryTimeout):
    yield from current(request.id, now, retryTimeout)
    task = yield _op("readTask2026", request.id)
    if task is None:
        return _notFound(TASK_NOT_FOUND)
    return Reply(task=(yield from _view(task)))


def _acquiredReply(decision, now):
    """
    The answer of C{task.create} and C{task.acquire}: the task, its
    promise and the preload.
    """
    preload = ()
    if decision.preloadFor is not None:
        preload = yield from _preload(decision.preloadFor, now)
    return Reply(
        task=(yield from _view(decision.task)),
        promise=decision.promise,
        preload=preload,
    )


def createTask(request, now, retryTimeout):
    def decideOnce():
        promise = yield from current(request.promise.id, now, retryTimeout)
        task = None
        if promise is not None:
            task = yield _op("readTask2026", promise.id)
        return decideCreateTask(promise, task, request, now, retryTimeout)

    decision = yield from _decide(decideOnce, now, f"task {request.promise.id!r}")
    if decision.status is not HTTPStatus.OK:
        return _failed(decision)
    return (yield from _acquiredReply(decision, now))


def acquireTask(request, now, retryTimeout):
    def decideOnce():
        promise = yield from current(request.id, now, retryTimeout)
        task = yield _op("readTask2026", request.id)
        return decideAcquire(task, promise, request, now)

    decision = yield from _decide(decideOnce, now, f"task {request.id!r}")
    if decision.status is not HTTPStatus.OK:
        return _failed(decision)
    return (yield from _acquiredReply(decision, now))


def _simple(decide):
    """
    A task operation that answers C{{}}: try_timeout the task's promise,
    read the task, C{decide(task, request, now, retryTimeout)}.
    """

    def script(request, now, retryTimeout):
        def decideOnce():
            yield from current(request.id, now, retryTimeout)
            task = yield _op("readTask2026", request.id)
            return decide(task, request, now, retryTimeout)

        decision = yield from _decide(decideOnce, now, f"task {request.id!r}")
        if decision.status is not HTTPStatus.OK:
            return _failed(decision)
        return Reply()

    return script


releaseTask = _simple(decideRelease)
haltTask = _simple(lambda task, request, now, retryTimeout: decideHalt(task))
continueTask = _simple(
    lambda task, request, now, retryTimeout: decideContinue(task, now, retryTimeout)
)


def fulfillTask(request, now, retryTimeout):
    def decideOnce():
        promise = yield from current(request.id, now, retryTimeout)
        task = yield _op("readTask2026", request.id)
        if task is None or promise is None:
            return decideFulfill(task, promise, Concern(), request, now, retryTimeout)
        return decideFulfill(
            task, promise, (yield from concern(promise, task)), request, now, retryTimeout
        )

    decision = yield from _decide(decideOnce, now, f"task {request.id!r}")
    if decision.status is not HTTPStatus.OK:
        return _failed(decision)
    return Reply(promise=decision.promise)


def suspendTask(request, now, retryTimeout):
    def decideOnce():
        promise = yield from current(request.id, now, retryTimeout)
        awaited = {}
        for promiseId in dict.fromkeys(request.awaited):
            if promiseId != request.id:
                awaited[promiseId] = yield from current(promiseId, now, retryTimeout)
        task = yield _op("readTask2026", request.id)
        return decideSuspend(task, promise, awaited, request, now)

    decision = yield from _decide(decideOnce, now, f"task {request.id!r}")
    if decision.status is HTTPStatus.MULTIPLE_CHOICES:
        return Reply(
            HTTPStatus.MULTIPLE_CHOICES,
            preload=(yield from _preload(decision.preloadFor, now)),
        )
    if decision.status is not HTTPStatus.OK:
        return _failed(decision)
    return Reply()


def fenceTask(request, now, retryTimeout):
    """
    C{task.fence} (section 7.13): the inner create or settle runs, with its
    full rules, only while the task is held at the request's version.
    """
    promise = yield from current(request.id, now, retryTimeout)
    yield from current(request.action.id, now, retryTimeout)
    task = yield _op("readTask2026", request.id)
    decision = decideFence(task, promise, request)
    if decision.status is not HTTPStatus.OK:
        return _failed(decision)
    if isinstance(request.action, CreatePromise):
        inner = yield from createPromise(request.action, now, retryTimeout)
    else:
        inner = yield from settlePromise(request.action, now, retryTimeout)
    return Reply(action=inner, preload=(yield from _preload(promise, now)))


def heartbeatTasks(request, now, retryTimeout):
    def decideOnce():
        tasks = {}
        for entry in request.tasks:
            if entry.id not in tasks:
                task = yield _op("readTask2026", entry.id)
                if task is not None:
                    tasks[entry.id] = task
        return decideHeartbeat(tasks, request, now)

    decision = yield from _decide(decideOnce, now, "heartbeat")
    if decision.status is not HTTPStatus.OK:
        return _failed(decision)
    return Reply()


def searchTasks(request, now, retryTimeout):
    rows = yield _op("tasksById", request.state, request.cursor, request.limit + 1)
    page, cursor = _page(rows, request.limit, lambda t: t.id)
    views = []
    for task in page:
        views.append((yield from _view(task)))
    return Reply(tasks=tuple(views), cursor=cursor)


# Schedules.


def createSchedule(request, now, retryTimeout):
    """
    C{schedule.create} (section 7.17): insert-if-absent; an existing id is
    answered unchanged, whatever the request says.
    """
    for _ in range(MAX_ATTEMPTS):
        existing = yield _op("readSchedule", request.id)
        if existing is not None:
            return Reply(schedule=existing)
        schedule = decideCreateSchedule(None, request, now).schedule
        if (yield _op("insertSchedule", schedule)):
            return Reply(schedule=schedule)
    raise _gaveUp(f"schedule {request.id!r}")


def getSchedule(request, now, retryTimeout):
    schedule = yield _op("readSchedule", request.id)
    if schedule is None:
        return _notFound(SCHEDULE_NOT_FOUND)
    return Reply(schedule=schedule)


def deleteSchedule(request, now, retryTimeout):
    if not (yield _op("deleteSchedule", request.id)):
        return _notFound(SCHEDULE_NOT_FOUND)
    return Reply()


def searchSchedules(request, now, retryTimeout):
    rows = yield _op("schedulesById", request.tags, request.cursor, request.limit + 1)
    page, cursor = _page(rows, request.limit, lambda s: s.id)
    return Reply(schedules=tuple(page), cursor=cursor)


# Debugging (DECISIONS 30).


def resetAll(request, now, retryTimeout):
    yield _op("deleteEverything")
    return Reply()


def _everyById(pageAfter):
    """
    Every row of a by-id read, page by page.

    @param pageAfter: makes the L{RowOp} reading the page after an id
        (L{None} for the first), L{_SNAPSHOT_PAGE} rows long.
    """
    rows, after = [], None
    while True:
        page = yield pageAfter(after)
        rows.extend(page)
        if len(page) < _SNAPSHOT_PAGE:
            return rows
        after = page[-1].id


def snapshot(request, now, retryTimeout):
    promises = yield from _everyById(
        lambda after: _op("promisesById", None, {}, after, _SNAPSHOT_PAGE, now)
    )
    tasks = yield from _everyById(
        lambda after: _op("tasksById", None, after, _SNAPSHOT_PAGE)
    )
    views = []
    for task in tasks:
        views.append((yield from _view(task)))
    return Reply(
        promises=tuple(promises),
        tasks=tuple(views),
        callbacks=tuple((yield _op("allCallbacks"))),
        listeners=tuple((yield _op("allListeners"))),
        messages=tuple((yield _op("dueOutbox", _END_OF_TIME, None))),
    )


_SCRIPTS = {
    GetPromise: getPromise,
    CreatePromise: createPromise,
    SettlePromise: settlePromise,
    RegisterCallback: registerCallback,
    RegisterListener: registerListener,
    SearchPromises: searchPromises,
    GetTask: getTask,
    CreateTask: createTask,
    AcquireTask: acquireTask,
    ReleaseTask: releaseTask,
    FulfillTask: fulfillTask,
    SuspendTask: suspendTask,
    FenceTask: fenceTask,
    HeartbeatTasks: heartbeatTasks,
    HaltTask: haltTask,
    ContinueTask: continueTask,
    SearchTasks: searchTasks,
    CreateSchedule: createSchedule,
    GetSchedule: getSchedule,
    DeleteSchedule: deleteSchedule,
    SearchSchedules: searchSchedules,
    ResetAll: resetAll,
    Snapshot: snapshot,
}


def handle(request, now, retryTimeout=RETRY_TIMEOUT):
    """
    Answer one 2026 request (a value of L{resonate.model.requests2026}, or
    the shared request values it names), or one of the server's own
    (L{resonate.model.requestsadmin}, by L{resonate.store.scriptsadmin}),
    at C{now}.

    @param retryTimeout: how long a task offered by this request waits
        before its C{execute} is sent again (ms; C{tasks.retryTimeout}).
    @return: (through the driver) a L{Reply}.
    @raise TypeError: C{request} is of no 2026 kind.
    """
    # The server's own requests (no protocol kind) run here too, so that
    # every store answers them through the one entry point it has.
    script = _SCRIPTS.get(type(request)) or scriptsadmin.SCRIPTS.get(type(request))
    if script is None:
        raise TypeError(f"not a 2026 request: {request!r}")
    return (yield from script(request, now, retryTimeout))


# Background work.


def expireTasks(now, limit, retryTimeout=RETRY_TIMEOUT):
    """
    Act on at most C{limit} due task timers (section 9.2): a retry re-sends
    the C{execute} and re-arms; a lease's end makes the task pending again
    with an C{execute}.  A timer renewed or a task moved on since the due
    rows were read is skipped.

    @return: how many timers were acted on.
    """
    count = 0
    for task in (yield _op("dueTasks2026", now, limit)):
        decision = decideTimerExpiry(task, now, retryTimeout)
        if decision.status is HTTPStatus.OK and (
            yield from applyEffects(decision.effects, now)
        ):
            count += 1
    return count


def timeoutPromise(promise, now, retryTimeout=RETRY_TIMEOUT):
    """
    Time out one overdue promise the sweep found, with its settlement
    chain.

    @return: C{True} if it was timed out here (not meanwhile elsewhere).
    """
    decision = decideTimeout(promise, (yield from concern(promise)), now, retryTimeout)
    if decision.status is not HTTPStatus.OK:
        return False
    return (yield from applyEffects(decision.effects, now))


def newScheduledTask(promise, now, retryTimeout=RETRY_TIMEOUT):
    """
    The task of a promise a schedule fired, when its tags carry a
    C{resonate:target} (section 12): written after the promise is inserted.
    """
    task, effects = newTask(promise, now, retryTimeout)
    if task is not None:
        yield from applyFollowing(effects, now)


# Delivery of the outbox (DECISIONS 29).


def takeMessages(now, limit, route, lease):
    """
    Take at most C{limit} due outbox messages this process can deliver
    (C{route}, a L{resonate.model.outbox.Route}): each is counted as an
    attempt and not due again before C{now + lease}, so that no other
    process takes it while this one sends it, and one that crashes meanwhile
    leaves it to be sent again after the lease.  An C{unblock} is taken with
    its promise as of now, which it carries.

    @return: a list of C{(entry, promise or None)}.
    """
    if route.isEmpty:
        return []
    taken = []
    for entry in (
        yield _op(
            "dueOutboxFor", now, limit, route.addresses, route.prefixes, route.push
        )
    ):
        yield _op("deferOutbox", entry.id, entry.attempts + 1, now + lease)
        promise = None
        if isinstance(entry.message, Unblock):
            promise = yield _op("readPromise", entry.message.promiseId)
            if promise is None:
                # Gone (debug.reset): nothing left to tell.
                yield _op("deleteOutbox", entry.id)
                continue
            promise = asOf(promise, now)
        taken.append((entry, promise))
    return taken


def settleMessages(delivered, failed):
    """
    Settle the messages of one look at once: the delivered ones leave the
    outbox, the failed ones are tried again later.

    @param delivered: the entry ids delivered.
    @param failed: C{(entryId, attempts, nextAttemptAt)} of each failed
        one.
    """
    for entryId in delivered:
        yield _op("deleteOutbox", entryId)
    for entryId, attempts, nextAttemptAt in failed:
        yield _op("deferOutbox", entryId, attempts, nextAttemptAt)


def dropExpiredMessages(createdBefore, limit):
    """
    Drop at most C{limit} messages created at or before C{createdBefore}:
    their address had no connection, or their pushes failed, for as long as
    a message may wait.

    @return: the entries dropped, to count.
    """
    dropped = []
    for entry in (yield _op("expiredOutbox", createdBefore, limit)):
        if (yield _op("deleteOutbox", entry.id)):
            dropped.append(entry)
    return dropped
