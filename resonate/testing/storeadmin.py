# -*- test-case-name: tests.unit.test_store_memory -*-
"""
The part of the store suite (L{resonate.testing.store.StoreTestsMixin})
about the server's own requests (L{resonate.model.requestsadmin}): the
console's reads and the collection of old settled promises, through
C{handle2026}, on every store.
"""

from resonate.model.promise import CompletePromise, CreatePromise, State
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
from resonate.model.tasks2026 import (
    AcquireTask,
    FulfillTask,
    SuspendTask,
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
