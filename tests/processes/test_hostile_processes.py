# -*- test-case-name: tests.processes.test_hostile_processes -*-
"""
Overload: a flood of a real C{twist resonate} beyond C{api.size}, over HTTP
and gRPC at once.  The other hostile clients are in
L{tests.integration.test_hostile}; docs/reliability.md ("Hostile input and
overload") says what is promised.
"""

import base64
import os

import grpc
from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.trial import unittest

from resonate.api.grpcapi import CODE_METADATA
from resonate.api.pb import promise_pb2, promise_pb2_grpc
from tests.support.apicases import LATER
from tests.support.grpctools import callRPC
from tests.support.processtools import HTTPClient, sqliteFlags, startResonate, stopResonate

#: Requests sent at once per protocol and round, and rounds.
FLOOD_HTTP = 200
FLOOD_GRPC = 100
FLOOD_ROUNDS = 3

#: How much the server's resident memory may grow over the floods.
RSS_GROWTH = 100 << 20


def _rpcError(failure):
    """
    An RPC's error as its result.
    """
    failure.trap(grpc.RpcError)
    return failure.value


def residentBytes(pid):
    """
    The resident set size of process C{pid}, from C{/proc}.
    """
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


class OverloadTests(unittest.TestCase):
    """
    A real server with C{--api-size 4}, flooded over HTTP and gRPC at once.
    """

    async def test_flood(self):
        """
        Floods of creates far beyond C{api.size}, each over its own HTTP
        connection and, at the same time, over gRPC: the server refuses what
        it cannot admit with 503 (5031) over HTTP, and UNAVAILABLE (5031) or
        grpcio's RESOURCE_EXHAUSTED over gRPC, and nothing else fails;
        every create it acknowledged reads back as acknowledged; its
        resident memory grows by less than 100 MiB; and once the flood is
        over it serves every request again.
        """
        server = await startResonate(
            self, "--api-size", "4", *sqliteFlags(self.mktemp())
        )
        channel = grpc.insecure_channel(await server.grpcAddress())
        self.addCleanup(channel.close)
        stub = promise_pb2_grpc.PromisesStub(channel)
        client = HTTPClient(server.url)
        data = os.urandom(16 << 10)
        param = {"data": base64.b64encode(data).decode()}
        for i in range(20):
            warm = await client.create(f"warm{i}", LATER, param=param)
            self.assertEqual(warm.code, 201, warm)
        before = residentBytes(server.pid)

        acknowledged = []
        refusedHTTP = refusedGRPC = 0
        for round in range(FLOOD_ROUNDS):
            httpIds = [f"h{round}.{i}" for i in range(FLOOD_HTTP)]
            grpcIds = [f"g{round}.{i}" for i in range(FLOOD_GRPC)]
            calls = [ensureDeferred(client.create(i, LATER, param=param))
                     for i in httpIds]
            calls += [
                callRPC(stub.CreatePromise, promise_pb2.CreatePromiseRequest(
                    id=i, timeout=LATER, param=promise_pb2.Value(data=data),
                )).addErrback(_rpcError)
                for i in grpcIds
            ]
            results = await gatherResults(calls)
            for promiseId, response in zip(httpIds, results[:FLOOD_HTTP]):
                if response.code == 201:
                    acknowledged.append(promiseId)
                else:
                    self.assertEqual((response.code, response.errorCode), (503, 5031),
                                     response)
                    refusedHTTP += 1
            for promiseId, response in zip(grpcIds, results[FLOOD_HTTP:]):
                if not isinstance(response, grpc.RpcError):
                    self.assertFalse(response.noop)
                    acknowledged.append(promiseId)
                    continue
                refusedGRPC += 1
                codes = [v for k, v in response.trailing_metadata() or ()
                         if k == CODE_METADATA]
                self.assertIn(
                    (response.code(), codes),
                    [(grpc.StatusCode.UNAVAILABLE, ["5031"]),
                     (grpc.StatusCode.RESOURCE_EXHAUSTED, [])],
                    (response.code(), response.details()),
                )
        after = residentBytes(server.pid)

        self.assertGreater(refusedHTTP, 0)
        self.assertGreater(refusedGRPC, 0)
        self.assertLess(after - before, RSS_GROWTH, (before, after))
        # One request at a time: none is refused now.
        for promiseId in acknowledged:
            read = await client.read(promiseId)
            self.assertEqual(read.code, 200, read)
            self.assertEqual(read.body["param"], param, promiseId)
        for i in range(20):
            created = await client.create(f"after{i}", LATER)
            self.assertEqual(created.code, 201, created)
        read = await callRPC(stub.ReadPromise, promise_pb2.ReadPromiseRequest(id="after0"))
        self.assertEqual(read.promise.id, "after0")
        await stopResonate(server)
