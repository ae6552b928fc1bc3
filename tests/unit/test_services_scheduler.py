# -*- test-case-name: tests.unit.test_services_scheduler -*-
"""
Tests for L{resonate.services.scheduler}: slots fire on time, missed slots
are caught up in bounded batches, and the loop survives failures, never
overlaps and stops cleanly.

Everything runs on a L{Clock} over a L{MemoryStore}: no test sleeps.
"""

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from resonate.errors import StoreFailure
from resonate.model.promise import PromiseQuery, State
from resonate.model.schedule import SCHEDULE_TAG, CreateSchedule
from resonate.services.scheduler import ScheduleService
from resonate.store.memory import MemoryStore

#: A clock time half way through a second, in seconds.
START = 1000.5

EVERY_SECOND = "* * * * * *"


class RecordingStore:
    """
    A store wrapper that records every C{fireSchedules} call and lets a
    test make it fail or hang.

    @ivar calls: C{(now, limit, fired)} per call that finished.
    @ivar options: the keyword arguments of each call that began.
    @ivar started: how many calls began.
    @ivar inFlight: how many calls have begun but not finished.
    @ivar maxInFlight: the most calls ever in flight at once.
    @ivar failWith: L{None}, or exceptions raised by the next calls, one each.
    @ivar hold: L{None}, or a list: each call then waits for a C{Deferred}
        appended to it to fire before it runs.
    """

    def __init__(self, store):
        self._store = store
        self.calls = []
        self.started = 0
        self.inFlight = 0
        self.maxInFlight = 0
        self.failWith = []
        self.hold = None
        self.options = []

    def __getattr__(self, name):
        return getattr(self._store, name)

    def fireSchedules(self, now, limit, isRouted=None, **options):
        self.started += 1
        self.options.append(options)
        if self.failWith:
            raise self.failWith.pop(0)
        self.inFlight += 1
        self.maxInFlight = max(self.maxInFlight, self.inFlight)
        if self.hold is None:
            gate = succeed(None)
        else:
            gate = Deferred()
            self.hold.append(gate)

        def run(_):
            return self._store.fireSchedules(now, limit, isRouted, **options)

        def record(fired):
            self.inFlight -= 1
            self.calls.append((now, limit, fired))
            return fired

        return gate.addCallback(run).addCallback(record)


class ScheduleServiceTests(unittest.TestCase):
    """
    Tests for L{ScheduleService}.
    """

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(START)
        self.memory = MemoryStore()
        self.store = RecordingStore(self.memory)

    def now(self):
        return int(self.clock.seconds() * 1000)

    def createSchedule(self, cron=EVERY_SECOND, scheduleId="every-second"):
        """
        Create a schedule whose promises are C{tick.{{.timestamp}}}.

        @return: the created schedule.
        """
        decision = self.successResultOf(
            self.memory.createSchedule(
                CreateSchedule(
                    id=scheduleId,
                    cron=cron,
                    promiseId="tick.{{.timestamp}}",
                    promiseTimeout=3600000,
                ),
                self.now(),
            )
        )
        return decision.schedule

    def service(self, **kwargs):
        """
        Start a L{ScheduleService} over the recording store; the test stops
        it.
        """
        kwargs.setdefault("batchSize", 100)
        service = ScheduleService(self.store, self.clock, **kwargs)
        service.startService()
        self.addCleanup(service.stopService)
        return service

    def promise(self, slot):
        """
        The promise of slot C{slot} (epoch milliseconds), or L{None}.
        """
        return self.successResultOf(
            self.memory.readPromise(f"tick.{slot}", self.now())
        ).promise

    def ticks(self):
        """
        The ids of every C{tick.*} promise.
        """
        page = self.successResultOf(
            self.memory.searchPromises(
                PromiseQuery(id="tick.*", limit=1000), self.now()
            )
        )
        return sorted(p.id for p in page.promises)

    def test_firstSlotOnTime(self):
        """
        A schedule's first slot fires when the clock reaches it, not before,
        and once; the service then sleeps exactly until the next slot.
        """
        self.createSchedule()
        service = self.service()
        self.assertEqual(self.ticks(), [])
        self.clock.advance(0.25)
        self.assertEqual(self.ticks(), [])
        self.clock.advance(0.25)
        self.assertEqual(self.ticks(), ["tick.1001000"])
        promise = self.promise(1001000)
        self.assertEqual(promise.createdOn, 1001000)
        self.assertEqual(promise.state, State.PENDING)
        self.assertEqual(promise.tags[SCHEDULE_TAG], "every-second")
        self.assertEqual(service.fired, 1)
        [timer] = self.clock.getDelayedCalls()
        self.assertEqual(timer.getTime(), 1002.0)
        self.clock.advance(0.75)
        self.assertEqual(self.ticks(), ["tick.1001000"])

    def test_everySecond(self):
        """
        Each following second fires one slot, on time.
        """
        self.createSchedule()
        service = self.service()
        self.clock.advance(0.5)
        for second in range(1002, 1012):
            self.clock.advance(0.5)
            self.assertIsNone(self.promise(second * 1000))
            self.clock.advance(0.5)
            slot = second * 1000
            self.assertEqual(self.promise(slot).createdOn, slot)
        self.assertEqual(
            self.ticks(), sorted(f"tick.{s * 1000}" for s in range(1001, 1012))
        )
        self.assertEqual(service.fired, 11)
        self.assertEqual(service.failures, 0)

    def test_catchUpInBatches(self):
        """
        Slots missed while the clock jumped are all fired as soon as it has,
        in bounded batches, by a chain of iterations that yields to the
        reactor between them.
        """
        self.createSchedule()
        service = self.service(batchSize=3, maxBatches=2)
        self.clock.advance(0.5)
        self.assertEqual(self.ticks(), ["tick.1001000"])
        del self.store.calls[:]
        iterations = service.iterations
        self.clock.advance(10)
        slots = [s * 1000 for s in range(1002, 1012)]
        for slot in slots:
            promise = self.promise(slot)
            self.assertIsNotNone(promise, slot)
            self.assertEqual(promise.createdOn, slot)
        self.assertEqual(len(self.ticks()), 11)
        self.assertEqual(service.fired, 11)
        # 10 slots in batches of 3: 3, 3 | 3, 1 -- two iterations.
        self.assertEqual(
            [fired for _, _, fired in self.store.calls], [3, 3, 3, 1]
        )
        self.assertTrue(all(limit == 3 for _, limit, _ in self.store.calls))
        self.assertEqual(service.iterations - iterations, 2)
        # And then it sleeps until the next slot.
        [timer] = self.clock.getDelayedCalls()
        self.assertEqual(timer.getTime(), 1012.0)

    def test_farFutureSleepsAtMostMaxSleep(self):
        """
        While the next slot is far off, the service still looks every
        C{maxSleep} seconds (for schedules other processes create).
        """
        self.createSchedule(cron="0 0 1 1 *")
        service = self.service(maxSleep=2.0)
        self.assertEqual(service.iterations, 1)
        [timer] = self.clock.getDelayedCalls()
        self.assertEqual(timer.getTime(), START + 2.0)
        self.clock.advance(1.5)
        self.assertEqual(service.iterations, 1)
        self.clock.advance(0.5)
        self.assertEqual(service.iterations, 2)
        self.clock.advance(2.0)
        self.assertEqual(service.iterations, 3)
        self.assertEqual(service.fired, 0)

    def test_noSchedulesSleepsMaxSleep(self):
        """
        Without any schedule, the service looks every C{maxSleep} seconds.
        """
        service = self.service(maxSleep=1.0)
        for _ in range(5):
            self.clock.advance(1.0)
        self.assertEqual(service.iterations, 6)

    def test_wake(self):
        """
        L{ScheduleService.wake} notices a new schedule at once: its first
        slot fires on time, without waiting for C{maxSleep}.
        """
        service = self.service(maxSleep=60.0)
        self.createSchedule()
        service.wake()
        self.clock.advance(0)
        self.assertEqual(service.iterations, 2)
        self.clock.advance(0.5)
        self.assertEqual(self.ticks(), ["tick.1001000"])

    def test_withoutWake(self):
        """
        Without L{ScheduleService.wake}, a schedule created meanwhile is only
        noticed after C{maxSleep}: the slots it missed are then caught up.
        """
        service = self.service(maxSleep=5.0)
        self.createSchedule()
        self.clock.advance(4.5)
        self.assertEqual(self.ticks(), [])
        self.clock.advance(0.5)
        self.assertEqual(
            self.ticks(), [f"tick.{s * 1000}" for s in range(1001, 1006)]
        )
        self.assertEqual(service.fired, 5)

    def test_wakeWhileRunning(self):
        """
        L{ScheduleService.wake} during an iteration runs another right after
        it, not alongside it.
        """
        self.store.hold = []
        service = self.service()
        self.assertEqual(self.store.started, 1)
        service.wake()
        self.clock.advance(0)
        self.assertEqual(self.store.started, 1)
        self.store.hold.pop().callback(None)
        self.assertEqual(service.iterations, 1)
        self.clock.advance(0)
        self.assertEqual(self.store.started, 2)
        self.assertEqual(self.store.maxInFlight, 1)
        self.store.hold.pop().callback(None)

    def test_noOverlap(self):
        """
        A C{fireSchedules} that has not finished blocks the next iteration,
        however long it takes.
        """
        self.createSchedule()
        self.store.hold = []
        service = self.service(maxSleep=1.0)
        for _ in range(10):
            self.clock.advance(1.0)
        self.assertEqual(self.store.started, 1)
        self.assertEqual(service.iterations, 0)
        self.store.hold.pop().callback(None)
        # The first iteration used its own now: nothing was due then.
        self.assertEqual(service.iterations, 1)
        self.assertEqual(self.store.maxInFlight, 1)
        self.store.hold = None
        self.clock.advance(0)
        self.assertEqual(service.fired, 10)

    def test_failureCountedAndLoopSurvives(self):
        """
        A failing C{fireSchedules} is logged with its traceback and counted;
        after a short backoff the loop runs again and catches up.
        """
        self.createSchedule()
        self.store.failWith = [RuntimeError("boom"), RuntimeError("boom")]
        service = self.service(backoff=0.5)
        self.assertEqual(service.failures, 1)
        self.clock.advance(0.5)
        self.assertEqual(service.failures, 2)
        self.assertEqual(self.ticks(), [])
        self.clock.advance(0.5)
        self.assertEqual(service.failures, 2)
        self.assertEqual(self.ticks(), ["tick.1001000"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)
        self.clock.advance(1.0)
        self.assertEqual(self.ticks(), ["tick.1001000", "tick.1002000"])

    def test_expectedFailureIsOneLine(self):
        """
        A L{resonate.errors.ResonateError} (the database is away, say) is
        counted and logged as one warning line, not as a traceback.
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        self.store.failWith = [StoreFailure("PostgreSQL is unavailable")]
        service = self.service()
        self.assertEqual(service.failures, 1)
        failed = [e for e in events if e.get("error") is not None]
        self.assertEqual(len(failed), 1)
        self.assertNotIn("log_failure", failed[0])
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_stopWaitsForRunningIteration(self):
        """
        C{stopService} waits for the running iteration, then nothing more
        is scheduled.
        """
        self.createSchedule()
        self.store.hold = []
        service = ScheduleService(self.store, self.clock, batchSize=100)
        service.startService()
        stopped = service.stopService()
        self.assertNoResult(stopped)
        self.store.hold.pop().callback(None)
        self.successResultOf(stopped)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10)
        self.assertEqual(self.store.started, 1)

    def test_stopCancelsSleep(self):
        """
        C{stopService} between iterations cancels the sleep at once, and
        L{ScheduleService.wake} after it does nothing.
        """
        self.createSchedule()
        service = ScheduleService(self.store, self.clock, batchSize=100)
        service.startService()
        self.successResultOf(service.stopService())
        self.assertEqual(self.clock.getDelayedCalls(), [])
        service.wake()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10)
        self.assertEqual(self.store.started, 1)
        self.assertEqual(self.ticks(), [])

    def test_contended(self):
        """
        A slot that is due but that this process fired nothing for (another
        process is firing it) is asked about again shortly, not at once.
        """
        self.createSchedule()
        service = self.service(contendedSleep=0.05)
        self.clock.advance(0.5)
        # Another process fires slots meanwhile: this one sees them due but
        # fires none.
        self.store.fireSchedules = lambda now, limit, isRouted=None: succeed(0)
        self.clock.advance(1.0)
        [timer] = self.clock.getDelayedCalls()
        self.assertAlmostEqual(timer.getTime(), 1002.05)
        self.assertEqual(service.failures, 0)

    def test_countsPromises(self):
        """
        Every fired promise counts in C{resonate_schedule_promises_total}.
        """
        from resonate.metrics import Metrics

        metrics = Metrics()
        self.createSchedule()
        self.service(metrics=metrics)
        for _ in range(3):
            self.clock.advance(1)
        self.assertIn(
            "resonate_schedule_promises_total 3.0",
            metrics.exposition().decode().splitlines(),
        )

    def test_retryTimeout(self):
        """
        The retry timeout the service is given reaches the store, for the
        2026 tasks of fired promises; without one, the store's default
        holds.
        """
        self.createSchedule()
        self.service(retryTimeout=5000)
        self.assertEqual(self.store.options, [{"retryTimeout": 5000}])
        self.store.options = []
        other = ScheduleService(self.store, self.clock, batchSize=100)
        other.startService()
        self.addCleanup(other.stopService)
        self.assertEqual(self.store.options, [{}])

    def test_targetedPromiseGetsTask(self):
        """
        A fired promise whose tags carry C{resonate:target} gets a pending
        2026 task, whose retry timer is the service's retry timeout.
        """
        self.successResultOf(
            self.memory.createSchedule(
                CreateSchedule(
                    id="targeted",
                    cron=EVERY_SECOND,
                    promiseId="tick.{{.timestamp}}",
                    promiseTimeout=3600000,
                    promiseTags={"resonate:target": "poll://any@workers"},
                ),
                self.now(),
            )
        )
        service = self.service(retryTimeout=5000)
        self.clock.advance(0.5)
        service.pause()
        slot = 1001000
        self.assertEqual(self.ticks(), [f"tick.{slot}"])
        # The task's only timer is its retry: due at the slot plus 5s.
        self.assertEqual(
            self.successResultOf(self.memory.expireTasks2026(slot + 4999, 10)), 0
        )
        self.assertEqual(
            self.successResultOf(self.memory.expireTasks2026(slot + 5000, 10)), 1
        )
