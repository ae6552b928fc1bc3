# -*- test-case-name: tests.unit.test_store_memory -*-
"""
Transaction scripts of the server's own requests
(L{resonate.model.requestsadmin}): the console's reads and the collection
of old settled promises.

Like the 2026 scripts, each is a generator of L{RowOp}s that a store runs
in one transaction (L{resonate.store.scripts2026.handle} dispatches here),
over the rows of L{resonate.interfaces.IAdminRows} beside the others.
"""

from resonate.model.ids import ORIGIN_TAG
from resonate.model.requests2026 import TaskView
from resonate.model.requestsadmin import (
    CollectGarbage,
    GarbageReply,
    ListLocks,
    ListTasks05,
    LocksReply,
    PromiseRelations,
    RelationsReply,
    Tasks05Reply,
)
from resonate.model.tasks2026 import TaskState, resumes
from resonate.store import scripts2026
from resonate.store.scripts import RowOp


def _op(method, *args):
    return RowOp(method, args)


def listLocks(request, now, retryTimeout):
    return LocksReply(tuple((yield _op("locksById", request.afterId, request.limit))))


def listTasks05(request, now, retryTimeout):
    return Tasks05Reply(
        tuple((yield _op("tasks05ById", request.afterId, request.limit)))
    )


def promiseRelations(request, now, retryTimeout):
    promiseId = request.promiseId
    # As task.get: an overdue promise is timed out first, so that its task
    # is shown as the timeout leaves it.
    yield from scripts2026.current(promiseId, now, retryTimeout)
    task = yield _op("readTask2026", promiseId)
    awaiting = yield _op("callbacksOfAwaiter", promiseId)
    return RelationsReply(
        task=None if task is None else TaskView(task, resumes(awaiting)),
        tasks05=tuple((yield _op("tasks05Of", promiseId))),
        awaiters=tuple(c.awaiter for c in (yield _op("callbacksOf", promiseId))),
        awaiting=tuple(c.awaited for c in awaiting),
        listeners=tuple(l.address for l in (yield _op("listenersOf", promiseId))),
    )


class _Candidate:
    """
    A settled promise read for collection, with what decides whether it
    may go: the ids of the promises that must not be pending.
    """

    def __init__(self, promise, task, tasks05, callbacks):
        self.promise = promise
        self.task = task
        self.tasks05 = tasks05
        self.callbacks = callbacks
        #: Its awaiters (a pending one still waits for it) and its workflow's
        #: root (a pending root may read it again).
        self.needs = {c.awaiter for c in callbacks}
        root = promise.tags.get(ORIGIN_TAG)
        if root is not None and root != promise.id:
            self.needs.add(root)

    def finished(self):
        """
        Whether its tasks are done: a 2026 task fulfilled (halted may be
        continued), every v0.5 task completed.
        """
        if self.task is not None and self.task.state is not TaskState.FULFILLED:
            return False
        return all(t.isCompleted for t in self.tasks05)


def _candidate(promise):
    promiseId = promise.id
    return _Candidate(
        promise,
        (yield _op("readTask2026", promiseId)),
        (yield _op("tasks05Of", promiseId)),
        (yield _op("callbacksOf", promiseId)),
    )


def collectGarbage(request, now, retryTimeout):
    """
    Delete (unless dry) the settled promises of L{CollectGarbage} that
    nothing may need any more, with their 2026 task, v0.5 tasks, callbacks
    (as awaited and as awaiter), listeners and outbox messages.

    A candidate is kept while its 2026 task is not fulfilled or a v0.5 task
    of it is not completed, while a promise whose task awaits it (a
    callback's awaiter) is pending, and while the root of its workflow (its
    C{resonate:origin}, another promise) is pending.  Pending promises are
    never candidates.  Where several processes share the store, candidates
    another transaction holds are skipped (the rows' C{settledPromises}),
    and each delete is conditional on the promise being the settled row
    read, so that two collectors never both count one.

    @return: a L{GarbageReply}.
    """
    promises = yield _op(
        "settledPromises", request.settledBefore, request.after, request.limit
    )
    cursor = None
    if promises and len(promises) >= request.limit:
        cursor = (promises[-1].completedOn, promises[-1].id)
    candidates = []
    for promise in promises:
        candidate = yield from _candidate(promise)
        if candidate.finished():
            candidates.append(candidate)
    # One read for every candidate's awaiters and roots: none of them may be
    # pending.  Not locked: a settled promise never becomes pending again,
    # and a pending one only makes the candidate wait for a later run.
    needed = sorted(set().union(*(c.needs for c in candidates)))
    pending = set((yield _op("pendingAmong", needed))) if needed else set()
    collected = [c for c in candidates if not (c.needs & pending)]
    if request.dryRun:
        return (yield from _wouldDelete(collected, cursor))
    deleted, tasks, callbacks, listeners = [], 0, 0, 0
    for candidate in collected:
        promiseId = candidate.promise.id
        if not (yield _op("deleteSettledPromise", candidate.promise)):
            # Another collector got there first.
            continue
        deleted.append(promiseId)
        tasks += int((yield _op("deleteFulfilledTask2026", promiseId)))
        tasks += yield _op("deleteTasks05Of", promiseId)
        callbacks += yield _op("deleteCallbacksOn", promiseId)
        callbacks += yield _op("deleteCallbacks", promiseId)
        listeners += yield _op("deleteListeners", promiseId)
        # Undelivered messages about it would name a promise that is gone.
        yield _op("deleteOutboxOf", promiseId)
    return GarbageReply(tuple(deleted), tasks, callbacks, listeners, cursor)


def _wouldDelete(collected, cursor):
    """
    The L{GarbageReply} of a dry run: what deleting C{collected} would
    count, each callback once even when both its promises go.
    """
    tasks, callbacks, listeners = 0, set(), 0
    for candidate in collected:
        promiseId = candidate.promise.id
        tasks += (candidate.task is not None) + len(candidate.tasks05)
        callbacks.update((c.awaited, c.awaiter) for c in candidate.callbacks)
        callbacks.update(
            (c.awaited, c.awaiter)
            for c in (yield _op("callbacksOfAwaiter", promiseId))
        )
        listeners += len((yield _op("listenersOf", promiseId)))
    return GarbageReply(
        tuple(c.promise.id for c in collected),
        tasks,
        len(callbacks),
        listeners,
        cursor,
    )


#: The script of each request kind, for L{scripts2026.handle}.
SCRIPTS = {
    ListLocks: listLocks,
    ListTasks05: listTasks05,
    PromiseRelations: promiseRelations,
    CollectGarbage: collectGarbage,
}
