"""
Tests for L{resonate.store.scripts2026}: the 2026 operations and the
settlement chain driven over the memory store, the way every store drives
them.  The wire (envelopes, 400s) is tested with the adapter; the same
operations over real sockets on every store in
L{tests.integration.test_protocol2026}.
"""

from http import HTTPStatus

from twisted.trial.unittest import SynchronousTestCase

from resonate.model.promise import CompletePromise, CreatePromise, State, Value
from resonate.model.schedule import CreateSchedule
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
from resonate.store.memory import MemoryStore

NOW = 1_000_000
HOUR = 3_600_000
TARGET = "poll://any@workers"


class ScriptsTests(SynchronousTestCase):
    """
    Each operation's effect on the rows, and the chain between them.
    """

    def setUp(self):
        self.store = MemoryStore()

    def handle(self, request, now=NOW):
        return self.successResultOf(self.store.handle2026(request, now, retryTimeout=30_000))

    def outbox(self):
        return [
            entry.message
            for entry in self.successResultOf(
                self.store.runScript(_dueOutbox, 2**62)
            )
        ]

    def create(self, promiseId, tags=None, timeout=NOW + HOUR, now=NOW):
        return self.handle(CreatePromise(promiseId, timeout, tags=tags or {}), now)

    def task(self, taskId):
        return self.handle(GetTask(taskId)).task

    def test_createWithTargetOffersTask(self):
        """
        A promise created with a C{resonate:target} has a pending task at
        version 0, with its retry timer and an C{execute} in the outbox.
        """
        reply = self.create("root", {"resonate:target": TARGET})
        self.assertEqual(reply.promise.state, State.PENDING)
        view = self.task("root")
        self.assertEqual((view.task.state, view.task.version), (TaskState.PENDING, 0))
        self.assertEqual(view.task.timeoutAt, NOW + 30_000)
        self.assertEqual(self.outbox(), [Execute("root", 0, TARGET)])

    def test_createExistingUnchanged(self):
        """
        A create of an existing id answers the stored promise unchanged.
        """
        first = self.create("p", {"a": "1"})
        again = self.handle(CreatePromise("p", NOW + 5, tags={"b": "2"}))
        self.assertEqual(again.promise, first.promise)

    def test_createTimedOut(self):
        """
        A promise created past its timeout is stored settled at its
        timeout, with a fulfilled task and no message.
        """
        reply = self.create("late", {"resonate:target": TARGET}, timeout=NOW - 10)
        self.assertEqual(reply.promise.state, State.REJECTED_TIMEDOUT)
        self.assertEqual(reply.promise.createdOn, NOW - 10)
        self.assertEqual(self.task("late").task.state, TaskState.FULFILLED)
        self.assertEqual(self.outbox(), [])

    def test_lifecycle(self):
        """
        Acquire, suspend on a child, the child settles (the task is offered
        again with a resume), acquire, fulfil (listeners unblocked).
        """
        self.create("root", {"resonate:target": TARGET})
        acquired = self.handle(AcquireTask("root", 0, "pid", 60_000))
        self.assertEqual(acquired.task.task.version, 1)
        fence = self.handle(
            FenceTask("root", 1, CreatePromise("root:1", NOW + HOUR))
        )
        self.assertEqual(fence.action.promise.id, "root:1")
        self.handle(RegisterListener("root", "poll://uni@clients/c1"))
        self.assertEqual(
            self.handle(SuspendTask("root", 1, ("root:1",))).status, HTTPStatus.OK
        )
        self.assertEqual(self.task("root").task.state, TaskState.SUSPENDED)
        self.handle(SettlePromise("root:1", State.RESOLVED, Value(data=b"x")))
        view = self.task("root")
        self.assertEqual((view.task.state, view.resumes), (TaskState.PENDING, 1))
        acquired = self.handle(AcquireTask("root", 1, "pid", 60_000))
        self.assertEqual((acquired.task.task.version, acquired.task.resumes), (2, 0))
        done = self.handle(FulfillTask("root", 2, State.RESOLVED, Value(data=b"r")))
        self.assertEqual(done.promise.state, State.RESOLVED)
        self.assertEqual(self.task("root").task.state, TaskState.FULFILLED)
        self.assertIn(Unblock("root", "poll://uni@clients/c1"), self.outbox())

    def test_suspendOnSettledRedirects(self):
        """
        A suspend on an already settled promise answers 300 with the
        branch's preload, and the task stays acquired at its version.
        """
        tags = {"resonate:target": TARGET, "resonate:branch": "root"}
        self.create("root", tags)
        self.handle(AcquireTask("root", 0, "pid", 60_000))
        self.handle(
            FenceTask(
                "root",
                1,
                CreatePromise("root:1", NOW + HOUR, tags={"resonate:branch": "root"}),
            )
        )
        self.handle(FenceTask("root", 1, SettlePromise("root:1", State.RESOLVED)))
        reply = self.handle(SuspendTask("root", 1, ("root:1",)))
        self.assertEqual(reply.status, HTTPStatus.MULTIPLE_CHOICES)
        self.assertEqual([p.id for p in reply.preload], ["root:1"])
        view = self.task("root")
        self.assertEqual((view.task.state, view.task.version), (TaskState.ACQUIRED, 1))

    def test_v05CompletionWakesAwaiter(self):
        """
        A v0.5 completion of a promise a suspended task awaits runs the
        settlement chain: the task is offered again (DECISIONS 23).
        """
        self.create("root", {"resonate:target": TARGET})
        self.create("root:1")
        self.handle(AcquireTask("root", 0, "pid", 60_000))
        self.handle(SuspendTask("root", 1, ("root:1",)))
        self.successResultOf(
            self.store.completePromise(CompletePromise("root:1", State.RESOLVED), NOW + 1)
        )
        self.assertEqual(self.task("root").task.state, TaskState.PENDING)
        self.assertEqual(self.outbox()[-1], Execute("root", 1, TARGET))

    def test_v05TimeoutFulfillsTask(self):
        """
        The v0.5 timeout sweep settles a timer promise resolved and fulfils
        its task (a durable sleep).
        """
        self.create("s", {"resonate:target": TARGET, "resonate:timer": "true"}, timeout=NOW + 10)
        self.assertEqual(
            self.successResultOf(self.store.timeoutPromises(NOW + 10, None)), 1
        )
        self.assertEqual(self.handle(GetPromise("s")).promise.state, State.RESOLVED)
        self.assertEqual(self.task("s").task.state, TaskState.FULFILLED)

    def test_tryTimeoutOnRead(self):
        """
        A task.get of an overdue promise's task times the promise out first,
        which fulfils the task.
        """
        self.create("t", {"resonate:target": TARGET}, timeout=NOW + 10)
        reply = self.handle(GetTask("t"), now=NOW + 10)
        self.assertEqual(reply.task.task.state, TaskState.FULFILLED)

    def test_leaseExpiry(self):
        """
        A lease not renewed returns the task to pending with an execute; a
        heartbeat renews it by the ttl given at acquire.
        """
        self.create("r", {"resonate:target": TARGET})
        self.handle(AcquireTask("r", 0, "pid", 1_000))
        self.handle(HeartbeatTasks("pid", (TaskAtVersion("r", 1),)), now=NOW + 500)
        self.assertEqual(self.task("r").task.timeoutAt, NOW + 1_500)
        self.assertEqual(
            self.successResultOf(self.store.expireTasks2026(NOW + 1_499, None)), 0
        )
        self.assertEqual(
            self.successResultOf(self.store.expireTasks2026(NOW + 1_500, None)), 1
        )
        view = self.task("r")
        self.assertEqual((view.task.state, view.task.version), (TaskState.PENDING, 1))

    def test_createTaskTwice(self):
        """
        task.create acquires a new task at version 1 without an execute; a
        second one is refused 409; on a promise without a task, 422.
        """
        request = CreateTask(
            "pid", 60_000, CreatePromise("w", NOW + HOUR, tags={"resonate:target": TARGET})
        )
        reply = self.handle(request)
        self.assertEqual((reply.task.task.state, reply.task.task.version), (TaskState.ACQUIRED, 1))
        self.assertEqual(self.outbox(), [])
        self.assertEqual(self.handle(request).status, HTTPStatus.CONFLICT)
        self.create("plain")
        plain = CreateTask(
            "pid", 60_000, CreatePromise("plain", NOW + HOUR, tags={"resonate:target": TARGET})
        )
        self.assertEqual(self.handle(plain).status, HTTPStatus.UNPROCESSABLE_ENTITY)

    def test_haltAndContinue(self):
        """
        A halted task has no timer; continue offers it again.
        """
        self.create("h", {"resonate:target": TARGET})
        self.handle(HaltTask("h"))
        self.assertEqual(self.task("h").task.timeoutAt, None)
        self.handle(ContinueTask("h"))
        self.assertEqual(self.task("h").task.state, TaskState.PENDING)

    def test_releaseAndCallback(self):
        """
        Release returns the task to pending; a callback registered on a
        settled promise for a pending awaiter counts a resume.
        """
        self.create("a", {"resonate:target": TARGET})
        self.handle(AcquireTask("a", 0, "pid", 60_000))
        self.assertEqual(self.handle(ReleaseTask("a", 1)).status, HTTPStatus.OK)
        self.create("a:1")
        self.handle(SettlePromise("a:1", State.REJECTED))
        self.handle(RegisterCallback("a:1", "a"))
        self.assertEqual(self.task("a").resumes, 1)

    def test_scheduleFiresTask(self):
        """
        A schedule whose promise tags carry a target fires a promise that
        roots its own lineage, with a pending task and an execute.
        """
        reply = self.handle(
            CreateSchedule(
                "s",
                "* * * * *",
                "{{.id}}-{{.timestamp}}",
                HOUR,
                promiseTags={"resonate:target": TARGET},
            )
        )
        at = reply.schedule.nextRunTime
        self.assertEqual(self.successResultOf(self.store.fireSchedules(at, 10)), 1)
        promiseId = f"s-{at}"
        promise = self.handle(GetPromise(promiseId), now=at).promise
        for tag in ("resonate:origin", "resonate:branch", "resonate:parent"):
            self.assertEqual(promise.tags[tag], promiseId)
        self.assertEqual(promise.tags["resonate:schedule"], "s")
        self.assertNotIn("resonate:invocation", promise.tags)
        self.assertEqual(self.task(promiseId).task.state, TaskState.PENDING)
        self.assertEqual(self.outbox(), [Execute(promiseId, 0, TARGET)])


def _dueOutbox(now):
    return (yield _op("dueOutbox", now, None))


def _op(method, *args):
    from resonate.store.scripts import RowOp

    return RowOp(method, args)
