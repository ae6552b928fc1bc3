# -*- test-case-name: tests.unit.test_services_push -*-
"""
Tests for L{resonate.services.push}: what a push sends, what it answers,
its timeouts, its concurrency bounds and shutting it down.

Everything runs on a L{Clock} with a fake C{IAgent}: no test sleeps or
touches the network (tests.integration.test_push does, on 127.0.0.1).
"""

from twisted.internet.defer import CancelledError, Deferred, TimeoutError
from twisted.internet.error import ConnectionRefusedError, DNSLookupError
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial import unittest
from twisted.web.client import ResponseDone, ResponseNeverReceived
from twisted.web.http_headers import Headers

from resonate.services.push import HTTPPusher, PusherClosed, encodeMessage, hostKey

EXECUTE = {
    "kind": "execute",
    "head": {"serverUrl": "http://localhost:8001"},
    "data": {"task": {"id": "t\u00e9", "version": 3}},
}


class FakeBodyTransport:
    """
    The transport a fake answer's body is delivered over.

    @ivar stopped: whether the reader stopped the delivery.
    """

    def __init__(self, response):
        self._response = response
        self.stopped = False

    def stopProducing(self):
        self.stopped = True
        self._response.end(Failure(ResponseNeverReceived([])))

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass


class FakeResponse:
    """
    An C{IResponse} whose body the test delivers: C{chunks} at once, and
    the end at once if C{ended}, else when the test calls L{end}.
    """

    version = (b"HTTP", 1, 1)
    phrase = b"Phrase"
    request = None
    previousResponse = None

    def __init__(self, code, chunks=(), ended=True):
        self.code = code
        self.headers = Headers()
        self.length = sum(len(chunk) for chunk in chunks)
        self._chunks = list(chunks)
        self._ended = ended
        self.protocol = None
        self.transport = FakeBodyTransport(self)

    def deliverBody(self, protocol):
        self.protocol = protocol
        protocol.makeConnection(self.transport)
        for chunk in self._chunks:
            protocol.dataReceived(chunk)
        if self._ended:
            self.end()

    def end(self, reason=None):
        protocol, self.protocol = self.protocol, None
        if protocol is not None:
            protocol.connectionLost(reason or Failure(ResponseDone()))

    def setPreviousResponse(self, response):
        self.previousResponse = response


class FakeRequest:
    """
    One request made through L{FakeAgent}; the test answers it with
    C{deferred}.
    """

    def __init__(self, method, uri, headers, body):
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
        self.cancelled = False
        self.deferred = Deferred(self._cancel)

    def _cancel(self, d):
        self.cancelled = True

    def answer(self, code, *chunks, ended=True):
        response = FakeResponse(code, chunks, ended)
        self.deferred.callback(response)
        return response


class FakeAgent:
    """
    An C{IAgent} that records requests and leaves them to the test.

    @ivar requests: every L{FakeRequest}, in order.
    """

    def __init__(self):
        self.requests = []

    def request(self, method, uri, headers=None, bodyProducer=None):
        chunks = []

        class Consumer:
            write = chunks.append

        if bodyProducer is not None:
            bodyProducer.startProducing(Consumer())
        request = FakeRequest(method, uri, headers, b"".join(chunks))
        self.requests.append(request)
        return request.deferred

    def pending(self):
        return [r for r in self.requests if not r.deferred.called]


class EncodingTests(unittest.TestCase):
    """
    Tests for L{hostKey} and L{encodeMessage}.
    """

    def test_hostKey(self):
        """
        A host is its scheme, host and port, in lower case and with the
        default port made explicit.
        """
        self.assertEqual(
            hostKey("http://Worker.Example/x?y"), ("http", "worker.example", 80)
        )
        self.assertEqual(hostKey("HTTPS://w:8443/"), ("https", "w", 8443))
        self.assertEqual(hostKey("http://[::1]:9/"), ("http", "::1", 9))

    def test_notHttp(self):
        """
        Anything but an C{http(s)} URL with a host is refused.
        """
        for url in [
            "poll://any@g",
            "ftp://h/",
            "http://",
            "nope",
            "http://h:99999/",
            None,
            b"http://h/",
        ]:
            self.assertRaises(ValueError, hostKey, url)

    def test_encodeMessage(self):
        """
        A message is sent as compact UTF-8 JSON; bytes are sent as they are.
        """
        self.assertEqual(
            encodeMessage(EXECUTE),
            b'{"kind":"execute","head":{"serverUrl":"http://localhost:8001"},'
            b'"data":{"task":{"id":"t\xc3\xa9","version":3}}}',
        )
        self.assertEqual(encodeMessage(b"{ }"), b"{ }")


class PushTests(unittest.TestCase):
    """
    Tests for L{HTTPPusher.push} and L{HTTPPusher.post}: one push at a time.
    """

    def setUp(self):
        self.clock = Clock()
        self.agent = FakeAgent()
        self.pusher = HTTPPusher(self.clock, requestTimeout=180.0, agent=self.agent)

    def test_sent(self):
        """
        A push is a C{POST} of the message's JSON to the URL with
        C{Content-Type: application/json} and no other content type.
        """
        self.pusher.push("http://worker:9000/hook?x=1", EXECUTE)
        [request] = self.agent.requests
        self.assertEqual(request.method, b"POST")
        self.assertEqual(request.uri, b"http://worker:9000/hook?x=1")
        self.assertEqual(
            request.headers.getRawHeaders(b"content-type"), [b"application/json"]
        )
        self.assertEqual(request.body, encodeMessage(EXECUTE))

    def test_bytes(self):
        """
        A message given as bytes is sent as it is.
        """
        self.pusher.push("https://worker/", b'{"kind":"unblock"}')
        self.assertEqual(self.agent.requests[0].body, b'{"kind":"unblock"}')

    def test_2xx(self):
        """
        Every 2xx answer is a delivery, once its body has been read.
        """
        for code in (200, 201, 202, 204, 299):
            d = self.pusher.push("http://worker/", EXECUTE)
            response = self.agent.requests[-1].answer(code, b"ok", ended=False)
            self.assertNoResult(d)
            response.end()
            self.assertIs(self.successResultOf(d), True)
        self.assertEqual((self.pusher.inFlight, self.pusher.waiting), (0, 0))

    def test_not2xx(self):
        """
        Any other status is a failed push, redirects included: they are not
        followed.
        """
        for code in (100, 199, 300, 301, 302, 303, 307, 308, 400, 404, 500, 503):
            d = self.pusher.push("http://worker/", EXECUTE)
            self.agent.requests[-1].answer(code, b"no")
            self.assertIs(self.successResultOf(d), False)
        self.assertEqual(len(self.agent.requests), 12)

    def test_postAnswersStatus(self):
        """
        L{HTTPPusher.post} answers the status, whatever it is.
        """
        d = self.pusher.post("http://worker/", EXECUTE)
        self.agent.requests[0].answer(503)
        self.assertEqual(self.successResultOf(d), 503)

    def test_errors(self):
        """
        A failure to connect, to resolve or to get an answer is a failed
        push, never an error.
        """
        errors = [
            ConnectionRefusedError(),
            DNSLookupError("worker.invalid"),
            ResponseNeverReceived([Failure(Exception("TLS handshake"))]),
            RuntimeError("anything"),
        ]
        for error in errors:
            d = self.pusher.push("http://worker/", EXECUTE)
            self.agent.requests[-1].deferred.errback(error)
            self.assertIs(self.successResultOf(d), False)
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_postFails(self):
        """
        L{HTTPPusher.post} fails with the client's error.
        """
        d = self.pusher.post("http://worker/", EXECUTE)
        self.agent.requests[0].deferred.errback(ConnectionRefusedError())
        self.failureResultOf(d, ConnectionRefusedError)

    def test_unsendable(self):
        """
        A URL that is not C{http(s)} or a message that is not JSON is a
        failed push, and nothing is sent.
        """
        for url, message in [
            ("poll://any@group", EXECUTE),
            ("http://", EXECUTE),
            (None, EXECUTE),
            ("http://worker/", {"x": object()}),
            ("http://worker/", {"x": "\ud800"}),
        ]:
            self.assertIs(self.successResultOf(self.pusher.push(url, message)), False)
        self.assertEqual(self.agent.requests, [])
        self.assertEqual((self.pusher.inFlight, self.pusher.waiting), (0, 0))

    def test_bodyDropped(self):
        """
        The answer's body is read and dropped: the push answers when it
        has ended, so the connection can serve the next push.
        """
        d = self.pusher.push("http://worker/", EXECUTE)
        response = self.agent.requests[0].answer(200, b"a" * 100, b"b", ended=False)
        self.assertNoResult(d)
        self.assertEqual(self.pusher.inFlight, 1)
        response.end()
        self.assertIs(self.successResultOf(d), True)
        self.assertFalse(response.transport.stopped)
        self.assertEqual(self.pusher.inFlight, 0)

    def test_bodyLost(self):
        """
        A 2xx answer whose body is cut short is still a delivery: the target
        answered.
        """
        d = self.pusher.push("http://worker/", EXECUTE)
        response = self.agent.requests[0].answer(202, b"partial", ended=False)
        response.end(Failure(ResponseNeverReceived([])))
        self.assertIs(self.successResultOf(d), True)


class TimeoutTests(unittest.TestCase):
    """
    The request timeout.
    """

    def setUp(self):
        self.clock = Clock()
        self.agent = FakeAgent()
        self.pusher = HTTPPusher(
            self.clock, concurrency=1, requestTimeout=5.0, agent=self.agent
        )

    def test_noAnswer(self):
        """
        A request without an answer is cancelled after the request timeout,
        and the push fails; C{post} says it timed out.
        """
        pushed = self.pusher.push("http://hung/", EXECUTE)
        posted = self.pusher.post("http://hung/", EXECUTE)
        self.clock.advance(4.9)
        self.assertNoResult(pushed)
        self.assertFalse(self.agent.requests[0].cancelled)
        self.clock.advance(0.1)
        self.assertTrue(self.agent.requests[0].cancelled)
        self.assertIs(self.successResultOf(pushed), False)
        self.clock.advance(5)
        self.failureResultOf(posted, TimeoutError)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_fromStart(self):
        """
        The timeout counts from when the request starts, not from when the
        push began to wait for its slot.
        """
        first = self.pusher.push("http://a/", EXECUTE)
        second = self.pusher.push("http://b/", EXECUTE)
        self.clock.advance(3)
        self.agent.requests[0].answer(200)
        self.assertIs(self.successResultOf(first), True)
        self.clock.advance(4.9)
        self.assertNoResult(second)
        self.clock.advance(0.1)
        self.assertIs(self.successResultOf(second), False)

    def test_slowBody(self):
        """
        The timeout covers the answer's body too: a 2xx whose body never
        ends is a delivery once the timeout stops reading it.
        """
        d = self.pusher.push("http://slow/", EXECUTE)
        response = self.agent.requests[0].answer(200, b"...", ended=False)
        self.clock.advance(5)
        self.assertTrue(response.transport.stopped)
        self.assertIs(self.successResultOf(d), True)

    def test_answered(self):
        """
        A request answered in time leaves no timer behind.
        """
        d = self.pusher.push("http://a/", EXECUTE)
        self.agent.requests[0].answer(200)
        self.successResultOf(d)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class ConcurrencyTests(unittest.TestCase):
    """
    The global and per-host bounds.
    """

    def setUp(self):
        self.clock = Clock()
        self.agent = FakeAgent()

    def makePusher(self, **kwargs):
        return HTTPPusher(self.clock, agent=self.agent, **kwargs)

    def test_globalBound(self):
        """
        At most C{concurrency} requests are in flight; the others wait and
        start in turn as slots free up.
        """
        pusher = self.makePusher(concurrency=3)
        results = [pusher.push(f"http://h{i}/", EXECUTE) for i in range(5)]
        self.assertEqual(len(self.agent.requests), 3)
        self.assertEqual((pusher.inFlight, pusher.waiting), (3, 2))
        self.agent.requests[1].answer(200)
        self.assertEqual(
            [r.uri for r in self.agent.requests],
            [b"http://h0/", b"http://h1/", b"http://h2/", b"http://h3/"],
        )
        self.assertEqual((pusher.inFlight, pusher.waiting), (3, 1))
        for request in self.agent.pending():
            request.answer(204)
        self.agent.requests[-1].answer(204)
        self.assertEqual([self.successResultOf(d) for d in results], [True] * 5)
        self.assertEqual((pusher.inFlight, pusher.waiting), (0, 0))

    def test_perHostBound(self):
        """
        At most C{perHost} requests go to one host; its other pushes wait
        without holding a global slot, so pushes to other hosts start at
        once.
        """
        pusher = self.makePusher(concurrency=4, perHost=2)
        hung = [pusher.push("http://hung:1/", EXECUTE) for _ in range(5)]
        self.assertEqual(len(self.agent.requests), 2)
        self.assertEqual((pusher.inFlight, pusher.waiting), (2, 3))
        other = pusher.push("http://other/", EXECUTE)
        same = pusher.push("http://HUNG:1/another/path", EXECUTE)
        elsewhere = pusher.push("http://hung:2/", EXECUTE)
        self.assertEqual(
            [r.uri for r in self.agent.pending()[2:]],
            [b"http://other/", b"http://hung:2/"],
        )
        for request in self.agent.pending()[2:]:
            request.answer(200)
        self.assertIs(self.successResultOf(other), True)
        self.assertIs(self.successResultOf(elsewhere), True)
        for d in hung:
            self.assertNoResult(d)
        self.assertNoResult(same)
        self.assertEqual((pusher.inFlight, pusher.waiting), (2, 4))

    def test_hungHostTimesOut(self):
        """
        A hung host's pushes fail in turn, each after its own request
        timeout, while other hosts' pushes go on.
        """
        pusher = self.makePusher(concurrency=2, perHost=1, requestTimeout=10)
        hung = [pusher.push("http://hung/", EXECUTE) for _ in range(2)]
        self.clock.advance(9)
        healthy = pusher.push("http://healthy/", EXECUTE)
        self.agent.requests[-1].answer(200)
        self.assertIs(self.successResultOf(healthy), True)
        self.clock.advance(1)
        self.assertIs(self.successResultOf(hung[0]), False)
        self.assertNoResult(hung[1])
        self.clock.advance(10)
        self.assertIs(self.successResultOf(hung[1]), False)
        self.assertEqual(len(self.agent.requests), 3)

    def test_perHostAtMostConcurrency(self):
        """
        A per-host bound above the global one is the global one.
        """
        pusher = self.makePusher(concurrency=2, perHost=10)
        for _ in range(3):
            pusher.push("http://h/", EXECUTE)
        self.assertEqual((pusher.inFlight, pusher.waiting), (2, 1))

    def test_idleHostsForgotten(self):
        """
        Nothing is kept for a host once none of its pushes is in flight or
        waiting.
        """
        pusher = self.makePusher(perHost=1)
        for i in range(3):
            pusher.push(f"http://h{i}/", EXECUTE)
            pusher.push(f"http://h{i}/", EXECUTE)
        self.assertEqual(len(pusher._hosts), 3)
        while self.agent.pending():
            self.agent.pending()[0].answer(200)
        self.assertEqual(pusher._hosts, {})

    def test_cancelWaiting(self):
        """
        Cancelling a waiting push takes it out of the queue: it answers
        C{False} and is never sent.
        """
        pusher = self.makePusher(concurrency=1)
        first = pusher.push("http://a/", EXECUTE)
        second = pusher.push("http://b/", EXECUTE)
        third = pusher.push("http://c/", EXECUTE)
        second.cancel()
        self.assertIs(self.successResultOf(second), False)
        self.assertEqual((pusher.inFlight, pusher.waiting), (1, 1))
        self.agent.requests[0].answer(200)
        self.assertIs(self.successResultOf(first), True)
        self.assertEqual(
            [r.uri for r in self.agent.requests], [b"http://a/", b"http://c/"]
        )
        self.assertNoResult(third)

    def test_cancelWaitingForHost(self):
        """
        Cancelling a push waiting for its host's slot does the same.
        """
        pusher = self.makePusher(perHost=1)
        first = pusher.push("http://a/", EXECUTE)
        second = pusher.push("http://a/", EXECUTE)
        second.cancel()
        self.assertIs(self.successResultOf(second), False)
        self.agent.requests[0].answer(200)
        self.successResultOf(first)
        self.assertEqual(len(self.agent.requests), 1)
        self.assertEqual((pusher.inFlight, pusher.waiting), (0, 0))

    def test_cancelInFlight(self):
        """
        Cancelling a push in flight cancels its request and frees its slot.
        """
        pusher = self.makePusher(concurrency=1)
        first = pusher.push("http://a/", EXECUTE)
        second = pusher.push("http://b/", EXECUTE)
        first.cancel()
        self.assertTrue(self.agent.requests[0].cancelled)
        self.assertIs(self.successResultOf(first), False)
        self.assertEqual(len(self.agent.requests), 2)
        self.assertEqual((pusher.inFlight, pusher.waiting), (1, 0))
        self.agent.requests[1].answer(200)
        self.assertIs(self.successResultOf(second), True)


class CloseTests(unittest.TestCase):
    """
    Tests for L{HTTPPusher.close}.
    """

    def setUp(self):
        self.clock = Clock()
        self.agent = FakeAgent()

    def test_cancels(self):
        """
        Closing cancels the pushes in flight and waiting, which answer
        C{False}; none of the waiting ones is sent.
        """
        pusher = HTTPPusher(self.clock, concurrency=2, perHost=1, agent=self.agent)
        urls = ["http://a/", "http://a/", "http://b/", "http://c/"]
        pushes = [pusher.push(url, EXECUTE) for url in urls]
        self.assertEqual(len(self.agent.requests), 2)
        self.successResultOf(pusher.close())
        self.assertEqual([self.successResultOf(d) for d in pushes], [False] * 4)
        self.assertEqual([r.cancelled for r in self.agent.requests], [True, True])
        self.assertEqual((pusher.inFlight, pusher.waiting), (0, 0))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_afterClose(self):
        """
        Once closed, a push answers C{False} without a request, and C{post}
        fails with L{PusherClosed}.
        """
        pusher = HTTPPusher(self.clock, agent=self.agent)
        pusher.close()
        self.assertIs(self.successResultOf(pusher.push("http://a/", EXECUTE)), False)
        self.failureResultOf(pusher.post("http://a/", EXECUTE), PusherClosed)
        self.assertEqual(self.agent.requests, [])

    def test_postCancelled(self):
        """
        A C{post} waiting for its slot fails on close, cancelled or refused
        as the slot it waited for frees up; it is not sent.
        """
        pusher = HTTPPusher(self.clock, concurrency=1, agent=self.agent)
        inFlight = pusher.post("http://a/", EXECUTE)
        waiting = pusher.post("http://b/", EXECUTE)
        pusher.close()
        self.failureResultOf(inFlight, CancelledError)
        self.failureResultOf(waiting, CancelledError, PusherClosed)
        self.assertEqual(len(self.agent.requests), 1)

    def test_closesPool(self):
        """
        Without an agent given, the pusher has its own persistent pool,
        which closing closes.
        """
        pusher = HTTPPusher(self.clock, perHost=8)
        self.assertTrue(pusher._pool.persistent)
        self.assertEqual(pusher._pool.maxPersistentPerHost, 8)
        closed = []
        pusher._pool.closeCachedConnections = lambda: closed.append(True) or Deferred()
        d = pusher.close()
        self.assertEqual(closed, [True])
        self.assertNoResult(d)
