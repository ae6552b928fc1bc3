"""
Tests for L{resonate.api.sse}: the routing of L{PollRegistry} over fake
connections, the bounded buffer of L{SSEStream} over a fake request, and
C{GET /poll/{group}/{id}} served by the site to an in-memory transport.
"""

import json
import random

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial import unittest

from resonate.api.http import APISite, HTTPAPI
from resonate.api.operations import Operations
from resonate.api.sse import (
    PollRegistry,
    SSEStream,
    encodeEvent,
    mayReceive,
    messageSubject,
)
from resonate.api.tokens import Principal
from resonate.model.addresses import Cast, PollAddress
from resonate.store.memory import MemoryStore

EXECUTE = {"kind": "execute", "head": {"serverUrl": "http://s"},
           "data": {"task": {"id": "t", "version": 1}}}


class FakeConnection:
    """
    A connection that records the events sent to it and takes at most
    C{room} of them (any number when L{None}).
    """

    bufferedBytes = 0

    def __init__(self, name="c", room=None):
        self.name = name
        self.room = room
        self.sent = []
        self.closed = False

    def canSend(self):
        return not self.closed and (self.room is None or len(self.sent) < self.room)

    def send(self, data):
        if not self.canSend():
            return False
        self.sent.append(data)
        return True

    def close(self):
        self.closed = True

    def __repr__(self):
        return f"<FakeConnection {self.name}>"


class EncodeEventTests(unittest.TestCase):
    """
    L{encodeEvent} writes one event the SDK's framer reads whole.
    """

    def test_compactOneLine(self):
        """
        C{data: }, compact JSON, a blank line; nothing else.
        """
        self.assertEqual(
            encodeEvent({"kind": "unblock", "head": {}, "data": {"a": [1, 2]}}),
            b'data: {"kind":"unblock","head":{},"data":{"a":[1,2]}}\n\n',
        )

    def test_noLineBreakNoNonASCII(self):
        """
        Line breaks of every kind that C{str.splitlines} knows, and every
        non-ASCII character, are escaped: the event is one ASCII line.
        """
        text = "a\nb\rc\u2028d\u2029e\x85f\x1cg\u00e9h\U0001F600"
        event = encodeEvent({"t": text})
        self.assertTrue(event.isascii())
        line = event[:-2].decode("ascii")
        self.assertEqual(line.splitlines(), [line])
        self.assertEqual(json.loads(line[len("data: "):]), {"t": text})


class PollRegistryTests(unittest.TestCase):
    """
    L{PollRegistry} routes messages by poll address (protocol §6, §11).
    """

    def registry(self, **kwargs):
        kwargs.setdefault("random", random.Random(7))
        return PollRegistry(**kwargs)

    def test_unicastFirstOfItsId(self):
        """
        A unicast message goes to the first connection registered under its
        group and id, and only there.
        """
        registry = self.registry()
        first, second, other = FakeConnection(), FakeConnection(), FakeConnection()
        registry.register("g", "a", first)
        registry.register("g", "a", second)
        registry.register("g", "b", other)
        self.assertTrue(registry.deliver("poll://uni@g/a", EXECUTE))
        self.assertEqual(first.sent, [encodeEvent(EXECUTE)])
        self.assertEqual((second.sent, other.sent), ([], []))

    def test_unicastNotConnected(self):
        """
        A unicast message for an id nobody holds, or with no id, is not
        delivered, even though its group has connections.
        """
        registry = self.registry()
        connection = FakeConnection()
        registry.register("g", "a", connection)
        for address in ["poll://uni@g/b", "poll://uni@g", "poll://uni@h/a"]:
            self.assertFalse(registry.deliver(address, EXECUTE), address)
            self.assertFalse(registry.isConnected(address), address)
            self.assertFalse(registry.canDeliver(address), address)
        self.assertEqual(connection.sent, [])

    def test_unicastFullDropped(self):
        """
        A unicast message for a connection whose buffer is full is dropped,
        even when the same id has another connection.
        """
        registry = self.registry()
        full, spare = FakeConnection(room=0), FakeConnection()
        registry.register("g", "a", full)
        registry.register("g", "a", spare)
        self.assertTrue(registry.isConnected("poll://uni@g/a"))
        self.assertFalse(registry.canDeliver("poll://uni@g/a"))
        self.assertFalse(registry.deliver("poll://uni@g/a", EXECUTE))
        self.assertEqual(spare.sent, [])

    def test_anycastPrefersItsId(self):
        """
        An anycast message with an id goes to that id's connection when it
        is connected.
        """
        registry = self.registry()
        connections = {name: FakeConnection(name) for name in "abcde"}
        for name, connection in connections.items():
            registry.register("g", name, connection)
        for _ in range(20):
            self.assertTrue(registry.deliver("poll://any@g/c", EXECUTE))
        self.assertEqual(len(connections["c"].sent), 20)

    def test_anycastRandomInGroup(self):
        """
        An anycast message without an id, or whose id is not connected, goes
        to a connection of its group picked by the injected C{Random}.
        """
        registry = self.registry(random=random.Random(3))
        connections = [FakeConnection(name) for name in "abcd"]
        for connection in connections:
            registry.register("g", connection.name, connection)
        registry.register("h", "x", FakeConnection("x"))
        expected = random.Random(3)
        for address in ["poll://any@g", "poll://any@g/zz"] * 10:
            pick = expected.choice(connections)
            before = len(pick.sent)
            self.assertTrue(registry.deliver(address, EXECUTE))
            self.assertEqual(len(pick.sent), before + 1)
        self.assertEqual(sum(len(c.sent) for c in connections), 20)
        self.assertGreater(len([c for c in connections if c.sent]), 1)

    def test_anycastSkipsFull(self):
        """
        An anycast message without a connected id goes to a connection with
        room; when none has room it is dropped.
        """
        registry = self.registry()
        full, spare = FakeConnection("full", room=0), FakeConnection("spare", room=5)
        registry.register("g", "a", full)
        registry.register("g", "b", spare)
        for _ in range(5):
            self.assertTrue(registry.canDeliver("poll://any@g"))
            self.assertTrue(registry.deliver("poll://any@g", EXECUTE))
        self.assertEqual(len(spare.sent), 5)
        self.assertTrue(registry.isConnected("poll://any@g"))
        self.assertFalse(registry.canDeliver("poll://any@g"))
        self.assertFalse(registry.deliver("poll://any@g", EXECUTE))

    def test_anycastFullIdDropped(self):
        """
        An anycast message whose id is connected goes there even when full
        (it is dropped, as a unicast one would be).
        """
        registry = self.registry()
        full, spare = FakeConnection("full", room=0), FakeConnection("spare")
        registry.register("g", "a", full)
        registry.register("g", "b", spare)
        self.assertFalse(registry.canDeliver("poll://any@g/a"))
        self.assertFalse(registry.deliver("poll://any@g/a", EXECUTE))
        self.assertEqual(spare.sent, [])

    def test_groupIsolation(self):
        """
        Connections of one group never receive another group's messages,
        whatever the cast, even under the same id.
        """
        registry = self.registry()
        mine, theirs = FakeConnection("mine"), FakeConnection("theirs")
        registry.register("g", "a", mine)
        registry.register("h", "a", theirs)
        for address in ["poll://uni@g/a", "poll://any@g/a", "poll://any@g"] * 5:
            self.assertTrue(registry.deliver(address, EXECUTE))
        self.assertEqual((len(mine.sent), theirs.sent), (15, []))
        self.assertFalse(registry.deliver("poll://any@i", EXECUTE))
        self.assertFalse(registry.deliver("poll://any@G/a", EXECUTE))

    def test_parsedAddress(self):
        """
        A parsed L{PollAddress} is as good as its string; other addresses
        are never delivered.
        """
        registry = self.registry()
        connection = FakeConnection()
        registry.register("g", "a", connection)
        address = PollAddress(Cast.UNI, "g", "a")
        self.assertTrue(registry.isConnected(address))
        self.assertTrue(registry.canDeliver(address))
        self.assertTrue(registry.deliver(address, EXECUTE))
        for other in ["http://g/a", "nope", None, 3]:
            self.assertFalse(registry.isConnected(other))
            self.assertFalse(registry.canDeliver(other))
            self.assertFalse(registry.deliver(other, EXECUTE))
        self.assertEqual(len(connection.sent), 1)

    def test_percentDecoded(self):
        """
        An address's group and id are compared percent-decoded, as the
        path segments of C{GET /poll/{group}/{id}} are.
        """
        registry = self.registry()
        connection = FakeConnection()
        registry.register("my group", "a/b", connection)
        self.assertTrue(registry.deliver("poll://uni@my%20group/a%2Fb", EXECUTE))
        self.assertEqual(len(connection.sent), 1)

    def test_cap(self):
        """
        Beyond C{maxConnections}, registration is refused; a connection
        that goes frees its place.
        """
        registry = self.registry(maxConnections=2)
        first, second, third = FakeConnection(), FakeConnection(), FakeConnection()
        self.assertTrue(registry.register("g", "a", first))
        self.assertTrue(registry.register("h", "a", second))
        self.assertFalse(registry.register("g", "b", third))
        self.assertEqual(registry.connectionCount, 2)
        self.assertFalse(registry.isConnected("poll://uni@g/b"))
        registry.unregister("g", "a", first)
        self.assertTrue(registry.register("g", "b", third))
        self.assertEqual(registry.connectionCount, 2)

    def test_unregister(self):
        """
        Unregistering removes that connection only: the next of its id
        becomes the first; a connection not registered is ignored.
        """
        registry = self.registry()
        first, second = FakeConnection(), FakeConnection()
        registry.register("g", "a", first)
        registry.register("g", "a", second)
        registry.unregister("g", "a", first)
        registry.unregister("g", "a", first)
        registry.unregister("g", "b", second)
        registry.unregister("x", "y", second)
        self.assertEqual(registry.connectionCount, 1)
        self.assertTrue(registry.deliver("poll://uni@g/a", EXECUTE))
        self.assertEqual((first.sent, len(second.sent)), ([], 1))
        registry.unregister("g", "a", second)
        self.assertEqual(registry.connectionCount, 0)
        self.assertFalse(registry.isConnected("poll://any@g"))
        self.assertEqual((registry._byKey, registry._byGroup), ({}, {}))

    def test_connectedKeysAndGroups(self):
        """
        C{connectedKeys} and C{connectedGroups} list what has a connection
        now (the delivery loop takes the messages for them), once each.
        """
        registry = self.registry()
        first = FakeConnection()
        registry.register("g", "a", first)
        registry.register("g", "a", FakeConnection())
        registry.register("g", "b", FakeConnection())
        registry.register("h", "a", FakeConnection())
        self.assertEqual(registry.connectedKeys(), [("g", "a"), ("g", "b"), ("h", "a")])
        self.assertEqual(registry.connectedGroups(), ["g", "h"])
        registry.unregister("g", "a", first)
        self.assertEqual(len(registry.connectedKeys()), 3)
        registry.closeAll()
        self.assertEqual((registry.connectedKeys(), registry.connectedGroups()), ([], []))

    def test_observers(self):
        """
        Observers hear of every registration, after it (so that a message
        delivered from the observer reaches the new connection); one that
        fails is logged and the others still hear.  A refused registration
        is not announced.
        """
        heard = []
        registry = self.registry(maxConnections=1)

        def deliverNow(group, id):
            heard.append(("first", group, id))
            self.assertTrue(registry.deliver(f"poll://uni@{group}/{id}", EXECUTE))

        def fail(group, id):
            raise RuntimeError("boom")

        registry.addObserver(deliverNow)
        registry.addObserver(fail)
        registry.addObserver(lambda group, id: heard.append(("last", group, id)))
        connection = FakeConnection()
        registry.register("g", "a", connection)
        self.assertEqual(heard, [("first", "g", "a"), ("last", "g", "a")])
        self.assertEqual(len(connection.sent), 1)
        registry.register("g", "b", FakeConnection())
        self.assertEqual(len(heard), 2)
        registry.removeObserver(deliverNow)
        registry.unregister("g", "a", connection)
        registry.register("g", "c", FakeConnection())
        self.assertEqual(heard[-1], ("last", "g", "c"))
        self.assertEqual(len(heard), 3)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)

    def test_observersGiven(self):
        """
        Observers may be given to the constructor.
        """
        heard = []
        registry = self.registry(observers=[lambda *key: heard.append(key)])
        registry.register("g", "a", FakeConnection())
        self.assertEqual(heard, [("g", "a")])

    def test_closeAll(self):
        """
        C{closeAll} closes every connection and forgets them; nothing is
        registered or delivered afterwards.
        """
        registry = self.registry()
        connections = [FakeConnection(str(n)) for n in range(3)]
        for n, connection in enumerate(connections):
            registry.register("g", str(n % 2), connection)
        registry.closeAll()
        self.assertTrue(all(c.closed for c in connections))
        self.assertEqual(registry.connectionCount, 0)
        self.assertFalse(registry.register("g", "a", FakeConnection()))
        self.assertFalse(registry.deliver("poll://any@g", EXECUTE))

    def test_bufferedBytes(self):
        """
        C{bufferedBytes} is what every connection holds.
        """
        registry = self.registry()
        a, b = FakeConnection(), FakeConnection()
        a.bufferedBytes, b.bufferedBytes = 10, 32
        registry.register("g", "a", a)
        registry.register("h", "b", b)
        self.assertEqual(registry.bufferedBytes, 42)

    def test_invalidSizes(self):
        """
        A cap or buffer of zero is refused (the reference refuses to start).
        """
        self.assertRaises(ValueError, PollRegistry, maxConnections=0)
        self.assertRaises(ValueError, PollRegistry, bufferSize=0)

    def test_noKeepAliveByDefault(self):
        """
        By default no comment is ever written: nothing is scheduled.
        """
        clock = Clock()
        registry = self.registry(reactor=clock)
        registry.register("g", "a", FakeConnection())
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_keepAlive(self):
        """
        With C{keepAlive}, every idle connection with room gets a comment
        event every so many seconds; closing stops it.
        """
        clock = Clock()
        registry = self.registry(reactor=clock, keepAlive=15)
        idle, full = FakeConnection(), FakeConnection(room=0)
        registry.register("g", "a", idle)
        registry.register("g", "b", full)
        clock.advance(14)
        self.assertEqual(idle.sent, [])
        clock.advance(1)
        clock.advance(15)
        self.assertEqual(idle.sent, [b":\n\n", b":\n\n"])
        registry.closeAll()
        self.assertEqual(clock.getDelayedCalls(), [])


def execute(taskId):
    return {"kind": "execute", "head": {"serverUrl": "http://s"},
            "data": {"task": {"id": taskId, "version": 1}}}


def unblock(promiseId):
    return {"kind": "unblock", "head": {},
            "data": {"promise": {"id": promiseId, "state": "resolved"}}}


def restricted(name, prefix, room=None):
    """
    A L{FakeConnection} whose principal may name the ids under C{prefix}.
    """
    connection = FakeConnection(name, room)
    connection.principal = Principal(prefix=prefix)
    return connection


class PrincipalRoutingTests(unittest.TestCase):
    """
    L{PollRegistry} chooses, for each message, among the connections whose
    principal may receive it (protocol section 11 with JWT auth, issue
    19): a message filtered away from one goes to another, or is not
    delivered (and stays in the outbox); it is never written to a stream
    that may not see it.
    """

    def test_messageSubject(self):
        """
        An execute is about its task, an unblock about its promise; any
        other message, or one whose id is not a string, about nothing.
        """
        self.assertEqual(messageSubject(execute("a/1")), "a/1")
        self.assertEqual(messageSubject(unblock("a/2")), "a/2")
        for message in [{"kind": "other", "data": {"task": {"id": "a"}}},
                        {"kind": "execute", "data": {"task": {"id": 5}}},
                        {"kind": "execute", "data": []}, {"kind": "unblock"}]:
            self.assertIsNone(messageSubject(message), message)

    def test_mayReceive(self):
        """
        A connection without a principal, or with an unrestricted one, may
        receive anything; a restricted one only messages about its ids.
        """
        plain = FakeConnection()
        self.assertTrue(mayReceive(plain, "x"))
        self.assertTrue(mayReceive(plain, None))
        everything = restricted("e", "")
        self.assertTrue(mayReceive(everything, None))
        teamA = restricted("a", "a/")
        self.assertEqual(
            [mayReceive(teamA, s) for s in ("a/1", "b/1", None)], [True, False, False]
        )
        self.assertFalse(mayReceive(restricted("n", None), "a/1"))

    def test_anycastAmongAllowed(self):
        """
        Anycast messages of one group go only to the connections that may
        receive them, whichever the random choice would have picked.
        """
        registry = PollRegistry(random=random.Random(3))
        teamA, teamB = restricted("a", "a/"), restricted("b", "b/")
        registry.register("g", "1", teamA)
        registry.register("g", "2", teamB)
        for i in range(20):
            self.assertTrue(registry.deliver("poll://any@g", execute(f"a/{i}")))
            self.assertTrue(registry.deliver("poll://any@g", unblock(f"b/{i}")))
        self.assertEqual(teamA.sent, [encodeEvent(execute(f"a/{i}")) for i in range(20)])
        self.assertEqual(teamB.sent, [encodeEvent(unblock(f"b/{i}")) for i in range(20)])

    def test_anycastIdNotAllowed(self):
        """
        An anycast message naming a connected id whose principal may not
        receive it goes to another connection of the group that may.
        """
        registry = PollRegistry(random=random.Random(3))
        teamA, teamB = restricted("a", "a/"), restricted("b", "b/")
        registry.register("g", "1", teamA)
        registry.register("g", "2", teamB)
        self.assertTrue(registry.deliver("poll://any@g/1", execute("b/1")))
        self.assertEqual((teamA.sent, teamB.sent), ([], [encodeEvent(execute("b/1"))]))

    def test_unicastFirstAllowed(self):
        """
        A unicast message goes to the first connection under its id that
        may receive it; with none, it is not delivered.
        """
        registry = PollRegistry()
        teamA, teamB = restricted("a", "a/"), restricted("b", "b/")
        registry.register("g", "p", teamA)
        registry.register("g", "p", teamB)
        self.assertTrue(registry.deliver("poll://uni@g/p", unblock("b/1")))
        self.assertEqual((teamA.sent, teamB.sent), ([], [encodeEvent(unblock("b/1"))]))
        self.assertFalse(registry.deliver("poll://uni@g/p", unblock("c/1")))
        self.assertFalse(registry.canDeliver("poll://uni@g/p", "c/1"))
        self.assertTrue(registry.canDeliver("poll://uni@g/p", "a/1"))
        self.assertTrue(registry.isConnected("poll://uni@g/p"))

    def test_noneAllowed(self):
        """
        When no connection of the group may receive a message, it is not
        delivered (the outbox keeps it), and no connection gets it; nor
        does a message about no id reach a restricted connection.
        """
        registry = PollRegistry()
        teamA = restricted("a", "a/")
        registry.register("g", "1", teamA)
        self.assertFalse(registry.deliver("poll://any@g", execute("b/1")))
        self.assertFalse(registry.deliver("poll://any@g", {"kind": "other", "data": {}}))
        self.assertEqual(teamA.sent, [])

    def test_allowedButFull(self):
        """
        A full connection that may receive a message does not make another,
        that may not, receive it.
        """
        registry = PollRegistry()
        teamA, teamB = restricted("a", "a/", room=0), restricted("b", "b/")
        registry.register("g", "1", teamA)
        registry.register("g", "2", teamB)
        self.assertFalse(registry.deliver("poll://any@g", execute("a/1")))
        self.assertEqual((teamA.sent, teamB.sent), ([], []))


class FakeChannel:
    _waitingForTransport = False
    transport = None


class FakeRequest:
    """
    The parts of a request an L{SSEStream} uses; a write of C{highWater}
    bytes or more pauses the producer (as a transport past its high-water
    mark does).
    """

    def __init__(self, highWater=None):
        self.channel = FakeChannel()
        self.written = []
        self.producer = None
        self.finished = False
        self._disconnected = False
        self.highWater = highWater

    def registerProducer(self, producer, streaming):
        self.producer = producer

    def unregisterProducer(self):
        self.producer = None

    def write(self, data):
        assert not self.finished
        self.written.append(data)
        if self.highWater is not None and len(data) >= self.highWater:
            self.producer.pauseProducing()

    def finish(self):
        self.finished = True


class SSEStreamTests(unittest.TestCase):
    """
    L{SSEStream} writes straight through while its transport keeps up, and
    holds a bounded queue while it does not.
    """

    def stream(self, bufferSize=3, maxBufferedBytes=100, **kwargs):
        request = FakeRequest(**kwargs)
        stream = SSEStream(request, bufferSize, maxBufferedBytes)
        stream.start()
        return request, stream

    def test_start(self):
        """
        Starting registers the stream as the request's push producer and
        writes the headers (an empty write).
        """
        request, stream = self.stream()
        self.assertIs(request.producer, stream)
        self.assertEqual(request.written, [b""])

    def test_queuedUntilStarted(self):
        """
        Events sent before C{start} (from a registration observer) wait,
        and follow the headers.
        """
        request = FakeRequest()
        stream = SSEStream(request, 3, 100)
        self.assertTrue(stream.send(b"e0"))
        self.assertEqual(request.written, [])
        stream.start()
        self.assertEqual(request.written, [b"", b"e0"])
        self.assertEqual(stream.bufferedBytes, 0)

    def test_writeThrough(self):
        """
        While running, events are written at once.
        """
        request, stream = self.stream()
        for n in range(10):
            self.assertTrue(stream.canSend())
            self.assertTrue(stream.send(b"e%d" % n))
        self.assertEqual(request.written[1:], [b"e%d" % n for n in range(10)])
        self.assertEqual(stream.bufferedBytes, 0)

    def test_queueWhilePaused(self):
        """
        While paused, events are queued up to C{bufferSize}, the rest
        refused; resuming writes the queue in order.
        """
        request, stream = self.stream(bufferSize=3)
        stream.pauseProducing()
        self.assertEqual([stream.send(b"e%d" % n) for n in range(5)],
                         [True, True, True, False, False])
        self.assertFalse(stream.canSend())
        self.assertEqual(stream.bufferedBytes, 6)
        self.assertEqual(request.written, [b""])
        stream.resumeProducing()
        self.assertEqual(request.written[1:], [b"e0", b"e1", b"e2"])
        self.assertEqual(stream.bufferedBytes, 0)
        self.assertTrue(stream.send(b"e5"))
        self.assertEqual(request.written[-1], b"e5")

    def test_byteBound(self):
        """
        The queue holds at most C{maxBufferedBytes}, except that an event
        alone in it may be larger (or it could never be delivered).
        """
        request, stream = self.stream(bufferSize=10, maxBufferedBytes=100)
        stream.pauseProducing()
        self.assertTrue(stream.send(b"x" * 150))
        self.assertFalse(stream.canSend())
        self.assertFalse(stream.send(b"y"))
        stream.resumeProducing()
        stream.pauseProducing()
        self.assertTrue(stream.send(b"a" * 60))
        self.assertFalse(stream.send(b"b" * 41))
        self.assertTrue(stream.send(b"c" * 40))
        self.assertFalse(stream.canSend())
        self.assertEqual(stream.bufferedBytes, 100)

    def test_pauseWhileFlushing(self):
        """
        A write that fills the transport again stops the flush; what is
        left waits for the next resume.  Events sent meanwhile queue behind
        it, in order.
        """
        request, stream = self.stream(bufferSize=5, highWater=4)
        self.assertTrue(stream.send(b"aaaa"))
        self.assertTrue(stream.send(b"bbbb"))
        self.assertTrue(stream.send(b"c"))
        request.written = []
        stream.resumeProducing()
        self.assertEqual(request.written, [b"bbbb"])
        request.written = []
        stream.resumeProducing()
        self.assertEqual(request.written, [b"c"])
        self.assertEqual(stream.bufferedBytes, 0)

    def test_startsPausedBehindFullTransport(self):
        """
        A stream whose channel is waiting for its transport starts paused.
        """
        request = FakeRequest()
        request.channel._waitingForTransport = True
        stream = SSEStream(request, 3, 100)
        stream.start()
        self.assertTrue(stream.send(b"e"))
        self.assertEqual(request.written, [b""])

    def test_stopProducing(self):
        """
        When the connection goes, the queue is dropped and nothing more is
        taken.
        """
        request, stream = self.stream()
        stream.pauseProducing()
        stream.send(b"e")
        stream.stopProducing()
        self.assertEqual(stream.bufferedBytes, 0)
        self.assertFalse(stream.canSend())
        self.assertFalse(stream.send(b"f"))
        stream.resumeProducing()
        self.assertEqual(request.written, [b""])

    def test_close(self):
        """
        Closing hands the queue to the transport, paused or not, then
        unregisters and finishes the response; it is idempotent.
        """
        request, stream = self.stream()
        stream.pauseProducing()
        stream.send(b"e0")
        stream.send(b"e1")
        stream.close()
        stream.close()
        self.assertEqual(request.written, [b"", b"e0", b"e1"])
        self.assertTrue(request.finished)
        self.assertIsNone(request.producer)
        self.assertEqual(stream.bufferedBytes, 0)
        self.assertFalse(stream.send(b"e2"))

    def test_closeDisconnected(self):
        """
        Closing a stream whose client is gone writes nothing.
        """
        request, stream = self.stream()
        stream.pauseProducing()
        stream.send(b"e0")
        request._disconnected = True
        stream.close()
        self.assertEqual(request.written, [b""])
        self.assertFalse(request.finished)


class PollResourceTests(unittest.TestCase):
    """
    C{GET /poll/{group}/{id}} served by L{APISite} to in-memory transports.
    """

    def setUp(self):
        self.registry = PollRegistry(maxConnections=2, random=random.Random(1))
        self.site = self.makeSite(self.registry)

    def makeSite(self, registry):
        operations = Operations(MemoryStore(), Clock(), 10)
        return APISite(
            HTTPAPI(operations, poll=registry).resource(), maxBodySize=1024,
            reactor=Clock(),
        )

    def connect(self, site=None, path=b"/poll/g/a", method=b"GET"):
        channel = (site or self.site).buildProtocol(None)
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(
            method + b" " + path + b" HTTP/1.1\r\nHost: x\r\n"
            b"Accept: text/event-stream\r\n\r\n"
        )
        return channel, transport

    def test_headers(self):
        """
        200, C{text/event-stream}, C{no-cache}, chunked, and no body yet:
        the response stays open.
        """
        channel, transport = self.connect()
        head, _, body = transport.value().partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.assertEqual(lines[0], b"HTTP/1.1 200 OK")
        headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
        self.assertEqual(headers[b"content-type"], b"text/event-stream")
        self.assertEqual(headers[b"cache-control"], b"no-cache")
        self.assertEqual(headers[b"transfer-encoding"], b"chunked")
        self.assertNotIn(b"content-length", headers)
        self.assertEqual(body, b"")
        self.assertFalse(transport.disconnecting)
        self.assertEqual(self.registry.connectionCount, 1)

    def test_registeredBeforeHeaders(self):
        """
        The connection is registered before a byte of the answer is
        written; an event delivered then follows the headers.
        """
        seen = []

        def registered(group, id):
            seen.append((group, id, transport.value()))
            self.registry.deliver("poll://uni@g/a", EXECUTE)

        self.registry.addObserver(registered)
        channel = self.site.buildProtocol(None)
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(b"GET /poll/g/a HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(seen, [("g", "a", b"")])
        head, _, body = transport.value().partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "))
        self.assertIn(b"text/event-stream", head.lower())
        event = encodeEvent(EXECUTE)
        self.assertEqual(body, b"%x\r\n%s\r\n" % (len(event), event))

    def test_events(self):
        """
        Each delivered message is one chunk holding one event.
        """
        channel, transport = self.connect()
        transport.clear()
        self.assertTrue(self.registry.deliver("poll://any@g", EXECUTE))
        self.assertTrue(self.registry.deliver("poll://uni@g/a", {"kind": "x"}))
        events = [encodeEvent(EXECUTE), encodeEvent({"kind": "x"})]
        self.assertEqual(
            transport.value(),
            b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events),
        )

    def test_segments(self):
        """
        Both segments are required, and no more (404 with the envelope);
        each is percent-decoded once.
        """
        for path in [b"/poll/g", b"/poll/g/", b"/poll//a", b"/poll/g/a/b",
                     b"/poll", b"/poll/"]:
            channel, transport = self.connect(path=path)
            self.assertIn(b" 404 ", transport.value().split(b"\r\n")[0], path)
        channel, transport = self.connect(path=b"/poll/g/a%FF")
        self.assertIn(b" 400 ", transport.value().split(b"\r\n")[0])
        self.assertEqual(self.registry.connectionCount, 0)
        self.connect(path=b"/poll/my%20g/a%2Fb?x=1")
        self.assertTrue(self.registry.isConnected("poll://uni@my%20g/a%2Fb"))

    def test_methods(self):
        """
        Only C{GET} streams: C{POST} answers 405; C{HEAD} gets the headers
        and ends, registering nothing.
        """
        channel, transport = self.connect(method=b"POST")
        self.assertIn(b" 405 ", transport.value().split(b"\r\n")[0])
        channel, transport = self.connect(method=b"HEAD")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 200 "))
        self.assertIn(b"text/event-stream", transport.value())
        self.assertEqual(self.registry.connectionCount, 0)

    def test_noRegistry(self):
        """
        Without a registry, C{/poll/...} answers 404 as any unknown path.
        """
        site = self.makeSite(None)
        channel, transport = self.connect(site=site)
        unknown, unknownTransport = self.connect(site=site, path=b"/nope")
        self.assertIn(b" 404 ", transport.value().split(b"\r\n")[0])
        self.assertEqual(
            transport.value().partition(b"\r\n\r\n")[2],
            unknownTransport.value().partition(b"\r\n\r\n")[2],
        )

    def test_capacity(self):
        """
        Over the cap, 503 with the reference's text, and the connection
        stays usable.
        """
        self.connect()
        self.connect(path=b"/poll/g/b")
        channel, transport = self.connect(path=b"/poll/g/c")
        head, _, body = transport.value().partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 503 "))
        self.assertIn(b"text/plain", head.lower())
        self.assertEqual(body, b"Poll registration at capacity")
        self.assertFalse(transport.disconnecting)
        self.assertEqual(self.registry.connectionCount, 2)

    def test_disconnectDeregisters(self):
        """
        A client that goes is deregistered; its place is free again.
        """
        channel, transport = self.connect()
        other, _ = self.connect(path=b"/poll/g/b")
        channel.connectionLost(Failure(ConnectionError("gone")))
        self.assertEqual(self.registry.connectionCount, 1)
        self.assertFalse(self.registry.isConnected("poll://uni@g/a"))
        self.assertFalse(self.registry.deliver("poll://uni@g/a", EXECUTE))
        self.connect(path=b"/poll/g/c")
        self.assertEqual(self.registry.connectionCount, 2)

    def test_backpressure(self):
        """
        While the transport is full (the channel paused), events queue up
        to the buffer size and the rest are refused; once it drains they
        are written in order.
        """
        registry = PollRegistry(bufferSize=2)
        channel, transport = self.connect(site=self.makeSite(registry))
        transport.clear()
        channel.pauseProducing()
        results = [registry.deliver("poll://uni@g/a", {"n": n}) for n in range(4)]
        self.assertEqual(results, [True, True, False, False])
        self.assertEqual(transport.value(), b"")
        self.assertGreater(registry.bufferedBytes, 0)
        channel.resumeProducing()
        events = [encodeEvent({"n": n}) for n in range(2)]
        self.assertEqual(
            transport.value(),
            b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events),
        )
        self.assertEqual(registry.bufferedBytes, 0)

    def test_shutdownEndsStream(self):
        """
        C{closeConnections} ends every stream with the last chunk and
        closes its connection.
        """
        channel, transport = self.connect()
        closed = self.site.closeConnections()
        self.assertTrue(transport.value().endswith(b"\r\n\r\n0\r\n\r\n"))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.registry.connectionCount, 0)
        channel.connectionLost(Failure(ConnectionError("closed")))
        self.successResultOf(closed)

    def test_closeAllEndsStream(self):
        """
        C{closeAll} ends every stream with the last chunk; refuses new ones.
        """
        channel, transport = self.connect()
        self.registry.closeAll()
        self.assertTrue(transport.value().endswith(b"\r\n\r\n0\r\n\r\n"))
        self.assertEqual(self.registry.connectionCount, 0)
        channel, transport = self.connect(path=b"/poll/g/b")
        self.assertIn(b" 503 ", transport.value().split(b"\r\n")[0])
