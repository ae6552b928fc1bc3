# -*- test-case-name: tests.integration.test_protocol2026 -*-
"""
The case table of the 2026 protocol's C{POST /} (protocol-2026.md §2-§9,
DECISIONS 23-32), run over a real socket against the HTTP listener by
L{tests.integration.test_protocol2026} on every store.

A L{Case} is one request under test (its kind, data, the status it must
answer with and checks on its C{data}), the scene set before it (requests
that must succeed, or answer what they say) and follow-up requests that
check what the request did or did not change.  Every answer, in the scene
and after, is checked as an envelope (§2): C{kind} and C{corrId} echoed,
C{head.version} C{"2026-04-01"}, the HTTP status equal to C{head.status},
an error's C{data} a string; and every success is checked for the shape of
its kind (§3: promise, task and schedule records; search pages).

Time: the server reads the real clock (the reactor), so pending promises
time out at L{LATER} (a day after this module is imported) and promises
created already timed out use C{timeoutAt} 1 (or 0).  Multi-step flows and
the cases that need the time of the run are scenario tests in
L{tests.integration.test_protocol2026}.

L{Protocol2026CasesMixin} turns every case into one test method,
C{test_<name>}, so that a failing row fails alone.
"""

import json
import time
from dataclasses import dataclass, field, replace

import treq
from twisted.internet import reactor
from twisted.web.client import HTTPConnectionPool

from resonate.api.http import APISite, HTTPAPI
from resonate.api.operations import Operations
from resonate.services.listen import ListeningService, endpointForAddress

#: The protocol version of every request and answer.
VERSION = "2026-04-01"

HOUR = 3_600_000


def wallNow():
    """
    The wall clock in Unix epoch milliseconds, as the server reads it.
    """
    return int(time.time() * 1000)


#: A promise timeout far in the future for the whole run.
LATER = wallNow() + 24 * HOUR

#: Base64 payloads, as the SDKs send them ("hello", "world").
B64 = "aGVsbG8="
B64_2 = "d29ybGQ="

#: The address SDK 0.8.1 gives as C{resonate:target} (anycast to group g).
TARGET = "poll://any@g"
TARGET_TAG = "resonate:target"
TT = {TARGET_TAG: TARGET}

#: The lease a worker asks for, in ms.
TTL = 60_000

PROMISE_STATES = (
    "pending", "resolved", "rejected", "rejected_canceled", "rejected_timedout",
)
TASK_STATES = ("pending", "acquired", "suspended", "halted", "fulfilled")

PROMISE_KEYS = frozenset(
    ["id", "state", "param", "value", "tags", "timeoutAt", "createdAt"]
)
TASK_KEYS = frozenset(["id", "state", "version", "resumes"])
LEASE_KEYS = frozenset(["ttl", "pid"])
SCHEDULE_KEYS = frozenset(
    ["id", "cron", "promiseId", "promiseTimeout", "promiseParam",
     "promiseTags", "createdAt", "nextRunAt"]
)

#: A field that must be absent.
ABSENT = object()


# --- the live server --------------------------------------------------------


class Reply:
    """
    What a test sees of an answer.

    @ivar code: the HTTP status.
    @ivar headers: the response headers.
    @ivar raw: the body bytes.
    @ivar body: the decoded JSON body; L{None} when empty or not JSON.
    """

    def __init__(self, code, headers, raw):
        self.code = code
        self.headers = headers
        self.raw = raw
        try:
            self.body = json.loads(raw) if raw else None
        except ValueError:
            self.body = None

    @property
    def data(self):
        return self.body["data"]

    @property
    def status(self):
        return self.body["head"]["status"]

    def __repr__(self):
        return f"<Reply {self.code} {self.raw[:600]!r}>"


class Live2026API:
    """
    The HTTP listener on an ephemeral port of 127.0.0.1, serving v0.5 and
    the 2026 protocol (C{POST /}) over C{store}, with the real clock, no
    metrics the test sees and debug operations off.
    """

    def __init__(self, testCase, store, tokens=None):
        """
        @param tokens: L{None} (JWT auth off), or the
            L{resonate.api.tokens.TokenVerifier} of C{head.auth}.
        """
        self.store = store
        self.operations = Operations(store, reactor, 100)
        self.site = APISite(
            HTTPAPI(self.operations, None, tokens=tokens).resource(),
            maxBodySize=1024 * 1024,
        )
        self.service = ListeningService(
            "http", endpointForAddress(reactor, "127.0.0.1:0"), self.site
        )
        self._testCase = testCase
        self._pool = HTTPConnectionPool(reactor, persistent=False)
        self._corrIds = 0

    async def start(self):
        self.service.startService()
        await self.service._listening
        self._testCase.addCleanup(self.service.stopService)
        self.port = self.service.port.getHost().port
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def nextCorrId(self):
        """
        A new correlation id (not ASCII, to check that it is echoed as is).
        """
        self._corrIds += 1
        return f"c{self._corrIds}-\u2713"

    async def request(self, method, path, body=None, headers=None, raw=None):
        """
        Send an HTTP request; C{body} is JSON-encoded unless C{raw} bytes
        are given.  Redirects (the 300 of C{task.suspend}) are not followed.
        """
        data = raw
        if body is not None:
            data = json.dumps(body).encode("utf-8")
        response = await treq.request(
            method,
            (self.url + path).encode("utf-8"),
            headers=headers or {},
            data=data,
            pool=self._pool,
            allow_redirects=False,
        )
        content = await treq.content(response)
        return Reply(response.code, response.headers, content)

    async def rpc(self, kind, data, corrId=None, head=None, headers=None):
        """
        Send one 2026 request: C{POST /} with the envelope C{{kind, head,
        data}}; C{head} adds members to (or, as L{None} values, removes them
        from) the head.
        """
        if corrId is None:
            corrId = self.nextCorrId()
        envelope = {"kind": kind, "head": _head(corrId, head), "data": data}
        return await self.request("POST", "/", envelope, headers=headers)


def _head(corrId, extra=None):
    head = {"corrId": corrId, "version": VERSION}
    for key, value in (extra or {}).items():
        if value is None:
            head.pop(key, None)
        else:
            head[key] = value
    return head


# --- steps and cases ---------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """
    One request and what it must answer.

    @ivar kind: the 2026 kind, or L{V05} for a v0.5 request.
    @ivar data: the envelope's C{data} (any JSON value).
    @ivar status: the status it must answer with.
    @ivar checks: callables C{(testCase, data, context)} run on the
        answer's C{data} (a v0.5 answer's body).
    @ivar message: the exact error text, or L{None} to check only that the
        error is a string.
    @ivar save: a name to keep the answer's C{data} under in the
        context, or L{None}.
    @ivar head: members added to (L{None}: removed from) the head.
    @ivar headers: HTTP headers to send.
    @ivar envelope: the whole body to send (a JSON value, or C{bytes} sent
        as they are) instead of C{{kind, head, data}}.
    @ivar echo: for an C{envelope} body, the C{(kind, corrId)} the answer
        must carry.
    @ivar method: for v0.5, the HTTP method; C{data} is then the path and
        C{v05Body} the body.
    """

    kind: str
    data: object = None
    status: int = 200
    checks: tuple = ()
    message: str = None
    save: str = None
    head: dict = None
    headers: dict = None
    envelope: object = None
    echo: tuple = None
    method: str = None
    v05Body: object = None

    def expect(self, status, *checks, message=None, save=None):
        """
        This request, expected to answer C{status} with C{checks} (and the
        error text C{message}).
        """
        return replace(self, status=status, checks=checks, message=message,
                       save=save if save is not None else self.save)

    def ok(self, *checks, save=None):
        """
        This request, expected to answer 200 with C{checks}.
        """
        return self.expect(200, *checks, save=save)

    def saved(self, name):
        return replace(self, save=name)


V05 = "v0.5"


@dataclass(frozen=True)
class Case:
    """
    A row of the table: C{scene} runs first, then C{request} (the request
    under test), then C{then}.

    @ivar name: the test method is C{test_<name>}.
    @ivar doc: what the row shows (the test's docstring).
    @ivar section: the reference's section (or DECISIONS item) it covers.
    """

    name: str
    section: str
    doc: str
    request: Step
    scene: tuple = ()
    then: tuple = ()


@dataclass
class Context:
    """
    What a check may look at: the answers saved so far, the corrId sent
    and the wall clock just before the request and just after its answer.
    """

    saved: dict = field(default_factory=dict)
    corrId: str = None
    before: int = 0
    after: int = 0


# --- request builders ----------------------------------------------------------


def _value(headers=None, data=None):
    value = {}
    if headers is not None:
        value["headers"] = headers
    if data is not None:
        value["data"] = data
    return value


def createData(promiseId, timeoutAt=LATER, tags=None, param=None, **extra):
    data = {"id": promiseId, "timeoutAt": timeoutAt}
    if tags is not None:
        data["tags"] = tags
    if param is not None:
        data["param"] = param
    data.update(extra)
    return data


def lineage(origin=None, branch=None, parent=None):
    """
    The lineage tags given (C{resonate:origin}, C{resonate:branch},
    C{resonate:parent}).
    """
    tags = {}
    if origin is not None:
        tags["resonate:origin"] = origin
    if branch is not None:
        tags["resonate:branch"] = branch
    if parent is not None:
        tags["resonate:parent"] = parent
    return tags


def rootTags(promiseId, target=True, **extra):
    """
    The tags SDK 0.8.1 gives a root promise it runs: origin, branch and
    parent all the id itself, and the target.
    """
    tags = lineage(promiseId, promiseId, promiseId)
    if target:
        tags.update(TT)
    tags.update(extra)
    return tags


def rpc(kind, data):
    return Step(kind, data)


def get(promiseId):
    return Step("promise.get", {"id": promiseId})


def create(promiseId, timeoutAt=LATER, tags=None, param=None, **extra):
    return Step("promise.create", createData(promiseId, timeoutAt, tags, param, **extra))


def createTask(promiseId, timeoutAt=LATER, tags=None, param=None):
    """
    C{promise.create} with C{resonate:target}: a promise and its pending task.
    """
    allTags = dict(TT)
    allTags.update(tags or {})
    return create(promiseId, timeoutAt, allTags, param)


def settleData(promiseId, state="resolved", value=None):
    data = {"id": promiseId, "state": state}
    if value is not None:
        data["value"] = value
    return data


def settle(promiseId, state="resolved", value=None):
    return Step("promise.settle", settleData(promiseId, state, value))


def callback(awaited, awaiter):
    return Step("promise.register_callback", {"awaited": awaited, "awaiter": awaiter})


def listener(awaited, address):
    return Step("promise.register_listener", {"awaited": awaited, "address": address})


def search(**data):
    return Step("promise.search", data)


def taskGet(taskId):
    return Step("task.get", {"id": taskId})


def action(kind, data):
    return {"kind": kind, "head": {"corrId": "inner", "version": VERSION}, "data": data}


def taskCreateData(promiseId, pid="p1", ttl=TTL, timeoutAt=LATER, tags=None, param=None):
    return {
        "pid": pid,
        "ttl": ttl,
        "action": action(
            "promise.create",
            createData(promiseId, timeoutAt, rootTags(promiseId) if tags is None else tags, param),
        ),
    }


def taskCreate(promiseId, pid="p1", ttl=TTL, timeoutAt=LATER, tags=None, param=None):
    return Step("task.create", taskCreateData(promiseId, pid, ttl, timeoutAt, tags, param))


def acquire(taskId, version=0, pid="p1", ttl=TTL):
    return Step("task.acquire", {"id": taskId, "version": version, "pid": pid, "ttl": ttl})


def release(taskId, version):
    return Step("task.release", {"id": taskId, "version": version})


def fulfillData(taskId, version, state="resolved", value=None, actionId=None):
    return {
        "id": taskId,
        "version": version,
        "action": action(
            "promise.settle",
            settleData(taskId if actionId is None else actionId, state, value),
        ),
    }


def fulfill(taskId, version, state="resolved", value=None):
    return Step("task.fulfill", fulfillData(taskId, version, state, value))


def suspendData(taskId, version, *awaited, awaiter=None):
    return {
        "id": taskId,
        "version": version,
        "actions": [
            action("promise.register_callback",
                   {"awaited": a, "awaiter": taskId if awaiter is None else awaiter})
            for a in awaited
        ],
    }


def suspend(taskId, version, *awaited):
    return Step("task.suspend", suspendData(taskId, version, *awaited))


def fenceData(taskId, version, kind, data):
    return {"id": taskId, "version": version, "action": action(kind, data)}


def fenceCreate(taskId, version, promiseId, tags=None, **kw):
    return Step("task.fence", fenceData(
        taskId, version, "promise.create", createData(promiseId, tags=tags, **kw)))


def fenceSettle(taskId, version, promiseId, state="resolved", value=None):
    return Step("task.fence", fenceData(
        taskId, version, "promise.settle", settleData(promiseId, state, value)))


def heartbeat(pid, *entries):
    return Step("task.heartbeat", {
        "pid": pid, "tasks": [{"id": i, "version": v} for i, v in entries],
    })


def halt(taskId):
    return Step("task.halt", {"id": taskId})


def resume(taskId):
    return Step("task.continue", {"id": taskId})


def taskSearch(**data):
    return Step("task.search", data)


EVERY_MINUTE = "* * * * *"
EVERY_5_SECONDS = "*/5 * * * * *"
PROMISE_TEMPLATE = "{{.id}}-{{.timestamp}}"


def scheduleData(scheduleId="s", cron=EVERY_MINUTE, promiseId=PROMISE_TEMPLATE,
                 promiseTimeout=HOUR, promiseTags=TT, **extra):
    data = {"id": scheduleId, "cron": cron, "promiseId": promiseId,
            "promiseTimeout": promiseTimeout}
    if promiseTags is not None:
        data["promiseTags"] = promiseTags
    data.update(extra)
    return {k: v for k, v in data.items() if v is not ABSENT}


def schedule(scheduleId="s", **kw):
    return Step("schedule.create", scheduleData(scheduleId, **kw))


def scheduleGet(scheduleId):
    return Step("schedule.get", {"id": scheduleId})


def scheduleDelete(scheduleId):
    return Step("schedule.delete", {"id": scheduleId})


def scheduleSearch(**data):
    return Step("schedule.search", data)


def v05(method, path, body=None, status=200, *checks):
    """
    A v0.5 REST request on the same listener.
    """
    return Step(V05, path, status, checks, method=method, v05Body=body)


def without(data, *path):
    """
    A copy of C{data} (nested dicts) without the member at C{path}.
    """
    data = json.loads(json.dumps(data))
    target = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return data


def replaced(data, value, *path):
    """
    A copy of C{data} (nested dicts) with the member at C{path} set to
    C{value}.
    """
    data = json.loads(json.dumps(data))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


# --- checks -------------------------------------------------------------------


def _at(data, path):
    for key in path:
        data = data[key]
    return data


def equals(expected, *path):
    """
    The answer's C{data} (or its member at C{path}) is C{expected}.
    """

    def check(t, data, ctx):
        t.assertEqual(_at(data, path), expected)

    return check


def has(path, **fields):
    """
    The record at C{path} (a tuple of keys) has these fields (L{ABSENT}:
    has not that field).
    """

    def check(t, data, ctx):
        record = _at(data, path)
        for key, value in fields.items():
            t.assertEqual(record.get(key, ABSENT), value, f"{'.'.join(path)}.{key}")

    return check


def promiseHas(**fields):
    return has(("promise",), **fields)


def taskIs(**fields):
    """
    The answer's task is exactly C{fields}.
    """
    return equals(fields, "task")


def createdNow(*path):
    """
    The record at C{path}'s C{createdAt} is the time of the request.
    """

    def check(t, data, ctx):
        record = _at(data, path)
        t.assertTrue(ctx.before <= record["createdAt"] <= ctx.after,
                     (ctx.before, record["createdAt"], ctx.after))

    return check


def settledNow(*path):
    """
    The record at C{path}'s C{settledAt} is the time of the request.
    """

    def check(t, data, ctx):
        record = _at(data, path)
        t.assertTrue(ctx.before <= record["settledAt"] <= ctx.after,
                     (ctx.before, record["settledAt"], ctx.after))

    return check


def sameAs(name, *path):
    """
    The answer at C{path} equals what the step saved as C{name} had there.
    """

    def check(t, data, ctx):
        t.assertEqual(_at(data, path), _at(ctx.saved[name], path))

    return check


def ids(key, expected):
    """
    The records in the list C{key} have ids C{expected}, in that order.
    """

    def check(t, data, ctx):
        t.assertEqual([r["id"] for r in data[key]], expected)

    return check


def preloadIds(*expected):
    return ids("preload", list(expected))


def cursor(present):
    """
    The page has a cursor (a string), or none.
    """

    def check(t, data, ctx):
        if present:
            t.assertIsInstance(data.get("cursor"), str)
        else:
            t.assertNotIn("cursor", data)

    return check


EMPTY = equals({})


def taskState(taskId, state, version, resumes=0, pid=None, ttl=None):
    """
    A follow-up C{task.get} expecting exactly this task.
    """
    task = {"id": taskId, "state": state, "version": version, "resumes": resumes}
    if pid is not None:
        task.update(pid=pid, ttl=ttl)
    return taskGet(taskId).ok(taskIs(**task))


def promiseState(promiseId, state, **fields):
    """
    A follow-up C{promise.get} expecting C{state} (and C{fields}).
    """
    return get(promiseId).ok(promiseHas(id=promiseId, state=state, **fields))


def notFound(promiseId):
    """
    A follow-up C{promise.get} expecting no such promise.
    """
    return get(promiseId).expect(404, message="Promise not found")


def noTask(taskId):
    return taskGet(taskId).expect(404, message="Task not found")


def fenceInner(status, *checks):
    """
    The inner answer of a C{task.fence}: C{action.head.status} is
    C{status}, C{action.head.corrId} is the outer corrId, and C{checks}
    hold on C{action.data}.
    """

    def check(t, data, ctx):
        inner = data["action"]
        t.assertEqual(inner["head"]["status"], status, inner)
        t.assertEqual(inner["head"]["corrId"], ctx.corrId)
        t.assertEqual(inner["head"]["version"], VERSION)
        for c in checks:
            c(t, inner["data"], ctx)

    return check


# --- shapes -------------------------------------------------------------------


def _isInt(value):
    return isinstance(value, int) and not isinstance(value, bool)


def assertValue(t, value, where):
    t.assertIsInstance(value, dict, where)
    t.assertLessEqual(set(value), {"headers", "data"}, where)
    if "headers" in value:
        assertStringMap(t, value["headers"], where + ".headers")
    if "data" in value:
        t.assertIsInstance(value["data"], str, where + ".data")


def assertStringMap(t, value, where):
    t.assertIsInstance(value, dict, where)
    for k, v in value.items():
        t.assertIsInstance(v, str, f"{where}.{k}")


def assertPromise(t, record, where="promise"):
    """
    A promise record (§3): exactly the fields listed, C{settledAt} only
    when settled, C{value} empty while pending.
    """
    t.assertIsInstance(record, dict, where)
    settled = record.get("state") != "pending"
    expected = PROMISE_KEYS | ({"settledAt"} if settled else set())
    t.assertEqual(set(record), expected, f"{where}: {record}")
    t.assertIsInstance(record["id"], str, where)
    t.assertIn(record["state"], PROMISE_STATES, where)
    assertValue(t, record["param"], where + ".param")
    assertValue(t, record["value"], where + ".value")
    assertStringMap(t, record["tags"], where + ".tags")
    for key in ("timeoutAt", "createdAt") + (("settledAt",) if settled else ()):
        t.assertTrue(_isInt(record[key]), f"{where}.{key}: {record[key]!r}")
    if not settled:
        t.assertEqual(record["value"], {}, where)


def assertTask(t, record, where="task"):
    """
    A task record (§3): C{ttl} and C{pid} only while acquired.
    """
    t.assertIsInstance(record, dict, where)
    acquired = record.get("state") == "acquired"
    expected = TASK_KEYS | (LEASE_KEYS if acquired else set())
    t.assertEqual(set(record), expected, f"{where}: {record}")
    t.assertIn(record["state"], TASK_STATES, where)
    t.assertTrue(_isInt(record["version"]), where)
    t.assertTrue(_isInt(record["resumes"]), where)
    if acquired:
        t.assertTrue(_isInt(record["ttl"]), where)
        t.assertIsInstance(record["pid"], str, where)


def assertSchedule(t, record, where="schedule"):
    t.assertIsInstance(record, dict, where)
    t.assertLessEqual(SCHEDULE_KEYS, set(record), f"{where}: {record}")
    t.assertLessEqual(set(record), SCHEDULE_KEYS | {"lastRunAt"}, f"{where}: {record}")
    for key in ("id", "cron", "promiseId"):
        t.assertIsInstance(record[key], str, where)
    for key in ("promiseTimeout", "createdAt", "nextRunAt") + (
        ("lastRunAt",) if "lastRunAt" in record else ()
    ):
        t.assertTrue(_isInt(record[key]), f"{where}.{key}")
    assertValue(t, record["promiseParam"], where + ".promiseParam")
    assertStringMap(t, record["promiseTags"], where + ".promiseTags")


def _assertPage(t, data, key, assertRecord):
    t.assertIsInstance(data, dict)
    t.assertLessEqual(set(data), {key, "cursor"}, data)
    t.assertIsInstance(data[key], list)
    for i, record in enumerate(data[key]):
        assertRecord(t, record, f"{key}[{i}]")
    if "cursor" in data:
        t.assertIsInstance(data["cursor"], str)


def _assertKeys(t, data, keys):
    t.assertIsInstance(data, dict)
    t.assertEqual(set(data), set(keys), data)


def _promiseOnly(t, data):
    _assertKeys(t, data, ["promise"])
    assertPromise(t, data["promise"])


def _taskPromisePreload(t, data):
    _assertKeys(t, data, ["task", "promise", "preload"])
    assertTask(t, data["task"])
    assertPromise(t, data["promise"])
    _assertPreload(t, data)


def _assertPreload(t, data):
    t.assertIsInstance(data["preload"], list)
    for i, record in enumerate(data["preload"]):
        assertPromise(t, record, f"preload[{i}]")


def _empty(t, data):
    t.assertEqual(data, {})


def _fence(t, data):
    _assertKeys(t, data, ["action", "preload"])
    inner = data["action"]
    _assertKeys(t, inner, ["kind", "head", "data"])
    t.assertIn(inner["kind"], ("promise.create", "promise.settle"))
    t.assertEqual(set(inner["head"]), {"corrId", "status", "version"}, inner)
    if inner["head"]["status"] == 200:
        _promiseOnly(t, inner["data"])
    else:
        t.assertIsInstance(inner["data"], str, inner)
    _assertPreload(t, data)


def _scheduleOnly(t, data):
    _assertKeys(t, data, ["schedule"])
    assertSchedule(t, data["schedule"])


#: The shape of each kind's success (§3, §7).
SHAPES = {
    "promise.get": _promiseOnly,
    "promise.create": _promiseOnly,
    "promise.settle": _promiseOnly,
    "promise.register_callback": _promiseOnly,
    "promise.register_listener": _promiseOnly,
    "promise.search": lambda t, d: _assertPage(t, d, "promises", assertPromise),
    "task.get": lambda t, d: (_assertKeys(t, d, ["task"]), assertTask(t, d["task"])),
    "task.create": _taskPromisePreload,
    "task.acquire": _taskPromisePreload,
    "task.release": _empty,
    "task.fulfill": _promiseOnly,
    "task.suspend": _empty,
    "task.fence": _fence,
    "task.heartbeat": _empty,
    "task.halt": _empty,
    "task.continue": _empty,
    "task.search": lambda t, d: _assertPage(t, d, "tasks", assertTask),
    "schedule.create": _scheduleOnly,
    "schedule.get": _scheduleOnly,
    "schedule.delete": _empty,
    "schedule.search": lambda t, d: _assertPage(t, d, "schedules", assertSchedule),
}


def assertShape(t, kind, status, data):
    """
    A success answer of C{kind} has its shape; the 300 of C{task.suspend}
    is C{{preload}}.
    """
    if status == 300:
        t.assertEqual(kind, "task.suspend")
        _assertKeys(t, data, ["preload"])
        _assertPreload(t, data)
        return
    shape = SHAPES.get(kind)
    if shape is not None:
        shape(t, data)


# --- the runner ---------------------------------------------------------------


class Protocol2026Runner:
    """
    Sends steps and checks their answers; mixed into a C{TestCase} with
    C{startAPI()} (a started L{Live2026API}).
    """

    def assertEnvelope(self, reply, kind, corrId, label):
        """
        The answer is a 2026 envelope for C{kind} and C{corrId} whose
        C{head.status} is the HTTP status.
        """
        self.assertIsNotNone(reply.body, f"{label}: not JSON: {reply!r}")
        contentType = reply.headers.getRawHeaders("content-type") or [""]
        self.assertTrue(contentType[0].startswith("application/json"),
                        f"{label}: content type {contentType}")
        self.assertEqual(set(reply.body), {"kind", "head", "data"}, f"{label}: {reply!r}")
        head = reply.body["head"]
        self.assertEqual(set(head), {"corrId", "status", "version"}, f"{label}: {reply!r}")
        self.assertEqual(reply.body["kind"], kind, f"{label}: kind echoed")
        self.assertEqual(head["corrId"], corrId, f"{label}: corrId echoed")
        self.assertEqual(head["version"], VERSION, label)
        self.assertEqual(head["status"], reply.code, f"{label}: head.status is the HTTP status")
        if reply.code >= 400:
            self.assertIsInstance(reply.data, str, f"{label}: an error's data is a string")

    async def perform(self, api, step, ctx, label):
        """
        Send C{step} and check its answer.

        @return: the L{Reply}.
        """
        if step.kind == V05:
            reply = await api.request(step.method, step.data, step.v05Body)
            self.assertEqual(reply.code, step.status, f"{label}: {reply!r}")
            for check in step.checks:
                check(self, reply.body, ctx)
            if step.save:
                ctx.saved[step.save] = reply.body
            return reply
        corrId = api.nextCorrId()
        ctx.corrId = corrId
        ctx.before = wallNow()
        if step.envelope is None:
            reply = await api.rpc(step.kind, step.data, corrId, step.head, step.headers)
            kind = step.kind
        else:
            raw = step.envelope
            if not isinstance(raw, bytes):
                raw = json.dumps(raw).encode("utf-8")
            reply = await api.request("POST", "/", raw=raw, headers=step.headers)
            kind, corrId = step.echo
        ctx.after = wallNow()
        label = f"{label}: {step.kind} {json.dumps(step.data)[:300]}"
        self.assertEqual(reply.code, step.status, f"{label}: {reply!r}")
        self.assertEnvelope(reply, kind, corrId, label)
        if step.message is not None:
            self.assertEqual(reply.data, step.message, label)
        if reply.code in (200, 300):
            assertShape(self, kind, reply.code, reply.data)
        for check in step.checks:
            check(self, reply.data, ctx)
        if step.save:
            ctx.saved[step.save] = reply.data
        return reply

    async def runCase(self, case):
        api = await self.startAPI()
        ctx = Context()
        for i, step in enumerate(case.scene):
            await self.perform(api, step, ctx, f"{case.name} scene[{i}]")
        await self.perform(api, case.request, ctx, case.name)
        for i, step in enumerate(case.then):
            await self.perform(api, step, ctx, f"{case.name} then[{i}]")


# --- the table -------------------------------------------------------------------

CASES = []


def case(name, section, doc, request, scene=(), then=()):
    CASES.append(Case(name, section, doc, request, tuple(scene), tuple(then)))


def bad(name, section, doc, request, scene=(), then=(), message=None):
    """
    A row whose request is refused with 400.
    """
    case(name, section, doc, request.expect(400, message=message), scene, then)


# §2 The envelope ------------------------------------------------------------------

P = [create("p")]

case("envelope_echo", "§2",
     "A success echoes kind and corrId, answers version 2026-04-01 and "
     "HTTP status = head.status = 200.",
     get("p").ok(promiseHas(id="p")), P)
case("envelope_unknownFieldsIgnored", "§2",
     "Unknown head members (the npm SDK's resonate:origin) and unknown data "
     "members are ignored.",
     replace(get("p"), data={"id": "p", "extra": 1},
             head={"resonate:origin": "p", "other": [1]}).ok(), P)
case("envelope_unknownNestedFieldsIgnored", "§2",
     "Unknown members inside data's objects (param) are ignored too.",
     create("p", param={"data": B64, "extra": {"x": 1}}).ok(
         promiseHas(param={"data": B64})))
case("envelope_authIgnoredWithoutAuth", "§2 §14 DECISIONS 31",
     "Without auth configured, head.auth is not checked.",
     replace(get("p"), head={"auth": "not.a.jwt"}).ok(), P)
case("envelope_contentTypeNotChecked", "§2",
     "The request's Content-Type is not checked.",
     replace(get("p"), headers={"content-type": "text/plain"}).ok(), P)
case("envelope_originHeaderQuirk", "§19.2",
     "The header line SDK 0.8.1 writes (resonate:origin: <origin>, read as a "
     "header named resonate) is accepted and ignored.",
     replace(get("p"), headers={"resonate": "origin: p"}).ok(), P)
case("envelope_debugTimeIgnored", "DECISIONS 30",
     "With debug off, head resonate:debug_time is ignored: the create runs "
     "at the real time.",
     replace(create("p"), head={"resonate:debug_time": 5}).ok(
         promiseHas(state="pending"), createdNow("promise")))
bad("envelope_unknownKind", "§2.6",
    "An unknown kind is 400 Unknown operation: <kind>.",
    rpc("promise.frobnicate", {}), message="Unknown operation: promise.frobnicate")
bad("envelope_unknownKindWithoutDot", "§2.6",
    "Any unknown kind is 400 Unknown operation: <kind>.",
    rpc("frobnicate", {"id": "p"}), message="Unknown operation: frobnicate")
bad("envelope_emptyKind", "§2.2",
    "An empty kind is 400, echoed.",
    rpc("", {}))
for _name, _data in [("Array", []), ("String", "p"), ("Null", None), ("Number", 1),
                     ("Boolean", True)]:
    bad(f"envelope_data{_name}", "§2.3",
        f"data that is not an object ({_name.lower()}) is 400.",
        rpc("promise.get", _data))
bad("envelope_unsupportedVersion", "§2.4",
    "An unsupported version is 400 with kind and corrId echoed.",
    replace(get("p"), head={"version": "2025-01-01"}))
bad("envelope_emptyVersion", "§2.4",
    "An empty version is unsupported: 400.",
    replace(get("p"), head={"version": ""}))

_GOOD_HEAD = {"corrId": "k1", "version": VERSION}
for _name, _body, _echo in [
    ("NotJSON", b"{nope", ("unknown", "0")),
    ("NotObject", b"[1, 2]", ("unknown", "0")),
    ("Empty", b"", ("unknown", "0")),
    ("MissingData", {"kind": "promise.get", "head": _GOOD_HEAD}, ("promise.get", "k1")),
    ("MissingKind", {"head": _GOOD_HEAD, "data": {}}, ("unknown", "k1")),
    ("KindNotString", {"kind": 5, "head": _GOOD_HEAD, "data": {}}, ("unknown", "k1")),
    ("MissingHead", {"kind": "promise.get", "data": {"id": "p"}}, ("promise.get", "0")),
    ("HeadNotObject", {"kind": "promise.get", "head": "h", "data": {}}, ("promise.get", "0")),
    ("MissingCorrId", {"kind": "promise.get", "head": {"version": VERSION},
                       "data": {"id": "p"}}, ("promise.get", "0")),
    ("CorrIdNotString", {"kind": "promise.get", "head": {"corrId": 7, "version": VERSION},
                         "data": {"id": "p"}}, ("promise.get", "0")),
    ("MissingVersion", {"kind": "promise.get", "head": {"corrId": "k1"},
                        "data": {"id": "p"}}, ("promise.get", "k1")),
    ("VersionNotString", {"kind": "promise.get", "head": {"corrId": "k1", "version": 2026},
                          "data": {"id": "p"}}, ("promise.get", "k1")),
]:
    bad(f"envelope_malformed{_name}", "§2.1",
        "A body that is not an envelope is 400; kind and corrId are echoed "
        "when they are strings, else 'unknown' and '0'.",
        Step("promise.get", envelope=_body, echo=_echo))

# §7.1 promise.get ----------------------------------------------------------------

case("promiseGet_pending", "§7.1",
     "A pending promise: param, value (empty) and tags objects, timeoutAt, "
     "createdAt, no settledAt.",
     get("p").ok(promiseHas(id="p", state="pending", param={"data": B64}, value={},
                            tags={}, timeoutAt=LATER, settledAt=ABSENT)),
     [create("p", param={"data": B64})])
case("promiseGet_settled", "§7.1",
     "A settled promise has its value and settledAt.",
     get("p").ok(promiseHas(state="resolved", value={"data": B64}), sameAs("done", "promise")),
     [create("p"), settle("p", value={"data": B64}).saved("done")])
case("promiseGet_missing", "§7.1",
     "An unknown id is 404 Promise not found.",
     get("nope").expect(404, message="Promise not found"))
case("promiseGet_createdTimedOut", "§7.1 §8",
     "A promise created past its timeout reads rejected_timedout, created "
     "and settled at timeoutAt.",
     get("p").ok(promiseHas(state="rejected_timedout", createdAt=1, settledAt=1, value={})),
     [create("p", timeoutAt=1)])
bad("promiseGet_emptyId", "§7.1", "An empty id is 400.", rpc("promise.get", {"id": ""}))
bad("promiseGet_missingId", "§7.1", "A missing id is 400.", rpc("promise.get", {}))
bad("promiseGet_idNotString", "§7.1", "An id that is not a string is 400.",
    rpc("promise.get", {"id": 5}))

# §7.2 promise.create ---------------------------------------------------------------

case("promiseCreate_new", "§7.2",
     "A new promise is 200 (never 201), pending, created now, with empty "
     "param, value and tags.",
     create("p").ok(promiseHas(id="p", state="pending", param={}, value={}, tags={},
                               timeoutAt=LATER, settledAt=ABSENT),
                    createdNow("promise")),
     then=[promiseState("p", "pending")])
_PARAM = {"headers": {"h": "v", "\u00fc": "\u2713"}, "data": B64}
case("promiseCreate_roundTrip", "§3",
     "param headers and data and tags come back as sent, on create and on read.",
     create("p", param=_PARAM, tags={"k": "v"}).ok(promiseHas(param=_PARAM, tags={"k": "v"})),
     then=[get("p").ok(promiseHas(param=_PARAM, tags={"k": "v"}))])
case("promiseCreate_existingUnchanged", "§7.2",
     "Creating an existing id answers 200 with the stored record, unchanged: "
     "param, tags and timeout are not compared.",
     create("p", timeoutAt=LATER + 1, param={"data": B64_2}, tags={"b": "2"}).ok(
         sameAs("first", "promise")),
     [create("p", param={"data": B64}, tags={"a": "1"}).saved("first")])
case("promiseCreate_existingSettled", "§7.2",
     "Creating an id already settled answers 200 with the settled record.",
     create("p").ok(promiseHas(state="rejected"), sameAs("done", "promise")),
     [create("p"), settle("p", "rejected").saved("done")])
case("promiseCreate_timedOut", "§7.2",
     "A new promise already past its timeout is stored rejected_timedout, "
     "createdAt = settledAt = timeoutAt.",
     create("p", timeoutAt=1).ok(promiseHas(state="rejected_timedout", createdAt=1,
                                            settledAt=1, value={})),
     then=[promiseState("p", "rejected_timedout", settledAt=1)])
case("promiseCreate_timedOutAtZero", "§7.2",
     "timeoutAt 0 is valid and already past.",
     create("p", timeoutAt=0).ok(promiseHas(state="rejected_timedout", createdAt=0,
                                            settledAt=0)))
case("promiseCreate_timerTimedOut", "§7.2 §4",
     "A timer (resonate:timer = true) created past its timeout is resolved.",
     create("p", timeoutAt=1, tags={"resonate:timer": "true"}).ok(
         promiseHas(state="resolved", settledAt=1, value={})))
for _name, _flag in [("Capitalised", "True"), ("One", "1"), ("False", "false")]:
    case(f"promiseCreate_timerNotTrue{_name}", "§4",
         "resonate:timer must be exactly 'true': any other value times out "
         "as rejected_timedout.",
         create("p", timeoutAt=1, tags={"resonate:timer": _flag}).ok(
             promiseHas(state="rejected_timedout")))
case("promiseCreate_v05TimerTag", "DECISIONS 27",
     "v0.5's timer tag (resonate:timeout = true) is a timer for the 2026 "
     "protocol too: created past its timeout it is resolved.",
     create("p", timeoutAt=1, tags={"resonate:timeout": "true"}).ok(
         promiseHas(state="resolved", settledAt=1)))
case("promiseCreate_target", "§7.2 §9.1",
     "A promise with resonate:target has a task: pending, version 0.",
     createTask("root").ok(promiseHas(state="pending", tags=TT)),
     then=[taskState("root", "pending", 0)])
case("promiseCreate_targetTimedOut", "§7.2 §9.1",
     "A promise with a target created past its timeout has a fulfilled "
     "task, version 0.",
     createTask("root", timeoutAt=1).ok(promiseHas(state="rejected_timedout")),
     then=[taskState("root", "fulfilled", 0)])
case("promiseCreate_timerTargetTimedOut", "§7.2 §19.8",
     "A durable sleep (timer and target) created past its timeout is "
     "resolved and its task fulfilled.",
     createTask("root", timeoutAt=1, tags={"resonate:timer": "true"}).ok(
         promiseHas(state="resolved")),
     then=[taskState("root", "fulfilled", 0)])
case("promiseCreate_noTargetNoTask", "§7.2",
     "A promise without a target has no task.",
     create("p").ok(), then=[noTask("p")])
case("promiseCreate_existingTargetUnchanged", "§7.2",
     "Creating a task promise again is 200 with the stored record and leaves "
     "its task as it is.",
     createTask("root").ok(sameAs("first", "promise")),
     [createTask("root").saved("first"), acquire("root")],
     then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL)])
for _name, _address in [
    ("Http", "http://example.com/work"), ("Https", "https://example.com"),
    ("HttpPort", "http://127.0.0.1:8080/x"),
    ("PollUnicast", "poll://uni@g/p1"), ("PollAnycast", "poll://any@g"),
    ("PollAnycastWithId", "poll://any@g/p1"), ("PollUnicastWithoutId", "poll://uni@g"),
    ("Gcps", "gcps://project/topic"),
]:
    case(f"promiseCreate_targetValid{_name}", "§6",
         f"{_address} is a valid address: the promise and its task are created.",
         createTask("root", tags={TARGET_TAG: _address}).ok(
             promiseHas(tags={TARGET_TAG: _address})),
         then=[taskState("root", "pending", 0)])
for _name, _address in [
    ("Relative", "nope"), ("Empty", ""), ("OtherScheme", "ftp://example.com/x"),
    ("PollWithoutUser", "poll://default"), ("PollWithoutHost", "poll://uni@"),
    ("PollOtherUser", "poll://bob@g"), ("HttpWithoutHost", "http://"),
]:
    bad(f"promiseCreate_targetInvalid{_name}", "§6 §7.2",
        f"{_address!r} is not an address: 400, nothing created.",
        createTask("root", tags={TARGET_TAG: _address}),
        then=[notFound("root"), noTask("root")])
for _name, _data in [
    ("TimeoutNegative", createData("p", -1)),
    ("TimeoutFloat", createData("p", 1.0)),
    ("TimeoutFraction", createData("p", LATER + 0.5)),
    ("TimeoutString", createData("p", str(LATER))),
    ("TimeoutBoolean", createData("p", True)),
    ("TimeoutNull", createData("p", None)),
    ("TimeoutTooBig", createData("p", 2**63)),
    ("TimeoutMissing", {"id": "p"}),
    ("IdMissing", {"timeoutAt": LATER}),
    ("IdEmpty", createData("", LATER)),
    ("IdNotString", createData(5, LATER)),
    ("IdNul", createData("a\x00b", LATER)),
    ("ParamNull", dict(createData("p"), param=None)),
    ("ParamString", createData("p", param="x")),
    ("ParamHeadersNotStrings", createData("p", param={"headers": {"a": 1}})),
    ("ParamHeadersNotObject", createData("p", param={"headers": ["a"]})),
    ("ParamDataNotString", createData("p", param={"data": 5})),
    ("TagsNotStrings", createData("p", tags={"a": 1})),
    ("TagsNullValue", createData("p", tags={"a": None})),
    ("TagsArray", createData("p", tags=["a"])),
]:
    bad(f"promiseCreate_invalid{_name}", "§2 §7.2",
        "A create whose data does not deserialise or validate is 400 "
        "(floats, strings and booleans where integers belong too); nothing "
        "is created.",
        rpc("promise.create", _data), then=[notFound("p")])
for _name, _id, _tags in [
    ("Root", "root", lineage("root", "root", "root")),
    ("Child", "root:1", lineage("root", "root", "root")),
    ("Grandchild", "root:1.2", lineage("root", "root:1", "root:1")),
    ("GreatGrandchild", "root:1.2.3", lineage("root", "root:1.2", "root:1.2")),
    ("DottedRoot", "my.app.wf", lineage("my.app.wf", "my.app.wf", "my.app.wf")),
    ("DottedRootChild", "my.app.wf:1", lineage("my.app.wf", "my.app.wf", "my.app.wf")),
    ("Detached", "root:d0123456789abcdef",
     lineage("root", "root:d0123456789abcdef", "root")),
    ("OriginOnly", "root:7", lineage("root")),
    ("PrefixWithDot", "root:1", {"resonate:prefix": "a.b"}),
]:
    case(f"promiseCreate_lineageValid{_name}", "§5 DECISIONS 24",
         f"{_id} with {_tags} follows the post-snapshot id rules: 200.",
         create(_id, tags=_tags).ok(promiseHas(id=_id, tags=_tags)))
for _name, _id, _tags in [
    ("OriginWithColon", "a:b", lineage("a:b")),
    ("OriginWithColonChild", "a:b:1", lineage("a:b")),
    ("NotUnderOrigin", "other:1", lineage("root")),
    ("OriginPrefixWithoutColon", "rootx", lineage("root")),
    ("DotBelowOrigin", "root.1", lineage("root")),
    ("NotUnderParent", "root:12", lineage("root", parent="root:1")),
    ("ParentDeeper", "root:1", lineage("root", parent="root:1.2")),
    ("ParentOtherOrigin", "root:1", lineage(parent="other")),
    ("NotUnderBranch", "root:2.1", lineage("root", branch="root:1")),
    ("BranchDotBelowRoot", "root.1", lineage(branch="root")),
]:
    bad(f"promiseCreate_lineageInvalid{_name}", "§5",
        f"{_id} with {_tags} breaks the post-snapshot id rules: 400.",
        create(_id, tags=_tags), then=[notFound(_id)])
for _name, _delay, _tags in [
    ("NotInteger", "abc", TT), ("Empty", "", TT), ("Negative", "-1", TT),
    ("Fraction", "1.5", TT), ("EqualsTimeout", str(LATER), TT),
    ("AfterTimeout", str(LATER + 1), TT), ("WithoutTarget", "0", {}),
]:
    _allTags = dict(_tags, **{"resonate:delay": _delay})
    bad(f"promiseCreate_delayInvalid{_name}", "§4",
        f"resonate:delay {_delay!r} (tags {_allTags}) is refused: it must be "
        "an integer >= 0, below timeoutAt, on a promise with a target.",
        create("root", tags=_allTags), then=[notFound("root")])
for _name, _delay in [("Zero", "0"), ("Future", str(LATER - HOUR)),
                      ("JustBeforeTimeout", str(LATER - 1))]:
    _allTags = dict(TT, **{"resonate:delay": _delay})
    case(f"promiseCreate_delayValid{_name}", "§4 DECISIONS 26",
         f"resonate:delay {_delay} with a target: 200, the task is pending "
         "version 0.",
         create("root", tags=_allTags).ok(promiseHas(state="pending", tags=_allTags)),
         then=[taskState("root", "pending", 0)])

# §7.3 promise.settle ----------------------------------------------------------------

_VALUE = {"headers": {"h": "v"}, "data": B64}
for _state in ("resolved", "rejected", "rejected_canceled"):
    case(f"promiseSettle_{_state}", "§7.3",
         f"Settling a pending promise {_state}: value set, param kept, "
         "settledAt now.",
         settle("p", _state, _VALUE).ok(
             promiseHas(id="p", state=_state, value=_VALUE, param={"data": B64},
                        timeoutAt=LATER),
             settledNow("promise")),
         [create("p", param={"data": B64})],
         then=[promiseState("p", _state, value=_VALUE)])
case("promiseSettle_noValue", "§7.3",
     "A settle without a value leaves the value empty.",
     settle("p").ok(promiseHas(state="resolved", value={})), P)
case("promiseSettle_missing", "§7.3",
     "Settling an unknown id is 404.",
     settle("nope").expect(404))
case("promiseSettle_alreadySettled", "§7.3",
     "Settling a settled promise is 200 with the record unchanged (the "
     "requested state and value are ignored).",
     settle("p", "rejected", {"data": B64_2}).ok(sameAs("done", "promise")),
     [create("p"), settle("p", value={"data": B64}).saved("done")])
case("promiseSettle_timedOut", "§7.3 §8",
     "Settling a timed-out promise is 200 with the timed-out record.",
     settle("p").ok(promiseHas(state="rejected_timedout", settledAt=1, value={})),
     [create("p", timeoutAt=1)])
case("promiseSettle_timerTimedOut", "§7.3 §8",
     "Settling a timed-out timer is 200 with it resolved, value empty.",
     settle("p", "rejected", {"data": B64}).ok(promiseHas(state="resolved", value={})),
     [create("p", timeoutAt=1, tags={"resonate:timer": "true"})])
case("promiseSettle_fulfillsTask", "§9.4",
     "Settling a task's promise fulfils its pending task.",
     settle("root").ok(promiseHas(state="resolved")),
     [createTask("root")],
     then=[taskState("root", "fulfilled", 0)])
case("promiseSettle_fulfillsAcquiredTask", "§9.4 §7.11",
     "Settling an acquired task's promise fulfils the task; its worker's "
     "fulfill is then 409.",
     settle("root", "rejected").ok(),
     [createTask("root"), acquire("root")],
     then=[taskState("root", "fulfilled", 1), fulfill("root", 1).expect(409),
           promiseState("root", "rejected")])
case("promiseSettle_deletesAwaiterCallbacks", "§9.4",
     "Settling a task's promise deletes the callbacks where it is the "
     "awaiter: what it awaited settling later resumes nothing.",
     settle("root:1").ok(),
     [createTask("root"), create("root:1"), callback("root:1", "root"), settle("root")],
     then=[taskState("root", "fulfilled", 0, resumes=0)])
for _name, _data in [
    ("StatePending", settleData("p", "pending")),
    ("StateTimedOut", settleData("p", "rejected_timedout")),
    ("StateUpperCase", settleData("p", "RESOLVED")),
    ("StateCapitalised", settleData("p", "Resolved")),
    ("StateUnknown", settleData("p", "done")),
    ("StateNotString", settleData("p", 1)),
    ("StateMissing", {"id": "p"}),
    ("ValueNull", dict(settleData("p"), value=None)),
    ("ValueString", settleData("p", value="x")),
    ("ValueHeadersNotStrings", settleData("p", value={"headers": {"a": 2}})),
    ("ValueDataNotString", settleData("p", value={"data": 2})),
    ("IdEmpty", settleData("")),
    ("IdMissing", {"state": "resolved"}),
]:
    bad(f"promiseSettle_invalid{_name}", "§7.3",
        "A settle whose data is invalid is 400 and changes nothing.",
        rpc("promise.settle", _data), P, then=[promiseState("p", "pending")])

# §7.4 promise.register_callback -------------------------------------------------------

CB = [createTask("root"), create("root:1")]
case("callback_bothPending", "§7.4",
     "Both pending: 200 with the awaited record; nothing is ready yet.",
     callback("root:1", "root").ok(promiseHas(id="root:1", state="pending")), CB,
     then=[taskState("root", "pending", 0)])
case("callback_twice", "§7.4",
     "Registering the same callback twice is 200.",
     callback("root:1", "root").ok(promiseHas(id="root:1")),
     CB + [callback("root:1", "root")])
case("callback_readyOnSettle", "§9.3",
     "When the awaited settles, the callback becomes ready: the pending "
     "awaiter's task counts one resume.",
     settle("root:1").ok(), CB + [callback("root:1", "root")],
     then=[taskState("root", "pending", 0, resumes=1)])
case("callback_awaitedSettledAwaiterPending", "§7.4 §20",
     "Awaited already settled, awaiter task pending: 200 with the settled "
     "record and a ready callback (resumes 1).",
     callback("root:1", "root").ok(promiseHas(id="root:1", state="resolved")),
     CB + [settle("root:1")],
     then=[taskState("root", "pending", 0, resumes=1)])
case("callback_awaitedSettledAwaiterSuspended", "§7.4",
     "Awaited already settled, awaiter task suspended: the task becomes "
     "pending at the same version, with the callback ready.",
     callback("root:1", "root").ok(promiseHas(state="resolved")),
     CB + [create("root:2"), acquire("root"), suspend("root", 1, "root:2"),
           settle("root:1")],
     then=[taskState("root", "pending", 1, resumes=1)])
case("callback_awaitedTimedOut", "§7.4 §8",
     "A timed-out awaited counts as settled.",
     callback("root:3", "root").ok(promiseHas(state="rejected_timedout")),
     CB + [create("root:3", timeoutAt=1)],
     then=[taskState("root", "pending", 0, resumes=1)])
case("callback_awaitedSettledAwaiterAcquired", "§7.4 §20",
     "Awaited already settled, awaiter task acquired: a ready callback "
     "(resumes 1), the task still acquired.",
     callback("root:1", "root").ok(promiseHas(state="resolved")),
     CB + [acquire("root"), settle("root:1")],
     then=[taskState("root", "acquired", 1, resumes=1, pid="p1", ttl=TTL)])
case("callback_laterSettlementsAddResumes", "§9.3",
     "A suspended task is woken once; later settlements of what it awaits "
     "only add ready callbacks.",
     settle("root:2").ok(),
     CB + [create("root:2"), acquire("root"), suspend("root", 1, "root:1", "root:2"),
           settle("root:1"), taskState("root", "pending", 1, resumes=1)],
     then=[taskState("root", "pending", 1, resumes=2)])
case("callback_awaitedMissing", "§7.4",
     "An unknown awaited is 404.",
     callback("root:9", "root").expect(404), CB)
case("callback_bothMissing", "§7.4",
     "Both unknown: the awaited is looked up first, 404.",
     callback("root:9", "root:8").expect(404), CB)
case("callback_awaiterMissing", "§7.4",
     "An unknown awaiter is 422.",
     callback("root:1", "root:8").expect(422), CB)
case("callback_awaiterWithoutTarget", "§7.4",
     "An awaiter without resonate:target (no task) is 422.",
     callback("root:1", "root:2").expect(422), CB + [create("root:2")])
bad("callback_sameId", "§7.4", "awaited = awaiter is 400.",
    callback("root", "root"), CB)
bad("callback_otherOrigin", "§7.4 §5",
    "awaited and awaiter of different origins are 400.",
    callback("other", "root"), CB + [create("other")],
    then=[taskState("root", "pending", 0)])
bad("callback_otherOriginPrefix", "§5",
    "Origins compare whole: root vs rootx differ: 400.",
    callback("rootx:1", "root"), CB + [create("rootx:1")])
for _name, _data in [
    ("AwaitedEmpty", {"awaited": "", "awaiter": "root"}),
    ("AwaiterEmpty", {"awaited": "root:1", "awaiter": ""}),
    ("AwaitedMissing", {"awaiter": "root"}),
    ("AwaiterMissing", {"awaited": "root:1"}),
    ("AwaitedNotString", {"awaited": 1, "awaiter": "root"}),
]:
    bad(f"callback_invalid{_name}", "§7.4",
        "A callback without two non-empty ids is 400.",
        rpc("promise.register_callback", _data), CB)

# §7.5 promise.register_listener --------------------------------------------------------

LISTENER = "poll://uni@g/p1"
case("listener_pending", "§7.5",
     "A listener on a pending promise: 200 with the pending record.",
     listener("p", LISTENER).ok(promiseHas(id="p", state="pending")), P)
case("listener_twice", "§7.5",
     "The same listener twice is 200 (one listener).",
     listener("p", LISTENER).ok(), P + [listener("p", LISTENER)])
case("listener_http", "§7.5 §6",
     "An HTTP address is a listener too.",
     listener("p", "http://127.0.0.1:9/hook").ok(), P)
case("listener_settled", "§7.5",
     "A listener on a settled promise: 200 with the settled record.",
     listener("p", LISTENER).ok(promiseHas(state="resolved", value={"data": B64})),
     P + [settle("p", value={"data": B64})])
case("listener_timedOut", "§7.5 §8",
     "A listener on a timed-out promise: 200 with the timed-out record.",
     listener("p", LISTENER).ok(promiseHas(state="rejected_timedout")),
     [create("p", timeoutAt=1)])
case("listener_missing", "§7.5",
     "A listener on an unknown promise is 404.",
     listener("nope", LISTENER).expect(404))
bad("listener_invalidAddressBeforeLookup", "§7.5",
    "An invalid address is 400, checked before the promise is looked up.",
    listener("nope", "nope"))
bad("listener_invalidAddress", "§7.5 §6",
    "An invalid address on an existing promise is 400.",
    listener("p", "ftp://example.com/x"), P)
for _name, _data in [
    ("AwaitedEmpty", {"awaited": "", "address": LISTENER}),
    ("AddressEmpty", {"awaited": "p", "address": ""}),
    ("AddressMissing", {"awaited": "p"}),
    ("AwaitedMissing", {"address": LISTENER}),
]:
    bad(f"listener_invalid{_name}", "§7.5",
        "A listener without a non-empty awaited and address is 400.",
        rpc("promise.register_listener", _data), P)

# §7.6 promise.search ---------------------------------------------------------------------

SEARCH_SCENE = [
    create("a"), create("b", tags={"k": "v"}), create("c", tags={"k": "v", "x": "y"}),
    create("d"), settle("d", "rejected"),
    create("e"), settle("e", "rejected_canceled"),
    create("f", timeoutAt=1),
    create("g", tags={"k": "v"}), settle("g"),
    create("h", timeoutAt=1, tags={"resonate:timer": "true"}),
]
ALL = list("abcdefgh")
case("promiseSearch_all", "§7.6",
     "No filter: every promise, by id ascending, one page without cursor.",
     search().ok(ids("promises", ALL), cursor(False)), SEARCH_SCENE)
for _state, _ids in [("pending", ["a", "b", "c"]), ("resolved", ["g", "h"]),
                     ("rejected", ["d"]), ("rejected_canceled", ["e"]),
                     ("rejected_timedout", ["f"])]:
    case(f"promiseSearch_state_{_state}", "§7.6",
         f"state {_state} is an exact match (rejected does not include "
         "rejected_canceled nor rejected_timedout).",
         search(state=_state).ok(ids("promises", _ids), cursor(False)), SEARCH_SCENE)
for _name, _tags, _ids in [("One", {"k": "v"}, ["b", "c", "g"]),
                           ("Two", {"k": "v", "x": "y"}, ["c"]),
                           ("NoMatch", {"k": "w"}, []),
                           ("Empty", {}, ALL)]:
    case(f"promiseSearch_tags{_name}", "§7.6",
         f"tags {_tags}: every pair must be present with that value.",
         search(tags=_tags).ok(ids("promises", _ids)), SEARCH_SCENE)
case("promiseSearch_tagsAndState", "§7.6",
     "tags and state together.",
     search(tags={"k": "v"}, state="pending").ok(ids("promises", ["b", "c"])),
     SEARCH_SCENE)
case("promiseSearch_limit", "§7.6",
     "A page of limit rows, with a cursor, when more rows exist.",
     search(limit=3).ok(ids("promises", ["a", "b", "c"]), cursor(True)), SEARCH_SCENE)
case("promiseSearch_limitOneLess", "§7.6",
     "One row more than the limit: a cursor.",
     search(limit=7).ok(ids("promises", ALL[:7]), cursor(True)), SEARCH_SCENE)
case("promiseSearch_limitExact", "§7.6",
     "Exactly limit rows: no cursor (only when more rows exist).",
     search(limit=8).ok(ids("promises", ALL), cursor(False)), SEARCH_SCENE)
case("promiseSearch_limitMax", "§7.6", "limit 1000 is allowed.",
     search(limit=1000).ok(ids("promises", ALL), cursor(False)), SEARCH_SCENE)
case("promiseSearch_limitOne", "§7.6", "limit 1 is allowed.",
     search(limit=1).ok(ids("promises", ["a"]), cursor(True)), SEARCH_SCENE)
case("promiseSearch_empty", "§7.6", "No promise: an empty page, no cursor.",
     search().ok(equals({"promises": []})))
for _name, _data in [
    ("LimitZero", {"limit": 0}), ("LimitNegative", {"limit": -1}),
    ("LimitTooBig", {"limit": 1001}), ("LimitFloat", {"limit": 10.0}),
    ("LimitString", {"limit": "10"}), ("StateUpperCase", {"state": "PENDING"}),
    ("StateUnknown", {"state": "done"}), ("StateEmpty", {"state": ""}),
    ("TagsNotStrings", {"tags": {"k": 1}}), ("CursorNotString", {"cursor": 5}),
]:
    bad(f"promiseSearch_invalid{_name}", "§7.6",
        "A search with a bad limit, state, tags or cursor is 400.",
        rpc("promise.search", _data), P)

# §7.7 task.get ---------------------------------------------------------------------------

case("taskGet_pending", "§7.7 §3",
     "A new task: pending, version 0, resumes 0, no ttl or pid.",
     taskGet("root").ok(taskIs(id="root", state="pending", version=0, resumes=0)),
     [createTask("root")])
case("taskGet_acquired", "§7.7 §3",
     "An acquired task has ttl and pid.",
     taskGet("root").ok(taskIs(id="root", state="acquired", version=1, resumes=0,
                               ttl=TTL, pid="p1")),
     [createTask("root"), acquire("root")])
case("taskGet_missing", "§7.7",
     "An unknown id is 404 Task not found.",
     taskGet("nope").expect(404, message="Task not found"))
case("taskGet_promiseWithoutTask", "§7.7",
     "A promise without a target has no task: 404 Task not found.",
     taskGet("p").expect(404, message="Task not found"), P)
bad("taskGet_emptyId", "§7.7", "An empty id is 400.", taskGet(""))
bad("taskGet_missingId", "§7.7", "A missing id is 400.", rpc("task.get", {}))

# §7.8 task.create ----------------------------------------------------------------------------

ACQUIRED_ROOT = {"id": "root", "state": "acquired", "version": 1, "resumes": 0,
                 "ttl": TTL, "pid": "p1"}
case("taskCreate_new", "§7.8",
     "A new id: the promise is created and its task acquired by the caller, "
     "version 1, no preload.",
     taskCreate("root", param={"data": B64}).ok(
         taskIs(**ACQUIRED_ROOT),
         promiseHas(id="root", state="pending", param={"data": B64},
                    tags=rootTags("root"), timeoutAt=LATER),
         createdNow("promise"), equals([], "preload")),
     then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL),
           promiseState("root", "pending")])
case("taskCreate_again", "§7.8",
     "The same task.create again is 409 Already exists.",
     taskCreate("root").expect(409, message="Already exists"), [taskCreate("root")],
     then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL)])
case("taskCreate_againOtherPid", "§7.8 §19.6",
     "Another process's task.create of a running id is 409 Already exists.",
     taskCreate("root", pid="p2").expect(409, message="Already exists"),
     [taskCreate("root")],
     then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL)])
case("taskCreate_existingPromiseWithoutTask", "§7.8",
     "An existing promise without a task is 422.",
     taskCreate("root").expect(422), [create("root")],
     then=[noTask("root")])
case("taskCreate_timedOut", "§7.8",
     "A new id already past its timeout: promise rejected_timedout, task "
     "fulfilled version 0, preload empty.",
     taskCreate("root", timeoutAt=1).ok(
         taskIs(id="root", state="fulfilled", version=0, resumes=0),
         promiseHas(state="rejected_timedout", settledAt=1), equals([], "preload")),
     then=[taskState("root", "fulfilled", 0)])
case("taskCreate_timerTimedOut", "§7.8 §4",
     "A timer past its timeout: resolved, task fulfilled.",
     taskCreate("root", timeoutAt=1,
                tags=rootTags("root", **{"resonate:timer": "true"})).ok(
         taskIs(id="root", state="fulfilled", version=0, resumes=0),
         promiseHas(state="resolved")))
case("taskCreate_existingPending", "§7.8",
     "An existing pending task is acquired by the caller (version + 1).",
     taskCreate("root", pid="p2", ttl=5_000).ok(
         taskIs(id="root", state="acquired", version=1, resumes=0, ttl=5_000, pid="p2"),
         promiseHas(id="root", state="pending")),
     [createTask("root", tags=rootTags("root"))],
     then=[taskState("root", "acquired", 1, pid="p2", ttl=5_000)])
case("taskCreate_existingReleased", "§7.8",
     "A released task (pending at version 1) is acquired at version 2.",
     taskCreate("root", pid="p2").ok(has(("task",), state="acquired", version=2, pid="p2")),
     [taskCreate("root"), release("root", 1)])
case("taskCreate_existingFulfilled", "§7.8 §19.6",
     "The re-run of a finished id: 200 with the fulfilled task, the settled "
     "promise and an empty preload.",
     taskCreate("root").ok(
         taskIs(id="root", state="fulfilled", version=1, resumes=0),
         promiseHas(state="resolved", value={"data": B64}), equals([], "preload")),
     [taskCreate("root"), fulfill("root", 1, value={"data": B64})])
case("taskCreate_existingSettledWithoutWorker", "§7.8",
     "A task fulfilled by its promise's settlement: 200 fulfilled, version 0.",
     taskCreate("root").ok(taskIs(id="root", state="fulfilled", version=0, resumes=0),
                           promiseHas(state="rejected")),
     [createTask("root", tags=rootTags("root")), settle("root", "rejected")])
case("taskCreate_existingSuspended", "§7.8",
     "An existing suspended task is 409 Already exists.",
     taskCreate("root").expect(409, message="Already exists"),
     [taskCreate("root"), create("root:1"), suspend("root", 1, "root:1")],
     then=[taskState("root", "suspended", 1)])
case("taskCreate_existingHalted", "§7.8",
     "An existing halted task is 409 Already exists.",
     taskCreate("root").expect(409, message="Already exists"),
     [createTask("root"), halt("root")],
     then=[taskState("root", "halted", 0)])
case("taskCreate_actionKindUnused", "§7.8",
     "action.kind and action.head must be present but are not used.",
     rpc("task.create", replaced(taskCreateData("root"), "anything", "action", "kind")).ok(
         taskIs(**ACQUIRED_ROOT)))
case("taskCreate_preload", "§7.8 §9.5",
     "preload: the promises of the root's branch, by id, without the root "
     "itself.",
     taskCreate("root").ok(preloadIds("root:1", "root:2"), has(("task",), version=1)),
     [create("root:2", tags=lineage("root", "root", "root")),
      create("root:1", tags=lineage("root", "root", "root")),
      create("root:3", tags=lineage("root", "root:3", "root")),
      create("other", tags=lineage("other", "other", "other"))])
_TC = taskCreateData("root")
for _name, _data in [
    ("NoTarget", taskCreateData("root", tags=lineage("root", "root", "root"))),
    ("Delay", taskCreateData("root", tags=rootTags("root", **{"resonate:delay": "0"}))),
    ("BadTarget", taskCreateData("root", tags={TARGET_TAG: "nope"})),
    ("Lineage", taskCreateData("root", tags=dict(TT, **{"resonate:origin": "other"}))),
    ("PidEmpty", taskCreateData("root", pid="")),
    ("PidMissing", without(_TC, "pid")),
    ("TtlZero", taskCreateData("root", ttl=0)),
    ("TtlNegative", taskCreateData("root", ttl=-1)),
    ("TtlFloat", taskCreateData("root", ttl=1000.0)),
    ("TtlMissing", without(_TC, "ttl")),
    ("ActionMissing", without(_TC, "action")),
    ("ActionKindMissing", without(_TC, "action", "kind")),
    ("ActionHeadMissing", without(_TC, "action", "head")),
    ("ActionDataMissing", without(_TC, "action", "data")),
    ("ActionIdMissing", without(_TC, "action", "data", "id")),
    ("ActionTimeoutFloat", replaced(_TC, 1.0, "action", "data", "timeoutAt")),
    ("ActionTimeoutMissing", without(_TC, "action", "data", "timeoutAt")),
]:
    bad(f"taskCreate_invalid{_name}", "§7.8",
        "A task.create whose data is invalid (no target, a delay, a bad pid, "
        "ttl or action) is 400 and creates nothing.",
        rpc("task.create", _data), then=[notFound("root"), noTask("root")])

# §7.9 task.acquire ---------------------------------------------------------------------------

case("taskAcquire_pending", "§7.9",
     "Acquiring a pending task at its version: acquired, version + 1, ttl "
     "and pid, with the promise and a preload.",
     acquire("root").ok(taskIs(**ACQUIRED_ROOT), promiseHas(id="root", state="pending"),
                        equals([], "preload")),
     [createTask("root")],
     then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL)])
case("taskAcquire_missing", "§7.9", "Acquiring an unknown task is 404.",
     acquire("nope").expect(404))
case("taskAcquire_promiseWithoutTask", "§7.9",
     "Acquiring a promise that has no task is 404.",
     acquire("p").expect(404), P)
case("taskAcquire_acquired", "§7.9",
     "Acquiring an acquired task at its version is 409 Task is not pending.",
     acquire("root", 1, pid="p2").expect(409, message="Task is not pending"),
     [createTask("root"), acquire("root")],
     then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL)])
case("taskAcquire_versionMismatch", "§7.9",
     "Acquiring a pending task at another version is 409 Version mismatch.",
     acquire("root", 3).expect(409, message="Version mismatch"),
     [createTask("root")], then=[taskState("root", "pending", 0)])
case("taskAcquire_versionBehind", "§7.9",
     "A stale version (a re-sent execute) is 409 Version mismatch.",
     acquire("root", 0).expect(409, message="Version mismatch"),
     [createTask("root"), acquire("root"), release("root", 1)],
     then=[taskState("root", "pending", 1)])
case("taskAcquire_afterRelease", "§7.9 §7.10",
     "A released task is acquired again at its (unchanged) version: + 1.",
     acquire("root", 1, pid="p2").ok(has(("task",), state="acquired", version=2, pid="p2")),
     [createTask("root"), acquire("root"), release("root", 1)])
for _name, _scene in [
    ("Fulfilled", [createTask("root"), settle("root")]),
    ("Suspended", [createTask("root"), create("root:1"), acquire("root"),
                   suspend("root", 1, "root:1")]),
    ("Halted", [createTask("root"), halt("root")]),
]:
    _version = 1 if _name == "Suspended" else 0
    case(f"taskAcquire_{_name.lower()}", "§7.9",
         f"Acquiring a {_name.lower()} task is 409 Task is not pending.",
         acquire("root", _version).expect(409, message="Task is not pending"), _scene)
case("taskAcquire_timedOutPromise", "§7.9 §8",
     "A task whose promise timed out is fulfilled: acquire is 409.",
     acquire("root").expect(409, message="Task is not pending"),
     [createTask("root", timeoutAt=1)])
case("taskAcquire_clearsResumes", "§7.9 §9.3",
     "Acquiring clears the ready callbacks: resumes 0.",
     acquire("root").ok(has(("task",), resumes=0, version=1)),
     CB + [callback("root:1", "root"), settle("root:1"),
           taskState("root", "pending", 0, resumes=1)],
     then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL)])
case("taskAcquire_preload", "§7.9 §9.5",
     "acquire returns the root's branch as preload, by id, without the root.",
     acquire("root").ok(preloadIds("root:1", "root:2")),
     [createTask("root", tags=rootTags("root")),
      create("root:2", tags=lineage("root", "root", "root")),
      create("root:1", tags=lineage("root", "root", "root")),
      create("root:1.1", tags=lineage("root", "root:1", "root:1"))])
case("taskAcquire_preloadChildBranch", "§9.5",
     "A child task's preload is its own branch (not its parent's).",
     acquire("root:1").ok(preloadIds("root:1.1", "root:1.2")),
     [createTask("root:1", tags=dict(TT, **lineage("root", "root:1", "root"))),
      create("root:1.2", tags=lineage("root", "root:1", "root:1")),
      create("root:1.1", tags=lineage("root", "root:1", "root:1")),
      create("root:2", tags=lineage("root", "root", "root"))])
_ACQ = {"id": "root", "version": 0, "pid": "p1", "ttl": TTL}
for _name, _data in [
    ("IdEmpty", dict(_ACQ, id="")), ("IdMissing", without(_ACQ, "id")),
    ("VersionNegative", dict(_ACQ, version=-1)), ("VersionFloat", dict(_ACQ, version=0.0)),
    ("VersionString", dict(_ACQ, version="0")), ("VersionMissing", without(_ACQ, "version")),
    ("PidEmpty", dict(_ACQ, pid="")), ("PidMissing", without(_ACQ, "pid")),
    ("PidNotString", dict(_ACQ, pid=1)),
    ("TtlZero", dict(_ACQ, ttl=0)), ("TtlFloat", dict(_ACQ, ttl=1.5)),
    ("TtlMissing", without(_ACQ, "ttl")),
]:
    bad(f"taskAcquire_invalid{_name}", "§7.9",
        "An acquire with a bad id, version, pid or ttl is 400 and changes "
        "nothing.",
        rpc("task.acquire", _data), [createTask("root")],
        then=[taskState("root", "pending", 0)])

# §7.10 task.release ------------------------------------------------------------------------

ACQ = [createTask("root"), acquire("root")]
case("taskRelease_acquired", "§7.10",
     "Releasing an acquired task: 200 {}, pending at the same version, no "
     "lease.",
     release("root", 1).ok(EMPTY), ACQ, then=[taskState("root", "pending", 1)])
case("taskRelease_missing", "§7.10", "Releasing an unknown task is 404.",
     release("nope", 1).expect(404))
case("taskRelease_wrongVersion", "§7.10",
     "Releasing at another version is 409.",
     release("root", 0).expect(409), ACQ,
     then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL)])
case("taskRelease_pending", "§7.10",
     "Releasing a task that is not acquired is 409.",
     release("root", 0).expect(409), [createTask("root")])
case("taskRelease_twice", "§7.10",
     "Releasing twice: the second is 409.",
     release("root", 1).expect(409), ACQ + [release("root", 1)])
for _name, _data in [("VersionFloat", {"id": "root", "version": 1.0}),
                     ("VersionMissing", {"id": "root"}),
                     ("IdEmpty", {"id": "", "version": 1})]:
    bad(f"taskRelease_invalid{_name}", "§7.10",
        "A release with a bad id or version is 400.",
        rpc("task.release", _data), ACQ,
        then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL)])

# §7.11 task.fulfill ---------------------------------------------------------------------------

for _state in ("resolved", "rejected", "rejected_canceled"):
    case(f"taskFulfill_{_state}", "§7.11",
         f"Fulfilling an acquired task {_state}: 200 with the settled "
         "promise; the task is fulfilled.",
         fulfill("root", 1, _state, {"data": B64}).ok(
             promiseHas(id="root", state=_state, value={"data": B64}),
             settledNow("promise")),
         ACQ, then=[taskState("root", "fulfilled", 1),
                    promiseState("root", _state, value={"data": B64})])
case("taskFulfill_missing", "§7.11", "Fulfilling an unknown task is 404.",
     fulfill("nope", 1).expect(404))
case("taskFulfill_wrongVersion", "§7.11", "Fulfilling at another version is 409.",
     fulfill("root", 2).expect(409), ACQ,
     then=[promiseState("root", "pending")])
case("taskFulfill_pending", "§7.11", "Fulfilling a task not acquired is 409.",
     fulfill("root", 0).expect(409), [createTask("root")],
     then=[promiseState("root", "pending")])
case("taskFulfill_twice", "§7.11", "Fulfilling twice: the second is 409.",
     fulfill("root", 1).expect(409), ACQ + [fulfill("root", 1)])
case("taskFulfill_promiseTimedOut", "§7.11",
     "A task whose promise timed out is fulfilled already: 409.",
     fulfill("root", 0).expect(409), [createTask("root", timeoutAt=1)])
case("taskFulfill_deletesAwaiterCallbacks", "§7.11",
     "Fulfilling a task deletes the callbacks where it is the awaiter.",
     settle("root:1").ok(),
     ACQ + [create("root:1"), callback("root:1", "root"), fulfill("root", 1)],
     then=[taskState("root", "fulfilled", 1, resumes=0)])
case("taskFulfill_wakesSuspendedAwaiter", "§9.4",
     "Fulfilling a child task settles its promise and wakes the parent "
     "suspended on it: pending, same version, one resume.",
     fulfill("root:1", 1).ok(promiseHas(id="root:1", state="resolved")),
     [createTask("root"), acquire("root"), createTask("root:1"),
      suspend("root", 1, "root:1"), acquire("root:1")],
     then=[taskState("root", "pending", 1, resumes=1),
           taskState("root:1", "fulfilled", 1)])
_FUL = fulfillData("root", 1)
for _name, _data in [
    ("ActionIdDiffers", fulfillData("root", 1, actionId="root:1")),
    ("StatePending", fulfillData("root", 1, "pending")),
    ("StateTimedOut", fulfillData("root", 1, "rejected_timedout")),
    ("ActionMissing", without(_FUL, "action")),
    ("ActionDataMissing", without(_FUL, "action", "data")),
    ("VersionFloat", dict(_FUL, version=1.0)),
    ("VersionMissing", without(_FUL, "version")),
    ("ValueNull", replaced(_FUL, None, "action", "data", "value")),
]:
    bad(f"taskFulfill_invalid{_name}", "§7.11",
        "A fulfill with a bad action (another id, a bad state) or version is "
        "400 and changes nothing.",
        rpc("task.fulfill", _data), ACQ + [create("root:1")],
        then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL),
              promiseState("root", "pending"), promiseState("root:1", "pending")])

# §7.12 task.suspend --------------------------------------------------------------------------

SUS = [createTask("root"), create("root:1"), acquire("root")]
case("taskSuspend_allPending", "§7.12",
     "Every awaited pending: 200 {}, the task suspended at its version, no "
     "lease.",
     suspend("root", 1, "root:1").ok(EMPTY), SUS,
     then=[taskState("root", "suspended", 1)])
case("taskSuspend_several", "§7.12",
     "Several awaited, all pending: 200 {}.",
     suspend("root", 1, "root:1", "root:2").ok(EMPTY), SUS + [create("root:2")],
     then=[taskState("root", "suspended", 1)])
case("taskSuspend_duplicates", "§7.12",
     "Duplicated awaited ids are one: 200 {}.",
     suspend("root", 1, "root:1", "root:1").ok(EMPTY), SUS,
     then=[taskState("root", "suspended", 1)])
case("taskSuspend_awaitedSettled", "§7.12",
     "An awaited already settled: 300 {preload}; the task stays acquired at "
     "the same version with its lease.",
     suspend("root", 1, "root:1").expect(300), SUS + [settle("root:1")],
     then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL)])
case("taskSuspend_awaitedTimedOut", "§7.12 §8",
     "A timed-out awaited counts as settled: 300.",
     suspend("root", 1, "root:2").expect(300), SUS + [create("root:2", timeoutAt=1)],
     then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL)])
case("taskSuspend_someSettledRegistersNothing", "§7.12",
     "One awaited settled, one pending: 300, and no callback is registered "
     "(settling the pending one later resumes nothing).",
     suspend("root", 1, "root:1", "root:2").expect(300), SUS + [create("root:2"),
                                                              settle("root:1")],
     then=[settle("root:2").ok(),
           taskState("root", "acquired", 1, pid="p1", ttl=TTL)])
case("taskSuspend_preload", "§7.12 §9.5",
     "The 300's preload: the promises of the task's branch, by id, "
     "excluding the task's own promise.",
     suspend("root", 1, "root:1").expect(300, preloadIds("root:1", "root:2")),
     [createTask("root", tags=rootTags("root")),
      create("root:2", tags=lineage("root", "root", "root")),
      create("root:1", tags=lineage("root", "root", "root")),
      create("root:1.1", tags=lineage("root", "root:1", "root:1")),
      acquire("root"), settle("root:1")])
case("taskSuspend_preloadWithoutBranch", "§9.5",
     "A task promise without a branch tag has an empty preload.",
     suspend("root", 1, "root:1").expect(300, preloadIds()),
     [createTask("root"), create("root:1", tags=lineage("root", "root", "root")),
      acquire("root"), settle("root:1")])
case("taskSuspend_clearsReadyCallbacks", "§7.12 §9.3",
     "Suspending clears the ready callbacks: resumes 0.",
     suspend("root", 1, "root:2").ok(EMPTY),
     SUS + [create("root:2"), callback("root:1", "root"), settle("root:1"),
            taskState("root", "acquired", 1, resumes=1, pid="p1", ttl=TTL)],
     then=[taskState("root", "suspended", 1, resumes=0)])
case("taskSuspend_redirectClearsReadyCallbacks", "§7.12",
     "A 300 clears the ready callbacks too: resumes 0, still acquired.",
     suspend("root", 1, "root:1").expect(300),
     SUS + [callback("root:1", "root"), settle("root:1"),
            taskState("root", "acquired", 1, resumes=1, pid="p1", ttl=TTL)],
     then=[taskState("root", "acquired", 1, resumes=0, pid="p1", ttl=TTL)])
case("taskSuspend_awaitedMissing", "§7.12",
     "An awaited that does not exist is 422; the task is unchanged.",
     suspend("root", 1, "root:1", "root:9").expect(422), SUS,
     then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL)])
case("taskSuspend_missingTask", "§7.12", "Suspending an unknown task is 404.",
     suspend("nope", 1, "nope:1").expect(404))
case("taskSuspend_wrongVersion", "§7.12", "Suspending at another version is 409.",
     suspend("root", 0, "root:1").expect(409), SUS,
     then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL)])
case("taskSuspend_pending", "§7.12",
     "Suspending a task that is not acquired is 409.",
     suspend("root", 0, "root:1").expect(409), CB,
     then=[taskState("root", "pending", 0)])
case("taskSuspend_suspended", "§7.12",
     "Suspending a suspended task is 409.",
     suspend("root", 1, "root:1").expect(409), SUS + [suspend("root", 1, "root:1")])
for _name, _data, _scene in [
    ("NoActions", suspendData("root", 1), SUS),
    ("ActionsMissing", {"id": "root", "version": 1}, SUS),
    ("AwaiterNotTask", suspendData("root", 1, "root:1", awaiter="root:2"),
     SUS + [createTask("root:2")]),
    ("AwaitedIsTask", suspendData("root", 1, "root"), SUS),
    ("OtherOrigin", suspendData("root", 1, "other"), SUS + [create("other")]),
    ("OneOtherOrigin", suspendData("root", 1, "root:1", "other:1"),
     SUS + [create("other:1")]),
    ("VersionFloat", suspendData("root", 1.0, "root:1"), SUS),
]:
    bad(f"taskSuspend_invalid{_name}", "§7.12",
        "A suspend without actions, with an awaiter other than the task, the "
        "task awaiting itself, or an awaited of another origin is 400.",
        rpc("task.suspend", _data), _scene,
        then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL)])

# §7.13 task.fence -----------------------------------------------------------------------------

CHILD_TAGS = lineage("root", "root", "root")
case("taskFence_create", "§7.13",
     "A fenced create: outer 200 with the inner answer (kind, the outer "
     "corrId, 200, {promise}) and a preload.",
     fenceCreate("root", 1, "root:1", tags=CHILD_TAGS).ok(
         fenceInner(200, promiseHas(id="root:1", state="pending", tags=CHILD_TAGS)),
         equals("promise.create", "action", "kind")),
     ACQ, then=[promiseState("root:1", "pending")])
case("taskFence_createExisting", "§7.13 §19.7",
     "A fenced create of an existing id (a replay) returns the stored "
     "record.",
     fenceCreate("root", 1, "root:1", param={"data": B64_2}).ok(
         fenceInner(200, promiseHas(param={"data": B64}))),
     ACQ + [create("root:1", param={"data": B64})])
case("taskFence_createChildTask", "§7.13",
     "A fenced create with a target gives the child its own pending task.",
     fenceCreate("root", 1, "root:1", tags=dict(TT, **CHILD_TAGS)).ok(fenceInner(200)),
     ACQ, then=[taskState("root:1", "pending", 0)])
case("taskFence_createTimer", "§7.13 §19.8",
     "A fenced durable sleep already past its timeout is resolved, its task "
     "fulfilled.",
     fenceCreate("root", 1, "root:1", timeoutAt=1,
                 tags=dict(TT, **{"resonate:timer": "true"})).ok(
         fenceInner(200, promiseHas(state="resolved"))),
     ACQ, then=[taskState("root:1", "fulfilled", 0)])
case("taskFence_settle", "§7.13",
     "A fenced settle: inner 200 with the settled promise.",
     fenceSettle("root", 1, "root:1", value={"data": B64}).ok(
         fenceInner(200, promiseHas(id="root:1", state="resolved", value={"data": B64})),
         equals("promise.settle", "action", "kind")),
     ACQ + [create("root:1")], then=[promiseState("root:1", "resolved")])
case("taskFence_settleSettled", "§7.13",
     "A fenced settle of a settled promise: inner 200, unchanged.",
     fenceSettle("root", 1, "root:1", "rejected").ok(
         fenceInner(200, promiseHas(state="resolved"))),
     ACQ + [create("root:1"), settle("root:1")])
case("taskFence_settleMissing", "§7.13",
     "A fenced settle of an unknown promise: outer 200, inner 404 with a "
     "string.",
     fenceSettle("root", 1, "root:9").ok(fenceInner(404)), ACQ)
case("taskFence_settleChildTask", "§7.13 §9.4",
     "A fenced settle runs the settlement chain: the child's task is "
     "fulfilled.",
     fenceSettle("root", 1, "root:1").ok(fenceInner(200)),
     ACQ + [createTask("root:1")], then=[taskState("root:1", "fulfilled", 0)])
case("taskFence_preload", "§7.13 §9.5",
     "A fence returns the task's branch as preload.",
     fenceCreate("root", 1, "root:2", tags=CHILD_TAGS).ok(preloadIds("root:1", "root:2")),
     [createTask("root", tags=rootTags("root")), acquire("root"),
      create("root:1", tags=CHILD_TAGS)])
case("taskFence_missingTask", "§7.13",
     "A fence on an unknown task is 404; nothing is created.",
     fenceCreate("nope", 1, "nope:1").expect(404), then=[notFound("nope:1")])
case("taskFence_wrongVersion", "§7.13",
     "A fence at another version is 409 Version mismatch; nothing is "
     "created.",
     fenceCreate("root", 2, "root:1").expect(409, message="Version mismatch"), ACQ,
     then=[notFound("root:1")])
case("taskFence_notAcquired", "§7.13",
     "A fence on a task that is not acquired is 409 Version mismatch; "
     "nothing is settled.",
     fenceSettle("root", 0, "root:1").expect(409, message="Version mismatch"),
     [createTask("root"), create("root:1")],
     then=[promiseState("root:1", "pending")])
case("taskFence_actionHeadOptional", "§7.13",
     "A fence's action.head is optional.",
     rpc("task.fence", without(fenceData("root", 1, "promise.create", createData("root:1")),
                               "action", "head")).ok(fenceInner(200)),
     ACQ, then=[promiseState("root:1", "pending")])
case("taskFence_invalidInnerOnMissingTask", "§7.13 §20",
     "A bad inner action on an unknown task is 400 (the inner action is "
     "checked first, as the SQL server does).",
     rpc("task.fence", replaced(fenceData("nope", 1, "promise.create", createData("nope:1")),
                                1.5, "action", "data", "timeoutAt")).expect(400))
case("taskFence_otherKind", "§7.13",
     "A fence of another kind is 400 Invalid fence action kind.",
     rpc("task.fence", fenceData("root", 1, "promise.get", {"id": "root:1"})).expect(
         400, message="Invalid fence action kind"), ACQ)
_FEN = fenceData("root", 1, "promise.create", createData("root:1"))
for _name, _data in [
    ("ActionIdIsTask", fenceData("root", 1, "promise.create", createData("root"))),
    ("SettleIdIsTask", fenceData("root", 1, "promise.settle", settleData("root"))),
    ("CreateTimeoutFloat", replaced(_FEN, 1.5, "action", "data", "timeoutAt")),
    ("CreateIdEmpty", replaced(_FEN, "", "action", "data", "id")),
    ("CreateLineage", replaced(_FEN, {"resonate:origin": "other"}, "action", "data", "tags")),
    ("CreateInvalidTarget", replaced(_FEN, {TARGET_TAG: "nope"}, "action", "data", "tags")),
    ("SettleStatePending",
     fenceData("root", 1, "promise.settle", settleData("root:1", "pending"))),
    ("ActionMissing", without(_FEN, "action")),
    ("VersionFloat", dict(_FEN, version=1.0)),
]:
    bad(f"taskFence_invalid{_name}", "§7.13",
        "A fence whose inner action does not validate (as promise.create or "
        "promise.settle would not) is 400 and applies nothing.",
        rpc("task.fence", _data), ACQ,
        then=[notFound("root:1"), promiseState("root", "pending")])

# §7.14 task.heartbeat ----------------------------------------------------------------------------

case("taskHeartbeat_held", "§7.14",
     "A heartbeat for a held task: 200 {}; the task stays acquired.",
     heartbeat("p1", ("root", 1)).ok(EMPTY), ACQ,
     then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL)])
case("taskHeartbeat_acrossOrigins", "§7.14 DECISIONS 25",
     "One heartbeat may carry tasks of several origins: 200 {}.",
     heartbeat("p1", ("root", 1), ("other", 1), ("third:1", 0)).ok(EMPTY),
     ACQ + [createTask("other"), acquire("other")],
     then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL),
           taskState("other", "acquired", 1, pid="p1", ttl=TTL)])
case("taskHeartbeat_unknown", "§7.14",
     "Unknown tasks are ignored: 200 {}.",
     heartbeat("p1", ("nope", 0)).ok(EMPTY))
case("taskHeartbeat_notHeld", "§7.14",
     "Tasks held by another pid or at another version are ignored: 200 {}, "
     "unchanged.",
     heartbeat("p2", ("root", 1), ("root", 0)).ok(EMPTY), ACQ,
     then=[taskState("root", "acquired", 1, pid="p1", ttl=TTL)])
case("taskHeartbeat_pendingTask", "§7.14",
     "A heartbeat does not acquire a pending task.",
     heartbeat("p1", ("root", 0)).ok(EMPTY), [createTask("root")],
     then=[taskState("root", "pending", 0)])
_HB = {"pid": "p1", "tasks": [{"id": "root", "version": 1}]}
for _name, _data in [
    ("PidEmpty", dict(_HB, pid="")), ("PidMissing", without(_HB, "pid")),
    ("TasksEmpty", dict(_HB, tasks=[])), ("TasksMissing", without(_HB, "tasks")),
    ("TasksNotList", dict(_HB, tasks={"id": "root", "version": 1})),
    ("EntryVersionFloat", dict(_HB, tasks=[{"id": "root", "version": 1.0}])),
    ("EntryVersionMissing", dict(_HB, tasks=[{"id": "root"}])),
    ("EntryIdMissing", dict(_HB, tasks=[{"version": 1}])),
]:
    bad(f"taskHeartbeat_invalid{_name}", "§7.14 DECISIONS 25",
        "A heartbeat with an empty pid or no tasks (or a malformed entry) is "
        "400.",
        rpc("task.heartbeat", _data), ACQ)

# §7.15 task.halt / task.continue ---------------------------------------------------------------------

case("taskHalt_pending", "§7.15", "Halting a pending task: 200 {}, halted.",
     halt("root").ok(EMPTY), [createTask("root")], then=[taskState("root", "halted", 0)])
case("taskHalt_acquired", "§7.15",
     "Halting an acquired task: halted, no lease, version kept.",
     halt("root").ok(EMPTY), ACQ, then=[taskState("root", "halted", 1),
                                        fulfill("root", 1).expect(409)])
case("taskHalt_suspended", "§7.15", "Halting a suspended task: halted.",
     halt("root").ok(EMPTY), SUS + [suspend("root", 1, "root:1")],
     then=[taskState("root", "halted", 1)])
case("taskHalt_halted", "§7.15", "Halting a halted task again is 200.",
     halt("root").ok(EMPTY), [createTask("root"), halt("root")],
     then=[taskState("root", "halted", 0)])
case("taskHalt_fulfilled", "§7.15", "Halting a fulfilled task is 409.",
     halt("root").expect(409), [createTask("root"), settle("root")],
     then=[taskState("root", "fulfilled", 0)])
case("taskHalt_missing", "§7.15", "Halting an unknown task is 404.",
     halt("nope").expect(404))
case("taskHalt_ignoresResumption", "§7.15",
     "A halted task ignores resumptions: it stays halted, the ready "
     "callback counted in resumes.",
     settle("root:1").ok(), SUS + [suspend("root", 1, "root:1"), halt("root")],
     then=[taskState("root", "halted", 1, resumes=1)])
case("taskContinue_halted", "§7.15",
     "Continuing a halted task: 200 {}, pending at the same version.",
     resume("root").ok(EMPTY), ACQ + [halt("root")],
     then=[taskState("root", "pending", 1), acquire("root", 1).ok()])
case("taskContinue_haltedResumed", "§7.15",
     "A halted task whose awaited settled continues as pending with its "
     "callbacks kept.",
     resume("root").ok(EMPTY),
     SUS + [suspend("root", 1, "root:1"), halt("root"), settle("root:1")],
     then=[taskState("root", "pending", 1, resumes=1)])
for _name, _scene in [("Pending", [createTask("root")]), ("Acquired", ACQ),
                      ("Fulfilled", [createTask("root"), settle("root")]),
                      ("Suspended", SUS + [suspend("root", 1, "root:1")])]:
    case(f"taskContinue_{_name.lower()}", "§7.15",
         f"Continuing a {_name.lower()} task (not halted) is 409.",
         resume("root").expect(409), _scene)
case("taskContinue_missing", "§7.15", "Continuing an unknown task is 404.",
     resume("nope").expect(404))
bad("taskHalt_emptyId", "§7.15", "An empty id is 400.", halt(""))
bad("taskContinue_emptyId", "§7.15", "An empty id is 400.", resume(""))

# §7.16 task.search ----------------------------------------------------------------------------------

TASKS_SCENE = [
    createTask("t1"),
    createTask("t2"), acquire("t2"),
    createTask("t3"), settle("t3"),
    createTask("t4"), halt("t4"),
    createTask("t5"), create("t5:1"), acquire("t5"), suspend("t5", 1, "t5:1"),
    create("p"),
]
case("taskSearch_all", "§7.16",
     "Every task, by id; promises without a task are not tasks.",
     taskSearch().ok(ids("tasks", ["t1", "t2", "t3", "t4", "t5"]), cursor(False)),
     TASKS_SCENE)
for _state, _id in [("pending", "t1"), ("acquired", "t2"), ("fulfilled", "t3"),
                    ("halted", "t4"), ("suspended", "t5")]:
    case(f"taskSearch_state_{_state}", "§7.16",
         f"state {_state}: only {_state} tasks.",
         taskSearch(state=_state).ok(ids("tasks", [_id]), cursor(False)), TASKS_SCENE)
case("taskSearch_limit", "§7.16", "A page of limit tasks, with a cursor.",
     taskSearch(limit=2).ok(ids("tasks", ["t1", "t2"]), cursor(True)), TASKS_SCENE)
case("taskSearch_limitExact", "§7.16", "Exactly limit tasks: no cursor.",
     taskSearch(limit=5).ok(ids("tasks", ["t1", "t2", "t3", "t4", "t5"]), cursor(False)),
     TASKS_SCENE)
case("taskSearch_tagsIgnored", "§7.16 §2",
     "task.search has no tag filter: tags is an unknown member, ignored.",
     taskSearch(tags={"k": "v"}).ok(ids("tasks", ["t1", "t2", "t3", "t4", "t5"])),
     TASKS_SCENE)
case("taskSearch_empty", "§7.16", "No task: an empty page.",
     taskSearch().ok(equals({"tasks": []})), P)
for _name, _data in [("LimitZero", {"limit": 0}), ("LimitTooBig", {"limit": 1001}),
                     ("LimitFloat", {"limit": 2.0}), ("StateUnknown", {"state": "done"}),
                     ("StatePromiseState", {"state": "resolved"}),
                     ("StateUpperCase", {"state": "PENDING"})]:
    bad(f"taskSearch_invalid{_name}", "§7.16",
        "A task search with a bad limit or state is 400.",
        rpc("task.search", _data))

# §7.17-7.19 schedules ------------------------------------------------------------------------------------


def nextRunWithin(period):
    """
    The schedule's nextRunAt is the first multiple of C{period} ms
    strictly after its createdAt (a cron firing every C{period} ms).
    """

    def check(t, data, ctx):
        s = data["schedule"]
        t.assertEqual(s["nextRunAt"] % period, 0, s)
        t.assertTrue(s["createdAt"] < s["nextRunAt"] <= s["createdAt"] + period, s)

    return check


case("scheduleCreate_new", "§7.17 §3",
     "A new schedule: 200 with the record, created now, next run the first "
     "cron time strictly after now, no lastRunAt.",
     schedule("s").ok(
         has(("schedule",), id="s", cron=EVERY_MINUTE, promiseId=PROMISE_TEMPLATE,
             promiseTimeout=HOUR, promiseParam={}, promiseTags=TT, lastRunAt=ABSENT),
         createdNow("schedule"), nextRunWithin(60_000)),
     then=[scheduleGet("s").ok(has(("schedule",), id="s", cron=EVERY_MINUTE))])
case("scheduleCreate_seconds", "§7.17 §12",
     "A 6-field cron has a seconds field: every 5 seconds.",
     schedule("s", cron=EVERY_5_SECONDS).ok(nextRunWithin(5_000)))
case("scheduleCreate_param", "§7.17",
     "promiseParam and promiseTags come back as sent.",
     schedule("s", promiseParam=_PARAM, promiseTags=dict(TT, k="v")).ok(
         has(("schedule",), promiseParam=_PARAM, promiseTags=dict(TT, k="v"))))
case("scheduleCreate_existing", "§7.17",
     "Creating an existing id: 200 with the stored schedule, unchanged.",
     schedule("s", cron=EVERY_5_SECONDS, promiseTimeout=1).ok(sameAs("first", "schedule")),
     [schedule("s").saved("first")])
case("scheduleCreate_targetNotValidated", "§7.17",
     "The target's address is not validated.",
     schedule("s", promiseTags={TARGET_TAG: "nope"}).ok())
case("scheduleCreate_zeroTimeout", "§7.17", "promiseTimeout 0 is allowed.",
     schedule("s", promiseTimeout=0).ok(has(("schedule",), promiseTimeout=0)))
for _name, _id in [("Dot", "my.schedule"), ("Colon", "app:nightly")]:
    case(f"scheduleCreate_id{_name}", "§5 DECISIONS 24",
         f"A schedule id may contain {_name.lower()}s.",
         schedule(_id).ok(has(("schedule",), id=_id)),
         then=[scheduleGet(_id).ok()])
for _name, _tags in [("Other", {"k": "v"}), ("Empty", {}), ("Missing", ABSENT)]:
    bad(f"scheduleCreate_noTarget{_name}", "§7.17",
        "promiseTags without resonate:target is 400 with the reference's "
        "message.",
        schedule("s", promiseTags=_tags),
        then=[scheduleGet("s").expect(404)],
        message="promiseTags must include a resonate:target tag")
for _name, _cron in [("Words", "not a cron"), ("TooFewFields", "* * *"),
                     ("TooManyFields", "* * * * * * * *"),
                     ("MinuteOutOfRange", "60 * * * *"), ("Empty", "")]:
    bad(f"scheduleCreate_invalidCron{_name}", "§7.17 §12",
        f"An invalid cron ({_cron!r}) is 400.",
        schedule("s", cron=_cron), then=[scheduleGet("s").expect(404)])
_SCH = scheduleData("s")
for _name, _data in [
    ("IdEmpty", dict(_SCH, id="")), ("IdMissing", without(_SCH, "id")),
    ("CronMissing", without(_SCH, "cron")),
    ("PromiseIdEmpty", dict(_SCH, promiseId="")),
    ("PromiseIdMissing", without(_SCH, "promiseId")),
    ("TimeoutNegative", dict(_SCH, promiseTimeout=-1)),
    ("TimeoutFloat", dict(_SCH, promiseTimeout=1000.0)),
    ("TimeoutMissing", without(_SCH, "promiseTimeout")),
    ("ParamNotObject", dict(_SCH, promiseParam="x")),
    ("TagsNotStrings", dict(_SCH, promiseTags=dict(TT, k=1))),
]:
    bad(f"scheduleCreate_invalid{_name}", "§7.17",
        "A schedule create with a missing or bad field is 400.",
        rpc("schedule.create", _data), then=[scheduleGet("s").expect(404)])
case("scheduleGet_existing", "§7.18", "Reading a schedule gives its record.",
     scheduleGet("s").ok(sameAs("first", "schedule")), [schedule("s").saved("first")])
case("scheduleGet_missing", "§7.18", "Reading an unknown schedule is 404.",
     scheduleGet("nope").expect(404))
bad("scheduleGet_emptyId", "§7.18", "An empty id is 400.", scheduleGet(""))
case("scheduleDelete_existing", "§7.18",
     "Deleting a schedule: 200 {}; it is gone.",
     scheduleDelete("s").ok(EMPTY), [schedule("s")],
     then=[scheduleGet("s").expect(404), scheduleDelete("s").expect(404)])
case("scheduleDelete_missing", "§7.18", "Deleting an unknown schedule is 404.",
     scheduleDelete("nope").expect(404))
bad("scheduleDelete_emptyId", "§7.18", "An empty id is 400.", scheduleDelete(""))

SCHEDULES_SCENE = [
    schedule(f"s{i:02}", promiseTags=dict(TT, k="v") if i % 3 == 0 else TT)
    for i in range(11)
]
_SIDS = [f"s{i:02}" for i in range(11)]
case("scheduleSearch_defaultLimit", "§7.19",
     "The default page is 10 schedules, by id, with a cursor when more exist.",
     scheduleSearch().ok(ids("schedules", _SIDS[:10]), cursor(True)), SCHEDULES_SCENE)
case("scheduleSearch_limitExact", "§7.19", "Exactly limit schedules: no cursor.",
     scheduleSearch(limit=11).ok(ids("schedules", _SIDS), cursor(False)),
     SCHEDULES_SCENE)
case("scheduleSearch_tags", "§7.19",
     "tags match against promiseTags.",
     scheduleSearch(tags={"k": "v"}).ok(ids("schedules", ["s00", "s03", "s06", "s09"]),
                                        cursor(False)),
     SCHEDULES_SCENE)
case("scheduleSearch_tagsTarget", "§7.19",
     "The target tag is a promiseTag like any other.",
     scheduleSearch(tags=TT, limit=100).ok(ids("schedules", _SIDS)), SCHEDULES_SCENE)
case("scheduleSearch_empty", "§7.19", "No schedule: an empty page.",
     scheduleSearch().ok(equals({"schedules": []})))
for _name, _data in [("LimitZero", {"limit": 0}), ("LimitTooBig", {"limit": 1001}),
                     ("LimitFloat", {"limit": 5.0}), ("TagsNotStrings", {"tags": {"k": 1}})]:
    bad(f"scheduleSearch_invalid{_name}", "§7.19",
        "A schedule search with a bad limit or tags is 400.",
        rpc("schedule.search", _data))

# DECISIONS 23: the v0.5 REST API on the same promises ----------------------------------------------

case("crossProtocol_v05CreateRead2026", "DECISIONS 23",
     "A promise created by v0.5 (POST /promises) is read by promise.get: "
     "the same id, param (base64 data verbatim), tags and timeout.",
     get("v5").ok(promiseHas(id="v5", state="pending", param={"headers": {"a": "b"},
                                                              "data": B64},
                             value={}, tags={"t": "1"}, timeoutAt=LATER)),
     [v05("POST", "/promises", {"id": "v5", "timeout": LATER,
                                "param": {"headers": {"a": "b"}, "data": B64},
                                "tags": {"t": "1"}}, 201)])
case("crossProtocol_v05CompletedRead2026", "DECISIONS 23",
     "A promise completed by v0.5 reads settled in 2026 terms.",
     get("v5").ok(promiseHas(state="rejected_canceled", value={"data": B64})),
     [v05("POST", "/promises", {"id": "v5", "timeout": LATER}, 201),
      v05("PATCH", "/promises/v5", {"state": "REJECTED_CANCELED", "value": {"data": B64}},
          201)])
case("crossProtocol_v05Create2026Settle", "DECISIONS 23",
     "A promise created by v0.5 is settled by promise.settle.",
     settle("v5", value={"data": B64}).ok(promiseHas(state="resolved", value={"data": B64})),
     [v05("POST", "/promises", {"id": "v5", "timeout": LATER}, 201)],
     then=[v05("GET", "/promises/v5", None, 200,
               lambda t, b, c: t.assertEqual((b["state"], b["value"]),
                                             ("RESOLVED", {"data": B64})))])
case("crossProtocol_v05TimerRead2026", "DECISIONS 27",
     "A 2026 timer (resonate:timer) created by v0.5 past its timeout "
     "reads resolved in both protocols.",
     get("v5").ok(promiseHas(state="resolved")),
     [v05("POST", "/promises", {"id": "v5", "timeout": 1,
                                "tags": {"resonate:timer": "true"}}, 201)],
     then=[v05("GET", "/promises/v5", None, 200,
               lambda t, b, c: t.assertEqual(b["state"], "RESOLVED"))])
case("crossProtocol_v05SettleFulfillsTask", "DECISIONS 23 §9.4",
     "A v0.5 PATCH of a 2026 task's promise runs the settlement chain: the "
     "task is fulfilled; its worker's fulfill is then 409.",
     v05("PATCH", "/promises/root", {"state": "RESOLVED", "value": {"data": B64}}, 201),
     ACQ,
     then=[taskState("root", "fulfilled", 1), fulfill("root", 1).expect(409),
           promiseState("root", "resolved", value={"data": B64})])
case("crossProtocol_v05SettleWakesAwaiter", "DECISIONS 23 §9.4",
     "A v0.5 PATCH of a promise a suspended 2026 task awaits wakes the "
     "task: pending, same version, one resume; the child's own task is "
     "fulfilled.",
     v05("PATCH", "/promises/root:1", {"state": "RESOLVED", "value": {"data": B64}}, 201),
     [createTask("root"), acquire("root"), createTask("root:1"),
      suspend("root", 1, "root:1")],
     then=[taskState("root", "pending", 1, resumes=1),
           taskState("root:1", "fulfilled", 0)])
case("crossProtocol_v05Read2026Settled", "DECISIONS 23",
     "v0.5 GET of a promise created and settled by 2026: RESOLVED, value, "
     "tags, createdOn/completedOn/timeout = createdAt/settledAt/timeoutAt.",
     v05("GET", "/promises/p", None, 200,
         lambda t, b, c: t.assertEqual(
             (b["id"], b["state"], b["param"], b["value"], b["tags"], b["timeout"],
              b["createdOn"], b["completedOn"]),
             ("p", "RESOLVED", {"data": B64}, {"data": B64_2}, {"k": "v"}, LATER,
              c.saved["done"]["promise"]["createdAt"],
              c.saved["done"]["promise"]["settledAt"]))),
     [create("p", param={"data": B64}, tags={"k": "v"}),
      settle("p", value={"data": B64_2}).saved("done")])
case("crossProtocol_v05Read2026Pending", "DECISIONS 23",
     "v0.5 GET of a pending 2026 promise: PENDING, no completedOn.",
     v05("GET", "/promises/p", None, 200,
         lambda t, b, c: (t.assertEqual(b["state"], "PENDING"),
                          t.assertNotIn("completedOn", b))),
     P)
case("crossProtocol_v05Read2026TimedOut", "DECISIONS 23 DECISIONS 27",
     "v0.5 GET of a 2026 promise created timed out: REJECTED_TIMEDOUT, "
     "completedOn = timeout.",
     v05("GET", "/promises/p", None, 200,
         lambda t, b, c: t.assertEqual((b["state"], b["completedOn"]),
                                       ("REJECTED_TIMEDOUT", 1))),
     [create("p", timeoutAt=1)])
case("crossProtocol_v05Search2026", "DECISIONS 23",
     "v0.5 search finds promises created by 2026.",
     v05("GET", "/promises?id=x*", None, 200,
         lambda t, b, c: t.assertEqual(sorted(p["id"] for p in b["promises"]),
                                       ["x1", "x2"])),
     [create("x1"), create("x2"), create("y")])
case("crossProtocol_2026Search05", "DECISIONS 23",
     "promise.search finds promises created by v0.5.",
     search().ok(ids("promises", ["v1", "v2"])),
     [v05("POST", "/promises", {"id": "v2", "timeout": LATER}, 201),
      v05("POST", "/promises", {"id": "v1", "timeout": LATER}, 201)])


def _checkNames():
    names = [c.name for c in CASES]
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates, duplicates
    for c in CASES:
        assert c.name.isidentifier(), c.name


_checkNames()


def _makeTest(c):
    async def test(self):
        await self.runCase(c)

    test.__name__ = "test_" + c.name
    test.__qualname__ = "Protocol2026CasesMixin." + test.__name__
    test.__doc__ = f"{c.doc} ({c.section})"
    return test


class Protocol2026CasesMixin(Protocol2026Runner):
    """
    Every row of L{CASES} as its own test method, C{test_<name>}.  Mixed
    into a C{TestCase} with C{startAPI()}.
    """


for _case in CASES:
    setattr(Protocol2026CasesMixin, "test_" + _case.name, _makeTest(_case))
del _case
