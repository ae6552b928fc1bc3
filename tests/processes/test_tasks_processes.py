# -*- test-case-name: tests.processes.test_tasks_processes -*-
"""
Tasks across real processes: a C{twist resonate} (SQLite) routes child
promises to two real worker processes (L{tests.support.task_worker}), which claim
and complete them; a worker that dies after claiming does not lose its
tasks: they are offered again once their claim window is over and a
replacement worker on the same port completes them.

The server runs from the install under test (L{tests.support.processtools}): with
C{RESONATE_TEST_PLAIN_VENV} set, as C{.ci/run} does, from a plain install
without the test extra, so everything a task push imports must be among
the install's requirements.  The workers are test code and run here.
"""

import base64
import json
import os
import socket
import sys
import time

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from tests.support.processtools import (
    ChildProcess,
    HTTPClient,
    ProcessFailed,
    sqliteFlags,
    startResonate,
    stopResonate,
)

WORKER = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support", "task_worker.py"
)

#: How long the children may take to be resolved, in seconds.
RESOLVE_TIMEOUT = 60.0

CHILDREN = 3


def encode(value):
    return base64.b64encode(json.dumps(value).encode("utf-8")).decode("ascii")


def decode(data):
    return json.loads(base64.b64decode(data).decode("utf-8"))


def freePort():
    """
    A TCP port of 127.0.0.1 nothing listens on right now.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def startWorker(testCase, name, logPath, port=0, dieAfterClaims=None):
    """
    Start a L{tests.support.task_worker} process and wait until it listens.

    @return: C{(process, port)}.
    """
    args = [sys.executable, WORKER, "--port", str(port), "--name", name,
            "--log", logPath]
    if dieAfterClaims is not None:
        args += ["--die-after-claims", str(dieAfterClaims)]
    process = ChildProcess(args)
    process.spawn()
    testCase.addCleanup(process.kill)
    match = await process.waitForOutput(r"worker listening port=(\d+)")
    return process, int(match.group(1))


def readLog(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().split()


class TasksAcrossProcessesTests(unittest.TestCase):
    """
    Routed promises are pushed to real workers, claimed and completed.
    """

    timeout = 180

    async def test_fanOutSurvivesDeadWorker(self):
        """
        Six children, three routed to worker A and three to worker B, are
        all resolved with their squares although B dies right after its
        first claim: its tasks go, after the claim window, to a
        replacement on B's port.  A parent is then resolved with the
        gathered results.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        logA = os.path.join(directory, "a.log")
        logB = os.path.join(directory, "b.log")
        logB2 = os.path.join(directory, "b2.log")

        workerA, portA = await startWorker(self, "A", logA)
        workerB, portB = await startWorker(self, "B", logB, dieAfterClaims=1)

        port = freePort()
        url = f"http://127.0.0.1:{port}"
        connections = [
            {"kind": "http", "name": "wa",
             "metadata": {"properties": {"url": f"http://127.0.0.1:{portA}/"}}},
            {"kind": "http", "name": "wb",
             "metadata": {"properties": {"url": f"http://127.0.0.1:{portB}/"}}},
        ]
        routes = [
            {"kind": "pattern", "name": "a",
             "target": {"connection": "wa", "queue": "fan-a"},
             "metadata": {"properties": {"pattern": "/fan/a/*"}}},
            {"kind": "pattern", "name": "b",
             "target": {"connection": "wb", "queue": "fan-b"},
             "metadata": {"properties": {"pattern": "/fan/b/*"}}},
        ]
        server = await startResonate(
            self,
            "--api-http-addr", f"127.0.0.1:{port}",
            "--api-base-url", url,
            "--aio-queuing-connections", json.dumps(connections),
            "--aio-queuing-routes", json.dumps(routes),
            *sqliteFlags(os.path.join(directory, "resonate.db")),
        )
        client = HTTPClient(server.url)
        self.addCleanup(client.pool.closeCachedConnections)

        timeout = int(time.time() * 1000) + 300_000
        expected = {}
        for group, offset in (("a", 0), ("b", 10)):
            for i in range(CHILDREN):
                promiseId = f"fan/{group}/{i}"
                n = offset + i + 1
                expected[promiseId] = n * n
                response = await client.create(
                    promiseId, timeout, param={"headers": {}, "data": encode(n)}
                )
                self.assertEqual(response.code, 201, response)

        # B claims one task and dies without completing it.  If no push
        # arrives, the server's log says why.
        try:
            ended = await workerB.waitForEnd(RESOLVE_TIMEOUT)
        except ProcessFailed as e:
            self.fail(f"{e}\nserver:\n{server.output[-5000:]}")
        self.assertEqual(ended.code, 1, workerB.output)
        self.assertIn("B dying after 1 claims", workerB.output)

        # Its replacement listens where B did.
        workerB2, _ = await startWorker(self, "B2", logB2, port=portB)

        deadline = time.monotonic() + RESOLVE_TIMEOUT
        while True:
            states = {}
            for promiseId in expected:
                response = await client.read(promiseId)
                self.assertEqual(response.code, 200, response)
                states[promiseId] = response.body
            if all(p["state"] == "RESOLVED" for p in states.values()):
                break
            if time.monotonic() > deadline:
                self.fail(
                    f"not all resolved within {RESOLVE_TIMEOUT}s: "
                    f"{ {k: v['state'] for k, v in states.items()} }\n"
                    f"A:\n{workerA.output}\nB:\n{workerB.output}\n"
                    f"B2:\n{workerB2.output}\nserver:\n{server.output[-5000:]}"
                )
            await deferLater(reactor, 0.25, lambda: None)

        results = {k: decode(v["value"]["data"]) for k, v in states.items()}
        self.assertEqual(results, expected)
        self.assertEqual(sorted(readLog(logA)), [f"fan/a/{i}" for i in range(3)])
        self.assertEqual(readLog(logB), [])
        self.assertEqual(sorted(readLog(logB2)), [f"fan/b/{i}" for i in range(3)])

        # The parent gathers the children's results.
        gathered = [results[k] for k in sorted(results)]
        response = await client.create("parent", timeout)
        self.assertEqual(response.code, 201, response)
        response = await client.complete(
            "parent", "RESOLVED", value={"headers": {}, "data": encode(gathered)}
        )
        self.assertEqual(response.code, 201, response)
        response = await client.read("parent")
        self.assertEqual(response.body["state"], "RESOLVED")
        self.assertEqual(
            decode(response.body["value"]["data"]), [1, 4, 9, 121, 144, 169]
        )

        exit = await stopResonate(server)
        self.assertTrue(exit.stoppedByTERM, server.output)
        await workerA.kill()
        await workerB2.kill()
