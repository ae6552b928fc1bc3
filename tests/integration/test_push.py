# -*- test-case-name: tests.integration.test_push -*-
"""
Tests for L{resonate.services.push.HTTPPusher} against real HTTP servers
on 127.0.0.1: what arrives, what a push answers, a hung target, the
concurrency bounds, connection reuse and closing.
"""

import json
import time

from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.protocols.policies import WrappingFactory
from twisted.trial import unittest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from resonate.model.promise import CreatePromise
from resonate.model.routing import Route
from resonate.services.dispatcher import TaskDispatcher
from resonate.services.push import HTTPPusher, encodeMessage
from resonate.store.memory import MemoryStore

EXECUTE = {
    "kind": "execute",
    "head": {"serverUrl": "http://localhost:8001"},
    "data": {"task": {"id": "t\u00e9", "version": 3}},
}


class Gauge:
    """
    Counts requests being handled at once, across targets.

    @ivar current: how many now.
    @ivar most: the most at once so far.
    """

    def __init__(self):
        self.current = 0
        self.most = 0

    def enter(self):
        self.current += 1
        self.most = max(self.most, self.current)

    def leave(self):
        self.current -= 1


class _Hook(Resource):
    """
    The target's one resource: records each request, and answers it with
    the target's code, after its delay, or never if it holds.
    """

    isLeaf = True

    def __init__(self, target):
        super().__init__()
        self._target = target

    def render_POST(self, request):
        target = self._target
        target.received.append(
            (
                request.uri,
                request.requestHeaders.getRawHeaders(b"content-type"),
                request.content.read(),
            )
        )
        target.gauge.enter()
        finished = []
        request.notifyFinish().addBoth(
            lambda _: finished.append(True) or target.gauge.leave()
        )
        if target.hold:
            target.held.append(request)
            return NOT_DONE_YET
        if target.delay:
            reactor.callLater(target.delay, self._answer, request, finished)
            return NOT_DONE_YET
        request.setResponseCode(target.code)
        return b'{"answer":"ignored"}'

    def _answer(self, request, finished):
        if not finished:
            request.setResponseCode(self._target.code)
            request.write(b"ignored")
            request.finish()


class CountingFactory(WrappingFactory):
    """
    A factory that counts the connections made to it; C{protocols} holds
    the open ones.
    """

    def __init__(self, wrapped):
        super().__init__(wrapped)
        self.connections = 0

    def buildProtocol(self, addr):
        self.connections += 1
        return super().buildProtocol(addr)


class NotTLS(Protocol):
    """
    A server that answers a TLS handshake in plain text.
    """

    def dataReceived(self, data):
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        self.transport.loseConnection()


class Target:
    """
    An HTTP push target listening on 127.0.0.1.

    @ivar received: C{(uri, content types, body)} per request.
    @ivar held: the requests held unanswered.
    """

    def __init__(self, testCase, code=200, hold=False, delay=0, gauge=None):
        self.code = code
        self.hold = hold
        self.delay = delay
        self.gauge = gauge or Gauge()
        self.received = []
        self.held = []
        self.factory = CountingFactory(Site(_Hook(self)))
        self.port = reactor.listenTCP(0, self.factory, interface="127.0.0.1")
        testCase.addCleanup(self.stop)

    def url(self, path="/hook", scheme="http"):
        return f"{scheme}://127.0.0.1:{self.port.getHost().port}{path}"

    async def stop(self):
        """
        Stop listening and drop the connections still open.
        """
        await self.port.stopListening()
        for protocol in list(self.factory.protocols):
            protocol.transport.abortConnection()
        await waitFor(lambda: not self.factory.protocols)


async def waitFor(predicate, seconds=10.0):
    """
    Wait until C{predicate()} is true, checking every few milliseconds.
    """
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await deferLater(reactor, 0.005)


class HTTPPusherTests(unittest.TestCase):
    """
    L{HTTPPusher} over real connections.
    """

    def makePusher(self, **kwargs):
        pusher = HTTPPusher(reactor, **kwargs)
        self.addCleanup(pusher.close)
        return pusher

    async def test_delivered(self):
        """
        A 2xx answer is a delivery; the target received the message's JSON
        as the body, with C{Content-Type: application/json}, at the URL's
        path and query.
        """
        target = Target(self)
        pusher = self.makePusher()
        self.assertIs(await pusher.push(target.url("/hook?a=1"), EXECUTE), True)
        self.assertEqual(
            target.received,
            [(b"/hook?a=1", [b"application/json"], encodeMessage(EXECUTE))],
        )

    async def test_noContent(self):
        """
        A 204 is a delivery too.
        """
        target = Target(self, code=204)
        self.assertIs(await self.makePusher().push(target.url(), EXECUTE), True)

    async def test_serverError(self):
        """
        A 500 is a failed push.
        """
        target = Target(self, code=500)
        self.assertIs(await self.makePusher().push(target.url(), EXECUTE), False)
        self.assertEqual(len(target.received), 1)

    async def test_refused(self):
        """
        A port nobody listens on is a failed push.
        """
        port = reactor.listenTCP(0, Site(Resource()), interface="127.0.0.1")
        number = port.getHost().port
        await port.stopListening()
        pusher = self.makePusher()
        self.assertIs(await pusher.push(f"http://127.0.0.1:{number}/", EXECUTE), False)

    async def test_tlsFailure(self):
        """
        An C{https} URL whose server does not speak TLS is a failed push,
        as soon as the handshake fails.
        """
        port = reactor.listenTCP(
            0, Factory.forProtocol(NotTLS), interface="127.0.0.1"
        )
        self.addCleanup(port.stopListening)
        pusher = self.makePusher()
        started = time.monotonic()
        url = f"https://127.0.0.1:{port.getHost().port}/"
        self.assertIs(await pusher.push(url, EXECUTE), False)
        self.assertLess(time.monotonic() - started, 5)

    async def test_connectionReused(self):
        """
        The answer's body is read and dropped, so pushes one after another
        to a target share one connection.
        """
        target = Target(self)
        pusher = self.makePusher()
        for _ in range(5):
            self.assertIs(await pusher.push(target.url(), EXECUTE), True)
        self.assertEqual(len(target.received), 5)
        self.assertEqual(target.factory.connections, 1)

    async def test_hungTarget(self):
        """
        A target that accepts and never answers fails each push after the
        request timeout; meanwhile, pushes to a healthy target succeed at
        once, even with more pushes to the hung one than its host may have
        in flight.
        """
        hung = Target(self, hold=True)
        healthy = Target(self)
        pusher = self.makePusher(concurrency=4, perHost=2, requestTimeout=1.0)
        started = time.monotonic()
        stuck = [pusher.push(hung.url(), EXECUTE) for _ in range(4)]
        await waitFor(lambda: len(hung.held) == 2)
        for _ in range(10):
            self.assertIs(await pusher.push(healthy.url(), EXECUTE), True)
        for d in stuck:
            self.assertNoResult(d)
        self.assertIs(await stuck[0], False)
        self.assertGreaterEqual(time.monotonic() - started, 1.0)
        self.assertEqual([await d for d in stuck], [False] * 4)
        self.assertEqual(len(hung.received), 4)
        self.assertEqual(len(healthy.received), 10)

    async def test_concurrencyBound(self):
        """
        No more than C{concurrency} requests are in flight at once across
        targets, nor more than C{perHost} to one target; every push is
        delivered.
        """
        gauge = Gauge()
        first = Target(self, delay=0.05, gauge=gauge)
        second = Target(self, delay=0.05, gauge=gauge)
        third = Target(self, delay=0.05)
        pusher = self.makePusher(concurrency=3, perHost=2)
        pushes = [
            pusher.push(target.url(), EXECUTE)
            for _ in range(8)
            for target in (first, second)
        ]
        self.assertEqual((pusher.inFlight, pusher.waiting), (3, 13))
        self.assertEqual([await d for d in pushes], [True] * 16)
        self.assertEqual(gauge.most, 3)
        alone = [pusher.push(third.url(), EXECUTE) for _ in range(6)]
        self.assertEqual([await d for d in alone], [True] * 6)
        self.assertEqual(third.gauge.most, 2)
        self.assertEqual((pusher.inFlight, pusher.waiting), (0, 0))

    async def test_closeCancelsHung(self):
        """
        Closing cancels a hung push at once (it answers C{False}) and
        drops its connection.
        """
        hung = Target(self, hold=True)
        pusher = HTTPPusher(reactor, requestTimeout=60.0)
        d = pusher.push(hung.url(), EXECUTE)
        await waitFor(lambda: len(hung.held) == 1)
        started = time.monotonic()
        await pusher.close()
        self.assertIs(await d, False)
        await waitFor(lambda: not hung.factory.protocols)
        self.assertLess(time.monotonic() - started, 5)
        self.assertIs(await pusher.push(hung.url(), EXECUTE), False)
        self.assertEqual(len(hung.received), 1)


class DispatcherPushTests(unittest.TestCase):
    """
    The v0.5 L{TaskDispatcher} pushes through an L{HTTPPusher} by default.
    """

    async def test_pushed(self):
        """
        A routed task's push reaches its worker as JSON, and stopping the
        dispatcher closes the pusher.
        """
        target = Target(self)
        memory = MemoryStore()
        dispatcher = TaskDispatcher(
            memory,
            reactor,
            [Route(name="a", pattern="/fan/*", connection="w", queue="q")],
            {"w": target.url()},
            "http://resonate.example:8001",
            10,
            interval=0.01,
        )
        now = int(reactor.seconds() * 1000)
        await memory.createPromiseAndTask(
            CreatePromise(id="fan/1", timeout=now + 3600_000), now
        )
        dispatcher.startService()
        self.addCleanup(lambda: dispatcher.running and dispatcher.stopService())
        await waitFor(lambda: target.received)
        await waitFor(lambda: dispatcher.pushed == 1)
        [(uri, contentType, body)] = target.received
        self.assertEqual(contentType, [b"application/json"])
        self.assertEqual(
            json.loads(body),
            {
                "queue": "q",
                "taskId": "fan/1",
                "counter": 1,
                "links": {
                    "claim": "http://resonate.example:8001/tasks/claim",
                    "complete": "http://resonate.example:8001/tasks/complete",
                },
            },
        )
        await dispatcher.stopService()
        self.assertIs(await dispatcher._poster.push(target.url(), {}), False)
