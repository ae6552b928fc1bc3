# -*- test-case-name: tests.integration.test_api_grpc -*-
"""
grpcio's server, bridged into the reactor: the one place where threads meet
Twisted.

grpcio serves each RPC on a worker thread of its own executor.  The
servicers (L{resonate.api.grpcapi}) parse and render there, and hand every
operation to the reactor with C{blockingCallFromThread}, so the domain
logic, the clock and the stores are only ever used from the reactor thread,
exactly as for HTTP.  C{twist resonate} keeps Twisted's default reactor.
"""

from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from twisted.application.service import Service
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import fail, maybeDeferred, succeed
from twisted.internet.threads import blockingCallFromThread, deferToThreadPool
from twisted.logger import Logger

from resonate.api.grpcapi import CODE_METADATA, GRPCAPI
from resonate.services.listen import CannotListen
from resonate.status import Status

#: The health service's methods: probes carry no credentials, and the
#: health of the server is no secret.
_HEALTH_PREFIX = "/grpc.health.v1.Health/"


def grpcAddress(address):
    """
    The grpcio form of a configured C{host:port} address: an empty host
    means every IPv4 interface, as it does for HTTP; IPv6 hosts keep their
    brackets.

    @param address: a L{resonate.config.Address}.
    """
    host = address.host or "0.0.0.0"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{address.port}"


def _refusal(code):
    """
    A unary handler that refuses an RPC before its request is used:
    UNAUTHENTICATED, with the 4-digit code in the trailing metadata.  (Every
    API method is unary; the streaming health Watch is never refused.)
    """

    def refuse(request, context):
        context.set_trailing_metadata(((CODE_METADATA, str(code)),))
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "unauthorized")

    return grpc.unary_unary_rpc_method_handler(refuse)


class BasicAuthInterceptor(grpc.ServerInterceptor):
    """
    Requires the HTTP API's basic-auth credentials on every RPC, as the
    C{authorization} metadata (C{Basic base64(user:password)}); the health
    service stays open.
    """

    def __init__(self, credentials, code):
        """
        @param credentials: an object whose C{check(value)} says, in
            constant time, whether an C{Authorization} value is right.
        @param code: the 4-digit status to report (401x).
        """
        self._credentials = credentials
        self._refusal = _refusal(code)

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method or ""
        if method.startswith(_HEALTH_PREFIX):
            return continuation(handler_call_details)
        given = None
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                given = value
        if given is not None and self._credentials.check(given):
            return continuation(handler_call_details)
        return self._refusal


class _BoundPort:
    """
    What L{GRPCService.whenListening} gives: the address grpcio bound.
    """

    def __init__(self, address):
        self._address = address

    def getHost(self):
        return self._address


class GRPCService(Service):
    """
    The gRPC API on C{address} while running: the four v0.5 services and
    the standard health service.  Says so in the log
    (C{starting grpc server addr=0.0.0.0:50051}) with the port actually
    bound, so that port 0 can be used.

    @ivar port: the port bound, once started.
    """

    _log = Logger()

    def __init__(
        self,
        operations,
        address,
        reactor,
        workers,
        grace,
        credentials=None,
        unauthorizedCode=Status.UNAUTHORIZED,
        metrics=None,
        maxMessageSize=None,
        reusePort=False,
    ):
        """
        @param operations: the L{resonate.api.operations.Operations}.
        @param address: a L{resonate.config.Address}.
        @param reactor: the reactor the operations run on.
        @param workers: grpcio worker threads: the most RPCs served at once
            (each waits on the reactor for its operation); at most twice as
            many more queue, and beyond that grpcio answers
            RESOURCE_EXHAUSTED at once.
        @param grace: seconds RPCs in flight may take to finish on stop.
        @param credentials: L{None} (no authentication), or the HTTP API's
            L{resonate.api.auth.BasicCredentials}, which every RPC but the
            health service's must send as C{authorization} metadata.
        @param unauthorizedCode: the 4-digit status of a refusal.
        @param metrics: passed to L{GRPCAPI}.
        @param maxMessageSize: the largest request message accepted, in
            bytes (HTTP's C{maxBodySize}); grpcio answers a larger one
            RESOURCE_EXHAUSTED, as HTTP answers 413.  L{None} for grpcio's
            default (4 MiB).
        @param reusePort: bind with C{SO_REUSEPORT}, sharing the port with
            the other workers of one server (L{resonate.services.workers});
            otherwise a port in use fails startup.
        """
        self.setName("grpc")
        self._reusePort = reusePort
        self._operations = operations
        self._address = address
        self._reactor = reactor
        self._workers = workers
        self._grace = grace
        self._credentials = credentials
        self._unauthorizedCode = unauthorizedCode
        self._metrics = metrics
        self._maxMessageSize = maxMessageSize
        self._server = None
        self._health = None
        self._executor = None
        self.port = None

    def _call(self, f, *args):
        """
        Run C{f} (returning a C{Deferred} or a coroutine) on the reactor
        and wait for its result, from a grpcio worker thread.
        """
        return blockingCallFromThread(self._reactor, maybeDeferred, f, *args)

    def startService(self):
        """
        Bind and start serving.  grpcio binds at once, so a taken port is
        known here and stops startup with L{CannotListen}.
        """
        super().startService()
        self._executor = ThreadPoolExecutor(
            max_workers=self._workers, thread_name_prefix="grpc"
        )
        interceptors = []
        if self._credentials is not None:
            interceptors.append(
                BasicAuthInterceptor(self._credentials, self._unauthorizedCode)
            )
        # grpcio sets SO_REUSEPORT by default: a second server on the same
        # port would then silently share it instead of failing.
        options = [("grpc.so_reuseport", 1 if self._reusePort else 0)]
        if self._maxMessageSize is not None:
            options.append(("grpc.max_receive_message_length", self._maxMessageSize))
        server = grpc.server(
            self._executor,
            interceptors=interceptors,
            options=options,
            maximum_concurrent_rpcs=self._workers * 3,
        )
        services = GRPCAPI(self._operations, self._call, self._metrics).addTo(server)
        self._health = health.HealthServicer(experimental_non_blocking=True)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        for name in [""] + services:
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        address = grpcAddress(self._address)
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as e:
            port, reason = 0, str(e)
        else:
            reason = "address in use or not available"
        if not port:
            self.running = 0
            server.stop(None)
            self._executor.shutdown(wait=False)
            raise CannotListen(
                f"error: cannot start grpc server: cannot bind {address}: {reason}"
            )
        server.start()
        self._server = server
        self.port = port
        host = self._address.host or "0.0.0.0"
        if ":" in host:
            host = f"[{host}]"
        self._log.info("starting grpc server addr={addr}", addr=f"{host}:{port}")

    def whenListening(self):
        """
        grpcio binds in L{startService}: once started, this listens.

        @return: a C{Deferred} firing with an object whose C{getHost()}
            gives the address bound (for the C{READY=1} status line).
        """
        if self.port is None:
            return fail(RuntimeError("the grpc server is not running"))
        host = self._address.host or "0.0.0.0"
        kind = IPv6Address if ":" in host else IPv4Address
        return succeed(_BoundPort(kind("TCP", host, self.port)))

    def stopService(self):
        """
        Refuse new RPCs, let those in flight finish (up to C{grace}
        seconds), and release the worker threads.

        @return: a C{Deferred} that fires once grpcio has stopped.
        """
        super().stopService()
        server, self._server = self._server, None
        if server is None:
            return None
        self._health.enter_graceful_shutdown()
        stopped = server.stop(self._grace)
        executor = self._executor
        # The wait blocks: do it off the reactor thread, which the RPCs
        # still in flight need to finish.
        return deferToThreadPool(
            self._reactor, self._reactor.getThreadPool(), stopped.wait
        ).addCallback(lambda _: executor.shutdown(wait=False))
