# -*- test-case-name: tests.unit.test_store_memory -*-
"""
The part of the store suite (L{resonate.testing.store.StoreTestsMixin})
about the server's own requests (L{resonate.model.requestsadmin}): the
console's reads and the collection of old settled promises, through
C{handle2026}, on every store.
"""

from resonate.errors import StoreFailure
from resonate.model.promise import CompletePromise, CreatePromise, Promise, State
from resonate.model.requests2026 import (
    GetPromise,
    RegisterCallback,
    RegisterListener,
    SettlePromise,
)
from resonate.model.requestsadmin import (
    CollectGarbage,
    ListLocks,
    ListTasks05,
    PromiseRelations,
)
from resonate.model.task import Task as Task05
from resonate.model.tasks2026 import (
    AcquireTask,
    Callback,
    FulfillTask,
    Listener,
    SuspendTask,
    Task as Task2026,
    TaskState,
)
from resonate.store.scripts import RowOp

_NOW = 1_700_000_000_000
_HOUR = 3_600_000
_TARGET = "poll://any@workers"


def _everything():
    """
    Every row the collection may touch, to compare before and after.
    """
    return (
        (yield RowOp("promisesById", (None, {}, None, None, _NOW))),
        (yield RowOp("tasksById", (None, None, None))),
        (yield RowOp("tasks05ById", (None, None))),
        (yield RowOp("allCallbacks", ())),
        (yield RowOp("allListeners", ())),
        (yield RowOp("dueOutbox", (2**62, None))),
    )


class AdminStoreTestsMixin:
    """
    The server's own requests on C{self.store}, each its own transaction.
    Mixed into L{resonate.testing.store.StoreTestsMixin}, whose helpers
    (C{acquireLock}, C{createPromiseAndTask}, C{claimedTask},
    C{completeTask}, C{runRowScript}) it uses.
    """

    async def admin(self, request, now=_NOW):
        return await self.store.handle2026(request, now, retryTimeout=30_000)

    async def adminCreate(self, promiseId, tags=None, timeout=_NOW + _HOUR, now=_NOW):
        reply = await self.admin(CreatePromise(promiseId, timeout, tags=tags or {}), now)
        return reply.promise

    # The console's reads.

    async def test_admin_listLocks(self):
        """
        L{ListLocks} pages the locks by resource id, after C{afterId}.
        """
        for resourceId in ("b", "c", "a"):
            await self.acquireLock(resourceId, f"e-{resourceId}")
        reply = await self.admin(ListLocks())
        self.assertEqual([l.resourceId for l in reply.locks], ["a", "b", "c"])
        self.assertEqual(reply.locks[0].executionId, "e-a")
        page = await self.admin(ListLocks(afterId="a", limit=1))
        self.assertEqual([l.resourceId for l in page.locks], ["b"])
        self.assertEqual((await self.admin(ListLocks(afterId="c"))).locks, ())

    async def test_admin_listTasks05(self):
        """
        L{ListTasks05} pages the v0.5 tasks by id, after C{afterId}.
        """
        for taskId in ("t2", "t3", "t1"):
            await self.createPromiseAndTask(taskId)
        reply = await self.admin(ListTasks05())
        self.assertEqual([t.id for t in reply.tasks], ["t1", "t2", "t3"])
        self.assertEqual(reply.tasks[0].promiseId, "t1")
        page = await self.admin(ListTasks05(afterId="t1", limit=1))
        self.assertEqual([t.id for t in page.tasks], ["t2"])
        self.assertEqual((await self.admin(ListTasks05(afterId="t3"))).tasks, ())

    async def test_admin_relations(self):
        """
        L{PromiseRelations} answers a promise's 2026 task (as C{task.get}
        shows it), its awaiters and what its task awaits, and its
        listeners.
        """
        await self.adminCreate("r", {"resonate:target": _TARGET})
        await self.adminCreate("r:1")
        await self.adminCreate("r:2")
        await self.admin(AcquireTask("r", 0, "pid", 60_000))
        await self.admin(SuspendTask("r", 1, ("r:2", "r:1")))
        await self.admin(RegisterListener("r", "poll://uni@clients/b"))
        await self.admin(RegisterListener("r", "poll://uni@clients/a"))
        reply = await self.admin(PromiseRelations("r"))
        self.assertFalse(reply.isError)
        self.assertEqual(
            (reply.task.task.state, reply.task.task.version, reply.task.resumes),
            (TaskState.SUSPENDED, 1, 0),
        )
        self.assertEqual(reply.awaiting, ("r:1", "r:2"))
        self.assertEqual(reply.awaiters, ())
        self.assertEqual(
            reply.listeners, ("poll://uni@clients/a", "poll://uni@clients/b")
        )
        self.assertEqual(reply.tasks05, ())
        child = await self.admin(PromiseRelations("r:1"))
        self.assertEqual((child.task, child.awaiters, child.awaiting), (None, ("r",), ()))
        await self.admin(SettlePromise("r:1", State.RESOLVED))
        self.assertEqual((await self.admin(PromiseRelations("r"))).task.resumes, 1)

    async def test_admin_relationsTasks05(self):
        """
        L{PromiseRelations} answers the v0.5 tasks of a promise.
        """
        await self.createPromiseAndTask("v")
        reply = await self.admin(PromiseRelations("v"))
        self.assertEqual([(t.id, t.promiseId) for t in reply.tasks05], [("v", "v")])
        self.assertIsNone(reply.task)

    async def test_admin_relationsUnknown(self):
        """
        L{PromiseRelations} of an id nothing has is empty, not an error.
        """
        reply = await self.admin(PromiseRelations("nothing"))
        self.assertEqual(
            (reply.task, reply.tasks05, reply.awaiters, reply.awaiting, reply.listeners),
            (None, (), (), (), ()),
        )

    async def test_admin_relationsTimesOut(self):
        """
        L{PromiseRelations} of an overdue promise times it out first, as
        C{task.get} does: its task is shown fulfilled.
        """
        await self.adminCreate("o", {"resonate:target": _TARGET}, timeout=_NOW + 10)
        reply = await self.admin(PromiseRelations("o"), now=_NOW + 10)
        self.assertEqual(reply.task.task.state, TaskState.FULFILLED)
        promise = (await self.admin(GetPromise("o"), now=_NOW + 10)).promise
        self.assertEqual(promise.state, State.REJECTED_TIMEDOUT)

    # Collecting old settled promises (retention).

    async def settleAt(self, promiseId, at, tags=None):
        """
        Create C{promiseId} and settle it (resolved) at C{at}.
        """
        await self.adminCreate(promiseId, tags)
        await self.admin(SettlePromise(promiseId, State.RESOLVED), now=at)

    async def collect(self, settledBefore, limit=100, dryRun=False, after=None):
        return await self.admin(
            CollectGarbage(settledBefore, limit, dryRun, after), now=settledBefore
        )

    async def exists(self, promiseId, now=_NOW):
        reply = await self.admin(GetPromise(promiseId), now=now)
        return reply.promise is not None

    async def test_gc_settledBefore(self):
        """
        Only promises settled before C{settledBefore} go; pending ones
        never, however old.
        """
        await self.settleAt("old", _NOW + 1)
        await self.settleAt("new", _NOW + 5)
        await self.adminCreate("pending")
        reply = await self.collect(_NOW + 5)
        self.assertEqual(
            (reply.promises, reply.tasks, reply.callbacks, reply.listeners, reply.cursor),
            (("old",), 0, 0, 0, None),
        )
        self.assertFalse(await self.exists("old"))
        self.assertTrue(await self.exists("new"))
        self.assertTrue(await self.exists("pending"))
        self.assertEqual((await self.collect(_NOW + 6)).promises, ("new",))
        self.assertEqual((await self.collect(_NOW + _HOUR)).promises, ())
        self.assertTrue(await self.exists("pending", _NOW + 6))

    async def test_gc_oldestFirstInPages(self):
        """
        Candidates are taken oldest first, C{limit} at a time; the cursor
        names the last one examined while more may follow.
        """
        for promiseId, at in (("a", 3), ("b", 1), ("c", 2), ("d", 2)):
            await self.settleAt(promiseId, _NOW + at)
        first = await self.collect(_NOW + 10, limit=3)
        self.assertEqual((first.promises, first.cursor), (("b", "c", "d"), (_NOW + 2, "d")))
        second = await self.collect(_NOW + 10, limit=3, after=first.cursor)
        self.assertEqual((second.promises, second.cursor), (("a",), None))

    async def test_gc_dryRun(self):
        """
        A dry run deletes nothing and answers what the collection then
        deletes, counts alike (a callback counted once when both its
        promises go).
        """
        await self.workflow()
        before = await self.runRowScript(_everything)
        dry = await self.collect(_NOW + _HOUR, dryRun=True)
        self.assertEqual(await self.runRowScript(_everything), before)
        real = await self.collect(_NOW + _HOUR)
        self.assertEqual(
            (dry.promises, dry.tasks, dry.callbacks, dry.listeners),
            (real.promises, real.tasks, real.callbacks, real.listeners),
        )
        self.assertEqual(sorted(real.promises), ["w", "w:1", "w:2"])

    async def workflow(self):
        """
        A finished workflow: C{w} (with a target and a listener) suspended
        on C{w:1} and C{w:2}, both settled, then fulfilled; C{w:2} had a
        listener too (their C{unblock}s wait in the outbox).  Its children
        name it as their origin.
        """
        await self.adminCreate("w", {"resonate:target": _TARGET})
        for child in ("w:1", "w:2"):
            await self.adminCreate(child, {"resonate:origin": "w"})
        await self.admin(RegisterListener("w", "poll://uni@clients/a"))
        await self.admin(RegisterListener("w:2", "poll://uni@clients/a"))
        await self.admin(AcquireTask("w", 0, "pid", 60_000))
        await self.admin(SuspendTask("w", 1, ("w:1", "w:2")))
        await self.admin(RegisterCallback("w:2", "w"))
        await self.admin(SettlePromise("w:1", State.RESOLVED), now=_NOW + 1)
        await self.admin(SettlePromise("w:2", State.RESOLVED), now=_NOW + 2)
        await self.admin(AcquireTask("w", 1, "pid", 60_000), now=_NOW + 3)
        await self.admin(FulfillTask("w", 2, State.RESOLVED), now=_NOW + 4)
        # A settlement leaves no listener and a fulfilment no callback of
        # its task; rows left over all the same (a store of an older
        # version) go too.
        await self.runRowScript(
            _leftOver, Callback("w:1", "w:2"), Listener("w:1", "poll://uni@clients/b")
        )

    async def test_gc_takesEverythingAlong(self):
        """
        A collected promise takes its 2026 task, its callbacks both ways,
        its listeners and the outbox messages about it along: nothing is
        left of a finished workflow.
        """
        await self.workflow()
        before = await self.runRowScript(_everything)
        self.assertEqual([len(rows) for rows in before], [3, 1, 0, 1, 1, 3])
        reply = await self.collect(_NOW + _HOUR)
        self.assertEqual(sorted(reply.promises), ["w", "w:1", "w:2"])
        self.assertEqual((reply.tasks, reply.callbacks, reply.listeners), (1, 1, 1))
        self.assertEqual(await self.runRowScript(_everything), ([], [], [], [], [], []))

    async def test_gc_callbacksCounted(self):
        """
        The callbacks of a collected promise are deleted and counted, as
        awaited and as awaiter.
        """
        await self.settleAt("x", _NOW + 1)
        await self.settleAt("y", _NOW + 1)
        await self.runRowScript(_callbacks, ("x", "y"), ("z", "x"))
        reply = await self.collect(_NOW + 2)
        self.assertEqual((reply.promises, reply.callbacks), (("x", "y"), 2))
        self.assertEqual(await self.runRowScript(_allCallbacks), [])

    async def test_gc_keepsWhatAPendingAwaiterWaitsFor(self):
        """
        A settled promise that a pending promise's task awaits (a callback,
        ready or not) is kept until that awaiter settles.
        """
        await self.adminCreate("r", {"resonate:target": _TARGET})
        await self.adminCreate("r:c")
        await self.admin(AcquireTask("r", 0, "pid", 60_000))
        self.assertFalse((await self.admin(SuspendTask("r", 1, ("r:c",)))).isError)
        await self.admin(SettlePromise("r:c", State.RESOLVED), now=_NOW + 1)
        self.assertEqual((await self.admin(PromiseRelations("r:c"))).awaiters, ("r",))
        self.assertEqual((await self.collect(_NOW + 2)).promises, ())
        self.assertTrue(await self.exists("r:c"))
        await self.admin(SettlePromise("r", State.RESOLVED), now=_NOW + 3)
        self.assertEqual(sorted((await self.collect(_NOW + 4)).promises), ["r", "r:c"])

    async def test_gc_keepsWhileRootPending(self):
        """
        A settled promise whose workflow root (C{resonate:origin}, another
        promise) is pending is kept: the root's task may read it again.
        """
        await self.adminCreate("root")
        await self.settleAt("root.1", _NOW + 1, {"resonate:origin": "root"})
        await self.settleAt("self", _NOW + 1, {"resonate:origin": "self"})
        await self.settleAt("orphan", _NOW + 1, {"resonate:origin": "gone"})
        self.assertEqual((await self.collect(_NOW + 2)).promises, ("orphan", "self"))
        self.assertTrue(await self.exists("root.1"))
        await self.admin(SettlePromise("root", State.RESOLVED), now=_NOW + 3)
        self.assertEqual(
            (await self.collect(_NOW + 4)).promises, ("root.1", "root")
        )

    async def test_gc_keepsUnfinishedTasks(self):
        """
        A settled promise whose 2026 task is not fulfilled (halted may be
        continued) or whose v0.5 task is not completed is kept.
        """
        settled = dict(state=State.RESOLVED, timeout=_NOW + _HOUR, createdOn=_NOW,
                       completedOn=_NOW + 1)
        await self.runRowScript(
            _insert,
            [Promise("halted", **settled), Promise("open05", **settled)],
            [Task2026("halted", TaskState.HALTED, 1, _TARGET)],
            [Task05("open05", 1, "open05", 0, 0, _NOW + _HOUR, _NOW)],
        )
        self.assertEqual((await self.collect(_NOW + 2)).promises, ())
        self.assertTrue(await self.exists("halted"))
        self.assertTrue(await self.exists("open05"))

    async def test_gc_completedTask05(self):
        """
        A promise completed through its v0.5 task goes with the task.
        """
        task = await self.claimedTask("v")
        await self.completeTask("v", task.counter, now=_NOW + 3)
        reply = await self.collect(_NOW + 4)
        self.assertEqual((reply.promises, reply.tasks), (("v",), 1))
        self.assertEqual((await self.admin(ListTasks05())).tasks, ())

    async def test_gc_createdAgain(self):
        """
        A collected id can be created again: a new promise, with an
        idempotency key as much as without (idempotency holds only within
        the retention window).
        """
        await self.adminCreate("again", {"a": "1"})
        await self.admin(SettlePromise("again", State.REJECTED), now=_NOW + 1)
        await self.store.createPromise(
            CreatePromise("keyed", _NOW + _HOUR, idempotencyKey="k"), _NOW
        )
        await self.store.completePromise(
            CompletePromise("keyed", State.RESOLVED, idempotencyKey="k"), _NOW + 1
        )
        self.assertEqual(len((await self.collect(_NOW + 2)).promises), 2)
        later = _NOW + 10
        fresh = await self.adminCreate("again", {"b": "2"}, timeout=later + _HOUR, now=later)
        self.assertEqual((fresh.state, fresh.createdOn, fresh.tags), (State.PENDING, later, {"b": "2"}))
        self.assertEqual((await self.admin(GetPromise("again"), now=later)).promise, fresh)
        decision = await self.store.createPromise(
            CreatePromise("keyed", later + _HOUR, idempotencyKey="k"), later
        )
        self.assertEqual((decision.promise.state, decision.promise.createdOn), (State.PENDING, later))

    async def test_gc_longestIds(self):
        """
        Ids as long as the API allows (2048 bytes of UTF-8) are listed,
        related and collected like any other (every index holds them).
        """
        longest = "é" * 1023 + "x" * 2
        self.assertEqual(len(longest.encode("utf-8")), 2048)
        task = await self.claimedTask(longest)
        await self.completeTask(longest, task.counter, now=_NOW + 3)
        self.assertEqual([t.id for t in (await self.admin(ListTasks05())).tasks], [longest])
        relations = await self.admin(PromiseRelations(longest))
        self.assertEqual([t.id for t in relations.tasks05], [longest])
        reply = await self.collect(_NOW + 4)
        self.assertEqual((reply.promises, reply.tasks), ((longest,), 1))

    async def test_gc_conditionalDelete(self):
        """
        A promise another collector deleted first (in the race window) is
        not counted twice: the delete is conditional.
        """
        await self.settleAt("raced", _NOW + 1)
        self.raceRowOperation("deleteSettledPromises", lambda promises: (promises,))
        reply = await self.collect(_NOW + 2)
        self.assertEqual((reply.promises, reply.tasks), ((), 0))
        self.assertFalse(await self.exists("raced"))

    async def test_gc_rolledBack(self):
        """
        A collection that fails part way deletes nothing.
        """
        await self.workflow()
        before = await self.runRowScript(_everything)
        self.failRowOperation("deleteGarbageOf")
        with self.assertRaises(StoreFailure):
            await self.collect(_NOW + _HOUR)
        self.assertEqual(await self.runRowScript(_everything), before)


def _callbacks(*pairs):
    for awaited, awaiter in pairs:
        yield RowOp("insertCallback", (Callback(awaited, awaiter),))


def _leftOver(callback, listener):
    yield RowOp("insertCallback", (callback,))
    yield RowOp("insertListener", (listener,))


def _allCallbacks():
    return (yield RowOp("allCallbacks", ()))


def _insert(promises, tasks2026, tasks05):
    for promise in promises:
        yield RowOp("insertPromise", (promise,))
    for task in tasks2026:
        yield RowOp("insertTask2026", (task,))
    for task in tasks05:
        yield RowOp("insertTask", (task,))
