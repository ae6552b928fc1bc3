# -*- test-case-name: tests.test_metrics -*-
"""
Prometheus metrics: the instruments, what records into them, and the page
that serves them (C{GET /metrics} on C{metrics.port}).

One L{Metrics} is built by L{resonate.tap.buildService} and handed to
everything that records; it owns its own C{CollectorRegistry} (never
C{prometheus_client}'s global one), so two servers, or two tests, in one
process never share a count.

The recording API is small and protocol-neutral.  An adapter (HTTP, gRPC)
calls, for every request it answers, whatever the outcome::

    started = metrics.requestStarted("grpc")
    ...                                   # answer the request
    metrics.requestFinished("grpc", status, started)

where C{status} is the 4-digit internal code answered (a
L{resonate.status.Status} or an C{int}: 2010, 4090, 5031...) and C{started}
is what C{requestStarted} returned.  Every call of C{requestStarted} must be
matched by one of C{requestFinished}, or the in-flight gauge drifts.  The
other pairs (each C{...Started} matched by its C{...Finished}):

    - C{coroutineStarted(name)} / C{coroutineFinished(name)}: a coroutine
      (an admitted operation, C{"create-promise"}, or an iteration of a
      background loop) runs;
    - C{submissionStarted(kind)} / C{submissionFinished(kind, succeeded)}:
      an I/O submission to the C{"store"}, the C{"network"} or
      C{"queuing"} (task pushes to workers); C{await
      metrics.submission(kind, call, *args)} does both around a call;
    - C{loopStarted(loop)} / C{loopFinished(loop, failed)}: an iteration of
      a background loop, counted as a coroutine of the same name too;

and C{storeBatchCommitted(size)} records how many write requests one
SQLite group commit carried.

Every method may be called from any thread.

Exposed names are exactly those of the Go server (contract section 2.12), so
counters are not renamed with a C{_total} suffix as C{prometheus_client}'s
own text exposition would (C{api_total_requests} stays
C{api_total_requests}): L{exposition} writes the text format (0.0.4)
itself, from the same registry.
"""

import threading
import time

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString
from twisted.web import server
from twisted.web.resource import Resource

#: The content type of L{exposition}'s text.
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

#: Request durations, in seconds.
_DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)

#: Write requests per SQLite group commit.
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class _Counter:
    """
    A labelled counter exposed under exactly its name (no C{_total} suffix
    added, no C{_created} series).
    """

    def __init__(self, name, documentation, labelNames, registry):
        self._name = name
        self._documentation = documentation
        self._labelNames = tuple(labelNames)
        self._values = {}
        self._lock = threading.Lock()
        registry.register(self)

    def inc(self, *labelValues):
        """
        Add one to the series with these label values.
        """
        with self._lock:
            self._values[labelValues] = self._values.get(labelValues, 0) + 1

    def describe(self):
        return [Metric(self._name, self._documentation, "counter")]

    def collect(self):
        metric = Metric(self._name, self._documentation, "counter")
        with self._lock:
            values = sorted(self._values.items())
        for labelValues, value in values:
            metric.add_sample(
                self._name, dict(zip(self._labelNames, labelValues)), value
            )
        return [metric]


def _labelled(metric):
    """
    C{metric.labels}, remembering each child: C{labels()} costs about two
    microseconds, several times per request.
    """
    children = {}

    def child(*labelValues):
        found = children.get(labelValues)
        if found is None:
            # labels() returns the same child for the same values, so a
            # race between threads here is harmless.
            found = children[labelValues] = metric.labels(*labelValues)
        return found

    return child


class Metrics:
    """
    Every instrument of the server, on one registry of its own.

    @ivar registry: the C{prometheus_client.CollectorRegistry}.
    """

    def __init__(self, timer=time.monotonic):
        """
        @param timer: returns the time in seconds for request durations; a
            monotonic clock, so that setting the wall clock cannot make a
            request take negative time.
        """
        self._timer = timer
        self.registry = registry = CollectorRegistry()
        self._requests = _Counter(
            "api_total_requests",
            "Requests answered, by protocol and 4-digit status code.",
            ["type", "status"],
            registry,
        )
        self._requestsInFlight = _labelled(
            Gauge(
                "api_in_flight_requests",
                "Requests being answered, by protocol.",
                ["type"],
                registry=registry,
            )
        )
        self._requestDuration = _labelled(
            Histogram(
                "api_request_duration_seconds",
                "Time from receiving a request to having its answer, by "
                "protocol.",
                ["type"],
                buckets=_DURATION_BUCKETS,
                registry=registry,
            )
        )
        self._submissions = _Counter(
            "aio_total_submissions",
            "I/O submissions completed, by subsystem and outcome.",
            ["type", "status"],
            registry,
        )
        self._submissionsInFlight = _labelled(
            Gauge(
                "aio_in_flight_submissions",
                "I/O submissions in flight, by subsystem.",
                ["type"],
                registry=registry,
            )
        )
        self._coroutines = _Counter(
            "coroutines_total",
            "Coroutines started, by name.",
            ["type"],
            registry,
        )
        self._coroutinesInFlight = _labelled(
            Gauge(
                "coroutines_in_flight",
                "Coroutines running, by name.",
                ["type"],
                registry=registry,
            )
        )
        self._storeBatchSize = Histogram(
            "aio_store_batch_size",
            "Write requests carried by one SQLite group commit.",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self._loopRuns = _Counter(
            "background_runs_total",
            "Background loop iterations finished, by loop.",
            ["loop"],
            registry,
        )
        self._loopFailures = _Counter(
            "background_failures_total",
            "Background loop iterations that failed, by loop.",
            ["loop"],
            registry,
        )

    def requestStarted(self, protocol):
        """
        A request of C{protocol} (C{"http"} or C{"grpc"}) is being
        answered.

        @return: the start, to hand to L{requestFinished}.
        """
        self._requestsInFlight(protocol).inc()
        return self._timer()

    def requestFinished(self, protocol, status, started):
        """
        The request of C{protocol} begun at C{started} was answered with the
        4-digit C{status}.
        """
        self._requestsInFlight(protocol).dec()
        self._requests.inc(protocol, str(int(status)))
        self._requestDuration(protocol).observe(
            max(0.0, self._timer() - started)
        )

    def coroutineStarted(self, name):
        """
        The coroutine C{name} (C{"create-promise"}, C{"timeout-locks"}...)
        started.
        """
        self._coroutines.inc(name)
        self._coroutinesInFlight(name).inc()

    def coroutineFinished(self, name):
        """
        The coroutine C{name} finished, however it ended.
        """
        self._coroutinesInFlight(name).dec()

    def submissionStarted(self, kind):
        """
        An I/O submission to C{kind} (C{"store"}, C{"network"} or
        C{"queuing"}) is in flight.
        """
        self._submissionsInFlight(kind).inc()

    def submissionFinished(self, kind, succeeded):
        """
        An I/O submission to C{kind} completed, or failed.
        """
        self._submissionsInFlight(kind).dec()
        self._submissions.inc(kind, "success" if succeeded else "failure")

    async def submission(self, kind, call, *args):
        """
        Call C{call(*args)} (a store method, say) and await its result as
        one I/O submission to C{kind}: it succeeds if it produces a result,
        fails if it raises.

        @return: a coroutine producing what C{call} produces.
        """
        self.submissionStarted(kind)
        succeeded = False
        try:
            result = await call(*args)
            succeeded = True
            return result
        finally:
            self.submissionFinished(kind, succeeded)

    def loopStarted(self, loop):
        """
        An iteration of the background loop C{loop} started; it is also the
        coroutine C{loop}.
        """
        self.coroutineStarted(loop)

    def loopFinished(self, loop, failed):
        """
        An iteration of the background loop C{loop} finished, or failed.
        """
        self.coroutineFinished(loop)
        self._loopRuns.inc(loop)
        if failed:
            self._loopFailures.inc(loop)

    def storeBatchCommitted(self, size):
        """
        One store transaction committed C{size} write requests together.
        """
        self._storeBatchSize.observe(size)

    def exposition(self):
        """
        The Prometheus text format (version 0.0.4) of every metric.

        @return: C{bytes}, UTF-8.
        """
        return exposition(self.registry)


def _escapeHelp(text):
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escapeLabelValue(text):
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def exposition(registry):
    """
    The Prometheus text format (0.0.4) of C{registry}, every family under
    the name it was declared with, without C{_created} series.

    Unlike C{prometheus_client.generate_latest}, a counter is not renamed
    to C{NAME_total}: the Go server's C{api_total_requests} is scraped as
    C{api_total_requests}.
    """
    lines = []
    for metric in registry.collect():
        kind = "untyped" if metric.type == "unknown" else metric.type
        lines.append(f"# HELP {metric.name} {_escapeHelp(metric.documentation)}")
        lines.append(f"# TYPE {metric.name} {kind}")
        for sample in metric.samples:
            if sample.name == metric.name + "_created":
                continue
            labels = ",".join(
                f'{name}="{_escapeLabelValue(value)}"'
                for name, value in sorted(sample.labels.items())
            )
            if labels:
                labels = "{" + labels + "}"
            lines.append(f"{sample.name}{labels} {floatToGoString(sample.value)}")
    lines.append("")
    return "\n".join(lines).encode("utf-8")


class _MetricsPage(Resource):
    """
    C{GET /metrics}: the exposition, rendered on the reactor thread (it is
    a few kilobytes of text).
    """

    isLeaf = True

    def __init__(self, metrics):
        super().__init__()
        self._metrics = metrics

    def render_GET(self, request):
        request.setHeader(b"content-type", CONTENT_TYPE)
        return self._metrics.exposition()


class MetricsSite(server.Site):
    """
    The metrics server's site: C{/metrics}, and nothing logged per scrape.
    """

    # One log line per listener is ours ("starting metrics server addr=...").
    noisy = False

    def __init__(self, metrics, **kwargs):
        """
        @param metrics: the L{Metrics} to serve.
        """
        root = Resource()
        root.putChild(b"metrics", _MetricsPage(metrics))
        super().__init__(root, **kwargs)

    def log(self, request):
        pass
