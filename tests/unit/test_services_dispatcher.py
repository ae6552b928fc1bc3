# -*- test-case-name: tests.unit.test_services_dispatcher -*-
"""
Tests for L{resonate.services.dispatcher}: routed tasks are pushed at
once, offered again after their claim window, pushes never stall the loop,
and the loop survives failures, never overlaps and stops cleanly.

Everything runs on a L{Clock} over a L{MemoryStore} with a fake HTTP
client: no test sleeps or touches the network.
"""

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial import unittest

from resonate.errors import StoreFailure
from resonate.model.promise import CreatePromise
from resonate.model.routing import Route
from resonate.model.task import CLAIM_WINDOW
from resonate.services.dispatcher import TaskDispatcher
from resonate.store.memory import MemoryStore

#: A clock time, in seconds.
START = 1000.5

BASE = "http://resonate.example:8001"

ROUTES = [
    Route(name="a", pattern="/fan/a/*", connection="wa", queue="queue-a"),
    Route(name="b", pattern="/fan/b/{n}", connection="wb", queue="q-{{.n}}"),
]

CONNECTIONS = {"wa": "http://worker-a:1/", "wb": "http://worker-b:2/"}


class FakePoster:
    """
    Records every post and answers with a C{Deferred} the test fires.

    @ivar posts: C{(url, body, deferred)} per post.
    @ivar hang: URLs whose posts are left hanging; others answer 200 at
        once.
    @ivar fail: URLs whose posts fail at once.
    """

    def __init__(self):
        self.posts = []
        self.hang = set()
        self.fail = set()

    def __call__(self, url, body):
        d = Deferred()
        self.posts.append((url, body, d))
        if url in self.fail:
            d.errback(ConnectionRefusedError("connection refused"))
        elif url not in self.hang:
            d.callback(200)
        return d

    def bodies(self, url=None):
        return [b for u, b, _ in self.posts if url is None or u == url]


class HoldingStore:
    """
    A store wrapper whose C{dispatchTasks} can fail or hang.

    @ivar hold: L{None}, or a list: each call then waits for a C{Deferred}
        appended to it.
    """

    def __init__(self, store):
        self._store = store
        self.failWith = []
        self.hold = None
        self.inFlight = 0
        self.maxInFlight = 0
        self.calls = 0

    def __getattr__(self, name):
        return getattr(self._store, name)

    def dispatchTasks(self, now, limit, claimWindow):
        self.calls += 1
        if self.failWith:
            raise self.failWith.pop(0)
        self.inFlight += 1
        self.maxInFlight = max(self.maxInFlight, self.inFlight)
        gate = succeed(None)
        if self.hold is not None:
            gate = Deferred()
            self.hold.append(gate)

        def run(_):
            return self._store.dispatchTasks(now, limit, claimWindow)

        def done(result):
            self.inFlight -= 1
            return result

        return gate.addCallback(run).addBoth(done)


class TaskDispatcherTests(unittest.TestCase):
    """
    Tests for L{TaskDispatcher}.
    """

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(START)
        self.memory = MemoryStore()
        self.store = HoldingStore(self.memory)
        self.poster = FakePoster()

    def now(self):
        return int(self.clock.seconds() * 1000)

    def makeDispatcher(self, **kwargs):
        kwargs.setdefault("interval", 0.1)
        dispatcher = TaskDispatcher(
            self.store,
            self.clock,
            ROUTES,
            CONNECTIONS,
            BASE + "/",
            kwargs.pop("batchSize", 100),
            post=self.poster,
            **kwargs,
        )
        dispatcher.startService()
        self.addCleanup(self.stop, dispatcher)
        return dispatcher

    def stop(self, dispatcher):
        if dispatcher.running:
            d = dispatcher.stopService()
            self.assertTrue(d.called)

    def create(self, promiseId, timeout=3600_000):
        d = self.memory.createPromiseAndTask(
            CreatePromise(id=promiseId, timeout=self.now() + timeout),
            self.now(),
        )
        return self.successResultOf(d)

    def test_pushedAtFirstIterationWithCounterOne(self):
        """
        A routed task is pushed at the first iteration after its creation,
        with counter 1, its route's queue, the claim and complete links, to
        its route's connection.
        """
        self.makeDispatcher()
        self.create("fan/b/7")
        self.clock.advance(0.1)
        self.assertEqual(
            [(u, b) for u, b, _ in self.poster.posts],
            [
                (
                    "http://worker-b:2/",
                    {
                        "queue": "q-7",
                        "taskId": "fan/b/7",
                        "counter": 1,
                        "links": {
                            "claim": BASE + "/tasks/claim",
                            "complete": BASE + "/tasks/complete",
                        },
                    },
                )
            ],
        )

    def test_notAgainWithinClaimWindowThenCounterTwo(self):
        """
        A pushed task is not pushed again within its claim window; once it
        is over, it is pushed again with counter 2.
        """
        dispatcher = self.makeDispatcher()
        self.create("fan/a/1")
        self.clock.advance(0.1)
        self.assertEqual(len(self.poster.posts), 1)
        self.clock.pump([0.1] * int(CLAIM_WINDOW / 100 - 2))
        self.assertEqual(len(self.poster.posts), 1)
        self.clock.pump([0.1] * 3)
        self.assertEqual(
            [(b["taskId"], b["counter"], b["queue"]) for b in self.poster.bodies()],
            [("fan/a/1", 1, "queue-a"), ("fan/a/1", 2, "queue-a")],
        )
        self.assertEqual(dispatcher.offered, 2)
        self.assertEqual(dispatcher.pushed, 2)

    def test_unroutedPromisesHaveNoTask(self):
        """
        A promise whose id matches no route is never pushed.
        """
        self.makeDispatcher()
        self.create("other/1")
        self.clock.pump([0.1] * 5)
        self.assertEqual(self.poster.posts, [])

    def test_hangingPushDoesNotStallOthers(self):
        """
        A push to a worker that never answers does not hold up pushes to
        another worker, nor later iterations.
        """
        self.poster.hang.add(CONNECTIONS["wa"])
        dispatcher = self.makeDispatcher()
        self.create("fan/a/1")
        self.clock.advance(0.1)
        self.create("fan/b/1")
        self.create("fan/a/2")
        self.clock.advance(0.1)
        self.create("fan/b/2")
        self.clock.advance(0.1)
        self.assertEqual(
            sorted(b["taskId"] for b in self.poster.bodies(CONNECTIONS["wb"])),
            ["fan/b/1", "fan/b/2"],
        )
        self.assertEqual(
            sorted(b["taskId"] for b in self.poster.bodies(CONNECTIONS["wa"])),
            ["fan/a/1", "fan/a/2"],
        )
        self.assertEqual(dispatcher.pushed, 2)

    def test_failingPushLoggedAndRetried(self):
        """
        A push that fails is counted and logged once, the loop goes on, and
        the task is offered again after its claim window.
        """
        self.poster.fail.add(CONNECTIONS["wa"])
        dispatcher = self.makeDispatcher()
        self.create("fan/a/1")
        self.create("fan/b/1")
        self.clock.advance(0.1)
        self.assertEqual(dispatcher.pushFailures, 1)
        self.assertEqual(dispatcher.pushed, 1)
        self.assertEqual(dispatcher.failures, 0)
        self.poster.fail.clear()
        self.clock.pump([0.1] * int(CLAIM_WINDOW / 100 + 1))
        self.assertEqual(
            [(b["taskId"], b["counter"]) for b in self.poster.bodies(CONNECTIONS["wa"])],
            [("fan/a/1", 1), ("fan/a/1", 2)],
        )

    def test_wakePushesAtOnce(self):
        """
        C{wake()} runs an iteration at once rather than after the sleep.
        """
        dispatcher = self.makeDispatcher(interval=5.0)
        self.clock.advance(0.001)
        self.create("fan/a/1")
        self.clock.advance(0.001)
        dispatcher.wake()
        self.assertEqual(self.poster.posts, [])
        self.clock.advance(0)
        self.assertEqual([b["taskId"] for b in self.poster.bodies()], ["fan/a/1"])

    def test_wakeDuringIterationRunsAnother(self):
        """
        C{wake()} during an iteration runs another right after it, never
        two at once.
        """
        self.store.hold = []
        dispatcher = self.makeDispatcher(interval=5.0)
        self.assertEqual(len(self.store.hold), 1)
        dispatcher.wake()
        dispatcher.wake()
        self.clock.advance(0)
        self.assertEqual(self.store.calls, 1)
        self.assertEqual(self.store.maxInFlight, 1)
        self.store.hold.pop().callback(None)
        self.clock.advance(0)
        self.assertEqual(self.store.calls, 2)
        self.assertEqual(self.store.maxInFlight, 1)
        self.store.hold.pop().callback(None)
        self.assertEqual(dispatcher.iterations, 2)

    def test_noOverlap(self):
        """
        An iteration that outlasts the interval delays the next; two never
        run at once.
        """
        self.store.hold = []
        dispatcher = self.makeDispatcher()
        self.clock.pump([0.1] * 10)
        self.assertEqual(self.store.calls, 1)
        self.store.hold.pop().callback(None)
        self.clock.advance(0.1)
        self.assertEqual(self.store.calls, 2)
        self.assertEqual(self.store.maxInFlight, 1)
        self.store.hold.pop().callback(None)
        self.assertEqual(dispatcher.iterations, 2)

    def test_failureCountedAndLoopGoesOn(self):
        """
        A failing iteration is counted and logged, and the loop carries on
        after the backoff.
        """
        self.store.failWith = [StoreFailure("database away")]
        dispatcher = self.makeDispatcher(backoff=1.0)
        self.assertEqual(dispatcher.failures, 1)
        self.assertEqual(dispatcher.iterations, 1)
        self.create("fan/a/1")
        self.clock.advance(0.5)
        self.assertEqual(self.poster.posts, [])
        self.clock.advance(0.5)
        self.assertEqual([b["taskId"] for b in self.poster.bodies()], ["fan/a/1"])
        self.assertEqual(dispatcher.failures, 1)

    def test_unexpectedFailureLogged(self):
        """
        An unexpected exception fails the iteration (logged with its
        traceback) and the loop carries on.
        """
        self.store.failWith = [ZeroDivisionError()]
        dispatcher = self.makeDispatcher()
        self.assertEqual(dispatcher.failures, 1)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.clock.advance(1.0)
        self.assertEqual(dispatcher.iterations, 2)

    def test_stopWaitsForIterationNotForPushes(self):
        """
        Stopping waits for the running iteration, not for pushes in flight,
        which are cancelled; no iteration runs after.
        """
        self.poster.hang.add(CONNECTIONS["wa"])
        dispatcher = self.makeDispatcher()
        self.create("fan/a/1")
        self.clock.advance(0.1)
        push = self.poster.posts[0][2]
        self.store.hold = []
        self.clock.advance(0.1)
        stopped = dispatcher.stopService()
        self.assertNoResult(stopped)
        self.store.hold.pop().callback(None)
        self.successResultOf(stopped)
        self.assertTrue(push.called)
        self.assertEqual(dispatcher.pushFailures, 0)
        calls = self.store.calls
        self.clock.pump([0.1] * 20)
        self.assertEqual(self.store.calls, calls)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_wakeWhenStoppedDoesNothing(self):
        """
        C{wake()} on a stopped dispatcher schedules nothing.
        """
        dispatcher = self.makeDispatcher()
        self.successResultOf(dispatcher.stopService())
        dispatcher.wake()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class DefaultPosterTests(unittest.TestCase):
    """
    The default client is built from the reactor and timeout, and closes
    its pool on stop.
    """

    def test_defaultPosterClosesOnStop(self):
        from twisted.internet import reactor

        dispatcher = TaskDispatcher(
            MemoryStore(), reactor, ROUTES, CONNECTIONS, BASE, 10, timeout=2.0
        )
        self.assertIsNotNone(dispatcher._poster)
        dispatcher.startService()
        return dispatcher.stopService()
