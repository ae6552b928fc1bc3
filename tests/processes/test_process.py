# -*- test-case-name: tests.processes.test_process -*-
"""
C{twist resonate} as a real process: what is acknowledged survives
C{kill -9}, SIGTERM stops it without losing or cutting off a request, and
startup fails with one clear line on bad configuration, a taken port or an
unknown store; a third-party store dropin on C{sys.path} is found and used.
"""

import base64
import itertools
import json
import os
import signal

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList, ensureDeferred, gatherResults
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectError
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.trial import unittest
from twisted.web._newclient import RequestTransmissionFailed, ResponseNeverReceived
from twisted.web.client import HTTPConnectionPool

from resonate.config import KEYS
from tests.support.processtools import (
    HTTPClient,
    ProcessExit,
    runResonate,
    sqliteFlags,
    startResonate,
)

#: A promise timeout far in the future: 2100-01-01.
FAR = 4102444800000


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


#: The param of each create in L{GracefulStopTests.test_sigtermDrains}.
_PARAM = base64.b64encode(bytes(range(256)) * 4).decode("ascii")


class CrashTests(unittest.TestCase):
    """
    C{kill -9} loses nothing that was acknowledged.
    """

    async def test_killAfterAcknowledgement(self):
        """
        Every promise acknowledged with 201 survives SIGKILL and a restart.
        """
        database = self.mktemp() + ".db"
        server = await startResonate(self, *sqliteFlags(database))
        client = HTTPClient(server.url)
        count = 20

        created = await gatherResults([
            ensureDeferred(client.create(
                f"kill9/{i}", FAR, ikey=f"create-{i}",
                param={"headers": {"n": str(i)}, "data": _b64(f"param {i}")},
                tags={"test": "kill9"},
            ))
            for i in range(count)
        ])
        self.assertEqual([r.code for r in created], [201] * count, created)
        acknowledged = {r.body["id"]: r.body for r in created}

        states = {0: "RESOLVED", 1: "REJECTED", 2: None}
        completed = await gatherResults([
            ensureDeferred(client.complete(
                f"kill9/{i}", states[i % 3], ikey=f"complete-{i}",
                value={"data": _b64(f"value {i}")},
            ))
            for i in range(count) if states[i % 3] is not None
        ])
        self.assertEqual(
            [r.code for r in completed], [201] * len(completed), completed
        )
        acknowledged.update((r.body["id"], r.body) for r in completed)

        # At once, in the same reactor turn as the last acknowledgement.
        server.signal("KILL")
        ended = await server.waitForEnd()
        self.assertEqual(ended, ProcessExit(None, signal.SIGKILL))

        restarted = await startResonate(self, *sqliteFlags(database))
        client = HTTPClient(restarted.url)
        for promiseId, body in sorted(acknowledged.items()):
            read = await client.read(promiseId)
            self.assertEqual((read.code, read.body), (200, body))
        search = await client.request("GET", "/promises?id=kill9/*&limit=100")
        self.assertEqual(
            sorted(p["id"] for p in search.body["promises"]), sorted(acknowledged)
        )


class GracefulStopTests(unittest.TestCase):
    """
    SIGTERM stops the server without losing or cutting off a request.
    """

    #: Concurrent clients, each sending one create after another.
    clients = 32

    #: Creates acknowledged before SIGTERM is sent.
    beforeTerm = 200

    async def _create(self, pool, url, promiseId):
        """
        Send one create and say how it went.

        @return: C{(outcome, detail)}: C{"created"} with the body,
            C{"shuttingDown"} (503, 5030), C{"refused"} (the connection was
            refused), C{"noResponse"} (the connection closed before any
            answer: the port closed with it in the accept queue, or the
            server dropped it), or C{"broken"} with what went wrong.
        """
        try:
            response = await treq.post(
                url + "/promises",
                data=json.dumps({
                    "id": promiseId, "timeout": FAR, "param": {"data": _PARAM},
                }).encode(),
                headers={"idempotency-key": promiseId},
                pool=pool,
            )
        except ConnectError:
            return "refused", None
        except (ResponseNeverReceived, RequestTransmissionFailed):
            return "noResponse", None
        except Exception as e:
            return "broken", repr(e)
        try:
            raw = await treq.content(response)
        except Exception as e:
            return "broken", f"{response.code} with its body cut off: {e!r}"
        try:
            body = json.loads(raw)
        except ValueError:
            return "broken", f"{response.code} {raw!r}"
        if response.code == 201:
            return "created", body
        if response.code == 503 and body.get("error", {}).get("code") == 5030:
            return "shuttingDown", None
        return "broken", f"{response.code} {raw!r}"

    async def test_sigtermDrains(self):
        """
        SIGTERM amid concurrent creates keeps every 201 and cuts off none.
        """
        database = self.mktemp() + ".db"
        server = await startResonate(self, *sqliteFlags(database))
        pool = HTTPConnectionPool(reactor, persistent=False)
        outcomes = {}
        created = [0]
        enough = Deferred()

        async def sendCreates(client):
            for i in itertools.count():
                promiseId = f"term/{client}/{i}"
                outcome, detail = await self._create(pool, server.url, promiseId)
                outcomes[promiseId] = (outcome, detail)
                if outcome != "created":
                    if not enough.called:
                        enough.callback(None)
                    return
                created[0] += 1
                if created[0] >= self.beforeTerm and not enough.called:
                    enough.callback(None)

        sending = DeferredList(
            [ensureDeferred(sendCreates(c)) for c in range(self.clients)],
            fireOnOneErrback=True,
            consumeErrors=True,
        )
        # Each client has a create in flight when SIGTERM goes out.
        await enough
        before = [
            (promiseId, outcome, detail)
            for promiseId, (outcome, detail) in outcomes.items()
            if outcome != "created"
        ]
        self.assertEqual(before, [], "requests failed before SIGTERM")

        termSent = reactor.seconds()
        server.signal("TERM")
        ended = await server.waitForEnd()
        stoppedAfter = reactor.seconds() - termSent
        await sending

        byOutcome = {}
        for promiseId, (outcome, detail) in outcomes.items():
            byOutcome.setdefault(outcome, []).append((promiseId, detail))
        self.assertEqual(
            byOutcome.get("broken", []), [], "answers cut off or wrong"
        )
        self.assertGreaterEqual(len(byOutcome["created"]), self.beforeTerm)

        self.assertTrue(ended.stoppedByTERM, f"{ended}\n{server.output}")
        self.assertLess(stoppedAfter, 8, server.output)
        self.assertIn("stopped: store closed", server.output)
        self.assertNotIn("Traceback", server.output)
        self.assertNotIn("still in flight", server.output)

        # Every 201 was kept.  Every other create was refused, so it must
        # not be there: one that is was carried out and its answer lost.
        restarted = await startResonate(self, *sqliteFlags(database))
        client = HTTPClient(restarted.url)
        for promiseId, body in byOutcome["created"]:
            read = await client.read(promiseId)
            self.assertEqual((read.code, read.body), (200, body))
        for outcome in ("shuttingDown", "noResponse", "refused"):
            for promiseId, _ in byOutcome.get(outcome, []):
                read = await client.read(promiseId)
                self.assertEqual(
                    read.code, 404,
                    f"{promiseId} ({outcome}) was created, yet its client "
                    f"had no 201: {read}",
                )

    async def test_sigtermFinishesResponses(self):
        """
        SIGTERM lets a large answer to a slow client finish being sent.
        """
        data = base64.b64encode(os.urandom(6 * 1024 * 1024)).decode("ascii")
        server = await startResonate(
            self,
            *sqliteFlags(self.mktemp() + ".db"),
            "--api-http-timeout", "30s",
            "--api-http-max-body-size", str(16 * 1024 * 1024),
        )
        body = json.dumps({
            "id": "slow/1", "timeout": FAR, "param": {"data": data},
        }).encode("utf-8")
        # HTTP/1.0: the answer is the rest of the stream, not chunked.
        reader = _SlowReader(
            b"POST /promises HTTP/1.0\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", server.port), reader
        )
        self.addCleanup(reader.transport.abortConnection)

        # The client reads nothing yet, so most of the ~8 MB answer waits
        # in the server.  Wait until the promise is committed (nothing to
        # await but the database itself), then stop the server.
        client = HTTPClient(server.url)
        for _ in range(500):
            if (await client.read("slow/1")).code == 200:
                break
            await deferLater(reactor, 0.02)
        else:
            self.fail(f"slow/1 was never created; output:\n{server.output}")
        server.signal("TERM")
        termSent = reactor.seconds()

        # The slow client starts reading 2s later, or as soon as the
        # process ends (which it must not do before the answer is out).
        slowness = Deferred()
        timer = reactor.callLater(2, slowness.callback, None)
        endedAt = []

        def processEnded(_):
            endedAt.append(reactor.seconds())
            if not slowness.called:
                slowness.callback(None)

        server.ended.addCallback(processEnded)
        await slowness
        if timer.active():
            timer.cancel()
        reader.transport.resumeProducing()
        raw = await reader.received
        exited = await server.waitForEnd()

        head, _, answer = raw.partition(b"\r\n\r\n")
        self.assertTrue(
            head.startswith(b"HTTP/1.0 201 "), head[:200]
        )
        try:
            answered = json.loads(answer)
        except ValueError:
            self.fail(
                f"the process ended ({exited}) "
                f"{endedAt[0] - termSent:.2f}s after SIGTERM, with a grace "
                f"period of 30s, and cut off the answer for slow/1: "
                f"{len(answer)} bytes of about {len(data) + 300} arrived; "
                f"log:\n{server.output}"
            )
        self.assertEqual(answered["param"]["data"], data)
        self.assertTrue(exited.stoppedByTERM, f"{exited}\n{server.output}")


class _SlowReader(Protocol):
    """
    A client that sends one request and reads nothing until told to.

    @ivar received: a C{Deferred} that fires with every byte received, once
        the server has closed the connection.
    """

    def __init__(self, request):
        self._request = request
        self._data = []
        self.received = Deferred()

    def connectionMade(self):
        self.transport.pauseProducing()
        self.transport.write(self._request)

    def dataReceived(self, data):
        self._data.append(data)

    def connectionLost(self, reason):
        self.received.callback(b"".join(self._data))


class StartupTests(unittest.TestCase):
    """
    What C{twist resonate} says and does at startup.
    """

    def _assertNoTraceback(self, process):
        self.assertNotIn("Traceback", process.output)

    async def test_help(self):
        """
        C{twist resonate --help} exits 0 and lists every configuration flag.
        """
        process = await runResonate(self, "--help")
        self.assertEqual(process.exit, ProcessExit(0, None), process.output)
        missing = [key.flag for key in KEYS if f"--{key.flag}" not in process.stdout]
        self.assertEqual(missing, [], process.stdout)

    async def test_unknownStoreKind(self):
        """
        An unknown store kind stops startup with one line naming the kinds.
        """
        process = await runResonate(self, "--aio-store", "nope")
        self.assertIsNone(process.exit.signal)
        self.assertNotEqual(process.exit.code, 0)
        lines = [
            line for line in process.lines()
            if "nope" in line and "sqlite" in line and "memory" in line
        ]
        self.assertEqual(len(lines), 1, process.output)
        self._assertNoTraceback(process)

    async def test_portTaken(self):
        """
        A taken port stops startup: status 1, one C{error: cannot start} line.
        """
        taken = reactor.listenTCP(
            0, Factory.forProtocol(Protocol), interface="127.0.0.1"
        )
        self.addCleanup(taken.stopListening)
        process = await runResonate(
            self,
            "--api-http-addr", f"127.0.0.1:{taken.getHost().port}",
            *sqliteFlags(self.mktemp() + ".db"),
        )
        self.assertEqual(process.exit, ProcessExit(1, None), process.output)
        lines = [
            line for line in process.lines()
            if line.startswith("error: cannot start http server: ")
        ]
        self.assertEqual(len(lines), 1, process.output)
        self._assertNoTraceback(process)

    async def test_badValue(self):
        """
        A bad configuration value stops startup, naming its key.
        """
        process = await runResonate(self, "--api-size", "abc")
        self.assertIsNone(process.exit.signal)
        self.assertNotEqual(process.exit.code, 0)
        self.assertIn("api.size", process.output)
        self._assertNoTraceback(process)


_DROPIN = '''\
"""
A third-party store for resonate, shipped as a dropin of its own.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from resonate.config.kinds import StrKind
from resonate.config.stores import StoreOption
from resonate.interfaces import IStoreProvider
from resonate.store.memory import MemoryStore


class MarkingStore(MemoryStore):
    def __init__(self, marker):
        super().__init__()
        self.marker = marker

    def createPromise(self, request, now, retryTimeout=30_000):
        with open(self.marker, "a") as f:
            f.write(request.id + "\\n")
        return super().createPromise(request, now, retryTimeout)


@implementer(IPlugin, IStoreProvider)
class ThirdPartyStoreProvider:
    name = "thirdparty"
    description = "a third-party store (test)"
    options = (
        StoreOption("marker", StrKind(nonEmpty=True), "created.txt",
                    "the file each created promise's id is written to"),
    )

    def makeStore(self, config, reactor):
        return MarkingStore(config.options["marker"])


thirdparty = ThirdPartyStoreProvider()
'''


class ThirdPartyStoreTests(unittest.TestCase):
    """
    A store dropin in another project's C{twisted/plugins/} is found on
    C{sys.path} and used; nothing in resonate changes.
    """

    def _installDropin(self):
        """
        Write the dropin under a new directory, the way a third-party
        project ships it: C{twisted/plugins/} without C{__init__.py}.

        @return: C{(environment, marker file)}.
        """
        root = os.path.abspath(self.mktemp())
        plugins = os.path.join(root, "twisted", "plugins")
        os.makedirs(plugins)
        marker = os.path.join(root, "created.txt")
        with open(os.path.join(plugins, "thirdparty_store.py"), "w") as f:
            f.write(_DROPIN)
        path = [root] + [p for p in [os.environ.get("PYTHONPATH")] if p]
        return {"PYTHONPATH": os.pathsep.join(path)}, marker

    async def test_thirdPartyStoreServes(self):
        """
        With C{--aio-store thirdparty}, the third-party store serves the API,
        with the option it declares given as a flag.
        """
        env, marker = self._installDropin()
        server = await startResonate(
            self, "--aio-store", "thirdparty", "--aio-store-thirdparty-marker",
            marker, env=env,
        )
        created = await HTTPClient(server.url).create("third/1", FAR)
        self.assertEqual(created.code, 201, created)
        with open(marker) as f:
            self.assertEqual(f.read().splitlines(), ["third/1"])

    async def test_thirdPartyStoreListed(self):
        """
        C{--help-stores} lists the third-party store beside the built-in ones.
        """
        env, _ = self._installDropin()
        process = await runResonate(self, "--help-stores", env=env)
        self.assertEqual(process.exit, ProcessExit(0, None), process.output)
        kinds = [line.split()[0] for line in process.stdout.splitlines() if line]
        # Other store plugins may be installed beside these.
        self.assertTrue(
            {"memory", "postgres", "sqlite", "thirdparty"} <= set(kinds), kinds
        )
