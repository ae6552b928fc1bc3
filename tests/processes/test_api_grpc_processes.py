# -*- test-case-name: tests.processes.test_api_grpc_processes -*-
"""
The gRPC API of a real C{twist resonate} process: it serves gRPC beside
HTTP on one store, and a taken gRPC port stops it with one line.  The API
itself is tested in the test process by L{tests.integration.test_api_grpc}.
"""

import grpc
from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.trial import unittest

from resonate.api.pb import promise_pb2, promise_pb2_grpc
from tests.support.grpctools import callRPC
from tests.support.processtools import (
    HTTPClient,
    ProcessExit,
    runResonate,
    sqliteFlags,
    startResonate,
    stopResonate,
)


class GRPCProcessTests(unittest.TestCase):
    """
    A real C{twist resonate} serves gRPC beside HTTP, on one store.
    """

    async def test_serves(self):
        """
        The server logs C{starting grpc server addr=...}; a promise created
        over gRPC is read over HTTP and completed over gRPC.
        """
        process = await startResonate(self, *sqliteFlags(self.mktemp() + ".db"))
        address = await process.grpcAddress()
        channel = grpc.insecure_channel(address)
        self.addCleanup(channel.close)
        stub = promise_pb2_grpc.PromisesStub(channel)
        created = await callRPC(
            stub.CreatePromise,
            promise_pb2.CreatePromiseRequest(
                id="g/1", timeout=2**62, idempotencyKey="k",
                param=promise_pb2.Value(data=b"\x00\xff", headers={"h": "v"}),
            ),
        )
        self.assertFalse(created.noop)
        read = await HTTPClient(process.url).read("g/1")
        self.assertEqual(read.code, 200)
        self.assertEqual(read.body["param"], {"headers": {"h": "v"}, "data": "AP8="})
        self.assertEqual(read.body["idempotencyKeyForCreate"], "k")
        resolved = await callRPC(
            stub.ResolvePromise, promise_pb2.ResolvePromiseRequest(id="g/1")
        )
        self.assertEqual(resolved.promise.state, promise_pb2.RESOLVED)
        exit = await stopResonate(process)
        self.assertTrue(exit.stoppedByTERM, process.output)

    async def test_portTaken(self):
        """
        A taken gRPC port stops startup: status 1, one C{error: cannot
        start grpc server} line.
        """
        taken = reactor.listenTCP(0, Factory.forProtocol(Protocol), interface="127.0.0.1")
        self.addCleanup(taken.stopListening)
        process = await runResonate(
            self, "--api-grpc-addr", f"127.0.0.1:{taken.getHost().port}",
            *sqliteFlags(self.mktemp() + ".db"),
        )
        self.assertEqual(process.exit, ProcessExit(1, None), process.output)
        lines = [
            line for line in process.lines()
            if line.startswith("error: cannot start grpc server")
        ]
        self.assertEqual(len(lines), 1, process.output)
        self.assertNotIn("Traceback", process.output)
