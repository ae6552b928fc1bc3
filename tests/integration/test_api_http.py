# -*- test-case-name: tests.integration.test_api_http -*-
"""
The HTTP API over real sockets on 127.0.0.1: the API case table
(L{tests.support.apicases}), the error envelope, validation details, search and the
limits.  L{HTTPAPITestsMixin} runs against a store; it is run against every
store provider below.
"""

import base64
import json

from twisted.internet.defer import Deferred
from twisted.trial import unittest

from resonate.model.schedule import nextRunTime
from resonate.store.memory import MemoryStore
from tests.support.apicases import (
    B64,
    EVERY_MINUTE,
    LATER,
    PROMISE_TEMPLATE,
    ROUTES,
    APICasesMixin,
    completeTaskBody,
    scheduleBody,
    taskBody,
)
from tests.support.apitools import NOW, LiveAPI


def forgedCursor(**claims):
    """
    A cursor that carries C{claims}, as a client could make one.
    """
    raw = json.dumps(claims).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class HTTPAPITestsMixin(APICasesMixin):
    """
    The case table and the search, envelope and limit tests, against the
    store C{makeStore} returns.
    """

    def makeStore(self):
        raise NotImplementedError()

    async def startAPI(self, **kwargs):
        store = self.makeStore()
        return await LiveAPI(self, store=store, **kwargs).start()

    async def send(self, api, step):
        """
        Send the request under test over HTTP.
        """
        return await api.perform(step)

    async def dispatch(self, api):
        """
        See L{LiveAPI.dispatch}.
        """
        return await api.dispatch()

    async def test_errorEnvelope(self):
        """
        Errors carry the envelope: code, message and details with a type,
        domain and documentation link; JSON content type.
        """
        api = await self.startAPI()
        response = await api.request("GET", "/promises/nope")
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["application/json"])
        error = response.body["error"]
        self.assertEqual(error["code"], 4040)
        self.assertEqual(error["message"], "The specified promise was not found")
        [detail] = error["details"]
        self.assertEqual(detail["@type"], "RequestError")
        self.assertEqual(detail["domain"], "request")
        self.assertEqual(detail["metadata"]["url"],
                         "https://docs.resonatehq.io/reference/error-codes#4040")

    async def test_validationDetailsPerField(self):
        """
        Validation reports one detail per bad field, naming it.
        """
        api = await self.startAPI()
        response = await api.request(
            "POST", "/promises", {"param": 1, "tags": {"a": 2}}, {"strict": "x"}
        )
        self.assertEqual(response.code, 400)
        fields = sorted(d["field"] for d in response.body["error"]["details"])
        self.assertEqual(fields, ["id", "param", "strict", "tags.a", "timeout"])
        for detail in response.body["error"]["details"]:
            self.assertEqual(detail["@type"], "FieldValidationError")
            self.assertEqual(detail["domain"], "validation")

    async def test_lockValidationDetailsPerField(self):
        """
        A bad acquire reports one detail per bad field, naming it.
        """
        api = await self.startAPI()
        response = await api.request(
            "POST", "/locks/acquire", {"processId": "", "expiryInMilliseconds": 0}
        )
        self.assertEqual(response.code, 400)
        fields = sorted(d["field"] for d in response.body["error"]["details"])
        self.assertEqual(
            fields,
            ["executionId", "expiryInMilliseconds", "processId", "resourceId"],
        )

    async def test_lockLifecycle(self):
        """
        A lock's whole life over HTTP: acquired (201, the lock), refused to
        another execution (403), extended by a heartbeat (200), released
        with an empty 204, then acquired by the other execution.
        """
        api = await self.startAPI()
        lock = {"resourceId": "r", "processId": "p", "executionId": "e1",
                "expiryInMilliseconds": 1000}
        acquired = await api.request("POST", "/locks/acquire", lock)
        self.assertEqual(acquired.code, 201, acquired)
        self.assertEqual(acquired.body, dict(lock, expiresAt=NOW + 1000))
        other = dict(lock, executionId="e2", processId="q")
        refused = await api.request("POST", "/locks/acquire", other)
        self.assertEqual(refused.code, 403, refused)
        self.assertEqual(refused.errorCode, 4034)
        api.setNow(NOW + 900)
        beat = await api.request("POST", "/locks/heartbeat", {"processId": "p"})
        self.assertEqual(beat.code, 200, beat)
        self.assertEqual(beat.body, {"locksAffected": 1})
        api.setNow(NOW + 1899)
        refused = await api.request("POST", "/locks/acquire", other)
        self.assertEqual(refused.code, 403, refused)
        released = await api.request(
            "POST", "/locks/release", {"resourceId": "r", "executionId": "e1"}
        )
        self.assertEqual(released.code, 204, released)
        self.assertEqual(released.raw, b"")
        acquired = await api.request("POST", "/locks/acquire", other)
        self.assertEqual(acquired.code, 201, acquired)
        self.assertEqual(acquired.body, dict(other, expiresAt=NOW + 1899 + 1000))

    async def test_roundTrip(self):
        """
        Headers and binary data round-trip byte-exact.
        """
        api = await self.startAPI()
        data = base64.b64encode(bytes(range(256))).decode()
        headers = {"resonate:format-py": '{"py/object": "x"}', "ü": "✓"}
        created = await api.create("p", param={"headers": headers, "data": data})
        self.assertEqual(created.body["param"], {"headers": headers, "data": data})
        done = await api.complete("p", "RESOLVED", value={"headers": headers, "data": data})
        self.assertEqual(done.body["value"], {"headers": headers, "data": data})
        read = await api.request("GET", "/promises/p")
        self.assertEqual(read.body["param"], {"headers": headers, "data": data})
        self.assertEqual(read.body["value"], {"headers": headers, "data": data})

    async def test_emptyData(self):
        """
        Empty data and empty headers are omitted on output, as the contract
        says (Go's omitempty): a value sent as C{{"data": ""}} comes back
        as C{{}}, also when read back from the store.
        """
        api = await self.startAPI()
        created = await api.create("p", param={"data": "", "headers": {}})
        self.assertEqual(created.body["param"], {})
        done = await api.complete("p", "RESOLVED", value={"data": ""})
        self.assertEqual(done.body["value"], {})
        read = await api.request("GET", "/promises/p")
        self.assertEqual((read.body["param"], read.body["value"]), ({}, {}))

    async def search(self, api, query):
        return await api.request("GET", "/promises" + query)

    async def test_search(self):
        """
        Search filters by id pattern, state group and tags, newest first.
        """
        api = await self.startAPI()
        await api.create("a.1", tags={"k": "v"})
        await api.create("a.2", tags={"k": "w"})
        await api.create("b.1", tags={"k": "v", "x": "y"})
        await api.complete("a.2", "REJECTED_CANCELED")
        await api.create("a.3", timeout=NOW + 10)
        api.setNow(NOW + 10)

        async def ids(query):
            response = await self.search(api, query)
            self.assertEqual(response.code, 200, response)
            return [p["id"] for p in response.body["promises"]]

        self.assertEqual(await ids(""), ["a.3", "b.1", "a.2", "a.1"])
        self.assertEqual(await ids("?id=a.*"), ["a.3", "a.2", "a.1"])
        self.assertEqual(await ids("?id=*.1"), ["b.1", "a.1"])
        self.assertEqual(await ids("?id=a.1"), ["a.1"])
        self.assertEqual(await ids("?state=pending"), ["b.1", "a.1"])
        self.assertEqual(await ids("?state=REJECTED"), ["a.3", "a.2"])
        self.assertEqual(await ids("?state=resolved"), [])
        self.assertEqual(await ids("?tags[k]=v"), ["b.1", "a.1"])
        self.assertEqual(await ids("?tags[k]=v&tags[x]=y"), ["b.1"])
        self.assertEqual(await ids("?id=a.*&state=pending&tags[k]=v"), ["a.1"])

    async def test_searchWildcards(self):
        """
        C{*} is the only wildcard: C{_} and C{%} match themselves.
        """
        api = await self.startAPI()
        for promiseId in ["a_b", "axb", "a%b", "a%%b"]:
            await api.create(promiseId)

        async def ids(pattern):
            response = await self.search(api, "?id=" + pattern)
            return sorted(p["id"] for p in response.body["promises"])

        self.assertEqual(await ids("a_b"), ["a_b"])
        self.assertEqual(await ids("a%25b"), ["a%b"])
        self.assertEqual(await ids("a%25*"), ["a%%b", "a%b"])
        self.assertEqual(await ids("*"), ["a%%b", "a%b", "a_b", "axb"])

    async def test_searchSweepsTimeouts(self):
        """
        Search times out every overdue promise first, and that sticks.
        """
        api = await self.startAPI()
        await api.create("p", timeout=NOW + 5)
        api.setNow(NOW + 5)
        response = await self.search(api, "?state=pending")
        self.assertEqual(response.body["promises"], [])
        response = await self.search(api, "")
        [promise] = response.body["promises"]
        self.assertEqual(promise["state"], "REJECTED_TIMEDOUT")
        self.assertEqual(promise["completedOn"], NOW + 5)

    async def test_searchPaging(self):
        """
        A cursor is returned only with a full page; it carries the whole
        query; the last page may be empty.
        """
        api = await self.startAPI()
        for i in range(5):
            await api.create(f"p{i}", tags={"t": "1"})
        await api.create("other")
        seen = []
        response = await self.search(api, "?id=p*&tags[t]=1&limit=2")
        pages = 0
        while True:
            pages += 1
            self.assertEqual(response.code, 200, response)
            seen.extend(p["id"] for p in response.body["promises"])
            cursor = response.body["cursor"]
            if cursor is None:
                break
            self.assertEqual(len(response.body["promises"]), 2)
            # Other parameters are ignored when a cursor is given.
            response = await self.search(api, f"?cursor={cursor}&limit=0&id=")
        self.assertEqual(seen, ["p4", "p3", "p2", "p1", "p0"])
        self.assertEqual(pages, 3)
        response = await self.search(api, "?id=p*&limit=5")
        self.assertIsNotNone(response.body["cursor"])
        response = await self.search(api, f"?cursor={response.body['cursor']}")
        self.assertEqual(response.body, {"cursor": None, "promises": []})

    async def test_searchValidation(self):
        """
        Bad search parameters answer 400 with the field named.
        """
        api = await self.startAPI()
        for query, field in [
            ("?id=", "id"),
            ("?state=done", "state"),
            ("?limit=0", "limit"),
            ("?limit=101", "limit"),
            ("?limit=ten", "limit"),
            ("?tags=x", "tags"),
            ("?cursor=garbage", "cursor"),
            ("?cursor=eyJpZCI6MX0", "cursor"),
            # No store can match NUL (PostgreSQL refuses it).
            ("?id=a%00", "id"),
            ("?tags[k]=a%00", "tags"),
            ("?tags[k%00]=v", "tags"),
            ("?cursor=" + forgedCursor(kind="promises", id="a\0", states=["PENDING"],
                                       tags={}, limit=1, sortId=1), "cursor"),
            ("?cursor=" + forgedCursor(kind="promises", id="*", states=["PENDING"],
                                       tags={"k": "\0"}, limit=1, sortId=1), "cursor"),
        ]:
            response = await self.search(api, query)
            self.assertEqual(response.code, 400, query)
            self.assertEqual(response.errorCode, 4000, query)
            self.assertEqual(response.body["error"]["details"][0]["field"], field, query)

    async def test_scheduleCreated(self):
        """
        A created schedule is answered (201) and read back (200) whole:
        C{nextRunTime} is the first slot after now, C{tags} and
        C{promiseParam} are present though empty, and C{desc},
        C{promiseTags}, C{lastRunTime} and C{idempotencyKey} are left out
        while they have no value.
        """
        api = await self.startAPI()
        created = await api.request("POST", "/schedules", scheduleBody(id="s"))
        self.assertEqual(created.code, 201, created)
        expected = {
            "id": "s",
            "cron": EVERY_MINUTE,
            "tags": {},
            "promiseId": PROMISE_TEMPLATE,
            "promiseTimeout": 60_000,
            "promiseParam": {},
            "nextRunTime": nextRunTime(EVERY_MINUTE, NOW),
            "createdOn": NOW,
        }
        self.assertEqual(created.body, expected)
        self.assertGreater(created.body["nextRunTime"], NOW)
        self.assertLessEqual(created.body["nextRunTime"], NOW + 60_000)
        read = await api.request("GET", "/schedules/s")
        self.assertEqual(read.code, 200, read)
        self.assertEqual(read.body, expected)

    async def test_scheduleDeleteEmptyBody(self):
        """
        Deleting a schedule answers 204 with an empty body; it is gone.
        """
        api = await self.startAPI()
        await api.request("POST", "/schedules", scheduleBody(id="s"))
        deleted = await api.request("DELETE", "/schedules/s")
        self.assertEqual(deleted.code, 204, deleted)
        self.assertEqual(deleted.raw, b"")
        read = await api.request("GET", "/schedules/s")
        self.assertEqual(read.code, 404, read)
        self.assertEqual(read.errorCode, 4042)

    async def test_scheduleValidationDetailsPerField(self):
        """
        A bad schedule reports one detail per bad field, naming it; a bad
        cron is named with the reason.
        """
        api = await self.startAPI()
        response = await api.request(
            "POST",
            "/schedules",
            {"cron": "61 * * * *", "promiseTimeout": 0, "promiseParam": 1,
             "tags": {"a": 2}, "promiseTags": {"b": 3}, "desc": 4},
        )
        self.assertEqual(response.code, 400, response)
        details = {d["field"]: d["message"] for d in response.body["error"]["details"]}
        self.assertEqual(
            sorted(details),
            ["cron", "desc", "id", "promiseId", "promiseParam", "promiseTags.b",
             "promiseTimeout", "tags.a"],
        )
        self.assertEqual(len(response.body["error"]["details"]), len(details))
        self.assertIn("out of range", details["cron"])
        for cron in ["x", "* * *"]:
            response = await api.request(
                "POST", "/schedules", scheduleBody(cron=cron)
            )
            [detail] = response.body["error"]["details"]
            self.assertEqual(detail["field"], "cron", cron)
            self.assertTrue(detail["message"].startswith("cron is invalid: "), detail)

    async def test_scheduleCreatedWakesScheduler(self):
        """
        C{onScheduleCreated} is called once per created schedule (201), not
        for a deduplicated (200), refused (409) or invalid (400) one; if it
        fails, the failure is logged and the schedule is created anyway.
        """
        api = await self.startAPI()
        calls = []
        api.operations._onScheduleCreated = lambda: calls.append(None)
        headers = {"idempotency-key": "ik"}
        created = await api.request("POST", "/schedules", scheduleBody(), headers)
        self.assertEqual(created.code, 201, created)
        self.assertEqual(len(calls), 1)
        again = await api.request("POST", "/schedules", scheduleBody(), headers)
        self.assertEqual(again.code, 200, again)
        refused = await api.request("POST", "/schedules", scheduleBody())
        self.assertEqual(refused.code, 409, refused)
        invalid = await api.request("POST", "/schedules", scheduleBody(cron="x"))
        self.assertEqual(invalid.code, 400, invalid)
        self.assertEqual(len(calls), 1)

        def broken():
            raise RuntimeError("scheduler asleep")

        api.operations._onScheduleCreated = broken
        created = await api.request("POST", "/schedules", scheduleBody(id="t"))
        self.assertEqual(created.code, 201, created)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        read = await api.request("GET", "/schedules/t")
        self.assertEqual(read.code, 200, read)

    async def test_onScheduleCreatedKeyword(self):
        """
        L{Operations} takes the scheduler hook as the C{onScheduleCreated}
        keyword and calls it after a create that answers 201.
        """
        from twisted.internet.task import Clock

        from resonate.api.operations import Operations
        from resonate.model.schedule import CreateSchedule
        from resonate.status import Status

        calls = []
        clock = Clock()
        clock.advance(NOW / 1000)
        operations = Operations(
            self.makeStore(), clock, 10, onScheduleCreated=lambda: calls.append(1)
        )
        request = CreateSchedule(
            id="s", cron=EVERY_MINUTE, promiseId="p", promiseTimeout=1000
        )
        decision = await operations.createSchedule(request)
        self.assertEqual(decision.status, Status.CREATED)
        self.assertEqual(calls, [1])
        decision = await operations.createSchedule(request)
        self.assertEqual(decision.status, Status.SCHEDULE_ALREADY_EXISTS)
        self.assertEqual(calls, [1])

    async def searchSchedules(self, api, query):
        return await api.request("GET", "/schedules" + query)

    async def test_scheduleSearch(self):
        """
        Schedule search filters by id pattern and tags, newest first.
        """
        api = await self.startAPI()
        for scheduleId, tags in [("a.1", {"k": "v"}), ("a.2", {"k": "w"}),
                                 ("b.1", {"k": "v", "x": "y"}), ("a/b", {})]:
            created = await api.request(
                "POST", "/schedules", scheduleBody(id=scheduleId, tags=tags)
            )
            self.assertEqual(created.code, 201, created)
        await api.create("a.9")

        async def ids(query):
            response = await self.searchSchedules(api, query)
            self.assertEqual(response.code, 200, response)
            self.assertIsNone(response.body["cursor"])
            return [s["id"] for s in response.body["schedules"]]

        self.assertEqual(await ids(""), ["a/b", "b.1", "a.2", "a.1"])
        self.assertEqual(await ids("?id=*"), ["a/b", "b.1", "a.2", "a.1"])
        self.assertEqual(await ids("?id=a.*"), ["a.2", "a.1"])
        self.assertEqual(await ids("?id=a*"), ["a/b", "a.2", "a.1"])
        self.assertEqual(await ids("?id=*.1"), ["b.1", "a.1"])
        self.assertEqual(await ids("?id=a/b"), ["a/b"])
        self.assertEqual(await ids("?id=a.9"), [])
        self.assertEqual(await ids("?tags[k]=v"), ["b.1", "a.1"])
        self.assertEqual(await ids("?tags[k]=v&tags[x]=y"), ["b.1"])
        self.assertEqual(await ids("?id=a*&tags[k]=v"), ["a.1"])
        # Parameters of promise search mean nothing here.
        self.assertEqual(await ids("?id=b*&state=pending"), ["b.1"])
        response = await self.searchSchedules(api, "?id=a.1")
        [schedule] = response.body["schedules"]
        self.assertEqual(schedule["tags"], {"k": "v"})
        self.assertEqual(schedule["cron"], EVERY_MINUTE)
        self.assertEqual(schedule["nextRunTime"], nextRunTime(EVERY_MINUTE, NOW))
        self.assertEqual(schedule["createdOn"], NOW)

    async def test_scheduleSearchPaging(self):
        """
        A schedule cursor is returned only with a full page and carries the
        whole query; the last page may be empty.
        """
        api = await self.startAPI()
        for i in range(5):
            await api.request(
                "POST", "/schedules", scheduleBody(id=f"s{i}", tags={"t": "1"})
            )
        await api.request("POST", "/schedules", scheduleBody(id="other", tags={"t": "1"}))
        await api.request("POST", "/schedules", scheduleBody(id="s9"))
        seen = []
        response = await self.searchSchedules(api, "?id=s*&tags[t]=1&limit=2")
        pages = 0
        while True:
            pages += 1
            self.assertEqual(response.code, 200, response)
            seen.extend(s["id"] for s in response.body["schedules"])
            cursor = response.body["cursor"]
            if cursor is None:
                break
            self.assertEqual(len(response.body["schedules"]), 2)
            # Other parameters are ignored when a cursor is given.
            response = await self.searchSchedules(
                api, f"?cursor={cursor}&limit=0&id=&tags=x"
            )
        self.assertEqual(seen, ["s4", "s3", "s2", "s1", "s0"])
        self.assertEqual(pages, 3)
        response = await self.searchSchedules(api, "?id=s*&tags[t]=1&limit=5")
        self.assertIsNotNone(response.body["cursor"])
        response = await self.searchSchedules(
            api, f"?cursor={response.body['cursor']}"
        )
        self.assertEqual(response.body, {"cursor": None, "schedules": []})

    async def test_scheduleSearchValidation(self):
        """
        Bad schedule search parameters answer 400 with the field named;
        a promise cursor is no schedule cursor, and the other way round.
        """
        api = await self.startAPI()
        for i in range(2):
            await api.create(f"p{i}")
            await api.request("POST", "/schedules", scheduleBody(id=f"s{i}"))
        promiseCursor = (await self.search(api, "?limit=1")).body["cursor"]
        scheduleCursor = (await self.searchSchedules(api, "?limit=1")).body["cursor"]
        self.assertIsNotNone(promiseCursor)
        self.assertIsNotNone(scheduleCursor)
        for search, query, field in [
            (self.searchSchedules, "?id=", "id"),
            (self.searchSchedules, "?limit=0", "limit"),
            (self.searchSchedules, "?limit=101", "limit"),
            (self.searchSchedules, "?limit=ten", "limit"),
            (self.searchSchedules, "?tags=x", "tags"),
            (self.searchSchedules, "?cursor=garbage", "cursor"),
            (self.searchSchedules, "?cursor=eyJpZCI6MX0", "cursor"),
            (self.searchSchedules, f"?cursor={promiseCursor}", "cursor"),
            (self.searchSchedules, "?id=a%00", "id"),
            (self.searchSchedules, "?tags[k]=a%00", "tags"),
            (self.searchSchedules,
             "?cursor=" + forgedCursor(kind="schedules", id="a\0", tags={}, limit=1,
                                       sortId=1), "cursor"),
            (self.searchSchedules,
             "?cursor=" + forgedCursor(kind="schedules", id="*", tags={"\0": "v"},
                                       limit=1, sortId=1), "cursor"),
            (self.search, f"?cursor={scheduleCursor}", "cursor"),
        ]:
            response = await search(api, query)
            self.assertEqual(response.code, 400, query)
            self.assertEqual(response.errorCode, 4000, query)
            self.assertEqual(response.body["error"]["details"][0]["field"], field, query)
        for search, cursor, key in [(self.search, promiseCursor, "promises"),
                                    (self.searchSchedules, scheduleCursor, "schedules")]:
            response = await search(api, f"?cursor={cursor}")
            self.assertEqual(response.code, 200, response)
            self.assertEqual(len(response.body[key]), 1)

    async def test_taskLifecycle(self):
        """
        A task's whole life over HTTP: a routed promise gets a task, offered
        with counter 1; the claim answers the promise as a read does; the
        completion answers 200 with the body C{null} and completes the
        promise with the value.
        """
        api = await self.startAPI(routes=ROUTES)
        created = await api.create("jobs/1", param={"data": B64})
        self.assertEqual(created.code, 201, created)
        other = await api.create("other/1")
        self.assertEqual(other.code, 201, other)
        [task] = await self.dispatch(api)
        self.assertEqual((task.id, task.promiseId, task.counter), ("jobs/1", "jobs/1", 1))
        claimed = await api.request("POST", "/tasks/claim", taskBody())
        self.assertEqual(claimed.code, 200, claimed)
        read = await api.request("GET", "/promises/jobs/1")
        self.assertEqual(claimed.body, read.body)
        self.assertEqual(claimed.headers.getRawHeaders("content-type"),
                         ["application/json"])
        # The claim holds the promise's lock for its execution.
        locked = await api.request(
            "POST", "/locks/acquire",
            {"resourceId": "jobs/1", "processId": "p2", "executionId": "e2",
             "expiryInMilliseconds": 1000},
        )
        self.assertEqual(locked.code, 403, locked)
        done = await api.request(
            "POST", "/tasks/complete",
            completeTaskBody(state="Resolved", value={"headers": {"a": "b"}, "data": B64}),
        )
        self.assertEqual(done.code, 200, done)
        self.assertEqual(done.raw, b"null")
        self.assertEqual(done.headers.getRawHeaders("content-type"),
                         ["application/json"])
        read = await api.request("GET", "/promises/jobs/1")
        self.assertEqual(read.body["state"], "RESOLVED")
        self.assertEqual(read.body["value"], {"headers": {"a": "b"}, "data": B64})
        self.assertEqual(read.body["param"], {"data": B64})
        # The completion released the lock.
        locked = await api.request(
            "POST", "/locks/acquire",
            {"resourceId": "jobs/1", "processId": "p2", "executionId": "e2",
             "expiryInMilliseconds": 1000},
        )
        self.assertEqual(locked.code, 201, locked)
        self.assertEqual(await self.dispatch(api), [])

    async def test_taskErrorEnvelopes(self):
        """
        Task errors answer with the envelope, never a dropped connection
        (v0.5 had no messages for them).
        """
        api = await self.startAPI(routes=ROUTES)
        for body, code, message in [
            (taskBody(taskId="nope"), 4044, "The specified task was not found"),
            (taskBody(), 4037, "The task counter is invalid"),
        ]:
            if code == 4037:
                await api.create("jobs/1")
            response = await api.request("POST", "/tasks/claim", body)
            error = response.body["error"]
            self.assertEqual(error["code"], code, response)
            self.assertEqual(error["message"], message)
            [detail] = error["details"]
            self.assertEqual(detail["@type"], "RequestError")
            self.assertEqual(detail["metadata"]["url"],
                             f"https://docs.resonatehq.io/reference/error-codes#{code}")

    async def test_taskValidationDetailsPerField(self):
        """
        A bad claim or completion reports one detail per bad field, naming
        it.
        """
        api = await self.startAPI(routes=ROUTES)
        response = await api.request(
            "POST", "/tasks/claim",
            {"counter": 0, "processId": "", "executionId": 5,
             "expiryInMilliseconds": 0},
        )
        self.assertEqual(response.code, 400, response)
        fields = sorted(d["field"] for d in response.body["error"]["details"])
        self.assertEqual(
            fields,
            ["counter", "executionId", "expiryInMilliseconds", "processId", "taskId"],
        )
        response = await api.request(
            "POST", "/tasks/complete",
            {"counter": "1", "state": "pending", "value": {"data": 1}},
        )
        self.assertEqual(response.code, 400, response)
        fields = sorted(d["field"] for d in response.body["error"]["details"])
        self.assertEqual(
            fields, ["counter", "executionId", "state", "taskId", "value.data"]
        )

    async def test_taskCreatedWakesDispatcher(self):
        """
        L{Operations} takes the dispatcher hook as the C{onTaskCreated}
        keyword and calls it after a create (201) that made a task only;
        its failure is logged and the promise is created anyway.
        """
        from twisted.internet.task import Clock

        from resonate.api.operations import Operations
        from resonate.model.promise import CreatePromise
        from resonate.status import Status

        calls = []
        clock = Clock()
        clock.advance(NOW / 1000)
        store = self.makeStore()
        operations = Operations(
            store, clock, 10, routes=ROUTES, onTaskCreated=lambda: calls.append(1)
        )
        decision = await operations.createPromise(
            CreatePromise(id="jobs/1", timeout=LATER, idempotencyKey="ik")
        )
        self.assertEqual(decision.status, Status.CREATED)
        self.assertEqual(calls, [1])
        decision = await operations.createPromise(
            CreatePromise(id="jobs/1", timeout=LATER, idempotencyKey="ik")
        )
        self.assertEqual(decision.status, Status.OK)
        decision = await operations.createPromise(CreatePromise(id="p", timeout=LATER))
        self.assertEqual(decision.status, Status.CREATED)
        self.assertEqual(calls, [1])

        def broken():
            raise RuntimeError("dispatcher asleep")

        operations._onTaskCreated = broken
        decision = await operations.createPromise(
            CreatePromise(id="jobs/2", timeout=LATER)
        )
        self.assertEqual(decision.status, Status.CREATED)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        clock.advance(0.001)
        offered = await store.dispatchTasks(NOW + 1, 10, 10_000)
        self.assertEqual(sorted(t.id for t in offered), ["jobs/1", "jobs/2"])

    async def test_formBodiesAreNotParsed(self):
        """
        A body is JSON whatever its Content-Type says: a form or a broken
        multipart body is answered 400 with the envelope (Twisted's own form
        parsing would drop the connection on the latter), and a form's
        fields never become query arguments.
        """
        api = await self.startAPI()
        for contentType, body in [
            ("multipart/form-data; boundary=x", b"garbage"),
            ("application/x-www-form-urlencoded", b"id=p&timeout=1"),
        ]:
            response = await api.request(
                "POST", "/promises", raw=body, headers={"content-type": contentType}
            )
            self.assertEqual((response.code, response.errorCode), (400, 4000), contentType)
        search = await api.request(
            "GET", "/promises?limit=1", raw=b"id=nope",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        self.assertEqual(search.code, 200)

    async def test_bodyTooLarge(self):
        """
        A body over the limit answers 413 with the envelope, at once.
        """
        api = await self.startAPI(maxBodySize=1000)
        response = await api.create("p", param={"data": base64.b64encode(b"x" * 2000).decode()})
        self.assertEqual(response.code, 413)
        self.assertEqual(response.errorCode, 4130)
        ok = await api.create("q", param={"data": B64})
        self.assertEqual(ok.code, 201)

    async def test_bodyTooLargeChunked(self):
        """
        A chunked body that grows past the limit is refused with 413 (it
        has no C{Content-Length} to refuse it by up front).
        """
        from twisted.internet import reactor
        from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
        from twisted.internet.protocol import Protocol

        api = await self.startAPI(maxBodySize=1000)
        received = Deferred()

        class Client(Protocol):
            data = b""

            def dataReceived(self, data):
                self.data += data

            def connectionLost(self, reason):
                received.callback(self.data)

        port = int(api.url.rsplit(":", 1)[1])
        client = await connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", port), Client()
        )
        chunk = b"x" * 600
        client.transport.write(
            b"POST /promises HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            + (b"%x\r\n%s\r\n" % (len(chunk), chunk)) * 2
        )
        answer = await received
        head, _, body = answer.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 413 "), answer)
        self.assertEqual(json.loads(body)["error"]["code"], 4130)

    async def test_overload(self):
        """
        Beyond C{api.size} requests in flight, the API answers 503 (5031)
        at once instead of queueing.
        """
        api = await self.startAPI(size=1)
        blocked = Deferred()
        store = api.store
        original = store.readPromise

        def slowRead(promiseId, now, **kwargs):
            return blocked.addCallback(lambda _: original(promiseId, now, **kwargs))

        store.readPromise = slowRead
        first = api.request("GET", "/promises/p")
        from twisted.internet.defer import ensureDeferred
        first = ensureDeferred(first)
        while api.operations.inFlight == 0:
            from twisted.internet import reactor
            from twisted.internet.task import deferLater
            await deferLater(reactor, 0.01)
        second = await api.request("POST", "/promises", {"id": "q", "timeout": LATER})
        self.assertEqual(second.code, 503)
        self.assertEqual(second.errorCode, 5031)
        store.readPromise = original
        blocked.callback(None)
        self.assertEqual((await first).code, 404)

    async def test_shuttingDown(self):
        """
        Once stopping, the API answers 503 (5030).
        """
        api = await self.startAPI()
        await api.operations.stop()
        response = await api.create("p")
        self.assertEqual(response.code, 503)
        self.assertEqual(response.errorCode, 5030)


class MemoryHTTPAPITests(HTTPAPITestsMixin, unittest.TestCase):
    """
    The HTTP API over the memory store.
    """

    def makeStore(self):
        return MemoryStore()


class SQLiteHTTPAPITests(HTTPAPITestsMixin, unittest.TestCase):
    """
    The HTTP API over the SQLite store: it answers exactly as over memory.
    """

    def makeStore(self):
        from twisted.internet import reactor

        from resonate.config import StoreConfig
        from resonate.store.sqlite.store import SQLiteStore

        store = SQLiteStore(StoreConfig(options={"path": self.mktemp()}), reactor)
        self.addCleanup(store.close)
        return store


class ChannelHostTests(unittest.TestCase):
    """
    The site's channels ask their socket for its address once.
    """

    def test_hostAskedOnce(self):
        """
        Every request of a connection reads the channel's host, which asks
        the transport only the first time.
        """
        from twisted.internet.address import IPv4Address
        from twisted.internet.testing import StringTransport
        from twisted.web.resource import Resource

        from resonate.api.http import APISite

        class Leaf(Resource):
            isLeaf = True

            def render_GET(self, request):
                return request.getHost().host.encode("ascii")

        site = APISite(Leaf(), maxBodySize=1024)
        asked = []
        transport = StringTransport(
            hostAddress=IPv4Address("TCP", "10.0.0.1", 8001)
        )
        realGetHost = transport.getHost
        transport.getHost = lambda: asked.append(1) or realGetHost()
        channel = site.buildProtocol(None)
        channel.makeConnection(transport)
        for _ in range(3):
            channel.dataReceived(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(transport.value().count(b"\r\n\r\n10.0.0.1"), 3)
        self.assertEqual(len(asked), 1)
        channel.connectionLost(None)


class ChannelDeadlineTests(unittest.TestCase):
    """
    The deadline of a connection's later requests: each must arrive whole
    within the site's timeout of its own first byte.
    """

    def test_laterRequestDeadline(self):
        """
        A connection's second request, sent a byte at a time (each within
        the idle timeout), is cut off one timeout after its first byte:
        not earlier, by a deadline left from the first request, and not
        later.
        """
        from twisted.internet.task import Clock
        from twisted.internet.testing import StringTransport
        from twisted.web.resource import Resource

        from resonate.api.http import APISite

        class Leaf(Resource):
            isLeaf = True

            def render_GET(self, request):
                return b"ok"

        clock = Clock()
        site = APISite(Leaf(), maxBodySize=1024, idleTimeout=10.0)
        channel = site.buildProtocol(None)
        channel.callLater = clock.callLater
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertTrue(transport.value().endswith(b"ok"))
        clock.advance(5)
        second = b"GET /y HTTP/1.1\r\nHost: a\r\nX-Padding: aaaaaaaaaaaaaa"
        channel.dataReceived(second[:1])
        for i in range(1, 5):
            # t = 8, 11, 14, 14.9: within 10 s of the first byte (t = 5).
            clock.advance(3 if i < 4 else 0.9)
            channel.dataReceived(second[i:i + 1])
            self.assertFalse(transport.disconnecting, clock.seconds())
        clock.advance(0.2)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value().count(b"ok"), 1)
        channel.connectionLost(None)
