# -*- test-case-name: tests.unit.test_services_dispatcher -*-
"""
The task dispatcher: offer dispatchable tasks and push them to workers.

Each iteration asks the store for the tasks due to be offered
(L{resonate.interfaces.ITaskStore.dispatchTasks}: a new task at once, one
neither claimed nor completed within its claim window again, with a new
counter) and pushes each to the worker connection its route names, as a
JSON C{POST} (by default through L{resonate.services.push.HTTPPusher},
bounded overall and per worker host).  Pushes are fire and forget: the
loop does not wait for them, so a worker that is down (or slow) never
stalls dispatch to the others; a failed push is logged once and the task
is simply offered again when its claim window is over.

The loop sleeps C{interval} seconds between iterations, and
L{TaskDispatcher.wake} cuts the sleep short when this process has just
created a routed promise, so a new task is pushed at once (DECISIONS 13).
"""

from twisted.internet.defer import CancelledError, maybeDeferred, succeed

from resonate.model.routing import matchRoute, renderQueue
from resonate.model.task import CLAIM_WINDOW
from resonate.services.background import WakeableLoop
from resonate.services.push import HTTPPusher


class TaskDispatcher(WakeableLoop):
    """
    Offer dispatchable tasks and push them to their workers.

    Iterations never overlap: the next is only ever scheduled once the
    running one has finished.  A failing iteration is logged and counted,
    and the loop carries on after C{backoff} seconds.

    @ivar iterations: how many iterations have finished.
    @ivar failures: how many of them failed.
    @ivar offered: how many tasks this service has offered.
    @ivar pushed: how many pushes got an answer (whatever it was).
    @ivar pushFailures: how many pushes failed (no answer).
    """

    def __init__(
        self,
        store,
        clock,
        routes,
        connections,
        baseUrl,
        batchSize,
        interval=0.1,
        backoff=1.0,
        timeout=10.0,
        post=None,
        claimWindow=CLAIM_WINDOW,
        name="enqueue-tasks",
        metrics=None,
    ):
        """
        @param store: the L{resonate.interfaces.ITaskStore}.
        @param clock: the C{IReactorTime} that gives the time and schedules
            the iterations.
        @param routes: the L{resonate.model.routing.Route}s, in
            configuration order.
        @param connections: connection name to the URL pushes go to.
        @param baseUrl: this server's URL, for the links in pushes.
        @param batchSize: the most tasks offered per iteration.
        @param interval: seconds to sleep between iterations.
        @param backoff: seconds to wait after a failed iteration.
        @param timeout: seconds a push may take (the default client's), and
            its connection.
        @param post: L{None} for the default (L{HTTPPusher.post}: at most
            256 pushes at once, 64 to one host), or a callable
            C{post(url, body)} returning a C{Deferred} that fires with the
            answer's HTTP status (the metrics count anything but a 2xx as
            a failed push); C{body} is the JSON object to send.
        @param claimWindow: ms a worker has to claim a pushed task.
        @param name: names the loop in logs and metrics (by default the
            contract's coroutine name).
        @param metrics: the L{resonate.metrics.Metrics} that counts the
            iterations, the store calls and the pushes (C{queuing}
            submissions, which succeed on a 2xx answer); L{None} for a
            private one.
        """
        super().__init__(name, clock, backoff, metrics)
        self._store = store
        self._routes = list(routes)
        self._connections = dict(connections)
        base = baseUrl.rstrip("/")
        self._links = {"claim": base + "/tasks/claim", "complete": base + "/tasks/complete"}
        self._batchSize = batchSize
        self._interval = interval
        self._timeout = timeout
        self._claimWindow = claimWindow
        self._poster = None
        if post is None:
            self._poster = HTTPPusher(
                clock, connectTimeout=timeout, requestTimeout=timeout
            )
            post = self._poster.post
        self._post = post
        self._inFlight = set()
        self.offered = 0
        self.pushed = 0
        self.pushFailures = 0

    def stopService(self):
        """
        Cancel the sleep and the pushes in flight.

        @return: a C{Deferred} that fires once the running iteration, if
            any, has finished and the idle connections are closed.
        """
        return super().stopService().addCallback(lambda _: self._closePushes())

    def _closePushes(self):
        for d in list(self._inFlight):
            d.cancel()
        if self._poster is not None:
            return self._poster.close()
        return succeed(None)

    async def _runOnce(self):
        """
        Offer what is due and push it.

        @return: how many seconds to sleep before the next iteration.
        """
        now = self._milliseconds()
        offered = await self._metrics.submission(
            "store",
            self._store.dispatchTasks,
            now,
            self._batchSize,
            self._claimWindow,
        )
        self.offered += len(offered)
        for task in offered:
            self._push(task)
        if len(offered) >= self._batchSize:
            # A full batch: more may be due.  Let the reactor have its
            # turn, then go on at once.
            return 0
        return self._interval

    def _push(self, task):
        """
        Push one offered task to its worker, without waiting.
        """
        matched = matchRoute(self._routes, task.promiseId)
        if matched is None:
            self._log.warn(
                "task {taskId} matches no route; not pushed", taskId=task.id
            )
            return
        route, params = matched
        url = self._connections.get(route.connection)
        if url is None:
            self._log.warn(
                "task {taskId}: route {route} names unknown connection "
                "{connection}; not pushed",
                taskId=task.id,
                route=route.name,
                connection=route.connection,
            )
            return
        body = {
            "queue": renderQueue(route.queue, params),
            "taskId": task.id,
            "counter": task.counter,
            "links": dict(self._links),
        }
        self._metrics.submissionStarted("queuing")
        d = maybeDeferred(self._post, url, body)
        self._inFlight.add(d)

        def answered(code):
            self.pushed += 1
            self._metrics.submissionFinished(
                "queuing", not isinstance(code, int) or 200 <= code < 300
            )

        def failed(failure):
            self._metrics.submissionFinished("queuing", False)
            if failure.check(CancelledError) and not self.running:
                return None
            self.pushFailures += 1
            self._log.warn(
                "push of task {taskId} (counter {counter}) to {connection} "
                "at {url} failed: {error}",
                taskId=task.id,
                counter=task.counter,
                connection=route.connection,
                url=url,
                error=failure.getErrorMessage() or failure.type.__name__,
            )

        def forget(result):
            self._inFlight.discard(d)
            return result

        d.addCallbacks(answered, failed)
        d.addBoth(forget)
