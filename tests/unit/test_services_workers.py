"""
Tests for L{resonate.services.workers}: the supervisor of C{api.workers}
processes, with a fake process reactor; the real processes are in
L{tests.processes.test_workers_processes}.
"""

import json
import os
import socket

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import main
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial import unittest

from resonate.services.workers import (
    CONTROL_FD,
    LIFELINE_FD,
    WORKER_ENVIRONMENT,
    Lifeline,
    ReusePortEndpoint,
    Supervisor,
    WorkerNotifier,
    WorkerSetup,
    mergeWorkerMetrics,
    reservePort,
    workerCommand,
)


class _FakeTransport:
    def __init__(self, pid):
        self.pid = pid
        self.signals = []

    def signalProcess(self, name):
        self.signals.append(name)


class _ProcessReactor(MemoryReactorClock):
    """
    A memory reactor that records C{spawnProcess} calls.
    """

    def __init__(self):
        super().__init__()
        self.spawned = []

    def spawnProcess(self, protocol, executable, args, env=None, path=None,
                     uid=None, gid=None, usePTY=0, childFDs=None):
        transport = _FakeTransport(1000 + len(self.spawned))
        protocol.makeConnection(transport)
        self.spawned.append((protocol, executable, args, env, childFDs))
        return transport


class _Notifier:
    def __init__(self):
        self.readies = []
        self.stoppings = 0

    def ready(self, status=None):
        self.readies.append(status)

    def stopping(self):
        self.stoppings += 1


class _Socket:
    def __init__(self, fd):
        self._fd = fd
        self.closed = False

    def fileno(self):
        return self._fd

    def close(self):
        self.closed = True


def _ready(protocol, metrics="127.0.0.1:1234"):
    line = json.dumps({"ready": True, "metrics": metrics}).encode() + b"\n"
    # In two pieces: the pipe may split a line.
    protocol.childDataReceived(CONTROL_FD, line[:5])
    protocol.childDataReceived(CONTROL_FD, line[5:])


def _end(protocol, exitCode=None, signal=None):
    if exitCode == 0:
        reason = Failure(ProcessDone(0))
    else:
        reason = Failure(ProcessTerminated(exitCode=exitCode, signal=signal))
    protocol.processEnded(reason)


class SupervisorTests(unittest.SynchronousTestCase):
    """
    Tests for L{Supervisor}.
    """

    def setUp(self):
        self.reactor = _ProcessReactor()
        self.notifier = _Notifier()
        self.fatal = []
        self.http = _Socket(7)
        self.grpc = _Socket(8)
        self.supervisor = Supervisor(
            2,
            ["/usr/bin/python3", "-m", "twisted", "resonate", "--api-workers", "2"],
            {"PATH": "/bin", "NOTIFY_SOCKET": "/run/notify"},
            self.reactor,
            [self.http, self.grpc],
            "127.0.0.1:8001",
            "127.0.0.1:50051",
            notifier=self.notifier,
            grace=20,
            onFatal=lambda: self.fatal.append(True),
        )
        self.supervisor.startService()

    def protocols(self):
        return [spawned[0] for spawned in self.reactor.spawned]

    def test_spawns(self):
        """
        Every worker is the same command with the worker variable (its
        index and the addresses to bind) and without C{NOTIFY_SOCKET}, and
        gets the control pipe and the lifeline at the agreed descriptors.
        """
        self.assertEqual(len(self.reactor.spawned), 2)
        for index, (_, executable, args, env, childFDs) in enumerate(
            self.reactor.spawned
        ):
            self.assertEqual(executable, "/usr/bin/python3")
            self.assertEqual(args[-2:], ["--api-workers", "2"])
            self.assertNotIn("NOTIFY_SOCKET", env)
            self.assertEqual(env["PATH"], "/bin")
            setup = WorkerSetup.fromEnvironment(env)
            self.assertEqual(
                (setup.index, setup.http, setup.grpc),
                (index, "127.0.0.1:8001", "127.0.0.1:50051"),
            )
            self.assertEqual(
                childFDs, {0: 0, 1: 1, 2: 2, CONTROL_FD: "r", LIFELINE_FD: "w"}
            )

    def test_readyOnceAllAre(self):
        """
        The notifier is told once, when the last worker says it is ready.
        """
        first, second = self.protocols()
        _ready(first)
        self.assertEqual(self.notifier.readies, [])
        self.assertNoResult(self.supervisor.ready)
        _ready(second, "127.0.0.1:999")
        self.assertEqual(self.notifier.readies, ["2 workers ready"])
        self.successResultOf(self.supervisor.ready)
        self.assertEqual(second.metrics, "127.0.0.1:999")

    def test_restart(self):
        """
        A ready worker that dies is started again after a delay, which
        doubles while it keeps dying before it gets ready, and returns to
        the shortest once it got ready again.
        """
        first, second = self.protocols()
        _ready(first)
        _ready(second)
        _end(first, signal=9)
        self.assertEqual(len(self.reactor.spawned), 2)
        self.assertEqual(self.supervisor.restarts, 1)
        self.reactor.advance(0.49)
        self.assertEqual(len(self.reactor.spawned), 2)
        self.reactor.advance(0.01)
        self.assertEqual(len(self.reactor.spawned), 3)
        again = self.reactor.spawned[-1][0]
        self.assertIs(self.supervisor.workers[0], again)
        _end(again, exitCode=1)
        self.reactor.advance(0.99)
        self.assertEqual(len(self.reactor.spawned), 3)
        self.reactor.advance(0.01)
        self.assertEqual(len(self.reactor.spawned), 4)
        latest = self.reactor.spawned[-1][0]
        _ready(latest)
        _end(latest, exitCode=1)
        self.reactor.advance(0.5)
        self.assertEqual(len(self.reactor.spawned), 5)
        self.assertEqual(self.supervisor.restarts, 3)
        self.assertEqual(self.fatal, [])
        # Ready once, at startup, not at every restart.
        self.assertEqual(len(self.notifier.readies), 1)

    def test_fatalBeforeReady(self):
        """
        A worker that dies before any worker set was ready at startup is
        not started again: the server cannot run as configured.
        """
        first, second = self.protocols()
        _ready(second)
        _end(first, exitCode=1)
        self.assertEqual(self.fatal, [True])
        self.reactor.advance(60)
        self.assertEqual(len(self.reactor.spawned), 2)
        self.assertEqual(self.notifier.readies, [])

    def test_stop(self):
        """
        Stopping sends SIGTERM to every worker, SIGKILL to those still
        running after the grace period, cancels pending restarts, and
        finishes (closing the listeners) once all have ended.
        """
        first, second = self.protocols()
        _ready(first)
        _ready(second)
        d = self.supervisor.stopService()
        self.assertEqual(self.notifier.stoppings, 1)
        self.assertEqual(first.transport.signals, ["TERM"])
        self.assertEqual(second.transport.signals, ["TERM"])
        _end(first, exitCode=0)
        self.assertNoResult(d)
        self.reactor.advance(20)
        self.assertEqual(second.transport.signals, ["TERM", "KILL"])
        _end(second, signal=9)
        self.successResultOf(d)
        self.assertTrue(self.http.closed)
        self.assertTrue(self.grpc.closed)
        self.assertEqual(len(self.reactor.spawned), 2)

    def test_stopCancelsRestart(self):
        """
        A worker waiting to be started again is not started once stopping.
        """
        first, second = self.protocols()
        _ready(first)
        _ready(second)
        _end(first, exitCode=1)
        d = self.supervisor.stopService()
        _end(second, exitCode=0)
        self.successResultOf(d)
        self.reactor.advance(60)
        self.assertEqual(len(self.reactor.spawned), 2)


class WorkerSetupTests(unittest.SynchronousTestCase):
    """
    Tests for L{WorkerSetup}.
    """

    def test_roundTrip(self):
        """
        What the supervisor puts in the environment, the worker reads.
        """
        setup = WorkerSetup(3, "0.0.0.0:8001", "[::1]:50051")
        read = WorkerSetup.fromEnvironment(
            {WORKER_ENVIRONMENT: setup.toEnvironment()}
        )
        self.assertEqual(
            (read.index, read.http, read.grpc), (3, "0.0.0.0:8001", "[::1]:50051")
        )

    def test_notAWorker(self):
        """
        Without the variable (or with it empty) the process is no worker.
        """
        self.assertIsNone(WorkerSetup.fromEnvironment({}))
        self.assertIsNone(WorkerSetup.fromEnvironment({WORKER_ENVIRONMENT: ""}))

    def test_command(self):
        """
        A worker runs this C{twist} command line under this interpreter.
        """
        self.assertEqual(
            workerCommand(["/venv/bin/twist", "--log-format=text", "resonate", "-c", "x"],
                          "/venv/bin/python"),
            ["/venv/bin/python", "-m", "twisted", "--log-format=text", "resonate",
             "-c", "x"],
        )


class SocketTests(unittest.SynchronousTestCase):
    """
    Tests for L{reservePort} and L{ReusePortEndpoint}.
    """

    def test_reservedPortIsShared(self):
        """
        A reserved port is a real port that another C{SO_REUSEPORT}
        socket may bind and listen on, and that a plain one may not.
        """
        reserved, address = reservePort("127.0.0.1:0")
        self.addCleanup(reserved.close)
        host, _, port = address.rpartition(":")
        self.assertEqual(host, "127.0.0.1")
        self.assertNotEqual(int(port), 0)
        shared = socket.socket()
        self.addCleanup(shared.close)
        shared.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        shared.bind(("127.0.0.1", int(port)))
        shared.listen(1)
        plain = socket.socket()
        self.addCleanup(plain.close)
        self.assertRaises(OSError, plain.bind, ("127.0.0.1", int(port)))

    def test_inUseBySharingServer(self):
        """
        A port another server listens on with C{SO_REUSEPORT} too is not
        reserved: the workers would silently share it.
        """
        other = socket.socket()
        self.addCleanup(other.close)
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        self.assertRaises(
            OSError, reservePort, f"127.0.0.1:{other.getsockname()[1]}"
        )

    def test_reusePortEndpoint(self):
        """
        Two workers' endpoints listen on one reserved port, and a client
        connects; the supervisor's reserving socket is not needed for it.
        """
        from twisted.internet import reactor as realReactor
        from twisted.internet.protocol import Factory, Protocol

        reserved, address = reservePort("127.0.0.1:0")
        self.addCleanup(reserved.close)
        ports = []
        for _ in range(2):
            d = ReusePortEndpoint(realReactor, address).listen(
                Factory.forProtocol(Protocol)
            )
            ports.append(self.successResultOf(d))
        for port in ports:
            self.addCleanup(port.stopListening)
            self.assertEqual(
                f"{port.getHost().host}:{port.getHost().port}", address
            )
        client = socket.create_connection(
            ("127.0.0.1", int(address.rpartition(":")[2])), timeout=5
        )
        client.close()

    def test_reusePortEndpointRefused(self):
        """
        A port a plain socket holds fails the endpoint with
        C{CannotListenError}.
        """
        from twisted.internet import reactor as realReactor
        from twisted.internet.error import CannotListenError
        from twisted.internet.protocol import Factory, Protocol

        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        d = ReusePortEndpoint(
            realReactor, f"127.0.0.1:{taken.getsockname()[1]}"
        ).listen(Factory.forProtocol(Protocol))
        self.failureResultOf(d, CannotListenError)


class _Listener:
    class port:
        @staticmethod
        def getHost():
            class Address:
                host, port = "127.0.0.1", 4242

            return Address


class WorkerNotifierTests(unittest.SynchronousTestCase):
    """
    Tests for L{WorkerNotifier}.
    """

    def test_readyOnceRunning(self):
        """
        The ready line, with the metrics address, is written only once the
        reactor runs (its signal handlers are installed by then).
        """
        read, write = os.pipe()
        self.addCleanup(os.close, read)
        self.addCleanup(os.close, write)
        reactor = MemoryReactorClock()
        notifier = WorkerNotifier(_Listener, reactor, fd=write)
        notifier.ready("listening")
        os.set_blocking(read, False)
        self.assertRaises(BlockingIOError, os.read, read, 100)
        self.assertFalse(notifier.stopping())
        reactor.run()
        line = os.read(read, 100)
        self.assertEqual(
            json.loads(line), {"ready": True, "metrics": "127.0.0.1:4242"}
        )
        self.assertTrue(line.endswith(b"\n"))


class LifelineTests(unittest.SynchronousTestCase):
    """
    Tests for L{Lifeline}.
    """

    def test_endOfFile(self):
        """
        The supervisor's end closing is the end of the lifeline; data
        before it is not.
        """
        read, write = os.pipe()
        self.addCleanup(os.close, read)
        reactor = MemoryReactorClock()
        closed = []
        lifeline = Lifeline(reactor, lambda: closed.append(True), fd=read)
        lifeline.start()
        self.assertIn(lifeline, reactor.getReaders())
        os.write(write, b"x")
        self.assertIsNone(lifeline.doRead())
        self.assertIsNone(lifeline.doRead())
        os.close(write)
        self.assertIs(lifeline.doRead(), main.CONNECTION_DONE)
        lifeline.connectionLost(Failure(main.CONNECTION_DONE))
        lifeline.connectionLost(Failure(main.CONNECTION_DONE))
        self.assertEqual(closed, [True])


class MergeTests(unittest.SynchronousTestCase):
    """
    Tests for L{mergeWorkerMetrics}.
    """

    def test_merge(self):
        """
        Families of several pages are merged by name (C{HELP} and C{TYPE}
        once), each sample labelled with its worker, names kept exactly as
        the workers wrote them (a counter without C{_total} keeps none),
        and the result parses.
        """
        page = (
            "# HELP api_total_requests Requests.\n"
            "# TYPE api_total_requests counter\n"
            'api_total_requests{code="200"} %d\n'
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            'latency_seconds_bucket{le="0.1"} %d\n'
            'latency_seconds_bucket{le="+Inf"} %d\n'
            "latency_seconds_count %d\n"
            "latency_seconds_sum 0.5\n"
        )
        text = mergeWorkerMetrics([(0, page % (3, 1, 2, 2)), (1, page % (5, 4, 4, 4))])
        lines = text.splitlines()
        self.assertEqual(lines.count("# TYPE api_total_requests counter"), 1)
        self.assertEqual(lines.count("# HELP api_total_requests Requests."), 1)
        self.assertIn('api_total_requests{worker="0",code="200"} 3', lines)
        self.assertIn('api_total_requests{worker="1",code="200"} 5', lines)
        self.assertIn('latency_seconds_count{worker="1"} 4', lines)
        self.assertNotIn("api_total_requests_total", text)
        # Each family's samples follow its own header.
        self.assertLess(
            lines.index('api_total_requests{worker="1",code="200"} 5'),
            lines.index("# HELP latency_seconds Latency."),
        )
        families = {f.name: f for f in text_string_to_metric_families(text)}
        latency = families["latency_seconds"]
        self.assertEqual(latency.type, "histogram")
        counts = {
            s.labels["worker"]: s.value
            for s in latency.samples if s.name == "latency_seconds_count"
        }
        self.assertEqual(counts, {"0": 2.0, "1": 4.0})
