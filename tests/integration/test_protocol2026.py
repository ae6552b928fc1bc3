# -*- test-case-name: tests.integration.test_protocol2026 -*-
"""
The 2026 protocol (C{POST /}, protocol-2026.md §2-§9 and DECISIONS 23-32)
over real sockets on 127.0.0.1, beside the v0.5 REST API on the same
listener: the case table (L{tests.support.cases2026}), one test per row,
and scenario tests for the flows that take several steps or the time of
the run (lifecycles, paging, lazy timeouts).

L{Protocol2026TestsMixin} runs against a store; it is run against the
memory store, SQLite (a real file) and PostgreSQL (a scratch database on
the server C{RESONATE_TEST_POSTGRES_DSN} names; skipped without it).

The server reads the real clock: pending promises time out a day ahead
(L{LATER}); promises created already timed out use C{timeoutAt} 1; the
lazy-timeout scenarios create promises a few hundred milliseconds from
timing out and wait.
"""

import atexit
import json
import uuid
from dataclasses import replace

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from resonate.api.tokens import TokenVerifier
from resonate.store.memory import MemoryStore
from tests.integration.test_store_postgres import PostgresTestsMixin, adminQuery
from tests.support.cases2026 import (
    B64,
    LATER,
    Context,
    TT,
    TTL,
    Live2026API,
    Protocol2026CasesMixin,
    acquire,
    assertPromise,
    callback,
    create,
    createTask,
    fenceCreate,
    fenceSettle,
    fulfill,
    get,
    lineage,
    release,
    rootTags,
    schedule,
    scheduleSearch,
    search,
    settle,
    suspend,
    taskCreate,
    taskGet,
    taskSearch,
    wallNow,
)
from tests.support.jwttools import KeyPair, hmacToken, unsignedToken

#: The debug operations (§7.20), each with data it would accept.
DEBUG_KINDS = [
    ("debug.start", {}), ("debug.stop", {}), ("debug.reset", {}),
    ("debug.snap", {}), ("debug.tick", {"time": 1}),
]


class Protocol2026TestsMixin(Protocol2026CasesMixin):
    """
    The case table and the scenarios, against the store C{makeStore}
    returns.
    """

    def makeStore(self):
        raise NotImplementedError()

    async def startAPI(self):
        return await Live2026API(self, self.makeStore()).start()

    async def ok(self, api, step, status=200):
        """
        Send C{step}, check it answers C{status} (and its envelope and
        shape), and return its C{data}.
        """
        reply = await self.perform(api, step.expect(status), Context(), self.id())
        return reply.data

    async def task(self, api, taskId):
        return (await self.ok(api, taskGet(taskId)))["task"]

    async def promise(self, api, promiseId):
        return (await self.ok(api, get(promiseId)))["promise"]

    async def sleepUntil(self, ms):
        """
        Wait until the wall clock is past C{ms} (epoch milliseconds).
        """
        while wallNow() <= ms:
            await deferLater(reactor, (ms - wallNow() + 5) / 1000)

    # --- §7.20 and §1 --------------------------------------------------------

    async def test_debugDisabled(self):
        """
        With debug off (the listener's default), every debug.* kind answers
        403 "Debug operations are disabled" (§7.20, DECISIONS 30).
        """
        api = await self.startAPI()
        for kind, data in DEBUG_KINDS:
            reply = await api.rpc(kind, data, "d1")
            self.assertEqual(reply.code, 403, (kind, reply))
            self.assertEqual(reply.status, 403, kind)
            self.assertEqual(reply.body["kind"], kind)
            self.assertEqual(reply.body["head"]["corrId"], "d1")
            self.assertEqual(reply.data, "Debug operations are disabled", kind)

    async def test_getRootNotAllowed(self):
        """
        C{/} is a known path for POST only: GET / answers 405 (§1).
        """
        api = await self.startAPI()
        reply = await api.request("GET", "/")
        self.assertEqual(reply.code, 405, reply)

    async def test_healthAndReady(self):
        """
        GET /health and GET /ready answer 200 with an empty body on the
        same listener (§1, DECISIONS 23).
        """
        api = await self.startAPI()
        for path in ("/health", "/ready"):
            reply = await api.request("GET", path)
            self.assertEqual((reply.code, reply.raw), (200, b""), path)

    async def test_corrIdEchoedVerbatim(self):
        """
        Any string corrId is echoed exactly: empty, long, not ASCII (§2,
        §18).
        """
        api = await self.startAPI()
        for corrId in ["", "x" * 4000, "\u00fc\u2713\U0001F600", "a b\tc\n"]:
            reply = await api.rpc("promise.get", {"id": "nope"}, corrId)
            self.assertEqual(reply.code, 404, reply)
            self.assertEqual(reply.body["head"]["corrId"], corrId)
            self.assertEqual(reply.body["kind"], "promise.get")

    # --- the task lifecycle (§7.7-§7.13, §9) ----------------------------------

    async def test_taskLifecycle(self):
        """
        A task's whole life as SDK 0.8.1 drives it: created pending by
        promise.create with a target, acquired (v0 -> v1), a child created
        and settled through task.fence, suspended on a pending child (200,
        suspended, no lease), woken when the child settles (pending, same
        version, resumes 1), acquired again (v2, resumes 0, the branch as
        preload), fulfilled; the re-run of the finished id answers 200
        fulfilled.
        """
        api = await self.startAPI()
        created = await self.ok(api, createTask("root", tags=rootTags("root")))
        self.assertEqual(created["promise"]["state"], "pending")
        self.assertEqual(await self.task(api, "root"),
                         {"id": "root", "state": "pending", "version": 0, "resumes": 0})

        acquired = await self.ok(api, acquire("root", 0, "p1", TTL))
        self.assertEqual(acquired["task"], {"id": "root", "state": "acquired", "version": 1,
                                            "resumes": 0, "ttl": TTL, "pid": "p1"})
        self.assertEqual(acquired["promise"]["id"], "root")
        self.assertEqual(acquired["preload"], [])

        childTags = lineage("root", "root", "root")
        fenced = await self.ok(api, fenceCreate("root", 1, "root:1", tags=childTags))
        self.assertEqual(fenced["action"]["head"]["status"], 200)
        self.assertEqual(fenced["action"]["data"]["promise"]["state"], "pending")
        fenced = await self.ok(api, fenceSettle("root", 1, "root:1", value={"data": B64}))
        self.assertEqual(fenced["action"]["data"]["promise"]["state"], "resolved")
        fenced = await self.ok(api, fenceCreate("root", 1, "root:2", tags=childTags))
        self.assertEqual([p["id"] for p in fenced["preload"]], ["root:1", "root:2"])

        # The settled child redirects; the pending one suspends.
        redirect = await self.ok(api, suspend("root", 1, "root:1", "root:2"), 300)
        self.assertEqual([p["id"] for p in redirect["preload"]], ["root:1", "root:2"])
        self.assertEqual((await self.task(api, "root"))["state"], "acquired")
        self.assertEqual(await self.ok(api, suspend("root", 1, "root:2")), {})
        self.assertEqual(await self.task(api, "root"),
                         {"id": "root", "state": "suspended", "version": 1, "resumes": 0})

        await self.ok(api, settle("root:2", value={"data": B64}))
        self.assertEqual(await self.task(api, "root"),
                         {"id": "root", "state": "pending", "version": 1, "resumes": 1})

        reacquired = await self.ok(api, acquire("root", 1, "p1", TTL))
        self.assertEqual(reacquired["task"], {"id": "root", "state": "acquired", "version": 2,
                                              "resumes": 0, "ttl": TTL, "pid": "p1"})
        self.assertEqual([(p["id"], p["state"]) for p in reacquired["preload"]],
                         [("root:1", "resolved"), ("root:2", "resolved")])

        done = await self.ok(api, fulfill("root", 2, value={"data": B64}))
        self.assertEqual((done["promise"]["state"], done["promise"]["value"]),
                         ("resolved", {"data": B64}))
        self.assertEqual(await self.task(api, "root"),
                         {"id": "root", "state": "fulfilled", "version": 2, "resumes": 0})

        rerun = await self.ok(api, taskCreate("root"))
        self.assertEqual(rerun["task"]["state"], "fulfilled")
        self.assertEqual(rerun["preload"], [])
        self.assertEqual(rerun["promise"]["state"], "resolved")

    async def test_rpcFlow(self):
        """
        A run() that awaits an rpc: task.create acquires the root (v1); a
        fenced create with a target makes the child's task; the root
        suspends on it; the child's worker acquires and fulfils it, which
        wakes the root (resumes 1); the root is acquired (v2) and
        fulfilled.  A second task.create meanwhile is 409 (§7.8, §9.4).
        """
        api = await self.startAPI()
        created = await self.ok(api, taskCreate("root"))
        self.assertEqual(created["task"]["version"], 1)
        await self.ok(api, taskCreate("root", pid="p2"), 409)
        child = dict(TT, **lineage("root", "root:1", "root"))
        await self.ok(api, fenceCreate("root", 1, "root:1", tags=child))
        self.assertEqual(await self.task(api, "root:1"),
                         {"id": "root:1", "state": "pending", "version": 0, "resumes": 0})
        await self.ok(api, suspend("root", 1, "root:1"))
        await self.ok(api, taskCreate("root", pid="p2"), 409)

        await self.ok(api, acquire("root:1", 0, "p2", TTL))
        await self.ok(api, fulfill("root:1", 1, value={"data": B64}))
        self.assertEqual(await self.task(api, "root"),
                         {"id": "root", "state": "pending", "version": 1, "resumes": 1})
        again = await self.ok(api, acquire("root", 1, "p1", TTL))
        self.assertEqual(again["task"]["version"], 2)
        await self.ok(api, fulfill("root", 2))
        self.assertEqual((await self.promise(api, "root"))["state"], "resolved")

    async def test_suspendRedirectThenSuspend(self):
        """
        After a 300 the worker re-runs with the preload and suspends again
        at the same version on what is still pending (§7.12, §19.5); the
        ready callbacks of the first run do not count.
        """
        api = await self.startAPI()
        await self.ok(api, taskCreate("root"))
        tags = lineage("root", "root", "root")
        await self.ok(api, create("root:1", tags=tags))
        await self.ok(api, create("root:2", tags=tags))
        await self.ok(api, settle("root:1"))
        redirect = await self.ok(api, suspend("root", 1, "root:1", "root:2"), 300)
        self.assertEqual([p["id"] for p in redirect["preload"]], ["root:1", "root:2"])
        self.assertEqual(await self.ok(api, suspend("root", 1, "root:2")), {})
        self.assertEqual(await self.task(api, "root"),
                         {"id": "root", "state": "suspended", "version": 1, "resumes": 0})

    async def test_releaseAndReacquire(self):
        """
        A released task keeps its version; the next acquire must name it,
        and bumps it (§7.9, §7.10, §9.1).
        """
        api = await self.startAPI()
        await self.ok(api, createTask("root"))
        for version in range(3):
            await self.ok(api, acquire("root", version, f"p{version}", TTL))
            await self.ok(api, release("root", version + 1))
            self.assertEqual(await self.task(api, "root"),
                             {"id": "root", "state": "pending", "version": version + 1,
                              "resumes": 0})
        await self.ok(api, acquire("root", 0), 409)

    # --- paging (§7.6, §7.16, §7.19) -----------------------------------------------

    async def pages(self, api, step, key):
        """
        Follow the cursors of a search from C{step}.

        @return: the ids of each page.
        """
        pages = []
        while True:
            data = await self.ok(api, step)
            pages.append([r["id"] for r in data[key]])
            if "cursor" not in data:
                return pages
            self.assertLess(len(pages), 20, pages)
            step = replace(step, data=dict(step.data, cursor=data["cursor"]))

    async def test_promiseSearchPaging(self):
        """
        Pages of promise.search follow the cursor in id order; the last
        page has no cursor; filters hold on every page (§7.6).
        """
        api = await self.startAPI()
        for promiseId in ["e", "a", "d", "c", "b"]:
            await self.ok(api, create(promiseId, tags={"k": "v"}))
        await self.ok(api, create("x"))
        await self.ok(api, settle("d"))
        self.assertEqual(await self.pages(api, search(limit=2, tags={"k": "v"}), "promises"),
                         [["a", "b"], ["c", "d"], ["e"]])
        self.assertEqual(await self.pages(api, search(limit=2, state="pending"), "promises"),
                         [["a", "b"], ["c", "e"], ["x"]])
        self.assertEqual(await self.pages(api, search(limit=3), "promises"),
                         [["a", "b", "c"], ["d", "e", "x"]])

    async def test_promiseSearchDefaultLimit(self):
        """
        Without a limit a page holds 100 promises (§7.6).
        """
        api = await self.startAPI()
        for i in range(101):
            await self.ok(api, create(f"p{i:03}"))
        pages = await self.pages(api, search(), "promises")
        self.assertEqual([len(p) for p in pages], [100, 1])
        self.assertEqual(pages[1], ["p100"])

    async def test_taskSearchPaging(self):
        """
        Pages of task.search follow the cursor in id order (§7.16).
        """
        api = await self.startAPI()
        for taskId in ["t3", "t1", "t5", "t2", "t4"]:
            await self.ok(api, createTask(taskId))
        await self.ok(api, acquire("t2"))
        self.assertEqual(await self.pages(api, taskSearch(limit=2), "tasks"),
                         [["t1", "t2"], ["t3", "t4"], ["t5"]])
        self.assertEqual(await self.pages(api, taskSearch(limit=2, state="pending"), "tasks"),
                         [["t1", "t3"], ["t4", "t5"]])

    async def test_scheduleSearchPaging(self):
        """
        Pages of schedule.search follow the cursor in id order (§7.19).
        """
        api = await self.startAPI()
        for scheduleId in ["s3", "s1", "s2"]:
            await self.ok(api, schedule(scheduleId))
        self.assertEqual(await self.pages(api, scheduleSearch(limit=2), "schedules"),
                         [["s1", "s2"], ["s3"]])

    # --- lazy timeouts (§8, DECISIONS 27) ----------------------------------------------

    async def soonTimedOut(self, api, *steps):
        """
        Create the promises of C{steps} (creates whose timeoutAt is
        replaced) to time out 500 ms from now; wait until they have.

        @return: their timeoutAt.
        """
        timeoutAt = wallNow() + 500
        for step in steps:
            await self.ok(api, replace(step, data=dict(step.data, timeoutAt=timeoutAt)))
        await self.sleepUntil(timeoutAt)
        return timeoutAt

    async def test_lazyTimeoutOnGet(self):
        """
        A pending promise past its timeout reads rejected_timedout, settled
        at its timeoutAt, value empty (§7.1, §8).
        """
        api = await self.startAPI()
        timeoutAt = await self.soonTimedOut(api, create("p", param={"data": B64}))
        record = await self.promise(api, "p")
        self.assertEqual((record["state"], record["settledAt"], record["value"]),
                         ("rejected_timedout", timeoutAt, {}))

    async def test_lazyTimeoutTimer(self):
        """
        A timer past its timeout reads resolved (§4, §8).
        """
        api = await self.startAPI()
        timeoutAt = await self.soonTimedOut(
            api, create("p", tags={"resonate:timer": "true"}))
        record = await self.promise(api, "p")
        self.assertEqual((record["state"], record["settledAt"]), ("resolved", timeoutAt))

    async def test_lazyTimeoutOnSettle(self):
        """
        Settling a promise past its timeout answers 200 with it timed out
        (§7.3).
        """
        api = await self.startAPI()
        await self.soonTimedOut(api, create("p"))
        data = await self.ok(api, settle("p", value={"data": B64}))
        self.assertEqual((data["promise"]["state"], data["promise"]["value"]),
                         ("rejected_timedout", {}))

    async def test_lazyTimeoutOnCreate(self):
        """
        Creating an id whose promise is past its timeout answers the
        timed-out record (§7.2 try_timeout).
        """
        api = await self.startAPI()
        timeoutAt = await self.soonTimedOut(api, create("p"))
        data = await self.ok(api, create("p"))
        self.assertEqual((data["promise"]["state"], data["promise"]["settledAt"]),
                         ("rejected_timedout", timeoutAt))

    async def test_lazyTimeoutFulfilsTask(self):
        """
        An acquired task whose promise timed out is fulfilled when read;
        its worker's fulfill is 409 (§7.7, §7.11, §9.4).
        """
        api = await self.startAPI()
        await self.soonTimedOut(api, createTask("root"))
        self.assertEqual(await self.task(api, "root"),
                         {"id": "root", "state": "fulfilled", "version": 0, "resumes": 0})
        await self.ok(api, acquire("root", 0), 409)
        self.assertEqual((await self.promise(api, "root"))["state"], "rejected_timedout")

    async def test_lazyTimeoutOnFulfill(self):
        """
        task.fulfill of an acquired task whose promise has timed out is 409
        (§7.11: the timeout applied first fulfils the task).
        """
        api = await self.startAPI()
        timeoutAt = wallNow() + 1000
        await self.ok(api, createTask("root", timeoutAt=timeoutAt))
        await self.ok(api, acquire("root"))
        await self.sleepUntil(timeoutAt)
        await self.ok(api, fulfill("root", 1, value={"data": B64}), 409)
        record = await self.promise(api, "root")
        self.assertEqual((record["state"], record["value"]), ("rejected_timedout", {}))

    async def test_lazyTimeoutWakesAwaiter(self):
        """
        A timeout applied lazily runs the settlement chain: the task
        suspended on the promise becomes pending with one resume (§8, §9.4).
        """
        api = await self.startAPI()
        await self.ok(api, taskCreate("root"))
        timeoutAt = wallNow() + 1000
        await self.ok(api, create("root:1", timeoutAt=timeoutAt))
        await self.ok(api, suspend("root", 1, "root:1"))
        await self.sleepUntil(timeoutAt)
        self.assertEqual((await self.promise(api, "root:1"))["state"], "rejected_timedout")
        self.assertEqual(await self.task(api, "root"),
                         {"id": "root", "state": "pending", "version": 1, "resumes": 1})

    async def test_lazyTimeoutOnTaskCreate(self):
        """
        task.create of an id whose pending task's promise has timed out:
        200 with the task fulfilled, the promise timed out and no preload
        (§7.8 try_timeout).
        """
        api = await self.startAPI()
        await self.soonTimedOut(api, createTask("root", tags=rootTags("root")))
        data = await self.ok(api, taskCreate("root"))
        self.assertEqual(data["task"], {"id": "root", "state": "fulfilled", "version": 0,
                                        "resumes": 0})
        self.assertEqual(data["promise"]["state"], "rejected_timedout")
        self.assertEqual(data["preload"], [])

    async def test_lazyTimeoutOnSuspend(self):
        """
        task.suspend times out what it touches first: an awaited promise
        past its timeout is settled, so the answer is 300 and the task stays
        acquired.
        """
        api = await self.startAPI()
        await self.ok(api, taskCreate("root"))
        await self.ok(api, create("root:2"))
        await self.soonTimedOut(api, create("root:1"))
        await self.ok(api, suspend("root", 1, "root:2", "root:1"), 300)
        self.assertEqual((await self.task(api, "root"))["state"], "acquired")

    async def test_lazyTimeoutOfOwnPromiseOnSuspend(self):
        """
        Suspending a task whose own promise has timed out: the timeout
        fulfils the task first, so the suspend is 409 (§7.12 try_timeout).
        """
        api = await self.startAPI()
        timeoutAt = wallNow() + 1000
        await self.ok(api, createTask("root", timeoutAt=timeoutAt))
        await self.ok(api, create("root:1"))
        await self.ok(api, acquire("root"))
        await self.sleepUntil(timeoutAt)
        await self.ok(api, suspend("root", 1, "root:1"), 409)
        self.assertEqual((await self.task(api, "root"))["state"], "fulfilled")

    async def test_lazyTimeoutOnRegisterCallback(self):
        """
        register_callback times out the awaited first: an overdue awaited
        answers settled and the pending awaiter counts a resume (§7.4).
        """
        api = await self.startAPI()
        await self.ok(api, createTask("root"))
        await self.soonTimedOut(api, create("root:1"))
        data = await self.ok(api, callback("root:1", "root"))
        self.assertEqual(data["promise"]["state"], "rejected_timedout")
        self.assertEqual(await self.task(api, "root"),
                         {"id": "root", "state": "pending", "version": 0, "resumes": 1})

    async def test_searchAnswersAsOfNow(self):
        """
        promise.search answers an overdue promise as timed out, with or
        without a target (DECISIONS 27, which overrides §7.6's "no timeout
        sweep").
        """
        api = await self.startAPI()
        await self.soonTimedOut(api, create("a"), createTask("b"))
        await self.ok(api, create("c"))
        pending = await self.ok(api, search(state="pending"))
        self.assertEqual([p["id"] for p in pending["promises"]], ["c"])
        timedOut = await self.ok(api, search(state="rejected_timedout"))
        self.assertEqual([p["id"] for p in timedOut["promises"]], ["a", "b"])
        for record in timedOut["promises"]:
            assertPromise(self, record)

    async def test_createdAtIsNow(self):
        """
        A pending promise is created at the request's time; timeoutAt is
        kept as given (§7.2).
        """
        api = await self.startAPI()
        before = wallNow()
        data = await self.ok(api, create("p", timeoutAt=before + 10 * 60_000))
        after = wallNow()
        self.assertTrue(before <= data["promise"]["createdAt"] <= after)
        self.assertEqual(data["promise"]["timeoutAt"], before + 10 * 60_000)

    # --- DECISIONS 23: both protocols on one store --------------------------------------

    async def test_v05PatchWakesSuspendedTask(self):
        """
        A promise made by the 2026 protocol and awaited by a suspended
        task, completed by v0.5's PATCH: its own task is fulfilled, the
        awaiter is pending with one resume, and v0.5 and 2026 read the same
        record (DECISIONS 23).
        """
        api = await self.startAPI()
        await self.ok(api, taskCreate("root"))
        await self.ok(api, createTask("root:1", tags=lineage("root", "root:1", "root")))
        await self.ok(api, suspend("root", 1, "root:1"))
        patched = await api.request("PATCH", "/promises/root:1",
                                    {"state": "REJECTED", "value": {"data": B64}})
        self.assertEqual(patched.code, 201, patched)
        self.assertEqual((patched.body["state"], patched.body["value"]),
                         ("REJECTED", {"data": B64}))
        self.assertEqual(await self.task(api, "root:1"),
                         {"id": "root:1", "state": "fulfilled", "version": 0, "resumes": 0})
        self.assertEqual(await self.task(api, "root"),
                         {"id": "root", "state": "pending", "version": 1, "resumes": 1})
        record = await self.promise(api, "root:1")
        self.assertEqual((record["state"], record["value"], record["settledAt"]),
                         ("rejected", {"data": B64}, patched.body["completedOn"]))
        again = await self.ok(api, acquire("root", 1))
        self.assertEqual([p["id"] for p in again["preload"]], [])

    async def test_v05CreateThen2026Task(self):
        """
        A v0.5 promise is an ordinary promise to the 2026 protocol: awaited
        through a suspend, settled by v0.5, it wakes the task (DECISIONS 23).
        """
        api = await self.startAPI()
        await self.ok(api, taskCreate("root"))
        created = await api.request("POST", "/promises", {"id": "root:1", "timeout": LATER})
        self.assertEqual(created.code, 201, created)
        await self.ok(api, suspend("root", 1, "root:1"))
        patched = await api.request("PATCH", "/promises/root:1", {"state": "RESOLVED"})
        self.assertEqual(patched.code, 201, patched)
        self.assertEqual(await self.task(api, "root"),
                         {"id": "root", "state": "pending", "version": 1, "resumes": 1})

    async def test_v05Read2026Timer(self):
        """
        A 2026 timer created timed out reads RESOLVED through v0.5
        (DECISIONS 27: the timer tags count whichever protocol reads).
        """
        api = await self.startAPI()
        await self.ok(api, create("t", timeoutAt=1, tags={"resonate:timer": "true"}))
        read = await api.request("GET", "/promises/t")
        self.assertEqual(read.code, 200, read)
        self.assertEqual((read.body["state"], read.body["completedOn"]), ("RESOLVED", 1))

    async def test_v05Settle2026TimedOut(self):
        """
        v0.5 cannot complete a 2026 promise created timed out: it is
        REJECTED_TIMEDOUT (200 when not strict, as v0.5 answers), and the
        2026 record is unchanged.
        """
        api = await self.startAPI()
        await self.ok(api, createTask("root", timeoutAt=1))
        patched = await api.request("PATCH", "/promises/root", {"state": "RESOLVED"})
        self.assertEqual(patched.code, 200, patched)
        self.assertEqual(patched.body["state"], "REJECTED_TIMEDOUT")
        self.assertEqual((await self.promise(api, "root"))["state"], "rejected_timedout")
        self.assertEqual((await self.task(api, "root"))["state"], "fulfilled")


# --- §14 Auth -----------------------------------------------------------------

#: The prefix the restricted tokens of L{Protocol2026AuthTests} grant, and
#: another.
INSIDE = "team-a/"
OUTSIDE = "team-b/"

#: One request of each kind, naming ids under L{INSIDE} (every id it
#: names), on the scene L{Protocol2026AuthTests.scene} sets.
AUTH_REQUESTS = {
    "promise.get": {"id": "team-a/r:1"},
    "promise.create": {"id": "team-a/n", "timeoutAt": LATER},
    "promise.settle": {"id": "team-a/r:1", "state": "resolved"},
    "promise.register_callback": {"awaited": "team-a/r:1", "awaiter": "team-a/r"},
    "promise.register_listener": {"awaited": "team-a/r:1", "address": "poll://uni@g/p"},
    "promise.search": {},
    "task.get": {"id": "team-a/r"},
    "task.create": {"pid": "p", "ttl": TTL, "action": {
        "kind": "promise.create", "head": {},
        "data": {"id": "team-a/t", "timeoutAt": LATER, "tags": TT}}},
    "task.acquire": {"id": "team-a/r", "version": 0, "pid": "p", "ttl": TTL},
    "task.release": {"id": "team-a/r", "version": 1},
    "task.fulfill": {"id": "team-a/r", "version": 1, "action": {
        "kind": "promise.settle", "head": {},
        "data": {"id": "team-a/r", "state": "resolved"}}},
    "task.suspend": {"id": "team-a/r", "version": 1, "actions": [
        {"kind": "promise.register_callback", "head": {},
         "data": {"awaited": "team-a/r:1", "awaiter": "team-a/r"}}]},
    "task.fence": {"id": "team-a/r", "version": 1, "action": {
        "kind": "promise.create", "head": {},
        "data": {"id": "team-a/r:2", "timeoutAt": LATER}}},
    "task.heartbeat": {"pid": "p", "tasks": [{"id": "team-a/r", "version": 1}]},
    "task.halt": {"id": "team-a/h"},
    "task.continue": {"id": "team-a/h"},
    "task.search": {},
    "schedule.create": {"id": "team-a/s", "cron": "* * * * *",
                        "promiseId": "team-a/s-{{.timestamp}}",
                        "promiseTimeout": 1000, "promiseTags": TT},
    "schedule.get": {"id": "team-a/s"},
    "schedule.delete": {"id": "team-a/gone"},
    "schedule.search": {},
    "debug.start": {}, "debug.stop": {}, "debug.reset": {}, "debug.snap": {},
    "debug.tick": {"time": 1},
    "promise.nope": {"id": "team-a/r"},
}

#: The kinds that name no id: only an unrestricted principal may.
NO_ID_KINDS = frozenset(
    ["promise.search", "task.search", "schedule.search", "promise.nope"]
)

#: Requests that name one id outside L{INSIDE} beside ids inside it: a
#: restricted principal needs every one.
MIXED_REQUESTS = [
    ("task.heartbeat", {"pid": "p", "tasks": [
        {"id": "team-a/r", "version": 1}, {"id": "team-b/r", "version": 1}]}),
    ("task.fence", {"id": "team-a/r", "version": 1, "action": {
        "kind": "promise.create", "head": {},
        "data": {"id": "team-b/x", "timeoutAt": LATER}}}),
    ("task.suspend", {"id": "team-a/r", "version": 1, "actions": [
        {"kind": "promise.register_callback", "head": {},
         "data": {"awaited": "team-b/r:1", "awaiter": "team-a/r"}}]}),
    ("promise.register_callback", {"awaited": "team-a/r:1", "awaiter": "team-b/r"}),
]


def _outside(data):
    """
    C{data} with every id under L{INSIDE} moved under L{OUTSIDE}.
    """
    return json.loads(json.dumps(data).replace(INSIDE, OUTSIDE))


class Protocol2026AuthTests(unittest.TestCase):
    """
    JWT auth of C{POST /} (protocol-2026.md section 14): the token of
    C{head.auth}, 401 C{"Unauthorized"} without a valid one, and 403
    C{"Forbidden"} for a request naming an id the token's prefix does not
    allow; the table is every kind against every kind of token.
    """

    def setUp(self):
        self.keys = KeyPair("ec")
        self.tokens = TokenVerifier(self.keys.publicPEM)
        self.admin = self.keys.token(role="Admin")

    async def startAPI(self):
        api = await Live2026API(self, MemoryStore(), tokens=self.tokens).start()
        await self.scene(api)
        return api

    async def send(self, api, kind, data, token):
        head = {} if token is None else {"auth": token}
        reply = await api.rpc(kind, data, "a1", head=head)
        self.assertEqual(reply.code, reply.status, reply)
        self.assertEqual((reply.body["kind"], reply.body["head"]["corrId"]),
                         (kind, "a1"), reply)
        return reply

    async def scene(self, api):
        """
        A root task C{team-a/r} acquired at version 1, its pending child
        C{team-a/r:1}, a halted task C{team-a/h}, and the same under
        C{team-b/}.
        """
        for prefix in (INSIDE, OUTSIDE):
            for kind, data in [
                ("task.create", {"pid": "p", "ttl": TTL, "action": {
                    "kind": "promise.create", "head": {},
                    "data": {"id": prefix + "r", "timeoutAt": LATER, "tags": TT}}}),
                ("promise.create", {"id": prefix + "r:1", "timeoutAt": LATER}),
                ("promise.create", {"id": prefix + "h", "timeoutAt": LATER, "tags": TT}),
                ("task.halt", {"id": prefix + "h"}),
            ]:
                reply = await self.send(api, kind, data, self.admin)
                self.assertEqual(reply.code, 200, reply)

    def assertForbidden(self, reply, label):
        self.assertEqual((reply.code, reply.data), (403, "Forbidden"), label)

    def assertAllowed(self, reply, label):
        """
        The request passed auth: neither 401 nor section 14's 403 (the
        debug kinds' own 403 says something else).
        """
        self.assertNotEqual(reply.code, 401, label)
        self.assertNotEqual(reply.data, "Forbidden", label)

    async def test_badTokens(self):
        """
        Without a token, or with one that does not verify (garbage, signed
        by another key, C{alg: none}, HMAC keyed with the public key,
        expired, without C{exp}), every kind answers 401 C{"Unauthorized"}
        in the envelope; a valid token in the C{Authorization} header
        instead of C{head.auth} counts for nothing (section 14).
        """
        api = await self.startAPI()
        stranger = KeyPair("ec")
        bad = {
            "none": None,
            "empty": "",
            "garbage": "x.y.z",
            "otherKey": stranger.token(role="admin"),
            "unsigned": unsignedToken(role="admin"),
            "hmac": hmacToken(self.keys.publicPEM, role="admin"),
            "expired": self.keys.token(expiresIn=-60, role="admin"),
            "noExp": self.keys.token(expiresIn=None, role="admin"),
        }
        for name, token in bad.items():
            for kind, data in AUTH_REQUESTS.items():
                reply = await self.send(api, kind, data, token)
                self.assertEqual((reply.code, reply.data), (401, "Unauthorized"),
                                 (name, kind))
        reply = await api.rpc("promise.get", {"id": "team-a/r"}, "h1",
                              headers={"Authorization": ["Bearer " + self.admin]})
        self.assertEqual((reply.code, reply.data), (401, "Unauthorized"))

    async def test_table(self):
        """
        Every kind against every principal (section 14): an admin (any
        case of C{role}) may do everything (the debug kinds then answer
        that debug is off); prefix C{""} everything but C{debug.*}; a
        prefix may name ids under it and nothing else, and never search;
        a token without a string prefix may do nothing.
        """
        api = await self.startAPI()
        principals = {
            "admin": self.admin,
            "all": self.keys.token(prefix=""),
            "inside": self.keys.token(prefix=INSIDE, role="worker"),
            "outside": self.keys.token(prefix=OUTSIDE),
            "noPrefix": self.keys.token(sub="someone"),
            "nullPrefix": self.keys.token(prefix=None),
            "numberPrefix": self.keys.token(prefix=5),
        }
        for name, token in principals.items():
            for kind, data in AUTH_REQUESTS.items():
                label = (name, kind)
                reply = await self.send(api, kind, data, token)
                if kind.startswith("debug."):
                    if name == "admin":
                        self.assertEqual(
                            (reply.code, reply.data),
                            (403, "Debug operations are disabled"), label)
                    else:
                        self.assertForbidden(reply, label)
                elif name in ("admin", "all"):
                    self.assertAllowed(reply, label)
                elif name == "inside" and kind not in NO_ID_KINDS:
                    self.assertAllowed(reply, label)
                else:
                    self.assertForbidden(reply, label)
                if name == "inside" and kind not in NO_ID_KINDS:
                    reply = await self.send(api, kind, _outside(data), token)
                    self.assertForbidden(reply, (name, kind, "outside"))
            if name in ("admin", "all"):
                reply = await self.send(api, "promise.nope", {}, token)
                self.assertEqual((reply.code, reply.data),
                                 (400, "Unknown operation: promise.nope"), name)

    async def test_everyIdNamed(self):
        """
        A restricted principal needs every id a request names: a heartbeat
        with one task outside, a fence creating a promise outside, a
        suspend awaiting one, a callback whose awaiter is outside are 403
        and change nothing.
        """
        api = await self.startAPI()
        inside = self.keys.token(prefix=INSIDE)
        for kind, data in MIXED_REQUESTS:
            self.assertForbidden(await self.send(api, kind, data, inside), kind)
        reply = await self.send(api, "promise.get", {"id": "team-b/x"}, self.admin)
        self.assertEqual(reply.code, 404, reply)
        reply = await self.send(api, "task.get", {"id": "team-a/r"}, self.admin)
        self.assertEqual(reply.data["task"]["state"], "acquired", reply)

    async def test_insideWorks(self):
        """
        A prefix token does its own work: it creates, reads and settles
        promises under its prefix, and what it is refused is not done.
        """
        api = await self.startAPI()
        inside = self.keys.token(prefix=INSIDE)
        reply = await self.send(
            api, "promise.create", {"id": "team-a/x", "timeoutAt": LATER}, inside)
        self.assertEqual((reply.code, reply.data["promise"]["state"]), (200, "pending"))
        reply = await self.send(
            api, "promise.settle", {"id": "team-a/x", "state": "resolved"}, inside)
        self.assertEqual((reply.code, reply.data["promise"]["state"]), (200, "resolved"))
        reply = await self.send(
            api, "promise.create", {"id": "team-b/x", "timeoutAt": LATER}, inside)
        self.assertForbidden(reply, "create outside")
        reply = await self.send(api, "promise.get", {"id": "team-b/x"}, self.admin)
        self.assertEqual(reply.code, 404, reply)

    async def test_authBeforeValidation(self):
        """
        Auth is step 5 (section 2), before the data is read: an invalid
        request under the prefix is 400, one whose id cannot be read is 403
        for a restricted principal, and anything is 401 without a token.
        """
        api = await self.startAPI()
        inside = self.keys.token(prefix=INSIDE)
        reply = await self.send(
            api, "promise.create", {"id": "team-a/x", "timeoutAt": -1}, inside)
        self.assertEqual(reply.code, 400, reply)
        for data in [{}, {"id": 5}, {"id": None}, {"id": ["team-a/x"]}]:
            reply = await self.send(api, "promise.get", data, inside)
            self.assertForbidden(reply, data)
            reply = await self.send(api, "promise.get", data, self.admin)
            self.assertEqual(reply.code, 400, (data, reply))
        reply = await self.send(api, "task.heartbeat", {"pid": "p", "tasks": []}, inside)
        self.assertForbidden(reply, "an empty heartbeat names no id")
        reply = await self.send(api, "promise.get", {}, None)
        self.assertEqual(reply.code, 401, reply)


class MemoryProtocol2026Tests(Protocol2026TestsMixin, unittest.TestCase):
    """
    The 2026 protocol over the memory store.
    """

    def makeStore(self):
        return MemoryStore()


class SQLiteProtocol2026Tests(Protocol2026TestsMixin, unittest.TestCase):
    """
    The 2026 protocol over the SQLite store, in a real file: it answers
    exactly as over memory.
    """

    def makeStore(self):
        from resonate.config import StoreConfig
        from resonate.store.sqlite.store import SQLiteStore

        store = SQLiteStore(
            StoreConfig(options={"path": self.mktemp(), "txTimeout": 5.0}), reactor
        )
        self.addCleanup(store.close)
        return store


class PostgresProtocol2026Tests(
    PostgresTestsMixin, Protocol2026TestsMixin, unittest.TestCase
):
    """
    The 2026 protocol over the PostgreSQL store: it answers exactly as over
    memory.  Every test gets an empty store: the module's one scratch
    database, its tables reset by the store opened on it.
    """

    def makeStore(self):
        return self.openStore(_sharedDatabase(), workers=1, reset=True)


_DATABASE = []


def _sharedDatabase():
    """
    The scratch database of this module's PostgreSQL tests, made on first
    use and dropped when the process exits.
    """
    if not _DATABASE:
        name = f"resonate_test_{uuid.uuid4().hex}"
        adminQuery(None, f"CREATE DATABASE {name}")
        _DATABASE.append(name)
        atexit.register(adminQuery, None, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return _DATABASE[0]
