# -*- test-case-name: tests.integration.test_services_listen -*-
"""
Listening on the configured addresses.
"""

from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.endpoints import (
    TCP4ServerEndpoint,
    TCP6ServerEndpoint,
    serverFromString,
)
from twisted.logger import Logger
from twisted.python.failure import Failure

from resonate.config import isEndpointDescription, splitAddress


def endpointForAddress(reactor, addr, backlog=1024):
    """
    A server endpoint for C{addr}: C{host:port} as the configuration
    writes it (see L{resonate.config.splitAddress}: an empty host means
    every interface, an IPv6 host is written in brackets), or a Twisted
    endpoint description (see L{resonate.config.isEndpointDescription}),
    such as C{ssl:8443:privateKey=key.pem:certKey=cert.pem} for TLS.
    """
    if isEndpointDescription(addr):
        return serverFromString(reactor, addr)
    host, port = splitAddress(addr)
    if not host:
        return TCP4ServerEndpoint(reactor, port, backlog=backlog)
    if ":" in host:
        return TCP6ServerEndpoint(reactor, port, backlog=backlog, interface=host)
    return TCP4ServerEndpoint(reactor, port, backlog=backlog, interface=host)


def formatAddress(address):
    """
    An address as the log shows it: C{host:port} (IPv6 hosts in brackets),
    or C{unix:PATH}.
    """
    host = getattr(address, "host", None)
    if host is None:
        # A UNIX socket (or anything else without a host and port).
        name = getattr(address, "name", None)
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        return f"unix:{name}" if name is not None else str(address)
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{address.port}"


class CannotListen(SystemExit):
    """
    A listener could not bind its address at startup.  As a C{SystemExit}
    it ends C{twist} with status 1 and this one line, not a traceback.
    """


class ListeningService(Service):
    """
    Listen with C{factory} on C{endpoint} while running, and say so in the
    log (C{starting http server addr=0.0.0.0:8001}) with the address actually
    bound, so that port 0 can be used.

    @ivar port: the C{IListeningPort} once listening, else L{None}.
    """

    _log = Logger()

    def __init__(self, name, endpoint, factory, onFailure=None, logHost=None):
        """
        @param name: what is served, for the log (C{"http"}).
        @param onFailure: called with the failure if listening fails after
            startup; the server cannot run without its listener.
        @param logHost: L{None} to log the host actually bound, or the host
            to log instead (C{""} logs C{addr=:9090}, as the Go server
            logs a listener on every interface).
        """
        self.setName(name)
        self._endpoint = endpoint
        self._factory = factory
        self._onFailure = onFailure
        self._logHost = logHost
        self._listening = None
        self._whenListening = []
        self.port = None

    def startService(self):
        """
        Listen.  TCP endpoints bind at once, so a taken port is known here
        and stops startup with L{CannotListen}.
        """
        super().startService()
        listening = self._endpoint.listen(self._factory)
        outcome = []
        listening.addBoth(lambda result: outcome.append(result) or result)
        if outcome and isinstance(outcome[0], Failure):
            listening.addErrback(lambda failure: None)
            self.running = 0
            raise CannotListen(
                f"error: cannot start {self.name} server: "
                f"{outcome[0].getErrorMessage()}"
            )
        self._listening = listening.addCallbacks(self._listened, self._failed)

    def whenListening(self):
        """
        Wait until this service listens (for C{READY=1} to systemd).

        @return: a new C{Deferred} that fires with the C{IListeningPort} once
            listening, or fails if listening failed; it fails at once if
            the service is not running.
        """
        if self.port is not None:
            return succeed(self.port)
        if self._listening is None:
            return fail(RuntimeError(f"the {self.name} server is not running"))
        d = Deferred()
        self._whenListening.append(d)
        return d

    def _listened(self, port):
        self.port = port
        address = port.getHost()
        if self._logHost is None:
            addr = formatAddress(address)
        else:
            addr = f"{self._logHost}:{address.port}"
        self._log.info(
            "starting {name} server addr={addr}", name=self.name, addr=addr
        )
        waiting, self._whenListening = self._whenListening, []
        for d in waiting:
            d.callback(port)
        return port

    def _failed(self, failure):
        self._log.critical(
            "cannot start {name} server: {error}",
            name=self.name,
            error=failure.getErrorMessage(),
        )
        waiting, self._whenListening = self._whenListening, []
        for d in waiting:
            d.errback(failure)
        if self._onFailure is not None:
            self._onFailure(failure)

    def stopService(self):
        """
        Stop accepting connections.

        @return: a C{Deferred} that fires once the port is closed.
        """
        super().stopService()
        listening, self._listening = self._listening, None
        if listening is None:
            return None
        listening.cancel()
        return listening.addCallback(
            lambda port: port.stopListening() if port is not None else None
        )
