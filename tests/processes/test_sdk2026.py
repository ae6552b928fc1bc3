# -*- test-case-name: tests.processes.test_sdk2026 -*-
"""
Today's real SDKs, PyPI C{resonate-sdk} 0.8.1 and npm C{@resonatehq/sdk}
0.11.5, run a durable workflow end to end against real C{twist resonate}
processes speaking the "2026-04-01" protocol (protocol-2026.md §18-§19,
sdk-clients.md §3-§4), on SQLite and on PostgreSQL (issue #16 item 5).

The workflow (C{tests/support/sdk2026/workflow.py} and C{workflow.mjs}, the
same in both SDKs) is started by one SDK process, the I{starter} (group
C{starters}), with C{Resonate.run}/C{beginRun}, so its root runs there: it
fans out C{N} remote children to a I{worker} process (group C{workers})
with C{ctx.rpc}/C{ctx.beginRpc}, awaits them, sleeps durably with
C{ctx.sleep}, adds the squares in a local C{ctx.run} step and returns
C{{"squares", "total", "slept"}}.  Every execution of a function body
appends a line to a log, so "each child and the step ran once" and "the
re-run executed nothing" are checked; the server's own records
(C{promise.search}, C{debug.snap}) must show every promise settled with its
value and every task fulfilled.

  - the workflow, then its re-run by id from a new process, which answers
    from the stored promise and executes nothing;
  - the server C{kill -9}ed while the workflow sleeps, and restarted on
    the same database and port after the sleep's deadline; killed while
    the children run, and restarted once they have finished (answers the
    SDK retries, or loses and runs again after the lease): the workflow
    finishes and every child promise is settled once, with its value;
  - (PostgreSQL) two servers on one database, the worker connected to one,
    the workflow started through the other.

Every test first waits for what needs no delivery to SDK processes (the
starter's C{task.create} and fenced C{promise.create}s stored the root and
its children with their targets), so that a failure says whether the
requests or the delivery (C{execute} and C{unblock} over the SSE stream
C{GET /poll/{group}/{id}}, protocol-2026.md §10-§11) went wrong.

The SDK environments come from L{tests.support.sdkenv} (cached in
C{.sdk-cache/}); without a Python 3.12+ or node the tests skip, except in
CI (C{$CI}) or with C{$RESONATE_REQUIRE_SDKS}, where they fail.
"""

import base64
import json
import os
import time
from collections import Counter

from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from tests.processes.test_protocol2026_processes import Client2026
from tests.support import sdkenv
from tests.support.jwttools import KeyPair
from tests.support.postgrestools import PostgresStore
from tests.support.processtools import (
    ChildProcess,
    ProcessFailed,
    SQLiteStore,
    pause,
    startResonate,
    stopCleanly,
    stopResonate,
)

#: The Python SDK's script.
PYTHON_SCRIPT = os.path.join(sdkenv.SDK_DIR, "workflow.py")

#: Every server here: the debug operations (C{debug.snap}), a retry
#: timeout of 2 s, so that a message lost while a stream reconnects is sent
#: again soon, and timeouts swept ten times a second, so a sleep ends on time.
SERVER_FLAGS = (
    "--debug",
    "--tasks-retry-timeout", "2s",
    "--system-timeout-interval", "100ms",
)

#: The groups of the worker and of the starter.
WORKERS = "workers"
STARTERS = "starters"

#: Children per workflow.
N = 3

#: The workflow's durable sleep, in seconds.
SLEEP = 2

#: The SDK processes' task lease, in seconds (heartbeats every half): short,
#: so that a task whose worker lost its answer in a crash comes back soon.
TTL = 10

#: The longest the starter waits for the result, in seconds.
RUN_TIMEOUT = 120

#: The longest a wait for the server's state takes, in seconds.
WAIT = 30.0

#: What an SDK process must not inherit: the server's package is also
#: called C{resonate}, and the SDKs read their server from these.
SDK_ENV = dict.fromkeys(
    sdkenv.CLEAN_ENV + ("RESONATE_URL", "RESONATE_HOST", "RESONATE_PORT",
                        "RESONATE_TOKEN", "RESONATE_TIMEOUT")
)


def decode(value):
    """
    The JSON in a record's C{value} or C{param} (C{data} is base64 of it,
    protocol-2026.md §19.13), or L{None} without data.
    """
    if not value or value.get("data") is None:
        return None
    return json.loads(base64.b64decode(value["data"]))


def expected(n=N, sleep=SLEEP):
    squares = [i * i for i in range(n)]
    return {"squares": squares, "total": sum(squares), "slept": sleep}


class SDKProcess(ChildProcess):
    """
    One process of an SDK: a worker or a starter.
    """

    def summary(self):
        """
        The starter's last stdout line, its JSON summary, or L{None}.
        """
        for line in reversed(self.stdout.strip().splitlines()):
            try:
                return json.loads(line)
            except ValueError:
                continue
        return None


class PythonSDK:
    """
    C{resonate-sdk} 0.8.1.
    """

    sdk = "python"

    async def prepareSDK(self):
        self.sdkPython = await deferToThread(sdkenv.pythonSDK)

    def sdkArgs(self, mode):
        return [self.sdkPython, PYTHON_SCRIPT, mode]


class NpmSDK:
    """
    C{@resonatehq/sdk} 0.11.5.
    """

    sdk = "npm"

    async def prepareSDK(self):
        self.node, self.npmDir = await deferToThread(sdkenv.npmSDK)

    def sdkArgs(self, mode):
        return [self.node, os.path.join(self.npmDir, "workflow.mjs"), mode]


class SDKProcessesMixin:
    """
    Starting the SDK's processes.

    @ivar token: the token the SDK processes present (C{RESONATE_TOKEN}),
        or L{None} for none.
    """

    token = None

    async def setUpSDK(self):
        await self.prepareSDK()
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.log = os.path.join(self.directory, "executions.jsonl")

    def spawnSDK(self, mode, url, group, *args):
        """
        Start the SDK script in C{mode} (C{worker}, C{run}) against C{url}
        as a member of C{group}; it is killed when the test ends.
        """
        process = SDKProcess(
            [*self.sdkArgs(mode), "--url", url, "--group", group,
             "--log", self.log, "--ttl", str(TTL), *map(str, args)],
            env=SDK_ENV if self.token is None else {**SDK_ENV, "RESONATE_TOKEN": self.token},
        )
        # No working directory: with one, Twisted must fork() instead of
        # posix_spawn(), and a fork of a test process that has run grpcio's
        # threads can hang or abort in grpc's fork handlers before exec
        # (seen in CI: the workflow never reached the server).  The scripts
        # take absolute paths.
        process.spawn()
        self.addCleanup(process.kill)
        return process

    async def startWorker(self, url):
        """
        Start a worker of the group L{WORKERS} and wait until it says it is
        ready.
        """
        worker = self.spawnSDK("worker", url, WORKERS)
        await worker.waitForOutput(r'"ready": ?true', 60)
        return worker

    #: The sleep of the workflows this test starts, in seconds.
    sleep = SLEEP

    def startWorkflow(self, url, workflowId, *args):
        """
        Start the workflow C{workflowId} through C{url} from a starter of
        the group L{STARTERS}; it sleeps L{sleep} seconds.
        """
        return self.spawnSDK(
            "run", url, STARTERS, "--id", workflowId, "--n", N, "--sleep",
            self.sleep, "--workers", WORKERS, "--timeout", RUN_TIMEOUT, *args,
        )

    async def workflowResult(self, starter, *others):
        """
        Wait for the starter to end, and check that it got the right result.

        @param others: processes whose output a failure shows too.
        @return: its summary.
        """
        try:
            await starter.waitForEnd(RUN_TIMEOUT + 30)
        except ProcessFailed:
            pass
        summary = starter.summary()
        if starter.exit is None or starter.exit.code != 0 or not (
            summary and summary.get("ok")
        ):
            self.fail(
                f"the {self.sdk} workflow failed "
                f"({starter.exit or 'still running'}): {summary}\n"
                f"starter output:\n{_tail(starter.output)}\n"
                + "".join(
                    f"\n{name} output:\n{_tail(p.output)}\n"
                    for name, p in others
                )
                + f"\nexecutions:\n{self.executionsText()}"
            )
        self.assertEqual(summary["result"], expected(sleep=self.sleep))
        return summary

    def assertQuiet(self, *processes):
        """
        The SDK processes printed nothing but their JSON lines: no warning
        (an SDK logs, and otherwise ignores, a failed heartbeat or listener
        refresh, for one).
        """
        for process in processes:
            noise = []
            for line in process.output.splitlines():
                try:
                    json.loads(line)
                except ValueError:
                    noise.append(line)
                else:
                    if '"level"' in line and '"warn' in line:
                        noise.append(line)
            self.assertEqual(noise, [], f"{process.args[:3]}:\n{process.output}")

    def executions(self):
        """
        The log's lines, decoded.
        """
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def executionsText(self):
        if not os.path.exists(self.log):
            return "(none)"
        with open(self.log) as f:
            return f.read()

    def countEvents(self, event):
        return Counter(
            (e["id"], e.get("i")) for e in self.executions() if e["event"] == event
        )


def _tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


class LocalModeTestsMixin(SDKProcessesMixin):
    """
    The workflow in the SDK's own in-process mode (no server): the SDK
    installs and the script is right, whatever the server does.
    """

    timeout = 300

    async def test_localMode(self):
        await self.setUpSDK()
        starter = self.spawnSDK(
            "run", "local", WORKERS, "--id", "local-1", "--n", N, "--sleep",
            SLEEP, "--workers", WORKERS, "--timeout", 60,
        )
        await self.workflowResult(starter)
        children = self.countEvents("child")
        self.assertEqual(sorted(i for _, i in children), list(range(N)))
        self.assertEqual(set(children.values()), {1})
        self.assertEqual(sum(self.countEvents("step").values()), 1)


class PythonLocalModeTests(PythonSDK, LocalModeTestsMixin, unittest.TestCase):
    """
    C{resonate-sdk} 0.8.1 runs the workflow in its own in-process mode.
    """


class NpmLocalModeTests(NpmSDK, LocalModeTestsMixin, unittest.TestCase):
    """
    C{@resonatehq/sdk} 0.11.5 runs the workflow in its own in-process mode.
    """


class WorkflowTestsMixin(SDKProcessesMixin):
    """
    The workflow against real servers, on the store L{storeFlags} names.
    """

    #: Installing the SDKs the first time, servers, and workflows with
    #: crashes in them.
    timeout = 400

    def storeFlags(self):
        """
        The flags of this test's store: the same database every call.
        """
        raise NotImplementedError()

    async def startServer(self, port=0):
        """
        Start a server on this test's store, on C{port} of 127.0.0.1 (an
        ephemeral one by default).

        @return: C{(process, client)}.
        """
        server = await startResonate(
            self, *self.storeFlags(), *SERVER_FLAGS,
            "--api-http-addr", f"127.0.0.1:{port}",
        )
        return server, Client2026(server.url)

    async def stopServer(self, server):
        """
        Stop C{server} cleanly; it must not have logged a traceback.
        """
        await stopCleanly(self, server)

    async def stopWorker(self, worker):
        """
        Stop the worker with SIGTERM (SIGKILL after 20 s).
        """
        if worker.running:
            worker.signal("TERM")
            try:
                await worker.waitForEnd(20)
            except ProcessFailed:
                await worker.kill()

    async def search(self, client, workflowId):
        """
        Every promise of the workflow's lineage (C{resonate:origin}).
        """
        records, cursor = [], None
        while True:
            data = {"tags": {"resonate:origin": workflowId}, "limit": 1000}
            if cursor is not None:
                data["cursor"] = cursor
            answer = await client.ok("promise.search", data)
            records += answer["promises"]
            cursor = answer.get("cursor")
            if cursor is None:
                return {r["id"]: r for r in records}

    def children(self, promises, workflowId):
        """
        The remote children among C{promises}: C{i} -> record.
        """
        found = {}
        for record in promises.values():
            param = decode(record.get("param"))
            if (
                record["id"] != workflowId
                and isinstance(param, dict)
                and param.get("func") == "child"
            ):
                i = param["args"][0]
                self.assertNotIn(i, found, f"two children for {i}: {promises}")
                found[i] = record
        return found

    async def waitFor(self, description, probe, accept, timeout=WAIT, *processes):
        deadline = time.monotonic() + timeout
        while True:
            value = await probe()
            if accept(value):
                return value
            if time.monotonic() > deadline:
                self.fail(
                    f"{description}: not within {timeout}s; last: {value!r}\n"
                    + "".join(
                        f"\n{p.args[:3]} output:\n{_tail(p.output)}\n"
                        for p in processes
                    )
                    + f"\nexecutions:\n{self.executionsText()}"
                )
            await pause(0.1)

    async def reachesServer(self, client, workflowId, *processes):
        """
        Wait until the starter's C{task.create} stored the root (with the
        starters' target) and its fenced C{promise.create}s the C{N}
        children (with the workers' target): what needs no delivery.
        """
        promises = await self.waitFor(
            f"the root {workflowId} and its {N} children are stored",
            lambda: self.search(client, workflowId),
            lambda p: workflowId in p and len(self.children(p, workflowId)) == N,
            WAIT, *processes,
        )
        root = promises[workflowId]
        self.assertTrue(
            root["tags"]["resonate:target"].startswith(f"poll://any@{STARTERS}"),
            root,
        )
        self.assertEqual(decode(root["param"])["func"], "fanout")
        for i, child in self.children(promises, workflowId).items():
            self.assertEqual(
                child["tags"]["resonate:target"], f"poll://any@{WORKERS}", child
            )
            self.assertEqual(child["tags"]["resonate:parent"], workflowId, child)

    async def checkSettled(self, client, workflowId, exactlyOnce=True):
        """
        The server holds the finished workflow: the root resolved with the
        result, each child once with its square, the sleep's timer and the
        local step resolved, nothing else in the lineage, and every task
        fulfilled.  Each child and the step executed once (at least once
        where C{exactlyOnce} is false: a crash may lose a finished child's
        answer, and the child runs again).
        """
        promises = await self.search(client, workflowId)
        root = promises.pop(workflowId)
        self.assertEqual(
            (root["state"], decode(root["value"])),
            ("resolved", expected(sleep=self.sleep)),
            root,
        )
        children = self.children(promises, workflowId)
        self.assertEqual(sorted(children), list(range(N)), promises)
        for i, child in children.items():
            self.assertEqual(
                (child["state"], decode(child["value"])), ("resolved", i * i), child
            )
            del promises[child["id"]]
        timers = [p for p in promises.values() if p["tags"].get("resonate:timer") == "true"]
        self.assertEqual(len(timers), 1, promises)
        [timer] = timers
        self.assertEqual(timer["state"], "resolved", timer)
        self.assertGreaterEqual(
            timer["settledAt"] - timer["createdAt"], self.sleep * 1000 - 100, timer
        )
        del promises[timer["id"]]
        [step] = promises.values()
        self.assertEqual(step["tags"].get("resonate:scope"), "local", step)
        self.assertEqual(
            (step["state"], decode(step["value"])), ("resolved", expected()["total"]), step
        )

        snap = await client.snap()
        ids = {workflowId, timer["id"], *(c["id"] for c in children.values())}
        tasks = {t["id"]: t for t in snap["tasks"] if t["id"] in ids}
        self.assertEqual(sorted(tasks), sorted(ids), snap["tasks"])
        self.assertEqual(
            {i: t["state"] for i, t in tasks.items()},
            dict.fromkeys(ids, "fulfilled"),
        )

        executed = self.countEvents("child")
        self.assertEqual(
            sorted(i for _, i in executed), list(range(N)), self.executionsText()
        )
        steps = self.countEvents("step")
        self.assertEqual(list(steps), [(step["id"], None)], self.executionsText())
        if exactlyOnce:
            self.assertEqual(set(executed.values()), {1}, self.executionsText())
            self.assertEqual(set(steps.values()), {1}, self.executionsText())
        return children

    async def rerun(self, url, workflowId):
        """
        Run the finished workflow again from a new starter: the stored
        result comes back and nothing executes.
        """
        before = self.executions()
        again = self.startWorkflow(url, workflowId)
        await self.workflowResult(again)
        self.assertEqual(self.executions(), before)
        self.assertQuiet(again)

    # --- Tests ------------------------------------------------------------

    async def test_fanOutSleepStep(self):
        """
        The workflow runs: each child and the step once; its re-run by id
        answers from the stored promise and executes nothing.
        """
        await self.setUpSDK()
        server, client = await self.startServer()
        worker = await self.startWorker(server.url)
        workflowId = f"{self.sdk}-fanout"
        starter = self.startWorkflow(server.url, workflowId)
        await self.reachesServer(client, workflowId, starter, worker)

        await self.workflowResult(starter, ("worker", worker), ("server", server))
        await self.checkSettled(client, workflowId)
        await self.rerun(server.url, workflowId)
        await self.stopWorker(worker)
        self.assertQuiet(starter, worker)
        await self.stopServer(server)

    async def crashAndRestart(self, server, downUntil=None):
        """
        C{kill -9} C{server}, and start it again on the same database and
        port, once C{downUntil} (an async predicate) holds.
        """
        port = server.port
        exit = await server.kill()
        self.assertEqual(exit.signal, 9, exit)
        self.assertNotIn("Traceback", server.output, server.output)
        if downUntil is not None:
            deadline = time.monotonic() + WAIT
            while not await downUntil():
                self.assertLess(
                    time.monotonic(), deadline,
                    f"not within {WAIT}s while the server was down:\n"
                    f"{self.executionsText()}",
                )
                await pause(0.1)
        return await self.startServer(port)

    async def test_killedWhileSleeping(self):
        """
        A server killed while the workflow sleeps, and restarted on the
        same database and port once the sleep's deadline has passed: the
        restarted server ends the sleep, the workflow finishes.
        """
        self.sleep = 4
        await self.setUpSDK()
        server, client = await self.startServer()
        worker = await self.startWorker(server.url)
        workflowId = f"{self.sdk}-sleep-crash"
        starter = self.startWorkflow(server.url, workflowId)
        await self.reachesServer(client, workflowId, starter, worker)

        async def sleeping():
            promises = await self.search(client, workflowId)
            timers = [
                p for p in promises.values() if p["tags"].get("resonate:timer") == "true"
            ]
            if not timers or timers[0]["state"] != "pending":
                return None
            snap = await client.snap()
            return {t["id"]: t["state"] for t in snap["tasks"]}.get(workflowId)

        await self.waitFor(
            "the workflow sleeps: a pending timer, the root task suspended",
            sleeping, lambda state: state == "suspended", WAIT, starter, worker,
        )
        [timer] = [
            p for p in (await self.search(client, workflowId)).values()
            if p["tags"].get("resonate:timer") == "true"
        ]

        async def due():
            return time.time() * 1000 > timer["timeoutAt"] + 500

        server, client = await self.crashAndRestart(server, due)
        await self.workflowResult(starter, ("worker", worker), ("server", server))
        await self.checkSettled(client, workflowId)
        await self.stopWorker(worker)
        await self.stopServer(server)

    async def test_killedWhileChildrenRun(self):
        """
        A server killed while the children run (each works 2 s), and
        restarted on the same database and port once they have finished
        (their answers lost, or retried by the SDK): the workflow finishes,
        each child promise is settled once, with its value.
        """
        await self.setUpSDK()
        server, client = await self.startServer()
        worker = await self.startWorker(server.url)
        workflowId = f"{self.sdk}-children-crash"
        starter = self.startWorkflow(server.url, workflowId, "--delay", 2)
        await self.reachesServer(client, workflowId, starter, worker)

        async def started():
            return self.countEvents("child-start")

        await self.waitFor(
            f"the {N} children run", started, lambda c: len(c) == N, WAIT,
            starter, worker,
        )
        self.assertEqual(self.countEvents("child"), Counter())

        async def finished():
            return len(self.countEvents("child")) == N

        server, client = await self.crashAndRestart(server, finished)
        await self.workflowResult(starter, ("worker", worker), ("server", server))
        await self.checkSettled(client, workflowId, exactlyOnce=False)
        await self.stopWorker(worker)
        await self.stopServer(server)


class TwoServersTestsMixin:
    """
    Two servers on one PostgreSQL database.
    """

    async def test_twoServers(self):
        """
        The worker connected to one server, the workflow started through
        the other: it runs as on one server, and its re-run (through
        either) executes nothing.
        """
        await self.setUpSDK()
        serverA, clientA = await self.startServer()
        serverB, clientB = await self.startServer()
        worker = await self.startWorker(serverA.url)
        workflowId = f"{self.sdk}-two-servers"
        starter = self.startWorkflow(serverB.url, workflowId)
        await self.reachesServer(clientA, workflowId, starter, worker)

        await self.workflowResult(
            starter, ("worker", worker), ("server A", serverA), ("server B", serverB)
        )
        await self.checkSettled(clientA, workflowId)
        await self.checkSettled(clientB, workflowId)
        await self.rerun(serverA.url, workflowId)
        await self.rerun(serverB.url, workflowId)
        await self.stopWorker(worker)
        self.assertQuiet(starter, worker)
        await self.stopServer(serverA)
        await self.stopServer(serverB)


class PythonSQLiteTests(PythonSDK, SQLiteStore, WorkflowTestsMixin, unittest.TestCase):
    """
    C{resonate-sdk} 0.8.1 against a server on SQLite.
    """


class NpmSQLiteTests(NpmSDK, SQLiteStore, WorkflowTestsMixin, unittest.TestCase):
    """
    C{@resonatehq/sdk} 0.11.5 against a server on SQLite.
    """


class PythonPostgresTests(
    PythonSDK, PostgresStore, TwoServersTestsMixin, WorkflowTestsMixin,
    unittest.TestCase,
):
    """
    C{resonate-sdk} 0.8.1 against servers on PostgreSQL.
    """


class NpmPostgresTests(
    NpmSDK, PostgresStore, TwoServersTestsMixin, WorkflowTestsMixin,
    unittest.TestCase,
):
    """
    C{@resonatehq/sdk} 0.11.5 against servers on PostgreSQL.
    """


class PythonJWTTests(PythonSDK, SQLiteStore, SDKProcessesMixin, unittest.TestCase):
    """
    C{resonate-sdk} 0.8.1 against a server that verifies JWTs (issue 19):
    with C{RESONATE_TOKEN} the SDK puts its token in C{head.auth} and in
    the Bearer header of its SSE stream, and a token for the workflow's
    prefix runs it; a token for another prefix is refused.
    """

    timeout = 300

    async def startServer(self):
        keys = KeyPair("rsa")
        self.keys = keys
        server = await startResonate(
            self, *self.storeFlags(), *SERVER_FLAGS,
            "--api-auth-jwt-public-key", keys.writePublic(self.mktemp()),
        )
        return server, Client2026(server.url, auth=keys.token(role="admin"))

    async def test_prefixToken(self):
        """
        A worker and a starter whose token allows the ids under
        C{python-jwt}: the workflow runs to its result, and the server
        holds its root resolved.  A starter whose token allows C{team-b/}
        only cannot start it.
        """
        await self.setUpSDK()
        server, admin = await self.startServer()
        self.token = self.keys.token(prefix="python-jwt")
        worker = await self.startWorker(server.url)
        starter = self.startWorkflow(server.url, "python-jwt-fanout")
        await self.workflowResult(starter, ("worker", worker), ("server", server))
        root = await admin.promise("python-jwt-fanout")
        self.assertEqual(
            (root["state"], decode(root["value"])), ("resolved", expected()), root
        )
        self.token = self.keys.token(prefix="team-b/")
        outsider = self.startWorkflow(server.url, "python-jwt-other")
        # The SDK logs the refusal; its handle never settles.
        await outsider.waitForOutput(r"failed: server error \(code=403\): Forbidden", WAIT)
        await outsider.kill()
        code, _ = await admin.call("promise.get", {"id": "python-jwt-other"})
        self.assertEqual(code, 404)
        worker.signal("TERM")
        await worker.waitForEnd(20)
        exit = await stopResonate(server)
        self.assertTrue(exit.stoppedByTERM, server.output)
