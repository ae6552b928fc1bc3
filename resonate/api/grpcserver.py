# -*- test-case-name: tests.integration.test_api_grpc -*-
"""
grpcio's asyncio server, on a thread of its own, bridged into the reactor:
the one place where threads meet Twisted.

C{twist resonate} keeps Twisted's default reactor, so grpcio's C{grpc.aio}
server gets its own asyncio event loop on one thread (L{_LoopThread}).
grpcio receives and sends there; each RPC then makes one hop to the reactor
(C{reactor.callFromThread}) with its request, where the servicers
(L{resonate.api.grpcapi}) parse it, run the operation and render the
answer, and one hop back (C{loop.call_soon_threadsafe}) that completes the
RPC's asyncio future.  So the domain logic, the clock and the stores are
only ever used from the reactor thread, exactly as for HTTP, and no thread
is held per RPC: grpcio's sync server, which this replaces, parked a worker
thread on C{blockingCallFromThread} for every call, and its handoffs cost
more CPU than the operation itself.
"""

import asyncio
import errno
import threading

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from twisted.application.service import Service
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from resonate.api.grpcapi import CODE_METADATA, GRPCAPI
from resonate.metrics import Metrics
from resonate.services.listen import CannotListen
from resonate.status import Status

#: The health service's methods: probes carry no credentials, and the
#: health of the server is no secret.
_HEALTH_PREFIX = "/grpc.health.v1.Health/"

#: How long startup waits for the loop thread to bind and start grpcio.
_START_TIMEOUT = 30


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


def _refusal(code, metrics):
    """
    A unary handler that refuses an RPC before its request is used:
    UNAUTHENTICATED, with the 4-digit code in the trailing metadata, counted
    in C{metrics} as every RPC is (C{api_total_requests{type="grpc"}}), as
    HTTP counts its 401s and L{GRPCAPI} its JWT refusals.  (Every API method
    is unary; the streaming health Watch is never refused.)
    """

    async def refuse(request, context):
        # Counted here, on the event loop, before the client can see the
        # answer: L{Metrics} may be called from any thread, and this
        # refusal needs nothing of the reactor's.
        metrics.requestFinished("grpc", code, metrics.requestStarted("grpc"))
        context.set_trailing_metadata(((CODE_METADATA, str(code)),))
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unauthorized")

    return grpc.unary_unary_rpc_method_handler(refuse)


class BasicAuthInterceptor(grpc.aio.ServerInterceptor):
    """
    Requires the HTTP API's basic-auth credentials on every RPC, as the
    C{authorization} metadata (C{Basic base64(user:password)}); the health
    service stays open.  Runs on the gRPC event loop: the check is a
    constant-time comparison, nothing that waits.
    """

    def __init__(self, credentials, code, metrics):
        """
        @param credentials: an object whose C{check(value)} says, in
            constant time, whether an C{Authorization} value is right.
        @param code: the 4-digit status to report (401x).
        @param metrics: the L{resonate.metrics.Metrics} refusals are
            counted in.
        """
        self._credentials = credentials
        self._refusal = _refusal(code, metrics)

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method or ""
        if method.startswith(_HEALTH_PREFIX):
            return await continuation(handler_call_details)
        given = None
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                given = value
        if given is not None and self._credentials.check(given):
            return await continuation(handler_call_details)
        return self._refusal


class _BoundPort:
    """
    What L{GRPCService.whenListening} gives: the address grpcio bound.
    """

    def __init__(self, address):
        self._address = address

    def getHost(self):
        return self._address


def _settle(future, result):
    """
    On the gRPC event loop: complete an RPC's C{future} with what its work
    on the reactor gave.  The RPC may have been cancelled meanwhile (its
    client went away), and then nobody waits for the result.
    """
    if future.done():
        return
    if isinstance(result, Failure):
        future.set_exception(result.value)
    else:
        future.set_result(result)


class _LoopThread:
    """
    An asyncio event loop running on a daemon thread of its own, and the
    bridge between it and the reactor.

    Each way, work waits in a list and the other side is woken once for
    all of it: under load many RPCs cross together, for one wakeup (a
    write to a pipe and a turn of the other loop) instead of one each.
    This relies on the GIL: an append and a swap of the list are atomic.

    @ivar loop: the event loop, once L{start}ed.
    """

    _log = Logger()

    def __init__(self, reactor):
        self._reactor = reactor
        self._thread = None
        self.loop = None
        # RPCs for the reactor, and whether it has been woken for them.
        self._toReactor = []
        self._reactorWoken = False
        # Results for the loop, and whether it has been woken for them.
        self._toLoop = []
        self._loopWoken = False

    def start(self):
        """
        Start the thread and its loop.
        """
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._loopError)
        self.stopping = False
        self._thread = threading.Thread(
            target=self._run, name="grpc-loop", daemon=True
        )
        self._thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def _loopError(self, loop, context):
        """
        An error the loop caught outside any RPC: into the server's log,
        not onto stderr.  grpcio's poller, called once more after grpcio
        closed its descriptor on stop, fails with EBADF: that is the end
        of the loop, not an error.
        """
        error = context.get("exception")
        if (
            self.stopping
            and isinstance(error, OSError)
            and error.errno == errno.EBADF
        ):
            return
        self._log.error(
            "gRPC event loop: {reason}: {error!r}",
            reason=context.get("message"),
            error=error,
        )

    def stop(self):
        """
        Stop the loop, from any thread; its thread then closes it and ends.
        """
        self.stopping = True
        try:
            self.loop.call_soon_threadsafe(self.loop.stop)
        except RuntimeError:
            # Closed already.
            pass

    def submit(self, coroutine):
        """
        Run C{coroutine} on the loop, from another thread.

        @return: a C{concurrent.futures.Future} of its result.
        """
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def deferred(self, coroutine):
        """
        Run C{coroutine} on the loop, from the reactor thread.

        @return: a C{Deferred} that fires with its result on the reactor.
        """
        d = Deferred()

        def done(future):
            try:
                result = future.result()
            except BaseException:
                result = Failure()
            self._reactor.callFromThread(
                d.errback if isinstance(result, Failure) else d.callback, result
            )

        self.submit(coroutine).add_done_callback(done)
        return d

    def call(self, f, *args):
        """
        Run C{f(*args)} (returning a C{Deferred}, a coroutine or a value) on
        the reactor, from the event loop.

        @return: an asyncio future, completed on the loop with its result.
        """
        future = self.loop.create_future()
        # Append, then look at the flag: the reactor clears the flag before
        # it takes the list, so either it takes this RPC or it is woken.
        self._toReactor.append((future, f, args))
        if not self._reactorWoken:
            self._reactorWoken = True
            self._reactor.callFromThread(self._startAll)
        return future

    def _startAll(self):
        """
        On the reactor: start every RPC handed over since the last wakeup.
        """
        self._reactorWoken = False
        waiting, self._toReactor = self._toReactor, []
        for future, f, args in waiting:
            maybeDeferred(f, *args).addBoth(self._finished, future)

    def _finished(self, result, future):
        """
        On the reactor: hand C{result} back to the loop for C{future}.
        """
        self._toLoop.append((future, result))
        if not self._loopWoken:
            self._loopWoken = True
            try:
                self.loop.call_soon_threadsafe(self._settleAll)
            except RuntimeError:
                # The loop is closed: grpcio gave up on the RPCs at stop,
                # once its grace was over.
                pass

    def _settleAll(self):
        """
        On the loop: complete every RPC whose result came back since the
        last wakeup.
        """
        self._loopWoken = False
        done, self._toLoop = self._toLoop, []
        for future, result in done:
            _settle(future, result)


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
        tokens=None,
    ):
        """
        @param operations: the L{resonate.api.operations.Operations}.
        @param address: a L{resonate.config.Address}.
        @param reactor: the reactor the operations run on.
        @param workers: the operations in flight at once (C{api.size});
            grpcio holds at most three times as many RPCs, and answers any
            more RESOURCE_EXHAUSTED at once (the operations themselves
            answer UNAVAILABLE, 5031, beyond C{workers}).
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
        @param tokens: L{None} (no JWT auth), or the
            L{resonate.api.tokens.TokenVerifier} of the C{Bearer} token
            every RPC but the health service's must send as
            C{authorization} metadata (checked by L{GRPCAPI}).
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
        self._tokens = tokens
        self._loopThread = None
        self._server = None
        self._health = None
        self.port = None

    async def _bind(self, address):
        """
        On the event loop: make grpcio's server (it belongs to the loop it
        is made on), bind C{address} and start serving.

        @return: C{(port, reason)}: the port bound, or 0 and why not.
        """
        if self._metrics is None:
            # One registry for the interceptor and the servicers.
            self._metrics = Metrics()
        interceptors = []
        if self._credentials is not None:
            interceptors.append(
                BasicAuthInterceptor(
                    self._credentials, self._unauthorizedCode, self._metrics
                )
            )
        # grpcio sets SO_REUSEPORT by default: a second server on the same
        # port would then silently share it instead of failing.
        options = [("grpc.so_reuseport", 1 if self._reusePort else 0)]
        if self._maxMessageSize is not None:
            options.append(("grpc.max_receive_message_length", self._maxMessageSize))
        server = grpc.aio.server(
            interceptors=interceptors,
            options=options,
            maximum_concurrent_rpcs=self._workers * 3,
        )
        services = GRPCAPI(
            self._operations, self._loopThread.call, self._metrics, self._tokens
        ).addTo(server)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        for name in [""] + services:
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as e:
            await server.stop(None)
            return 0, str(e)
        await server.start()
        self._server = server
        return port, None

    def startService(self):
        """
        Bind and start serving.  grpcio binds at once, so a taken port is
        known here and stops startup with L{CannotListen}.  (Startup waits
        for the loop thread to bind, a few milliseconds, once: the
        reactor serves nothing yet.)
        """
        super().startService()
        self._loopThread = _LoopThread(self._reactor)
        self._loopThread.start()
        address = grpcAddress(self._address)
        try:
            port, reason = self._loopThread.submit(self._bind(address)).result(
                _START_TIMEOUT
            )
        except Exception as e:
            port, reason = 0, str(e) or e.__class__.__name__
        if not port:
            self.running = 0
            self._loopThread.stop()
            self._loopThread = None
            raise CannotListen(
                f"error: cannot start grpc server: cannot bind {address}: "
                f"{reason or 'address in use or not available'}"
            )
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

    async def _stop(self, server):
        """
        On the event loop: say not serving, refuse new RPCs and let those
        in flight finish, for up to C{grace} seconds.
        """
        await self._health.enter_graceful_shutdown()
        await server.stop(self._grace)

    def stopService(self):
        """
        Refuse new RPCs, let those in flight finish (up to C{grace}
        seconds; their operations need the reactor, which this does not
        block), and end the loop thread.

        @return: a C{Deferred} that fires once grpcio has stopped.
        """
        super().stopService()
        server, self._server = self._server, None
        loopThread, self._loopThread = self._loopThread, None
        if server is None:
            return None
        # From here grpcio closes its descriptors under the loop.
        loopThread.stopping = True

        def stopped(result):
            loopThread.stop()
            return result

        return loopThread.deferred(self._stop(server)).addBoth(stopped)
