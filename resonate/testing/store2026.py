# -*- test-case-name: tests.unit.test_store_memory -*-
"""
The part of the store suite (L{resonate.testing.store.StoreTestsMixin})
that drives the 2026 operations through L{IStore.handle2026
<resonate.interfaces.IProtocol2026Store.handle2026>} and the background
work (C{expireTasks2026}, C{timeoutPromises}, C{fireSchedules}), and the
settlement chain that v0.5 completions run: what every store, built-in or
a plugin, must answer alike.  The wire (envelopes, 400s) is the adapter's
and is tested over a socket in C{tests.integration.test_protocol2026}.
"""

from http import HTTPStatus

from resonate.model.promise import CompletePromise, CreatePromise, State, Value
from resonate.model.requests2026 import (
    ContinueTask,
    FenceTask,
    GetPromise,
    GetTask,
    HaltTask,
    RegisterCallback,
    RegisterListener,
    ReleaseTask,
    SettlePromise,
)
from resonate.model.schedule import CreateSchedule
from resonate.model.tasks2026 import (
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
from resonate.store.scripts import RowOp

NOW = 1_700_000_000_000
HOUR = 3_600_000
TARGET = "poll://any@workers"

#: Later than any test's timers: every outbox entry is due.
_END = 2**62


def _dueOutbox():
    return (yield RowOp("dueOutbox", (_END, None)))


class Protocol2026StoreTestsMixin:
    """
    The 2026 operations on C{self.store}, each request its own
    transaction, with C{now} passed in as the server passes it.
    """

    async def handle2026(self, request, now=NOW):
        return await self.store.handle2026(request, now, retryTimeout=30_000)

    async def outbox2026(self):
        """
        The messages in the outbox, oldest first.
        """
        return [entry.message for entry in await self.runRowScript(_dueOutbox)]

    async def create2026(self, promiseId, tags=None, timeout=NOW + HOUR, now=NOW):
        return (await self.handle2026(CreatePromise(promiseId, timeout, tags=tags or {}), now))

    async def task2026(self, taskId):
        return (await self.handle2026(GetTask(taskId))).task

    async def test_2026_createWithTargetOffersTask(self):
        """
        A promise created with a C{resonate:target} has a pending task at
        version 0, with its retry timer and an C{execute} in the outbox.
        """
        reply = (await self.create2026("root", {"resonate:target": TARGET}))
        self.assertEqual(reply.promise.state, State.PENDING)
        view = (await self.task2026("root"))
        self.assertEqual((view.task.state, view.task.version), (TaskState.PENDING, 0))
        self.assertEqual(view.task.timeoutAt, NOW + 30_000)
        self.assertEqual((await self.outbox2026()), [Execute("root", 0, TARGET)])

    async def test_2026_createExistingUnchanged(self):
        """
        A create of an existing id answers the stored promise unchanged.
        """
        first = (await self.create2026("p", {"a": "1"}))
        again = (await self.handle2026(CreatePromise("p", NOW + 5, tags={"b": "2"})))
        self.assertEqual(again.promise, first.promise)

    async def test_2026_createTimedOut(self):
        """
        A promise created past its timeout is stored settled at its
        timeout, with a fulfilled task and no message.
        """
        reply = (await self.create2026("late", {"resonate:target": TARGET}, timeout=NOW - 10))
        self.assertEqual(reply.promise.state, State.REJECTED_TIMEDOUT)
        self.assertEqual(reply.promise.createdOn, NOW - 10)
        self.assertEqual((await self.task2026("late")).task.state, TaskState.FULFILLED)
        self.assertEqual((await self.outbox2026()), [])

    async def test_2026_lifecycle(self):
        """
        Acquire, suspend on a child, the child settles (the task is offered
        again with a resume), acquire, fulfil (listeners unblocked).
        """
        await self.create2026("root", {"resonate:target": TARGET})
        acquired = (await self.handle2026(AcquireTask("root", 0, "pid", 60_000)))
        self.assertEqual(acquired.task.task.version, 1)
        fence = (await self.handle2026(
            FenceTask("root", 1, CreatePromise("root:1", NOW + HOUR))
        ))
        self.assertEqual(fence.action.promise.id, "root:1")
        await self.handle2026(RegisterListener("root", "poll://uni@clients/c1"))
        self.assertEqual(
            (await self.handle2026(SuspendTask("root", 1, ("root:1",)))).status, HTTPStatus.OK
        )
        self.assertEqual((await self.task2026("root")).task.state, TaskState.SUSPENDED)
        await self.handle2026(SettlePromise("root:1", State.RESOLVED, Value(data=b"x")))
        view = (await self.task2026("root"))
        self.assertEqual((view.task.state, view.resumes), (TaskState.PENDING, 1))
        acquired = (await self.handle2026(AcquireTask("root", 1, "pid", 60_000)))
        self.assertEqual((acquired.task.task.version, acquired.task.resumes), (2, 0))
        done = (await self.handle2026(FulfillTask("root", 2, State.RESOLVED, Value(data=b"r"))))
        self.assertEqual(done.promise.state, State.RESOLVED)
        self.assertEqual((await self.task2026("root")).task.state, TaskState.FULFILLED)
        self.assertIn(Unblock("root", "poll://uni@clients/c1"), (await self.outbox2026()))

    async def test_2026_suspendOnSettledRedirects(self):
        """
        A suspend on an already settled promise answers 300 with the
        branch's preload, and the task stays acquired at its version.
        """
        tags = {"resonate:target": TARGET, "resonate:branch": "root"}
        await self.create2026("root", tags)
        await self.handle2026(AcquireTask("root", 0, "pid", 60_000))
        (await self.handle2026(
            FenceTask(
                "root",
                1,
                CreatePromise("root:1", NOW + HOUR, tags={"resonate:branch": "root"}),
            )
        ))
        await self.handle2026(FenceTask("root", 1, SettlePromise("root:1", State.RESOLVED)))
        reply = (await self.handle2026(SuspendTask("root", 1, ("root:1",))))
        self.assertEqual(reply.status, HTTPStatus.MULTIPLE_CHOICES)
        self.assertEqual([p.id for p in reply.preload], ["root:1"])
        view = (await self.task2026("root"))
        self.assertEqual((view.task.state, view.task.version), (TaskState.ACQUIRED, 1))

    async def test_2026_v05CompletionWakesAwaiter(self):
        """
        A v0.5 completion of a promise a suspended task awaits runs the
        settlement chain: the task is offered again (DECISIONS 23).
        """
        await self.create2026("root", {"resonate:target": TARGET})
        await self.create2026("root:1")
        await self.handle2026(AcquireTask("root", 0, "pid", 60_000))
        await self.handle2026(SuspendTask("root", 1, ("root:1",)))
        await self.store.completePromise(
            CompletePromise("root:1", State.RESOLVED), NOW + 1
        )
        self.assertEqual((await self.task2026("root")).task.state, TaskState.PENDING)
        self.assertEqual((await self.outbox2026())[-1], Execute("root", 1, TARGET))

    async def test_2026_v05TimeoutFulfillsTask(self):
        """
        The v0.5 timeout sweep settles a timer promise resolved and fulfils
        its task (a durable sleep).
        """
        await self.create2026("s", {"resonate:target": TARGET, "resonate:timer": "true"}, timeout=NOW + 10)
        self.assertEqual(
            (await self.store.timeoutPromises(NOW + 10, None)), 1
        )
        self.assertEqual((await self.handle2026(GetPromise("s"))).promise.state, State.RESOLVED)
        self.assertEqual((await self.task2026("s")).task.state, TaskState.FULFILLED)

    async def test_2026_tryTimeoutOnRead(self):
        """
        A task.get of an overdue promise's task times the promise out first,
        which fulfils the task.
        """
        await self.create2026("t", {"resonate:target": TARGET}, timeout=NOW + 10)
        reply = (await self.handle2026(GetTask("t"), now=NOW + 10))
        self.assertEqual(reply.task.task.state, TaskState.FULFILLED)

    async def test_2026_leaseExpiry(self):
        """
        A lease not renewed returns the task to pending with an execute; a
        heartbeat renews it by the ttl given at acquire.
        """
        await self.create2026("r", {"resonate:target": TARGET})
        await self.handle2026(AcquireTask("r", 0, "pid", 1_000))
        await self.handle2026(HeartbeatTasks("pid", (TaskAtVersion("r", 1),)), now=NOW + 500)
        self.assertEqual((await self.task2026("r")).task.timeoutAt, NOW + 1_500)
        self.assertEqual(
            (await self.store.expireTasks2026(NOW + 1_499, None)), 0
        )
        self.assertEqual(
            (await self.store.expireTasks2026(NOW + 1_500, None)), 1
        )
        view = (await self.task2026("r"))
        self.assertEqual((view.task.state, view.task.version), (TaskState.PENDING, 1))

    async def test_2026_createTaskTwice(self):
        """
        task.create acquires a new task at version 1 without an execute; a
        second one is refused 409; on a promise without a task, 422.
        """
        request = CreateTask(
            "pid", 60_000, CreatePromise("w", NOW + HOUR, tags={"resonate:target": TARGET})
        )
        reply = (await self.handle2026(request))
        self.assertEqual((reply.task.task.state, reply.task.task.version), (TaskState.ACQUIRED, 1))
        self.assertEqual((await self.outbox2026()), [])
        self.assertEqual((await self.handle2026(request)).status, HTTPStatus.CONFLICT)
        await self.create2026("plain")
        plain = CreateTask(
            "pid", 60_000, CreatePromise("plain", NOW + HOUR, tags={"resonate:target": TARGET})
        )
        self.assertEqual((await self.handle2026(plain)).status, HTTPStatus.UNPROCESSABLE_ENTITY)

    async def test_2026_haltAndContinue(self):
        """
        A halted task has no timer; continue offers it again.
        """
        await self.create2026("h", {"resonate:target": TARGET})
        await self.handle2026(HaltTask("h"))
        self.assertEqual((await self.task2026("h")).task.timeoutAt, None)
        await self.handle2026(ContinueTask("h"))
        self.assertEqual((await self.task2026("h")).task.state, TaskState.PENDING)

    async def test_2026_releaseAndCallback(self):
        """
        Release returns the task to pending; a callback registered on a
        settled promise for a pending awaiter counts a resume.
        """
        await self.create2026("a", {"resonate:target": TARGET})
        await self.handle2026(AcquireTask("a", 0, "pid", 60_000))
        self.assertEqual((await self.handle2026(ReleaseTask("a", 1))).status, HTTPStatus.OK)
        await self.create2026("a:1")
        await self.handle2026(SettlePromise("a:1", State.REJECTED))
        await self.handle2026(RegisterCallback("a:1", "a"))
        self.assertEqual((await self.task2026("a")).resumes, 1)

    async def test_2026_scheduleFiresTask(self):
        """
        A schedule whose promise tags carry a target fires a promise that
        roots its own lineage, with a pending task and an execute.
        """
        reply = (await self.handle2026(
            CreateSchedule(
                "s",
                "* * * * *",
                "{{.id}}-{{.timestamp}}",
                HOUR,
                promiseTags={"resonate:target": TARGET},
            )
        ))
        at = reply.schedule.nextRunTime
        self.assertEqual((await self.store.fireSchedules(at, 10)), 1)
        promiseId = f"s-{at}"
        promise = (await self.handle2026(GetPromise(promiseId), now=at)).promise
        for tag in ("resonate:origin", "resonate:branch", "resonate:parent"):
            self.assertEqual(promise.tags[tag], promiseId)
        self.assertEqual(promise.tags["resonate:schedule"], "s")
        self.assertNotIn("resonate:invocation", promise.tags)
        self.assertEqual((await self.task2026(promiseId)).task.state, TaskState.PENDING)
        self.assertEqual((await self.outbox2026()), [Execute(promiseId, 0, TARGET)])

