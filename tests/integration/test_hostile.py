# -*- test-case-name: tests.integration.test_hostile -*-
"""
Hostile clients, over real sockets on 127.0.0.1: slow and idle
connections, oversized request heads, huge ids, tags and messages, forged
cursors, path-like ids, and property-based fuzzing of every write route
over HTTP and gRPC; and the 2026 protocol's C{POST /} attacked with bodies
that are not requests, numbers and types where they do not belong, NUL,
surrogates and huge strings, wrong types at every nesting level of every
kind, garbage heads and seeded random mutations of valid envelopes (always
a well-formed 2026 envelope, never a 5xx, the server still serving).  The flood of a real C{twist resonate} beyond
C{api.size} is in L{tests.processes.test_hostile_processes}.

Malformed bodies, wrong types, unknown states, bad cron, huge and
path-like ids are rows of the API case table (L{tests.support.apicases}), run over
both protocols and every store; this module holds what a table row cannot
say.  docs/reliability.md ("Hostile input and overload") says what is
promised.
"""

import base64
import http.client
import json
import os
import random
import socket
import string
from urllib.parse import quote

import grpc
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from resonate.api.codec import MAX_ID_BYTES
from resonate.api.grpcapi import CODE_METADATA, grpcCode
from resonate.api.pb import (
    lock_pb2,
    promise_pb2,
    promise_pb2_grpc,
    schedule_pb2,
    schedule_pb2_grpc,
    task_pb2,
)
from resonate.status import Status
from resonate.store.memory import MemoryStore
from tests.integration import test_store_postgres as postgres
from tests.integration.test_api_http import forgedCursor
from tests.support.apicases import LATER, ROUTES, completeTaskBody, scheduleBody, taskBody
from tests.support.apitools import NOW, LiveAPI
from tests.support.cases2026 import VERSION as V2026
from tests.support.cases2026 import _head
from tests.support.grpctools import callRPC

#: The idle timeout of the slow-client tests, in seconds: short, so that
#: they are quick; the clients' pauses are fractions of it.
IDLE = 0.5

#: How long a test waits for the server to do what it must, in idle
#: timeouts, before it fails (generous: the machine may be loaded).
PATIENCE = 20


def sqliteStore(testCase, **options):
    """
    An SQLite store in a new file, closed when the test ends.
    """
    from resonate.config import StoreConfig
    from resonate.store.sqlite.store import SQLiteStore

    options["path"] = testCase.mktemp()
    store = SQLiteStore(StoreConfig(options=options), reactor)
    testCase.addCleanup(store.close)
    return store


class RawClient(Protocol):
    """
    A TCP client that writes what it is told and keeps what it receives.

    @ivar received: every byte received so far.
    @ivar closed: a C{Deferred} that fires with L{received} once the
        connection is closed.
    """

    def __init__(self):
        self.received = b""
        self.closed = Deferred()
        self._waiting = []

    @property
    def open(self):
        return not self.closed.called

    def dataReceived(self, data):
        self.received += data
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(None)

    def connectionLost(self, reason):
        self.closed.callback(self.received)
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(None)

    async def response(self):
        """
        Wait for one whole response (with a C{Content-Length} or chunked)
        and take it off L{received}.

        @return: C{(status, head bytes, body bytes)}.
        """
        while True:
            answer = _parseResponse(self.received)
            if answer is not None:
                status, head, body, rest = answer
                self.received = rest
                return status, head, body
            if not self.open:
                raise AssertionError(f"closed before a whole answer: {self.received!r}")
            d = Deferred()
            self._waiting.append(d)
            await d


def _parseResponse(data):
    """
    Parse one whole HTTP/1.1 response off the front of C{data}.

    @return: C{(status, head, body, rest)}, or L{None} if it is not whole.
    """
    head, separator, rest = data.partition(b"\r\n\r\n")
    if not separator:
        return None
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    status = int(head.split(b" ")[1])
    if fields.get(b"transfer-encoding") == b"chunked":
        body = b""
        while True:
            size, separator, after = rest.partition(b"\r\n")
            if not separator:
                return None
            size = int(size, 16)
            if len(after) < size + 2:
                return None
            body, rest = body + after[:size], after[size + 2:]
            if size == 0:
                return status, head, body, rest
    length = int(fields.get(b"content-length", b"0"))
    if len(rest) < length:
        return None
    return status, head, rest[:length], rest[length:]


async def connect(port):
    """
    Connect a L{RawClient} to C{127.0.0.1:port}.
    """
    return await connectProtocol(
        TCP4ClientEndpoint(reactor, "127.0.0.1", port), RawClient()
    )


async def closedWithin(testCase, client, seconds):
    """
    Wait until the server closes C{client}'s connection; fail the test if it
    is still open after C{seconds} (a bound for a broken server, not a
    measure of speed).

    @return: what the client received.
    """
    waited = 0.0
    while client.open and waited < seconds:
        await deferLater(reactor, IDLE / 10)
        waited += IDLE / 10
    if client.open:
        client.transport.abortConnection()
        testCase.fail(f"the server kept the connection open for {seconds}s")
    return client.received


def envelope(body):
    """
    The error of an envelope, checked for shape.

    @return: C{(code, [detail fields])}.
    """
    error = json.loads(body)["error"]
    assert isinstance(error["message"], str) and error["details"], error
    return error["code"], [d.get("field") for d in error["details"]]


class SlowClientTests(unittest.TestCase):
    """
    Idle and slow connections are closed: they hold no connection for ever,
    and other clients are served meanwhile.
    """

    async def startAPI(self):
        return await LiveAPI(self, idleTimeout=IDLE).start()

    async def test_idleConnectionClosed(self):
        """
        A client that connects and sends nothing is disconnected after the
        idle timeout, without an answer.
        """
        api = await self.startAPI()
        client = await connect(api.port)
        self.assertEqual(await closedWithin(self, client, PATIENCE * IDLE), b"")

    async def test_keepAliveThenIdle(self):
        """
        A persistent connection serves request after request while the
        client keeps up, and is closed once it falls idle.
        """
        api = await self.startAPI()
        client = await connect(api.port)
        for promiseId in ["a", "b"]:
            body = json.dumps({"id": promiseId, "timeout": LATER}).encode()
            client.transport.write(
                b"POST /promises HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            status, _, answer = await client.response()
            self.assertEqual(status, 201, answer)
            self.assertTrue(client.open)
        self.assertEqual(await closedWithin(self, client, PATIENCE * IDLE), b"")

    async def slowly(self, client, data):
        """
        Send C{data} a byte at a time, each well within the idle timeout,
        until the server closes the connection.

        @return: how many bytes were sent.
        """
        sent = 0
        while client.open and sent < len(data):
            client.transport.write(data[sent:sent + 1])
            sent += 1
            await deferLater(reactor, IDLE / 5)
        return sent

    async def test_slowHeaders(self):
        """
        A client that sends its request line and headers a byte at a time
        (slowloris), each byte within the idle timeout, is disconnected
        once the request has taken the idle timeout to arrive, not when it
        is whole (which would take many idle timeouts).
        """
        api = await self.startAPI()
        client = await connect(api.port)
        head = (
            b"GET /promises/p HTTP/1.1\r\nHost: x\r\n"
            + b"X-Padding: " + b"a" * 300 + b"\r\n\r\n"
        )
        sent = await self.slowly(client, head)
        self.assertFalse(client.open)
        self.assertLess(sent, len(head))
        self.assertEqual(client.received, b"")

    async def test_slowBody(self):
        """
        A client whose headers are whole but whose body comes a byte at a
        time is disconnected too, and the request is never served.
        """
        api = await self.startAPI()
        client = await connect(api.port)
        body = json.dumps({"id": "slow", "timeout": LATER, "tags": {"a": "b" * 300}})
        body = body.encode()
        client.transport.write(
            b"POST /promises HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: %d\r\n\r\n" % (len(body),)
        )
        sent = await self.slowly(client, body)
        self.assertFalse(client.open)
        self.assertLess(sent, len(body))
        self.assertEqual(client.received, b"")
        read = await api.request("GET", "/promises/slow")
        self.assertEqual(read.code, 404, read)

    async def test_othersServed(self):
        """
        While many idle and slow connections are open, other clients are
        served; then every idle and slow one is closed.
        """
        api = await self.startAPI()
        idle = [await connect(api.port) for _ in range(50)]
        slow = [await connect(api.port) for _ in range(20)]
        for client in slow:
            client.transport.write(b"POST /promises HTTP/1.1\r\nHost")
        created = await api.create("served")
        self.assertEqual(created.code, 201, created)
        for client in idle + slow:
            self.assertEqual(await closedWithin(self, client, PATIENCE * IDLE), b"")


class RequestHeadLimitTests(unittest.TestCase):
    """
    A request line or header block too large is answered 400 and the
    connection closed, at once: it is never buffered without bound, and
    never left hanging.
    """

    async def refused(self, data):
        """
        Send C{data} (all of it: nothing else is sent, so the server has
        read everything when it answers) and wait for the connection to
        close.

        @return: C{(status, body)} of the answer.
        """
        api = await LiveAPI(self).start()
        client = await connect(api.port)
        client.transport.write(data)
        received = await closedWithin(self, client, 30)
        head, _, body = received.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 "), received)
        # The server still serves.
        health = await api.request("GET", "/healthz")
        self.assertEqual(health.code, 200)
        return int(head.split(b" ")[1]), body

    async def test_requestLineTooLong(self):
        """
        A request line over 16 KiB is 400 with the envelope, naming the
        request.  (Every id the server accepts fits: 2048 bytes of UTF-8
        are at most 6 KiB percent-encoded.)
        """
        status, body = await self.refused(b"GET /promises/" + b"a" * 17_000)
        self.assertEqual(status, 400)
        self.assertEqual(envelope(body), (4000, ["request"]))

    async def test_headerTooLong(self):
        """
        One header line over 16 KiB is 400 with the envelope.
        """
        status, body = await self.refused(
            b"GET /promises/p HTTP/1.1\r\nX-Big: " + b"a" * 17_000
        )
        self.assertEqual(status, 400)
        self.assertEqual(envelope(body), (4000, ["request"]))

    async def test_headersTooLarge(self):
        """
        Headers of 16 KiB all told are 400.
        """
        line = b"X-Pad: " + b"a" * 1000 + b"\r\n"
        status, _ = await self.refused(b"GET /promises/p HTTP/1.1\r\n" + line * 17)
        self.assertEqual(status, 400)

    async def test_tooManyHeaders(self):
        """
        More than 500 headers are 400.
        """
        headers = b"".join(b"X-%d: a\r\n" % (i,) for i in range(502))
        status, _ = await self.refused(b"GET /promises/p HTTP/1.1\r\n" + headers)
        self.assertEqual(status, 400)


class HugeInputTestsMixin:
    """
    Ids, patterns and cursors beyond L{MAX_ID_BYTES} are refused with 400
    over both protocols, never passed to a store that would fail (5002) or
    choke on them; huge tags are kept and found.  Against the store
    C{makeStore} returns.
    """

    def makeStore(self):
        raise NotImplementedError()

    async def startAPI(self):
        api = LiveAPI(self, store=self.makeStore(), grpc=True, maxBodySize=4 << 20)
        await api.start()
        self.promises = promise_pb2_grpc.PromisesStub(api.channel)
        self.schedules = schedule_pb2_grpc.SchedulesStub(api.channel)
        return api

    async def rpcError(self, method, request):
        """
        Call an RPC that must fail with a 4-digit code.

        @return: C{(grpc code, 4-digit code)}.
        """
        try:
            await callRPC(method, request)
        except grpc.RpcError as error:
            codes = [v for k, v in error.trailing_metadata() or () if k == CODE_METADATA]
            return error.code(), int(codes[0]) if codes else None
        self.fail("the RPC succeeded")

    async def test_searchPatternTooLong(self):
        """
        A search pattern of L{MAX_ID_BYTES} is searched; a longer one is
        400 (SQLite refuses LIKE patterns over 50000 bytes: that was 5002).
        """
        api = await self.startAPI()
        longest = "*" + "a" * (MAX_ID_BYTES - 1)
        for path in ["/promises", "/schedules"]:
            response = await api.request("GET", f"{path}?id={longest}")
            self.assertEqual(response.code, 200, response)
            response = await api.request("GET", f"{path}?id={longest}a")
            self.assertEqual(response.code, 400, response)
            self.assertEqual(response.body["error"]["details"][0]["field"], "id")
        invalid = (grpc.StatusCode.INVALID_ARGUMENT, 4000)
        for pattern in [longest + "a", "*a" * 60_000]:
            self.assertEqual(
                await self.rpcError(
                    self.promises.SearchPromises,
                    promise_pb2.SearchPromisesRequest(id=pattern),
                ),
                invalid,
            )
            self.assertEqual(
                await self.rpcError(
                    self.schedules.SearchSchedules,
                    schedule_pb2.SearchSchedulesRequest(id=pattern),
                ),
                invalid,
            )
        found = await callRPC(
            self.promises.SearchPromises, promise_pb2.SearchPromisesRequest(id=longest)
        )
        self.assertEqual(list(found.promises), [])

    async def test_megabyteIds(self):
        """
        A megabyte id (well within the body limit) is 400 wherever an id is
        taken, over both protocols.
        """
        api = await self.startAPI()
        huge = "i" * (1 << 20)
        for method, path, body in [
            ("POST", "/promises", {"id": huge, "timeout": LATER}),
            ("POST", "/schedules", scheduleBody(id=huge)),
            ("POST", "/locks/acquire", {"resourceId": huge, "processId": "p",
                                        "executionId": "e", "expiryInMilliseconds": 1}),
            ("POST", "/tasks/claim", {"taskId": huge, "counter": 1, "processId": "p",
                                      "executionId": "e", "expiryInMilliseconds": 1}),
        ]:
            response = await api.request(method, path, body)
            self.assertEqual(response.code, 400, (path, response))
        invalid = (grpc.StatusCode.INVALID_ARGUMENT, 4000)
        for method, request in [
            (self.promises.CreatePromise,
             promise_pb2.CreatePromiseRequest(id=huge, timeout=LATER)),
            (self.promises.ReadPromise, promise_pb2.ReadPromiseRequest(id=huge)),
            (self.promises.ResolvePromise, promise_pb2.ResolvePromiseRequest(id=huge)),
            (self.schedules.ReadSchedule, schedule_pb2.ReadScheduleRequest(id=huge)),
        ]:
            self.assertEqual(await self.rpcError(method, request), invalid)

    async def test_cursorPatternTooLong(self):
        """
        A forged cursor whose pattern is too long is 400 over both
        protocols, like the pattern itself.
        """
        api = await self.startAPI()
        pattern = "a" * (MAX_ID_BYTES + 1)
        promises = forgedCursor(kind="promises", id=pattern, states=["PENDING"],
                                tags={}, limit=1, sortId=1)
        schedules = forgedCursor(kind="schedules", id=pattern, tags={}, limit=1,
                                 sortId=1)
        for path, cursor in [("/promises", promises), ("/schedules", schedules)]:
            response = await api.request("GET", f"{path}?cursor={cursor}")
            self.assertEqual(response.code, 400, response)
        invalid = (grpc.StatusCode.INVALID_ARGUMENT, 4000)
        self.assertEqual(
            await self.rpcError(self.promises.SearchPromises,
                                promise_pb2.SearchPromisesRequest(cursor=promises)),
            invalid,
        )
        self.assertEqual(
            await self.rpcError(self.schedules.SearchSchedules,
                                schedule_pb2.SearchSchedulesRequest(cursor=schedules)),
            invalid,
        )

    async def test_hugeTags(self):
        """
        Tags are not indexed by value, so they are bounded by the body
        limit only: half-megabyte tag keys and values are kept, read back
        and found by a search over gRPC (HTTP's query is bounded by the
        request line: 4 KiB ones there).
        """
        api = await self.startAPI()
        key, value = "k" * (1 << 19), "v" * (1 << 19)
        small = {"k" * 4096: "v" * 4096}
        for promiseId, tags in [("huge", {key: value}), ("small", small)]:
            created = await api.create(promiseId, tags=tags)
            self.assertEqual(created.code, 201, created)
            read = await api.request("GET", "/promises/" + promiseId)
            self.assertEqual(read.body["tags"], tags)
        created = await api.request(
            "POST", "/schedules", scheduleBody(id="huge", tags={key: value},
                                               promiseTags={key: value}),
        )
        self.assertEqual(created.code, 201, created)
        found = await callRPC(
            self.promises.SearchPromises,
            promise_pb2.SearchPromisesRequest(id="*", tags={key: value}),
        )
        self.assertEqual([p.id for p in found.promises], ["huge"])
        found = await callRPC(
            self.schedules.SearchSchedules,
            schedule_pb2.SearchSchedulesRequest(id="*", tags={key: value}),
        )
        self.assertEqual([s.id for s in found.schedules], ["huge"])
        [(k, v)] = small.items()
        response = await api.request("GET", f"/promises?tags[{k}]={v}")
        self.assertEqual([p["id"] for p in response.body["promises"]], ["small"])


class MemoryHugeInputTests(HugeInputTestsMixin, unittest.TestCase):
    """
    Huge input over the memory store.
    """

    def makeStore(self):
        return MemoryStore()


class SQLiteHugeInputTests(HugeInputTestsMixin, unittest.TestCase):
    """
    Huge input over the SQLite store.
    """

    def makeStore(self):
        return sqliteStore(self)


class PostgresHugeInputTests(
    postgres.PostgresTestsMixin, HugeInputTestsMixin, unittest.TestCase
):
    """
    Huge input over the PostgreSQL store, which cannot index ids much
    longer than L{MAX_ID_BYTES}.
    """

    def makeStore(self):
        return self.openStore(workers=1)


class MessageSizeTests(unittest.TestCase):
    """
    gRPC takes messages up to the HTTP body limit (grpcio's default is 4
    MiB); a larger one is RESOURCE_EXHAUSTED, as HTTP answers 413.
    """

    async def test_limit(self):
        """
        With a 6 MiB limit, a 5 MiB message is served and a 7 MiB one is
        refused.
        """
        api = LiveAPI(self, grpc=True, maxBodySize=6 << 20)
        await api.start()
        channel = grpc.insecure_channel(
            f"127.0.0.1:{api.grpc.port}",
            options=[("grpc.max_receive_message_length", -1)],
        )
        self.addCleanup(channel.close)
        stub = promise_pb2_grpc.PromisesStub(channel)
        created = await callRPC(
            stub.CreatePromise,
            promise_pb2.CreatePromiseRequest(
                id="five", timeout=LATER, param=promise_pb2.Value(data=b"x" * (5 << 20))
            ),
        )
        self.assertEqual(len(created.promise.param.data), 5 << 20)
        try:
            await callRPC(
                stub.CreatePromise,
                promise_pb2.CreatePromiseRequest(
                    id="seven", timeout=LATER,
                    param=promise_pb2.Value(data=b"x" * (7 << 20)),
                ),
            )
        except grpc.RpcError as error:
            self.assertEqual(error.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        else:
            self.fail("a 7 MiB message was served")


#: Cursors that are not ours, and why.
BAD_CURSORS = [
    ("garbage", "!!!not base64!!!"),
    ("percent signs", "%%%"),
    ("empty JSON object", forgedCursor()),
    ("JSON array", base64.urlsafe_b64encode(b"[1, 2]").decode()),
    ("not UTF-8", base64.urlsafe_b64encode(b"\xff\xfe{").decode()),
    ("deeply nested JSON",
     base64.urlsafe_b64encode(b"[" * 10_000 + b"]" * 10_000).decode()),
    ("string sortId", forgedCursor(kind="promises", id="*", states=["PENDING"],
                                   tags={}, limit=1, sortId="1")),
    ("limit 0", forgedCursor(kind="promises", id="*", states=["PENDING"], tags={},
                             limit=0, sortId=1)),
    ("limit 1000", forgedCursor(kind="promises", id="*", states=["PENDING"], tags={},
                                limit=1000, sortId=1)),
    ("unknown state", forgedCursor(kind="promises", id="*", states=["DONE"], tags={},
                                   limit=1, sortId=1)),
    ("no states", forgedCursor(kind="promises", id="*", states=[], tags={}, limit=1,
                               sortId=1)),
    ("tags a list", forgedCursor(kind="promises", id="*", states=["PENDING"],
                                 tags=["a"], limit=1, sortId=1)),
    ("empty pattern", forgedCursor(kind="promises", id="", states=["PENDING"],
                                   tags={}, limit=1, sortId=1)),
    ("lone surrogate", forgedCursor(kind="promises", id="\ud800", states=["PENDING"],
                                    tags={}, limit=1, sortId=1)),
]


class CursorTests(unittest.TestCase):
    """
    Forged, truncated, foreign and huge cursors are 400 over both
    protocols, never a 5xx.
    """

    async def test_badCursors(self):
        """
        Every bad cursor, and a real one truncated or of the other kind, is
        refused with 400 (4000) naming the cursor over HTTP, and
        INVALID_ARGUMENT (4000) over gRPC, for promise and schedule
        searches; a megabyte cursor too, over gRPC (HTTP's request line
        cannot carry it).
        """
        api = await LiveAPI(
            self, store=sqliteStore(self), grpc=True, maxBodySize=4 << 20
        ).start()
        for i in range(3):
            await api.create(f"p{i}")
            await api.request("POST", "/schedules", scheduleBody(id=f"s{i}"))
        promiseCursor = (await api.request("GET", "/promises?limit=1")).body["cursor"]
        scheduleCursor = (await api.request("GET", "/schedules?limit=1")).body["cursor"]
        cursors = BAD_CURSORS + [
            ("truncated", promiseCursor[: len(promiseCursor) // 2]),
            ("truncated by one", promiseCursor[:-1]),
        ]
        searches = [
            ("/promises", cursors + [("a schedule cursor", scheduleCursor)]),
            ("/schedules", cursors + [("a promise cursor", promiseCursor)]),
        ]
        promises = promise_pb2_grpc.PromisesStub(api.channel)
        schedules = schedule_pb2_grpc.SchedulesStub(api.channel)
        rpcs = {
            "/promises": lambda c: callRPC(
                promises.SearchPromises, promise_pb2.SearchPromisesRequest(cursor=c)),
            "/schedules": lambda c: callRPC(
                schedules.SearchSchedules, schedule_pb2.SearchSchedulesRequest(cursor=c)),
        }
        for path, bad in searches:
            for name, cursor in bad + [("a megabyte", "A" * (1 << 20))]:
                if len(cursor) < 15_000:
                    response = await api.request(
                        "GET", f"{path}?cursor={quote(cursor, safe='')}"
                    )
                    self.assertEqual(response.code, 400, (path, name, response))
                    self.assertEqual(
                        envelope(response.raw), (4000, ["cursor"]), (path, name)
                    )
                try:
                    await rpcs[path](cursor)
                except grpc.RpcError as error:
                    self.assertEqual(
                        error.code(), grpc.StatusCode.INVALID_ARGUMENT, (path, name)
                    )
                    self.assertIn((CODE_METADATA, "4000"),
                                  list(error.trailing_metadata()), (path, name))
                else:
                    self.fail(f"{path}: {name} cursor accepted over gRPC")


class PathLikeIdTests(unittest.TestCase):
    """
    Ids that look like file paths are plain ids: the server never touches a
    file for them.
    """

    async def test_noFilesTouched(self):
        """
        Creating, completing and reading path traversal ids over a SQLite
        store in a directory leaves the directory and its parent as they
        were (but for the database's own files), and reads nothing from
        disk.
        """
        from resonate.config import StoreConfig
        from resonate.store.sqlite.store import SQLiteStore

        directory = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(directory, "db"))
        store = SQLiteStore(
            StoreConfig(options={"path": os.path.join(directory, "db", "r.db")}),
            reactor,
        )
        self.addCleanup(store.close)
        api = await LiveAPI(self, store=store).start()
        before = sorted(os.listdir(directory))
        ids = ["../r.db", "../../db", "../escaped", "/tmp/escaped",
               "..\\..\\escaped", "%2e%2e%2fescaped", "..%2Fescaped"]
        for promiseId in ids:
            created = await api.create(promiseId)
            self.assertEqual(created.code, 201, created)
            read = await api.request("GET", "/promises/" + quote(promiseId, safe=""))
            self.assertEqual(read.body["id"], promiseId)
        read = await api.request("GET", "/promises/../../../../etc/passwd")
        self.assertEqual(read.code, 404, read)
        self.assertEqual(sorted(os.listdir(directory)), before)
        self.assertEqual(
            sorted(f for f in os.listdir(os.path.join(directory, "db"))
                   if not f.startswith("r.db")),
            [],
        )


# Property-based fuzzing.  Hypothesis runs in a thread (its tests are
# blocking), with blocking clients, against a server on the reactor.

#: Fuzz settings: always the same examples, few enough for CI (per route
#: or RPC, so each gets its share).
FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    max_examples=40,
    suppress_health_check=list(HealthCheck),
)
#: There are twice as many RPCs as HTTP write routes.
GRPC_FUZZ = settings(FUZZ, max_examples=25)

#: Strings that have broken servers: empty, NUL, wildcards of SQL and of
#: search patterns, quotes, dot segments, a line separator, a character
#: outside the BMP, and one longer than any id may be.
_NASTY = st.sampled_from(["", "\x00", "a\x00b", "*", "%", "_", "\\", "'", '"',
                          "../x", "ü", "\u2028", "\U0001d11e", "x" * 3000])
_TEXT = st.text(max_size=20) | _NASTY
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False) | _TEXT,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(_TEXT, children, max_size=3),
    max_leaves=10,
)
#: Ids: a few shared ones (so requests meet), and anything.
_IDS = st.sampled_from(["p", "jobs/1", "s", "r", "../p", "a b"]) | st.text(max_size=12)
_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "headers": st.dictionaries(_TEXT, _TEXT, max_size=2) | _JSON,
        "data": st.sampled_from(["aGk=", "", "%%%"]) | _JSON,
    },
)
_FIELDS = {
    "id": _IDS,
    "timeout": st.integers(-1, 2**64) | _JSON,
    "param": _VALUES | _JSON,
    "value": _VALUES | _JSON,
    "tags": st.dictionaries(_TEXT, _TEXT, max_size=2) | _JSON,
    "state": st.sampled_from(["RESOLVED", "rejected", "REJECTED_CANCELED", "PENDING",
                              "REJECTED_TIMEDOUT", "done", ""]) | _JSON,
    "cron": st.sampled_from(["* * * * *", "@every 1s", "61 * * * *", "0 0 30 2 *",
                             "@every 0s", "* * * * * * *"]) | _JSON,
    "promiseId": st.sampled_from(["{{.id}}.{{.timestamp}}", "x"]) | _IDS | _JSON,
    "promiseTimeout": st.integers(-1, 2**63) | _JSON,
    "expiryInMilliseconds": st.integers(-1, 2**63) | _JSON,
    "counter": st.integers(-1, 2**32) | _JSON,
}
for _name in ["resourceId", "processId", "executionId", "taskId"]:
    _FIELDS[_name] = _IDS | _JSON
for _name in ["promiseParam"]:
    _FIELDS[_name] = _FIELDS["param"]
for _name in ["promiseTags"]:
    _FIELDS[_name] = _FIELDS["tags"]
for _name in ["desc", "description"]:
    _FIELDS[_name] = _TEXT | _JSON

#: The write routes, the fields their bodies have, and a valid body.
_ROUTES = [
    ("POST", "/promises", ["id", "timeout", "param", "tags"],
     {"id": "p", "timeout": LATER}),
    ("PATCH", None, ["state", "value"], {"state": "RESOLVED"}),
    ("POST", "/schedules", ["id", "desc", "description", "cron", "tags", "promiseId",
                            "promiseTimeout", "promiseParam", "promiseTags"],
     scheduleBody()),
    ("POST", "/locks/acquire", ["resourceId", "processId", "executionId",
                                "expiryInMilliseconds"],
     {"resourceId": "r", "processId": "p", "executionId": "e",
      "expiryInMilliseconds": 1000}),
    ("POST", "/locks/heartbeat", ["processId"], {"processId": "p"}),
    ("POST", "/locks/release", ["resourceId", "executionId"],
     {"resourceId": "r", "executionId": "e"}),
    ("POST", "/tasks/claim", ["taskId", "counter", "processId", "executionId",
                              "expiryInMilliseconds"], taskBody()),
    ("POST", "/tasks/complete", ["taskId", "counter", "executionId", "state", "value"],
     completeTaskBody()),
]


@st.composite
def _requests(draw, route):
    """
    A write request: a route, a body and its headers.  The body is most
    often a valid one with a field or two replaced by anything (so that
    hostile values reach the store), else an object of the route's fields
    with any values, any JSON, or any bytes.
    """
    method, path, fields, valid = route
    if path is None:
        path = "/promises/" + quote(draw(_IDS), safe="")
    kind = draw(st.sampled_from(["mutant", "mutant", "mutant", "fields", "json",
                                 "bytes"]))
    if kind == "mutant":
        body = dict(valid)
        for field in draw(st.lists(st.sampled_from(fields), max_size=2)):
            body[field] = draw(_NASTY | _FIELDS[field])
        body = json.dumps(body).encode()
    elif kind == "fields":
        body = draw(st.fixed_dictionaries({}, optional={f: _FIELDS[f] for f in fields}))
        body = json.dumps(body).encode()
    elif kind == "json":
        body = json.dumps(draw(_JSON)).encode()
    else:
        body = draw(st.binary(max_size=100))
    headers = draw(st.fixed_dictionaries({}, optional={
        "idempotency-key": st.text(string.printable.strip(), max_size=10),
        "strict": st.sampled_from(["true", "False", "1", "x", ""]),
    }))
    return method, path, body, headers


class FuzzTestsMixin:
    """
    Random requests at every write route, over real sockets, against the
    store C{makeStore} returns: never a 5xx, the envelope on every 4xx, and
    the connection (or channel) stays usable.
    """

    def makeStore(self):
        raise NotImplementedError()

    def fuzzAuth(self):
        """
        @return: C{(LiveAPI keyword arguments, Authorization value or
            None)}: the auth the fuzz runs under, none by default.
        """
        return {}, None

    async def test_http(self):
        """
        Random bodies (objects of the route's fields with random values,
        random JSON, random bytes) and headers at every POST and PATCH
        route, on one persistent connection: every answer is below 500,
        every 4xx is the error envelope with its code, and the connection
        still serves afterwards.
        """
        auth, authorization = self.fuzzAuth()
        api = await LiveAPI(self, store=self.makeStore(), routes=ROUTES, **auth).start()
        await api.create("jobs/1")
        await api.dispatch()
        await deferToThread(self._fuzzHTTP, api.port, authorization)

    def _fuzzHTTP(self, port, authorization=None):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.connect()
        sock = connection.sock

        def check(request):
            method, path, body, headers = request
            if authorization is not None:
                headers = dict(headers, authorization=authorization)
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            where = (method, path, body, headers, response.status, data[:300])
            assert response.status < 500, where
            if response.status >= 400:
                code, _ = envelope(data)
                assert code // 10 == response.status, where
            elif data:
                json.loads(data)
            connection.request("GET", "/healthz")
            health = connection.getresponse()
            health.read()
            assert health.status == 200, where
            assert connection.sock is sock, f"the connection was closed: {where}"

        try:
            for route in _ROUTES:
                FUZZ(given(_requests(route))(check))()
        finally:
            connection.close()

    async def test_grpc(self):
        """
        Every RPC of the four services with random field values (any text,
        any integers, unknown enum values, random maps and values): each
        answers OK or a client error carrying its 4-digit code, never
        INTERNAL, UNKNOWN or UNAVAILABLE.
        """
        auth, authorization = self.fuzzAuth()
        api = await LiveAPI(
            self, store=self.makeStore(), routes=ROUTES, grpc=True, **auth
        ).start()
        await api.create("jobs/1")
        await api.dispatch()
        await deferToThread(self._fuzzGRPC, api.channel, authorization)

    def _fuzzGRPC(self, channel, authorization=None):
        metadata = None
        if authorization is not None:
            metadata = (("authorization", authorization),)
        rpcs = []
        for module in (promise_pb2, schedule_pb2, lock_pb2, task_pb2):
            for service in module.DESCRIPTOR.services_by_name.values():
                for method in service.methods:
                    rpcs.append(
                        (
                            channel.unary_unary(
                                f"/{service.full_name}/{method.name}",
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=GetMessageClass(
                                    method.output_type
                                ).FromString,
                            ),
                            _message(method.input_type),
                        )
                    )
        allowed = {
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.ALREADY_EXISTS,
            grpc.StatusCode.PERMISSION_DENIED,
        }

        def check(stub, request):
            try:
                stub(request, timeout=30, metadata=metadata)
            except grpc.RpcError as error:
                where = (stub, request, error.code(), error.details())
                assert error.code() in allowed, where
                codes = [v for k, v in error.trailing_metadata() if k == CODE_METADATA]
                assert len(codes) == 1, where
                assert grpcCode(Status(int(codes[0]))) == error.code(), where

        for stub, requests in rpcs:
            GRPC_FUZZ(given(st.just(stub), requests)(check))()


#: Text protobuf can carry (no lone surrogates).
_PB_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20) | _NASTY
_PB_STRINGS = {
    "id": st.sampled_from(["p", "jobs/1", "s", "r", "../p", "", "*", "p*"]),
    "cron": st.sampled_from(["* * * * *", "@every 1s", "61 * * * *", "0 0 30 2 *"]),
    "cursor": st.sampled_from(["", "garbage"])
    | st.dictionaries(_TEXT, _JSON, max_size=3).map(
        lambda c: base64.urlsafe_b64encode(json.dumps(c).encode()).decode()
    ),
}


def _field(field):
    """
    A strategy for one protobuf field's values.
    """
    d = field.DESCRIPTOR if hasattr(field, "DESCRIPTOR") else field
    if d.message_type is not None and d.message_type.GetOptions().map_entry:
        return st.dictionaries(_PB_TEXT, _PB_TEXT, max_size=3)
    if d.message_type is not None:
        return _message(d.message_type)
    if d.type == d.TYPE_STRING:
        # Half the time a plausible value, so requests get past validation.
        special = _PB_STRINGS.get(d.name, st.sampled_from(["p", "r", "e", "jobs/1"]))
        return special | _PB_TEXT
    if d.type == d.TYPE_BYTES:
        return st.binary(max_size=30)
    if d.type == d.TYPE_BOOL:
        return st.booleans()
    if d.type == d.TYPE_ENUM:
        # Open enums: unknown numbers reach the server too.
        return st.integers(-3, 10)
    if d.type in (d.TYPE_INT32, d.TYPE_SINT32, d.TYPE_SFIXED32):
        return st.integers(-(2**31), 2**31 - 1) | st.integers(-2, 3)
    return (st.integers(-(2**63), 2**63 - 1) | st.integers(-2, 3)
            | st.integers(LATER, LATER + 60_000))


def _message(descriptor):
    """
    A strategy for messages of C{descriptor}, with every field set (an
    absent field is its zero value, which most RPCs refuse before the store
    sees them) to anything.
    """
    cls = GetMessageClass(descriptor)
    return st.fixed_dictionaries(
        {f.name: st.deferred(lambda f=f: _field(f)) for f in descriptor.fields}
    ).map(lambda fields: cls(**fields))


class SQLiteFuzzTests(FuzzTestsMixin, unittest.TestCase):
    """
    The fuzz runs over the SQLite store.
    """

    def makeStore(self):
        # Durability is not under test: no fsync per commit.
        return sqliteStore(self, synchronous="OFF")


class JWTFuzzTestsMixin(FuzzTestsMixin):
    """
    The fuzz with JWT auth on, every request carrying the token
    C{claims} describe (the scene's requests an admin's).
    """

    claims = None

    def fuzzAuth(self):
        from tests.support.authcases import ADMIN, KEYS, signed, verifierFor

        keys = KEYS["ec"]
        auth = {"tokens": verifierFor(keys), "authorization": ADMIN(keys)}
        return auth, signed(**self.claims)(keys)


class SQLiteJWTAdminFuzzTests(JWTFuzzTestsMixin, unittest.TestCase):
    """
    The fuzz over SQLite with JWT auth on and an admin token: verifying
    tokens changes nothing hostile input can reach.
    """

    claims = {"role": "admin"}

    def makeStore(self):
        return sqliteStore(self, synchronous="OFF")


class SQLiteJWTPrefixFuzzTests(JWTFuzzTestsMixin, unittest.TestCase):
    """
    The fuzz over SQLite with a token of prefix C{j} (the routed
    C{jobs/1} is within it, most generated ids are not): hostile ids and
    patterns are refused 403 with the envelope, never a 5xx.
    """

    claims = {"prefix": "j"}

    def makeStore(self):
        return sqliteStore(self, synchronous="OFF")


class PostgresFuzzTests(postgres.PostgresTestsMixin, FuzzTestsMixin, unittest.TestCase):
    """
    The fuzz runs over the PostgreSQL store (it refuses more than SQLite:
    NUL, long index entries).
    """

    def makeStore(self):
        return self.openStore(workers=1)


_METHODS = st.sampled_from([b"GET", b"POST", b"PATCH", b"DELETE", b"PUT", b"HEAD",
                            b"OPTIONS", b"BREW", b""]) | st.binary(max_size=6)
_PATHS = st.tuples(
    st.sampled_from([b"/promises", b"/promises/", b"/schedules/", b"/locks/acquire",
                     b"/tasks/claim", b"/healthz", b"/", b"", b"*",
                     b"http://x/promises/"]),
    st.binary(max_size=20)
    | st.text("abc/.%?#&=*[]\\ 0123456789ABCDEFü", max_size=20).map(str.encode),
).map(b"".join)
_VERSIONS = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1", b"junk",
                             b""])
_HEADER_NAMES = st.sampled_from([
    b"Host", b"Content-Length", b"Transfer-Encoding", b"Content-Type", b"strict",
    b"idempotency-key", b"Authorization", b"Expect", b"Connection",
]) | st.binary(min_size=1, max_size=8)
_NO_LINE_BREAK = st.binary(max_size=20).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"")
)


@st.composite
def _rawRequests(draw):
    """
    A request head built from pieces, any of them garbage, and a body.
    """
    line = draw(_METHODS) + b" " + draw(_PATHS) + b" " + draw(_VERSIONS)
    headers = draw(st.lists(st.tuples(_HEADER_NAMES, _NO_LINE_BREAK), max_size=4))
    head = line + b"\r\n" + b"".join(
        name.replace(b"\r", b"").replace(b"\n", b"") + b": " + value + b"\r\n"
        for name, value in headers
    )
    return head + b"\r\n" + draw(st.binary(max_size=40))


class RawFuzzTests(unittest.TestCase):
    """
    Garbled requests: whatever the server answers is not a 5xx.
    """

    async def test_garbledRequests(self):
        """
        Requests whose method, path, version, headers and body may each be
        garbage, one per connection: the answer, if any, is an HTTP status
        below 500, with the envelope when it is JSON and an error; a
        request the server is still waiting on is cut by the idle timeout.
        """
        api = await LiveAPI(self, idleTimeout=IDLE).start()
        await deferToThread(self._fuzz, api.port)
        health = await api.request("GET", "/healthz")
        self.assertEqual(health.code, 200)

    def _fuzz(self, port):
        @settings(FUZZ, max_examples=200)
        @given(_rawRequests())
        def check(raw):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                s.sendall(raw)
                received = b""
                while b"\r\n\r\n" not in received:
                    data = s.recv(65536)
                    if not data:
                        break
                    received += data
            if not received:
                return
            head, _, body = received.partition(b"\r\n\r\n")
            status = head.split(b"\r\n")[0]
            assert status.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")), (raw, received)
            code = int(status.split(b" ")[1])
            assert code < 500, (raw, received)
            if code >= 400 and b"application/json" in head.lower() and body:
                # The body may not be whole (the client stops at the
                # head): check the envelope when it is.
                try:
                    decoded = json.loads(body)
                except ValueError:
                    return
                assert decoded["error"]["code"] // 10 == code, (raw, received)

        check()


# The 2026 protocol's POST /.


#: Statuses an answer to a request that may still be valid may have.
STILL_VALID = frozenset([200, 300, 400, 404, 409, 422])

#: A target and a later timeout (the API's clock stands at NOW).
_TARGET = "poll://any@hostile"
_LATER = NOW + 86_400_000

#: One valid request of each kind, on the ids L{Protocol2026HostileMixin}
#: prepares: a root task C{h} acquired at version 1 and a pending child
#: C{h:1}.
TEMPLATES_2026 = {
    "promise.get": {"id": "h:1"},
    "promise.create": {
        "id": "h:2", "timeoutAt": _LATER,
        "param": {"headers": {"a": "b"}, "data": "aGk="},
        "tags": {"resonate:target": _TARGET, "resonate:branch": "h"},
    },
    "promise.settle": {"id": "h:1", "state": "resolved", "value": {"data": "aGk="}},
    "promise.register_callback": {"awaited": "h:1", "awaiter": "h"},
    "promise.register_listener": {"awaited": "h:1", "address": "poll://uni@g/p"},
    "promise.search": {"state": "pending", "tags": {"a": "b"}, "limit": 10},
    "task.get": {"id": "h"},
    "task.create": {"pid": "p", "ttl": 1000, "action": {
        "kind": "promise.create", "head": {"corrId": "x", "version": V2026},
        "data": {"id": "h:3", "timeoutAt": _LATER, "param": {},
                 "tags": {"resonate:target": _TARGET}},
    }},
    "task.acquire": {"id": "h:2", "version": 0, "pid": "p", "ttl": 1000},
    "task.release": {"id": "h", "version": 1},
    "task.fulfill": {"id": "h", "version": 1, "action": {
        "kind": "promise.settle", "head": {},
        "data": {"id": "h", "state": "rejected", "value": {"headers": {}}},
    }},
    "task.suspend": {"id": "h", "version": 1, "actions": [
        {"kind": "promise.register_callback", "head": {},
         "data": {"awaited": "h:1", "awaiter": "h"}},
    ]},
    "task.fence": {"id": "h", "version": 1, "action": {
        "kind": "promise.create", "head": {},
        "data": {"id": "h:4", "timeoutAt": _LATER, "tags": {"k": "v"}},
    }},
    "task.heartbeat": {"pid": "p", "tasks": [{"id": "h", "version": 1}]},
    "task.halt": {"id": "h:9"},
    "task.continue": {"id": "h:9"},
    "task.search": {"state": "acquired", "limit": 5},
    "schedule.create": {
        "id": "s", "cron": "* * * * *", "promiseId": "s-{{.timestamp}}",
        "promiseTimeout": 1000, "promiseTags": {"resonate:target": _TARGET},
    },
    "schedule.get": {"id": "s"},
    "schedule.delete": {"id": "gone"},
    "schedule.search": {"limit": 3},
}

#: A fenced settle, beside the fenced create of L{TEMPLATES_2026}.
_FENCE_SETTLE = {"id": "h", "version": 1, "action": {
    "kind": "promise.settle", "data": {"id": "h:1", "state": "rejected_canceled"},
}}

#: Values that replace a member: every JSON type, and integers beyond i64.
_WRONG = [None, 0, -1, 1.5, True, False, "", "x", [], {}, [1], {"a": 1},
          2**63, -(2**63) - 1]


def envelope2026(kind, data, head=None, corrId="h1"):
    """
    A request envelope, as a C{dict}; C{head} members are added to (or,
    as L{None}, removed from) the usual head.
    """
    return {"kind": kind, "head": _head(corrId, head), "data": data}


def _hasLoneSurrogate(value):
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_hasLoneSurrogate(k) or _hasLoneSurrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_hasLoneSurrogate(v) for v in value)
    return False


def expectedEcho(raw):
    """
    The C{kind} and C{corrId} an answer to the body C{raw} must echo: the
    body's, when it is a JSON object (strict JSON: no NaN, no lone
    surrogate) whose C{kind} and C{head.corrId} are strings; else
    C{"unknown"} and C{"0"} (protocol-2026.md section 2, step 1).
    """
    try:
        decoded = json.loads(raw.decode("utf-8"), parse_constant=_refuse)
    except (ValueError, RecursionError):
        return "unknown", "0"
    if not isinstance(decoded, dict) or _hasLoneSurrogate(decoded):
        return "unknown", "0"
    kind = decoded.get("kind")
    head = decoded.get("head")
    corrId = head.get("corrId") if isinstance(head, dict) else None
    return (
        kind if isinstance(kind, str) else "unknown",
        corrId if isinstance(corrId, str) else "0",
    )


def _refuse(name):
    raise ValueError(name)


def _paths(value, path=()):
    """
    Every path into a JSON value (keys and indexes), the value's own
    included, outermost first.
    """
    yield path
    if isinstance(value, dict):
        for key in value:
            yield from _paths(value[key], path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, path + (index,))


def _replaced(value, path, new):
    """
    A copy of C{value} with the member at C{path} replaced by C{new} (or
    removed, when C{new} is L{_ABSENT}).
    """
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    if new is _ABSENT:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return copy


_ABSENT = object()


class Protocol2026Client:
    """
    One persistent connection to C{POST /}, from a thread, that checks
    every answer's form: the 2026 envelope, its HTTP status its
    C{head.status}, never a 5xx, an error's data a string, C{kind} and
    C{corrId} echoed when readable, and the connection kept.
    """

    def __init__(self, port):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.connection.connect()
        self.sock = self.connection.sock
        self.sent = 0

    def close(self):
        self.connection.close()

    def send(self, raw, allowed=STILL_VALID):
        """
        Send C{raw} (bytes, or a JSON value) and check the answer.

        @return: C{(status, data)}.
        """
        if not isinstance(raw, bytes):
            raw = json.dumps(raw).encode("utf-8")
        self.connection.request("POST", "/", body=raw)
        response = self.connection.getresponse()
        body = response.read()
        where = (raw[:300], response.status, body[:300])
        assert response.status < 500, where
        assert response.status in allowed, where
        assert response.getheader("content-type") == "application/json", where
        answer = json.loads(body)
        head = answer["head"]
        assert set(answer) == {"kind", "head", "data"}, where
        assert head["status"] == response.status, where
        assert head["version"] == V2026, where
        kind, corrId = expectedEcho(raw)
        assert (answer["kind"], head["corrId"]) == (kind, corrId), where
        if response.status >= 400:
            assert isinstance(answer["data"], str) and answer["data"], where
        else:
            assert isinstance(answer["data"], dict), where
        assert self.connection.sock is self.sock, f"the connection was closed: {where}"
        self.sent += 1
        if self.sent % 25 == 0:
            self.assertServing()
        return response.status, answer["data"]

    def assertServing(self):
        """
        A valid request still answers 200.
        """
        status, data = self.send(
            envelope2026("promise.get", {"id": "h"}), allowed={200}
        )
        assert data["promise"]["id"] == "h", data


class Protocol2026HostileMixin:
    """
    Hostile bodies at C{POST /}, over a real socket, against the store
    C{makeStore} returns: every answer is a well-formed 2026 envelope, 400
    where the body is not a request and never a 5xx, and the server keeps
    serving.
    """

    def makeStore(self):
        raise NotImplementedError()

    async def startAPI(self):
        api = await LiveAPI(self, store=self.makeStore()).start()
        self.client = await deferToThread(Protocol2026Client, api.port)
        self.addCleanup(self.client.close)
        await deferToThread(self._prepare)
        return api

    def _prepare(self):
        """
        A root task C{h} acquired at version 1 and a pending child C{h:1},
        for requests to reach.
        """
        send = self.client.send
        send(envelope2026("task.create", {"pid": "p", "ttl": 3_600_000, "action": {
            "kind": "promise.create", "head": {},
            "data": {"id": "h", "timeoutAt": _LATER,
                     "tags": {"resonate:target": _TARGET, "resonate:branch": "h"}},
        }}), allowed={200})
        send(envelope2026("promise.create", {"id": "h:1", "timeoutAt": _LATER}),
             allowed={200})

    def refused(self, bodies):
        """
        Each body answers 400.
        """
        for body in bodies:
            self.client.send(body, allowed={400})

    async def test_notRequests(self):
        """
        Bodies that are not JSON, JSON that is not an object, nesting deeper
        than any parser's stack, lone surrogates (escaped, or as the
        invalid UTF-8 of one), numbers no i64 holds: 400, C{kind}
        C{"unknown"} and C{corrId} C{"0"} when they cannot be read.
        """
        await self.startAPI()
        deep = b"[" * 100_000 + b"]" * 100_000
        good = json.dumps(envelope2026("promise.get", {"id": "h"})).encode()
        bodies = [
            b"", b" ", b"{", b"not json", b"\xff\xfe{}", b"{'kind': 1}",
            b"[]", b"1", b"null", b"true", b'"s"', b"1e400", b"NaN",
            good[:-1], good + b"x", deep, b'{"kind":' + deep + b"}",
            b'{"kind":"promise.get","head":{"corrId":"c","version":"'
            + V2026.encode() + b'"},"data":{"id":' + b"[" * 50_000
            + b"]" * 50_000 + b"}}",
            good.replace(b'"h"}', b'"\\ud800"}'),
            good.replace(b'"h"}', b'"\\udc00x"}'),
            good.replace(b'"h"}', b'"\xed\xa0\x80"}'),
            good.replace(b'"promise.get"', b'"\\ud83d"'),
            good.replace(b'"h1"', b'"\\ud800"'),
            good.replace(b'"h"}', b'"h", "x": ' + b"9" * 5000 + b"}"),
            good.replace(b'"h"}', b'"h", "x": NaN}'),
            good.replace(b'"h"}', b'"h", "x": -Infinity}'),
        ]
        await deferToThread(self.refused, bodies)

    async def test_numbers(self):
        """
        Where an integer belongs: integers beyond i64, floats (even C{1.0}),
        booleans, strings and C{null} are 400; so is a C{null} where an
        object (C{param}, C{tags}, C{value}) belongs.
        """
        await self.startAPI()
        cases = []
        for kind, field in [
            ("promise.create", ("timeoutAt",)), ("task.acquire", ("version",)),
            ("task.acquire", ("ttl",)), ("task.create", ("ttl",)),
            ("task.create", ("action", "data", "timeoutAt")),
            ("task.release", ("version",)), ("task.fence", ("version",)),
            ("task.fence", ("action", "data", "timeoutAt")),
            ("task.suspend", ("version",)), ("task.heartbeat", ("tasks", 0, "version")),
            ("promise.search", ("limit",)), ("schedule.create", ("promiseTimeout",)),
        ]:
            for wrong in [2**63, -(2**63) - 1, 10**30, 1.0, 1.5, -0.0, True,
                          False, "5", None, [5], {"n": 5}]:
                if wrong is None and kind.endswith("search"):
                    continue  # an optional member: null is absent
                cases.append(envelope2026(
                    kind, _replaced(TEMPLATES_2026[kind], field, wrong)
                ))
        for kind, field in [
            ("promise.create", ("param",)), ("promise.create", ("tags",)),
            ("promise.settle", ("value",)),
            ("task.create", ("action", "data", "param")),
            ("task.fence", ("action", "data", "tags")),
            ("task.fulfill", ("action", "data", "value")),
            ("schedule.create", ("promiseTags",)),
        ]:
            cases.append(envelope2026(kind, _replaced(TEMPLATES_2026[kind], field, None)))
        cases.append(envelope2026("promise.get", {"id": "h"},
                                  head={"resonate:debug_time": 2**70}))
        cases.append(envelope2026("promise.get", {"id": "h"},
                                  head={"resonate:debug_time": 1.5}))
        await deferToThread(self.refused, cases)

    async def test_nullVersusAbsent(self):
        """
        An optional member given as C{null} is as if absent; a required
        one absent or C{null} is 400.
        """
        await self.startAPI()

        def check():
            send = self.client.send
            for data in [{"state": None}, {"limit": None}, {"cursor": None},
                         {"tags": None}, {}]:
                status, page = send(envelope2026("promise.search", data), allowed={200})
                assert "promises" in page, page
            for kind, template in sorted(TEMPLATES_2026.items()):
                for field in template:
                    for missing in (_ABSENT, None):
                        body = _replaced(template, (field,), missing)
                        status, _ = send(envelope2026(kind, body))
                        if field in ("id", "pid", "version", "ttl", "action",
                                     "actions", "awaited", "awaiter", "address",
                                     "timeoutAt", "cron", "promiseId", "tasks"):
                            assert status == 400, (kind, field, missing, status)

        await deferToThread(check)

    async def test_nulBytesAndHugeStrings(self):
        """
        A NUL byte in any id, pid, address, tag or cursor is 400; an id of
        most of a megabyte is 400 where it would be stored, and an answer
        (404, or an empty page) where it is only looked for.
        """
        await self.startAPI()
        huge = "x" * 900_000

        def check():
            send = self.client.send
            for kind, template in sorted(TEMPLATES_2026.items()):
                for path in _paths(template):
                    value = template
                    for step in path:
                        value = value[step]
                    if not isinstance(value, str) or not value or path[-1:] in [
                        ("kind",), ("state",), ("cron",), ("promiseId",)
                    ] or "tags" in path or "head" in path:
                        # Choices, and members no kind reads (an action's
                        # head), refuse NUL for other reasons or not at all.
                        continue
                    send(envelope2026(kind, _replaced(template, path, value + "\x00")),
                         allowed={400})
                    send(envelope2026(kind, _replaced(template, path, huge)))
            send(envelope2026("promise.create", {"id": huge, "timeoutAt": _LATER}),
                 allowed={400})
            send(envelope2026("promise.search", {"tags": {"a\x00": "b"}}), allowed={400})
            send(envelope2026("promise.search", {"cursor": huge}), allowed={200, 400})
            send(envelope2026("promise.get", {"id": huge}), allowed={404})
            send(envelope2026("promise.get", {"id": "h"}, corrId=huge), allowed={200})
            send(envelope2026("promise.get" + huge[:100_000], {"id": "h"}),
                 allowed={400})

        await deferToThread(check)

    async def test_wrongTypesEverywhere(self):
        """
        Every member at every nesting level of every kind's request (the
        actions of task.create, task.fence and task.suspend among them),
        the envelope's own included, replaced by each JSON type or removed:
        a well-formed envelope, never a 5xx.
        """
        await self.startAPI()

        def check():
            templates = sorted(TEMPLATES_2026.items()) + [("task.fence", _FENCE_SETTLE)]
            for kind, template in templates:
                whole = envelope2026(kind, template)
                for path in _paths(whole):
                    for wrong in _WRONG + [_ABSENT]:
                        if wrong is _ABSENT and not path:
                            continue
                        status, _ = self.client.send(_replaced(whole, path, wrong))
                        envelopeMember = path in [
                            (), ("kind",), ("head",), ("head", "version"),
                        ] or (path == ("head", "corrId") and not isinstance(wrong, str)
                              ) or (path == ("data",) and not isinstance(wrong, dict))
                        if envelopeMember:
                            assert status == 400, (kind, path, wrong, status)
            self.client.assertServing()

        await deferToThread(check)

    async def test_unknownKindsAndGarbageHeads(self):
        """
        Unknown kinds, an empty kind, a head that is not an object or lacks
        its corrId or version, a corrId or version of the wrong type, an
        unsupported version, an auth that is not a string: 400, the kind
        and corrId echoed when they are strings.  The debug kinds are 403
        while debug is off.
        """
        await self.startAPI()
        data = {"id": "h"}
        cases = [envelope2026(kind, data) for kind in [
            "promise.nope", "PROMISE.GET", "promise.get ", "", "promise",
            "task.get\x00", "promise.getx", "\U0001d11e", "debug.",
        ]]
        for head in [{"corrId": 5}, {"corrId": None}, {"corrId": []}, {"corrId": {}},
                     {"version": None}, {"version": 1}, {"version": ""},
                     {"version": "2025-01-01"}, {"version": V2026 + " "},
                     {"auth": 5}, {"auth": {}}, {"resonate:debug_time": "1"}]:
            cases.append(envelope2026("promise.get", data, head=head))
        for head in [None, [], "h", 1, True]:
            cases.append({"kind": "promise.get", "head": head, "data": data})
        cases.append({"kind": "promise.get", "data": data})
        cases.append({"head": {"corrId": "c", "version": V2026}, "data": data})
        cases.append({"kind": "promise.get", "head": {"corrId": "c", "version": V2026}})
        cases.append({"kind": 5, "head": {"corrId": "c", "version": V2026}, "data": data})

        def check():
            self.refused(cases)
            for kind in ["debug.start", "debug.stop", "debug.reset", "debug.snap",
                         "debug.tick"]:
                self.client.send(envelope2026(kind, {"time": 1}), allowed={403})
            self.client.assertServing()

        await deferToThread(check)

    async def test_randomMutations(self):
        """
        Valid envelopes of every kind with one to three seeded random
        mutations (members removed, added, retyped, strings cut or spiked
        with NUL, surrogates and wildcards, numbers pushed past i64, the
        JSON text itself cut or garbled): every answer is a well-formed
        envelope with a status a possibly valid request may have, and the
        server keeps serving.
        """
        await self.startAPI()

        def check():
            rng = random.Random(2026)
            templates = sorted(TEMPLATES_2026.items()) + [("task.fence", _FENCE_SETTLE)]
            for _ in range(MUTATIONS):
                kind, template = rng.choice(templates)
                body = envelope2026(kind, template, corrId=f"m{rng.randrange(1000)}")
                for _ in range(rng.randint(1, 3)):
                    body = _mutate(rng, body)
                raw = json.dumps(body).encode("utf-8")
                if rng.random() < 0.1:
                    raw = _garble(rng, raw)
                self.client.send(raw, allowed=STILL_VALID | {403})
            self.client.assertServing()

        await deferToThread(check)


#: How many random mutations L{Protocol2026HostileMixin.test_randomMutations}
#: sends.
MUTATIONS = 600

_SPIKES = ["\x00", "\ud800", "*", "%", "_", "'", '"', "\\", ":", ".", "\u2028",
           "\U0001d11e", " "]


def _mutate(rng, body):
    """
    One random change to a JSON value somewhere inside it.
    """
    path = rng.choice(list(_paths(body)))
    value = body
    for step in path:
        value = value[step]
    roll = rng.random()
    if roll < 0.2 and path:
        return _replaced(body, path, _ABSENT)
    if roll < 0.4:
        return _replaced(body, path, rng.choice(_WRONG))
    if roll < 0.55 and isinstance(value, dict):
        extra = dict(value, **{rng.choice(["x", "id", "kind", "data", ""]):
                               rng.choice(_WRONG)})
        return _replaced(body, path, extra)
    if roll < 0.75 and isinstance(value, str):
        cut = rng.randrange(len(value) + 1)
        spiked = value[:cut] + rng.choice(_SPIKES) + value[cut:]
        return _replaced(body, path, rng.choice([spiked, value[:cut], value * 3]))
    if roll < 0.9 and isinstance(value, int) and not isinstance(value, bool):
        return _replaced(body, path, rng.choice(
            [value + 1, value - 1, -value, value * 2**40, 2**63 - 1, 0]
        ))
    if isinstance(value, list):
        return _replaced(body, path, value + value if value else [rng.choice(_WRONG)])
    return _replaced(body, path, rng.choice(_WRONG))


def _garble(rng, raw):
    """
    Cut, duplicate or flip bytes of a JSON text.
    """
    at = rng.randrange(len(raw))
    roll = rng.random()
    if roll < 0.3:
        return raw[:at]
    if roll < 0.6:
        return raw[:at] + raw[at:at + 5] + raw[at:]
    return raw[:at] + bytes([rng.randrange(256)]) + raw[at + 1:]


class MemoryProtocol2026HostileTests(Protocol2026HostileMixin, unittest.TestCase):
    """
    Hostile 2026 bodies against the memory store.
    """

    def makeStore(self):
        return MemoryStore()


class SQLiteProtocol2026HostileTests(Protocol2026HostileMixin, unittest.TestCase):
    """
    Hostile 2026 bodies against a SQLite file.
    """

    def makeStore(self):
        return sqliteStore(self, synchronous="OFF")


class PostgresProtocol2026HostileTests(
    postgres.PostgresTestsMixin, Protocol2026HostileMixin, unittest.TestCase
):
    """
    Hostile 2026 bodies against a scratch PostgreSQL database (it refuses
    more than SQLite: NUL, long index entries).
    """

    def makeStore(self):
        return self.openStore(workers=1)


class _AuthClient(Protocol2026Client):
    """
    A L{Protocol2026Client} whose check that the server still serves
    carries an admin token.
    """

    def __init__(self, port, admin):
        super().__init__(port)
        self.admin = admin

    def assertServing(self):
        status, data = self.send(
            envelope2026("promise.get", {"id": "h"}, head={"auth": self.admin}),
            allowed={200},
        )
        assert data["promise"]["id"] == "h", data


class Protocol2026AuthHostileTests(unittest.TestCase):
    """
    Hostile 2026 bodies while JWT auth is on (protocol section 14): tokens
    of every kind in C{head.auth}, mutated with the rest of the body.
    Every answer is a well-formed envelope, never a 5xx; a token whose
    prefix no template id has never gets its request done.
    """

    async def test_randomMutations(self):
        """
        The mutations of L{Protocol2026HostileMixin.test_randomMutations},
        each body carrying an admin token, a token for the prefix C{h}
        (every template's ids), a token for the prefix C{z/}, or a
        garbage one: 401 and 403 join the statuses, and a C{z/} body is
        never answered 200 or 300.
        """
        from resonate.api.tokens import TokenVerifier
        from tests.support.cases2026 import Live2026API
        from tests.support.jwttools import KeyPair

        keys = KeyPair("ed25519")
        api = await Live2026API(
            self, MemoryStore(), tokens=TokenVerifier(keys.publicPEM)
        ).start()
        admin = keys.token(role="admin")
        tokens = [admin, keys.token(prefix="h"), keys.token(prefix="z/"), "a.b.c"]
        outsider = tokens[2]

        def check():
            client = _AuthClient(api.port, admin)
            try:
                client.send(envelope2026("task.create", {"pid": "p", "ttl": 3_600_000, "action": {
                    "kind": "promise.create", "head": {},
                    "data": {"id": "h", "timeoutAt": _LATER,
                             "tags": {"resonate:target": _TARGET, "resonate:branch": "h"}},
                }}, head={"auth": admin}), allowed={200})
                rng = random.Random(19)
                templates = sorted(TEMPLATES_2026.items()) + [("task.fence", _FENCE_SETTLE)]
                for _ in range(MUTATIONS):
                    kind, template = rng.choice(templates)
                    token = rng.choice(tokens)
                    body = envelope2026(kind, template, head={"auth": token},
                                        corrId=f"m{rng.randrange(1000)}")
                    for _ in range(rng.randint(1, 3)):
                        body = _mutate(rng, body)
                    raw = json.dumps(body).encode("utf-8")
                    status, _ = client.send(raw, allowed=STILL_VALID | {401, 403})
                    if outsider in raw.decode("utf-8"):
                        assert status not in (200, 300), (raw[:300], status)
                client.assertServing()
            finally:
                client.close()

        await deferToThread(check)
