# -*- test-case-name: tests.unit.test_store_memory -*-
"""
Transaction scripts shared by every store.

A script is a generator: it yields row operations (L{RowOp}s: "read this
promise", "insert this one") and receives their results, so the same
read-decide-write sequence drives a synchronous store (L{runSync}: memory,
SQLite in its own thread) and an asynchronous one (L{runAsync}: PostgreSQL
over txpostgres).  The rows object a driver is given provides
L{resonate.interfaces.IPromiseRows}, with plain or Deferred-returning
methods.

A conditional write that finds the row changed under it (possible where
several writers share a database) restarts the script from the read.
"""

from dataclasses import dataclass

from resonate.errors import StoreFailure
from resonate.model.lock import AcquireLock, InsertLock, ReplaceLock, decideAcquire
from resonate.model.task import (
    checkClaim,
    checkComplete,
    claimed,
    completed,
    dispatched,
    newTask,
)
from resonate.model.tasks2026 import (
    RETRY_TIMEOUT,
    TARGET_TAG,
    Concern,
    DeleteCallbacks,
    DeleteListeners,
    DeleteReadyCallbacks,
    InsertCallback,
    InsertListener,
    InsertTask,
    ReadyCallbacks,
    UpdateTask,
    settlementChain,
)
from resonate.model.tasks2026 import newTask as newTask2026
from resonate.model.tasks2026 import scheduledPromise
from resonate.status import Status
from resonate.model.schedule import (
    INVOCATION_TAG,
    decideCreateSchedule,
    fire,
    schedulePageOf,
)
from resonate.model.promise import (
    CompletePromise,
    Insert,
    Update,
    decideComplete,
    decideCreate,
    decideRead,
    pageOf,
    timedOut,
)

#: How often a script may find its row changed before giving up.
MAX_ATTEMPTS = 16


@dataclass(frozen=True)
class RowOp:
    """
    One operation a script asks of the rows: the name of an
    L{resonate.interfaces.IPromiseRows} method and its arguments.
    """

    method: str
    args: tuple


def _op(method, *args):
    return RowOp(method, args)


def runSync(rows, script):
    """
    Drive C{script} over C{rows} whose methods return plain results.

    @return: what the script returns.
    """
    try:
        op = next(script)
        while True:
            op = script.send(getattr(rows, op.method)(*op.args))
    except StopIteration as stop:
        return stop.value


async def runAsync(rows, script):
    """
    Drive C{script} over C{rows} whose methods return C{Deferred}s (or
    awaitables).

    @return: a coroutine producing what the script returns.
    """
    try:
        op = next(script)
        while True:
            op = script.send(await getattr(rows, op.method)(*op.args))
    except StopIteration as stop:
        return stop.value


def _applyWrite(write, now, retryTimeout=RETRY_TIMEOUT):
    """
    Carry out a decision's write.  An L{Update} settles a pending promise
    (the only change a stored promise undergoes), so its settlement chain
    follows in the same transaction (L{settle}).

    @return: (through the driver) C{True} when the write happened, or there
        was none; C{False} when its condition no longer held.
    """
    if write is None:
        return True
    if isinstance(write, Insert):
        return (yield _op("insertPromise", write.promise))
    if isinstance(write, Update):
        if not (yield _op("updatePromise", write.promise)):
            return False
        yield from settle(write.promise, now, retryTimeout)
        return True
    raise TypeError(f"unknown write {write!r}")


def _decideAndWrite(promiseId, decide, now, retryTimeout=RETRY_TIMEOUT):
    for _ in range(MAX_ATTEMPTS):
        decision = decide((yield _op("readPromise", promiseId)))
        if (yield from _applyWrite(decision.write, now, retryTimeout)):
            return decision
    raise StoreFailure(f"promise {promiseId!r} kept changing; gave up")


class WriteConflict(StoreFailure):
    """
    A conditional write of L{applyEffects} was refused after earlier writes
    of the same decision were made: the rows changed under the script in a
    way its reads should have prevented.  A L{StoreFailure}, so the store
    rolls the whole transaction back and the request fails (5002).
    """


#: How each 2026 write is made: the row operation and its arguments, and
#: whether its result is a condition (a refusal means the row changed since
#: it was read) rather than a count or an insert-if-absent.
_WRITES_2026 = {
    Insert: (lambda w: ("insertPromise", w.promise), True),
    Update: (lambda w: ("updatePromise", w.promise), True),
    InsertTask: (lambda w: ("insertTask2026", w.task), True),
    UpdateTask: (lambda w: ("updateTask2026", w.previous, w.task), True),
    InsertCallback: (lambda w: ("insertCallback", w.callback), False),
    ReadyCallbacks: (lambda w: ("readyCallbacks", w.awaited), False),
    DeleteReadyCallbacks: (lambda w: ("deleteReadyCallbacks", w.awaiter), False),
    DeleteCallbacks: (lambda w: ("deleteCallbacks", w.awaiter), False),
    InsertListener: (lambda w: ("insertListener", w.listener), False),
    DeleteListeners: (lambda w: ("deleteListeners", w.promiseId), False),
}


def applyEffects(effects, now):
    """
    Carry out a 2026 decision's L{Effects <resonate.model.tasks2026.Effects>}
    through the row operations of L{resonate.interfaces.IPromiseRows} and
    L{resonate.interfaces.ITask2026Rows}: its writes in order, then its
    messages added to the outbox at C{now}.  Its timer changes are already
    in the tasks' C{timeoutAt}, which is the stores' one timer column.

    Run it inside one transaction (on PostgreSQL, C{inTransaction}), after
    reading the rows the decision was made from (a task read in a
    transaction is locked there).  When the first write is a conditional
    one (a promise or task insert or update) and it is refused, nothing has
    been written and L{applyEffects} returns C{False}: the script reads
    again and decides again.  A refusal after other writes raises
    L{WriteConflict}, so that the store rolls them back.

    @return: (through the driver) C{True} when everything was written,
        C{False} when the first write was refused.
    @raise WriteConflict: a later conditional write was refused.
    """
    for index, write in enumerate(effects.writes):
        try:
            operation, conditional = _WRITES_2026[type(write)]
        except KeyError:
            raise TypeError(f"unknown write {write!r}")
        method, *args = operation(write)
        done = yield RowOp(method, tuple(args))
        if conditional and not done:
            if index == 0:
                return False
            raise WriteConflict(
                f"{method} refused after {index} writes of the same decision"
            )
    for message in effects.messages:
        yield RowOp("insertOutbox", (message, now))
    return True


def applyFollowing(effects, now):
    """
    L{applyEffects} for effects that follow a write this transaction has
    already made: a refusal of their first write is a L{WriteConflict}
    too, so the store rolls the transaction back.
    """
    if not (yield from applyEffects(effects, now)):
        raise WriteConflict("a write following the decision's first was refused")


#: L{concern}'s task not read yet.
_UNREAD = object()


def concern(promise, task=_UNREAD):
    """
    Read the L{Concern <resonate.model.tasks2026.Concern>} of a promise
    that is settling: its 2026 task, its callbacks, the tasks of their
    waiting awaiters and its listeners.  Only a promise with a
    C{resonate:target} tag has a task (tags never change), so the v0.5
    promises most settlements are cost one read less.

    @param task: the promise's task when the caller has read it already
        in this transaction (L{None} for none), so it is not read twice.
    """
    promiseId = promise.id
    if task is _UNREAD:
        task = None
        if TARGET_TAG in promise.tags:
            task = yield _op("readTask2026", promiseId)
    callbacks = tuple((yield _op("callbacksOf", promiseId)))
    awaiters = []
    for callback in callbacks:
        if not callback.ready:
            awaiter = yield _op("readTask2026", callback.awaiter)
            if awaiter is not None:
                awaiters.append(awaiter)
    listeners = tuple((yield _op("listenersOf", promiseId)))
    return Concern(task, callbacks, tuple(awaiters), listeners)


def settle(settled, now, retryTimeout=RETRY_TIMEOUT):
    """
    Run the settlement chain (protocol-2026.md section 9.4) of a promise
    whose settlement this transaction has just written: fulfil its 2026
    task, wake the tasks awaiting it, unblock its listeners.  Every v0.5
    completion and timeout runs it, so that a promise is one record
    whichever protocol settles it (DECISIONS 23).
    """
    effects = settlementChain(settled, (yield from concern(settled)), now, retryTimeout)
    if effects.writes or effects.messages:
        yield from applyFollowing(effects, now)


def ping():
    """
    Check that the rows answer: one C{ping} row op, which each store makes
    its cheapest read (for L{resonate.interfaces.IStore.ping}).
    """
    yield _op("ping")


def readPromise(promiseId, now, retryTimeout=RETRY_TIMEOUT):
    """
    Read a promise, timing it out if it is due.
    """
    return _decideAndWrite(promiseId, lambda p: decideRead(p, now), now, retryTimeout)


def createPromise(request, now, retryTimeout=RETRY_TIMEOUT):
    """
    Create a promise or deduplicate the request.

    Most creates are of new ids, so the insert is tried first: a new
    promise costs one statement instead of a read and an insert.  Only
    when the id exists is it read and the state machine asked again.
    """
    fresh = decideCreate(None, request, now)
    for _ in range(MAX_ATTEMPTS):
        if (yield from _applyWrite(fresh.write, now, retryTimeout)):
            return fresh
        existing = yield _op("readPromise", request.id)
        if existing is None:
            # Gone again between the two statements: only possible if
            # rows can be deleted; try the insert once more.
            continue
        decision = decideCreate(existing, request, now)
        if (yield from _applyWrite(decision.write, now, retryTimeout)):
            return decision
    raise StoreFailure(f"promise {request.id!r} kept changing; gave up")


def completePromise(request, now, retryTimeout=RETRY_TIMEOUT):
    """
    Complete a promise or deduplicate the request; a completion runs the
    settlement chain.
    """
    return _decideAndWrite(
        request.id, lambda p: decideComplete(p, request, now), now, retryTimeout
    )


def timeoutPromises(now, limit, retryTimeout=RETRY_TIMEOUT):
    """
    Time out overdue promises, at most C{limit} of them (all when L{None}),
    each with its settlement chain.

    @return: how many were timed out.
    """
    count = 0
    for promise in (yield _op("overduePromises", now, limit)):
        if (yield from _applyWrite(Update(timedOut(promise)), now, retryTimeout)):
            count += 1
    return count


def searchPromises(query, now):
    """
    Search one page, reading each promise as it is at C{now}: the rows are
    selected by the states they are in at C{now}, and an overdue promise on
    the page is answered timed out without being written (the sweep and the
    next request on its id write that).  So no search returns a promise
    pending past its timeout, and none costs more than its page, however
    many promises are overdue.
    """
    return pageOf(query, (yield _op("searchPromises", query, now)), now)


def acquireLock(request, now):
    """
    Acquire a lock, re-entrantly for its holder, or take over an expired
    one.

    @return: a L{resonate.model.lock.LockDecision}.
    """
    for _ in range(MAX_ATTEMPTS):
        existing = yield _op("readLock", request.resourceId)
        decision = decideAcquire(existing, request, now)
        write = decision.write
        if write is None:
            return decision
        if isinstance(write, InsertLock):
            done = yield _op("insertLock", write.lock)
        elif isinstance(write, ReplaceLock):
            done = yield _op("replaceLock", write.previous, write.lock)
        else:
            raise TypeError(f"unknown write {write!r}")
        if done:
            return decision
    raise StoreFailure(f"lock {request.resourceId!r} kept changing; gave up")


def releaseLock(request, now):
    """
    Release a lock: only the execution holding it may (expired or not).

    @return: C{True} if a lock was released.
    """
    return (
        yield _op("deleteLock", request.resourceId, request.executionId)
    )


def heartbeatLocks(processId, now):
    """
    Extend every lock C{processId} holds by one lease from C{now}.

    @return: how many locks were extended.
    """
    return (yield _op("heartbeatLocks", processId, now))


def timeoutLocks(now, limit):
    """
    Delete at most C{limit} expired locks.

    @return: how many were deleted.
    """
    return (yield _op("deleteExpiredLocks", now, limit))


def createSchedule(request, now):
    """
    Create a schedule or deduplicate the request.

    @return: a L{resonate.model.schedule.ScheduleDecision}.
    """
    for _ in range(MAX_ATTEMPTS):
        existing = yield _op("readSchedule", request.id)
        decision = decideCreateSchedule(existing, request, now)
        if not decision.insert or (
            yield _op("insertSchedule", decision.schedule)
        ):
            return decision
    raise StoreFailure(f"schedule {request.id!r} kept changing; gave up")


def readSchedule(scheduleId, now):
    """
    Read a schedule.
    """
    return (yield _op("readSchedule", scheduleId))


def deleteSchedule(scheduleId, now):
    """
    Delete a schedule.

    @return: C{True} if it existed.
    """
    return (yield _op("deleteSchedule", scheduleId))


def searchSchedules(query, now):
    """
    Search schedules, newest first.
    """
    return schedulePageOf(query, (yield _op("searchSchedules", query)))


def fireSchedules(now, limit, isRouted=None, retryTimeout=RETRY_TIMEOUT):
    """
    Fire at most C{limit} due slots.  Advancing a schedule is conditional on
    the slot it fires, so of several transactions that read one due slot
    only one fires it; its promise is inserted only if absent, and when
    C{isRouted(promiseId)} says a route matches it, its task with it
    (DECISIONS 13a: schedules pair with tasks).  A promise whose tags carry
    a C{resonate:target} gets its 2026 task and C{execute} instead
    (protocol-2026.md section 12).

    @return: how many slots were fired.
    """
    fired = 0
    while fired < limit:
        due = yield _op("dueSchedules", now, limit - fired)
        before = fired
        for schedule in due:
            promise, advanced = fire(schedule, now)
            promise = scheduledPromise(promise, INVOCATION_TAG)
            if (yield _op("advanceSchedule", schedule, advanced)):
                inserted = yield _op("insertPromise", promise)
                task, effects = newTask2026(promise, now, retryTimeout)
                if inserted and task is not None:
                    yield from applyFollowing(effects, now)
                elif inserted and isRouted is not None and isRouted(promise.id):
                    yield _op("insertTask", newTask(promise))
                fired += 1
        if fired == before:
            # Nothing due, or every due slot fired elsewhere meanwhile.
            break
    return fired


def nextRunTime():
    """
    When the next slot of any schedule is due.
    """
    return (yield _op("earliestRunTime"))


def createPromiseAndTask(request, now, retryTimeout=RETRY_TIMEOUT):
    """
    Create a routed promise and, if it is new, its task.
    """
    decision = yield from createPromise(request, now, retryTimeout)
    if decision.status is Status.CREATED:
        yield _op("insertTask", newTask(decision.promise))
    return decision


def _writeLock(write):
    if isinstance(write, InsertLock):
        return (yield _op("insertLock", write.lock))
    if isinstance(write, ReplaceLock):
        return (yield _op("replaceLock", write.previous, write.lock))
    raise TypeError(f"unknown write {write!r}")


def _undoLock(write):
    """
    Put back what L{_writeLock} replaced: delete the lock it inserted, or
    restore the one it replaced (each conditional on the row being still
    what it wrote).
    """
    if isinstance(write, InsertLock):
        yield _op("deleteLock", write.lock.resourceId, write.lock.executionId)
    elif isinstance(write, ReplaceLock):
        yield _op("replaceLock", write.lock, write.previous)
    else:
        raise TypeError(f"unknown write {write!r}")


def claimTask(request, now, retryTimeout=RETRY_TIMEOUT):
    """
    Claim a task: check it, take the lock on its promise for the claiming
    execution, lease the task, and answer with the promise.

    @return: C{(status, promise or None)}.
    """
    for _ in range(MAX_ATTEMPTS):
        task = yield _op("readTask", request.taskId)
        error = checkClaim(task, request, now)
        if error is not None:
            return error, None
        lock = decideAcquire(
            (yield _op("readLock", task.promiseId)),
            AcquireLock(
                resourceId=task.promiseId,
                processId=request.processId,
                executionId=request.executionId,
                expiryInMilliseconds=request.expiryInMilliseconds,
            ),
            now,
        )
        if lock.status.isError:
            return lock.status, None
        if not (yield from _writeLock(lock.write)):
            continue
        if not (yield _op("updateTask", task, claimed(task, request, now))):
            # The task changed since it was read (offered again, say): the
            # next attempt may answer an error, so give back the lock this
            # one took first.
            yield from _undoLock(lock.write)
            continue
        promise = yield from readPromise(task.promiseId, now, retryTimeout)
        return Status.OK, promise.promise
    raise StoreFailure(f"task {request.taskId!r} kept changing; gave up")


def completeTask(request, now, retryTimeout=RETRY_TIMEOUT):
    """
    Complete a task: check it, complete its promise, release the lock and
    mark the task completed.  A promise completed (or timed out) elsewhere
    answers C{TASK_ALREADY_COMPLETED}, not a crash (DECISIONS 3).

    Everything is checked before anything is written, so an answer other
    than C{OK} changes nothing but a due timeout.  (Stores serialise
    completions of one task: one writer, or the task row locked.)

    @return: a L{Status}.
    """
    for _ in range(MAX_ATTEMPTS):
        task = yield _op("readTask", request.taskId)
        error = checkComplete(task, request, now)
        if error is not None:
            return error
        decision = decideComplete(
            (yield _op("readPromise", task.promiseId)),
            CompletePromise(
                id=task.promiseId, state=request.state, value=request.value
            ),
            now,
        )
        if decision.status is not Status.CREATED:
            yield from _applyWrite(decision.write, now, retryTimeout)
            return Status.TASK_ALREADY_COMPLETED
        if not (yield _op("updateTask", task, completed(task, now))):
            continue
        if not (yield from _applyWrite(decision.write, now, retryTimeout)):
            raise StoreFailure(
                f"promise {task.promiseId!r} changed while its task completed"
            )
        yield _op("deleteLock", task.promiseId, request.executionId)
        return Status.OK
    raise StoreFailure(f"task {request.taskId!r} kept changing; gave up")


def dispatchTasks(now, limit, claimWindow):
    """
    Offer at most C{limit} dispatchable tasks: each gets a new counter and
    a claim window from now.  A task whose promise is already completed is
    marked completed instead.

    @return: the tasks offered, to push.
    """
    offered = []
    for task in (yield _op("dispatchableTasks", now, limit)):
        promise = yield _op("readPromise", task.promiseId)
        if promise is None or promise.state.isTerminal:
            # Its promise was completed directly: there is nothing left to
            # do, so stop offering it (v0.5 offered it until the timeout).
            yield _op("updateTask", task, completed(task, now))
            continue
        offer = dispatched(task, now, claimWindow)
        if (yield _op("updateTask", task, offer)):
            offered.append(offer)
    return offered


class ScriptedStore:
    """
    The request methods of L{resonate.interfaces.IStore}, each one call of
    L{runScript} with its shared script: a store built on these scripts
    subclasses this and defines only C{runScript} (one transaction around
    L{runSync} or L{runAsync}), C{close} and anything it does differently.

    Not for the SQL stores, which route reads and writes differently.
    """

    def runScript(self, script, *args):
        """
        Run C{script(*args)} as one transaction.

        @return: a C{Deferred} firing, on the reactor thread, with what the
            script returns once what it wrote is durable, or failing once
            everything it wrote is undone.
        """
        raise NotImplementedError(f"{type(self).__name__} must define runScript()")

    def readPromise(self, promiseId, now, retryTimeout=RETRY_TIMEOUT):
        return self.runScript(readPromise, promiseId, now, retryTimeout)

    def createPromise(self, request, now, retryTimeout=RETRY_TIMEOUT):
        return self.runScript(createPromise, request, now, retryTimeout)

    def completePromise(self, request, now, retryTimeout=RETRY_TIMEOUT):
        return self.runScript(completePromise, request, now, retryTimeout)

    def searchPromises(self, query, now):
        return self.runScript(searchPromises, query, now)

    def timeoutPromises(self, now, limit, retryTimeout=RETRY_TIMEOUT):
        return self.runScript(timeoutPromises, now, limit, retryTimeout)

    def createSchedule(self, request, now):
        return self.runScript(createSchedule, request, now)

    def readSchedule(self, scheduleId, now):
        return self.runScript(readSchedule, scheduleId, now)

    def deleteSchedule(self, scheduleId, now):
        return self.runScript(deleteSchedule, scheduleId, now)

    def searchSchedules(self, query, now):
        return self.runScript(searchSchedules, query, now)

    def fireSchedules(self, now, limit, isRouted=None, retryTimeout=RETRY_TIMEOUT):
        return self.runScript(fireSchedules, now, limit, isRouted, retryTimeout)

    def nextRunTime(self):
        return self.runScript(nextRunTime)

    def acquireLock(self, request, now):
        return self.runScript(acquireLock, request, now)

    def releaseLock(self, request, now):
        return self.runScript(releaseLock, request, now)

    def heartbeatLocks(self, processId, now):
        return self.runScript(heartbeatLocks, processId, now)

    def timeoutLocks(self, now, limit):
        return self.runScript(timeoutLocks, now, limit)

    def createPromiseAndTask(self, request, now, retryTimeout=RETRY_TIMEOUT):
        return self.runScript(createPromiseAndTask, request, now, retryTimeout)

    def claimTask(self, request, now, retryTimeout=RETRY_TIMEOUT):
        return self.runScript(claimTask, request, now, retryTimeout)

    def completeTask(self, request, now, retryTimeout=RETRY_TIMEOUT):
        return self.runScript(completeTask, request, now, retryTimeout)

    def dispatchTasks(self, now, limit, claimWindow):
        return self.runScript(dispatchTasks, now, limit, claimWindow)

    def ping(self):
        return self.runScript(ping)

    def handle2026(self, request, now, retryTimeout=RETRY_TIMEOUT):
        from resonate.store import scripts2026

        return self.runScript(scripts2026.handle, request, now, retryTimeout)

    def expireTasks2026(self, now, limit, retryTimeout=RETRY_TIMEOUT):
        from resonate.store import scripts2026

        return self.runScript(scripts2026.expireTasks, now, limit, retryTimeout)

    def takeMessages(self, now, limit, route, lease):
        from resonate.store import scripts2026

        return self.runScript(scripts2026.takeMessages, now, limit, route, lease)

    def settleMessages(self, delivered, failed):
        from resonate.store import scripts2026

        return self.runScript(scripts2026.settleMessages, delivered, failed)

    def dropExpiredMessages(self, createdBefore, limit):
        from resonate.store import scripts2026

        return self.runScript(scripts2026.dropExpiredMessages, createdBefore, limit)
