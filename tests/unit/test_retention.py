"""
Tests for retention: the C{retention} setting's kind, the collection in
batches (L{resonate.api.operations.Operations.collectGarbage}), the
background service (L{resonate.services.retention}) and how
L{resonate.tap.buildService} wires it; on a L{Clock} and the memory store.
The rules of what is collected are the store suite's
(L{resonate.testing.storeadmin}).
"""

from twisted.internet.defer import ensureDeferred
from twisted.internet.task import Clock
from twisted.trial import unittest

from resonate.api.operations import Operations
from resonate.config.kinds import DaysDurationKind, InvalidValue
from resonate.metrics import Metrics
from resonate.model.promise import CompletePromise, CreatePromise, State
from resonate.model.requestsadmin import GarbageCount
from resonate.services.retention import Retention, retentionService
from resonate.services.workers import WorkerSetup
from resonate.store.memory import MemoryStore
from resonate.tap import buildService
from tests.integration.test_tap import parse

NOW = 1_700_000_000_000
DAY = 86_400


class DaysDurationKindTests(unittest.SynchronousTestCase):
    """
    The kind of C{aio.subsystems.store.config.retention}: Go durations and
    leading whole days, zero for off.
    """

    def test_parses(self):
        """
        Days, days and hours, hours, minutes, fractions, and zero (off).
        """
        kind = DaysDurationKind()
        for text, seconds in [
            ("30d", 30 * DAY),
            ("1d12h", DAY + 12 * 3600),
            ("12h", 12 * 3600),
            ("90m", 5400),
            ("1.5d", DAY * 1.5),
            ("0", 0),
        ]:
            self.assertEqual(kind.parseFlag(text), seconds, text)
        self.assertEqual(kind.parseYaml("7d"), 7 * DAY)

    def test_refuses(self):
        """
        A bare number, signed durations, and junk after the days.
        """
        kind = DaysDurationKind()
        for text in ["30", "d", "-1d", "1d-1h", "1dx", "", "-5s", "0d"]:
            self.assertRaises(InvalidValue, kind.parseFlag, text)
        self.assertRaises(InvalidValue, kind.parseYaml, 30)


class _CountingStore(MemoryStore):
    """
    A memory store that counts the requests it handles and may make each
    one take C{took} seconds of C{clock}.
    """

    def __init__(self, clock, took=0):
        super().__init__()
        self.handled = []
        self._clock = clock
        self._took = took

    def handle2026(self, request, now, retryTimeout=None):
        self.handled.append(request)
        self._clock.advance(self._took)
        return super().handle2026(request, now, retryTimeout=retryTimeout)


class CollectGarbageTests(unittest.TestCase):
    """
    L{Operations.collectGarbage}: every batch until none is left, waiting
    between batches as long as each took.
    """

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(NOW / 1000)
        self.metrics = Metrics()

    def operations(self, store):
        return Operations(store, self.clock, 100, metrics=self.metrics)

    def settle(self, store, count, at=NOW):
        for n in range(count):
            promiseId = f"p{n:03}"
            self.successResultOf(store.createPromise(CreatePromise(promiseId, at + 60_000), at))
            self.successResultOf(
                store.completePromise(CompletePromise(promiseId, State.RESOLVED), at)
            )

    def deleted(self, kind):
        text = self.metrics.exposition().decode()
        prefix = f'resonate_retention_deleted_total{{kind="{kind}"}} '
        lines = [l for l in text.splitlines() if l.startswith(prefix)]
        return float(lines[0].split()[-1]) if lines else 0

    def test_everyBatch(self):
        """
        Batches of C{batchSize} run until the last comes back short; what
        they deleted is counted, in the answer and the metrics.
        """
        store = _CountingStore(self.clock)
        self.settle(store, 7)
        count = self.successResultOf(
            self.operations(store).collectGarbage(NOW + 1, batchSize=3)
        )
        self.assertEqual(count, GarbageCount(promises=7))
        self.assertEqual([r.limit for r in store.handled], [3, 3, 3])
        self.assertEqual(store.handled[1].after, (NOW, "p002"))
        self.assertEqual(self.deleted("promises"), 7)

    def test_dryRun(self):
        """
        A dry run counts, deletes nothing and records nothing deleted.
        """
        store = _CountingStore(self.clock)
        self.settle(store, 4)
        operations = self.operations(store)
        count = self.successResultOf(operations.collectGarbage(NOW + 1, True, 3))
        self.assertEqual(count.promises, 4)
        self.assertEqual(self.deleted("promises"), 0)
        again = self.successResultOf(operations.collectGarbage(NOW + 1, batchSize=3))
        self.assertEqual(again.promises, 4)

    def test_waitsBetweenBatches(self):
        """
        After a batch that took a second, the next starts a second later:
        requests get the store half the time while a backlog goes.
        """
        store = _CountingStore(self.clock, took=1.0)
        self.settle(store, 5)
        d = ensureDeferred(self.operations(store).collectGarbage(NOW + 1, batchSize=2))
        self.assertEqual(len(store.handled), 1)
        self.assertNoResult(d)
        self.clock.advance(0.5)
        self.assertEqual(len(store.handled), 1)
        self.clock.advance(0.5)
        self.assertEqual(len(store.handled), 2)
        self.clock.advance(1)
        self.assertEqual(self.successResultOf(d).promises, 5)


class RetentionServiceTests(unittest.TestCase):
    """
    The C{retention} loop, over L{Operations} and the memory store.
    """

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(NOW / 1000)
        self.metrics = Metrics()
        self.store = MemoryStore()
        self.operations = Operations(self.store, self.clock, 100, metrics=self.metrics)

    def settleAt(self, promiseId, at):
        self.successResultOf(
            self.store.createPromise(CreatePromise(promiseId, at + 3_600_000), at)
        )
        self.successResultOf(
            self.store.completePromise(CompletePromise(promiseId, State.RESOLVED), at)
        )

    def exists(self, promiseId):
        decision = self.successResultOf(
            self.store.readPromise(promiseId, int(self.clock.seconds() * 1000))
        )
        return decision.promise is not None

    def start(self, retention=60.0, interval=1.0):
        service = retentionService(
            self.operations.collectGarbage,
            self.clock,
            retention,
            interval=interval,
            metrics=self.metrics,
        )
        service.startService()
        self.addCleanup(service.stopService)
        return service

    def test_runsEveryInterval(self):
        """
        The first run is at start; each run deletes what settled more than
        C{retention} before it, and nothing younger.
        """
        self.settleAt("old", NOW - 61_000)
        self.settleAt("young", NOW - 30_000)
        service = self.start(retention=60.0, interval=1.0)
        self.assertEqual(service.name, "retention")
        self.assertFalse(self.exists("old"))
        self.assertTrue(self.exists("young"))
        for _ in range(30):
            self.clock.advance(1)
        self.assertTrue(self.exists("young"))
        self.clock.advance(1)
        self.assertFalse(self.exists("young"))
        self.assertEqual(service.iterations, 32)
        text = self.metrics.exposition().decode()
        self.assertIn('resonate_retention_deleted_total{kind="promises"} 2.0', text)
        self.assertIn("resonate_retention_duration_seconds_count 32.0", text)
        self.assertIn('background_runs_total{loop="retention"} 32.0', text)

    def test_paused(self):
        """
        Paused (C{debug.start}), the loop deletes nothing.
        """
        service = self.start(retention=1.0)
        self.successResultOf(service.pause())
        self.settleAt("old", NOW)
        self.clock.advance(5)
        self.assertTrue(self.exists("old"))
        service.resume()
        self.clock.advance(1)
        self.assertFalse(self.exists("old"))

    def test_failureLoggedLoopGoesOn(self):
        """
        A failed run (the store away) is logged and counted; the next runs.
        """
        calls = []

        async def collect(settledBefore):
            calls.append(settledBefore)
            if len(calls) == 1:
                raise RuntimeError("store away")
            return GarbageCount()

        service = retentionService(collect, self.clock, 10.0, interval=1.0)
        service.startService()
        self.addCleanup(service.stopService)
        self.clock.advance(1)
        self.assertEqual(calls, [NOW - 10_000, NOW + 1_000 - 10_000])
        self.assertEqual((service.iterations, service.failures), (2, 1))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_settledBefore(self):
        """
        A run collects what settled before now minus the retention.
        """
        seen = []

        async def collect(settledBefore):
            seen.append(settledBefore)
            return GarbageCount(promises=1)

        count = self.successResultOf(
            ensureDeferred(Retention(collect, self.clock, 30 * DAY)())
        )
        self.assertEqual((seen, count.promises), ([NOW - 30 * DAY * 1000], 1))


class WiringTests(unittest.TestCase):
    """
    L{buildService} adds the C{retention} loop only when retention is set,
    and with workers only in the first.
    """

    def build(self, *argv, worker=None):
        clock = Clock()
        clock.advance(NOW / 1000)
        options = parse("--aio-store", "memory", *argv)
        return buildService(options.config, MemoryStore(), clock, worker=worker)

    def hasRetention(self, service):
        try:
            service.getServiceNamed("retention")
        except KeyError:
            return False
        return True

    def test_offByDefault(self):
        """
        Without retention, or with C{0}, there is no loop.
        """
        self.assertFalse(self.hasRetention(self.build()))
        self.assertFalse(self.hasRetention(self.build("--aio-store-retention", "0")))

    def test_on(self):
        """
        With a retention, there is.
        """
        self.assertTrue(self.hasRetention(self.build("--aio-store-retention", "30d")))

    def test_firstWorkerOnly(self):
        """
        Of the workers, only the first (index 0) collects.
        """
        first = WorkerSetup(0, "127.0.0.1:0", "127.0.0.1:0")
        second = WorkerSetup(1, "127.0.0.1:0", "127.0.0.1:0")
        self.assertTrue(
            self.hasRetention(self.build("--aio-store-retention", "1d", worker=first))
        )
        self.assertFalse(
            self.hasRetention(self.build("--aio-store-retention", "1d", worker=second))
        )
