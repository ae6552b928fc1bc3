# -*- test-case-name: tests.integration.test_metrics -*-
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
      C{"queuing"} (task pushes to workers); C{metrics.submission(kind,
      call, *args)} does both around a call that returns a C{Deferred};
    - C{operationStarted(name)} / C{operationFinished(name, succeeded)}:
      both of the above at once, for an admitted operation and its store
      call;
    - C{loopStarted(loop)} / C{loopFinished(loop, failed)}: an iteration of
      a background loop, counted as a coroutine of the same name too;

and C{storeBatchCommitted(size)} records how many write requests one
SQLite group commit carried.

The 2026 protocol's C{POST /} is counted under the reference server's names
(DECISIONS 32), beside the v0.5 ones:

    started = metrics.rpcStarted()
    ...                                   # answer the envelope
    metrics.rpcFinished(kind, status, started)

records C{resonate_request_total{kind,status}} (C{status} the HTTP status
as a number string, C{"200"}, C{"404"}) and
C{resonate_request_duration_seconds{kind}}.  C{kind} is a label value: the
caller maps kinds it does not know to one label, so that clients cannot
make series without bound.  C{schedulePromisesFired(count)} adds to
C{resonate_schedule_promises_total}; the outbox's delivery loop counts
C{messageTaken(kind)} (C{resonate_messages_total{kind}}) and
C{messageDelivery(status)} (C{resonate_deliveries_total{status}}).

The web console (C{/console/...}) is not the API, and is counted apart,
so that C{api_total_requests} keeps the contract's meaning:

    started = metrics.consoleStarted(route)
    ...                                   # answer the request
    metrics.consoleFinished(route, status, started)

records C{resonate_console_requests_total{route,status}} (C{status} the
HTTP status, C{"200"}, C{"401"}; C{"499"} when the client went away first),
C{resonate_console_requests_in_flight{route}} and
C{resonate_console_request_duration_seconds{route}}, C{route} one of
C{page}, C{fragment}, C{static}, C{action}.

Every method may be called from any thread.

Exposed names are exactly those of the Go server (contract section 2.12), so
counters are not renamed with a C{_total} suffix as C{prometheus_client}'s
own text exposition would (C{api_total_requests} stays
C{api_total_requests}): L{exposition} writes the text format (0.0.4)
itself, from the same registry.
"""

import threading
import time
from bisect import bisect_left

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString
from twisted.internet.defer import maybeDeferred
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.resource import Resource

from resonate.status import Status

#: The content type of L{exposition}'s text.
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

#: Request durations, in seconds.
_DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)

#: The label values of store submissions, by outcome.
_STORE = ("store",)
_STORE_SUCCESS = ("store", "success")
_STORE_FAILURE = ("store", "failure")

#: Retention runs, in seconds: a backlog may take minutes.
_RETENTION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)

#: Write requests per SQLite group commit.
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class _Family:
    """
    A labelled counter or gauge, kept as plain numbers under the lock of its
    L{Metrics} and exposed under exactly its name (no C{_total} suffix, no
    C{_created} series).  A request records several of these; with
    C{prometheus_client}'s own, each record took a lock of its own (about
    a tenth of the reactor's time per request).

    A series exists from its first record on (a gauge shows 0 once it has
    gone back down).
    """

    def __init__(self, kind, name, documentation, labelNames, lock, registry):
        self._kind = kind
        self._name = name
        self._documentation = documentation
        self._labelNames = tuple(labelNames)
        self._lock = lock
        #: label values -> number; L{Metrics} changes it while holding
        #: C{_lock}.
        self.values = {}
        registry.register(self)

    def describe(self):
        return [Metric(self._name, self._documentation, self._kind)]

    def collect(self):
        metric = Metric(self._name, self._documentation, self._kind)
        with self._lock:
            values = sorted(self.values.items())
        for labelValues, value in values:
            metric.add_sample(
                self._name, dict(zip(self._labelNames, labelValues)), value
            )
        return [metric]


class _HistogramFamily:
    """
    A histogram with at most one label, as plain numbers under the lock of
    its L{Metrics}: per series, the count in each bucket (not cumulative),
    the sum and the count.  Exposed as C{prometheus_client} exposes its
    own: cumulative C{_bucket} samples up to C{+Inf}, then C{_count} and
    C{_sum}.
    """

    def __init__(self, name, documentation, labelNames, buckets, lock, registry):
        self._name = name
        self._documentation = documentation
        self._labelNames = tuple(labelNames)
        self._bounds = tuple(float(b) for b in buckets)
        self._lock = lock
        #: label values -> [bucket counts..., +Inf count, sum]; change it
        #: only while holding C{_lock}.
        self.series = {}
        if not self._labelNames:
            self.series[()] = self._newSeries()
        registry.register(self)

    def _newSeries(self):
        return [0] * (len(self._bounds) + 1) + [0.0]

    def observeLocked(self, value, labelValues=()):
        """
        Record C{value}; the caller holds the lock.
        """
        series = self.series.get(labelValues)
        if series is None:
            series = self.series[labelValues] = self._newSeries()
        series[bisect_left(self._bounds, value)] += 1
        series[-1] += value

    def observe(self, value, *labelValues):
        """
        Record C{value} in the series with these label values.
        """
        with self._lock:
            self.observeLocked(value, labelValues)

    def describe(self):
        return [Metric(self._name, self._documentation, "histogram")]

    def collect(self):
        metric = Metric(self._name, self._documentation, "histogram")
        with self._lock:
            series = sorted((k, list(v)) for k, v in self.series.items())
        for labelValues, counts in series:
            labels = dict(zip(self._labelNames, labelValues))
            total = 0
            for bound, count in zip(
                self._bounds + (float("inf"),), counts[:-1]
            ):
                total += count
                metric.add_sample(
                    self._name + "_bucket",
                    dict(labels, le=floatToGoString(bound)),
                    total,
                )
            metric.add_sample(self._name + "_count", labels, total)
            metric.add_sample(self._name + "_sum", labels, counts[-1])
        return [metric]


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
        self._statusLabels = {}
        self.registry = registry = CollectorRegistry()
        # One lock for every instrument: a request's records are a few
        # dictionary updates under one acquisition.
        self._lock = lock = threading.Lock()

        def family(kind, name, documentation, labelNames):
            return _Family(kind, name, documentation, labelNames, lock, registry)

        self._requests = family(
            "counter", "api_total_requests",
            "Requests answered, by protocol and 4-digit status code.",
            ["type", "status"],
        )
        self._requestsInFlight = family(
            "gauge", "api_in_flight_requests",
            "Requests being answered, by protocol.", ["type"],
        )
        self._requestDuration = _HistogramFamily(
            "api_request_duration_seconds",
            "Time from receiving a request to having its answer, by "
            "protocol.",
            ["type"], _DURATION_BUCKETS, lock, registry,
        )
        self._submissions = family(
            "counter", "aio_total_submissions",
            "I/O submissions completed, by subsystem and outcome.",
            ["type", "status"],
        )
        self._submissionsInFlight = family(
            "gauge", "aio_in_flight_submissions",
            "I/O submissions in flight, by subsystem.", ["type"],
        )
        self._coroutines = family(
            "counter", "coroutines_total", "Coroutines started, by name.",
            ["type"],
        )
        self._coroutinesInFlight = family(
            "gauge", "coroutines_in_flight", "Coroutines running, by name.",
            ["type"],
        )
        self._storeBatchSize = _HistogramFamily(
            "aio_store_batch_size",
            "Write requests carried by one SQLite group commit.",
            [], _BATCH_BUCKETS, lock, registry,
        )
        self._loopRuns = family(
            "counter", "background_runs_total",
            "Background loop iterations finished, by loop.", ["loop"],
        )
        self._loopFailures = family(
            "counter", "background_failures_total",
            "Background loop iterations that failed, by loop.", ["loop"],
        )
        self._rpcRequests = family(
            "counter", "resonate_request_total",
            "2026 protocol requests answered, by kind and HTTP status.",
            ["kind", "status"],
        )
        self._rpcDuration = _HistogramFamily(
            "resonate_request_duration_seconds",
            "Time from receiving a 2026 protocol request to having its "
            "answer, by kind.",
            ["kind"], _DURATION_BUCKETS, lock, registry,
        )
        self._schedulePromises = family(
            "counter", "resonate_schedule_promises_total",
            "Promises created by schedules firing.", [],
        )
        # Exposed at 0 before the first firing, as the reference does.
        self._schedulePromises.values[()] = 0
        self._messages = family(
            "counter", "resonate_messages_total",
            "Outbox messages taken for delivery, by kind.", ["kind"],
        )
        self._deliveries = family(
            "counter", "resonate_deliveries_total",
            "Outbox message deliveries, by outcome: success, error (to be "
            "retried) or dropped (expired).",
            ["status"],
        )

        self._consoleRequests = family(
            "counter", "resonate_console_requests_total",
            "Web console requests answered, by route (page, fragment, "
            "static, action) and HTTP status.",
            ["route", "status"],
        )
        self._consoleInFlight = family(
            "gauge", "resonate_console_requests_in_flight",
            "Web console requests being answered, by route.", ["route"],
        )
        self._consoleDuration = _HistogramFamily(
            "resonate_console_request_duration_seconds",
            "Time from receiving a web console request to having written "
            "its answer, by route.",
            ["route"], _DURATION_BUCKETS, lock, registry,
        )

        self._retentionDeleted = family(
            "counter", "resonate_retention_deleted_total",
            "Rows deleted by retention (and POST /gc), by kind: promises, "
            "tasks, callbacks, listeners.",
            ["kind"],
        )
        self._retentionDuration = _HistogramFamily(
            "resonate_retention_duration_seconds",
            "Time one retention run took, every batch until none was left.",
            [], _RETENTION_BUCKETS, lock, registry,
        )

    def requestStarted(self, protocol):
        """
        A request of C{protocol} (C{"http"} or C{"grpc"}) is being
        answered.

        @return: the start, to hand to L{requestFinished}.
        """
        # Written out, not through _add: this and the three below run for
        # every request, and the generic path cost several microseconds
        # each.
        key = (protocol,)
        inFlight = self._requestsInFlight.values
        with self._lock:
            inFlight[key] = inFlight.get(key, 0) + 1
        return self._timer()

    def requestFinished(self, protocol, status, started):
        """
        The request of C{protocol} begun at C{started} was answered with the
        4-digit C{status}.
        """
        elapsed = self._timer() - started
        if elapsed < 0.0:
            elapsed = 0.0
        key = (protocol,)
        answered = (protocol, self._statusLabel(status))
        inFlight = self._requestsInFlight.values
        requests = self._requests.values
        with self._lock:
            inFlight[key] = inFlight.get(key, 0) - 1
            requests[answered] = requests.get(answered, 0) + 1
            self._requestDuration.observeLocked(elapsed, key)

    def _statusLabel(self, status):
        """
        The label value of a 4-digit status: C{"2010"}.  Those of
        L{Status} members (a bounded set) are kept, not formatted again.
        """
        label = self._statusLabels.get(status)
        if label is None:
            label = str(int(status))
            if isinstance(status, Status):
                self._statusLabels[status] = label
        return label

    def rpcStarted(self):
        """
        A 2026 protocol request (C{POST /}) is being answered.

        @return: the start, to hand to L{rpcFinished}.
        """
        return self._timer()

    def rpcFinished(self, kind, status, started):
        """
        The 2026 protocol request begun at C{started} was answered.

        @param kind: the request's kind as a label value: one of a bounded
            set (the caller maps unknown kinds to one label).
        @param status: the HTTP status answered, an C{int}.
        """
        elapsed = max(0.0, self._timer() - started)
        with self._lock:
            self._addLocked((self._rpcRequests, (kind, str(int(status))), 1))
            self._rpcDuration.observeLocked(elapsed, (kind,))

    def consoleStarted(self, route):
        """
        A web console request is being answered.

        @param route: C{"page"}, C{"fragment"} (a page's live section),
            C{"static"} or C{"action"}: one of a bounded set.
        @return: the start, to hand to L{consoleFinished}.
        """
        with self._lock:
            self._addLocked((self._consoleInFlight, (route,), 1))
        return self._timer()

    def consoleFinished(self, route, status, started):
        """
        The web console request of C{route} begun at C{started} was
        answered with the HTTP C{status} (an C{int}).
        """
        elapsed = max(0.0, self._timer() - started)
        with self._lock:
            self._addLocked(
                (self._consoleInFlight, (route,), -1),
                (self._consoleRequests, (route, str(int(status))), 1),
            )
            self._consoleDuration.observeLocked(elapsed, (route,))

    def schedulePromisesFired(self, count):
        """
        Schedules fired C{count} promises (C{resonate_schedule_promises_total}).
        """
        if count:
            self._add((self._schedulePromises, (), count))

    def messageTaken(self, kind):
        """
        An outbox message of C{kind} (C{"execute"} or C{"unblock"}) was
        taken for delivery (C{resonate_messages_total}).
        """
        self._add((self._messages, (kind,), 1))

    def messageDelivery(self, status):
        """
        A delivery ended as C{status}: C{"success"}, C{"error"} (it will be
        tried again) or C{"dropped"} (C{resonate_deliveries_total}).
        """
        self._add((self._deliveries, (status,), 1))

    def retentionDeleted(self, promises, tasks, callbacks, listeners):
        """
        One collection deleted these (C{resonate_retention_deleted_total});
        a kind of which it deleted none is not touched.
        """
        self._add(
            *(
                (self._retentionDeleted, (kind,), count)
                for kind, count in (
                    ("promises", promises),
                    ("tasks", tasks),
                    ("callbacks", callbacks),
                    ("listeners", listeners),
                )
                if count
            )
        )

    def retentionRan(self, seconds):
        """
        A retention run took C{seconds}
        (C{resonate_retention_duration_seconds}).
        """
        self._retentionDuration.observe(seconds)

    def _addLocked(self, *changes):
        """
        Apply C{(family, labelValues, amount)} changes; the caller holds the
        lock, so that the changes of one event are made under one
        acquisition.
        """
        for family, labelValues, amount in changes:
            values = family.values
            values[labelValues] = values.get(labelValues, 0) + amount

    def _add(self, *changes):
        """
        Apply C{(family, labelValues, amount)} changes under the lock.
        """
        with self._lock:
            self._addLocked(*changes)

    def _coroutineStarts(self, name):
        return (self._coroutines, (name,), 1), (self._coroutinesInFlight, (name,), 1)

    def _coroutineEnds(self, name):
        return ((self._coroutinesInFlight, (name,), -1),)

    def _submissionStarts(self, kind):
        return ((self._submissionsInFlight, (kind,), 1),)

    def _submissionEnds(self, kind, succeeded):
        return (
            (self._submissionsInFlight, (kind,), -1),
            (self._submissions, (kind, "success" if succeeded else "failure"), 1),
        )

    def coroutineStarted(self, name):
        """
        The coroutine C{name} (C{"create-promise"}, C{"timeout-locks"}...)
        started.
        """
        self._add(*self._coroutineStarts(name))

    def coroutineFinished(self, name):
        """
        The coroutine C{name} finished, however it ended.
        """
        self._add(*self._coroutineEnds(name))

    def submissionStarted(self, kind):
        """
        An I/O submission to C{kind} (C{"store"}, C{"network"} or
        C{"queuing"}) is in flight.
        """
        self._add(*self._submissionStarts(kind))

    def submissionFinished(self, kind, succeeded):
        """
        An I/O submission to C{kind} completed, or failed.
        """
        self._add(*self._submissionEnds(kind, succeeded))

    def submission(self, kind, call, *args):
        """
        Call C{call(*args)} (a store method, say) as one I/O submission to
        C{kind}: it succeeds if it produces a result (a C{Deferred} or a
        coroutine's), fails if it fails.

        @return: a C{Deferred} firing with what C{call} produces.
        """
        self.submissionStarted(kind)
        return maybeDeferred(call, *args).addBoth(self._submitted, kind)

    def _submitted(self, result, kind):
        self.submissionFinished(kind, not isinstance(result, Failure))
        return result

    def operationStarted(self, name):
        """
        An admitted operation C{name} (C{"create-promise"}) started: a
        coroutine of that name and a submission to the C{"store"}, counted
        under one acquisition of the lock (this is on every request's path).
        """
        key = (name,)
        coroutines = self._coroutines.values
        coroutinesInFlight = self._coroutinesInFlight.values
        submissionsInFlight = self._submissionsInFlight.values
        with self._lock:
            coroutines[key] = coroutines.get(key, 0) + 1
            coroutinesInFlight[key] = coroutinesInFlight.get(key, 0) + 1
            submissionsInFlight[_STORE] = submissionsInFlight.get(_STORE, 0) + 1

    def operationFinished(self, name, succeeded):
        """
        The operation C{name} begun with L{operationStarted} finished: its
        store submission succeeded or failed.
        """
        key = (name,)
        outcome = _STORE_SUCCESS if succeeded else _STORE_FAILURE
        coroutinesInFlight = self._coroutinesInFlight.values
        submissionsInFlight = self._submissionsInFlight.values
        submissions = self._submissions.values
        with self._lock:
            coroutinesInFlight[key] = coroutinesInFlight.get(key, 0) - 1
            submissionsInFlight[_STORE] = submissionsInFlight.get(_STORE, 0) - 1
            submissions[outcome] = submissions.get(outcome, 0) + 1

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
        changes = [*self._coroutineEnds(loop), (self._loopRuns, (loop,), 1)]
        if failed:
            changes.append((self._loopFailures, (loop,), 1))
        self._add(*changes)

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
