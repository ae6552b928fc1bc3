# -*- test-case-name: tests.test_api_http -*-
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
    C{routes}.
    """

    def __init__(self, testCase, store=None, size=100, maxBodySize=1024 * 1024,
                 routes=(), credentials=None, addr="127.0.0.1:0",
                 scheme="http", agent=None):
        """
        @param credentials: L{None}, or the
            L{resonate.api.auth.BasicCredentials} every request must present.
        @param addr: the listening address or endpoint description (e.g.
            C{ssl:0:interface=127.0.0.1:privateKey=...}).
        @param scheme: C{"https"} for a TLS C{addr}.
        @param agent: the C{IAgent} requests go through (one that trusts
            the test's certificate, for TLS).
        """
        self.clock = Clock()
        self.clock.advance(NOW / 1000)
        self.store = store if store is not None else MemoryStore()
        self.operations = Operations(self.store, self.clock, size, routes=routes)
        site = APISite(
            HTTPAPI(self.operations).resource(), maxBodySize=maxBodySize,
            credentials=credentials,
        )
        self.service = ListeningService(
            "http", endpointForAddress(reactor, addr), site
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
