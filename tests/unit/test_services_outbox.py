"""
Tests for L{resonate.services.outbox}: the delivery of the 2026 outbox over
the memory store, with fake transports and a test clock.  Real sockets are
in C{tests.integration.test_delivery}.
"""

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from resonate.api.protocol2026 import renderPromise
from resonate.metrics import Metrics
from resonate.model.outbox import Route, backoff
from resonate.model.promise import CreatePromise, State
from resonate.model.requests2026 import RegisterListener, SettlePromise
from resonate.services.outbox import OutboxDelivery, routeOf
from resonate.store.memory import MemoryStore

TARGET = "poll://any@workers"
START = 1_700_000_000


class FakeRegistry:
    """
    A poll registry with fixed connections, recording what it is given.
    """

    def __init__(self, keys, accept=True):
        self.keys = list(keys)
        self.accept = accept
        self.sent = []

    def connectedKeys(self):
        return list(self.keys)

    def connectedGroups(self):
        return sorted({group for group, _ in self.keys})

    def deliver(self, address, message):
        self.sent.append((str(address.group), address.id, message))
        return self.accept


class FakePusher:
    """
    A pusher whose answers the test gives.
    """

    def __init__(self):
        self.pushes = []
        self.waiting = 0

    def push(self, url, message):
        d = Deferred()
        self.pushes.append((url, message, d))
        return d


class RouteTests(TestCase):
    """
    L{routeOf} names exactly the addresses a process's connections serve.
    """

    def test_route(self):
        """
        Each connection's unicast address, each group's anycast address and
        its anycasts to any id, and pushes when the process pushes.
        """
        route = routeOf(FakeRegistry([("g", "a"), ("g", "b"), ("h", "c")]), True)
        self.assertEqual(
            route,
            Route(
                (
                    "poll://any@g",
                    "poll://any@h",
                    "poll://uni@g/a",
                    "poll://uni@g/b",
                    "poll://uni@h/c",
                ),
                ("poll://any@g/", "poll://any@h/"),
                True,
            ),
        )

    def test_nothing(self):
        """
        Without connections or pushes, nothing can be delivered.
        """
        self.assertTrue(routeOf(None, False).isEmpty)
        self.assertTrue(routeOf(FakeRegistry([]), False).isEmpty)

    def test_backoff(self):
        """
        The wait doubles from the base, up to the ceiling.
        """
        self.assertEqual(
            [backoff(n, 1000, 60_000) for n in (1, 2, 3, 7, 8, 100)],
            [1000, 2000, 4000, 60_000, 60_000, 60_000],
        )


class DeliveryTests(TestCase):
    """
    Messages leave the outbox when delivered, wait with a backoff when not,
    and are dropped when too old.
    """

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(START)
        self.store = MemoryStore()
        self.metrics = Metrics()

    def now(self):
        return int(self.clock.seconds() * 1000)

    def delivery(self, poll=None, pusher=None, **kwargs):
        return OutboxDelivery(
            self.store,
            self.clock,
            "http://server:8001",
            renderPromise,
            poll=poll,
            pusher=pusher,
            metrics=self.metrics,
            **kwargs,
        )

    async def create(self, promiseId, target=TARGET):
        await self.store.handle2026(
            CreatePromise(
                promiseId, self.now() + 3_600_000, tags={"resonate:target": target}
            ),
            self.now(),
        )

    async def outbox(self):
        return await self.store.runScript(_due, 2**62)

    async def test_executeOverSSE(self):
        """
        An execute goes to the connection of its group, with the server's
        URL in its head, and leaves the outbox.
        """
        await self.create("root")
        poll = FakeRegistry([("workers", "w1")])
        delivery = self.delivery(poll=poll)
        await delivery._runOnce()
        self.assertEqual(
            poll.sent,
            [
                (
                    "workers",
                    None,
                    {
                        "kind": "execute",
                        "head": {"serverUrl": "http://server:8001"},
                        "data": {"task": {"id": "root", "version": 0}},
                    },
                )
            ],
        )
        self.assertEqual(await self.outbox(), [])
        self.assertEqual(delivery.delivered, 1)

    async def test_settledTogether(self):
        """
        The messages of one look are settled with one store request, and
        the look does not wait for it (what it took is leased); pausing
        and stopping the loop do, so a paused loop changes nothing.
        """
        for n in range(3):
            await self.create(f"p{n}")
        poll = FakeRegistry([("workers", "w1")])
        delivery = self.delivery(poll=poll)
        held = []
        original = self.store.settleMessages

        def settleMessages(delivered, failed):
            d = Deferred()
            held.append((d, delivered, failed))
            return d.addCallback(lambda _: original(delivered, failed))

        self.patch(self.store, "settleMessages", settleMessages)
        await delivery._runOnce()
        self.assertEqual(len(poll.sent), 3)
        [(d, delivered, failed)] = held
        self.assertEqual((len(delivered), failed), (3, []))
        paused = delivery.pause()
        stopped = delivery.stopService()
        self.assertNoResult(paused)
        self.assertNoResult(stopped)
        self.assertEqual(len(await self.outbox()), 3)
        d.callback(None)
        self.successResultOf(paused)
        self.successResultOf(stopped)
        self.assertEqual(await self.outbox(), [])
        self.assertEqual(delivery.delivered, 3)

    async def test_settledTogetherFailed(self):
        """
        Refused messages of a look are put off with a backoff in the same
        request as the delivered ones are removed.
        """
        await self.create("a")
        poll = FakeRegistry([("workers", "w1")], accept=False)
        delivery = self.delivery(poll=poll)
        calls = []
        original = self.store.settleMessages

        def settleMessages(delivered, failed):
            calls.append((list(delivered), list(failed)))
            return original(delivered, failed)

        self.patch(self.store, "settleMessages", settleMessages)
        await delivery._runOnce()
        [(delivered, [(entryId, attempts, nextAttemptAt)])] = calls
        self.assertEqual((delivered, attempts), ([], 1))
        self.assertGreater(nextAttemptAt, self.now())
        self.assertEqual(delivery.failedAttempts, 1)

    async def test_settleFailureLogged(self):
        """
        A settling write that fails is logged, and the loop goes on; the
        message stays leased, to be sent again after its lease.
        """
        await self.create("root")
        poll = FakeRegistry([("workers", "w1")])
        delivery = self.delivery(poll=poll)

        def settleMessages(delivered, failed):
            raise RuntimeError("store gone")

        self.patch(self.store, "settleMessages", settleMessages)
        await delivery._runOnce()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        [entry] = await self.outbox()
        self.assertEqual(entry.attempts, 1)

    async def test_otherGroupWaits(self):
        """
        A message for a group this process has no connection of is not
        taken: it stays due for the process that has one.
        """
        await self.create("root")
        poll = FakeRegistry([("others", "x")])
        await self.delivery(poll=poll)._runOnce()
        self.assertEqual(poll.sent, [])
        [entry] = await self.outbox()
        self.assertEqual(entry.attempts, 0)

    async def test_refusedRetriedWithBackoff(self):
        """
        A message the connection refuses (its buffer is full) is put off
        with a backoff and counted as an error.
        """
        await self.create("root")
        poll = FakeRegistry([("workers", "w1")], accept=False)
        await self.delivery(poll=poll, retryBase=1000)._runOnce()
        [entry] = await self.outbox()
        self.assertEqual((entry.attempts, entry.nextAttemptAt), (1, self.now() + 1000))

    async def test_unblockCarriesPromise(self):
        """
        An unblock carries the settled promise's record, read when it is
        sent.
        """
        await self.store.handle2026(CreatePromise("p", self.now() + 10_000), self.now())
        await self.store.handle2026(
            RegisterListener("p", "poll://uni@clients/c1"), self.now()
        )
        await self.store.handle2026(SettlePromise("p", State.RESOLVED), self.now())
        poll = FakeRegistry([("clients", "c1")])
        await self.delivery(poll=poll)._runOnce()
        [(group, id, message)] = poll.sent
        self.assertEqual((group, id, message["kind"]), ("clients", "c1", "unblock"))
        self.assertEqual(message["data"]["promise"]["state"], "resolved")
        self.assertEqual(message["head"], {})

    async def test_pushAnswered(self):
        """
        A push answered 2xx removes the message; a failed one is put off;
        the loop does not wait for pushes.
        """
        await self.create("a", "http://worker.example/a")
        await self.create("b", "http://worker.example/b")
        pusher = FakePusher()
        delivery = self.delivery(pusher=pusher, retryBase=500)
        await delivery._runOnce()
        self.assertEqual(
            sorted(url for url, _, _ in pusher.pushes),
            ["http://worker.example/a", "http://worker.example/b"],
        )
        for url, message, d in pusher.pushes:
            d.callback(url.endswith("/a"))
        [left] = await self.outbox()
        self.assertEqual(left.message.taskId, "b")
        self.assertEqual(left.nextAttemptAt, self.now() + 500)
        self.assertEqual((delivery.delivered, delivery.failedAttempts), (1, 1))

    async def test_takenNotTakenAgain(self):
        """
        A message being pushed is leased: the next look does not take it.
        """
        await self.create("a", "http://worker.example/a")
        pusher = FakePusher()
        delivery = self.delivery(pusher=pusher, lease=30_000)
        await delivery._runOnce()
        await delivery._runOnce()
        self.assertEqual(len(pusher.pushes), 1)

    async def test_pushOutlivingLeaseFails(self):
        """
        A push not answered within its lease is given up (and retried
        later), so that it is not in flight when the message is taken again.
        """
        await self.create("a", "http://worker.example/a")
        pusher = FakePusher()
        delivery = self.delivery(pusher=pusher, lease=10_000, retryBase=1000)
        await delivery._runOnce()
        self.clock.advance(9)
        [(_, _, d)] = pusher.pushes
        self.assertTrue(d.called)
        [entry] = await self.outbox()
        self.assertEqual(entry.attempts, 1)
        self.assertEqual(delivery.failedAttempts, 1)

    async def test_expiredDropped(self):
        """
        A message older than maxAge is dropped and counted, whether or not
        a connection could take it.
        """
        await self.create("root")
        self.clock.advance(11)
        delivery = self.delivery(poll=FakeRegistry([]), maxAge=10_000)
        await delivery._runOnce()
        self.assertEqual(await self.outbox(), [])
        self.assertEqual(delivery.dropped, 1)


def _due(now):
    from resonate.store.scripts import RowOp

    return (yield RowOp("dueOutbox", (now, None)))
