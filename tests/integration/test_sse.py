"""
C{GET /poll/{group}/{id}} over real sockets on 127.0.0.1: the stream's
headers and framing, registration before the headers, disconnects, basic
auth, the connection cap, shutdown, the site's idle timeout, a client that
stops reading, and a thousand idle streams at once.
"""

import base64
import json
import random
import socket

from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred, gatherResults
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock, deferLater
from twisted.trial import unittest

from resonate.api.auth import BasicCredentials
from resonate.api.http import APISite, HTTPAPI
from resonate.api.operations import Operations
from resonate.api.protocol2026 import renderPromise
from resonate.api.sse import PollRegistry, encodeEvent
from resonate.api.tokens import TokenVerifier
from resonate.model.promise import CreatePromise
from resonate.services.outbox import OutboxDelivery
from resonate.services.listen import ListeningService, endpointForAddress
from resonate.store.memory import MemoryStore
from resonate.tap import raiseFileLimit
from tests.support.jwttools import KeyPair


async def eventually(predicate, timeout=10.0, step=0.01):
    """
    Wait, letting the reactor run, until C{predicate()} is true.
    """
    waited = 0.0
    while not predicate():
        if waited > timeout:
            raise AssertionError(f"not true after {timeout}s: {predicate}")
        await deferLater(reactor, step)
        waited += step


class StreamClient(Protocol):
    """
    An HTTP/1.1 client of one SSE stream: it sends the request on connect
    and splits what comes back into the head, the decoded chunked body and
    its events (split on blank lines only, as resonate-sdk does).

    @ivar headReceived: a C{Deferred} firing with the status line and
        headers once the head has arrived.
    @ivar closed: a C{Deferred} firing once the connection is closed.
    """

    def __init__(self, path, onHead=None, headers=b""):
        self.path = path
        self.headers = headers
        self.raw = b""
        self.head = None
        self.body = b""
        self.ended = False
        self.headReceived = Deferred()
        self.closed = Deferred()
        self._onHead = onHead
        self._pending = b""

    def connectionMade(self):
        self.transport.write(
            b"GET " + self.path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Accept: text/event-stream\r\n" + self.headers + b"\r\n"
        )

    def dataReceived(self, data):
        self.raw += data
        if self.head is None:
            if b"\r\n\r\n" not in self.raw:
                return
            head, _, rest = self.raw.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            self.head = (lines[0], dict(
                (name.lower(), value)
                for name, value in (line.split(": ", 1) for line in lines[1:])
            ))
            self._pending = rest
            if self._onHead is not None:
                self._onHead(self)
            self.headReceived.callback(self.head)
        else:
            self._pending += data
        self._decodeChunks()

    def _decodeChunks(self):
        if self.head[1].get("transfer-encoding") != "chunked":
            self.body += self._pending
            self._pending = b""
            return
        while b"\r\n" in self._pending:
            size, _, rest = self._pending.partition(b"\r\n")
            size = int(size, 16)
            if len(rest) < size + 2:
                return
            if size == 0:
                self.ended = True
            self.body += rest[:size]
            self._pending = rest[size + 2:]

    @property
    def events(self):
        return self.body.split(b"\n\n")[:-1]

    def connectionLost(self, reason):
        self.closed.callback(None)


class PollServer:
    """
    The HTTP site with a L{PollRegistry}, listening on 127.0.0.1.
    """

    def __init__(self, testCase, idleTimeout=60.0, credentials=None,
                 **registryArgs):
        registryArgs.setdefault("random", random.Random(5))
        self.registry = PollRegistry(**registryArgs)
        operations = Operations(MemoryStore(), Clock(), 10)
        self.site = APISite(
            HTTPAPI(operations, poll=self.registry).resource(),
            maxBodySize=1024 * 1024,
            idleTimeout=idleTimeout,
            credentials=credentials,
        )
        self.service = ListeningService(
            "http", endpointForAddress(reactor, "127.0.0.1:0"), self.site
        )
        self._testCase = testCase

    async def start(self):
        self.service.startService()
        port = await self.service.whenListening()
        self.port = port.getHost().port
        self._testCase.addCleanup(lambda: ensureDeferred(self.stop()))
        return self

    async def stopListening(self):
        stopped = self.service.stopService()
        if stopped is not None:
            await stopped

    async def stop(self):
        await self.stopListening()
        self.site.abortConnections()
        await eventually(lambda: not self.site._channels)

    async def open(self, group="g", id="a", onHead=None, headers=b""):
        """
        Open a stream and wait for its head.
        """
        path = f"/poll/{group}/{id}".encode("utf-8")
        client = await connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", self.port),
            StreamClient(path, onHead, headers),
        )
        self._testCase.addCleanup(client.transport.abortConnection)
        await client.headReceived
        return client


class SSEOverSocketTests(unittest.TestCase):
    """
    The stream as a client on a socket sees it.
    """

    async def test_headersAndFraming(self):
        """
        200 with C{text/event-stream}, C{no-cache} and chunked encoding;
        each message arrives as exactly C{data: <one line of JSON>\\n\\n},
        which the SDK's framing splits back into the messages.
        """
        server = await PollServer(self).start()
        client = await server.open("workers", "pid-1")
        status, headers = client.head
        self.assertEqual(status, "HTTP/1.1 200 OK")
        self.assertEqual(headers["content-type"], "text/event-stream")
        self.assertEqual(headers["cache-control"], "no-cache")
        self.assertEqual(headers["transfer-encoding"], "chunked")
        messages = [
            {"kind": "execute", "head": {"serverUrl": "http://localhost:8001"},
             "data": {"task": {"id": "root", "version": 3}}},
            {"kind": "unblock", "head": {},
             "data": {"promise": {"id": "p", "state": "resolved",
                                  "param": {"headers": {}, "data": "YQ=="},
                                  "tags": {"t": "line\nbreak \u00e9"}}}},
        ]
        self.assertTrue(server.registry.deliver("poll://uni@workers/pid-1", messages[0]))
        self.assertTrue(server.registry.deliver("poll://any@workers", messages[1]))
        await eventually(lambda: len(client.events) == 2)
        self.assertEqual(client.body, b"".join(encodeEvent(m) for m in messages))
        self.assertEqual(
            client.body,
            b'data: {"kind":"execute","head":{"serverUrl":"http://localhost:8001"},'
            b'"data":{"task":{"id":"root","version":3}}}\n\n'
            b'data: {"kind":"unblock","head":{},"data":{"promise":{"id":"p",'
            b'"state":"resolved","param":{"headers":{},"data":"YQ=="},'
            b'"tags":{"t":"line\\nbreak \\u00e9"}}}}\n\n',
        )
        decoded = [json.loads(e.removeprefix(b"data: ")) for e in client.events]
        self.assertEqual(decoded, messages)
        self.assertFalse(client.ended)

    async def test_registeredBeforeHeaders(self):
        """
        By the time the client has the headers, its stream is registered: a
        message sent at that moment reaches it.
        """
        server = await PollServer(self).start()
        delivered = []

        def onHead(client):
            delivered.append(server.registry.deliver(
                "poll://uni@g/a", {"kind": "execute", "head": {}}
            ))

        client = await server.open(onHead=onHead)
        self.assertEqual(delivered, [True])
        await eventually(lambda: len(client.events) == 1)

    async def test_disconnectDeregisters(self):
        """
        A client that closes its connection is deregistered, and its place
        under the cap is free again.
        """
        server = await PollServer(self, maxConnections=1).start()
        client = await server.open()
        self.assertEqual(server.registry.connectionCount, 1)
        client.transport.loseConnection()
        await eventually(lambda: server.registry.connectionCount == 0)
        self.assertFalse(server.registry.deliver("poll://uni@g/a", {"kind": "x"}))
        again = await server.open()
        self.assertEqual(again.head[0], "HTTP/1.1 200 OK")

    async def test_capacity(self):
        """
        Past C{maxConnections}, 503 with C{Poll registration at capacity};
        the streams already open are not affected.
        """
        server = await PollServer(self, maxConnections=2).start()
        first = await server.open("g", "a")
        await server.open("h", "b")
        refused = await server.open("g", "c")
        self.assertEqual(refused.head[0], "HTTP/1.1 503 Service Unavailable")
        await eventually(lambda: refused.body == b"Poll registration at capacity")
        self.assertEqual(server.registry.connectionCount, 2)
        self.assertTrue(server.registry.deliver("poll://any@g", {"kind": "x"}))
        await eventually(lambda: len(first.events) == 1)

    async def test_shutdownClosesStreams(self):
        """
        The site's C{closeConnections} (the server's stop) ends every
        stream with the last chunk and closes its connection, promptly.
        """
        server = await PollServer(self).start()
        clients = [await server.open("g", str(n)) for n in range(3)]
        server.registry.deliver("poll://uni@g/1", {"kind": "x"})
        await server.stopListening()
        await server.site.closeConnections()
        await gatherResults([client.closed for client in clients])
        self.assertTrue(all(client.ended for client in clients))
        self.assertEqual(len(clients[1].events), 1)
        self.assertEqual(server.registry.connectionCount, 0)

    async def test_closeAll(self):
        """
        C{closeAll} ends every stream cleanly too (the last chunk).
        """
        server = await PollServer(self).start()
        client = await server.open()
        server.registry.closeAll()
        await eventually(lambda: client.ended)
        self.assertEqual(server.registry.connectionCount, 0)

    async def test_basicAuth(self):
        """
        With basic auth configured, a stream needs the credentials too
        (DECISIONS 31): 401 without them, nothing registered.
        """
        server = await PollServer(
            self, credentials=BasicCredentials("user", "secret")
        ).start()
        refused = await server.open()
        self.assertEqual(refused.head[0], "HTTP/1.1 401 Unauthorized")
        self.assertEqual(server.registry.connectionCount, 0)
        token = base64.b64encode(b"user:secret")
        client = await server.open(headers=b"Authorization: Basic " + token + b"\r\n")
        self.assertEqual(client.head[0], "HTTP/1.1 200 OK")
        self.assertEqual(server.registry.connectionCount, 1)

    async def test_idleTimeoutSpared(self):
        """
        The site's idle timeout does not cut a stream that nothing is sent
        on for longer.
        """
        server = await PollServer(self, idleTimeout=0.2).start()
        client = await server.open()
        await deferLater(reactor, 0.8)
        self.assertFalse(client.closed.called)
        self.assertTrue(server.registry.deliver("poll://uni@g/a", {"kind": "x"}))
        await eventually(lambda: len(client.events) == 1)

    async def test_slowReaderBounded(self):
        """
        A client that never reads (small socket buffers) cannot make the
        server hold more than its bounds: once its socket and the
        transport's high-water mark are full, messages queue up to the
        buffer size, then are refused.  When it reads at last, it gets
        exactly the messages that were accepted, in order.
        """
        server = await PollServer(
            self, bufferSize=10, maxBufferedBytes=256 * 1024
        ).start()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(b"GET /poll/g/slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await eventually(lambda: server.registry.connectionCount == 1)
        [channel] = server.site._channels
        channel.transport.getHandle().setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
        )
        padding = "x" * 32 * 1024
        accepted = []
        for n in range(400):
            message = {"kind": "unblock", "head": {}, "data": {"n": n, "p": padding}}
            if server.registry.deliver("poll://uni@g/slow", message):
                accepted.append(n)
            if n % 10 == 0:
                # Let the transport write what the socket takes.
                await deferLater(reactor, 0.001)
        # 400 messages are 13 MB; a few hundred KB at most were taken.
        self.assertLess(len(accepted), 40)
        self.assertEqual(accepted, list(range(len(accepted))))
        event = len(encodeEvent({"kind": "unblock", "head": {},
                                 "data": {"n": 399, "p": padding}}))
        self.assertLessEqual(server.registry.bufferedBytes, 10 * event)
        self.assertLessEqual(server.registry.bufferedBytes, 256 * 1024 + event)
        transport = channel.transport
        inTransport = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
        # Its high-water mark (64 KiB), plus the message that passed it.
        self.assertLessEqual(inTransport, transport.bufferSize + event + 64)

        received = bytearray()
        sock.setblocking(False)

        def drain():
            try:
                while True:
                    data = sock.recv(1 << 20)
                    if not data:
                        break
                    received.extend(data)
            except BlockingIOError:
                pass
            return received.count(b"\n\n") >= len(accepted)

        await eventually(drain)
        body = bytes(received).partition(b"\r\n\r\n")[2]
        numbers = [
            json.loads(line.removeprefix(b"data: "))["data"]["n"]
            for line in body.split(b"\r\n")
            if line.startswith(b"data: ")
        ]
        self.assertEqual(numbers, accepted)
        self.assertEqual(server.registry.bufferedBytes, 0)

    async def test_thousandIdleStreams(self):
        """
        A thousand streams are served at once (the default cap), each gets
        its own message, and one more is refused with 503.
        """
        if raiseFileLimit() < 2300:
            raise unittest.SkipTest("needs about 2,100 open files")
        server = await PollServer(self).start()
        self.assertEqual(server.registry.maxConnections, 1000)
        clients = []
        for batch in range(10):
            clients.extend(await gatherResults([
                ensureDeferred(server.open("g", f"w{batch * 100 + n}"))
                for n in range(100)
            ]))
        self.assertEqual(server.registry.connectionCount, 1000)
        self.assertTrue(all(c.head[0] == "HTTP/1.1 200 OK" for c in clients))
        refused = await server.open("g", "one-more")
        self.assertEqual(refused.head[0], "HTTP/1.1 503 Service Unavailable")
        for n in range(1000):
            self.assertTrue(server.registry.deliver(
                f"poll://uni@g/w{n}", {"kind": "execute", "data": {"n": n}}
            ))
        await eventually(lambda: all(c.events for c in clients))
        for n, client in enumerate(clients):
            [event] = client.events
            self.assertEqual(json.loads(event[len(b"data: "):])["data"]["n"], n)
        for client in clients:
            client.transport.loseConnection()
        await eventually(lambda: server.registry.connectionCount == 0)


class PrincipalStreamTests(unittest.TestCase):
    """
    With JWT auth, a stream whose token names a prefix receives only the
    messages about ids under it (issue 19): the outbox's anycast messages
    go, each, to a stream of the group that may receive it, and none is
    lost.  The site authenticates the stream (C{Authorization: Bearer}).
    """

    async def startServer(self):
        self.keys = KeyPair("ec")
        self.registry = PollRegistry(random=random.Random(11))
        store = MemoryStore()
        self.delivery = OutboxDelivery(
            store, reactor, "http://localhost:8001", renderPromise,
            poll=self.registry, interval=0.05,
        )
        self.registry.addObserver(lambda group, id: self.delivery.wake())
        self.operations = Operations(
            store, reactor, 10, onMessages=self.delivery.wake
        )
        self.delivery.startService()
        self.addCleanup(self.delivery.stopService)
        server = PollServer(self)
        server.site = APISite(
            HTTPAPI(self.operations, poll=self.registry).resource(),
            maxBodySize=1024 * 1024,
            tokens=TokenVerifier(self.keys.publicPEM),
        )
        server.service = ListeningService(
            "http", endpointForAddress(reactor, "127.0.0.1:0"), server.site
        )
        return await server.start()

    def bearer(self, **claims):
        return b"Authorization: Bearer " + self.keys.token(**claims).encode() + b"\r\n"

    async def createTask(self, promiseId):
        now = self.operations.now()
        reply = await self.operations.handle2026(
            CreatePromise(promiseId, now + 3_600_000,
                          tags={"resonate:target": "poll://any@workers"}),
            now,
        )
        self.assertFalse(reply.isError, reply)

    async def test_tokenRequired(self):
        """
        Without a token that verifies, C{/poll} is 401 and registers no
        stream.
        """
        server = await self.startServer()
        for headers in (b"", b"Authorization: Bearer x.y.z\r\n"):
            client = await server.open("workers", "a", headers=headers)
            self.assertTrue(client.head[0].startswith("HTTP/1.1 401"), client.head)
        self.assertEqual(self.registry.connectionCount, 0)

    def received(self, client):
        return sorted(
            json.loads(e.removeprefix(b"data: "))["data"]["task"]["id"]
            for e in client.events
        )

    async def test_eachItsOwn(self):
        """
        Two workers of one group, with tokens for C{team-a/} and
        C{team-b/}: of the tasks created for both prefixes (anycast to the
        group), each receives exactly its own, and every one arrives.  An
        admin's stream may receive any; a token without a prefix none.
        """
        server = await self.startServer()
        teamA = await server.open("workers", "a", headers=self.bearer(prefix="team-a/"))
        teamB = await server.open("workers", "b", headers=self.bearer(prefix="team-b/"))
        nobody = await server.open("workers", "n", headers=self.bearer(sub="nobody"))
        ids = [f"team-{team}/{i}" for i in range(15) for team in "ab"]
        for promiseId in ids:
            await self.createTask(promiseId)
        await eventually(lambda: len(teamA.events) + len(teamB.events) == len(ids))
        self.assertEqual(self.received(teamA), sorted(i for i in ids if i.startswith("team-a/")))
        self.assertEqual(self.received(teamB), sorted(i for i in ids if i.startswith("team-b/")))
        self.assertEqual(nobody.events, [])

    async def test_keptUntilAllowed(self):
        """
        A task no connected stream may receive is not written to any: it
        stays in the outbox, and goes to a stream that may receive it once
        one connects.
        """
        server = await self.startServer()
        teamA = await server.open("workers", "a", headers=self.bearer(prefix="team-a/"))
        await self.createTask("team-b/late")
        await self.createTask("team-a/now")
        await eventually(lambda: len(teamA.events) == 1)
        await deferLater(reactor, 0.3)
        self.assertEqual(self.received(teamA), ["team-a/now"])
        self.assertGreater(self.delivery.failedAttempts, 0)
        admin = await server.open("workers", "x", headers=self.bearer(role="admin"))
        # The backoff of the first failed attempt is a second.
        await eventually(lambda: len(admin.events) == 1, timeout=15)
        self.assertEqual(self.received(admin), ["team-b/late"])
        self.assertEqual(self.received(teamA), ["team-a/now"])
