# -*- test-case-name: tests.integration.test_api_http -*-
"""
Helpers for tests that talk to a real HTTP API on 127.0.0.1.
"""

import json

import treq
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.web.client import HTTPConnectionPool

from resonate.api.http import APISite, HTTPAPI
from resonate.api.operations import Operations
from resonate.services.listen import ListeningService, endpointForAddress
from resonate.store.memory import MemoryStore

#: A fixed "now" for the API clock: 2023-11-14T22:13:20Z.
NOW = 1_700_000_000_000


class Response:
    """
    What a test sees of an HTTP answer.

    @ivar code: the HTTP status.
    @ivar headers: the response headers.
    @ivar body: the decoded JSON body, or L{None} when empty.
    @ivar raw: the body bytes.
    """

    def __init__(self, code, headers, raw):
        self.code = code
        self.headers = headers
        self.raw = raw
        self.body = json.loads(raw) if raw else None

    @property
    def errorCode(self):
        """
        The 4-digit code of an error envelope.
        """
        return self.body["error"]["code"]

    def __repr__(self):
        return f"<Response {self.code} {self.raw[:300]!r}>"


class LiveAPI:
    """
    The HTTP API listening on an ephemeral port of 127.0.0.1, over C{store},
    with time from a L{Clock} set to L{NOW}, routing promises to tasks by
    C{routes}, recording into C{metrics} (a L{resonate.metrics.Metrics}, or
    L{None} for none the test sees).
    """

    def __init__(self, testCase, store=None, size=100, maxBodySize=1024 * 1024,
                 routes=(), grpc=False, metrics=None, credentials=None,
                 addr="127.0.0.1:0", scheme="http", agent=None, idleTimeout=60.0,
                 tokens=None, authorization=None):
        """
        @param grpc: whether to serve the gRPC API too, over the same
            operations, on another ephemeral port (its channel is
            C{self.channel} once started).
        @param credentials: L{None}, or the
            L{resonate.api.auth.BasicCredentials} every request must present.
        @param addr: the listening address or endpoint description (e.g.
            C{ssl:0:interface=127.0.0.1:privateKey=...}).
        @param scheme: C{"https"} for a TLS C{addr}.
        @param agent: the C{IAgent} requests go through (one that trusts
            the test's certificate, for TLS).
        @param idleTimeout: the site's idle timeout, in seconds.
        @param tokens: L{None}, or the L{resonate.api.tokens.TokenVerifier}
            of the Bearer tokens every request (and RPC) must present.
        @param authorization: L{None}, or the C{Authorization} value sent
            with every request that does not give its own (the scene of a
            case, with JWT auth on).
        """
        self.authorization = authorization
        self.clock = Clock()
        self.clock.advance(NOW / 1000)
        self.store = store if store is not None else MemoryStore()
        self.operations = Operations(
            self.store, self.clock, size, routes=routes, metrics=metrics
        )
        site = APISite(
            HTTPAPI(self.operations, metrics).resource(),
            maxBodySize=maxBodySize,
            metrics=metrics,
            credentials=credentials,
            idleTimeout=idleTimeout,
            tokens=tokens,
        )
        self.site = site
        self.service = ListeningService(
            "http", endpointForAddress(reactor, addr), site
        )
        self.grpc = None
        if grpc:
            from resonate.api.grpcserver import GRPCService
            from resonate.config import Address

            self.grpc = GRPCService(
                self.operations, Address("127.0.0.1:0"), reactor, workers=size,
                grace=5, metrics=metrics, credentials=credentials,
                maxMessageSize=maxBodySize, tokens=tokens,
            )
        self._testCase = testCase
        self._scheme = scheme
        self._pool = HTTPConnectionPool(reactor, persistent=False)
        self._client = None if agent is None else HTTPClient(agent)

    async def start(self):
        self.service.startService()
        await self.service._listening
        self._testCase.addCleanup(self.service.stopService)
        self.port = self.service.port.getHost().port
        self.url = f"{self._scheme}://127.0.0.1:{self.port}"
        if self.grpc is not None:
            import grpc

            self.grpc.startService()
            self.channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc.port}")
            self._testCase.addCleanup(self.grpc.stopService)
            self._testCase.addCleanup(self.channel.close)
        return self

    def setNow(self, ms):
        """
        Set the API clock to C{ms} epoch milliseconds.
        """
        self.clock.advance(ms / 1000 - self.clock.seconds())

    async def request(self, method, path, body=None, headers=None, raw=None):
        """
        Send a request; C{body} is JSON-encoded unless C{raw} bytes are given.
        """
        data = raw
        if self.authorization is not None:
            headers = dict(headers or {})
            if not any(name.lower() == "authorization" for name in headers):
                headers["authorization"] = self.authorization
        if body is not None:
            data = json.dumps(body).encode("utf-8")
        if self._client is not None:
            response = await self._client.request(
                method,
                (self.url + path).encode("utf-8"),
                headers=headers or {},
                data=data,
            )
        else:
            response = await treq.request(
                method,
                (self.url + path).encode("utf-8"),
                headers=headers or {},
                data=data,
                pool=self._pool,
            )
        content = await treq.content(response)
        return Response(response.code, response.headers, content)

    async def create(self, promiseId, timeout=NOW + 60_000, ikey=None, strict=None, **fields):
        headers = {}
        if ikey is not None:
            headers["idempotency-key"] = ikey
        if strict is not None:
            headers["strict"] = str(strict).lower()
        return await self.request(
            "POST",
            "/promises",
            dict(id=promiseId, timeout=timeout, **fields),
            headers=headers,
        )

    async def complete(self, promiseId, state, ikey=None, strict=None, **fields):
        headers = {}
        if ikey is not None:
            headers["idempotency-key"] = ikey
        if strict is not None:
            headers["strict"] = str(strict).lower()
        return await self.request(
            "PATCH",
            "/promises/" + promiseId,
            dict(state=state, **fields),
            headers=headers,
        )

    async def perform(self, step):
        """
        Send one step of the API case table (L{tests.support.apicases}) over HTTP,
        or set the clock, or dispatch tasks.

        @return: the L{Response}, or L{None} for steps that send nothing.
        """
        kind = step[0]
        if kind == "create":
            _, promiseId, kw = step
            return await self.create(promiseId, **kw)
        if kind == "complete":
            _, promiseId, kw = step
            return await self.complete(promiseId, **kw)
        if kind == "read":
            return await self.request("GET", "/promises/" + step[1])
        if kind == "now":
            self.setNow(step[1])
            return None
        if kind == "dispatch":
            await self.dispatch()
            return None
        if kind == "raw":
            _, method, path, raw = step
            return await self.request(method, path, raw=raw)
        method, path, *rest = step
        body = rest[0] if rest else None
        headers = rest[1] if len(rest) > 1 else None
        return await self.request(method.upper(), path, body, headers=headers)

    async def dispatch(self):
        """
        One millisecond later (a new task's claim window ends at its
        creation), offer every dispatchable task.

        @return: the tasks offered.
        """
        self.setNow(self.operations.now() + 1)
        return await self.store.dispatchTasks(self.operations.now(), 10, 10_000)
