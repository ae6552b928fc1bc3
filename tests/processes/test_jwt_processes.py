# -*- test-case-name: tests.processes.test_jwt_processes -*-
"""
C{twist resonate --api-auth-jwt-public-key} as a real process (from the
plain install when C{$RESONATE_TEST_PLAIN_VENV} names one): HTTP and gRPC
ask for a token in one process and in every worker of C{--api-workers 2},
and C{--metrics-addr} places the metrics page of both.  The rules
themselves are tested in the test process by
L{tests.integration.test_api_auth}.
"""

import json

import grpc
import treq
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.trial import unittest
from twisted.web.client import HTTPConnectionPool

from resonate.api.grpcapi import CODE_METADATA
from resonate.api.pb import promise_pb2, promise_pb2_grpc
from tests.processes.test_workers_processes import byWorker, scrape
from tests.support.grpctools import callRPC
from tests.support.jwttools import KeyPair
from tests.support.processtools import sqliteFlags, startResonate, stopResonate

FAR = 4102444800000


class JWTProcessTests(unittest.TestCase):
    """
    A real server with JWT auth on.
    """

    timeout = 120

    def setUp(self):
        self.keys = KeyPair("rsa")
        self.publicKey = self.keys.writePublic(self.mktemp())

    def token(self, **claims):
        return "Bearer " + self.keys.token(**claims)

    async def request(self, pool, server, method, path, body=None, authorization=None):
        headers = {} if authorization is None else {"authorization": authorization}
        response = await treq.request(
            method, (server.url + path).encode("ascii"),
            data=None if body is None else json.dumps(body).encode(),
            headers=headers, pool=pool,
        )
        content = await treq.content(response)
        return response.code, json.loads(content) if content else None

    async def checkServes(self, server, pool, connections=1):
        """
        Over C{connections} keep-alive connections at once: no token is
        401, an admin creates anywhere, a team-a/ token reads its ids and
        is refused the others; gRPC asks the same.
        """
        admin = self.token(role="admin")
        teamA = self.token(prefix="team-a/")

        async def one(n):
            code, body = await self.request(pool, server, "GET", f"/promises/team-a/{n}")
            self.assertEqual((code, body["error"]["code"]), (401, 4010))
            code, _ = await self.request(
                pool, server, "POST", "/promises",
                {"id": f"team-a/{n}", "timeout": FAR}, admin,
            )
            self.assertEqual(code, 201)
            code, _ = await self.request(
                pool, server, "POST", "/promises",
                {"id": f"team-b/{n}", "timeout": FAR}, admin,
            )
            self.assertEqual(code, 201)
            code, body = await self.request(
                pool, server, "GET", f"/promises/team-a/{n}", authorization=teamA
            )
            self.assertEqual((code, body["id"]), (200, f"team-a/{n}"))
            code, body = await self.request(
                pool, server, "GET", f"/promises/team-b/{n}", authorization=teamA
            )
            self.assertEqual((code, body["error"]["code"]), (403, 4038))

        await gatherResults([ensureDeferred(one(n)) for n in range(connections)])
        code, _ = await self.request(pool, server, "GET", "/healthz")
        self.assertEqual(code, 200)

        channel = grpc.insecure_channel(await server.grpcAddress())
        self.addCleanup(channel.close)
        stub = promise_pb2_grpc.PromisesStub(channel)
        read = promise_pb2.ReadPromiseRequest(id="team-b/0")
        for metadata, expected in [
            (None, (grpc.StatusCode.UNAUTHENTICATED, "4010")),
            ((("authorization", teamA),), (grpc.StatusCode.PERMISSION_DENIED, "4038")),
        ]:
            try:
                await callRPC(stub.ReadPromise, read, metadata)
            except grpc.RpcError as error:
                codes = dict(error.trailing_metadata())
                self.assertEqual((error.code(), codes[CODE_METADATA]), expected)
            else:
                self.fail(f"read with {metadata} was served")
        response = await callRPC(stub.ReadPromise, read, (("authorization", admin),))
        self.assertEqual(response.promise.id, "team-b/0")

    async def test_oneProcess(self):
        """
        One process asks for tokens on HTTP and gRPC, and serves metrics on
        C{--metrics-addr}.
        """
        server = await startResonate(
            self, "--api-auth-jwt-public-key", self.publicKey,
            "--metrics-addr", "127.0.0.1", *sqliteFlags(self.mktemp()),
        )
        pool = HTTPConnectionPool(reactor, persistent=True)
        self.addCleanup(pool.closeCachedConnections)
        await self.checkServes(server, pool)
        match = await server.waitForOutput(r"starting metrics server addr=(\S+)")
        self.assertTrue(match.group(1).startswith("127.0.0.1:"), match.group(1))
        self.assertIn(b"api_total_requests", await (await treq.get(
            f"http://{match.group(1)}/metrics", pool=pool)).content())
        await pool.closeCachedConnections()
        exit = await stopResonate(server)
        self.assertTrue(exit.stoppedByTERM, server.output)

    async def test_workers(self):
        """
        Every worker of C{--api-workers 2} asks for tokens (requests over
        many connections land on both), and the supervisor's metrics page
        listens on C{--metrics-addr}.
        """
        server = await startResonate(
            self, "--api-workers", "2", "--api-auth-jwt-public-key", self.publicKey,
            "--metrics-addr", "127.0.0.1", *sqliteFlags(self.mktemp()),
        )
        await server.waitForOutput(r"ready \(2 workers ready\)")
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = 16
        self.addCleanup(pool.closeCachedConnections)
        await self.checkServes(server, pool, connections=16)
        match = await server.waitForOutput(r"starting metrics server addr=(\S+)")
        self.assertTrue(match.group(1).startswith("127.0.0.1:"), match.group(1))
        counts = byWorker(await scrape(server), "api_total_requests_total", status="4010")
        self.assertEqual(set(counts), {"0", "1"}, counts)
        await pool.closeCachedConnections()
        exit = await stopResonate(server)
        self.assertTrue(exit.stoppedByTERM, server.output)
