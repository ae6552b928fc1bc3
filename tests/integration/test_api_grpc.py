# -*- test-case-name: tests.integration.test_api_grpc -*-
"""
The gRPC API over real sockets on 127.0.0.1: the API case table
(L{tests.support.apicases}) with every request the v0.5 protobuf messages can say,
the error mapping, search, health, overload and shutdown.  A real
C{twist resonate} process serving gRPC is in
L{tests.processes.test_api_grpc_processes}.
"""

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.trial import unittest

from resonate.api.auth import BasicCredentials, basicAuthorization
from resonate.api.grpcapi import CODE_METADATA, grpcCode
from resonate.api.grpcserver import GRPCService
from resonate.api.pb import (
    promise_pb2,
    promise_pb2_grpc,
    schedule_pb2,
    schedule_pb2_grpc,
)
from resonate.config import Address
from resonate.metrics import Metrics
from resonate.services.listen import CannotListen
from resonate.status import Status
from resonate.store.memory import MemoryStore
from tests.integration.test_metrics import samples
from tests.support.apicases import APICasesMixin
from tests.support.apitools import LiveAPI
from tests.support.grpctools import GRPCDriver, callRPC


class GRPCAPITestsMixin(APICasesMixin):
    """
    The case table and the gRPC-only tests, against the store C{makeStore}
    returns.
    """

    #: Raw bodies, JSON types protobuf cannot carry and HTTP-only routes
    #: are left out; everything else must run.
    minimumCases = 238

    def makeStore(self):
        raise NotImplementedError()

    async def startAPI(self, **kwargs):
        store = self.makeStore()
        return await LiveAPI(self, store=store, grpc=True, **kwargs).start()

    async def send(self, api, step):
        """
        Send the request under test as its RPC.
        """
        return await GRPCDriver(api.channel).send(step)


class MemoryGRPCAPITests(GRPCAPITestsMixin, unittest.TestCase):
    """
    The gRPC API over the memory store.
    """

    def makeStore(self):
        return MemoryStore()


class SQLiteGRPCAPITests(GRPCAPITestsMixin, unittest.TestCase):
    """
    The gRPC API over the SQLite store.
    """

    def makeStore(self):
        from resonate.config import StoreConfig
        from resonate.store.sqlite.store import SQLiteStore

        store = SQLiteStore(StoreConfig(options={"path": self.mktemp()}), reactor)
        self.addCleanup(store.close)
        return store


class GRPCCodeTests(unittest.TestCase):
    """
    Statuses map to gRPC codes as contract 2.10 says.
    """

    def test_mapping(self):
        """
        Validation is INVALID_ARGUMENT, already completed and held locks
        PERMISSION_DENIED, not found NOT_FOUND, exists ALREADY_EXISTS,
        5000-5003 INTERNAL, 5030-5032 UNAVAILABLE.
        """
        expected = {
            Status.FIELD_VALIDATION_FAILED: grpc.StatusCode.INVALID_ARGUMENT,
            Status.PROMISE_ALREADY_RESOLVED: grpc.StatusCode.PERMISSION_DENIED,
            Status.PROMISE_ALREADY_TIMEDOUT: grpc.StatusCode.PERMISSION_DENIED,
            Status.LOCK_ALREADY_ACQUIRED: grpc.StatusCode.PERMISSION_DENIED,
            Status.TASK_INVALID_COUNTER: grpc.StatusCode.PERMISSION_DENIED,
            Status.PROMISE_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
            Status.TASK_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
            Status.PROMISE_ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
            Status.SCHEDULE_ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
            Status.INTERNAL_SERVER_ERROR: grpc.StatusCode.INTERNAL,
            Status.STORE_FAILURE: grpc.StatusCode.INTERNAL,
            Status.STORE_ENCODING_FAILURE: grpc.StatusCode.INTERNAL,
            Status.SHUTTING_DOWN: grpc.StatusCode.UNAVAILABLE,
            Status.API_SUBMISSION_QUEUE_FULL: grpc.StatusCode.UNAVAILABLE,
            Status.AIO_SUBMISSION_QUEUE_FULL: grpc.StatusCode.UNAVAILABLE,
        }
        self.assertEqual({s: grpcCode(s) for s in expected}, expected)


class GeneratedModulesTests(unittest.TestCase):
    """
    resonate/api/pb/ is what proto/generate.py makes of proto/.
    """

    def test_current(self):
        """
        Regenerating from the .proto files gives the committed modules, byte
        for byte: a changed .proto cannot ship with stale modules.
        """
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        sys.path.insert(0, os.path.join(root, "proto"))
        self.addCleanup(sys.path.remove, os.path.join(root, "proto"))
        import generate

        output = self.mktemp()
        os.makedirs(output)
        generate.generate(output)
        generated = os.path.join(output, "resonate", "api", "pb")
        names = sorted(os.listdir(generated))
        self.assertEqual(len(names), 8)
        for name in names:
            with open(os.path.join(generated, name), "rb") as f:
                fresh = f.read()
            with open(os.path.join(root, "resonate", "api", "pb", name), "rb") as f:
                committed = f.read()
            self.assertEqual(fresh, committed, f"{name} is stale: run proto/generate.py")


class GRPCServiceTests(unittest.TestCase):
    """
    The gRPC server itself: search, health, failures, overload, shutdown.
    """

    async def startAPI(self, **kwargs):
        return await LiveAPI(self, grpc=True, **kwargs).start()

    async def call(self, api, stub, method, request):
        return await callRPC(getattr(stub(api.channel), method), request)

    async def failure(self, api, stub, method, request):
        """
        Call an RPC that must fail.

        @return: C{(grpc code, 4-digit code, details)}.
        """
        try:
            await self.call(api, stub, method, request)
        except grpc.RpcError as e:
            codes = dict(e.trailing_metadata() or ())
            return e.code(), int(codes[CODE_METADATA]), e.details()
        self.fail(f"{method} succeeded")

    async def test_search(self):
        """
        SearchPromises filters by pattern, state and tags, pages with a
        cursor, treats an empty id as every id (v0.5 crashed) and a limit of
        0 as the default; limits below 0 or above 100 are INVALID_ARGUMENT.
        """
        api = await self.startAPI()
        for i in range(5):
            await api.create(f"a/{i}", tags={"k": "even" if i % 2 == 0 else "odd"})
        await api.create("b/0")
        await api.complete("a/0", "RESOLVED")
        stub = promise_pb2_grpc.PromisesStub

        async def ids(**fields):
            page = await self.call(
                api, stub, "SearchPromises", promise_pb2.SearchPromisesRequest(**fields)
            )
            return [p.id for p in page.promises], page.cursor

        self.assertEqual((await ids(id=""))[0], ["b/0", "a/4", "a/3", "a/2", "a/1", "a/0"])
        self.assertEqual((await ids(id="a/*", limit=0))[0], ["a/4", "a/3", "a/2", "a/1", "a/0"])
        self.assertEqual(
            (await ids(id="a/*", state=promise_pb2.SEARCH_RESOLVED))[0], ["a/0"]
        )
        self.assertEqual(
            (await ids(id="a/*", state=promise_pb2.SEARCH_PENDING, tags={"k": "even"}))[0],
            ["a/4", "a/2"],
        )
        first, cursor = await ids(id="a/*", limit=2)
        self.assertEqual(first, ["a/4", "a/3"])
        second, cursor = await ids(cursor=cursor)
        self.assertEqual(second, ["a/2", "a/1"])
        third, cursor = await ids(cursor=cursor)
        self.assertEqual((third, cursor), (["a/0"], ""))
        for limit in (-1, 101):
            code, status, _ = await self.failure(
                api, stub, "SearchPromises", promise_pb2.SearchPromisesRequest(limit=limit)
            )
            self.assertEqual((code, status), (grpc.StatusCode.INVALID_ARGUMENT, 4000))
        code, status, _ = await self.failure(
            api, stub, "SearchPromises", promise_pb2.SearchPromisesRequest(cursor="nope")
        )
        self.assertEqual((code, status), (grpc.StatusCode.INVALID_ARGUMENT, 4000))

    async def test_scheduleSearch(self):
        """
        SearchSchedules filters by pattern and tags and pages with a cursor.
        """
        api = await self.startAPI()
        for i in range(3):
            await api.request("POST", "/schedules", {
                "id": f"s/{i}", "cron": "* * * * *", "promiseId": "p.{{.id}}",
                "promiseTimeout": 1000, "tags": {"n": str(i)},
            })
        stub = schedule_pb2_grpc.SchedulesStub
        page = await self.call(
            api, stub, "SearchSchedules", schedule_pb2.SearchSchedulesRequest(id="s/*", limit=2)
        )
        self.assertEqual([s.id for s in page.schedules], ["s/2", "s/1"])
        page = await self.call(
            api, stub, "SearchSchedules", schedule_pb2.SearchSchedulesRequest(cursor=page.cursor)
        )
        self.assertEqual(([s.id for s in page.schedules], page.cursor), (["s/0"], ""))
        page = await self.call(
            api, stub, "SearchSchedules", schedule_pb2.SearchSchedulesRequest(tags={"n": "1"})
        )
        self.assertEqual([s.id for s in page.schedules], ["s/1"])

    async def test_validationDetails(self):
        """
        A validation failure names every bad field in the status details.
        """
        api = await self.startAPI()
        code, status, details = await self.failure(
            api, promise_pb2_grpc.PromisesStub, "CreatePromise",
            promise_pb2.CreatePromiseRequest(id="", timeout=-1),
        )
        self.assertEqual((code, status), (grpc.StatusCode.INVALID_ARGUMENT, 4000))
        self.assertIn("id is required", details)
        self.assertIn("timeout must be", details)

    async def test_health(self):
        """
        The standard health service says every service is serving, and not
        serving once the server stops.
        """
        api = await self.startAPI()
        stub = health_pb2_grpc.HealthStub
        for name in ["", "promise.Promises", "schedule.Schedules", "lock.Locks", "task.Tasks"]:
            response = await self.call(
                api, stub, "Check", health_pb2.HealthCheckRequest(service=name)
            )
            self.assertEqual(response.status, health_pb2.HealthCheckResponse.SERVING, name)
        try:
            await self.call(api, stub, "Check", health_pb2.HealthCheckRequest(service="nope"))
        except grpc.RpcError as e:
            self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
        else:
            self.fail("an unknown service was reported")

    async def test_metrics(self):
        """
        Every RPC is counted as C{api_total_requests{type="grpc"}} with its
        4-digit status, and the in-flight gauge returns to 0.
        """
        metrics = Metrics()
        api = await self.startAPI(metrics=metrics)
        stub = promise_pb2_grpc.PromisesStub
        create = promise_pb2.CreatePromiseRequest(id="p", timeout=2**62, idempotencyKey="k")
        await self.call(api, stub, "CreatePromise", create)
        await self.call(api, stub, "CreatePromise", create)
        await self.failure(api, stub, "ReadPromise", promise_pb2.ReadPromiseRequest(id="x"))
        await self.failure(api, stub, "CreatePromise", promise_pb2.CreatePromiseRequest())
        text = metrics.exposition()
        counts = {k: float(v) for k, v in samples(text, "api_total_requests").items()}
        self.assertEqual(
            counts,
            {f'{{status="{code}",type="grpc"}}': 1.0 for code in (2010, 2000, 4040, 4000)},
        )
        inFlight = samples(text, "api_in_flight_requests").get('{type="grpc"}')
        self.assertEqual(float(inFlight), 0.0)

    async def test_auth(self):
        """
        With credentials configured, an RPC without them, or with wrong
        ones, is UNAUTHENTICATED (4010) before anything runs; the right
        ones, as C{authorization} metadata, are served; the health service
        stays open to probes.  Each refusal is counted, as HTTP's 401s are
        (C{api_total_requests{type="grpc",status="4010"}}).
        """
        metrics = Metrics()
        api = await self.startAPI(
            credentials=BasicCredentials("user", "secret"), metrics=metrics
        )
        stub = promise_pb2_grpc.PromisesStub(api.channel)
        create = promise_pb2.CreatePromiseRequest(id="p", timeout=2**62)
        for metadata in [None, [("authorization", "Basic " + "x" * 8)],
                         [("authorization", basicAuthorization("user", "wrong").decode())]]:
            try:
                await callRPC(stub.CreatePromise, create, metadata)
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
                self.assertEqual(dict(e.trailing_metadata())[CODE_METADATA], "4010")
            else:
                self.fail(f"served with {metadata!r}")
        self.assertEqual((await api.request("GET", "/promises/p")).code, 401)
        good = [("authorization", basicAuthorization("user", "secret").decode())]
        created = await callRPC(stub.CreatePromise, create, good)
        self.assertEqual(created.promise.id, "p")
        health = await callRPC(
            health_pb2_grpc.HealthStub(api.channel).Check, health_pb2.HealthCheckRequest()
        )
        self.assertEqual(health.status, health_pb2.HealthCheckResponse.SERVING)
        text = metrics.exposition()
        self.assertEqual(
            samples(text, "api_total_requests"),
            {
                '{status="4010",type="grpc"}': "3.0",
                '{status="2010",type="grpc"}': "1.0",
                '{status="4010",type="http"}': "1.0",
            },
        )
        self.assertEqual(
            samples(text, "api_in_flight_requests"),
            {'{type="grpc"}': "0.0", '{type="http"}': "0.0"},
        )

    async def test_unexpectedFailure(self):
        """
        An unexpected failure answers INTERNAL (5000), logged once, without
        the exception's text.
        """
        api = await self.startAPI()

        def broken(promiseId, now, **kwargs):
            raise RuntimeError("secret internals")

        api.store.readPromise = broken
        code, status, details = await self.failure(
            api, promise_pb2_grpc.PromisesStub, "ReadPromise",
            promise_pb2.ReadPromiseRequest(id="p"),
        )
        self.assertEqual((code, status), (grpc.StatusCode.INTERNAL, 5000))
        self.assertNotIn("secret", details)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    async def test_overload(self):
        """
        Beyond C{api.size} operations in flight, RPCs answer UNAVAILABLE
        (5031) at once, as HTTP answers 503.
        """
        api = await self.startAPI(size=1)
        blocked = Deferred()
        original = api.store.readPromise
        api.store.readPromise = lambda promiseId, now, **kw: blocked.addCallback(
            lambda _: original(promiseId, now, **kw)
        )
        first = ensureDeferred(api.request("GET", "/promises/p"))
        while api.operations.inFlight == 0:
            await deferLater(reactor, 0.01)
        code, status, _ = await self.failure(
            api, promise_pb2_grpc.PromisesStub, "CreatePromise",
            promise_pb2.CreatePromiseRequest(id="q", timeout=1),
        )
        self.assertEqual((code, status), (grpc.StatusCode.UNAVAILABLE, 5031))
        api.store.readPromise = original
        blocked.callback(None)
        self.assertEqual((await first).code, 404)

    async def test_shuttingDown(self):
        """
        Once stopping, RPCs answer UNAVAILABLE (5030).
        """
        api = await self.startAPI()
        await api.operations.stop()
        code, status, _ = await self.failure(
            api, promise_pb2_grpc.PromisesStub, "CreatePromise",
            promise_pb2.CreatePromiseRequest(id="q", timeout=1),
        )
        self.assertEqual((code, status), (grpc.StatusCode.UNAVAILABLE, 5030))

    async def test_stopFinishesInFlight(self):
        """
        Stopping the gRPC service lets an RPC in flight finish with its
        answer, then refuses new ones.
        """
        api = await self.startAPI()
        blocked = Deferred()
        original = api.store.readPromise
        api.store.readPromise = lambda promiseId, now, **kw: blocked.addCallback(
            lambda _: original(promiseId, now, **kw)
        )
        stub = promise_pb2_grpc.PromisesStub
        inFlight = self.failure(api, stub, "ReadPromise", promise_pb2.ReadPromiseRequest(id="p"))
        inFlight = ensureDeferred(inFlight)
        while api.operations.inFlight == 0:
            await deferLater(reactor, 0.01)
        stopped = api.grpc.stopService()
        reactor.callLater(0.1, blocked.callback, None)
        code, status, _ = await inFlight
        self.assertEqual((code, status), (grpc.StatusCode.NOT_FOUND, 4040))
        await stopped

    async def test_portTaken(self):
        """
        A taken port stops startup with L{CannotListen}, one clear line.
        """
        taken = reactor.listenTCP(0, Factory.forProtocol(Protocol), interface="127.0.0.1")
        self.addCleanup(taken.stopListening)
        service = GRPCService(
            None, Address(f"127.0.0.1:{taken.getHost().port}"), reactor, workers=1, grace=1
        )
        error = self.assertRaises(CannotListen, service.startService)
        self.assertIn("cannot start grpc server", str(error))
        self.assertFalse(service.running)
