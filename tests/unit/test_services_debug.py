# -*- test-case-name: tests.unit.test_services_debug -*-
"""
Tests for L{resonate.services.debug}: C{debug.start} pauses the loops for
real, C{debug.stop} resumes them, and C{debug.tick} runs the timeout
processing at the time it is given, to completion.

Everything runs on a L{Clock}: no test sleeps.
"""

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.trial import unittest

from resonate.errors import StoreFailure
from resonate.metrics import Metrics
from resonate.model.promise import CreatePromise, State
from resonate.services.background import BackgroundService
from resonate.services.debug import DebugControl
from resonate.services.scheduler import ScheduleService
from resonate.services.timeouts import BatchedSweep
from resonate.store.memory import MemoryStore


class SweepingStore:
    """
    A store whose sweeps record their calls and work off a backlog.

    @ivar calls: C{(method, now, limit, retryTimeout)} per call, in order.
    @ivar backlog: method name to how many rows are still due.
    @ivar failWith: L{None}, or an exception every sweep fails with.
    @ivar routed: the C{isRouted} that C{fireSchedules} was last given.
    """

    def __init__(self, **backlog):
        self.calls = []
        self.backlog = {
            "timeoutPromises": 0,
            "expireTasks2026": 0,
            "fireSchedules": 0,
            **backlog,
        }
        self.failWith = None
        self.routed = None

    def _sweep(self, method, now, limit, retryTimeout):
        self.calls.append((method, now, limit, retryTimeout))
        if self.failWith is not None:
            return fail(self.failWith)
        count = min(limit, self.backlog[method])
        self.backlog[method] -= count
        return succeed(count)

    def timeoutPromises(self, now, limit, retryTimeout=None):
        return self._sweep("timeoutPromises", now, limit, retryTimeout)

    def expireTasks2026(self, now, limit, retryTimeout=None):
        return self._sweep("expireTasks2026", now, limit, retryTimeout)

    def fireSchedules(self, now, limit, isRouted=None, retryTimeout=None):
        self.routed = isRouted
        return self._sweep("fireSchedules", now, limit, retryTimeout)

    def nextRunTime(self):
        return succeed(None)


class DebugControlTickTests(unittest.TestCase):
    """
    Tests for L{DebugControl.tick}.
    """

    def test_order(self):
        """
        A tick times out promises, then expires task timers, then fires
        schedules, all at the time given and with the retry timeout, as
        the reference server's timeout processing does.
        """
        store = SweepingStore()

        def isRouted(promiseId):
            return False

        control = DebugControl([], store, 7000, isRouted=isRouted, batchSize=10)
        self.successResultOf(control.tick(123456))
        self.assertEqual(
            store.calls,
            [
                ("timeoutPromises", 123456, 10, 7000),
                ("expireTasks2026", 123456, 10, 7000),
                ("fireSchedules", 123456, 10, 7000),
            ],
        )
        self.assertIs(store.routed, isRouted)

    def test_toCompletion(self):
        """
        Each kind of work is done in batches until a batch comes back
        short: nothing due at the given time is left for later.
        """
        store = SweepingStore(
            timeoutPromises=25, expireTasks2026=20, fireSchedules=3
        )
        control = DebugControl([], store, 30000, batchSize=10)
        self.successResultOf(control.tick(1000))
        self.assertEqual(
            [(method, limit) for method, _, limit, _ in store.calls],
            [("timeoutPromises", 10)] * 3
            + [("expireTasks2026", 10)] * 3
            + [("fireSchedules", 10)],
        )
        self.assertEqual(set(store.backlog.values()), {0})

    def test_countsSchedulePromises(self):
        """
        The promises a tick's schedules fire count in
        C{resonate_schedule_promises_total}, as the scheduler's do.
        """
        metrics = Metrics()
        store = SweepingStore(fireSchedules=12)
        control = DebugControl([], store, 30000, batchSize=10, metrics=metrics)
        self.successResultOf(control.tick(1000))
        self.assertIn(
            "resonate_schedule_promises_total 12.0",
            metrics.exposition().decode().splitlines(),
        )

    def test_failure(self):
        """
        A store failure fails the tick, and stops it there.
        """
        store = SweepingStore()
        store.failWith = StoreFailure("the database is away")
        control = DebugControl([], store, 30000)
        self.failureResultOf(control.tick(1000), StoreFailure)
        self.assertEqual(len(store.calls), 1)

    def test_waitsForPausedIteration(self):
        """
        A tick after a pause waits for the iteration that was running when
        the loops were paused: the two never change the store together.
        """
        clock = Clock()
        running = Deferred()
        loop = BackgroundService("timeout-promises", 1.0, lambda: running, clock)
        loop.startService()
        self.addCleanup(loop.stopService)
        store = SweepingStore()
        control = DebugControl([loop], store, 30000)
        control.pause()
        ticked = control.tick(1000)
        self.assertNoResult(ticked)
        self.assertEqual(store.calls, [])
        running.callback(None)
        self.successResultOf(ticked)
        self.assertEqual(len(store.calls), 3)

    def test_timesOutAtTheGivenTime(self):
        """
        Over a real store, a tick times a promise out at the tick's time,
        whatever the clock says, and not before its timeout.
        """
        store = MemoryStore()
        self.successResultOf(
            store.createPromise(CreatePromise(id="p", timeout=5000), 0)
        )
        control = DebugControl([], store, 30000)

        def state():
            return self.successResultOf(
                store.readPromise("p", 0)
            ).promise.state

        self.successResultOf(control.tick(4999))
        self.assertEqual(state(), State.PENDING)
        self.successResultOf(control.tick(5000))
        self.assertEqual(state(), State.REJECTED_TIMEDOUT)


class DebugControlPauseTests(unittest.TestCase):
    """
    Tests for L{DebugControl.pause} and L{DebugControl.resume}.
    """

    def setUp(self):
        self.clock = Clock()
        self.store = SweepingStore()
        self.sweep = BackgroundService(
            "timeout-promises",
            1.0,
            BatchedSweep(self.store.timeoutPromises, self.clock, 10),
            self.clock,
        )
        self.scheduler = ScheduleService(self.store, self.clock, batchSize=10)
        self.control = DebugControl(
            [self.sweep, self.scheduler], self.store, 30000
        )
        for loop in (self.sweep, self.scheduler):
            loop.startService()
            self.addCleanup(loop.stopService)

    def methods(self):
        return [call[0] for call in self.store.calls]

    def test_pause(self):
        """
        Paused, no loop touches the store however much time passes, and a
        wake is ignored; the returned C{Deferred} has fired, as nothing was
        running.
        """
        self.assertEqual(self.methods(), ["timeoutPromises", "fireSchedules"])
        del self.store.calls[:]
        self.successResultOf(self.control.pause())
        self.assertTrue(self.control.paused)
        self.assertTrue(self.sweep.paused)
        self.assertTrue(self.scheduler.paused)
        self.scheduler.wake()
        for _ in range(10):
            self.clock.advance(1)
        self.assertEqual(self.store.calls, [])

    def test_resume(self):
        """
        Resumed, every loop carries on.
        """
        self.control.pause()
        self.clock.advance(5)
        del self.store.calls[:]
        self.control.resume()
        self.assertFalse(self.control.paused)
        self.clock.advance(0)
        self.clock.advance(1)
        self.assertEqual(
            sorted(set(self.methods())), ["fireSchedules", "timeoutPromises"]
        )

    def test_tickWhilePaused(self):
        """
        A tick while paused does its work once, and the loops stay paused.
        """
        self.control.pause()
        del self.store.calls[:]
        self.successResultOf(self.control.tick(1000))
        self.assertEqual(
            self.methods(), ["timeoutPromises", "expireTasks2026", "fireSchedules"]
        )
        del self.store.calls[:]
        self.clock.advance(5)
        self.assertEqual(self.store.calls, [])
