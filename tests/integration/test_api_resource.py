"""
Tests for L{resonate.api.resource}: a Klein app's routes served over a real
socket on 127.0.0.1, without a reference cycle per request.
"""

import gc
import socket
import weakref

from klein import Klein
from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.threads import deferToThread
from twisted.trial import unittest
from twisted.web.server import NOT_DONE_YET, Site

from resonate.api.resource import AppResource


class _App:
    """
    Routes answering in each way a route may.
    """

    app = Klein()

    def __init__(self):
        self.requests = []
        self.pending = []
        self.cancelled = []

    @app.route("/bytes", methods=["GET"])
    def bytesRoute(self, request):
        self.requests.append(weakref.ref(request))
        return b"sync"

    @app.route("/text", methods=["GET"])
    def textRoute(self, request):
        return "caf\u00e9"

    @app.route("/later", methods=["GET"])
    def laterRoute(self, request):
        self.requests.append(weakref.ref(request))
        d = Deferred(lambda d: self.cancelled.append(d))
        self.pending.append(d)
        return d

    @app.route("/coroutine/<name>", methods=["POST"])
    async def coroutineRoute(self, request, name):
        await succeed(None)
        request.setResponseCode(201)
        return name.encode("utf-8")

    @app.route("/broken", methods=["GET"])
    def brokenRoute(self, request):
        raise RuntimeError("broken route")


def _routingError(request, error):
    request.setResponseCode(error.code)
    request.setHeader(b"x-error", type(error).__name__.encode("ascii"))
    return b"no route"


def _exchange(port, raw, close=True):
    """
    Send C{raw} and read the answer (until the server closes when
    C{close}, else until one answer's head and body have arrived).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        received = b""
        while True:
            data = s.recv(65536)
            if not data:
                break
            received += data
            if not close and b"\r\n\r\n" in received:
                head, _, body = received.partition(b"\r\n\r\n")
                length = [
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ]
                if length and len(body) >= length[0]:
                    break
    return received


def _get(path, method=b"GET", body=b""):
    return (
        method + b" " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


class AppResourceTests(unittest.TestCase):
    """
    L{AppResource} over a listening L{Site}.
    """

    def setUp(self):
        self.routes = _App()
        resource = AppResource(self.routes.app, _routingError)
        self.port = reactor.listenTCP(0, Site(resource), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)

    def exchange(self, raw, close=True):
        return deferToThread(_exchange, self.port.getHost().port, raw, close)

    def parse(self, received):
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = dict(
            (name.lower(), value.strip())
            for name, _, value in (line.partition(b":") for line in lines[1:])
        )
        return int(lines[0].split(b" ")[1]), headers, body

    async def test_bytes(self):
        """
        A route's C{bytes} are the body, with their length.
        """
        code, headers, body = self.parse(await self.exchange(_get(b"/bytes")))
        self.assertEqual((code, body), (200, b"sync"))
        self.assertEqual(headers[b"content-length"], b"4")

    async def test_text(self):
        """
        A route's C{str} is sent as UTF-8.
        """
        code, headers, body = self.parse(await self.exchange(_get(b"/text")))
        self.assertEqual((code, body), (200, "caf\u00e9".encode("utf-8")))
        self.assertEqual(headers[b"content-length"], b"5")

    async def test_deferred(self):
        """
        A C{Deferred}'s result is written when it fires, with its length
        (not chunked).
        """
        answer = self.exchange(_get(b"/later"))
        while not self.routes.pending:
            await deferLaterTurn()
        self.routes.pending[0].callback(b"done later")
        code, headers, body = self.parse(await answer)
        self.assertEqual((code, body), (200, b"done later"))
        self.assertEqual(headers[b"content-length"], b"10")
        self.assertNotIn(b"transfer-encoding", headers)

    async def test_coroutine(self):
        """
        A coroutine route's result is written, with the code it set and
        the path's arguments.
        """
        code, _, body = self.parse(
            await self.exchange(_get(b"/coroutine/n%C3%A9", method=b"POST"))
        )
        self.assertEqual((code, body), (201, "n\u00e9".encode("utf-8")))

    async def test_head(self):
        """
        C{HEAD} on a C{GET} route answers its head: the length, no body.
        """
        code, headers, body = self.parse(
            await self.exchange(_get(b"/bytes", method=b"HEAD"))
        )
        self.assertEqual((code, body), (200, b""))
        self.assertEqual(headers[b"content-length"], b"4")

    async def test_notFound(self):
        """
        An unknown path goes to the routing error handler with werkzeug's
        C{NotFound}.
        """
        code, headers, body = self.parse(await self.exchange(_get(b"/nowhere")))
        self.assertEqual((code, body), (404, b"no route"))
        self.assertEqual(headers[b"x-error"], b"NotFound")

    async def test_methodNotAllowed(self):
        """
        A known path with another method goes to the routing error handler
        with C{MethodNotAllowed}.
        """
        code, headers, _ = self.parse(
            await self.exchange(_get(b"/bytes", method=b"DELETE"))
        )
        self.assertEqual(code, 405)
        self.assertEqual(headers[b"x-error"], b"MethodNotAllowed")

    async def test_pathNotUTF8(self):
        """
        A path that is not UTF-8 once percent-decoded goes to the routing
        error handler with C{BadRequest}.
        """
        code, headers, _ = self.parse(await self.exchange(_get(b"/bytes%FF")))
        self.assertEqual(code, 400)
        self.assertEqual(headers[b"x-error"], b"BadRequest")

    async def test_routeFails(self):
        """
        A route that raises answers 500, and its error is logged.
        """
        code, _, _ = self.parse(await self.exchange(_get(b"/broken")))
        self.assertEqual(code, 500)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    async def test_clientGone(self):
        """
        When the client goes away before the answer, the route's
        C{Deferred} is cancelled, and nothing is logged.
        """
        port = self.port.getHost().port
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(_get(b"/later"))
        while not self.routes.pending:
            await deferLaterTurn()
        s.close()
        while not self.routes.cancelled:
            await deferLaterTurn()
        self.assertEqual(self.routes.cancelled, self.routes.pending)
        self.assertEqual(self.flushLoggedErrors(), [])

    async def test_noCycleLeft(self):
        """
        With the collector off, a request is freed once answered, whether
        its route answered at once or later: nothing it is part of is a
        reference cycle.  (Klein's own resource leaves each request in one.)
        """
        gc.collect()
        gc.disable()
        self.addCleanup(gc.enable)
        raw = _get(b"/bytes").replace(b"Connection: close\r\n", b"")
        await self.exchange(raw, close=False)
        later = self.exchange(_get(b"/later"))
        while not self.routes.pending:
            await deferLaterTurn()
        self.routes.pending.pop().callback(b"x")
        await later
        for _ in range(3):
            await deferLaterTurn()
        self.assertEqual([ref() for ref in self.routes.requests], [None, None])


class ShortcutTests(unittest.TestCase):
    """
    L{AppResource}'s C{shortcut}: routes found without the URL map.
    """

    def setUp(self):
        self.routes = _App()
        self.seen = []

        def shortcut(request):
            self.seen.append(request.path)
            if request.path == b"/fast":
                return self.routes.textRoute, {}
            if request.path == b"/self-answered":
                return self.selfAnswered, {"word": b"done"}
            return None

        resource = AppResource(self.routes.app, _routingError, shortcut)
        self.port = reactor.listenTCP(0, Site(resource), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)

    def selfAnswered(self, request, word):
        reactor.callLater(0, self.answer, request, word)
        return NOT_DONE_YET

    def answer(self, request, word):
        request.setHeader(b"content-length", b"%d" % (len(word),))
        request.write(word)
        request.finish()

    def exchange(self, raw):
        return deferToThread(_exchange, self.port.getHost().port, raw)

    async def test_shortcut(self):
        """
        A route the shortcut finds is called with its arguments, whatever
        the map says about its path.
        """
        received = await self.exchange(_get(b"/fast"))
        self.assertTrue(received.startswith(b"HTTP/1.1 200 "))
        self.assertTrue(received.endswith(b"caf\xc3\xa9"))

    async def test_notDoneYet(self):
        """
        A route may answer C{NOT_DONE_YET} and finish the request itself.
        """
        received = await self.exchange(_get(b"/self-answered"))
        self.assertTrue(received.startswith(b"HTTP/1.1 200 "))
        self.assertTrue(received.endswith(b"\r\n\r\ndone"))

    async def test_declined(self):
        """
        A request the shortcut declines is routed by the map.
        """
        received = await self.exchange(_get(b"/bytes"))
        self.assertTrue(received.endswith(b"sync"))
        received = await self.exchange(_get(b"/nowhere"))
        self.assertTrue(received.startswith(b"HTTP/1.1 404 "))
        self.assertEqual(self.seen, [b"/bytes", b"/nowhere"])


def deferLaterTurn():
    """
    A C{Deferred} that fires on a later turn of the reactor.
    """
    d = Deferred()
    reactor.callLater(0.01, d.callback, None)
    return d
