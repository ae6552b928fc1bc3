# -*- test-case-name: tests.processes.test_protocol2026_processes -*-
"""
The 2026 protocol's background work in a real C{twist resonate} process,
over real sockets, on SQLite and on PostgreSQL (protocol-2026.md §7-§9,
§12, §7.20; DECISIONS 26, 27, 29, 30):

  - in real time, with short settings (C{--tasks-retry-timeout 1s},
    C{--system-timeout-interval 100ms}, leases of a second): a pending
    task's retry timer fires and is armed again; a lease kept by
    heartbeats holds and, once they stop, expires; C{resonate:delay}
    holds the first C{execute} back until the delay; a C{resonate:timer}
    promise with a target resolves on time and wakes the task suspended
    on it (a durable sleep) while a plain promise times out and unblocks
    its listener; a C{* * * * * *} schedule fires a tagged promise with a
    pending task every second;
  - deterministically, with C{--debug}: a paused server changes nothing,
    and C{debug.tick} expires a lease at its end and not before, fires
    retry timers, timer promises and a delay at their times;
  - across a crash: C{kill -9} while a task is leased and a timer promise
    pending, a restart on the same database, and the lease still expires
    and the timer still fires;
  - across an upgrade: a database made by the server at commit C{c41309f}
    (schema version 5) holding v0.5 promises is served by today's server,
    which reads them in the 2026 protocol and runs a task flow on them.
    (The store suites migrate a version-5 database with data in process;
    this is the same at the process level, with the old server itself.)

Messages are not delivered yet: an C{execute} or C{unblock} waits in the
outbox, which C{debug.snap} shows as C{messages}, so every server here runs
with C{--debug} and the real-time tests simply never pause it.

Every wait is bounded and polls for the state it expects; a fixed pause is
used only to show that nothing happens while the loops are paused.
"""

import itertools
import os
import sqlite3
import tarfile
import time

from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from resonate.store.migrate import loadMigrations

from tests.support.postgrestools import (
    DSN,
    PostgresStore,
    psycopg2,
)
from tests.support.processtools import (
    HTTPClient,
    SQLiteStore,
    pause,
    runProcess,
    spawnResonate,
    startResonate,
    stopCleanly,
    wallNow,
)

#: The protocol version of every request.
VERSION = "2026-04-01"

#: The commit whose server makes the schema-version-5 database.
OLD_COMMIT = "c41309f"

#: The repository the old server's source is read from.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: The target of every task here: no worker listens, so messages wait in
#: the outbox.
TARGET = "poll://any@workers"
TT = {"resonate:target": TARGET}

#: Where the clients of the listener tests wait for their result.
LISTENER = "poll://uni@clients/c1"

SECOND = 1000
HOUR = 3_600_000

#: C{--tasks-retry-timeout} of every server here, in ms.
RETRY = SECOND

#: Short settings: a retry timeout of a second, sweeps ten times a second,
#: and the debug operations (for C{debug.snap}; the loops run unless a test
#: pauses them).
SHORT = (
    "--tasks-retry-timeout", "1s",
    "--system-timeout-interval", "100ms",
    "--debug",
)

#: The longest any wait for a background change may take, in seconds.
WAIT = 15.0

#: How often a wait polls, in seconds.
POLL = 0.05


async def waitFor(description, probe, accept, timeout=WAIT):
    """
    Call C{probe} until C{accept} takes what it returns.

    @param probe: a no-argument coroutine function.
    @param accept: a one-argument predicate.
    @return: the first value accepted.
    @raise AssertionError: if none is within C{timeout} seconds; it names
        the last value.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{description}: not within {timeout}s; last: {value!r}"
            )
        await pause(POLL)


def timers(snap, taskId):
    """
    The timers of C{taskId} in a C{debug.snap}: C{(type, timeout)} pairs.
    """
    return [
        (t["type"], t["timeout"]) for t in snap["taskTimeouts"] if t["id"] == taskId
    ]


def executes(snap, taskId):
    """
    The versions of the queued C{execute} messages for C{taskId}, with
    their address.
    """
    return [
        (m["address"], m["message"]["data"]["task"]["version"])
        for m in snap["messages"]
        if m["message"]["kind"] == "execute"
        and m["message"]["data"]["task"]["id"] == taskId
    ]


def unblocks(snap, promiseId):
    """
    The queued C{unblock} messages for C{promiseId}: C{(address, promise
    record)} pairs.
    """
    return [
        (m["address"], m["message"]["data"]["promise"])
        for m in snap["messages"]
        if m["message"]["kind"] == "unblock"
        and m["message"]["data"]["promise"]["id"] == promiseId
    ]


def action(kind, data):
    return {"kind": kind, "head": {"corrId": "inner", "version": VERSION}, "data": data}


class Client2026:
    """
    The 2026 protocol's C{POST /} of one server process, checking every
    answer's envelope (§2).
    """

    def __init__(self, url, auth=None):
        """
        @param auth: the token to send in C{head.auth} (JWT auth), or
            L{None}.
        """
        self.http = HTTPClient(url)
        self._corrIds = itertools.count()
        self._auth = auth

    async def call(self, kind, data, at=None):
        """
        Send one request.

        @param at: its C{resonate:debug_time}, or L{None} for none.
        @return: C{(status, data)} of the answer.
        """
        corrId = f"c{next(self._corrIds)}"
        head = {"corrId": corrId, "version": VERSION}
        if at is not None:
            head["resonate:debug_time"] = at
        if self._auth is not None:
            head["auth"] = self._auth
        response = await self.http.request(
            "POST", "/", {"kind": kind, "head": head, "data": data}
        )
        body = response.body
        if not isinstance(body, dict) or body.get("kind") != kind:
            raise AssertionError(f"{kind}: not an envelope: {response!r}")
        if body["head"].get("corrId") != corrId or body["head"].get(
            "status"
        ) != response.code:
            raise AssertionError(f"{kind}: bad head: {response!r}")
        return response.code, body["data"]

    async def ok(self, kind, data, at=None, status=200):
        """
        Send one request that must answer C{status}.

        @return: the answer's C{data}.
        """
        code, answer = await self.call(kind, data, at)
        if code != status:
            raise AssertionError(f"{kind} {data!r}: {code} {answer!r}")
        return answer

    async def create(self, promiseId, timeoutAt, tags=None, at=None):
        data = {"id": promiseId, "timeoutAt": timeoutAt, "tags": tags or {}}
        return (await self.ok("promise.create", data, at))["promise"]

    async def promise(self, promiseId, at=None):
        return (await self.ok("promise.get", {"id": promiseId}, at))["promise"]

    async def task(self, taskId, at=None):
        return (await self.ok("task.get", {"id": taskId}, at))["task"]

    async def acquire(self, taskId, version, pid, ttl, at=None):
        data = {"id": taskId, "version": version, "pid": pid, "ttl": ttl}
        return (await self.ok("task.acquire", data, at))["task"]

    async def taskCreate(self, promiseId, timeoutAt, pid, ttl, at=None):
        """
        C{task.create} of a root promise with C{resonate:target}.

        @return: its acquired task.
        """
        data = {
            "pid": pid,
            "ttl": ttl,
            "action": action(
                "promise.create",
                {"id": promiseId, "timeoutAt": timeoutAt, "tags": dict(TT)},
            ),
        }
        return (await self.ok("task.create", data, at))["task"]

    async def fenceCreate(self, taskId, version, promiseId, timeoutAt, tags, at=None):
        """
        C{task.fence} of a C{promise.create}.

        @return: the created promise.
        """
        data = {
            "id": taskId,
            "version": version,
            "action": action(
                "promise.create",
                {"id": promiseId, "timeoutAt": timeoutAt, "tags": tags},
            ),
        }
        answer = await self.ok("task.fence", data, at)
        inner = answer["action"]
        if inner["head"]["status"] != 200:
            raise AssertionError(f"fenced create of {promiseId}: {answer!r}")
        return inner["data"]["promise"]

    def suspend(self, taskId, version, *awaited, at=None, status=200):
        data = {
            "id": taskId,
            "version": version,
            "actions": [
                action(
                    "promise.register_callback",
                    {"awaited": a, "awaiter": taskId},
                )
                for a in awaited
            ],
        }
        return self.ok("task.suspend", data, at, status)

    def heartbeat(self, pid, *tasks, at=None):
        data = {"pid": pid, "tasks": [{"id": i, "version": v} for i, v in tasks]}
        return self.ok("task.heartbeat", data, at)

    def snap(self):
        return self.ok("debug.snap", {})

    async def sleep(self, taskId, timeoutAt, pid, at=None):
        """
        A durable sleep as SDK 0.8.1 makes one (protocol-2026.md §19.8): a
        task C{taskId} that creates the child C{taskId:1}, a
        C{resonate:timer} promise with a target timing out at
        C{timeoutAt}, and suspends on it.

        @return: the child's id.
        """
        task = await self.taskCreate(taskId, timeoutAt + HOUR, pid, HOUR, at)
        child = f"{taskId}:1"
        await self.fenceCreate(
            taskId, task["version"], child, timeoutAt,
            {"resonate:timer": "true", **TT}, at,
        )
        await self.suspend(taskId, task["version"], child, at=at)
        return child


class Protocol2026ProcessTestsMixin:
    """
    The background work of the 2026 protocol in a real server process, on
    the store L{storeFlags} names.
    """

    timeout = 120

    def storeFlags(self):
        """
        The flags for this test's store: an empty database, the same one
        every time a test asks.
        """
        raise NotImplementedError()

    async def startServer(self, *flags):
        """
        Start a server on this test's store with the short settings.

        @return: C{(process, client)}.
        """
        server = await startResonate(self, *self.storeFlags(), *SHORT, *flags)
        return server, Client2026(server.url)

    async def stopServer(self, server):
        """
        Stop C{server} cleanly, and check that it logged no traceback.
        """
        await stopCleanly(self, server)

    # --- Real time --------------------------------------------------------

    async def test_taskTimers(self):
        """
        In real time: a pending task's retry timer fires after the retry
        timeout and is armed again, its one C{execute} still queued; a
        lease renewed by heartbeats outlives its ttl, and once they stop it
        expires, not before its end: the task is pending again at the same
        version, with a retry timer and an C{execute} of that version
        (§9.2); a C{resonate:delay} holds the first C{execute} back until
        the delay, then the retry timer runs from there (DECISIONS 26).
        """
        server, client = await self.startServer()
        await gatherResults(
            [
                ensureDeferred(self.retryFires(client)),
                ensureDeferred(self.leaseHeldThenExpires(client)),
                ensureDeferred(self.delayHoldsExecute(client)),
            ],
            consumeErrors=True,
        )
        await self.stopServer(server)

    async def retryFires(self, client):
        """
        A pending task's retry timer fires and is armed again.
        """
        created = await client.create("retry", wallNow() + HOUR, TT)
        snap = await client.snap()
        first = created["createdAt"] + RETRY
        self.assertEqual(timers(snap, "retry"), [(0, first)])
        self.assertEqual(executes(snap, "retry"), [(TARGET, 0)])
        snap = await waitFor(
            "the retry timer fires and is armed again",
            client.snap,
            lambda s: all(at >= first + RETRY for _, at in timers(s, "retry")),
        )
        [(kind, _)] = timers(snap, "retry")
        self.assertEqual(kind, 0)
        self.assertEqual(executes(snap, "retry"), [(TARGET, 0)])
        task = await client.task("retry")
        self.assertEqual((task["state"], task["version"]), ("pending", 0))

    async def leaseHeldThenExpires(self, client):
        """
        A lease kept by heartbeats holds, and expires once they stop.
        """
        ttl = SECOND
        await client.create("lease", wallNow() + HOUR, TT)
        task = await client.acquire("lease", 0, "worker", ttl)
        self.assertEqual((task["state"], task["version"]), ("acquired", 1))
        acquiredAt = wallNow()
        # Heartbeats every fifth of the ttl, for more than two ttls.
        while True:
            sent = wallNow()
            await client.heartbeat("worker", ("lease", 1))
            task = await client.task("lease")
            self.assertEqual(
                (task["state"], task["version"], task["pid"]),
                ("acquired", 1, "worker"),
            )
            if sent - acquiredAt > 2.5 * ttl:
                break
            await pause(ttl / 5000)
        lastHeartbeat = sent
        task = await waitFor(
            "the lease expires once heartbeats stop",
            lambda: client.task("lease"),
            lambda t: t["state"] != "acquired",
        )
        self.assertGreaterEqual(wallNow(), lastHeartbeat + ttl)
        self.assertEqual(
            task, {"id": "lease", "state": "pending", "version": 1, "resumes": 0}
        )
        snap = await client.snap()
        [(kind, _)] = timers(snap, "lease")
        self.assertEqual(kind, 0)
        self.assertEqual(executes(snap, "lease"), [(TARGET, 1)])

    async def delayHoldsExecute(self, client):
        """
        C{resonate:delay} holds the first C{execute} back until the delay.
        """
        delay = wallNow() + 1500
        tags = {**TT, "resonate:delay": str(delay)}
        await client.create("delayed", wallNow() + HOUR, tags)
        snap = await client.snap()
        self.assertEqual(timers(snap, "delayed"), [(0, delay)])
        self.assertEqual(executes(snap, "delayed"), [])
        snap = await waitFor(
            "the delayed execute is queued",
            client.snap,
            lambda s: executes(s, "delayed"),
        )
        self.assertGreaterEqual(wallNow(), delay, "queued before the delay")
        self.assertEqual(executes(snap, "delayed"), [(TARGET, 0)])
        [(kind, at)] = timers(snap, "delayed")
        self.assertEqual(kind, 0)
        self.assertGreaterEqual(at, delay + RETRY)
        task = await client.task("delayed")
        self.assertEqual((task["state"], task["version"]), ("pending", 0))

    async def test_timeoutSweepChain(self):
        """
        In real time: the timeout sweep resolves a C{resonate:timer}
        promise with a target at its timeout and runs the settlement chain
        (§8, §9.4): its own task is fulfilled and the task suspended on it
        (a durable sleep) is pending again with an C{execute}; a promise
        without a target times out too, and its listener gets one
        C{unblock} with the timed-out record (DECISIONS 27).  Nothing reads
        the promises by id before, so only the sweep can have done it.
        """
        server, client = await self.startServer()
        timeoutAt = wallNow() + 1500
        child = await client.sleep("nap", timeoutAt, "sleeper")
        await client.create("plain", timeoutAt)
        await client.ok(
            "promise.register_listener", {"awaited": "plain", "address": LISTENER}
        )
        snap = await client.snap()
        self.assertIn({"awaiter": "nap", "awaited": child}, snap["callbacks"])
        self.assertIn({"id": "plain", "address": LISTENER}, snap["listeners"])
        self.assertEqual((await client.task("nap"))["state"], "suspended")

        task = await waitFor(
            "the sleeper wakes",
            lambda: client.task("nap"),
            lambda t: t["state"] != "suspended",
        )
        self.assertGreaterEqual(wallNow(), timeoutAt, "woken before the timeout")
        self.assertEqual(
            task, {"id": "nap", "state": "pending", "version": 1, "resumes": 1}
        )
        snap = await waitFor(
            "the listener's unblock is queued",
            client.snap,
            lambda s: unblocks(s, "plain"),
        )
        [(address, record)] = unblocks(snap, "plain")
        self.assertEqual(address, LISTENER)
        self.assertEqual(
            (record["state"], record["settledAt"]), ("rejected_timedout", timeoutAt)
        )
        self.assertNotIn("plain", [l["id"] for l in snap["listeners"]])
        self.assertEqual(executes(snap, "nap"), [(TARGET, 1)])
        [(kind, _)] = timers(snap, "nap")
        self.assertEqual(kind, 0)
        self.assertEqual(timers(snap, child), [])

        timer = await client.promise(child)
        self.assertEqual(
            (timer["state"], timer["settledAt"], timer["value"]),
            ("resolved", timeoutAt, {}),
        )
        self.assertEqual((await client.task(child))["state"], "fulfilled")
        await self.stopServer(server)

    async def test_scheduleFires(self):
        """
        In real time: a C{* * * * * *} schedule, as SDK 0.8.1 makes one
        (template C{{{.id}}-{{.timestamp}}}, C{promiseTags}
        C{{resonate:target}}), fires every second from its first slot on:
        each fired promise is C{<id>-<slot>}, created at its slot, timing
        out C{promiseTimeout} later, tagged with the schedule's tags,
        C{resonate:schedule} and C{resonate:origin}, C{resonate:branch},
        C{resonate:parent} all its own id, with a pending task whose
        C{execute} is queued (§12).
        """
        server, client = await self.startServer()
        created = await client.ok(
            "schedule.create",
            {
                "id": "every",
                "cron": "* * * * * *",
                "promiseId": "{{.id}}-{{.timestamp}}",
                "promiseTimeout": HOUR,
                "promiseTags": TT,
            },
        )
        firstSlot = created["schedule"]["nextRunAt"]
        self.assertEqual(firstSlot % SECOND, 0, created)

        async def fired():
            answer = await client.ok(
                "promise.search", {"tags": {"resonate:schedule": "every"}}
            )
            return answer["promises"]

        promises = await waitFor(
            "two slots fire", fired, lambda found: len(found) >= 2
        )
        promises = promises[:2]
        slots = [int(p["id"].rpartition("-")[2]) for p in promises]
        self.assertEqual(slots, [firstSlot, firstSlot + SECOND])
        snap = await client.snap()
        for slot, promise in zip(slots, promises):
            promiseId = f"every-{slot}"
            self.assertEqual(
                promise,
                {
                    "id": promiseId,
                    "state": "pending",
                    "param": {},
                    "value": {},
                    "tags": {
                        **TT,
                        "resonate:schedule": "every",
                        "resonate:origin": promiseId,
                        "resonate:branch": promiseId,
                        "resonate:parent": promiseId,
                    },
                    "timeoutAt": slot + HOUR,
                    "createdAt": slot,
                },
            )
            task = await client.task(promiseId)
            self.assertEqual((task["state"], task["version"]), ("pending", 0))
            self.assertEqual(executes(snap, promiseId), [(TARGET, 0)])
        schedule = (await client.ok("schedule.get", {"id": "every"}))["schedule"]
        self.assertGreaterEqual(schedule["lastRunAt"], firstSlot + SECOND)
        self.assertEqual(schedule["nextRunAt"], schedule["lastRunAt"] + SECOND)
        await client.ok("schedule.delete", {"id": "every"})
        await self.stopServer(server)

    # --- Debug time -------------------------------------------------------

    async def test_pausedUntilTicked(self):
        """
        With C{--debug}, C{debug.start} pauses the background loops: with
        every timer and timeout already due by the wall clock, a second of
        sweeps changes nothing.  C{debug.tick} then runs them at the given
        time only (§7.20): a lease renewed by a heartbeat expires at its
        new end and not a millisecond before, retry timers fire at their
        times, a timer promise resolves at its timeout and wakes its
        sleeper, a C{resonate:delay} queues the first C{execute} at the
        delay, a C{* * * * * *} schedule fires each second's slot once the
        tick reaches it.  C{debug.reset} empties the store, and after
        C{debug.stop} the loops expire a due lease by themselves.
        """
        server, client = await self.startServer()
        await client.ok("debug.start", {})
        await client.ok("debug.reset", {})
        # Ten minutes ago, on a second: everything below is due by the
        # wall clock, and the schedule's slots are t0 + 1000, + 2000, ...
        t0 = (wallNow() // SECOND - 600) * SECOND

        await client.create("lease", t0 + HOUR, TT, at=t0)
        await client.acquire("lease", 0, "worker", 500, at=t0)
        await client.create(
            "delayed", t0 + HOUR, {**TT, "resonate:delay": str(t0 + 5000)}, at=t0
        )
        nap = await client.sleep("nap", t0 + 3000, "sleeper", at=t0)
        created = await client.ok(
            "schedule.create",
            {
                "id": "every",
                "cron": "* * * * * *",
                "promiseId": "{{.id}}-{{.timestamp}}",
                "promiseTimeout": HOUR,
                "promiseTags": TT,
            },
            at=t0,
        )
        self.assertEqual(created["schedule"]["nextRunAt"], t0 + SECOND)

        async def fired(time):
            answer = await client.ok(
                "promise.search", {"tags": {"resonate:schedule": "every"}}, time
            )
            return [p["id"] for p in answer["promises"]]

        before = await client.snap()
        self.assertEqual(timers(before, "lease"), [(1, t0 + 500)])
        self.assertEqual(timers(before, "delayed"), [(0, t0 + 5000)])
        self.assertEqual(executes(before, "delayed"), [])

        # Ten sweep intervals, and nothing changes.
        await pause(1.0)
        self.assertEqual(await client.snap(), before)
        self.assertEqual(await fired(t0), [])

        await client.heartbeat("worker", ("lease", 1), at=t0 + 300)
        snap = await client.snap()
        self.assertEqual(timers(snap, "lease"), [(1, t0 + 800)])

        async def tick(time):
            self.assertEqual(await client.ok("debug.tick", {"time": time}), [])
            return await client.snap()

        snap = await tick(t0 + 799)
        self.assertEqual(timers(snap, "lease"), [(1, t0 + 800)])
        self.assertEqual((await client.task("lease", t0 + 799))["state"], "acquired")

        snap = await tick(t0 + 800)
        self.assertEqual(timers(snap, "lease"), [(0, t0 + 800 + RETRY)])
        self.assertEqual(executes(snap, "lease"), [(TARGET, 1)])
        self.assertEqual(
            await client.task("lease", t0 + 800),
            {"id": "lease", "state": "pending", "version": 1, "resumes": 0},
        )

        self.assertEqual(await fired(t0 + 800), [])

        snap = await tick(t0 + 1800)
        self.assertEqual(timers(snap, "lease"), [(0, t0 + 2800)])
        self.assertEqual(executes(snap, "lease"), [(TARGET, 1)])
        slot = f"every-{t0 + SECOND}"
        self.assertEqual(await fired(t0 + 1800), [slot])
        promise = await client.promise(slot, t0 + 1800)
        self.assertEqual(
            (promise["createdAt"], promise["timeoutAt"], promise["state"]),
            (t0 + SECOND, t0 + SECOND + HOUR, "pending"),
        )
        self.assertEqual(executes(snap, slot), [(TARGET, 0)])

        snap = await tick(t0 + 2999)
        self.assertEqual((await client.task("nap", t0 + 2999))["state"], "suspended")
        self.assertEqual(executes(snap, "nap"), [])
        snap = await tick(t0 + 3000)
        timer = await client.promise(nap, t0 + 3000)
        self.assertEqual(
            (timer["state"], timer["settledAt"]), ("resolved", t0 + 3000)
        )
        self.assertEqual((await client.task(nap, t0 + 3000))["state"], "fulfilled")
        self.assertEqual(
            (await client.task("nap", t0 + 3000))["state"], "pending"
        )
        self.assertEqual(timers(snap, "nap"), [(0, t0 + 3000 + RETRY)])
        self.assertEqual(executes(snap, "nap"), [(TARGET, 1)])

        snap = await tick(t0 + 4999)
        self.assertEqual(executes(snap, "delayed"), [])
        self.assertEqual(timers(snap, "delayed"), [(0, t0 + 5000)])
        snap = await tick(t0 + 5000)
        self.assertEqual(executes(snap, "delayed"), [(TARGET, 0)])
        self.assertEqual(timers(snap, "delayed"), [(0, t0 + 5000 + RETRY)])
        self.assertEqual(
            await fired(t0 + 5000),
            [f"every-{t0 + n * SECOND}" for n in range(1, 6)],
        )

        await client.ok("debug.reset", {})
        self.assertEqual(
            await client.snap(),
            {
                "promises": [], "promiseTimeouts": [], "callbacks": [],
                "listeners": [], "tasks": [], "taskTimeouts": [],
                "messages": [],
            },
        )

        # Resumed, the loops expire a lease that is due by the wall clock.
        await client.create("after", t0 + HOUR, TT, at=t0)
        await client.acquire("after", 0, "worker", 500, at=t0)
        await client.ok("debug.stop", {})
        await waitFor(
            "the resumed loops expire the lease",
            lambda: client.task("after"),
            lambda t: t["state"] == "pending",
        )
        await self.stopServer(server)

    # --- Crash ------------------------------------------------------------

    async def test_killedAndRestarted(self):
        """
        A server killed with SIGKILL while a task is leased and a durable
        sleep's timer promise pending loses neither: restarted on the same
        database, it still holds the lease until its end, then expires it,
        and resolves the timer at its timeout and wakes the sleeper.
        """
        server, client = await self.startServer()
        now = wallNow()
        ttl = 4 * SECOND
        await client.create("held", now + HOUR, TT)
        await client.acquire("held", 0, "worker", ttl)
        child = await client.sleep("nap", now + ttl, "sleeper")
        before = await client.snap()
        [(kind, leaseEnd)] = timers(before, "held")
        self.assertEqual(kind, 1)

        exit = await server.kill()
        self.assertEqual(exit.signal, 9, exit)

        server, client = await self.startServer()
        snap = await client.snap()
        if wallNow() < leaseEnd:
            self.assertEqual(timers(snap, "held"), [(1, leaseEnd)])
            self.assertEqual(
                {t["id"]: t for t in snap["tasks"]}["held"]["state"], "acquired"
            )
        self.assertEqual(
            sorted(p["id"] for p in snap["promises"]), ["held", "nap", child]
        )

        task = await waitFor(
            "the lease expires after the restart",
            lambda: client.task("held"),
            lambda t: t["state"] != "acquired",
        )
        self.assertGreaterEqual(wallNow(), leaseEnd)
        self.assertEqual((task["state"], task["version"]), ("pending", 1))
        task = await waitFor(
            "the sleeper wakes after the restart",
            lambda: client.task("nap"),
            lambda t: t["state"] != "suspended",
        )
        self.assertEqual((task["state"], task["version"]), ("pending", 1))
        timer = await client.promise(child)
        self.assertEqual(
            (timer["state"], timer["settledAt"]), ("resolved", now + ttl)
        )
        snap = await client.snap()
        self.assertEqual(executes(snap, "held"), [(TARGET, 1)])
        self.assertEqual(executes(snap, "nap"), [(TARGET, 1)])
        await self.stopServer(server)

    # --- Upgrade ----------------------------------------------------------

    def schemaVersion(self):
        """
        The highest schema version this test's database records.
        """
        raise NotImplementedError()

    async def oldServerTree(self):
        """
        The server's source at L{OLD_COMMIT}, in a directory of the test's
        own, or skip the test when the repository does not have it.

        @return: the directory.
        """
        check = await runProcess(
            self, ["git", "-C", ROOT, "cat-file", "-e", OLD_COMMIT + "^{commit}"]
        )
        if check.exit.code != 0:
            raise unittest.SkipTest(f"commit {OLD_COMMIT} is not in this clone")
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        archive = os.path.join(directory, "old.tar")
        made = await runProcess(
            self,
            ["git", "-C", ROOT, "archive", "--format=tar", "-o", archive,
             OLD_COMMIT, "resonate", "twisted"],
        )
        self.assertEqual(made.exit.code, 0, made.output)
        tree = os.path.join(directory, "tree")

        def extract():
            with tarfile.open(archive) as tar:
                tar.extractall(tree)

        await deferToThread(extract)
        return tree

    async def test_upgradeFromSchemaVersion5(self):
        """
        A database made by the server at C{c41309f} (schema version 5),
        holding v0.5 promises, is served by today's server: a 2026
        C{promise.get} answers them as they were stored (lower-case state,
        param, value and tags, C{createdAt} from C{createdOn}), and a 2026
        task flow runs on them: a task that awaits an old settled promise
        is redirected with C{300}; one that suspends on an old pending
        promise is woken when a v0.5 C{PATCH} resolves it (DECISIONS 23),
        then acquired again and fulfilled.  Old pending promises are timed
        out by today's sweep on time, a v0.5 timer (C{resonate:timeout})
        resolved, and their 2026 listeners unblocked (DECISIONS 27).
        """
        tree = await self.oldServerTree()
        old = spawnResonate(
            self, *self.storeFlags(), env={"PYTHONPATH": tree}
        )
        await old.listening()
        v05 = HTTPClient(old.url)
        far = wallNow() + 24 * HOUR
        param = {"headers": {"a": "b"}, "data": "aGVsbG8="}
        pending = await v05.create(
            "legacy", far, param=param, tags={"x": "1"}
        )
        self.assertEqual(pending.code, 201, pending)
        done = await v05.create("legacy:done", far)
        self.assertEqual(done.code, 201, done)
        done = await v05.complete(
            "legacy:done", "RESOLVED", value={"data": "d29ybGQ="}
        )
        self.assertEqual(done.code, 201, done)
        # Old rows the new server's sweep must time out: a v0.5 timer and
        # an ordinary promise, due once the new server is up.
        due = wallNow() + 6 * SECOND
        timer = await v05.create(
            "legacy:timer", due, tags={"resonate:timeout": "true"}
        )
        self.assertEqual(timer.code, 201, timer)
        ordinary = await v05.create("legacy:ordinary", due)
        self.assertEqual(ordinary.code, 201, ordinary)
        await self.stopServer(old)
        self.assertEqual(await deferToThread(self.schemaVersion), 5)

        server, client = await self.startServer()
        self.assertEqual(
            await client.promise("legacy"),
            {
                "id": "legacy", "state": "pending", "param": param, "value": {},
                "tags": {"x": "1"}, "timeoutAt": far,
                "createdAt": pending.body["createdOn"],
            },
        )
        self.assertEqual(
            await client.promise("legacy:done"),
            {
                "id": "legacy:done", "state": "resolved", "param": {},
                "value": {"data": "d29ybGQ="}, "tags": {},
                "timeoutAt": far, "createdAt": done.body["createdOn"],
                "settledAt": done.body["completedOn"],
            },
        )

        for promiseId in ("legacy:timer", "legacy:ordinary"):
            listened = await client.ok(
                "promise.register_listener",
                {"awaited": promiseId, "address": LISTENER},
            )
            self.assertEqual(listened["promise"]["state"], "pending")

        task = await client.taskCreate("legacy:1", far, "worker", HOUR)
        self.assertEqual((task["state"], task["version"]), ("acquired", 1))
        await client.suspend("legacy:1", 1, "legacy:done", status=300)
        await client.suspend("legacy:1", 1, "legacy")
        self.assertEqual((await client.task("legacy:1"))["state"], "suspended")
        resolved = await client.http.complete(
            "legacy", "RESOLVED", value={"headers": {}, "data": "d29ybGQ="}
        )
        self.assertIn(resolved.code, (200, 201), resolved)
        self.assertEqual(
            await client.task("legacy:1"),
            {"id": "legacy:1", "state": "pending", "version": 1, "resumes": 1},
        )
        snap = await client.snap()
        self.assertEqual(executes(snap, "legacy:1"), [(TARGET, 1)])
        task = await client.acquire("legacy:1", 1, "worker", HOUR)
        self.assertEqual(task["version"], 2)
        fulfilled = await client.ok(
            "task.fulfill",
            {
                "id": "legacy:1",
                "version": 2,
                "action": action(
                    "promise.settle", {"id": "legacy:1", "state": "resolved"}
                ),
            },
        )
        self.assertEqual(fulfilled["promise"]["state"], "resolved")
        self.assertEqual((await client.task("legacy:1"))["state"], "fulfilled")

        snap = await waitFor(
            "the old promises time out",
            client.snap,
            lambda s: unblocks(s, "legacy:timer") and unblocks(s, "legacy:ordinary"),
        )
        self.assertGreaterEqual(wallNow(), due, "timed out early")
        for promiseId, state in [
            ("legacy:timer", "resolved"), ("legacy:ordinary", "rejected_timedout"),
        ]:
            [(address, record)] = unblocks(snap, promiseId)
            self.assertEqual(address, LISTENER)
            self.assertEqual(
                (record["state"], record["settledAt"]), (state, due), promiseId
            )
        # Migrated to the latest schema the package ships.
        self.assertEqual(
            await deferToThread(self.schemaVersion), len(loadMigrations())
        )
        await self.stopServer(server)


class SQLiteProtocol2026ProcessTests(
    SQLiteStore, Protocol2026ProcessTestsMixin, unittest.TestCase
):
    """
    The 2026 protocol's background work in a server on SQLite.
    """

    def schemaVersion(self):
        connection = sqlite3.connect(self.path)
        try:
            return connection.execute(
                "SELECT MAX(version) FROM schema_versions"
            ).fetchone()[0]
        finally:
            connection.close()


class PostgresProtocol2026ProcessTests(
    PostgresStore, Protocol2026ProcessTestsMixin, unittest.TestCase
):
    """
    The 2026 protocol's background work in a server on PostgreSQL, each
    test on a scratch database of its own.
    """

    def schemaVersion(self):
        connection = psycopg2.connect(DSN, dbname=self.database)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT MAX(version) FROM schema_versions")
                return cursor.fetchone()[0]
        finally:
            connection.close()
