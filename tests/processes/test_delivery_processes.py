# -*- test-case-name: tests.processes.test_delivery_processes -*-
"""
Delivery of the 2026 outbox by real C{twist resonate} processes, on SQLite
and on PostgreSQL (protocol-2026.md §6, §10, §11; DECISIONS 29): an
C{execute} or C{unblock} leaves the outbox only when it is written to a
live SSE connection, answered 2xx by an HTTP push target, or expired.

The clients are real: SSE workers are HTTP/1.1 streams of
C{GET /poll/{group}/{id}} read as resonate-sdk 0.8.1 reads them (each
chunk decoded by itself, events split on a blank line, every C{data:} line
one JSON message), and push targets are C{twisted.web} sites on 127.0.0.1
in the test process.  Covered:

  - routing over SSE: anycast reaches one connection of its group (the one
    with its id, when connected), unicast only its connection, and no
    message crosses groups; each arrives promptly and once;
  - listeners: one C{unblock} carrying the settled record, when the
    promise is settled and when the timeout sweep times it out;
  - a message with no matching connection waits in the outbox (seen with
    C{debug.snap}) and goes out when the connection appears; past
    C{--messages-max-age} it is dropped instead, and counted;
  - HTTP push: a C{POST} of the message as C{application/json}; a target
    answering 500 is retried with a growing backoff until it answers 200,
    and not after; a target that never answers delays neither SSE
    deliveries nor pushes to other targets;
  - C{kill -9} while messages wait: after a restart on the same database
    they are delivered when their connections appear;
  - PostgreSQL, two processes on one database: work created through one
    reaches a worker connected to the other within a fraction of a second,
    and with workers of one group on both, every message reaches exactly
    one connection.

Negative claims ("not delivered twice", "not to that worker") are checked
after a barrier: a later message to every connection, waited for, so that
anything sent before it has arrived.  Every wait is bounded and polls.
"""

import itertools
import json
import re
import time
from collections import Counter
from functools import partial

import treq
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.trial import unittest
from twisted.web.client import HTTPConnectionPool
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from tests.support.postgrestools import PostgresStore
from tests.support.processtools import waitUntil as _waitUntil
from tests.support.processtools import (
    HTTPClient,
    SQLiteStore,
    startResonate,
    stopCleanly,
    wallNow,
)
from tests.support.sseclient import aboutPromise, connectWorker

#: The protocol version of every request.
VERSION = "2026-04-01"

#: The C{serverUrl} every C{execute} must carry (C{--api-base-url}).
BASE_URL = "http://resonate.test:8001"

HOUR = 3_600_000

#: The bound on a prompt delivery, in seconds: from just before the request
#: that causes a message to the moment a worker has read it.
PROMPT = 2.0

#: The longest any other wait may take, in seconds.
WAIT = 10.0

#: Every server: the debug operations (for C{debug.snap}; nothing pauses
#: the loops), the timeout sweep ten times a second, and a known serverUrl.
COMMON = (
    "--debug",
    "--system-timeout-interval", "100ms",
    "--api-base-url", BASE_URL,
)


#: Every wait here polls every 10 ms, for at most L{WAIT} seconds.
waitUntil = partial(_waitUntil, timeout=WAIT, interval=0.01)


def executeMessage(taskId, version=0):
    """
    The C{execute} a worker gets for C{taskId} (protocol §10).
    """
    return {
        "kind": "execute",
        "head": {"serverUrl": BASE_URL},
        "data": {"task": {"id": taskId, "version": version}},
    }


def unblockMessage(record):
    """
    The C{unblock} a listener gets for a promise settled as C{record}.
    """
    return {"kind": "unblock", "head": {}, "data": {"promise": record}}


def target(address):
    return {"resonate:target": address}


class Client:
    """
    The 2026 protocol's C{POST /} of one server process.
    """

    def __init__(self, url):
        self.http = HTTPClient(url)
        self._corrIds = itertools.count()

    async def ok(self, kind, data):
        """
        Send one request, which must answer 200 in a well-formed envelope.

        @return: the answer's C{data}.
        """
        corrId = f"c{next(self._corrIds)}"
        response = await self.http.request(
            "POST", "/",
            {"kind": kind, "head": {"corrId": corrId, "version": VERSION},
             "data": data},
        )
        body = response.body
        if (
            response.code != 200
            or not isinstance(body, dict)
            or body.get("kind") != kind
            or body["head"].get("corrId") != corrId
        ):
            raise AssertionError(f"{kind} {data!r}: {response!r}")
        return body["data"]

    async def create(self, promiseId, tags=None, timeoutAt=None):
        if timeoutAt is None:
            timeoutAt = wallNow() + HOUR
        data = {"id": promiseId, "timeoutAt": timeoutAt, "tags": tags or {}}
        return (await self.ok("promise.create", data))["promise"]

    async def settle(self, promiseId, state="resolved", value=None):
        data = {"id": promiseId, "state": state, "value": value or {}}
        return (await self.ok("promise.settle", data))["promise"]

    async def listen(self, promiseId, address):
        data = {"awaited": promiseId, "address": address}
        return (await self.ok("promise.register_listener", data))["promise"]

    async def promise(self, promiseId):
        return (await self.ok("promise.get", {"id": promiseId}))["promise"]

    async def queued(self):
        """
        The outbox as C{debug.snap} shows it: C{(address, kind, id)}
        triples, sorted.  (It shows an C{execute} without its C{serverUrl},
        added at delivery.)
        """
        snap = await self.ok("debug.snap", {})
        return sorted(
            (m["address"], m["message"]["kind"], aboutPromise(m["message"]))
            for m in snap["messages"]
        )


class Push:
    """
    One request a L{Hook} received.

    @ivar at: its C{time.monotonic()}.
    """

    def __init__(self, at, method, contentType, body):
        self.at = at
        self.method = method
        self.contentType = contentType
        self.body = body


class Hook(Resource):
    """
    An HTTP push target: records every request and answers with the next
    of C{answers} (the last one repeats); an answer of L{None} is never
    given (the request hangs until the connection goes).

    @ivar requests: the L{Push}es received, in order.
    @ivar url: C{http://127.0.0.1:PORT/hook}, once listening.
    """

    isLeaf = True

    def __init__(self, answers):
        super().__init__()
        self._answers = answers
        self.requests = []
        self.url = None

    def render(self, request):
        self.requests.append(
            Push(
                time.monotonic(),
                request.method,
                request.getHeader(b"content-type"),
                json.loads(request.content.read()),
            )
        )
        code = self._answers[min(len(self.requests), len(self._answers)) - 1]
        if code is None:
            return NOT_DONE_YET
        request.setResponseCode(code)
        return b""

    def about(self, promiseId):
        return [p for p in self.requests if aboutPromise(p.body) == promiseId]


class _TrackingSite(Site):
    """
    A L{Site} that knows its open connections, so that a test can cut
    them (a hung request would otherwise outlive it).
    """

    noisy = False

    def __init__(self, resource):
        super().__init__(resource)
        self.channels = set()

    def buildProtocol(self, addr):
        channel = super().buildProtocol(addr)
        self.channels.add(channel)
        connectionLost = channel.connectionLost

        def lost(reason):
            self.channels.discard(channel)
            return connectionLost(reason)

        channel.connectionLost = lost
        return channel

    def log(self, request):
        pass


async def startHook(testCase, *answers):
    """
    Listen on an ephemeral port of 127.0.0.1 with a L{Hook} answering
    C{answers}, until the test ends.  Start it before the server that
    pushes to it: cleanups run last first, so the server goes first.

    @return: the L{Hook}.
    """
    hook = Hook(list(answers))
    site = _TrackingSite(hook)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    hook.url = f"http://127.0.0.1:{port.getHost().port}/hook"

    async def stop():
        await port.stopListening()
        for channel in list(site.channels):
            channel.transport.abortConnection()
        await waitUntil("the hook's connections close", lambda: not site.channels)

    testCase.addCleanup(lambda: ensureDeferred(stop()))
    return hook


async def metric(server, name, labels):
    """
    The value of one sample on C{server}'s metrics page, 0 when absent.
    """
    url = await server.metricsURL()
    response = await treq.get(
        url, pool=HTTPConnectionPool(reactor, persistent=False)
    )
    text = (await treq.content(response)).decode("utf-8")
    match = re.search(
        "^" + re.escape(f"{name}{{{labels}}}") + r" (\S+)$", text, re.MULTILINE
    )
    return float(match.group(1)) if match else 0.0


def deliveries(server, status):
    return metric(server, "resonate_deliveries_total", f'status="{status}"')


class DeliveryProcessTestsMixin:
    """
    Outbox delivery by a real server process on the store L{storeFlags}
    names.
    """

    timeout = 60

    def storeFlags(self):
        """
        The flags for this test's store: an empty database, the same one
        every time a test asks.
        """
        raise NotImplementedError()

    async def startServer(self, *flags):
        """
        Start a server on this test's store.

        @return: C{(process, client)}.
        """
        server = await startResonate(self, *self.storeFlags(), *COMMON, *flags)
        return server, Client(server.url)

    async def stopServer(self, server):
        """
        Stop C{server} cleanly, and check that it logged no traceback.
        """
        await stopCleanly(self, server)

    async def barrier(self, client, workers, name="barrier"):
        """
        Send each of C{workers} a message of its own, by unicast, and wait
        until each has it: whatever was delivered to them before has
        arrived.
        """
        for worker in workers:
            await client.create(
                f"{name}-{worker.name}", target(f"poll://uni@{worker.name}")
            )
        for worker in workers:
            await waitUntil(
                f"{worker.name} gets its barrier",
                lambda: worker.about(f"{name}-{worker.name}"),
            )

    async def expectPrompt(self, description, started, probe):
        """
        Wait until C{probe()} gives C{(arrival time, message)} pairs, and
        check the first arrived within L{PROMPT} of C{started}.

        @return: the pairs.
        """
        found = await waitUntil(description, probe)
        self.assertLess(
            found[0][0] - started, PROMPT, f"{description}: not promptly"
        )
        return found

    def assertEachOnce(self, workers, expected):
        """
        Check that the C{execute}s the workers got, barriers aside, are
        exactly C{expected}: a mapping from task id to the name of the one
        worker it reached (or to a set of names, any one of which it may
        have reached), each once.
        """
        got = Counter()
        where = {}
        for worker in workers:
            for message in worker.messages:
                taskId = aboutPromise(message)
                if taskId.startswith("barrier"):
                    continue
                got[taskId] += 1
                where[taskId] = worker.name
        self.assertEqual(
            {k: n for k, n in got.items() if n != 1}, {}, "delivered twice"
        )
        self.assertEqual(set(got), set(expected))
        for taskId, names in expected.items():
            if isinstance(names, str):
                names = {names}
            self.assertIn(where[taskId], names, taskId)

    # --- SSE ----------------------------------------------------------

    async def test_sseRouting(self):
        """
        Over SSE, a promise created with a C{resonate:target} gets its
        C{execute} (task version 0, the server's C{serverUrl}) promptly:
        anycast C{poll://any@g} reaches one connection of C{g}, anycast
        C{poll://any@g/w1} reaches C{w1}, unicast C{poll://uni@g/w2} only
        C{w2}; group C{h}'s worker gets only C{h}'s work.  A message for
        an address nobody is connected to waits in the outbox while others
        are delivered, and goes out once its connection appears.
        """
        server, client = await self.startServer()
        await client.create("late-any", target("poll://any@late"))
        await client.create("late-uni", target("poll://uni@late/l1"))
        w1 = await connectWorker(self, server, "g", "w1")
        w2 = await connectWorker(self, server, "g", "w2")
        x1 = await connectWorker(self, server, "h", "x1")
        workers = [w1, w2, x1]

        def anywhere(taskId):
            return lambda: [e for w in workers for e in w.about(taskId)]

        expected = {}
        for n in range(6):
            started = time.monotonic()
            await client.create(f"any-{n}", target("poll://any@g"))
            [(_, message)] = await self.expectPrompt(
                f"any-{n} reaches a worker", started, anywhere(f"any-{n}")
            )
            self.assertEqual(message, executeMessage(f"any-{n}"))
            expected[f"any-{n}"] = {"g/w1", "g/w2"}
        for taskId, address, name in [
            ("to-w1", "poll://any@g/w1", "g/w1"),
            ("uni-w2", "poll://uni@g/w2", "g/w2"),
            ("to-h", "poll://any@h", "h/x1"),
        ]:
            started = time.monotonic()
            await client.create(taskId, target(address))
            [(_, message)] = await self.expectPrompt(
                f"{taskId} reaches a worker", started, anywhere(taskId)
            )
            self.assertEqual(message, executeMessage(taskId))
            expected[taskId] = name

        # The delivery loop has run many times meanwhile.
        self.assertEqual(
            await client.queued(),
            [
                ("poll://any@late", "execute", "late-any"),
                ("poll://uni@late/l1", "execute", "late-uni"),
            ],
        )
        started = time.monotonic()
        l1 = await connectWorker(self, server, "late", "l1")
        await self.expectPrompt(
            "the waiting messages go out", started,
            lambda: len(l1.messages) == 2 and l1.events,
        )
        self.assertEqual(
            sorted(l1.messages, key=aboutPromise),
            [executeMessage("late-any"), executeMessage("late-uni")],
        )
        self.assertEqual(await client.queued(), [])

        workers.append(l1)
        expected.update({"late-any": "late/l1", "late-uni": "late/l1"})
        await self.barrier(client, workers)
        self.assertEachOnce(workers, expected)
        await self.stopServer(server)

    async def test_listenerUnblock(self):
        """
        A listener C{poll://uni@clients/c1} gets one C{unblock} carrying
        the settled record when its promise is settled, and one when the
        timeout sweep times its promise out (nothing reads it meanwhile);
        a second listener of the same promise gets its own.
        """
        server, client = await self.startServer()
        c1 = await connectWorker(self, server, "clients", "c1")
        c2 = await connectWorker(self, server, "clients", "c2")

        await client.create("settled")
        await client.listen("settled", "poll://uni@clients/c1")
        await client.listen("settled", "poll://uni@clients/c2")
        timeoutAt = wallNow() + 1000
        await client.create("swept", timeoutAt=timeoutAt)
        await client.listen("swept", "poll://uni@clients/c1")

        started = time.monotonic()
        value = {"headers": {"h": "v"}, "data": "eyJvayI6MX0="}
        settled = await client.settle("settled", "resolved", value)
        self.assertEqual((settled["state"], settled["value"]), ("resolved", value))
        [(_, message)] = await self.expectPrompt(
            "c1 is unblocked", started, lambda: c1.about("settled")
        )
        self.assertEqual(message, unblockMessage(settled))
        [(_, message)] = await self.expectPrompt(
            "c2 is unblocked", started, lambda: c2.about("settled")
        )
        self.assertEqual(message, unblockMessage(settled))

        [(at, message)] = await waitUntil(
            "c1 is unblocked by the timeout", lambda: c1.about("swept")
        )
        record = message["data"]["promise"]
        self.assertEqual(
            (record["state"], record["settledAt"]),
            ("rejected_timedout", timeoutAt),
        )
        self.assertEqual(message, unblockMessage(await client.promise("swept")))

        await self.barrier(client, [c1, c2])
        self.assertEqual(
            sorted(aboutPromise(m) for m in c1.messages),
            ["barrier-clients/c1", "settled", "swept"],
        )
        self.assertEqual(
            sorted(aboutPromise(m) for m in c2.messages),
            ["barrier-clients/c2", "settled"],
        )
        await self.stopServer(server)

    async def test_expiredMessageDropped(self):
        """
        With C{--messages-max-age 1s}, a message whose connection does not
        appear is dropped once it is a second old, not before, and counted
        as C{resonate_deliveries_total{status="dropped"}}; the connection
        that appears afterwards gets only what came after.
        """
        server, client = await self.startServer("--messages-max-age", "1s")
        self.assertEqual(await deliveries(server, "dropped"), 0)
        started = time.monotonic()
        await client.create("stale", target("poll://any@absent"))
        self.assertEqual(
            await client.queued(),
            [("poll://any@absent", "execute", "stale")],
        )
        await waitUntil(
            "the stale message is dropped",
            lambda: deliveries(server, "dropped"),
        )
        self.assertGreaterEqual(time.monotonic() - started, 1.0)
        self.assertEqual(await deliveries(server, "dropped"), 1)
        self.assertEqual(await client.queued(), [])

        a1 = await connectWorker(self, server, "absent", "a1")
        started = time.monotonic()
        await client.create("fresh", target("poll://any@absent"))
        await self.expectPrompt("fresh arrives", started, lambda: a1.about("fresh"))
        await self.barrier(client, [a1])
        self.assertEachOnce([a1], {"fresh": "absent/a1"})
        self.assertEqual(await deliveries(server, "dropped"), 1)
        await self.stopServer(server)

    # --- HTTP push --------------------------------------------------------

    async def test_httpPush(self):
        """
        A push target gets a C{POST} of the message with C{Content-Type:
        application/json}, promptly.  A target answering 500, 500, then 200
        gets the message three times, the waits between growing, and no
        more once it answered 200.  While a target hangs on its push, SSE
        deliveries and pushes to other targets go out promptly, and the
        hung message is not pushed again.
        """
        ok = await startHook(self, 200)
        flaky = await startHook(self, 500, 500, 200)
        hung = await startHook(self, None)
        other = await startHook(self, 200)
        server, client = await self.startServer()

        flakyStarted = time.monotonic()
        await client.create("flaky", target(flaky.url))

        started = time.monotonic()
        await client.create("pushed", target(ok.url))
        [push] = await self.expectPrompt(
            "the push arrives", started,
            lambda: [(p.at, p) for p in ok.about("pushed")],
        )
        push = push[1]
        self.assertEqual(push.method, b"POST")
        self.assertEqual(push.contentType, b"application/json")
        self.assertEqual(push.body, executeMessage("pushed"))

        await client.create("hangs", target(hung.url))
        await waitUntil("the hung push is sent", lambda: hung.about("hangs"))
        w1 = await connectWorker(self, server, "g", "w1")
        started = time.monotonic()
        await client.create("beside-sse", target("poll://any@g"))
        await client.create("beside-push", target(other.url))
        await self.expectPrompt(
            "an SSE delivery beside the hung push", started,
            lambda: w1.about("beside-sse"),
        )
        [(_, push)] = await self.expectPrompt(
            "a push beside the hung push", started,
            lambda: [(p.at, p) for p in other.about("beside-push")],
        )
        self.assertEqual(push.body, executeMessage("beside-push"))

        await waitUntil(
            "the flaky target is tried thrice", lambda: len(flaky.requests) >= 3
        )
        tries = flaky.about("flaky")
        self.assertEqual(len(tries), 3)
        for push in tries:
            self.assertEqual(push.body, executeMessage("flaky"))
        self.assertLess(tries[0].at - flakyStarted, PROMPT)
        first, second = tries[1].at - tries[0].at, tries[2].at - tries[1].at
        self.assertGreater(first, 0.5, "retried without a backoff")
        self.assertGreater(second, first, "the backoff does not grow")
        self.assertGreaterEqual(await deliveries(server, "error"), 2)

        # Barriers: a later message to each target and worker.
        await client.create("flaky-after", target(flaky.url))
        await waitUntil(
            "the flaky target's next push", lambda: flaky.about("flaky-after")
        )
        await self.barrier(client, [w1])
        self.assertEqual(
            [aboutPromise(p.body) for p in flaky.requests],
            ["flaky", "flaky", "flaky", "flaky-after"],
        )
        self.assertEqual(len(ok.requests), 1)
        self.assertEqual(len(other.requests), 1)
        self.assertEqual(len(hung.requests), 1)
        self.assertEqual(
            [aboutPromise(m) for m in w1.messages], ["beside-sse", "barrier-g/w1"]
        )
        self.assertEqual(
            await client.queued(), [(hung.url, "execute", "hangs")]
        )
        # A push in flight does not hold the shutdown.
        await self.stopServer(server)

    # --- Crash ------------------------------------------------------------

    async def test_killedWhileWaiting(self):
        """
        Messages waiting for their connections (an C{execute} and a
        listener's C{unblock}) survive C{kill -9}: after a restart on the
        same database they are still queued, and each is delivered once
        its connection appears.
        """
        server, client = await self.startServer()
        await client.create("waiting", target("poll://any@later"))
        await client.create("heard")
        await client.listen("heard", "poll://uni@clients/c9")
        settled = await client.settle("heard", "rejected", {"data": "bm8="})
        before = await client.queued()
        self.assertEqual(
            before,
            [
                ("poll://any@later", "execute", "waiting"),
                ("poll://uni@clients/c9", "unblock", "heard"),
            ],
        )
        exit = await server.kill()
        self.assertEqual(exit.signal, 9)

        server, client = await self.startServer()
        self.assertEqual(await client.queued(), before)
        started = time.monotonic()
        l1 = await connectWorker(self, server, "later", "l1")
        c9 = await connectWorker(self, server, "clients", "c9")
        [(_, message)] = await self.expectPrompt(
            "the execute goes out", started, lambda: l1.about("waiting")
        )
        self.assertEqual(message, executeMessage("waiting"))
        [(_, message)] = await self.expectPrompt(
            "the unblock goes out", started, lambda: c9.about("heard")
        )
        self.assertEqual(message, unblockMessage(settled))
        await self.barrier(client, [l1, c9])
        self.assertEachOnce([l1, c9], {"waiting": "later/l1", "heard": "clients/c9"})
        self.assertEqual(await client.queued(), [])
        await self.stopServer(server)


class SQLiteDeliveryProcessTests(
    SQLiteStore, DeliveryProcessTestsMixin, unittest.TestCase
):
    """
    Outbox delivery by a server on SQLite.
    """


class PostgresDeliveryProcessTests(
    PostgresStore, DeliveryProcessTestsMixin, unittest.TestCase
):
    """
    Outbox delivery by servers on PostgreSQL, each test on a scratch
    database of its own; and by two servers sharing one.
    """

    async def test_twoServersOneDatabase(self):
        """
        Two servers on one database.  A worker connected to A gets the
        C{execute} of each of N promises created through B, once each, well
        within L{PROMPT} of its creation (B's write wakes nothing in A: A
        finds it by looking every C{messages.pollInterval}).  With workers
        of one group connected to both, messages for the group created
        through both, at once, each reach exactly one connection.
        """
        a, clientA = await self.startServer()
        b, clientB = await self.startServer()
        wa = await connectWorker(self, a, "fleet", "wa")

        n = 20
        latencies = []
        for i in range(n):
            started = time.monotonic()
            await clientB.create(f"via-b-{i}", target("poll://any@fleet"))
            [(at, message)] = await waitUntil(
                f"via-b-{i} reaches the worker on A",
                lambda: wa.about(f"via-b-{i}"),
            )
            self.assertEqual(message, executeMessage(f"via-b-{i}"))
            latencies.append(at - started)
        self.assertLess(
            max(latencies), PROMPT,
            f"latencies (s): {[round(l, 3) for l in latencies]}",
        )

        workers = [
            await connectWorker(self, server, "shared", name)
            for server, name in [(a, "a1"), (a, "a2"), (b, "b1"), (b, "b2")]
        ]
        m = 40
        started = time.monotonic()
        await gatherResults(
            [
                ensureDeferred(
                    (clientA if i % 2 else clientB).create(
                        f"shared-{i}", target("poll://any@shared")
                    )
                )
                for i in range(m)
            ],
            consumeErrors=True,
        )
        await waitUntil(
            "every shared message arrives",
            lambda: sum(
                1 for w in workers for msg in w.messages
                if aboutPromise(msg).startswith("shared-")
            ) >= m,
        )
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, PROMPT)
        # The barriers go through the server each worker is not on.
        await self.barrier(clientB, workers[:2])
        await self.barrier(clientA, workers[2:])
        await self.barrier(clientA, [wa])
        self.assertEachOnce(
            workers,
            {f"shared-{i}": {w.name for w in workers} for i in range(m)},
        )
        self.assertEachOnce(
            [wa], {f"via-b-{i}": "fleet/wa" for i in range(n)}
        )
        await self.stopServer(a)
        await self.stopServer(b)
