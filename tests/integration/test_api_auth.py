# -*- test-case-name: tests.integration.test_api_auth -*-
"""
JWT auth of the v0.5 API over real sockets on 127.0.0.1: the auth case
table (L{tests.support.authcases}) over HTTP and gRPC, and what each
protocol adds (the challenge, the gRPC codes, the open health service).
"""

import re

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.trial import unittest

from resonate.api.grpcapi import CODE_METADATA
from resonate.api.http import tokenExempt
from resonate.api.pb import promise_pb2, promise_pb2_grpc
from resonate.store.memory import MemoryStore
from tests.support.apitools import LiveAPI
from tests.support.authcases import ADMIN, KEYS, TEAM_A, AuthCasesMixin
from tests.support.grpctools import GRPCDriver, callRPC


class HTTPAuthTests(AuthCasesMixin, unittest.TestCase):
    """
    The auth case table over HTTP, and the site's answers to requests
    without a good token.
    """

    protocol = "http"

    def makeStore(self):
        return MemoryStore()

    async def startAPI(self, **kwargs):
        return await LiveAPI(self, store=self.makeStore(), **kwargs).start()

    async def sendAs(self, api, step, authorization):
        """
        Send the request under test over HTTP with C{authorization}, or
        without the header.
        """
        saved, api.authorization = api.authorization, authorization
        try:
            return await api.perform(step)
        finally:
            api.authorization = saved

    def checkAnswer(self, name, response):
        """
        A 401 challenges for a Bearer token; no other answer does.
        """
        challenge = response.headers.getRawHeaders(b"www-authenticate")
        if response.code == 401:
            self.assertEqual(challenge, [b'Bearer realm="resonate"'], name)
        else:
            self.assertIsNone(challenge, name)

    async def test_reason(self):
        """
        A 401 says why the token was refused (never the token itself).
        """
        keys = KEYS["ec"]
        api = await self.startAuthAPI(keys)
        token = keys.token(expiresIn=-60, role="admin")
        response = await self.sendAs(
            api, ("get", "/promises/p"), "Bearer " + token
        )
        self.assertEqual(response.code, 401)
        message = response.body["error"]["details"][0]["message"]
        self.assertIn("expired", message)
        self.assertNotIn(token, response.raw.decode("utf-8"))

    async def test_forbiddenDetails(self):
        """
        A 403 names each field outside the token's prefix.
        """
        keys = KEYS["ec"]
        api = await self.startAuthAPI(keys)
        response = await self.sendAs(
            api,
            ("post", "/locks/acquire", {"resourceId": "x", "processId": "y",
                                        "executionId": "e", "expiryInMilliseconds": 10}),
            TEAM_A(keys),
        )
        self.assertEqual(response.errorCode, 4038)
        fields = [d["field"] for d in response.body["error"]["details"]]
        self.assertEqual(fields, ["resourceId", "processId"])

    async def test_bodyNotRead(self):
        """
        The body of a request without a good token is dropped unread: a
        malformed one is answered 401, not 400.
        """
        keys = KEYS["ec"]
        api = await self.startAuthAPI(keys)
        response = await self.sendAs(
            api, ("raw", "POST", "/promises", b"{not json"), "Bearer abc"
        )
        self.assertEqual((response.code, response.errorCode), (401, 4010))

    async def test_rootPostLeftToTheProtocol(self):
        """
        C{POST /} is not asked for an C{Authorization} header by the site:
        the 2026 protocol reads the envelope's C{head.auth}.  (Whatever
        that protocol answers, it is not the site's 401 with a challenge.)
        """
        keys = KEYS["ec"]
        api = await self.startAuthAPI(keys)
        api.authorization = None
        body = {"kind": "promise.get", "head": {"corrId": "1", "version": "2026-04-01"},
                "data": {"id": "p"}}
        response = await api.request("POST", "/", body)
        self.assertIsNone(response.headers.getRawHeaders(b"www-authenticate"))

    async def test_pipelined(self):
        """
        Two requests on one connection are authenticated each on its own:
        the second, without a token, is refused after the first, with one,
        is served.
        """
        keys = KEYS["ec"]
        api = await self.startAuthAPI(keys)
        received = []
        done = Deferred()

        class Client(Protocol):
            def connectionMade(self):
                self.transport.write(
                    b"GET /promises/team-a/x HTTP/1.1\r\nHost: x\r\n"
                    b"Authorization: " + TEAM_A(keys).encode() + b"\r\n\r\n"
                    b"GET /promises/team-a/x HTTP/1.1\r\nHost: x\r\n"
                    b"Connection: close\r\n\r\n"
                )

            def dataReceived(self, data):
                received.append(data)

            def connectionLost(self, reason):
                done.callback(b"".join(received))

        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", api.port)
        await connectProtocol(endpoint, Client())
        answer = await done
        statuses = re.findall(rb"HTTP/1.1 (\d{3}) ", answer)
        self.assertEqual(statuses, [b"404", b"401"])

    async def test_basicAuthPrincipal(self):
        """
        Without JWT auth, every request may name every id (as before).
        """
        api = await LiveAPI(self, store=self.makeStore()).start()
        response = await api.create("team-b/p")
        self.assertEqual(response.code, 201)
        response = await api.request("GET", "/promises?id=*")
        self.assertEqual(response.code, 200)


class TokenExemptTests(unittest.TestCase):
    """
    L{tokenExempt} leaves exactly the probes, C{POST /} and the console to
    their handlers.
    """

    def test_paths(self):
        """
        The probes (any method), C{POST /}, and C{/console} and below are
        exempt; nothing else is, however close.
        """
        exempt = [
            (b"GET", b"/healthz"), (b"GET", b"/readyz"), (b"GET", b"/health"),
            (b"HEAD", b"/ready"), (b"POST", b"/"), (b"GET", b"/console"),
            (b"GET", b"/console/"), (b"POST", b"/console/promises/x"),
        ]
        asked = [
            (b"GET", b"/"), (b"PUT", b"/"), (b"GET", b"/consoles"),
            (b"GET", b"/healthz/"), (b"GET", b"//healthz"), (b"GET", b"/poll/g/i"),
            (b"GET", b"/promises/console/x"), (b"POST", b"//"),
            (b"GET", b"/%63onsole/"), (b"GET", b"/openapi.yml"),
        ]
        for method, path in exempt:
            self.assertTrue(tokenExempt(method, path), (method, path))
        for method, path in asked:
            self.assertFalse(tokenExempt(method, path), (method, path))


class GRPCAuthTests(AuthCasesMixin, unittest.TestCase):
    """
    The auth case table over gRPC (every row an RPC can say), and the
    health service, which stays open.
    """

    protocol = "grpc"

    #: The rows only HTTP can say (paths, POST /gc) are left out.
    minimumCases = 69

    def makeStore(self):
        return MemoryStore()

    async def startAPI(self, **kwargs):
        return await LiveAPI(self, store=self.makeStore(), grpc=True, **kwargs).start()

    async def sendAs(self, api, step, authorization):
        """
        Send the request under test as its RPC, with C{authorization} as
        its C{authorization} metadata, or without any.
        """
        metadata = None
        if authorization is not None:
            metadata = (("authorization", authorization),)
        return await GRPCDriver(api.channel, metadata).send(step)

    def checkAnswer(self, name, response):
        """
        401 is UNAUTHENTICATED, 403 PERMISSION_DENIED.
        """
        expected = {401: grpc.StatusCode.UNAUTHENTICATED,
                    403: grpc.StatusCode.PERMISSION_DENIED}.get(response.code)
        if expected is not None:
            self.assertEqual(response.grpcCode, expected, name)

    async def test_healthOpen(self):
        """
        The health service answers without a token.
        """
        api = await self.startAuthAPI(KEYS["ec"])
        stub = health_pb2_grpc.HealthStub(api.channel)
        response = await callRPC(stub.Check, health_pb2.HealthCheckRequest(service=""))
        self.assertEqual(response.status, health_pb2.HealthCheckResponse.SERVING)

    async def test_reason(self):
        """
        An UNAUTHENTICATED RPC carries 4010 and says why.
        """
        keys = KEYS["ec"]
        api = await self.startAuthAPI(keys)
        stub = promise_pb2_grpc.PromisesStub(api.channel)
        try:
            await callRPC(
                stub.ReadPromise, promise_pb2.ReadPromiseRequest(id="p"),
                (("authorization", "Bearer " + keys.token(expiresIn=-60, role="admin")),),
            )
        except grpc.RpcError as error:
            self.assertEqual(error.code(), grpc.StatusCode.UNAUTHENTICATED)
            self.assertIn((CODE_METADATA, "4010"), tuple(error.trailing_metadata()))
            self.assertIn("expired", error.details())
        else:
            self.fail("an expired token was accepted")

    async def test_adminMetadata(self):
        """
        An admin token as metadata is served.
        """
        keys = KEYS["ec"]
        api = await self.startAuthAPI(keys)
        response = await self.sendAs(api, ("post", "/promises", {"id": "x", "timeout": 2**40}),
                                     ADMIN(keys))
        self.assertEqual(response.code, 201, response)
