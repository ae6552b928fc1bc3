# -*- test-case-name: tests.unit.test_services -*-
"""
Tests for the background loops, the timeout sweep and the order the server
stops in, all on a L{Clock}.  Listening on real ports is in
L{tests.integration.test_services_listen}.
"""

from twisted.application.service import Service
from twisted.internet.defer import Deferred, ensureDeferred, succeed
from twisted.internet.task import Clock
from twisted.trial import unittest

from resonate.api.operations import Operations
from resonate.errors import StoreFailure
from resonate.model.promise import CreatePromise, State
from resonate.services.background import BackgroundService, WakeableLoop
from resonate.services.server import ResonateService
from resonate.services.timeouts import TRANSACTION_ROWS, BatchedSweep
from resonate.store.memory import MemoryStore


class BackgroundServiceTests(unittest.TestCase):
    """
    Tests for L{BackgroundService}.
    """

    def test_survivesFailures(self):
        """
        A failing iteration is logged and counted; the loop runs again.
        """
        clock = Clock()
        calls = []

        def work():
            calls.append(clock.seconds())
            raise RuntimeError("boom")

        service = BackgroundService("test", 1.0, work, clock)
        service.startService()
        clock.advance(1)
        clock.advance(1)
        self.assertEqual(calls, [0, 1, 2])
        self.assertEqual(service.failures, 3)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 3)
        service.stopService()

    def test_expectedFailureIsOneLine(self):
        """
        A L{ResonateError} (the store is away, say) is counted and logged as
        one warning line, not as a traceback.
        """
        clock = Clock()

        def work():
            raise StoreFailure("PostgreSQL is unavailable")

        events = []
        from twisted.logger import globalLogPublisher

        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        service = BackgroundService("test", 1.0, work, clock)
        service.startService()
        self.assertEqual(service.failures, 1)
        self.assertEqual(self.flushLoggedErrors(), [])
        [event] = [e for e in events if "failed" in e.get("log_format", "")]
        self.assertNotIn("log_failure", event)
        service.stopService()

    def test_noOverlap(self):
        """
        An iteration still running when the interval passes delays the next
        one instead of running beside it; stopping waits for it.
        """
        clock = Clock()
        running = []

        def work():
            d = Deferred()
            running.append(d)
            return d

        service = BackgroundService("test", 1.0, work, clock)
        service.startService()
        clock.advance(5)
        self.assertEqual(len(running), 1)
        stopped = service.stopService()
        self.assertNoResult(stopped)
        running[0].callback(None)
        self.successResultOf(stopped)
        self.assertEqual(service.iterations, 1)

    def test_coroutineWork(self):
        """
        Work may be a coroutine function.
        """
        clock = Clock()
        done = []

        async def work():
            done.append(True)

        service = BackgroundService("test", 1.0, work, clock)
        service.startService()
        self.assertEqual(done, [True])
        self.successResultOf(service.stopService())


class BackgroundServicePauseTests(unittest.TestCase):
    """
    Tests for L{BackgroundService.pause} and L{BackgroundService.resume}.
    """

    def setUp(self):
        self.clock = Clock()

    def service(self, work):
        service = BackgroundService("test", 1.0, work, self.clock)
        service.startService()
        self.addCleanup(service.stopService)
        return self.clock, service

    def test_pausedDoesNotIterate(self):
        """
        A paused loop starts no iteration, however long it waits, and stays
        running as a service; resumed, it iterates at the next tick.
        """
        calls = []
        clock, service = self.service(lambda: calls.append(self.clock.seconds()))
        self.assertEqual(calls, [0])
        self.successResultOf(service.pause())
        self.assertTrue(service.paused)
        clock.advance(1)
        clock.advance(1)
        self.assertEqual(calls, [0])
        self.assertEqual(service.iterations, 1)
        self.assertTrue(service.running)
        clock.advance(0.5)
        service.resume()
        self.assertFalse(service.paused)
        self.assertEqual(calls, [0])
        clock.advance(0.5)
        self.assertEqual(calls, [0, 3])
        clock.advance(1)
        self.assertEqual(calls, [0, 3, 4])

    def test_pauseWaitsForRunningIteration(self):
        """
        The C{Deferred} that C{pause} returns fires once the iteration
        running then has finished.
        """
        running = []

        def work():
            running.append(Deferred())
            return running[-1]

        clock, service = self.service(work)
        paused = service.pause()
        self.assertNoResult(paused)
        clock.advance(5)
        self.assertEqual(len(running), 1)
        running[0].callback(None)
        self.successResultOf(paused)
        clock.advance(5)
        self.assertEqual(len(running), 1)

    def test_pausedBeforeStart(self):
        """
        A loop paused before it starts does not iterate when it starts.
        """
        clock = self.clock
        calls = []
        service = BackgroundService("test", 1.0, lambda: calls.append(1), clock)
        self.successResultOf(service.pause())
        service.startService()
        self.addCleanup(service.stopService)
        clock.advance(3)
        self.assertEqual(calls, [])
        service.resume()
        clock.advance(1)
        self.assertEqual(calls, [1])


class _Loop(WakeableLoop):
    """
    A L{WakeableLoop} that records the time of each iteration and sleeps a
    second, or waits for a C{Deferred} when told to.
    """

    def __init__(self, clock):
        super().__init__("test", clock, backoff=1.0)
        self.calls = []
        self.hold = None

    async def _runOnce(self):
        self.calls.append(self._clock.seconds())
        if self.hold is not None:
            await self.hold
        return 1.0


class WakeableLoopPauseTests(unittest.TestCase):
    """
    Tests for L{WakeableLoop.pause} and L{WakeableLoop.resume}.
    """

    def setUp(self):
        self.clock = Clock()
        self.loop = _Loop(self.clock)

    def start(self):
        self.loop.startService()
        self.addCleanup(self.loop.stopService)

    def test_pausedDoesNotIterate(self):
        """
        A paused loop neither wakes at the end of its sleep nor when woken;
        resumed, it iterates at once (from the reactor) and then as usual.
        """
        self.start()
        self.assertEqual(self.loop.calls, [0])
        self.successResultOf(self.loop.pause())
        self.clock.advance(1)
        self.loop.wake()
        self.clock.advance(0)
        self.clock.advance(5)
        self.assertEqual(self.loop.calls, [0])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.loop.resume()
        self.assertEqual(self.loop.calls, [0])
        self.clock.advance(0)
        self.assertEqual(self.loop.calls, [0, 6])
        self.clock.advance(1)
        self.assertEqual(self.loop.calls, [0, 6, 7])

    def test_pauseWaitsForRunningIteration(self):
        """
        Paused during an iteration, the loop lets it finish (the returned
        C{Deferred} fires then) and schedules nothing after it.
        """
        self.loop.hold = Deferred()
        self.start()
        paused = self.loop.pause()
        self.assertNoResult(paused)
        self.loop.wake()
        self.loop.hold.callback(None)
        self.successResultOf(paused)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_resumeDuringIteration(self):
        """
        Paused and resumed within one iteration, the loop carries on after
        it as if never paused, without a second iteration beside it.
        """
        self.loop.hold = Deferred()
        self.start()
        self.loop.pause()
        self.loop.resume()
        self.clock.advance(0)
        self.assertEqual(self.loop.calls, [0])
        hold, self.loop.hold = self.loop.hold, None
        hold.callback(None)
        self.clock.advance(1)
        self.assertEqual(self.loop.calls, [0, 1])

    def test_pausedBeforeStart(self):
        """
        A loop paused before it starts does not iterate when it starts.
        """
        self.successResultOf(self.loop.pause())
        self.start()
        self.clock.advance(3)
        self.assertEqual(self.loop.calls, [])
        self.loop.resume()
        self.clock.advance(0)
        self.assertEqual(self.loop.calls, [3])


class BatchedSweepTests(unittest.TestCase):
    """
    Tests for L{BatchedSweep}.
    """

    def test_sweepsInBatches(self):
        """
        A sweep times out overdue promises batch by batch, up to its bound,
        and leaves the rest for the next sweep.
        """
        store = MemoryStore()
        for i in range(25):
            self.successResultOf(
                store.createPromise(CreatePromise(id=f"p{i}", timeout=1000), 0)
            )
        clock = Clock()
        clock.advance(2)
        sweep = BatchedSweep(store.timeoutPromises, clock, batchSize=10, maxBatches=2)
        self.successResultOf(ensureDeferred(sweep()))
        self.assertEqual(sweep.swept, 20)
        self.successResultOf(ensureDeferred(sweep()))
        self.assertEqual(sweep.swept, 25)
        decision = self.successResultOf(store.readPromise("p3", 0))
        self.assertEqual(decision.promise.state, State.REJECTED_TIMEDOUT)

    def test_boundedTransactions(self):
        """
        A batch larger than L{TRANSACTION_ROWS} is swept in transactions of
        at most that many rows, and the sweep's whole budget is still
        C{maxBatches} x C{batchSize} rows.
        """
        limits = []

        def sweep(now, limit):
            limits.append(limit)
            return succeed(limit)

        clock = Clock()
        batched = BatchedSweep(
            sweep, clock, batchSize=TRANSACTION_ROWS * 2 + 10, maxBatches=2
        )
        self.successResultOf(ensureDeferred(batched()))
        self.assertEqual(
            limits, [TRANSACTION_ROWS] * 4 + [20]
        )
        self.assertEqual(batched.swept, 2 * (TRANSACTION_ROWS * 2 + 10))

    def test_pausesAsLongAsATransactionTook(self):
        """
        After each full transaction the sweep waits as long as that
        transaction took before it starts the next: it takes at most half
        the server's time.
        """
        clock = Clock()
        calls = []

        def sweep(now, limit):
            calls.append(clock.seconds())
            # This transaction takes a quarter of a second (exact in binary,
            # so the clock's sums are too).
            clock.advance(0.25)
            return succeed(limit)

        batched = BatchedSweep(sweep, clock, batchSize=TRANSACTION_ROWS, maxBatches=3)
        d = ensureDeferred(batched())
        self.assertEqual(calls, [0])
        clock.advance(0.125)
        self.assertEqual(calls, [0])
        clock.advance(0.125)
        self.assertEqual(calls, [0, 0.5])
        clock.advance(0.25)
        # The budget is spent: no pause after the last transaction.
        self.assertEqual(calls, [0, 0.5, 1.0])
        self.successResultOf(d)
        self.assertEqual(batched.swept, 3 * TRANSACTION_ROWS)

    def test_noPauseOnceCaughtUp(self):
        """
        A transaction that finds fewer rows than it could take ends the
        sweep at once, without a pause.
        """
        clock = Clock()

        def sweep(now, limit):
            clock.advance(0.05)
            return succeed(3)

        batched = BatchedSweep(sweep, clock, batchSize=TRANSACTION_ROWS)
        self.successResultOf(ensureDeferred(batched()))
        self.assertEqual(batched.swept, 3)


class LockExpiryLoopTests(unittest.TestCase):
    """
    The background lock sweep, on a L{Clock}.
    """

    def test_expiresAtItsTime(self):
        """
        A lock is swept at the first sweep at or after its expiry, not
        before: until then its holder keeps it.
        """
        from resonate.model.lock import AcquireLock

        clock = Clock()
        store = MemoryStore()
        self.successResultOf(
            store.acquireLock(AcquireLock("r", "p", "e", 2500), 0)
        )
        loop = BackgroundService(
            "timeout-locks", 1.0, BatchedSweep(store.timeoutLocks, clock, 10), clock
        )
        loop.startService()
        self.addCleanup(loop.stopService)

        def heldBySomeoneElse():
            decision = self.successResultOf(
                store.acquireLock(AcquireLock("r", "q", "other", 1), 0)
            )
            return decision.status.isError

        clock.advance(2)
        self.assertTrue(heldBySomeoneElse())
        clock.advance(1)
        # Swept at t=3s: the lock (due at 2.5 s) is gone, even for a
        # request that still believes it is t=0.
        self.assertFalse(heldBySomeoneElse())


class _Recorder(Service):
    def __init__(self, name, events, result=None):
        self.setName(name)
        self._events = events
        self._result = result

    def stopService(self):
        super().stopService()
        self._events.append(self.name)
        return self._result


class ResonateServiceTests(unittest.TestCase):
    """
    Tests for the stop order of L{ResonateService}.
    """

    def test_stopOrder(self):
        """
        Listeners stop first, then in-flight requests finish, then the loops
        stop, and the store closes last.
        """
        events = []
        clock = Clock()
        store = MemoryStore()
        store.close = lambda: events.append("store") or succeed(None)
        operations = Operations(store, clock, 10)
        operations.inFlight = 1
        service = ResonateService(
            store,
            operations,
            listeners=[_Recorder("http", events)],
            loops=[_Recorder("loop", events)],
            grace=10,
            clock=clock,
        )
        service.startService()
        stopped = service.stopService()
        self.assertEqual(events, ["http"])
        # The request in flight finishes: the loop and store follow.
        operations.inFlight = 0
        operations._drained.pop().callback(None)
        self.successResultOf(stopped)
        self.assertEqual(events, ["http", "loop", "store"])

    def test_graceRunsOut(self):
        """
        Requests that outlast the grace period do not hold the store open.
        """
        events = []
        clock = Clock()
        store = MemoryStore()
        store.close = lambda: events.append("store") or succeed(None)
        operations = Operations(store, clock, 10)
        operations.inFlight = 1
        service = ResonateService(store, operations, [], [], grace=10, clock=clock)
        service.startService()
        stopped = service.stopService()
        self.assertNoResult(stopped)
        clock.advance(10)
        self.successResultOf(stopped)
        self.assertEqual(events, ["store"])
