# -*- test-case-name: tests.processes.test_systemd -*-
"""
Tests for running under systemd: C{sd_notify} readiness
(L{resonate.services.notify}, L{resonate.services.server.ResonateService})
with real datagram sockets and a real C{twist resonate} process, and the
shipped unit file C{systemd/resonate.service}, checked with
C{systemd-analyze verify} when it is installed.
"""

import os
import re
import shutil
import socket
import sys
import tempfile
import uuid

from twisted.application.service import Service
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import DatagramProtocol, Protocol
from twisted.logger import globalLogPublisher
from twisted.python.filepath import FilePath
from twisted.trial import unittest

from resonate.api.operations import Operations
from resonate.config import KEYS_BY_PATH, parseDuration
from resonate.services.listen import ListeningService, endpointForAddress
from resonate.services.notify import SystemdNotifier
from resonate.services.server import ResonateService
from resonate.store.memory import MemoryStore
from tests.support.processtools import HTTPClient, runProcess, spawnResonate, stopResonate

ROOT = FilePath(__file__).parent().parent().parent()
UNIT = ROOT.child("systemd").child("resonate.service")
README = ROOT.child("README.md")

#: The twist the unit file runs, as installed by the README's steps.
INSTALLED_TWIST = "/opt/resonate/.venv/bin/twist"

#: How long a test waits for a datagram, in seconds.
RECEIVE_TIMEOUT = 60.0


def shortTempDir(testCase):
    """
    A new directory under the system's temporary directory (socket paths
    must stay under about 100 bytes), removed when the test ends.
    """
    path = tempfile.mkdtemp(prefix="resonate-sd-")
    testCase.addCleanup(shutil.rmtree, path, True)
    return path


class BoundSocket:
    """
    A real C{AF_UNIX} datagram socket bound by the test, read without
    blocking.
    """

    def __init__(self, testCase, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        testCase.addCleanup(self.sock.close)
        self.sock.bind(address)
        self.sock.setblocking(False)

    def received(self):
        """
        Every datagram waiting, in order.
        """
        messages = []
        while True:
            try:
                messages.append(self.sock.recv(4096))
            except BlockingIOError:
                return messages


class SystemdNotifierTests(unittest.SynchronousTestCase):
    """
    Tests for L{SystemdNotifier}: one datagram to C{NOTIFY_SOCKET}.
    """

    def test_noSocket(self):
        """
        Without C{NOTIFY_SOCKET} (or with it empty), nothing is sent.
        """
        self.assertFalse(SystemdNotifier({}).ready())
        self.assertFalse(SystemdNotifier({"NOTIFY_SOCKET": ""}).stopping())
        self.assertIsNone(SystemdNotifier({}).address)

    def test_path(self):
        """
        With a path, C{READY=1} and an optional C{STATUS=} line arrive in one
        datagram, and C{STOPPING=1} in another.
        """
        path = os.path.join(shortTempDir(self), "notify")
        bound = BoundSocket(self, path)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
        self.assertTrue(notifier.ready("listening: http 127.0.0.1:8001"))
        self.assertTrue(notifier.ready())
        self.assertTrue(notifier.stopping())
        self.assertEqual(
            bound.received(),
            [
                b"READY=1\nSTATUS=listening: http 127.0.0.1:8001",
                b"READY=1",
                b"STOPPING=1\nSTATUS=stopping",
            ],
        )

    def test_abstract(self):
        """
        A name starting with C{@} is in the abstract namespace: the C{@}
        stands for a NUL byte.
        """
        name = f"resonate-test-{uuid.uuid4().hex}"
        bound = BoundSocket(self, "\0" + name)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
        self.assertEqual(notifier.address, "\0" + name)
        self.assertTrue(notifier.ready())
        self.assertEqual(bound.received(), [b"READY=1"])

    def test_nobodyListening(self):
        """
        A socket nobody listens on is logged as a warning, never raised:
        the server runs the same without a service manager.
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        missing = os.path.join(shortTempDir(self), "missing")
        self.assertFalse(SystemdNotifier({"NOTIFY_SOCKET": missing}).ready())
        self.assertEqual(
            [e["log_format"] for e in events if e.get("address") == missing],
            ["cannot notify systemd at {address!r}: {error}"],
        )


class LateListener(Service):
    """
    A listener that binds after C{startService}, when the test says so (as
    one whose endpoint resolves a name would).
    """

    name = "late"

    def __init__(self):
        self._waiting = []

    def whenListening(self):
        d = Deferred()
        self._waiting.append(d)
        return d

    def listened(self, result):
        """
        Fire every waiter with C{result} (a port, or a failure).
        """
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            if isinstance(result, Exception):
                d.errback(result)
            else:
                d.callback(result)


class ResonateServiceReadyTests(unittest.TestCase):
    """
    L{ResonateService} says C{READY=1} once every listener listens, and
    C{STOPPING=1} when it begins to stop.
    """

    def setUp(self):
        path = os.path.join(shortTempDir(self), "notify")
        self.bound = BoundSocket(self, path)
        self.notifier = SystemdNotifier({"NOTIFY_SOCKET": path})

    def makeService(self, *extra):
        store = MemoryStore()
        self.http = ListeningService(
            "http", endpointForAddress(reactor, "127.0.0.1:0"), _NoFactory()
        )
        service = ResonateService(
            store,
            Operations(store, reactor, 10),
            listeners=[self.http, *extra],
            loops=[],
            grace=1.0,
            clock=reactor,
            notifier=self.notifier,
        )
        return service

    async def test_afterEveryListener(self):
        """
        With one listener bound and another not yet, nothing is sent; once
        the second listens, C{READY=1} is sent once, naming the bound
        addresses.
        """
        late = LateListener()
        service = self.makeService(late)
        service.startService()
        self.addCleanup(service.stopService)
        self.assertIsNotNone(self.http.port)
        self.assertEqual(self.bound.received(), [])
        late.listened(None)
        await service.ready
        port = self.http.port.getHost().port
        self.assertEqual(
            self.bound.received(),
            [f"READY=1\nSTATUS=listening: http 127.0.0.1:{port}".encode()],
        )

    async def test_listenerFails(self):
        """
        If a listener fails to listen, C{READY=1} is never sent.
        """
        late = LateListener()
        service = self.makeService(late)
        service.startService()
        self.addCleanup(service.stopService)
        late.listened(OSError("address in use"))
        await service.ready
        self.assertEqual(self.bound.received(), [])

    async def test_stopping(self):
        """
        Stopping sends C{STOPPING=1} before anything else stops.
        """
        service = self.makeService()
        service.startService()
        await service.ready
        self.bound.received()
        stopped = service.stopService()
        self.assertEqual(self.bound.received(), [b"STOPPING=1\nSTATUS=stopping"])
        await stopped


class _NoFactory:
    """
    A factory that is never asked for a protocol (no test connects).
    """

    def doStart(self):
        pass

    def doStop(self):
        pass


class Datagrams(DatagramProtocol):
    """
    Datagrams received on a UNIX socket the reactor reads, and waiting for
    one that matches.
    """

    def __init__(self):
        self.messages = []
        self._waiting = []

    def datagramReceived(self, data, address=None):
        self.messages.append(data)
        waiting, self._waiting = self._waiting, []
        for pattern, d in waiting:
            if d.called:
                continue
            match = re.search(pattern, data)
            if match is None:
                self._waiting.append((pattern, d))
            else:
                d.callback(match)

    def waitFor(self, pattern, timeout=RECEIVE_TIMEOUT):
        """
        A C{Deferred} firing with the match of the first datagram (already
        received or to come) that matches C{pattern} (C{bytes} regex).
        """
        for data in self.messages:
            match = re.search(pattern, data)
            if match is not None:
                d = Deferred()
                d.callback(match)
                return d
        d = Deferred()
        self._waiting.append((pattern, d))
        timer = reactor.callLater(
            timeout,
            lambda: d.called
            or d.errback(
                AssertionError(f"no {pattern!r} within {timeout}s: {self.messages}")
            ),
        )
        return d.addBoth(lambda result: timer.active() and timer.cancel() or result)


class NotifyProcessTests(unittest.TestCase):
    """
    A real C{twist resonate} under a real C{NOTIFY_SOCKET}.
    """

    async def test_readyThenStopping(self):
        """
        C{READY=1} arrives once every port accepts connections: the HTTP
        port it names (bound to port 0, so known only once bound) takes a
        connection at once, and the gRPC and metrics ports are named too.  On SIGTERM, C{STOPPING=1} arrives and the
        process ends cleanly.
        """
        path = os.path.join(shortTempDir(self), "notify")
        datagrams = Datagrams()
        listening = reactor.listenUNIXDatagram(path, datagrams)
        self.addCleanup(listening.stopListening)
        server = spawnResonate(
            self,
            "--api-http-addr", "127.0.0.1:0",
            "--aio-store", "memory",
            env={"NOTIFY_SOCKET": path},
        )
        match = await datagrams.waitFor(
            rb"^READY=1\nSTATUS=listening: http 127\.0\.0\.1:([0-9]+), "
            rb"grpc 127\.0\.0\.1:[1-9][0-9]*, metrics 0\.0\.0\.0:[1-9][0-9]*$"
        )
        port = int(match.group(1))
        self.assertNotEqual(port, 0)
        connection = await connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", port), Protocol()
        )
        connection.transport.loseConnection()
        health = await HTTPClient(f"http://127.0.0.1:{port}").request(
            "GET", "/healthz"
        )
        self.assertEqual(health.code, 200)
        await server.listening()
        self.assertEqual(server.port, port)
        stopping = datagrams.waitFor(rb"^STOPPING=1")
        exit = await stopResonate(server)
        self.assertTrue(exit.stoppedByTERM, server.output)
        await stopping
        self.assertEqual(
            [m.split(b"\n")[0] for m in datagrams.messages],
            [b"READY=1", b"STOPPING=1"],
        )

    async def test_noReadyWhenListeningFails(self):
        """
        A server that cannot bind its port exits without saying
        C{READY=1}.
        """
        path = os.path.join(shortTempDir(self), "notify")
        datagrams = Datagrams()
        listening = reactor.listenUNIXDatagram(path, datagrams)
        self.addCleanup(listening.stopListening)
        taken = reactor.listenTCP(0, _Refuse(), interface="127.0.0.1")
        self.addCleanup(taken.stopListening)
        server = spawnResonate(
            self,
            "--api-http-addr", f"127.0.0.1:{taken.getHost().port}",
            "--aio-store", "memory",
            env={"NOTIFY_SOCKET": path},
        )
        exit = await server.waitForEnd()
        self.assertEqual(exit.code, 1, server.output)
        self.assertNotIn(
            b"READY=1", [m.split(b"\n")[0] for m in datagrams.messages]
        )


class _Refuse:
    """
    A factory for a port the test holds only so that it is taken.
    """

    def doStart(self):
        pass

    def doStop(self):
        pass

    def buildProtocol(self, addr):
        return None


def unitLines():
    """
    The C{Key=value} lines of the unit file, as C{(key, value)} pairs in
    order (keys may repeat).
    """
    pairs = []
    for line in UNIT.getContent().decode("utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        pairs.append((key.strip(), value.strip()))
    return pairs


def unitValue(key):
    """
    The last value of C{key} in the unit file, or L{None}.
    """
    values = [value for k, value in unitLines() if k == key]
    return values[-1] if values else None


class UnitFileTests(unittest.TestCase):
    """
    Tests for the shipped C{systemd/resonate.service}.
    """

    def test_service(self):
        """
        The unit is C{Type=notify}, runs C{twist resonate} from the
        documented virtualenv with the documented configuration file, as a
        dedicated user, in its state directory, restarting on failure.
        """
        self.assertEqual(unitValue("Type"), "notify")
        self.assertEqual(
            unitValue("ExecStart"),
            f"{INSTALLED_TWIST} --log-format=text resonate "
            "--config /etc/resonate/resonate.yml",
        )
        self.assertEqual(unitValue("User"), "resonate")
        self.assertEqual(unitValue("StateDirectory"), "resonate")
        self.assertEqual(unitValue("WorkingDirectory"), "/var/lib/resonate")
        self.assertEqual(unitValue("Restart"), "on-failure")
        self.assertEqual(unitValue("KillSignal"), "SIGTERM")
        self.assertEqual(unitValue("SuccessExitStatus"), "143")
        for key, value in [
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
            ("NoNewPrivileges", "yes"),
        ]:
            self.assertEqual(unitValue(key), value, key)
        self.assertIn("AF_UNIX", unitValue("RestrictAddressFamilies"))
        self.assertIn("AF_INET", unitValue("RestrictAddressFamilies"))

    def test_stopTimeout(self):
        """
        systemd waits longer for a stop than the server's default grace
        period for requests in flight.
        """
        grace = parseDuration(KEYS_BY_PATH["api.subsystems.http.timeout"].default)
        stop = unitValue("TimeoutStopSec")
        self.assertGreater(parseDuration(stop if stop[-1].isalpha() else stop + "s"), grace + 5)

    def test_readme(self):
        """
        The README's systemd section uses the unit's paths.
        """
        readme = README.getContent().decode("utf-8")
        self.assertIn("## Running under systemd", readme)
        section = readme.split("## Running under systemd", 1)[1].split("\n## ", 1)[0]
        for text in [
            "/opt/resonate/.venv",
            "/etc/resonate/resonate.yml",
            "/var/lib/resonate",
            "systemctl enable --now resonate",
            "useradd",
        ]:
            self.assertIn(text, section)

    async def verify(self, text):
        """
        Run C{systemd-analyze verify} on a copy of the unit holding
        C{text}, named C{resonate.service}.

        @return: the ended process.
        """
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            raise unittest.SkipTest("systemd-analyze is not installed")
        directory = shortTempDir(self)
        path = os.path.join(directory, "resonate.service")
        with open(path, "w") as f:
            f.write(text)
        return await runProcess(
            self, [analyze, "verify", "--man=no", path], timeout=60.0
        )

    def runnableUnit(self):
        """
        The unit's text with its one C{ExecStart} binary replaced by a
        C{twist} that exists here (C{verify} checks that it does); nothing
        else changes.
        """
        twist = os.path.join(os.path.dirname(sys.executable), "twist")
        if not os.access(twist, os.X_OK):
            twist = shutil.which("twist")
        if twist is None:
            raise unittest.SkipTest("no twist executable to point ExecStart at")
        text = UNIT.getContent().decode("utf-8")
        self.assertEqual(text.count(f"ExecStart={INSTALLED_TWIST} "), 1)
        return text.replace(f"ExecStart={INSTALLED_TWIST} ", f"ExecStart={twist} ")

    async def test_verify(self):
        """
        C{systemd-analyze verify} has nothing to say about the unit: it
        exits 0 and prints nothing at all (it exits 0 even for unknown
        keys, so any output fails this test).  The copy it checks differs
        only in where C{twist} is, since C{/opt/resonate} is not installed
        here.
        """
        process = await self.verify(self.runnableUnit())
        self.assertEqual((process.exit.code, process.output), (0, ""))

    async def test_verifyFindsMistakes(self):
        """
        The check above can fail: a misspelt directive makes
        C{systemd-analyze verify} print a warning naming it.
        """
        text = self.runnableUnit().replace("ProtectHome=yes", "ProtectHom=yes")
        process = await self.verify(text)
        self.assertIn("ProtectHom", process.output)
