# -*- test-case-name: tests.unit.test_api_sse,tests.integration.test_sse -*-
"""
Server-Sent Events for the 2026 protocol's workers (protocol §6, §11):
C{GET /poll/{group}/{id}} opens a stream, and the messages addressed to
C{poll://uni@group/id} or C{poll://any@group[/id]} are written to it.

L{PollRegistry} holds the open streams by C{(group, id)} and picks the one a
message goes to; L{servePoll} answers the request, registering its stream
before the answer starts, so a message sent as soon as the client has the
headers reaches it.  L{SSEStream} is one open stream: it writes to the
connection only while the connection keeps up, queues a bounded number of
messages while it does not, and refuses the rest (L{PollRegistry.deliver}
answers C{False}, and the message stays in the outbox), so a client that
stops reading cannot make the server buffer without bound.

With JWT auth on, a stream belongs to the principal its request was
authenticated as (the site checks the C{Authorization: Bearer} token and
sets C{request.principal}; protocol section 11 asks no more).  A stream
whose principal is restricted to a prefix only ever receives messages
about ids it allows: an C{execute} whose task id, or an C{unblock} whose
promise id, starts with its prefix.  The choice of a connection respects
it: a unicast message goes to the first connection under its id that may
receive it, an anycast one to one of those of its group that may; when
none may, L{PollRegistry.deliver} answers C{False}, as for an absent
connection, and the message stays in the outbox (DECISIONS 29) for a
stream that may receive it, or until it expires.  Nothing is dropped to
filter it, so nothing is lost.

Each message is one event, C{data: <JSON on one line>\\n\\n}.  The JSON is
ASCII-only: resonate-sdk 0.8.1 splits an event into lines with
C{str.splitlines}, which also breaks at U+2028, U+0085 and the like, and
decodes each chunk of the body by itself, dropping a chunk that ends inside
a multi-byte character; escaped, neither can happen.
"""

import json
import random as _random
from collections import deque

from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.web.server import NOT_DONE_YET
from zope.interface import implementer

from resonate.api.tokens import EVERYONE
from resonate.model.addresses import Cast, PollAddress, parseAddress


#: The 503 body when the registry is full (the reference's text).
AT_CAPACITY = b"Poll registration at capacity"

#: A comment event: ignored by every SSE client, it only keeps the
#: connection busy (see L{PollRegistry}'s C{keepAlive}).
_COMMENT = b":\n\n"

_encodeJSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


def encodeEvent(message):
    """
    One SSE event carrying C{message}.

    @param message: a JSON-able C{dict}.
    @return: C{b"data: <compact ASCII JSON>\\n\\n"}: the JSON has no line
        break (JSON escapes them inside strings) and no byte above 127.
    """
    return b"data: " + _encodeJSON(message).encode("ascii") + b"\n\n"


def messageSubject(message):
    """
    The id a message is about, which a restricted stream must be allowed
    to receive it: an C{execute}'s task id, an C{unblock}'s promise id.

    @param message: the message as delivered, a C{dict}.
    @return: a C{str}, or L{None} for any other message (then only an
        unrestricted stream receives it).
    """
    kind = message.get("kind")
    data = message.get("data")
    if not isinstance(data, dict):
        return None
    if kind == "execute":
        record = data.get("task")
    elif kind == "unblock":
        record = data.get("promise")
    else:
        return None
    subject = record.get("id") if isinstance(record, dict) else None
    return subject if isinstance(subject, str) else None


def mayReceive(connection, subject):
    """
    Whether C{connection} may receive a message about C{subject}: its
    C{principal} (none: L{EVERYONE}) is unrestricted, or allows the id.
    """
    principal = getattr(connection, "principal", None) or EVERYONE
    if principal.unrestricted:
        return True
    return subject is not None and principal.allows(subject)


#: The subject of a question about any message (L{PollRegistry.isConnected}
#: without one): every connection counts.
_ANY = object()


def _asPollAddress(address):
    """
    C{address} as a L{PollAddress}, parsing a C{str}; L{None} for any other
    address.
    """
    if isinstance(address, str):
        address = parseAddress(address)
    return address if isinstance(address, PollAddress) else None


class PollRegistry:
    """
    The open SSE streams, by C{(group, id)}, and the routing of messages to
    them.

    A connection is any object with C{send(data) -> bool} (write, or queue,
    one event's bytes; C{False} when it refuses them), C{canSend() -> bool}
    (whether C{send} would take a small event now), C{close()} (end the
    stream) and C{bufferedBytes} (bytes accepted but not yet handed to the
    network); L{SSEStream} is the real one.  It may have a C{principal}
    (a L{resonate.api.tokens.Principal}; none is L{EVERYONE}), which
    restricts the messages it receives (L{mayReceive}).  Many connections
    may share a group and even an id; the first registered under an id
    that may receive a message is the one it goes to.

    @ivar maxConnections: how many connections may be open at once.
    @ivar bufferSize: how many messages a connection holds while its client
        does not keep up.
    @ivar maxBufferedBytes: how many bytes of messages a connection holds
        while its client does not keep up (one message is held whatever its
        size, so that no message is too large ever to be delivered).
    """

    _log = Logger()

    def __init__(
        self, maxConnections=1000, bufferSize=100, reactor=None, random=None,
        observers=(), maxBufferedBytes=1024 * 1024, keepAlive=None,
    ):
        """
        @param reactor: the C{IReactorTime} that times C{keepAlive}; the
            global reactor when L{None} and needed.
        @param random: the C{random.Random} that picks a connection for an
            anycast message; a new one when L{None}.
        @param observers: callables, called as C{observer(group, id)} once a
            connection is registered (the delivery loop wakes on it: a
            message waiting for that address can go now).
        @param keepAlive: L{None} (the default, as the reference: no
            comments), or seconds between comment events written to every
            idle stream.  SDKs ignore them; they keep proxies that close
            idle connections from closing the stream, and make the server
            notice a client that vanished without closing (a write to it
            fails), which frees its place under C{maxConnections}.
        """
        if maxConnections < 1 or bufferSize < 1:
            raise ValueError("maxConnections and bufferSize must be positive")
        self.maxConnections = maxConnections
        self.bufferSize = bufferSize
        self.maxBufferedBytes = maxBufferedBytes
        self._reactor = reactor
        self._random = random if random is not None else _random.Random()
        self._observers = list(observers)
        self._keepAlive = keepAlive
        self._keepAliveCall = None
        # (group, id) -> connections, and group -> connections, both in the
        # order they registered.
        self._byKey = {}
        self._byGroup = {}
        self._closed = False

    @property
    def connectionCount(self):
        """
        How many connections are registered.
        """
        return sum(len(connections) for connections in self._byGroup.values())

    @property
    def bufferedBytes(self):
        """
        The bytes of messages that every connection holds, accepted but not
        yet handed to the network.
        """
        return sum(
            connection.bufferedBytes
            for connections in self._byGroup.values()
            for connection in connections
        )

    def connectedKeys(self):
        """
        The C{(group, id)} pairs with at least one connection, in the order
        they were first registered.
        """
        return list(self._byKey)

    def connectedGroups(self):
        """
        The groups with at least one connection.
        """
        return list(self._byGroup)

    def addObserver(self, observer):
        """
        Call C{observer(group, id)} whenever a connection is registered.
        """
        self._observers.append(observer)

    def removeObserver(self, observer):
        """
        Stop calling C{observer}.
        """
        self._observers.remove(observer)

    def register(self, group, id, connection):
        """
        Add C{connection} under C{(group, id)}, then tell the observers.

        @return: C{True}, or C{False} when C{maxConnections} are open already
            or the registry is closed (the request answers 503).
        """
        if self._closed or self.connectionCount >= self.maxConnections:
            return False
        self._byKey.setdefault((group, id), []).append(connection)
        self._byGroup.setdefault(group, []).append(connection)
        self._startKeepAlive()
        for observer in list(self._observers):
            try:
                observer(group, id)
            except Exception:
                self._log.failure(
                    "a poll registration observer failed for {group}/{id}",
                    group=group, id=id,
                )
        return True

    def unregister(self, group, id, connection):
        """
        Remove C{connection} from C{(group, id)}; nothing if it is not there.
        """
        if connection not in self._byKey.get((group, id), ()):
            return
        for table, key in ((self._byKey, (group, id)), (self._byGroup, group)):
            connections = table[key]
            connections.remove(connection)
            if not connections:
                del table[key]

    def _chosen(self, address, needRoom=False, subject=_ANY):
        """
        The connection a message for C{address} goes to, or L{None}.

        @param needRoom: whether to pick, for an anycast message without a
            connected id, only among the connections that can take it now
            (a backed-up worker must not get work another could start).
        @param subject: the id the message is about (L{messageSubject}):
            only connections that may receive it are chosen; L{_ANY} for
            every connection.
        """
        address = _asPollAddress(address)
        if address is None:
            return None

        def allowed(connections):
            if subject is _ANY:
                return list(connections)
            return [c for c in connections if mayReceive(c, subject)]

        if address.id is not None:
            connections = allowed(self._byKey.get((address.group, address.id), ()))
            if connections:
                return connections[0]
        if address.cast is Cast.UNI:
            return None
        connections = allowed(self._byGroup.get(address.group, ()))
        if needRoom:
            connections = [c for c in connections if c.canSend()]
        if not connections:
            return None
        return self._random.choice(connections)

    def isConnected(self, address):
        """
        Whether a connection matches C{address} (a L{PollAddress} or its
        C{str}): for unicast, one registered under its group and id; for
        anycast, one of its group.  Any other address: C{False}.
        """
        return self._chosen(address) is not None

    def canDeliver(self, address, subject=_ANY):
        """
        Whether L{deliver} would write a message to C{address} now: a
        connection matches (and may receive a message about C{subject},
        when given) and has room for it (a very large message may still be
        refused by the byte bound).
        """
        connection = self._chosen(address, needRoom=True, subject=subject)
        return connection is not None and connection.canSend()

    def deliver(self, address, message):
        """
        Write C{message} as one event to the connection C{address} picks,
        among those that may receive it (L{mayReceive}, for the id
        L{messageSubject} reads): unicast, the first connection of its
        group with its id; anycast, that one if connected, else a random
        one of its group among those with room.

        @param address: a L{PollAddress}, or an address C{str}.
        @param message: the message, a JSON-able C{dict}.
        @return: C{True} when written (or queued behind earlier messages on
            that connection); C{False} when no connection matches, none that
            matches may receive it, or the chosen one's buffer is full: the
            message is not written (the outbox keeps it).
        """
        connection = self._chosen(
            address, needRoom=True, subject=messageSubject(message)
        )
        if connection is None:
            return False
        return connection.send(encodeEvent(message))

    def closeAll(self):
        """
        End every stream cleanly (for shutdown): each is flushed and its
        response finished, and no connection is accepted any more.
        """
        self._closed = True
        self._stopKeepAlive()
        connections = [c for cs in self._byGroup.values() for c in cs]
        self._byKey.clear()
        self._byGroup.clear()
        for connection in connections:
            connection.close()

    def _startKeepAlive(self):
        if self._keepAlive is None or self._keepAliveCall is not None:
            return
        if self._reactor is None:
            from twisted.internet import reactor

            self._reactor = reactor
        self._keepAliveCall = LoopingCall(self._sendComments)
        self._keepAliveCall.clock = self._reactor
        self._keepAliveCall.start(self._keepAlive, now=False)

    def _stopKeepAlive(self):
        if self._keepAliveCall is not None:
            self._keepAliveCall.stop()
            self._keepAliveCall = None

    def _sendComments(self):
        for connections in list(self._byGroup.values()):
            for connection in list(connections):
                # A backed-up stream is busy already; a comment would only
                # take a message's place.
                if connection.bufferedBytes == 0 and connection.canSend():
                    connection.send(_COMMENT)


@implementer(IPushProducer)
class SSEStream:
    """
    One open SSE response, and its bounded buffer.

    It is the push producer of its request: the transport pauses it when
    its own buffer passes its high-water mark (64 KiB for TCP) and resumes
    it once that buffer has drained.  While running it writes each event
    straight through; while paused it queues events, up to C{bufferSize}
    of them and C{maxBufferedBytes} bytes (one event always fits in an
    empty queue), and refuses the rest.  What one connection holds is thus
    bounded: the transport's high-water mark plus one event, plus the
    queue.

    @ivar bufferedBytes: the bytes queued here, not yet written.
    @ivar principal: the L{resonate.api.tokens.Principal} of its request,
        which restricts what it receives.
    """

    def __init__(self, request, bufferSize, maxBufferedBytes, principal=EVERYONE):
        self.principal = principal
        self._request = request
        self._bufferSize = bufferSize
        self._maxBufferedBytes = maxBufferedBytes
        self._queue = deque()
        self.bufferedBytes = 0
        # Until started, events queue: registration comes before the
        # headers are written.
        self._paused = True
        self._done = False

    def start(self):
        """
        Become the request's producer, send the response headers, then what
        was queued meanwhile.
        """
        self._request.registerProducer(self, True)
        self._request.write(b"")
        # A pipelined answer before this one may have filled the transport
        # already; the channel would not tell the new producer.
        self._paused = bool(
            getattr(self._request.channel, "_waitingForTransport", False)
        )
        # Nothing is written to an idle stream: let TCP notice a client
        # that vanished without closing, so its place is freed some day.
        transport = getattr(self._request.channel, "transport", None)
        setTcpKeepAlive = getattr(transport, "setTcpKeepAlive", None)
        if setTcpKeepAlive is not None:
            setTcpKeepAlive(True)
        self._flush()

    def canSend(self):
        """
        Whether L{send} would take a small event now.
        """
        if self._done:
            return False
        if not self._paused and not self._queue:
            return True
        return (
            len(self._queue) < self._bufferSize
            and self.bufferedBytes < self._maxBufferedBytes
        )

    def send(self, data):
        """
        Write C{data} (one event) now, or queue it behind the others.

        @return: whether it was taken; C{False} when the queue is full (or
            the stream has ended).
        """
        if self._done:
            return False
        if not self._paused and not self._queue:
            self._request.write(data)
            return True
        if len(self._queue) >= self._bufferSize or (
            self._queue and self.bufferedBytes + len(data) > self._maxBufferedBytes
        ):
            return False
        self._queue.append(data)
        self.bufferedBytes += len(data)
        return True

    def _flush(self):
        while self._queue and not self._paused and not self._done:
            data = self._queue.popleft()
            self.bufferedBytes -= len(data)
            # May pause this producer again, synchronously.
            self._request.write(data)

    def pauseProducing(self):
        self._paused = True

    def resumeProducing(self):
        self._paused = False
        self._flush()

    def stopProducing(self):
        # The connection is going away: what is queued can go nowhere.
        self._done = True
        self._queue.clear()
        self.bufferedBytes = 0

    def close(self):
        """
        End the stream: hand what is queued to the transport (it flushes
        it before closing), then finish the response.
        """
        if self._done:
            return
        self._done = True
        request = self._request
        if getattr(request, "_disconnected", False) or request.finished:
            self.stopProducing()
            return
        # Past the transport's high-water mark if need be: it is bounded,
        # and the connection closes once it has written it.
        while self._queue:
            request.write(self._queue.popleft())
        self.bufferedBytes = 0
        request.unregisterProducer()
        request.finish()


def servePoll(registry, request, group, id):
    """
    Answer C{GET /poll/{group}/{id}}: register a stream under C{(group, id)},
    then start a response that lasts until the client goes or the registry
    closes it.

    @param registry: the L{PollRegistry}.
    @param request: the C{twisted.web} request.
    @return: L{NOT_DONE_YET}, or the body of an answer that ends at once
        (503 when the registry is full; C{HEAD} gets the headers only).
    """
    if request.method == b"HEAD":
        # A stream without a body would hold its place for nothing.
        _streamHeaders(request)
        return b""
    # The site has authenticated the request (JWT on: its Bearer token).
    principal = getattr(request, "principal", None) or EVERYONE
    stream = SSEStream(
        request, registry.bufferSize, registry.maxBufferedBytes, principal
    )
    if not registry.register(group, id, stream):
        request.setResponseCode(503)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return AT_CAPACITY
    # Registered first (an event delivered meanwhile waits in the stream):
    # once the client has the headers, every event reaches it.
    _streamHeaders(request)
    stream.start()
    request.notifyFinish().addBoth(_deregister, registry, group, id, stream)
    # Read by APISite.closeConnections, which ends the stream on shutdown.
    request.endStream = stream.close
    return NOT_DONE_YET


def _streamHeaders(request):
    request.setResponseCode(200)
    request.setHeader(b"content-type", b"text/event-stream")
    request.setHeader(b"cache-control", b"no-cache")


def _deregister(result, registry, group, id, stream):
    """
    The response is over, finished or cut off: forget its stream.
    """
    stream.stopProducing()
    registry.unregister(group, id, stream)
