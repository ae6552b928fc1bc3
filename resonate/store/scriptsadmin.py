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
from resonate.model.tasks2026 import resumes
from resonate.store import scripts2026
from resonate.store.scripts import RowOp


def _op(method, *args):
    return RowOp(method, args)


def listLocks(request, now, retryTimeout):
    """
    A page of locks by resource id (expired ones too: the sweep deletes
    them).
    """
    return LocksReply(tuple((yield _op("locksById", request.afterId, request.limit))))


def listTasks05(request, now, retryTimeout):
    """
    A page of v0.5 tasks by id.
    """
    return Tasks05Reply(
        tuple((yield _op("tasks05ById", request.afterId, request.limit)))
    )


def promiseRelations(request, now, retryTimeout):
    """
    What refers to one promise, each part read as its own request would
    read it.
    """
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


def collectGarbage(request, now, retryTimeout):
    """
    Delete (unless dry) the settled promises of L{CollectGarbage} that
    nothing may need any more, with their 2026 task, v0.5 tasks, callbacks
    (as awaited and as awaiter), listeners and outbox messages: a few
    statements per batch, whatever its size.

    A candidate is kept while its 2026 task is not fulfilled (a halted one
    may be continued) or a v0.5 task of it is not completed, while a
    promise whose task awaits it (a callback's awaiter) is pending, and
    while the root of its workflow (its C{resonate:origin}, another
    promise) is pending.  Pending promises are never candidates.  Where
    several processes share the store, candidates another transaction holds
    are skipped and those taken are locked until the end (the rows'
    C{settledPromises}: a request that would add a callback on one waits,
    then finds it gone), and the deletes are conditional, so that two
    collectors never both count one.

    @return: a L{GarbageReply}.
    """
    promises = yield _op(
        "settledPromises", request.settledBefore, request.after, request.limit
    )
    cursor = None
    if promises and len(promises) >= request.limit:
        cursor = (promises[-1].completedOn, promises[-1].id)
    ids = [p.id for p in promises]
    if not ids:
        return GarbageReply(cursor=cursor)
    unfinished = set((yield _op("unfinishedAmong", ids)))
    # What must not be pending for each candidate: its awaiters, and its
    # workflow's root.
    needs = {p.id: set() for p in promises if p.id not in unfinished}
    for callback in (yield _op("callbacksOnEach", list(needs))):
        needs[callback.awaited].add(callback.awaiter)
    for promise in promises:
        root = promise.tags.get(ORIGIN_TAG)
        if promise.id in needs and root is not None and root != promise.id:
            needs[promise.id].add(root)
    needed = sorted(set().union(*needs.values()))
    # Not locked: a settled promise never becomes pending again, and a
    # pending one only makes the candidate wait for a later run.
    pending = set((yield _op("pendingAmong", needed))) if needed else set()
    collected = [p for p in promises if p.id in needs and not needs[p.id] & pending]
    if not collected:
        return GarbageReply(cursor=cursor)
    if request.dryRun:
        tasks, callbacks, listeners = yield _op(
            "countGarbageOf", [p.id for p in collected]
        )
        return GarbageReply(
            tuple(p.id for p in collected), tasks, callbacks, listeners, cursor
        )
    deleted = set((yield _op("deleteSettledPromises", collected)))
    # In the order examined; one another collector deleted first is not
    # counted here.
    deleted = [p.id for p in collected if p.id in deleted]
    if not deleted:
        return GarbageReply(cursor=cursor)
    tasks, callbacks, listeners = yield _op("deleteGarbageOf", deleted)
    return GarbageReply(tuple(deleted), tasks, callbacks, listeners, cursor)


#: The script of each request kind, for L{scripts2026.handle}.
SCRIPTS = {
    ListLocks: listLocks,
    ListTasks05: listTasks05,
    PromiseRelations: promiseRelations,
    CollectGarbage: collectGarbage,
}
