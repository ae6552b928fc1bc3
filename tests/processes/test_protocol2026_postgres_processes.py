# -*- test-case-name: tests.processes.test_protocol2026_postgres_processes -*-
"""
The 2026 protocol (C{POST /}) across real processes: two or three
C{twist resonate --debug} servers on one PostgreSQL database, hammered with
many requests in flight at once, split across the servers, answer as one
server would (protocol-2026.md sections 7-9 and 12, DECISIONS 23-32).

  - racing C{task.acquire}s of one task at one version: one wins;
  - racing C{promise.settle}s of one promise: one settlement, which every
    answer shows, and its chain runs once (the awaiter woken once);
  - C{task.fulfill} racing v0.5's C{PATCH /promises/{id}}: one wins, and
    both protocols read what it wrote;
  - leases expired by both servers' sweeps: each task pending once again,
    at its version, with one C{execute};
  - a C{* * * * * *} schedule fired by both servers: one promise, one task
    and one count per slot.

What the servers did is read back at the end through C{debug.snap},
C{promise.search} and C{task.search}, through every server.

Each test runs on a scratch database of its own, created on the server
named by C{RESONATE_TEST_POSTGRES_DSN} and dropped once the processes have
stopped.
"""

import itertools
import re

import treq
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.internet.task import deferLater
from twisted.trial import unittest
from twisted.web.client import HTTPConnectionPool

from tests.support.postgrestools import (
    NO_POSTGRES,
    attempt,
    isEnvelope,
    runClients,
    scratchDatabase,
)
from tests.support.processtools import HTTPClient, startResonate, stopResonate

if NO_POSTGRES:
    skip = NO_POSTGRES

#: The protocol version of every request and answer.
VERSION = "2026-04-01"

#: The address SDK 0.8.1 gives as C{resonate:target}: nobody listens on
#: it, so every C{execute} stays in the outbox for C{debug.snap} to see.
TARGET = "poll://any@g"
TT = {"resonate:target": TARGET}

#: A promise timeout far in the future: 2100-01-01.
FAR = 4102444800000

#: A lease no test outlives, in ms.
LONG_TTL = 600_000

#: Base64 payloads, as the SDKs send them.
PAYLOADS = ["aGVsbG8=", "d29ybGQ=", "Zm9v", "YmFy", "YmF6", "cXV4"]

#: Store connections per server: enough that transactions of one server
#: race each other, not only the other server's.
WORKERS = "6"

#: The longest a bounded wait polls for, in seconds.
WAIT = 15.0

_corrIds = itertools.count()


class RPC:
    """
    C{POST /} envelopes to one server, one connection per request.

    @ivar side: the index of the server, for messages.
    """

    def __init__(self, server, side):
        self._http = HTTPClient(server.url)
        self.side = side

    def call(self, kind, data):
        """
        Send one envelope; never raise.

        @return: a C{Deferred} firing with C{(response, problem)}, as
            L{attempt} returns them (without the time).
        """
        body = {
            "kind": kind,
            "head": {"corrId": f"c{next(_corrIds)}", "version": VERSION},
            "data": data,
        }

        async def send():
            response, problem, _ = await attempt(
                lambda: self._http.request("POST", "/", body)
            )
            return response, problem

        return ensureDeferred(send())

    async def ok(self, kind, data, status=200):
        """
        Send one envelope that must answer C{status}.

        @return: its C{data}.
        @raise AssertionError: it answered anything else.
        """
        response, problem = await self.call(kind, data)
        if response is None or response.code != status or not _isEnvelope(
            response, kind, status
        ):
            raise AssertionError(
                f"{kind} {data!r} via server {self.side}: expected {status}, "
                f"got {response or problem}"
            )
        return response.body["data"]

    async def searchAll(self, kind, data, member):
        """
        Every record of a C{promise.search} or C{task.search}, following the
        cursor.
        """
        records, cursor = [], None
        while True:
            page = dict(data, limit=1000)
            if cursor is not None:
                page["cursor"] = cursor
            answer = await self.ok(kind, page)
            records += answer[member]
            cursor = answer.get("cursor")
            if cursor is None:
                return records

    def snap(self):
        """
        C{debug.snap}.
        """
        return self.ok("debug.snap", {})


def _isEnvelope(response, kind, status):
    """
    Whether C{response} is a 2026 answer to C{kind} with C{status}, HTTP
    status and C{head.status} alike (section 2).
    """
    body = response.body
    return (
        isinstance(body, dict)
        and body.get("kind") == kind
        and isinstance(body.get("head"), dict)
        and body["head"].get("status") == status
        and body["head"].get("version") == VERSION
        and response.code == status
        and "data" in body
    )


def envelope(kind, data):
    """
    An inner action (of C{task.fulfill} or C{task.suspend}).
    """
    return {
        "kind": kind,
        "head": {"corrId": f"c{next(_corrIds)}", "version": VERSION},
        "data": data,
    }


def executesByTask(snap):
    """
    The C{execute}s of a C{debug.snap}, as C{{task id: [version, ...]}}.
    """
    executes = {}
    for entry in snap["messages"]:
        message = entry["message"]
        if message["kind"] == "execute":
            task = message["data"]["task"]
            executes.setdefault(task["id"], []).append(
                (task["version"], entry["address"])
            )
    return executes


async def inParallel(items, act, inFlight):
    """
    Run C{act(item)} for every item, at most C{inFlight} at once.
    """

    async def one(number, item):
        await act(item)

    await runClients(inFlight, list(items), one)


async def waitFor(check, what, timeout=WAIT, interval=0.1):
    """
    Poll C{check} (a coroutine function answering a true value when done)
    until it is done, for at most C{timeout} seconds.

    @return: its last answer.
    @raise AssertionError: naming C{what}, if it never was done.
    """
    deadline = reactor.seconds() + timeout
    while True:
        answer = await check()
        if answer:
            return answer
        if reactor.seconds() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await deferLater(reactor, interval, lambda: None)


class _ServersMixin:
    """
    Start servers on a scratch database, and check their health at the end.
    """

    async def startServers(self, count, *flags):
        """
        Start C{count} C{twist resonate --debug} servers at once on one
        scratch database, each with L{WORKERS} store connections.

        @return: an L{RPC} client for each server (the servers are
            C{self.servers}, the clients C{self.rpcs}).
        """
        _, _, storeFlags = scratchDatabase(self)
        allFlags = [
            *storeFlags, "--debug", "--aio-store-workers", WORKERS,
            "--api-size", "1000", "--aio-store-size", "1000", *flags,
        ]
        self.servers = await gatherResults(
            [ensureDeferred(startResonate(self, *allFlags)) for _ in range(count)],
            consumeErrors=True,
        )
        self.rpcs = [RPC(server, n) for n, server in enumerate(self.servers)]
        return self.rpcs

    def logs(self):
        """
        The servers' output, for failure messages (the end of it).
        """
        return "\n".join(
            f"--- server {n} ---\n" + "\n".join(server.lines()[-60:])
            for n, server in enumerate(self.servers)
        )

    def assertNoProblems(self, problems):
        """
        Fail, naming the first problems and the servers' logs, unless
        C{problems} is empty.
        """
        if problems:
            self.fail(
                f"{len(problems)} problems:\n"
                + "\n".join(str(p) for p in problems[:40])
                + "\n"
                + self.logs()
            )

    async def stopServers(self):
        """
        Every server is still running, logged no failure, and stops cleanly.
        """
        for n, server in enumerate(self.servers):
            self.assertTrue(server.running, f"server {n}: {server.exit}\n{self.logs()}")
            for sign in ("Traceback", "deadlock", "transaction failed"):
                self.assertNotIn(sign, server.output, f"server {n}:\n{server.output}")
        ended = await gatherResults(
            [ensureDeferred(stopResonate(server)) for server in self.servers],
            consumeErrors=True,
        )
        for exit in ended:
            self.assertTrue(exit.stoppedByTERM, f"{exit}\n{self.logs()}")

    async def createTasks(self, ids, inFlight=16):
        """
        C{promise.create} each id with a target, through the servers in
        turn: each gets a task, pending at version 0.
        """
        serial = itertools.count()

        async def create(promiseId):
            rpc = self.rpcs[next(serial) % len(self.rpcs)]
            promise = (await rpc.ok(
                "promise.create",
                {"id": promiseId, "timeoutAt": FAR, "tags": TT},
            ))["promise"]
            self.assertEqual(promise["state"], "pending", promise)

        await inParallel(ids, create, inFlight)

    async def acquire(self, taskId, version, pid, ttl=LONG_TTL, side=0):
        """
        C{task.acquire} that must win.

        @return: the task record.
        """
        answer = await self.rpcs[side % len(self.rpcs)].ok(
            "task.acquire",
            {"id": taskId, "version": version, "pid": pid, "ttl": ttl},
        )
        return answer["task"]

    async def sameSnapshots(self):
        """
        C{debug.snap} through every server: all alike (they read one
        database).

        @return: the snapshot.
        """
        snaps = [await rpc.snap() for rpc in self.rpcs]
        for n, snap in enumerate(snaps[1:], 1):
            self.assertEqual(
                snap, snaps[0], f"the snapshots of servers 0 and {n} differ"
            )
        return snaps[0]


class AcquireRaceTests(_ServersMixin, unittest.TestCase):
    """
    Of many C{task.acquire}s of one task at one version, through three
    servers, exactly one wins.
    """

    tasks = 40
    racers = 8
    rounds = 3
    tasksAtOnce = 8

    async def test_oneAcquireWins(self):
        """
        Per task and round, C{racers} acquires at the task's version are in
        flight together, split across three servers: exactly one answers
        200 with the version bumped by one, the others 409; the winner
        releases it for the next round.  At the end every task is pending
        at version C{rounds}, with one C{execute} at that version.
        """
        rpcs = await self.startServers(3)
        ids = [f"acq{n}" for n in range(self.tasks)]
        await self.createTasks(ids)
        problems = []
        serial = itertools.count()

        async def race(taskId):
            for version in range(self.rounds):
                answers = await gatherResults([
                    rpcs[next(serial) % len(rpcs)].call(
                        "task.acquire",
                        {"id": taskId, "version": version,
                         "pid": f"p{n}", "ttl": LONG_TTL},
                    )
                    for n in range(self.racers)
                ])
                winners = []
                for response, problem in answers:
                    if response is None:
                        problems.append(f"{taskId} v{version}: {problem}")
                    elif _isEnvelope(response, "task.acquire", 200):
                        winners.append(response.body["data"]["task"])
                    elif not _isEnvelope(response, "task.acquire", 409):
                        problems.append(f"{taskId} v{version}: {response}")
                if len(winners) != 1:
                    problems.append(
                        f"{taskId} v{version}: {len(winners)} winners: {answers}"
                    )
                    return
                task = winners[0]
                if (task["state"], task["version"]) != ("acquired", version + 1):
                    problems.append(f"{taskId} v{version}: won {task}")
                    return
                await rpcs[version % len(rpcs)].ok(
                    "task.release", {"id": taskId, "version": version + 1}
                )

        await inParallel(ids, race, self.tasksAtOnce)
        self.assertNoProblems(problems)

        tasks = await rpcs[1].searchAll("task.search", {}, "tasks")
        self.assertEqual(
            sorted((t["id"], t["state"], t["version"]) for t in tasks),
            sorted((taskId, "pending", self.rounds) for taskId in ids),
        )
        snap = await self.sameSnapshots()
        self.assertEqual(
            executesByTask(snap),
            {taskId: [(self.rounds, TARGET)] for taskId in ids},
        )
        await self.stopServers()


class SettleRaceTests(_ServersMixin, unittest.TestCase):
    """
    Racing C{promise.settle}s of one promise through two servers settle it
    once, and its settlement chain runs once.
    """

    awaiters = 20
    racers = 4
    awaitersAtOnce = 8

    async def test_oneSettlement(self):
        """
        The suspended task C{sN} awaits C{sN:p} and C{sN:q} (tasks of their
        own, acquired for odd N).  Settles of both, with different states
        and values, race through both servers: per promise, every answer
        is 200 with one and the same settled record, which every reader
        then sees; its task is fulfilled at its version; C{sN} is pending
        at its version with two resumes and exactly one C{execute}, at
        that version (woken once, though both its promises settled at
        once).
        """
        rpcs = await self.startServers(2)
        awaiters = [f"s{n}" for n in range(self.awaiters)]
        awaited = {a: [f"{a}:p", f"{a}:q"] for a in awaiters}
        await self.createTasks(
            awaiters + [p for a in awaiters for p in awaited[a]]
        )

        async def prepare(awaiter):
            n = int(awaiter[1:])
            await self.acquire(awaiter, 0, "worker", side=n)
            if n % 2:
                for promiseId in awaited[awaiter]:
                    await self.acquire(promiseId, 0, "worker", side=n + 1)
            await rpcs[(n + 1) % 2].ok("task.suspend", {
                "id": awaiter, "version": 1,
                "actions": [
                    envelope(
                        "promise.register_callback",
                        {"awaited": promiseId, "awaiter": awaiter},
                    )
                    for promiseId in awaited[awaiter]
                ],
            })

        await inParallel(awaiters, prepare, 8)
        snap = await rpcs[0].snap()
        self.assertEqual(
            [(t["id"], t["state"]) for t in snap["tasks"] if t["id"] in awaiters],
            [(a, "suspended") for a in sorted(awaiters)],
        )

        states = ["resolved", "rejected", "rejected_canceled"]
        problems = []
        records = {}

        async def race(awaiter):
            calls, serial = [], itertools.count()
            for promiseId in awaited[awaiter]:
                for n in range(self.racers):
                    calls.append((promiseId, rpcs[next(serial) % 2].call(
                        "promise.settle", {
                            "id": promiseId,
                            "state": states[n % len(states)],
                            "value": {"data": PAYLOADS[n % len(PAYLOADS)]},
                        },
                    )))
            answers = await gatherResults([d for _, d in calls])
            settled = {}
            for (promiseId, _), (response, problem) in zip(calls, answers):
                if response is None:
                    problems.append(f"{promiseId}: {problem}")
                elif not _isEnvelope(response, "promise.settle", 200):
                    problems.append(f"{promiseId}: {response}")
                else:
                    settled.setdefault(promiseId, []).append(
                        response.body["data"]["promise"]
                    )
            for promiseId, answered in settled.items():
                record = records[promiseId] = answered[0]
                if record["state"] == "pending" or "settledAt" not in record:
                    problems.append(f"{promiseId}: answered {record}")
                for other in answered[1:]:
                    if other != record:
                        problems.append(
                            f"{promiseId}: answered {record} and {other}"
                        )

        await inParallel(awaiters, race, self.awaitersAtOnce)
        self.assertNoProblems(problems)

        # Every reader, through either server, sees the settled record.
        for rpc in rpcs:
            for promiseId, record in sorted(records.items()):
                promise = (await rpc.ok("promise.get", {"id": promiseId}))["promise"]
                self.assertEqual(promise, record)

        snap = await self.sameSnapshots()
        tasks = {task["id"]: task for task in snap["tasks"]}
        executes = executesByTask(snap)
        for awaiter in awaiters:
            n = int(awaiter[1:])
            for promiseId in awaited[awaiter]:
                self.assertEqual(
                    tasks[promiseId],
                    {"id": promiseId, "state": "fulfilled", "version": n % 2,
                     "resumes": 0},
                )
            self.assertEqual(
                tasks[awaiter],
                {"id": awaiter, "state": "pending", "version": 1, "resumes": 2},
            )
            self.assertEqual(executes.get(awaiter), [(1, TARGET)], awaiter)
        self.assertEqual(snap["callbacks"], [])
        pending = await rpcs[0].searchAll(
            "task.search", {"state": "pending"}, "tasks"
        )
        self.assertEqual(sorted(t["id"] for t in pending), sorted(awaiters))
        found = await rpcs[1].searchAll("promise.search", {"tags": TT}, "promises")
        self.assertEqual(
            {p["id"]: p for p in found if p["id"] in records}, records
        )
        await self.stopServers()

    async def test_suspendAgainstSettle(self):
        """
        C{task.suspend} of C{uN} on C{uN:p} races C{promise.settle} of
        C{uN:p} through the other server.  Either the suspend is first (200)
        and the settlement wakes the task: pending, one resume, one
        C{execute} at its version; or the settlement is first and the
        suspend answers 300: the task stays acquired with its lease, and no
        C{execute} for its version is queued.  Never suspended for good
        with its promise settled (a lost wake-up).
        """
        rpcs = await self.startServers(2)
        ids = [f"u{n}" for n in range(40)]
        await self.createTasks(ids + [f"{i}:p" for i in ids])
        await inParallel(
            ids,
            lambda taskId: self.acquire(taskId, 0, "worker", side=int(taskId[1:])),
            8,
        )
        problems = []
        suspended = {}

        async def race(taskId):
            n = int(taskId[1:])
            promiseId = f"{taskId}:p"
            (suspend, problem), (settle, settleProblem) = await gatherResults([
                rpcs[n % 2].call("task.suspend", {
                    "id": taskId, "version": 1,
                    "actions": [envelope(
                        "promise.register_callback",
                        {"awaited": promiseId, "awaiter": taskId},
                    )],
                }),
                rpcs[(n + 1) % 2].call("promise.settle", {
                    "id": promiseId, "state": "resolved",
                    "value": {"data": PAYLOADS[0]},
                }),
            ])
            if settle is None or not _isEnvelope(settle, "promise.settle", 200):
                problems.append(f"{promiseId}: {settle or settleProblem}")
            if suspend is None:
                problems.append(f"{taskId}: {problem}")
            elif _isEnvelope(suspend, "task.suspend", 200):
                suspended[taskId] = True
            elif _isEnvelope(suspend, "task.suspend", 300):
                suspended[taskId] = False
            else:
                problems.append(f"{taskId}: {suspend}")

        await inParallel(ids, race, 8)
        self.assertNoProblems(problems)

        snap = await self.sameSnapshots()
        tasks = {task["id"]: task for task in snap["tasks"]}
        executes = executesByTask(snap)
        for taskId in ids:
            task = tasks[taskId]
            if suspended[taskId]:
                self.assertEqual(
                    (task["state"], task["version"], task["resumes"]),
                    ("pending", 1, 1),
                    f"suspended first: {task}",
                )
                self.assertEqual(executes.get(taskId), [(1, TARGET)], taskId)
            else:
                self.assertEqual(
                    (task["state"], task["version"], task["resumes"],
                     task.get("pid")),
                    ("acquired", 1, 0, "worker"),
                    f"settled first: {task}",
                )
                # The create's undelivered execute, at version 0, at most.
                self.assertIn(executes.get(taskId), (None, [(0, TARGET)]), taskId)
            self.assertEqual(tasks[f"{taskId}:p"]["state"], "fulfilled")
        self.assertEqual(snap["callbacks"], [])
        await self.stopServers()


class FulfillAgainstPatchTests(_ServersMixin, unittest.TestCase):
    """
    C{task.fulfill} (2026) racing C{PATCH /promises/{id}} (v0.5) on one
    promise through two servers: one settlement wins, and both protocols
    read it.
    """

    promises = 40
    promisesAtOnce = 12

    async def test_oneSettlementWins(self):
        """
        Per promise, two C{task.fulfill}s at the held version (one per
        server) and two v0.5 C{PATCH}es (one per server) race.  Exactly one
        of the four wins: a fulfill with 200, or a C{PATCH} with 201; the
        other fulfill answers 409, a losing C{PATCH} 403 with the stored
        state's code.  Then v0.5's C{GET} and 2026's C{promise.get}
        through both servers read the winner's state and value, and the
        task is fulfilled at its version.
        """
        rpcs = await self.startServers(2)
        http = [HTTPClient(server.url) for server in self.servers]
        ids = [f"f{n}" for n in range(self.promises)]
        await self.createTasks(ids)
        await inParallel(
            ids, lambda promiseId: self.acquire(promiseId, 0, "worker"), 8
        )
        # (protocol, state, value) per racer; 2026 and v0.5 spellings.
        racers = [
            ("2026", "resolved", PAYLOADS[0], 0),
            ("2026", "rejected", PAYLOADS[1], 1),
            ("v0.5", "RESOLVED", PAYLOADS[2], 0),
            ("v0.5", "REJECTED", PAYLOADS[3], 1),
        ]
        already = {"resolved": 4030, "rejected": 4031}
        problems = []
        winners = {}

        async def race(promiseId):
            n = int(promiseId[1:])

            def send(racer):
                protocol, state, data, side = racer
                side = (side + n) % 2
                if protocol == "2026":
                    return rpcs[side].call("task.fulfill", {
                        "id": promiseId, "version": 1,
                        "action": envelope("promise.settle", {
                            "id": promiseId, "state": state,
                            "value": {"data": data},
                        }),
                    })
                return ensureDeferred(attempt(lambda: http[side].complete(
                    promiseId, state, value={"data": data}
                ))).addCallback(lambda answer: answer[:2])

            answers = await gatherResults([send(racer) for racer in racers])
            won = []
            for racer, (response, problem) in zip(racers, answers):
                if response is None:
                    problems.append(f"{promiseId} {racer}: {problem}")
                elif racer[0] == "2026" and _isEnvelope(response, "task.fulfill", 200):
                    won.append((racer, response))
                elif racer[0] == "v0.5" and response.code == 201:
                    won.append((racer, response))
            if len(won) != 1:
                problems.append(f"{promiseId}: {len(won)} winners: {answers}")
                return
            (winner, state, data, _), response = won[0]
            state = state.lower()
            winners[promiseId] = (state, data)
            for racer, (loser, _) in zip(racers, answers):
                if loser is response:
                    continue
                if racer[0] == "2026":
                    ok = _isEnvelope(loser, "task.fulfill", 409)
                else:
                    ok = isEnvelope(loser, already[state])
                if not ok:
                    problems.append(
                        f"{promiseId} {racer} lost to {winner} {state}: {loser}"
                    )

        await inParallel(ids, race, self.promisesAtOnce)
        self.assertNoProblems(problems)

        for side, rpc in enumerate(rpcs):
            for promiseId, (state, data) in sorted(winners.items()):
                promise = (await rpc.ok("promise.get", {"id": promiseId}))["promise"]
                old = await http[side].read(promiseId)
                self.assertEqual(old.code, 200, old)
                self.assertEqual(
                    (promise["state"], promise["value"].get("data")),
                    (state, data),
                    promise,
                )
                self.assertEqual(
                    (old.body["state"], old.body["value"].get("data")),
                    (state.upper(), data),
                    old,
                )
                self.assertEqual(old.body["completedOn"], promise["settledAt"])
        tasks = await rpcs[0].searchAll("task.search", {}, "tasks")
        self.assertEqual(
            sorted((t["id"], t["state"], t["version"]) for t in tasks),
            sorted((promiseId, "fulfilled", 1) for promiseId in ids),
        )
        await self.sameSnapshots()
        await self.stopServers()


class LeaseExpiryTests(_ServersMixin, unittest.TestCase):
    """
    Leases that end while two servers sweep one database: each task returns
    to pending once, at its version, with one C{execute}.
    """

    tasks = 60
    contested = 30
    ttl = 1000
    retryTimeout = 60_000

    async def test_expiredOnce(self):
        """
        Tasks acquired with a short lease through both servers, whose sweeps
        run every 100 ms.  For C{contested} more, a C{task.fulfill} is sent
        around the lease's end (from 200 ms before to 300 ms after).

        Every uncontested task, and every contested one whose fulfill lost
        (409), returns to pending at version 1 (the expiry bumps no
        version), with a retry timer armed after the lease ended and
        exactly one C{execute}, at version 1 (the expiry's replaced the
        create's); its promise is still pending.  A contested task whose
        fulfill won (200) is fulfilled at version 1, its promise resolved,
        and no C{execute} at version 1 was queued for it.  No task is ever
        seen in another state or at another version.  Then racing acquires
        at version 1 of the pending tasks through both servers: one wins
        each.
        """
        rpcs = await self.startServers(
            2, "--system-timeout-interval", "100ms",
            "--tasks-retry-timeout", f"{self.retryTimeout}ms",
        )
        plain = [f"lease{n}" for n in range(self.tasks)]
        contested = [f"contested{n}" for n in range(self.contested)]
        await self.createTasks(plain + contested)
        leaseEnds = {}
        fulfilled = {}
        problems = []

        async def fulfillAt(taskId, n, delay):
            await deferLater(reactor, delay, lambda: None)
            response, problem = await rpcs[n % 2].call("task.fulfill", {
                "id": taskId, "version": 1,
                "action": envelope("promise.settle", {
                    "id": taskId, "state": "resolved",
                    "value": {"data": PAYLOADS[0]},
                }),
            })
            if response is not None and _isEnvelope(response, "task.fulfill", 200):
                fulfilled[taskId] = True
            elif response is not None and _isEnvelope(response, "task.fulfill", 409):
                fulfilled[taskId] = False
            else:
                problems.append(f"fulfill {taskId}: {response or problem}")

        fulfills = []

        async def hold(taskId):
            n = int(re.sub(r"\D", "", taskId))
            before = int(reactor.seconds() * 1000)
            task = await self.acquire(taskId, 0, f"w{n}", self.ttl, side=n)
            self.assertEqual(
                (task["state"], task["version"], task["ttl"]),
                ("acquired", 1, self.ttl),
            )
            leaseEnds[taskId] = before + self.ttl
            if taskId in contested:
                offset = -0.2 + 0.5 * n / max(1, self.contested - 1)
                delay = max(0.0, leaseEnds[taskId] / 1000 + offset - reactor.seconds())
                fulfills.append(ensureDeferred(fulfillAt(taskId, n + 1, delay)))

        await inParallel(plain + contested, hold, 16)

        seen = []

        async def allSettled():
            # Alternate the servers; no task may be seen in any state but
            # acquired, pending or (contested) fulfilled, nor at another
            # version.
            rpc = rpcs[len(seen) % 2]
            tasks = await rpc.searchAll("task.search", {}, "tasks")
            seen.append(tasks)
            for task in tasks:
                allowed = ["acquired", "pending"]
                if task["id"] in contested:
                    allowed.append("fulfilled")
                self.assertIn(task["state"], allowed, task)
                self.assertEqual(task["version"], 1, task)
            return len(fulfilled) == len(contested) and all(
                task["state"] != "acquired" for task in tasks
            )

        await waitFor(allSettled, "every lease expired or fulfilled")
        await gatherResults(fulfills)
        self.assertGreater(len(seen), 1, "expired before the first look")
        self.assertNoProblems(problems)

        pending = plain + [t for t in contested if not fulfilled[t]]
        snap = await self.sameSnapshots()
        self.assertEqual(
            sorted((t["id"], t["state"], t["version"], t["resumes"])
                   for t in snap["tasks"]),
            sorted(
                [(taskId, "pending", 1, 0) for taskId in pending]
                + [(taskId, "fulfilled", 1, 0)
                   for taskId in contested if fulfilled[taskId]]
            ),
        )
        executes = executesByTask(snap)
        timers = {timer["id"]: timer for timer in snap["taskTimeouts"]}
        self.assertEqual(sorted(timers), sorted(pending))
        promises = {p["id"]: p for p in snap["promises"]}
        for taskId in pending:
            self.assertEqual(executes.get(taskId), [(1, TARGET)], taskId)
            self.assertEqual(promises[taskId]["state"], "pending")
            timer = timers[taskId]
            self.assertEqual(timer["type"], 0, timer)
            # Armed by the expiry, at or after the lease's end (the clock
            # was read before the acquire was sent, hence the slack).
            self.assertGreaterEqual(
                timer["timeout"] - self.retryTimeout,
                leaseEnds[taskId] - 1000,
                timer,
            )
        for taskId in contested:
            if fulfilled[taskId]:
                self.assertIn(executes.get(taskId), (None, [(0, TARGET)]), taskId)
                self.assertEqual(promises[taskId]["state"], "resolved")

        async def race(taskId):
            answers = await gatherResults([
                rpcs[n % 2].call("task.acquire", {
                    "id": taskId, "version": 1, "pid": f"r{n}", "ttl": LONG_TTL,
                })
                for n in range(4)
            ])
            won = [r for r, _ in answers
                   if r is not None and _isEnvelope(r, "task.acquire", 200)]
            lost = [r for r, _ in answers
                    if r is not None and _isEnvelope(r, "task.acquire", 409)]
            if len(won) != 1 or len(lost) != 3:
                problems.append(f"{taskId}: {answers}")
            elif won[0].body["data"]["task"]["version"] != 2:
                problems.append(f"{taskId}: won {won[0]}")

        await inParallel(pending, race, 8)
        self.assertNoProblems(problems)
        self.assertEqual(
            sorted(t["id"] for t in await rpcs[0].searchAll(
                "task.search", {"state": "acquired"}, "tasks")),
            sorted(pending),
        )
        await self.stopServers()


#: A sample of a counter in Prometheus's text format.
_SCHEDULE_PROMISES = re.compile(
    r"^resonate_schedule_promises_total(?:\{[^}]*\})? (\S+)$", re.MULTILINE
)


class ScheduleFiringTests(_ServersMixin, unittest.TestCase):
    """
    A 2026 schedule fired by two servers on one database fires each slot
    once.
    """

    schedules = 4
    slots = 3

    async def fired(self):
        """
        C{resonate_schedule_promises_total} summed over the servers.
        """
        total = 0
        pool = HTTPConnectionPool(reactor, persistent=False)
        for server in self.servers:
            response = await treq.get(await server.metricsURL(), pool=pool)
            text = (await treq.content(response)).decode("utf-8")
            match = _SCHEDULE_PROMISES.search(text)
            self.assertIsNotNone(match, text)
            total += int(float(match.group(1)))
        return total

    async def test_eachSlotOnce(self):
        """
        C{* * * * * *} schedules with SDK 0.8.1's template
        C{{{.id}}-{{.timestamp}}}, created through both servers, run until
        each has fired C{slots} slots, then are deleted.  Each slot's
        promise exists once, created on its slot, tagged with its schedule,
        with one pending task at version 0 and one C{execute}; the slots of
        a schedule are consecutive seconds; and the servers together
        counted one firing per promise (no slot fired twice).
        """
        rpcs = await self.startServers(2)
        scheduleIds = [f"sched{n}" for n in range(self.schedules)]
        for n, scheduleId in enumerate(scheduleIds):
            schedule = (await rpcs[n % 2].ok("schedule.create", {
                "id": scheduleId,
                "cron": "* * * * * *",
                "promiseId": "{{.id}}-{{.timestamp}}",
                "promiseTimeout": 3_600_000,
                "promiseTags": TT,
            }))["schedule"]
            self.assertEqual(schedule["nextRunAt"] % 1000, 0, schedule)

        async def firedEnough():
            promises = await rpcs[0].searchAll("promise.search", {}, "promises")
            counts = {}
            for promise in promises:
                scheduleId = promise["tags"].get("resonate:schedule")
                counts[scheduleId] = counts.get(scheduleId, 0) + 1
            return all(counts.get(s, 0) >= self.slots for s in scheduleIds)

        await waitFor(firedEnough, f"{self.slots} slots of each schedule")
        for n, scheduleId in enumerate(scheduleIds):
            await rpcs[n % 2].ok("schedule.delete", {"id": scheduleId})

        promises = []
        for scheduleId in scheduleIds:
            mine = await rpcs[1].searchAll(
                "promise.search", {"tags": {"resonate:schedule": scheduleId}},
                "promises",
            )
            promises += mine
            slots = []
            for promise in mine:
                prefix, _, slot = promise["id"].rpartition("-")
                self.assertEqual(prefix, scheduleId, promise)
                slots.append(int(slot))
                self.assertEqual(promise["createdAt"], int(slot), promise)
                self.assertEqual(promise["state"], "pending", promise)
                self.assertEqual(promise["tags"]["resonate:target"], TARGET)
                self.assertEqual(promise["timeoutAt"], int(slot) + 3_600_000)
            slots.sort()
            self.assertGreaterEqual(len(slots), self.slots, scheduleId)
            self.assertEqual(
                slots, list(range(slots[0], slots[-1] + 1000, 1000)),
                f"{scheduleId}: gaps or off-second slots",
            )
        ids = sorted(p["id"] for p in promises)
        self.assertEqual(len(ids), len(set(ids)))

        snap = await self.sameSnapshots()
        self.assertEqual(sorted(p["id"] for p in snap["promises"]), ids)
        self.assertEqual(
            sorted((t["id"], t["state"], t["version"]) for t in snap["tasks"]),
            [(promiseId, "pending", 0) for promiseId in ids],
        )
        self.assertEqual(
            executesByTask(snap), {promiseId: [(0, TARGET)] for promiseId in ids}
        )
        tasks = await rpcs[0].searchAll("task.search", {}, "tasks")
        self.assertEqual(sorted(t["id"] for t in tasks), ids)

        # The count of a firing is recorded once its transaction is
        # answered: wait for the last ones, and never more than one each.
        async def counted():
            fired = await self.fired()
            self.assertLessEqual(fired, len(ids), "a slot fired twice")
            return fired == len(ids)

        await waitFor(counted, f"{len(ids)} firings counted", timeout=5.0)
        await self.stopServers()
