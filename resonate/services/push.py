# -*- test-case-name: tests.unit.test_services_push,tests.integration.test_push -*-
"""
HTTP push: deliver a message to an C{http://} or C{https://} address.

The 2026 protocol (§6, §10) delivers an C{execute} or C{unblock} message to
an HTTP address by C{POST}ing its JSON to the URL with C{Content-Type:
application/json}; a 2xx answer is a delivery, anything else (another
status, a refused connection, a DNS or TLS failure, a timeout) is not.
L{HTTPPusher} is that transport and only that: it answers C{True} or
C{False} per push, and the retry policy (DECISIONS 29: a failing push is
retried with backoff for a bounded time) belongs to the delivery loop.

Bounds, as the reference's (concurrency 256, connect timeout 10 s, request
timeout 180 s), plus one it does not have:

  - At most C{concurrency} requests are in flight; more pushes wait, first
    come first served.
  - At most C{perHost} of them go to one host (scheme, host and port).  A
    target that accepts connections and never answers holds each of its
    slots until the request timeout; without this bound a busy outbox
    would fill all C{concurrency} slots with requests to that one target
    within a fraction of a second, and every other delivery would wait
    minutes behind it.  Pushes waiting for their host's slot hold no global
    slot, so other hosts go on.  The default, a quarter of the default
    concurrency, still lets one worker URL (a serverless endpoint that
    scales with concurrent requests, say) take 64 pushes at once, and it
    takes four hosts hanging at once to stall the rest.
  - The request timeout covers the whole exchange once a push has its slots
    (connecting, sending, the answer and its body), not the wait for them;
    a caller that wants a deadline including the wait cancels the push.

Connections are persistent: the answer's body is read and dropped, so the
connection goes back to the pool for the next push to that host.
Redirects are not followed (a 3xx is a failed push): the message is meant
for the address given, and a C{POST} redirected with 301, 302 or 303 would
arrive as a C{GET} without it.

Outbound authentication (§10 C{transports.http_push.auth}: a static bearer
token or a GCP id token) is not implemented yet.
"""

import json
from urllib.parse import urlsplit

from treq.client import HTTPClient
from twisted.internet.defer import (
    Deferred,
    DeferredSemaphore,
    TimeoutError,
    fail,
    succeed,
)
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

#: Compact UTF-8 JSON, as the API writes its answers.
_encodeJSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

_DEFAULT_PORTS = {"http": 80, "https": 443}

_CONTENT_TYPE = b"application/json"


class PusherClosed(Exception):
    """
    The L{HTTPPusher} was closed: it pushes nothing more.
    """


def hostKey(url):
    """
    The host a push to C{url} goes to: what the per-host bound counts.

    @param url: an C{http://} or C{https://} URL, as a L{str}.
    @return: C{(scheme, host, port)}, the scheme and host lower-cased and
        the port made explicit.
    @raise ValueError: C{url} is not an C{http(s)} URL with a host.
    """
    if not isinstance(url, str):
        raise ValueError(f"not a URL: {url!r}")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) URL with a host: {url!r}")
    return (scheme, parts.hostname, parts.port or _DEFAULT_PORTS[scheme])


def encodeMessage(message):
    """
    The body of a push of C{message}.

    @param message: a JSON-able object, or L{bytes} already encoded.
    @return: compact UTF-8 JSON, as L{bytes}.
    @raise ValueError: C{message} cannot be encoded (a lone surrogate,
        say).
    @raise TypeError: C{message} is not JSON-able.
    """
    if isinstance(message, bytes):
        return message
    return _encodeJSON(message).encode("utf-8")


@implementer(IBodyProducer)
class _BytesProducer:
    """
    A request body known in advance, written at once.

    (treq's default for L{bytes} writes through the global cooperator,
    hence the global reactor; this one needs no reactor at all.)
    """

    def __init__(self, body):
        self._body = body
        self.length = len(body)

    def startProducing(self, consumer):
        consumer.write(self._body)
        return succeed(None)

    def stopProducing(self):
        pass

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass


class _DiscardBody(Protocol):
    """
    Read an answer's body and drop it, then fire C{done} with the status.

    Whatever ends the body (its end, a lost connection, cancelling C{done})
    the answer's status stands: the target has answered.  Cancelling stops
    the delivery, which closes the connection.

    @ivar done: the C{Deferred} fired with the status.
    """

    def __init__(self, code):
        self._code = code
        self.done = Deferred(self._cancel)

    def dataReceived(self, data):
        pass

    def connectionLost(self, reason):
        if not self.done.called:
            self.done.callback(self._code)

    def _cancel(self, done):
        if self.transport is not None:
            self.transport.stopProducing()
        if not done.called:
            done.callback(self._code)


def _discardBody(response):
    """
    Drop C{response}'s body.

    @return: a cancellable C{Deferred} that fires with C{response.code}
        once the body has ended.
    """
    protocol = _DiscardBody(response.code)
    response.deliverBody(protocol)
    return protocol.done


def _timedOut(result, timeout):
    """
    What a request cancelled by its timeout answers: its status if it had
    one, else a C{TimeoutError} (the agent reports a cancelled request as
    a C{ResponseNeverReceived}, not as a C{CancelledError}).
    """
    if isinstance(result, Failure):
        return Failure(TimeoutError(f"no answer within {timeout} seconds"))
    return result


class HTTPPusher:
    """
    POST messages to HTTP addresses, over persistent connections, with
    bounded concurrency and timeouts.

    @ivar requestTimeout: seconds a request may take once it has its
        slots.
    @ivar inFlight: how many requests are in flight.
    @ivar waiting: how many pushes wait for a slot (their host's or a
        global one).
    """

    _log = Logger()

    def __init__(
        self,
        reactor,
        concurrency=256,
        connectTimeout=10.0,
        requestTimeout=180.0,
        agent=None,
        perHost=64,
    ):
        """
        @param reactor: the reactor to connect with and to time requests
            on (an C{IReactorTCP}, C{IReactorTime} and, for C{https},
            C{IReactorSSL}).
        @param concurrency: the most requests in flight at once.
        @param connectTimeout: seconds a connection may take to be made.
        @param requestTimeout: seconds a request may take once it has its
            slots, its answer's body included.
        @param agent: L{None} for a C{twisted.web.client.Agent} over a
            persistent connection pool of this pusher's, or the C{IAgent}
            to send with (then C{connectTimeout} is its business, and
            L{close} closes no pool).
        @param perHost: the most requests in flight to one host (at most
            C{concurrency}).
        """
        self._reactor = reactor
        self.requestTimeout = requestTimeout
        self._perHost = max(1, min(perHost, concurrency))
        self._slots = DeferredSemaphore(concurrency)
        self._hosts = {}
        self._pool = None
        if agent is None:
            self._pool = HTTPConnectionPool(reactor, persistent=True)
            # Keep as many idle connections to a host as may be busy.
            self._pool.maxPersistentPerHost = self._perHost
            agent = Agent(reactor, connectTimeout=connectTimeout, pool=self._pool)
        self._agent = agent
        self._pushes = set()
        self._closed = False
        self.inFlight = 0
        self.waiting = 0

    def push(self, url, message):
        """
        Deliver C{message} to C{url}.

        @param url: an C{http://} or C{https://} URL.
        @param message: a JSON-able object, or its JSON as L{bytes}.
        @return: a C{Deferred} that fires with C{True} once the target has
            answered 2xx, and with C{False} for anything else: another
            status, a failure to connect, send or read, a timeout, a URL or
            message that cannot be sent, cancellation, L{close}.  It never
            fails.  Why a push failed is logged at debug level only: the
            caller, which retries, decides what is worth a warning.  For a
            deadline that covers the wait for a slot too, C{push(url,
            message).addTimeout(seconds, clock)} answers C{False} when it
            expires.
        """
        d = self.post(url, message)

        def answered(code):
            if 200 <= code < 300:
                return True
            self._log.debug("push to {url} answered {code}", url=url, code=code)
            return False

        def failed(failure):
            self._log.debug(
                "push to {url} failed: {error}",
                url=url,
                error=failure.getErrorMessage() or failure.type.__name__,
            )
            return False

        return d.addCallbacks(answered, failed)

    def post(self, url, body):
        """
        C{POST} C{body} to C{url} within the bounds, and read the answer.

        @param url: an C{http://} or C{https://} URL.
        @param body: a JSON-able object, or its JSON as L{bytes}.
        @return: a cancellable C{Deferred} that fires with the answer's
            HTTP status (whatever it is), or fails: C{ValueError} or
            C{TypeError} for a URL or body that cannot be sent,
            L{PusherClosed} once closed, C{CancelledError} if cancelled
            while waiting, C{twisted.internet.defer.TimeoutError} for the
            request timeout, or the client's error.
        """
        if self._closed:
            return fail(PusherClosed())
        try:
            key = hostKey(url)
            data = encodeMessage(body)
        except (ValueError, TypeError):
            return fail()
        hostSlots = self._hosts.get(key)
        if hostSlots is None:
            hostSlots = self._hosts[key] = DeferredSemaphore(self._perHost)
        self.waiting += 1
        started = False

        def start():
            nonlocal started
            started = True
            self.waiting -= 1
            if self._closed:
                raise PusherClosed()
            self.inFlight += 1
            return self._request(url, data).addBoth(stopped)

        def stopped(result):
            self.inFlight -= 1
            return result

        def finished(result):
            if not started:
                self.waiting -= 1
            self._pushes.discard(d)
            if (
                self._hosts.get(key) is hostSlots
                and hostSlots.tokens == hostSlots.limit
                and not hostSlots.waiting
            ):
                del self._hosts[key]
            return result

        # The host's slot first: a push waiting for a busy host holds no
        # global slot.
        d = hostSlots.run(self._slots.run, start)
        self._pushes.add(d)
        return d.addBoth(finished)

    def _request(self, url, data):
        """
        Send one request and drop its answer's body.

        @return: a cancellable C{Deferred} that fires with the status.
        """
        # A client per request, as treq.request makes one: no cookies are
        # kept from one push to the next.
        d = HTTPClient(self._agent).request(
            "POST",
            url,
            headers=Headers({b"Content-Type": [_CONTENT_TYPE]}),
            data=_BytesProducer(data),
            allow_redirects=False,
            unbuffered=True,
            reactor=self._reactor,
        )
        d.addCallback(_discardBody)
        return d.addTimeout(
            self.requestTimeout, self._reactor, onTimeoutCancel=_timedOut
        )

    def close(self):
        """
        Stop pushing: cancel the pushes in flight and waiting (they answer
        C{False}), answer C{False} to any later push, and close the idle
        connections.

        @return: a C{Deferred} that fires once the connections are closed.
        """
        self._closed = True
        for d in list(self._pushes):
            d.cancel()
        if self._pool is None:
            return succeed(None)
        return self._pool.closeCachedConnections()
