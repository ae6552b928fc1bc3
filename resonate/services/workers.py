# -*- test-case-name: tests.unit.test_services_workers -*-
"""
Several server processes on one set of listeners (C{api.workers}).

With C{api.workers} above 1, C{twist resonate} runs as a supervisor: it
opens the store once (creating, migrating or resetting it there, once),
closes it, reserves the HTTP and gRPC ports, and starts
that many worker processes, each the same C{twist resonate} command with
the L{WORKER_ENVIRONMENT} variable set.  A worker is a whole server (its
own reactor, store connections, background loops) that:

  - serves HTTP (v0.5, the 2026 protocol and its SSE streams) and gRPC
    on the ports the supervisor reserved, each bound again by every
    worker with C{SO_REUSEPORT}: the kernel spreads new connections over
    the workers' own accept queues.  (One listening socket shared by all
    would let whichever worker wakes first accept a whole burst of
    connections: 24 opened at once all went to one worker.)
  - serves its metrics on an ephemeral port of 127.0.0.1, which the
    supervisor scrapes to answer its own C{/metrics} (each sample labelled
    with the worker's index);
  - tells the supervisor it is ready (one JSON line on L{CONTROL_FD}) and
    stops gracefully when the supervisor's end of L{LIFELINE_FD} closes,
    which happens when the supervisor dies, however it dies.

The store is opened shared (L{resonate.interfaces.ISharedStoreProvider}):
what keeps the workers correct together (one firing per schedule slot,
one lock holder, one delivery per message) is the database's own
transactions, exactly as for several servers sharing PostgreSQL.

The supervisor restarts a worker that dies (after a back-off that grows
while it keeps dying), forwards SIGTERM (through its own graceful stop) and
tells systemd C{READY=1} once every worker has said it is ready.
"""

import errno
import json
import os
import signal
import socket
import sys

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from twisted.application.service import Service
from twisted.internet import main
from twisted.internet.defer import Deferred, DeferredList, fail, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReadDescriptor
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.web import server
from twisted.web.client import Agent, HTTPConnectionPool, readBody
from twisted.web.client import _HTTP11ClientFactory
from twisted.web.resource import Resource
from zope.interface import implementer

from resonate.config import splitAddress

#: Set (to a JSON object) in a worker's environment: it is a worker, not a
#: supervisor, whatever C{api.workers} says.
WORKER_ENVIRONMENT = "RESONATE_WORKER"

#: A worker writes its JSON lines to the supervisor here.
CONTROL_FD = 3
#: A worker reads here; end of file means the supervisor is gone.
LIFELINE_FD = 4

#: The shortest and longest waits before a dead worker is started again.
RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 30.0


def reservePort(address):
    """
    Reserve a configured C{host:port} for workers that will bind it with
    C{SO_REUSEPORT}: bound (so port 0 becomes a real port, and the port
    stays ours while workers come and go), never listening (so the kernel
    never hands it a connection).

    @return: C{(sock, "host:port")}: the socket to keep open, and the
        address the workers bind.
    @raise OSError: it cannot be bound.
    """
    host, port = splitAddress(address)
    family = socket.AF_INET6 if ":" in (host or "") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host or "0.0.0.0", port))
        if port and _answers(family, host, port):
            # Another server of this user, listening with SO_REUSEPORT
            # too: the workers would silently share its port.
            raise OSError(errno.EADDRINUSE, "Address already in use")
    except BaseException:
        sock.close()
        raise
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in (host or "") else host
    return sock, f"{shown}:{bound}"


def _answers(family, host, port):
    """
    Whether something already accepts connections on C{host:port} (on
    loopback for every interface).
    """
    if not host:
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    probe = socket.socket(family, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        return probe.connect_ex((host, port)) == 0
    except OSError:
        return False
    finally:
        probe.close()


class WorkerSetup:
    """
    What a worker is told by its supervisor, read from its environment.

    @ivar index: the worker's number, from 0.
    @ivar http: the C{host:port} to bind HTTP on (with C{SO_REUSEPORT}).
    @ivar grpc: the C{host:port} to bind gRPC on (with C{SO_REUSEPORT}).
    """

    def __init__(self, index, http, grpc):
        self.index = index
        self.http = http
        self.grpc = grpc

    @classmethod
    def fromEnvironment(cls, environ):
        """
        The setup in C{environ}, or L{None} when this process is not a
        worker.
        """
        text = environ.get(WORKER_ENVIRONMENT)
        if not text:
            return None
        found = json.loads(text)
        return cls(found["index"], found["http"], found["grpc"])

    def toEnvironment(self):
        """
        The value of L{WORKER_ENVIRONMENT} that L{fromEnvironment} reads.
        """
        return json.dumps(
            {"index": self.index, "http": self.http, "grpc": self.grpc}
        )


class ReusePortEndpoint:
    """
    An C{IStreamServerEndpoint} that listens on C{host:port} with
    C{SO_REUSEPORT}, beside the other workers' sockets on the same port.
    """

    def __init__(self, reactor, address, backlog=1024):
        """
        @param address: C{host:port}, as L{reservePort} gave it.
        """
        self._reactor = reactor
        self._address = address
        self._backlog = backlog

    def listen(self, factory):
        """
        Bind, listen and serve C{factory}; the reactor keeps its own copy
        of the descriptor.

        @return: a C{Deferred} firing with the C{IListeningPort}, or
            failing with C{CannotListenError}.
        """
        host, port = splitAddress(self._address)
        family = socket.AF_INET6 if ":" in (host or "") else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host or "0.0.0.0", port))
            sock.listen(self._backlog)
            sock.setblocking(False)
            listening = self._reactor.adoptStreamPort(
                sock.fileno(), family, factory
            )
        except OSError as e:
            return fail(CannotListenError(host, port, e))
        finally:
            sock.close()
        return succeed(listening)


class WorkerNotifier:
    """
    A worker's side of the control channel: in place of systemd's notifier
    (L{resonate.services.notify.SystemdNotifier}) in the worker's
    L{resonate.services.server.ResonateService}.
    """

    _log = Logger()

    def __init__(self, metricsListener, reactor, fd=CONTROL_FD):
        """
        @param metricsListener: the worker's metrics
            L{resonate.services.listen.ListeningService}, whose address the
            supervisor scrapes.
        @param reactor: the worker's reactor.
        """
        self._metrics = metricsListener
        self._reactor = reactor
        self._fd = fd

    def ready(self, status=None):
        """
        Say the worker is ready, and where its metrics are, once its
        reactor runs: C{twist} starts the service (and the listeners
        listen) before the reactor installs its signal handlers, and a
        SIGTERM the supervisor forwards in between would end the worker
        at once instead of gracefully.
        """
        self._reactor.callWhenRunning(self._tell)

    def _tell(self):
        address = self._metrics.port.getHost()
        line = json.dumps(
            {"ready": True, "metrics": f"{address.host}:{address.port}"}
        )
        try:
            os.write(self._fd, line.encode("utf-8") + b"\n")
        except OSError as e:
            self._log.warn("cannot tell the supervisor: {error}", error=e)
            return False
        return True

    def stopping(self):
        """
        Nothing to say: the supervisor asked, or is gone.
        """
        return False


@implementer(IReadDescriptor)
class Lifeline:
    """
    Reads the worker's end of the lifeline; at its end of file (the
    supervisor closed it, or died) calls C{onClosed} once.
    """

    def __init__(self, reactor, onClosed, fd=LIFELINE_FD):
        self._reactor = reactor
        self._onClosed = onClosed
        self._fd = fd
        os.set_blocking(fd, False)

    def start(self):
        self._reactor.addReader(self)

    def fileno(self):
        return self._fd

    def logPrefix(self):
        return "lifeline"

    def doRead(self):
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return None
        except OSError:
            return main.CONNECTION_LOST
        if not data:
            return main.CONNECTION_DONE
        return None

    def connectionLost(self, reason):
        onClosed, self._onClosed = self._onClosed, None
        if onClosed is not None:
            onClosed()


class _WorkerProtocol(ProcessProtocol):
    """
    The supervisor's side of one worker process.
    """

    def __init__(self, supervisor, index):
        self._supervisor = supervisor
        self.index = index
        self.ready = False
        self.metrics = None
        self.ended = Deferred()
        self._buffer = b""

    def childDataReceived(self, fd, data):
        if fd != CONTROL_FD:
            return
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("ready"):
                self.ready = True
                self.metrics = message.get("metrics")
                self._supervisor.workerReady(self)

    def processEnded(self, reason):
        self._supervisor.workerEnded(self, reason.value)
        self.ended.callback(None)


def _exitDescription(reason):
    """
    How a worker ended, for the log.
    """
    status = getattr(reason, "status", None)
    signalNumber = getattr(reason, "signal", None)
    if signalNumber:
        try:
            return f"killed by {signal.Signals(signalNumber).name}"
        except ValueError:
            return f"killed by signal {signalNumber}"
    exitCode = getattr(reason, "exitCode", None)
    if exitCode is not None:
        return f"exited with status {exitCode}"
    return f"ended ({status})"


class Supervisor(Service):
    """
    Starts C{count} workers, restarts those that die, stops them all on
    stop, and says when all are ready.

    @ivar workers: index to the L{_WorkerProtocol} of the running worker.
    @ivar restarts: how many times a worker was started again.
    @ivar ready: fires once every worker has said it is ready (at startup).
    """

    _log = Logger()

    def __init__(
        self, count, command, environ, reactor, reserved, httpAddress,
        grpcAddress, store=None, notifier=None, grace=10.0, onFatal=None,
    ):
        """
        @param count: how many workers.
        @param command: the worker's argv (C{[python, -m, twisted, ...]}).
        @param environ: the environment to start them with (without
            C{NOTIFY_SOCKET}: only the supervisor talks to systemd).
        @param reserved: the sockets reserving the ports (L{reservePort}),
            closed once every worker has stopped.
        @param httpAddress: the C{host:port} workers bind HTTP on.
        @param grpcAddress: the C{host:port} workers bind gRPC on.
        @param store: the store opened once at startup, closed before the
            first worker starts (L{None}: nothing to close).
        @param notifier: told C{ready()} once every worker is ready, and
            C{stopping()} (a L{resonate.services.notify.SystemdNotifier}).
        @param grace: seconds workers have to stop before they are killed,
            on top of their own grace period.
        @param onFatal: called once if a worker dies before it was ever
            ready at startup (the server cannot run as configured).
        """
        self.setName("supervisor")
        self._count = count
        self._command = list(command)
        self._environ = {
            k: v for k, v in environ.items() if k != "NOTIFY_SOCKET"
        }
        self._reactor = reactor
        self._reserved = list(reserved)
        self._httpAddress = httpAddress
        self._grpcAddress = grpcAddress
        self._store = store
        self._notifier = notifier
        self._grace = grace
        self._onFatal = onFatal
        self._stopping = False
        self._startedAll = False
        self._failures = {}
        self._pendingRestarts = {}
        self.workers = {}
        self.restarts = 0
        self.ready = Deferred()

    def startService(self):
        """
        Close the store opened for the checks, then start every worker.
        """
        super().startService()
        closed = succeed(None) if self._store is None else self._store.close()
        closed.addCallback(lambda _: self._startAll())
        closed.addErrback(
            lambda failure: self._log.failure("cannot close the store", failure)
        )

    def _startAll(self):
        if self._stopping:
            return
        self._log.info(
            "starting {count} workers (api.workers)", count=self._count
        )
        for index in range(self._count):
            self._spawn(index)

    def _spawn(self, index):
        self._pendingRestarts.pop(index, None)
        if self._stopping:
            return
        protocol = _WorkerProtocol(self, index)
        environ = dict(self._environ)
        environ[WORKER_ENVIRONMENT] = WorkerSetup(
            index, self._httpAddress, self._grpcAddress
        ).toEnvironment()
        self._reactor.spawnProcess(
            protocol,
            self._command[0],
            self._command,
            env=environ,
            childFDs={
                0: 0,
                1: 1,
                2: 2,
                CONTROL_FD: "r",
                LIFELINE_FD: "w",
            },
        )
        self.workers[index] = protocol

    def workerReady(self, worker):
        """
        A worker said it is ready; once all have (at startup), say so.
        """
        self._failures.pop(worker.index, None)
        self._log.info(
            "worker {index} ready (pid {pid})",
            index=worker.index,
            pid=worker.transport.pid if worker.transport else None,
        )
        if self._startedAll or self._stopping:
            return
        if len(self.workers) == self._count and all(
            w.ready for w in self.workers.values()
        ):
            self._startedAll = True
            status = f"{self._count} workers ready"
            self._log.info("ready ({status})", status=status)
            if self._notifier is not None:
                self._notifier.ready(status)
            self.ready.callback(None)

    def workerEnded(self, worker, reason):
        """
        A worker ended: expected when stopping; otherwise start it again,
        unless it never got ready at startup (then the configuration or the
        machine is wrong, and the server stops).
        """
        if self.workers.get(worker.index) is worker:
            del self.workers[worker.index]
        if self._stopping:
            return
        how = _exitDescription(reason)
        if not self._startedAll and not worker.ready:
            self._log.critical(
                "worker {index} {how} before it was ready; stopping",
                index=worker.index,
                how=how,
            )
            if self._onFatal is not None:
                onFatal, self._onFatal = self._onFatal, None
                onFatal()
            return
        failures = self._failures.get(worker.index, 0)
        delay = min(MAX_RESTART_DELAY, RESTART_DELAY * 2**failures)
        self._failures[worker.index] = failures + 1
        self.restarts += 1
        self._log.warn(
            "worker {index} {how}; starting it again in {delay}s",
            index=worker.index,
            how=how,
            delay=delay,
        )
        self._pendingRestarts[worker.index] = self._reactor.callLater(
            delay, self._spawn, worker.index
        )

    def stopService(self):
        """
        Stop every worker gracefully (SIGTERM), killing those still running
        after their grace period, then release the listeners.
        """
        super().stopService()
        self._stopping = True
        if self._notifier is not None:
            self._notifier.stopping()
        for call in self._pendingRestarts.values():
            if call.active():
                call.cancel()
        self._pendingRestarts.clear()
        workers = list(self.workers.values())
        for worker in workers:
            self._signal(worker, "TERM")
        killer = self._reactor.callLater(
            self._grace, lambda: [self._signal(w, "KILL") for w in workers]
        )
        d = DeferredList([w.ended for w in workers])

        def done(_):
            if killer.active():
                killer.cancel()
            for sock in self._reserved:
                sock.close()
            self._log.info("stopped: every worker ended")

        return d.addCallback(done)

    def _signal(self, worker, name):
        transport = worker.transport
        if transport is None or transport.pid is None:
            return
        try:
            transport.signalProcess(name)
        except Exception:
            pass


def mergeWorkerMetrics(pages):
    """
    One exposition (text format 0.0.4) of several workers' metrics pages:
    each family's C{HELP} and C{TYPE} once, then its samples from every
    page, each labelled with its worker's index (C{worker="0"}).  Names
    are kept exactly as the workers wrote them: a parser would rename the
    counters (C{api_total_requests} to C{api_total_requests_total}), and
    the page of a server with workers would not match one without.

    @param pages: C{(index, text)} pairs.
    @return: the merged text.
    """
    order = []
    families = {}

    def family(name):
        if name not in families:
            families[name] = ([], [])
            order.append(name)
        return families[name]

    for index, text in pages:
        current = None
        label = f'worker="{index}"'
        for line in text.splitlines():
            if line.startswith("# HELP ") or line.startswith("# TYPE "):
                current = line.split(" ", 3)[2]
                header, _ = family(current)
                if line not in header:
                    header.append(line)
            elif line and not line.startswith("#"):
                name, brace, rest = line.partition("{")
                if brace:
                    sample = f"{name}{{{label},{rest}"
                else:
                    name, _, value = line.partition(" ")
                    sample = f"{name}{{{label}}} {value}"
                family(current if current is not None else name)[1].append(sample)
    lines = []
    for name in order:
        header, samples = families[name]
        lines.extend(header)
        lines.extend(samples)
    return "".join(line + "\n" for line in lines)


class _SupervisorCollector:
    """
    The supervisor's own metrics, read from it at every scrape.
    """

    def __init__(self, supervisor):
        self._supervisor = supervisor

    def collect(self):
        workers = self._supervisor.workers.values()
        yield GaugeMetricFamily(
            "resonate_workers", "worker processes running and ready",
            value=sum(1 for w in workers if w.ready),
        )
        yield CounterMetricFamily(
            "resonate_worker_restarts",
            "times a worker that died was started again",
            value=self._supervisor.restarts,
        )


class _QuietClientFactory(_HTTP11ClientFactory):
    noisy = False


class WorkersMetricsPage(Resource):
    """
    The supervisor's C{/metrics}: every ready worker's metrics, scraped
    now, labelled by worker, and the supervisor's own
    (C{resonate_workers}, C{resonate_worker_restarts_total}).  A worker
    that does not answer is left out of the page.
    """

    isLeaf = True
    _log = Logger()

    def __init__(self, supervisor, reactor, timeout=5.0):
        super().__init__()
        self._supervisor = supervisor
        pool = HTTPConnectionPool(reactor)
        # One log line per scrape and worker otherwise ("Starting factory").
        pool._factory = _QuietClientFactory
        self._agent = Agent(reactor, connectTimeout=timeout, pool=pool)
        self._registry = CollectorRegistry()
        self._registry.register(_SupervisorCollector(supervisor))

    def render_GET(self, request):
        workers = [
            w for w in self._supervisor.workers.values() if w.ready and w.metrics
        ]
        scrapes = [self._scrape(w) for w in workers]
        d = DeferredList(scrapes, consumeErrors=True)

        def write(results):
            pages = [
                (worker.index, text)
                for worker, (ok, text) in zip(workers, results)
                if ok and text is not None
            ]
            body = generate_latest(self._registry) + mergeWorkerMetrics(
                pages
            ).encode("utf-8")
            request.setHeader(
                b"content-type", b"text/plain; version=0.0.4; charset=utf-8"
            )
            request.write(body)
            request.finish()

        def failed(failure):
            self._log.failure("cannot gather the workers' metrics", failure)
            request.setResponseCode(500)
            request.finish()

        d.addCallback(write).addErrback(failed)
        return server.NOT_DONE_YET

    def _scrape(self, worker):
        url = f"http://{worker.metrics}/metrics".encode("ascii")
        d = self._agent.request(b"GET", url)
        d.addCallback(readBody)
        d.addCallback(lambda body: body.decode("utf-8"))

        def failed(failure):
            self._log.warn(
                "cannot scrape worker {index}: {error}",
                index=worker.index,
                error=failure.getErrorMessage(),
            )
            return None

        return d.addErrback(failed)


class WorkersMetricsSite(server.Site):
    """
    The supervisor's metrics server: C{/metrics}, nothing logged per scrape.
    """

    noisy = False

    def __init__(self, supervisor, reactor, **kwargs):
        root = Resource()
        root.putChild(b"metrics", WorkersMetricsPage(supervisor, reactor))
        super().__init__(root, **kwargs)

    def log(self, request):
        pass


def workerCommand(argv=None, executable=None):
    """
    The command that starts a worker: this very C{twist} command line, run
    as C{python -m twisted} by this interpreter (the environment variable,
    not the arguments, makes it a worker).
    """
    argv = sys.argv if argv is None else argv
    executable = sys.executable if executable is None else executable
    return [executable, "-m", "twisted", *argv[1:]]
