# -*- test-case-name: tests.unit.test_services -*-
"""
The whole server as one service, and the order it stops in.
"""

from twisted.application.service import MultiService
from twisted.internet.defer import DeferredList, ensureDeferred, succeed
from twisted.logger import Logger

from resonate.services.listen import formatAddress


class ResonateService(MultiService):
    """
    The server: listeners, background loops and the store.

    C{MultiService} stops its children all at once; this one stops them in
    order, so that nothing is lost: the listeners stop accepting, requests
    already in flight finish (up to C{grace} seconds), the background loops
    finish their iteration, and only then is the store closed.

    It is ready once every listener listens: a listener that binds later
    than its C{startService} has a C{whenListening()} method returning a
    C{Deferred} (as L{resonate.services.listen.ListeningService} does); one
    without it counts as listening once started.  Then, and only then, the
    notifier is told (C{READY=1} to systemd).

    @ivar ready: a C{Deferred} that fires once every listener listens (it
        never fires if one fails).
    """

    _log = Logger()

    def __init__(
        self, store, operations, listeners, loops, grace, clock, sites=(),
        notifier=None,
    ):
        """
        @param store: the L{resonate.interfaces.IStore}; closed last.
        @param operations: the L{resonate.api.operations.Operations} whose
            in-flight requests are awaited.
        @param listeners: C{IService}s that accept connections.
        @param loops: background C{IService}s.
        @param grace: seconds that requests in flight, and the writing of
            their answers, may take on stop.
        @param clock: the C{IReactorTime} timing C{grace}.
        @param sites: objects with C{closeConnections()} and
            C{abortConnections()} (the L{resonate.api.http.APISite}s) whose
            connections are closed once their answers are written.
        @param notifier: L{None}, or an object with C{ready(status)} and
            C{stopping()} (a L{resonate.services.notify.SystemdNotifier}),
            told once every listener listens and when stopping begins.
        """
        super().__init__()
        self.store = store
        self.operations = operations
        self._listeners = list(listeners)
        self._loops = list(loops)
        self._sites = list(sites)
        self._grace = grace
        self._clock = clock
        self._notifier = notifier
        self.ready = None
        for child in self._listeners + self._loops:
            child.setServiceParent(self)

    def startService(self):
        """
        Start every child, then wait for every listener to listen.
        """
        super().startService()
        self.ready = DeferredList(
            [_whenListening(listener) for listener in self._listeners],
            fireOnOneErrback=True,
            consumeErrors=True,
        )
        self.ready.addCallback(self._listening)
        # A listener that fails has logged why and stops the server.
        self.ready.addErrback(lambda failure: None)

    def _listening(self, results):
        addresses = [
            f"{listener.name or 'listener'} {formatAddress(port.getHost())}"
            for listener, (_, port) in zip(self._listeners, results)
            if port is not None and hasattr(port, "getHost")
        ]
        status = "listening: " + ", ".join(addresses) if addresses else "ready"
        self._log.info("ready ({status})", status=status)
        if self._notifier is not None:
            self._notifier.ready(status)

    def stopService(self):
        d = ensureDeferred(self._stop())
        d.addErrback(
            lambda failure: self._log.failure("stopping failed", failure)
        )
        return d

    async def _stop(self):
        self.running = 0
        if self._notifier is not None:
            self._notifier.stopping()
        deadline = self._clock.seconds() + self._grace
        self._log.info("stopping: no new connections")
        await DeferredList(
            [ensureDeferred(_stop(s)) for s in self._listeners]
        )
        drained = self.operations.stop()
        drained.addTimeout(self._grace, self._clock, self._gaveUp)
        await drained
        # Answers already computed may still sit in write buffers: let the
        # connections flush them and close, within what is left of grace.
        closed = DeferredList([site.closeConnections() for site in self._sites])
        closed.addTimeout(
            max(0, deadline - self._clock.seconds()), self._clock, self._abort
        )
        await closed
        await DeferredList([ensureDeferred(_stop(s)) for s in self._loops])
        await self.store.close()
        self._log.info("stopped: store closed")

    def _gaveUp(self, result, timeout):
        self._log.warn(
            "{count} requests still in flight after {timeout}s; stopping anyway",
            count=self.operations.inFlight,
            timeout=timeout,
        )

    def _abort(self, result, timeout):
        self._log.warn("connections still open after the grace period; dropping them")
        for site in self._sites:
            site.abortConnections()


def _whenListening(listener):
    """
    A C{Deferred} that fires once C{listener} listens.
    """
    whenListening = getattr(listener, "whenListening", None)
    if whenListening is None:
        return succeed(None)
    return whenListening()


async def _stop(service):
    result = service.stopService()
    if result is not None:
        await result
