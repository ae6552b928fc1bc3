# -*- test-case-name: tests.integration.test_metrics -*-
"""
Tests for L{resonate.metrics}: the instruments and their exposition, what
the HTTP API, the operations, the background loops, the dispatcher and the
SQLite store record, and the C{/metrics} page of the service.  That of a
real server process is in L{tests.processes.test_metrics_processes}.
"""

import json

import treq
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.internet.defer import Deferred, fail, gatherResults, succeed
from twisted.internet.task import Clock, deferLater
from twisted.trial import unittest
from twisted.web.client import HTTPConnectionPool
from zope.interface.verify import verifyObject

from resonate.config import StoreConfig, loadConfig
from resonate.errors import StoreFailure
from resonate.interfaces import IGroupCommitStore
from resonate.metrics import CONTENT_TYPE, Metrics
from resonate.model.promise import CreatePromise
from resonate.model.routing import Route
from resonate.services.background import BackgroundService
from resonate.services.dispatcher import TaskDispatcher
from resonate.services.scheduler import ScheduleService
from resonate.services.timeouts import BatchedSweep
from resonate.status import Status
from resonate.store.memory import MemoryStore
from resonate.store.sqlite.store import SQLiteStore
from resonate.tap import buildService
from tests.support.apitools import NOW, LiveAPI


def samples(text, name):
    """
    The samples named exactly C{name} in an exposition.

    @param text: the exposition, C{bytes}.
    @return: a C{dict} from the label part of each sample line
        (C{'{status="2010",type="http"}'}, or C{""}) to its value text.
    """
    found = {}
    for line in text.decode("utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        sampleName, brace, labels = series.partition("{")
        if sampleName == name:
            found[brace + labels] = value
    return found


def http(status):
    return f'{{status="{status}",type="http"}}'


class MetricsTests(unittest.TestCase):
    """
    Tests for L{Metrics}: what each recording call counts, and the names and
    format it is exposed with.
    """

    def setUp(self):
        self.clock = Clock()
        self.metrics = Metrics(timer=self.clock.seconds)

    def text(self):
        return self.metrics.exposition()

    def test_requestsByProtocolAndCode(self):
        """
        Each answered request is counted under its protocol and its 4-digit
        code, given as a L{Status} or an C{int}.
        """
        for protocol, status in [
            ("http", Status.CREATED),
            ("http", 2010),
            ("grpc", Status.API_SUBMISSION_QUEUE_FULL),
            ("http", Status.PROMISE_ALREADY_EXISTS),
        ]:
            started = self.metrics.requestStarted(protocol)
            self.metrics.requestFinished(protocol, status, started)
        self.assertEqual(
            samples(self.text(), "api_total_requests"),
            {
                http(2010): "2.0",
                http(4090): "1.0",
                '{status="5031",type="grpc"}': "1.0",
            },
        )

    def test_requestsInFlight(self):
        """
        A request is in flight from C{requestStarted} to
        C{requestFinished}.
        """
        first = self.metrics.requestStarted("http")
        second = self.metrics.requestStarted("http")
        self.assertEqual(
            samples(self.text(), "api_in_flight_requests"),
            {'{type="http"}': "2.0"},
        )
        self.metrics.requestFinished("http", Status.OK, first)
        self.metrics.requestFinished("http", Status.OK, second)
        self.assertEqual(
            samples(self.text(), "api_in_flight_requests"),
            {'{type="http"}': "0.0"},
        )

    def test_consoleRequests(self):
        """
        A console request is counted apart from the API's, under its route
        and HTTP status: in flight from C{consoleStarted} to
        C{consoleFinished}, and timed.
        """
        page = self.metrics.consoleStarted("page")
        action = self.metrics.consoleStarted("action")
        self.assertEqual(
            samples(self.text(), "resonate_console_requests_in_flight"),
            {'{route="action"}': "1.0", '{route="page"}': "1.0"},
        )
        self.clock.advance(0.25)
        self.metrics.consoleFinished("page", 200, page)
        self.metrics.consoleFinished("action", 403, action)
        self.metrics.consoleFinished(
            "page", 401, self.metrics.consoleStarted("page")
        )
        text = self.text()
        self.assertEqual(
            samples(text, "resonate_console_requests_total"),
            {
                '{route="action",status="403"}': "1.0",
                '{route="page",status="200"}': "1.0",
                '{route="page",status="401"}': "1.0",
            },
        )
        self.assertEqual(
            samples(text, "resonate_console_requests_in_flight"),
            {'{route="action"}': "0.0", '{route="page"}': "0.0"},
        )
        self.assertEqual(
            samples(text, "resonate_console_request_duration_seconds_sum"),
            {'{route="action"}': "0.25", '{route="page"}': "0.25"},
        )
        self.assertEqual(samples(text, "api_total_requests"), {})

    def test_requestDuration(self):
        """
        The duration histogram observes the time between start and finish
        on the injected timer.
        """
        started = self.metrics.requestStarted("http")
        self.clock.advance(0.25)
        self.metrics.requestFinished("http", Status.OK, started)
        text = self.text()
        self.assertEqual(
            samples(text, "api_request_duration_seconds_count"),
            {'{type="http"}': "1.0"},
        )
        self.assertEqual(
            samples(text, "api_request_duration_seconds_sum"),
            {'{type="http"}': "0.25"},
        )
        buckets = samples(text, "api_request_duration_seconds_bucket")
        self.assertEqual(buckets['{le="0.1",type="http"}'], "0.0")
        self.assertEqual(buckets['{le="0.25",type="http"}'], "1.0")
        self.assertEqual(buckets['{le="+Inf",type="http"}'], "1.0")

    def test_operations(self):
        """
        An operation is a coroutine of its name and a store submission,
        both in flight until it finishes, when the submission is counted
        by its outcome.
        """
        self.metrics.operationStarted("create-promise")
        self.metrics.operationStarted("create-promise")
        self.metrics.operationStarted("read-promise")
        text = self.text()
        self.assertEqual(
            samples(text, "coroutines_in_flight"),
            {'{type="create-promise"}': "2.0", '{type="read-promise"}': "1.0"},
        )
        self.assertEqual(
            samples(text, "aio_in_flight_submissions"), {'{type="store"}': "3.0"}
        )
        self.metrics.operationFinished("create-promise", True)
        self.metrics.operationFinished("create-promise", False)
        self.metrics.operationFinished("read-promise", True)
        text = self.text()
        self.assertEqual(
            samples(text, "coroutines_total"),
            {'{type="create-promise"}': "2.0", '{type="read-promise"}': "1.0"},
        )
        self.assertEqual(
            samples(text, "coroutines_in_flight"),
            {'{type="create-promise"}': "0.0", '{type="read-promise"}': "0.0"},
        )
        self.assertEqual(
            samples(text, "aio_in_flight_submissions"), {'{type="store"}': "0.0"}
        )
        self.assertEqual(
            samples(text, "aio_total_submissions"),
            {'{status="success",type="store"}': "2.0",
             '{status="failure",type="store"}': "1.0"},
        )

    def test_coroutines(self):
        """
        A coroutine is counted when it starts and is in flight until it
        finishes.
        """
        self.metrics.coroutineStarted("create-promise")
        self.metrics.coroutineStarted("create-promise")
        self.metrics.coroutineFinished("create-promise")
        self.assertEqual(
            samples(self.text(), "coroutines_total"),
            {'{type="create-promise"}': "2.0"},
        )
        self.assertEqual(
            samples(self.text(), "coroutines_in_flight"),
            {'{type="create-promise"}': "1.0"},
        )

    def test_submission(self):
        """
        C{submission} counts a call whose result arrives as a success and
        one that fails (later, or at once) as a failure, and holds it in
        flight while it is pending; the result or failure is passed on.
        """
        pending = Deferred()
        d = self.metrics.submission("store", lambda: pending)
        self.assertEqual(
            samples(self.text(), "aio_in_flight_submissions"),
            {'{type="store"}': "1.0"},
        )
        pending.callback(7)
        self.assertEqual(self.successResultOf(d), 7)
        failed = self.metrics.submission("store", fail, StoreFailure())
        self.failureResultOf(failed, StoreFailure)

        def refuse():
            raise StoreFailure()

        refused = self.metrics.submission("store", refuse)
        self.failureResultOf(refused, StoreFailure)

        async def push():
            return None

        pushed = self.metrics.submission("queuing", push)
        self.successResultOf(pushed)
        self.assertEqual(
            samples(self.text(), "aio_total_submissions"),
            {
                '{status="success",type="store"}': "1.0",
                '{status="failure",type="store"}': "2.0",
                '{status="success",type="queuing"}': "1.0",
            },
        )
        self.assertEqual(
            samples(self.text(), "aio_in_flight_submissions"),
            {'{type="store"}': "0.0", '{type="queuing"}': "0.0"},
        )

    def test_loops(self):
        """
        A background loop iteration is a coroutine of the loop's name, and
        is counted as a run, and as a failure when it failed.
        """
        for failed in [False, True, False]:
            self.metrics.loopStarted("timeout-locks")
            self.metrics.loopFinished("timeout-locks", failed)
        text = self.text()
        self.assertEqual(
            samples(text, "background_runs_total"), {'{loop="timeout-locks"}': "3.0"}
        )
        self.assertEqual(
            samples(text, "background_failures_total"),
            {'{loop="timeout-locks"}': "1.0"},
        )
        self.assertEqual(
            samples(text, "coroutines_total"), {'{type="timeout-locks"}': "3.0"}
        )
        self.assertEqual(
            samples(text, "coroutines_in_flight"), {'{type="timeout-locks"}': "0.0"}
        )

    def test_storeBatchSize(self):
        """
        The batch size histogram observes each commit's size.
        """
        for size in [1, 3, 40]:
            self.metrics.storeBatchCommitted(size)
        text = self.text()
        self.assertEqual(samples(text, "aio_store_batch_size_count"), {"": "3.0"})
        self.assertEqual(samples(text, "aio_store_batch_size_sum"), {"": "44.0"})
        buckets = samples(text, "aio_store_batch_size_bucket")
        self.assertEqual(buckets['{le="2.0"}'], "1.0")
        self.assertEqual(buckets['{le="4.0"}'], "2.0")
        self.assertEqual(buckets['{le="32.0"}'], "2.0")
        self.assertEqual(buckets['{le="64.0"}'], "3.0")

    def test_contractNames(self):
        """
        Every family is declared under the contract's name and type: no
        C{_total} is appended to a counter and no C{_created} series is
        added.
        """
        self.metrics.requestFinished("http", 2000, self.metrics.requestStarted("http"))
        self.metrics.coroutineStarted("read-promise")
        self.metrics.submissionStarted("store")
        self.metrics.loopFinished("x", True)
        text = self.text().decode("utf-8")
        types = {
            line.split()[2]: line.split()[3]
            for line in text.splitlines()
            if line.startswith("# TYPE ")
        }
        self.assertEqual(
            types,
            {
                "api_total_requests": "counter",
                "api_in_flight_requests": "gauge",
                "api_request_duration_seconds": "histogram",
                "aio_total_submissions": "counter",
                "aio_in_flight_submissions": "gauge",
                "coroutines_total": "counter",
                "coroutines_in_flight": "gauge",
                "aio_store_batch_size": "histogram",
                "background_runs_total": "counter",
                "background_failures_total": "counter",
                "resonate_request_total": "counter",
                "resonate_request_duration_seconds": "histogram",
                "resonate_schedule_promises_total": "counter",
                "resonate_messages_total": "counter",
                "resonate_deliveries_total": "counter",
                "resonate_retention_deleted_total": "counter",
                "resonate_retention_duration_seconds": "histogram",
                "resonate_console_requests_total": "counter",
                "resonate_console_requests_in_flight": "gauge",
                "resonate_console_request_duration_seconds": "histogram",
            },
        )
        self.assertNotIn("api_total_requests_total", text)
        self.assertNotIn("aio_total_submissions_total", text)
        self.assertNotIn("coroutines_total_total", text)
        self.assertNotIn("_created", text)

    def test_parses(self):
        """
        The exposition is valid Prometheus text: C{prometheus_client}'s own
        parser reads every family back, with its values.
        """
        self.metrics.requestFinished("http", 2010, self.metrics.requestStarted("http"))
        self.metrics.storeBatchCommitted(2)
        families = {
            family.name: family
            for family in text_string_to_metric_families(
                self.text().decode("utf-8")
            )
        }
        # The parser names counters the OpenMetrics way (without _total).
        [sample] = families["api_total_requests"].samples
        self.assertEqual(sample.labels, {"type": "http", "status": "2010"})
        self.assertEqual(sample.value, 1.0)
        self.assertIn("aio_store_batch_size", families)

    def test_labelValuesEscaped(self):
        """
        Quotes, backslashes and newlines in label values are escaped.
        """
        self.metrics.coroutineStarted('a"b\\c\nd')
        self.assertEqual(
            samples(self.text(), "coroutines_total"),
            {'{type="a\\"b\\\\c\\nd"}': "1.0"},
        )

    def test_ownRegistry(self):
        """
        Each L{Metrics} has a registry of its own: two never share a count,
        and C{prometheus_client}'s global registry is left alone.
        """
        other = Metrics()
        self.metrics.coroutineStarted("read-promise")
        self.assertIsNot(self.metrics.registry, other.registry)
        self.assertEqual(samples(other.exposition(), "coroutines_total"), {})
        self.assertIsNone(
            REGISTRY.get_sample_value("coroutines_total", {"type": "read-promise"})
        )
        self.assertEqual(
            self.metrics.registry.get_sample_value(
                "coroutines_total", {"type": "read-promise"}
            ),
            1.0,
        )


class HeldStore:
    """
    A store wrapper whose C{readPromise} waits for a C{Deferred} the test
    fires, or fails.

    @ivar held: the C{Deferred}s of the reads waiting.
    @ivar arrived: fires once a read is waiting.
    @ivar failWith: if set, reads fail with it.
    """

    def __init__(self, store):
        self._store = store
        self.held = []
        self.arrived = Deferred()
        self.failWith = None

    def __getattr__(self, name):
        return getattr(self._store, name)

    def readPromise(self, promiseId, now, **kwargs):
        if self.failWith is not None:
            return fail(self.failWith)
        gate = Deferred()
        self.held.append(gate)
        if not self.arrived.called:
            self.arrived.callback(None)
        return gate.addCallback(
            lambda _: self._store.readPromise(promiseId, now, **kwargs)
        )


class HTTPMetricsTests(unittest.TestCase):
    """
    The HTTP API counts every answer, with its code, and the operations it
    admits count their coroutines and store submissions.
    """

    async def api(self, **kwargs):
        self.metrics = Metrics()
        return await LiveAPI(self, metrics=self.metrics, **kwargs).start()

    def text(self):
        return self.metrics.exposition()

    async def test_knownTraffic(self):
        """
        Three creates (201), a deduplicated create (200), a conflicting one
        (409) and a read of a missing promise (404) show as exactly those
        counts, under their 4-digit codes; one coroutine and one successful
        store submission per request; nothing left in flight.
        """
        api = await self.api()
        for promiseId in ["a", "b", "c"]:
            self.assertEqual((await api.create(promiseId, ikey="k")).code, 201)
        self.assertEqual((await api.create("a", ikey="k")).code, 200)
        self.assertEqual((await api.create("a")).code, 409)
        self.assertEqual((await api.request("GET", "/promises/nope")).code, 404)
        text = self.text()
        self.assertEqual(
            samples(text, "api_total_requests"),
            {http(2010): "3.0", http(2000): "1.0", http(4090): "1.0",
             http(4040): "1.0"},
        )
        self.assertEqual(
            samples(text, "api_in_flight_requests"), {'{type="http"}': "0.0"}
        )
        self.assertEqual(
            samples(text, "api_request_duration_seconds_count"),
            {'{type="http"}': "6.0"},
        )
        self.assertEqual(
            samples(text, "coroutines_total"),
            {'{type="create-promise"}': "5.0", '{type="read-promise"}': "1.0"},
        )
        self.assertEqual(
            samples(text, "coroutines_in_flight"),
            {'{type="create-promise"}': "0.0", '{type="read-promise"}': "0.0"},
        )
        self.assertEqual(
            samples(text, "aio_total_submissions"),
            {'{status="success",type="store"}': "6.0"},
        )
        self.assertEqual(
            samples(text, "aio_in_flight_submissions"), {'{type="store"}': "0.0"}
        )

    async def test_inFlightWhileHeld(self):
        """
        While the store holds a read, the request, its coroutine and its
        store submission are each in flight; once answered, none is.
        """
        store = HeldStore(MemoryStore())
        api = await self.api(store=store)
        answered = Deferred.fromCoroutine(api.request("GET", "/promises/x"))
        await store.arrived
        text = self.text()
        self.assertEqual(
            samples(text, "api_in_flight_requests"), {'{type="http"}': "1.0"}
        )
        self.assertEqual(
            samples(text, "coroutines_in_flight"), {'{type="read-promise"}': "1.0"}
        )
        self.assertEqual(
            samples(text, "aio_in_flight_submissions"), {'{type="store"}': "1.0"}
        )
        store.held.pop().callback(None)
        self.assertEqual((await answered).code, 404)
        text = self.text()
        self.assertEqual(
            samples(text, "api_in_flight_requests"), {'{type="http"}': "0.0"}
        )
        self.assertEqual(
            samples(text, "coroutines_in_flight"), {'{type="read-promise"}': "0.0"}
        )
        self.assertEqual(
            samples(text, "aio_in_flight_submissions"), {'{type="store"}': "0.0"}
        )

    async def test_clientGone(self):
        """
        A client that disconnects while its operation runs does not cancel
        the operation: it finishes, is counted under the code it would
        have answered, nothing stays in flight and nothing is logged as a
        failure (trial fails a test that logs one).
        """
        from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
        from twisted.internet.protocol import Protocol

        store = HeldStore(MemoryStore())
        api = await self.api(store=store)
        client = Protocol()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", api.port), client)
        client.transport.write(b"GET /promises/x HTTP/1.1\r\nHost: h\r\n\r\n")
        await store.arrived
        lost = Deferred()
        client.connectionLost = lambda reason: lost.callback(None)
        client.transport.loseConnection()
        await lost
        # Let the server see the connection go before the store answers.
        await deferLater(reactor, 0.05, lambda: None)
        store.held.pop().callback(None)
        text = self.text()
        self.assertEqual(samples(text, "api_total_requests"), {http(4040): "1.0"})
        self.assertEqual(
            samples(text, "api_in_flight_requests"), {'{type="http"}': "0.0"}
        )
        self.assertEqual(
            samples(text, "aio_total_submissions"),
            {'{status="success",type="store"}': "1.0"},
        )

    async def test_storeFailure(self):
        """
        A store call that fails is a failed store submission, and the
        request is counted under the code it answered (5002).
        """
        store = HeldStore(MemoryStore())
        store.failWith = StoreFailure()
        api = await self.api(store=store)
        self.assertEqual((await api.request("GET", "/promises/x")).code, 500)
        text = self.text()
        self.assertEqual(
            samples(text, "aio_total_submissions"),
            {'{status="failure",type="store"}': "1.0"},
        )
        self.assertEqual(samples(text, "api_total_requests"), {http(5002): "1.0"})

    async def test_refusedIsNoCoroutine(self):
        """
        A request refused at admission (5031) is counted as answered, but
        ran no coroutine and made no store submission.
        """
        api = await self.api(size=0)
        self.assertEqual((await api.request("GET", "/promises/x")).code, 503)
        text = self.text()
        self.assertEqual(samples(text, "api_total_requests"), {http(5031): "1.0"})
        self.assertEqual(samples(text, "coroutines_total"), {})
        self.assertEqual(samples(text, "aio_total_submissions"), {})

    async def test_answersOutsideRoutes(self):
        """
        Answers given without reaching a route are counted too: an unknown
        path (4045), a wrong method (4050), a path that is not UTF-8 (4000),
        an oversized body (4130); so is a body that fails validation (4000).
        """
        api = await self.api(maxBodySize=100)
        self.assertEqual((await api.request("GET", "/nowhere")).code, 404)
        self.assertEqual((await api.request("PUT", "/promises")).code, 405)
        self.assertEqual((await api.request("GET", "/promises/%ff")).code, 400)
        self.assertEqual(
            (await api.request("POST", "/promises", raw=b"x" * 200)).code, 413
        )
        self.assertEqual(
            (await api.request("POST", "/promises", {"timeout": 1})).code, 400
        )
        self.assertEqual(
            samples(self.text(), "api_total_requests"),
            {http(4045): "1.0", http(4050): "1.0", http(4000): "2.0",
             http(4130): "1.0"},
        )
        self.assertEqual(
            samples(self.text(), "api_in_flight_requests"), {'{type="http"}': "0.0"}
        )


class BackgroundMetricsTests(unittest.TestCase):
    """
    Background loops count their runs and failures, and their store calls
    and pushes as submissions.
    """

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(NOW / 1000)
        self.metrics = Metrics()

    def value(self, name, **labels):
        return self.metrics.registry.get_sample_value(name, labels)

    def test_backgroundServiceRunsAndFailures(self):
        """
        Every iteration of a L{BackgroundService} is a run and a coroutine
        of its name; a failing one is also a failure.
        """
        outcomes = [None, ValueError("boom"), None]

        def work():
            outcome = outcomes.pop(0)
            if outcome is not None:
                raise outcome

        loop = BackgroundService("timeout-promises", 1, work, self.clock, self.metrics)
        loop.startService()
        self.addCleanup(loop.stopService)
        self.clock.advance(1)
        self.clock.advance(1)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertEqual(
            self.value("background_runs_total", loop="timeout-promises"), 3
        )
        self.assertEqual(
            self.value("background_failures_total", loop="timeout-promises"), 1
        )
        self.assertEqual(self.value("coroutines_total", type="timeout-promises"), 3)
        self.assertEqual(
            self.value("coroutines_in_flight", type="timeout-promises"), 0
        )

    def test_iterationInFlight(self):
        """
        An iteration still running is a coroutine in flight, not yet a run.
        """
        held = Deferred()
        loop = BackgroundService("timeout-locks", 1, lambda: held, self.clock, self.metrics)
        loop.startService()
        self.assertEqual(self.value("coroutines_in_flight", type="timeout-locks"), 1)
        self.assertIsNone(self.value("background_runs_total", loop="timeout-locks"))
        held.callback(None)
        self.assertEqual(self.value("coroutines_in_flight", type="timeout-locks"), 0)
        self.assertEqual(self.value("background_runs_total", loop="timeout-locks"), 1)
        self.successResultOf(loop.stopService())

    def test_sweepSubmissions(self):
        """
        Each transaction of a L{BatchedSweep} is a store submission.
        """
        counts = [10, 10, 3]
        sweep = BatchedSweep(
            lambda now, limit: succeed(counts.pop(0)), self.clock, 10,
            metrics=self.metrics,
        )
        self.successResultOf(Deferred.fromCoroutine(sweep()))
        self.assertEqual(
            self.value("aio_total_submissions", type="store", status="success"), 3
        )

    def test_schedulerNameAndRuns(self):
        """
        The scheduler is the C{schedule-promises} coroutine of the contract;
        its iterations are runs and its store calls submissions.
        """
        scheduler = ScheduleService(MemoryStore(), self.clock, 10, metrics=self.metrics)
        self.assertEqual(scheduler.name, "schedule-promises")
        scheduler.startService()
        self.addCleanup(scheduler.stopService)
        self.clock.advance(1)
        self.assertEqual(
            self.value("background_runs_total", loop="schedule-promises"), 2
        )
        self.assertEqual(
            self.value("coroutines_total", type="schedule-promises"), 2
        )
        # fireSchedules and nextRunTime, per iteration.
        self.assertEqual(
            self.value("aio_total_submissions", type="store", status="success"), 4
        )

    def test_dispatcherPushes(self):
        """
        The dispatcher is the C{enqueue-tasks} coroutine of the contract;
        each push is a C{queuing} submission, which succeeds on a 2xx
        answer and fails on any other answer or on no answer.
        """
        answers = {
            "http://w/1": succeed(200),
            "http://w/2": succeed(500),
            "http://w/3": fail(ConnectionRefusedError()),
        }
        store = MemoryStore()
        routes = [
            Route(name=f"r{n}", pattern=f"/p/{n}", connection=f"c{n}", queue="q")
            for n in (1, 2, 3)
        ]
        dispatcher = TaskDispatcher(
            store, self.clock, routes,
            {f"c{n}": f"http://w/{n}" for n in (1, 2, 3)},
            "http://resonate:8001", 100,
            post=lambda url, body: answers[url],
            metrics=self.metrics,
        )
        self.assertEqual(dispatcher.name, "enqueue-tasks")
        now = int(self.clock.seconds() * 1000)
        for n in (1, 2, 3):
            self.successResultOf(
                store.createPromiseAndTask(
                    CreatePromise(id=f"p/{n}", timeout=now + 60_000), now
                )
            )
        # A new task is offered once its creation time is past.
        self.clock.advance(0.001)
        dispatcher.startService()
        self.addCleanup(dispatcher.stopService)
        self.assertEqual(
            self.value("aio_total_submissions", type="queuing", status="success"), 1
        )
        self.assertEqual(
            self.value("aio_total_submissions", type="queuing", status="failure"), 2
        )
        self.assertEqual(self.value("aio_in_flight_submissions", type="queuing"), 0)
        self.assertEqual(self.value("background_runs_total", loop="enqueue-tasks"), 1)


class SQLiteBatchTests(unittest.TestCase):
    """
    The SQLite store reports the size of every group commit.
    """

    async def test_observedBatchesAddUp(self):
        """
        The observed commit sizes, however the writer batched them, add up
        to the number of write requests, one observation per commit.
        """
        store = SQLiteStore(StoreConfig(options={"path": self.mktemp()}), reactor)
        self.addCleanup(store.close)
        verifyObject(IGroupCommitStore, store)
        sizes = []
        store.observeCommits(sizes.append)
        await gatherResults(
            [
                store.createPromise(
                    CreatePromise(id=f"p{n}", timeout=NOW + 60_000), NOW
                )
                for n in range(20)
            ]
        )
        self.assertEqual(sum(sizes), 20)
        self.assertEqual(len(sizes), store.commits)


class ServiceMetricsTests(unittest.TestCase):
    """
    The service L{buildService} makes serves its metrics on the metrics
    port, from the one registry everything records into.
    """

    async def test_servesMetrics(self):
        """
        After a create over the API, C{GET /metrics} on the metrics
        listener shows it, as Prometheus text; the SQLite store's commits
        are in the batch size histogram; other paths are 404.
        """
        path = self.mktemp()
        config = loadConfig(
            None,
            {
                "api-http-addr": "127.0.0.1:0",
                # Not the default 50051: another server may hold it.
                "api-grpc-addr": "127.0.0.1:0",
                "metrics-port": "0",
                "aio-store-sqlite-path": path,
            },
        )
        store = SQLiteStore(config.storeConfig(), reactor)
        service = buildService(config, store, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        apiPort = service.getServiceNamed("http").port.getHost().port
        metricsPort = service.getServiceNamed("metrics").port.getHost().port
        pool = HTTPConnectionPool(reactor, persistent=False)
        response = await treq.post(
            f"http://127.0.0.1:{apiPort}/promises",
            json.dumps({"id": "x", "timeout": 2**62}).encode(),
            pool=pool,
        )
        self.assertEqual(response.code, 201)
        await treq.content(response)
        response = await treq.get(f"http://127.0.0.1:{metricsPort}/metrics", pool=pool)
        self.assertEqual(response.code, 200)
        self.assertEqual(
            response.headers.getRawHeaders("content-type"), [CONTENT_TYPE.decode()]
        )
        text = await treq.content(response)
        self.assertEqual(samples(text, "api_total_requests"), {http(2010): "1.0"})
        self.assertEqual(
            samples(text, "coroutines_total")['{type="create-promise"}'], "1.0"
        )
        self.assertEqual(samples(text, "aio_store_batch_size_sum"), {"": "1.0"})
        response = await treq.get(f"http://127.0.0.1:{metricsPort}/", pool=pool)
        self.assertEqual(response.code, 404)
        await treq.content(response)
