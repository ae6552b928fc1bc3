# -*- test-case-name: tests.unit.test_api_protocol2026 -*-
"""
Tests for L{resonate.api.protocol2026}: the readers of every kind's
C{data}, the renderers of the store's L{Reply}, and L{Protocol2026} over a
fake store; and for L{resonate.api.operations.Operations.handle2026}.
"""

import base64
import json
from http import HTTPStatus

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from resonate.api.envelope import Request, Response, parseRequest
from resonate.api.operations import Operations
from resonate.api.protocol2026 import (
    KINDS,
    DEBUG_DISABLED,
    LIMIT_TOO_LARGE,
    DebugStart,
    DebugStop,
    DebugTick,
    Protocol2026,
    authorize,
    bytesToData,
    dataToBytes,
    kindLabel,
    readData,
    renderPromise,
    renderReply,
    renderSchedule,
    renderSnapshot,
    renderTask,
    renderValue,
    resourceIds,
)
from resonate.api.tokens import Principal, TokenVerifier
from resonate.errors import StoreFailure
from resonate.metrics import Metrics
from resonate.model.outbox import OutboxEntry
from resonate.model.promise import CompletePromise, CreatePromise, Promise, State, Value
from resonate.model.requests2026 import (
    ContinueTask,
    DeleteSchedule,
    FenceTask,
    GetPromise,
    GetSchedule,
    GetTask,
    HaltTask,
    RegisterCallback,
    RegisterListener,
    ReleaseTask,
    Reply,
    ResetAll,
    SearchPromises,
    SearchSchedules,
    SearchTasks,
    SettlePromise,
    Snapshot,
    TaskView,
)
from resonate.model.schedule import CreateSchedule, Schedule, checkCron, nextRunTime
from resonate.model.tasks2026 import (
    RETRY_TIMEOUT,
    AcquireTask,
    Callback,
    CreateTask,
    Execute,
    FulfillTask,
    HeartbeatTasks,
    Listener,
    SuspendTask,
    Task,
    TaskAtVersion,
    TaskState,
    Unblock,
)
from resonate.status import Status
from tests.support.jwttools import KeyPair

NOW = 1_700_000_000_000
LATER = NOW + 60_000
TARGET = "poll://any@workers"


def request(kind, data, **head):
    """
    A L{Request} of C{kind} with C{data}, as the envelope reads it.
    """
    body = {
        "kind": kind,
        "head": dict({"corrId": "c1", "version": "2026-04-01"}, **head),
        "data": data,
    }
    parsed = parseRequest(json.dumps(body).encode("utf-8"))
    assert isinstance(parsed, Request), parsed
    return parsed


def action(kind, data, **members):
    """
    An action of C{kind} carrying C{data}, with an empty head.
    """
    return dict({"kind": kind, "head": {}, "data": data}, **members)


def create(promiseId="p", timeoutAt=LATER, **members):
    """
    A C{promise.create}'s data.
    """
    return dict({"id": promiseId, "timeoutAt": timeoutAt}, **members)


class ReadDataTestsMixin:
    """
    Helpers for the reader tests.
    """

    def read(self, kind, data, now=NOW):
        return readData(request(kind, data), now)

    def assertRead(self, kind, data, expected, now=NOW):
        """
        C{data} of C{kind} reads as C{expected}.
        """
        self.assertEqual(self.read(kind, data, now), expected)

    def assertRefused(self, kind, cases):
        """
        Each C{(data, message)} of C{kind} is answered 400 with that string
        message (a prefix when it ends with C{...}), echoing the kind and
        corrId.
        """
        for data, message in cases:
            answer = self.read(kind, data)
            self.assertIsInstance(answer, Response, (kind, data))
            self.assertEqual(
                (answer.kind, answer.corrId, answer.status),
                (kind, "c1", 400),
                (kind, data),
            )
            if message.endswith("..."):
                self.assertTrue(answer.data.startswith(message[:-3]), (data, answer.data))
            else:
                self.assertEqual(answer.data, message, data)


class ValueDataTests(SynchronousTestCase):
    """
    Tests for L{dataToBytes} and L{bytesToData}: canonical base64 is stored
    decoded, anything else as UTF-8, and data always renders as base64.
    """

    def test_canonicalBase64(self):
        """
        Canonical base64 is decoded, and renders as sent.
        """
        for raw in [b"", b"x", b"\x00\xff", bytes(range(256)), b'{"a": 1}']:
            sent = base64.b64encode(raw).decode("ascii")
            self.assertEqual(dataToBytes(sent), raw)
            self.assertEqual(bytesToData(dataToBytes(sent)), sent)

    def test_notBase64(self):
        """
        Any other string is its UTF-8 bytes, and renders as their base64:
        unpadded or non-canonical base64, other alphabets, text.
        """
        for sent in ["hello", "aGVsbG8", "aGVsbG9=", "a-_b", "✓", " aGk=", "aGk=\n"]:
            self.assertEqual(dataToBytes(sent), sent.encode("utf-8"))
            self.assertEqual(
                bytesToData(dataToBytes(sent)),
                base64.b64encode(sent.encode("utf-8")).decode("ascii"),
            )

    def test_none(self):
        """
        No data stays no data.
        """
        self.assertIsNone(dataToBytes(None))
        self.assertIsNone(bytesToData(None))


class PromiseReaderTests(ReadDataTestsMixin, SynchronousTestCase):
    """
    The readers of the C{promise.*} kinds.
    """

    def test_get(self):
        """
        C{promise.get} reads a non-empty string C{id}.
        """
        self.assertRead("promise.get", {"id": "a:b.c", "extra": 1}, GetPromise("a:b.c"))
        self.assertRefused(
            "promise.get",
            [
                ({}, "Invalid request: missing field `id`"),
                ({"id": None}, "Invalid request: invalid type: null, expected a string at `id`"),
                ({"id": 1}, "Invalid request: invalid type: integer `1`, expected a string at `id`"),
                ({"id": True}, "Invalid request: invalid type: boolean `true`, expected a string at `id`"),
                ({"id": ""}, "Promise ID is required"),
                ({"id": "a\x00"}, "id must not contain null bytes"),
            ],
        )

    def test_create(self):
        """
        C{promise.create} reads the id, the timeout, the param (its data
        decoded from base64) and the tags; param and tags may be absent.
        """
        self.assertRead(
            "promise.create",
            create(
                "root",
                param={"headers": {"h": "v"}, "data": "eyJhIjoxfQ=="},
                tags={"resonate:target": TARGET, "k": "v"},
            ),
            CreatePromise(
                id="root",
                timeout=LATER,
                param=Value({"h": "v"}, b'{"a":1}'),
                tags={"resonate:target": TARGET, "k": "v"},
            ),
        )
        self.assertRead(
            "promise.create", create("p", 0), CreatePromise(id="p", timeout=0)
        )

    def test_createTypes(self):
        """
        A misshapen member is a deserialisation problem, named by its path:
        floats (even C{1.0}), booleans and strings where an i64 belongs,
        C{null} param or tags, non-string tags and headers.
        """
        bad = "Invalid request: "
        self.assertRefused(
            "promise.create",
            [
                ({"id": "p"}, bad + "missing field `timeoutAt`"),
                ({"timeoutAt": 1}, bad + "missing field `id`"),
                (create(timeoutAt=1.0), bad + "invalid type: floating point `1.0`, expected i64 at `timeoutAt`"),
                (create(timeoutAt=True), bad + "invalid type: boolean `true`, expected i64 at `timeoutAt`"),
                (create(timeoutAt="1"), bad + 'invalid type: string "1", expected i64 at `timeoutAt`'),
                (create(timeoutAt=2**63), bad + "invalid value: integer `9223372036854775808`, expected i64 at `timeoutAt`"),
                (create(timeoutAt=None), bad + "invalid type: null, expected i64 at `timeoutAt`"),
                (create(param=None), bad + "invalid type: null, expected an object at `param`"),
                (create(param="x"), bad + 'invalid type: string "x", expected an object at `param`'),
                (create(param={"data": 1}), bad + "invalid type: integer `1`, expected a string at `param.data`"),
                (create(param={"headers": {"a": 1}}), bad + "invalid type: integer `1`, expected a string at `param.headers.a`"),
                (create(tags=None), bad + "invalid type: null, expected a map of strings at `tags`"),
                (create(tags={"a": None}), bad + "invalid type: null, expected a string at `tags.a`"),
                (create(tags=[]), bad + "invalid type: sequence, expected a map of strings at `tags`"),
            ],
        )

    def test_createFields(self):
        """
        Field problems are all reported, joined with C{"; "}; the id rules
        and C{resonate:delay} are checked only once the fields are valid.
        """
        self.assertRefused(
            "promise.create",
            [
                (create(""), "Promise ID is required"),
                (create(timeoutAt=-1), "TimeoutAt must be a non-negative integer"),
                (
                    create("", -1, tags={"resonate:origin": "x:y"}),
                    "Promise ID is required; TimeoutAt must be a non-negative integer",
                ),
                (create("x" * 2049), "Promise ID must be at most 2048 bytes of UTF-8"),
            ],
        )
        self.assertEqual(
            self.read("promise.create", create("é" * 1024)).id, "é" * 1024
        )

    def test_createLineage(self):
        """
        Section 5's id rules: the origin (before the first C{:}) has no
        C{:} and prefixes the id; branch and parent are ancestors; no NUL.
        """
        self.assertRefused(
            "promise.create",
            [
                (create("a\x00"), "Promise ID must not contain null bytes"),
                (create("a:1", tags={"resonate:origin": "a:1"}), "resonate:origin must not contain ':'"),
                (create("b:1", tags={"resonate:origin": "a"}), "Promise ID must be prefixed by resonate:origin"),
                (create("a.1", tags={"resonate:origin": "a"}), "Promise ID must be prefixed by resonate:origin"),
                (create("a:10", tags={"resonate:branch": "a:1"}), "Promise ID must be prefixed by resonate:branch"),
                (create("a:1", tags={"resonate:parent": "a:1.2"}), "Promise ID must be prefixed by resonate:parent"),
            ],
        )
        for promiseId, tags in [
            ("my.app.wf", {"resonate:origin": "my.app.wf", "resonate:branch": "my.app.wf"}),
            ("root:1.2", {"resonate:origin": "root", "resonate:branch": "root:1", "resonate:parent": "root"}),
            ("root:1", {"resonate:prefix": "a.b"}),
        ]:
            self.assertEqual(
                self.read("promise.create", create(promiseId, tags=tags)).tags, tags
            )

    def test_createDelay(self):
        """
        C{resonate:delay} is an integer >= 0 below C{timeoutAt}, on a
        promise with a target.
        """
        def tags(delay, target=True):
            found = {"resonate:delay": delay}
            if target:
                found["resonate:target"] = TARGET
            return found

        self.assertRefused(
            "promise.create",
            [
                (create(tags=tags("x")), "resonate:delay must be a non-negative integer"),
                (create(tags=tags("-1")), "resonate:delay must be a non-negative integer"),
                (create(tags=tags("1.5")), "resonate:delay must be a non-negative integer"),
                (create(tags=tags("")), "resonate:delay must be a non-negative integer"),
                (create(tags=tags(" 5")), "resonate:delay must be a non-negative integer"),
                (create(tags=tags(str(2**63))), "resonate:delay must be a non-negative integer"),
                (create(tags=tags(str(LATER))), "resonate:delay must be less than timeoutAt"),
                (create(tags=tags("5", target=False)), "resonate:delay requires a resonate:target tag"),
            ],
        )
        for delay in ["0", "+5", str(LATER - 1)]:
            self.assertEqual(
                self.read("promise.create", create(tags=tags(delay))).tags, tags(delay)
            )

    def test_createTarget(self):
        """
        An invalid C{resonate:target} address is refused, after every
        other rule.
        """
        self.assertRefused(
            "promise.create",
            [
                (create(tags={"resonate:target": "nope"}), "Invalid resonate:target address"),
                (create(tags={"resonate:target": "poll://default"}), "Invalid resonate:target address"),
                (create("", tags={"resonate:target": "nope"}), "Promise ID is required"),
            ],
        )
        for target in ["http://w/x", "poll://uni@g/1", "poll://any@g"]:
            self.assertIsInstance(
                self.read("promise.create", create(tags={"resonate:target": target})),
                CreatePromise,
            )

    def test_settle(self):
        """
        C{promise.settle} reads the id, one of the three settle states and
        an optional value.
        """
        self.assertRead(
            "promise.settle",
            {"id": "p", "state": "rejected_canceled"},
            SettlePromise("p", State.REJECTED_CANCELED, Value()),
        )
        self.assertRead(
            "promise.settle",
            {"id": "p", "state": "resolved", "value": {"data": "AA=="}},
            SettlePromise("p", State.RESOLVED, Value({}, b"\x00")),
        )
        variants = "expected one of `resolved`, `rejected`, `rejected_canceled` at `state`"
        self.assertRefused(
            "promise.settle",
            [
                ({"id": "p"}, "Invalid request: missing field `state`"),
                ({"id": "p", "state": "pending"}, f"Invalid request: unknown variant `pending`, {variants}"),
                ({"id": "p", "state": "rejected_timedout"}, "Invalid request: unknown variant `rejected_timedout`, ..."),
                ({"id": "p", "state": "RESOLVED"}, "Invalid request: unknown variant `RESOLVED`, ..."),
                ({"id": "p", "state": 1}, "Invalid request: invalid type: integer `1`, expected a string at `state`"),
                ({"id": "", "state": "resolved"}, "Promise ID is required"),
                ({"id": "p", "state": "resolved", "value": None}, "Invalid request: invalid type: null, expected an object at `value`"),
            ],
        )

    def test_registerCallback(self):
        """
        C{promise.register_callback}: two non-empty, different ids of one
        origin.
        """
        self.assertRead(
            "promise.register_callback",
            {"awaited": "r:1", "awaiter": "r"},
            RegisterCallback("r:1", "r"),
        )
        self.assertRefused(
            "promise.register_callback",
            [
                ({"awaited": "a"}, "Invalid request: missing field `awaiter`"),
                ({"awaited": "", "awaiter": ""}, "Awaited promise ID is required; Awaiter promise ID is required"),
                ({"awaited": "a", "awaiter": "a"}, "Awaited and awaiter must be different promises"),
                ({"awaited": "a:1", "awaiter": "b"}, "Awaiter and awaited must belong to the same origin"),
            ],
        )

    def test_registerListener(self):
        """
        C{promise.register_listener}: a non-empty id and a valid address.
        """
        self.assertRead(
            "promise.register_listener",
            {"awaited": "p", "address": "poll://uni@g/1"},
            RegisterListener("p", "poll://uni@g/1"),
        )
        self.assertRefused(
            "promise.register_listener",
            [
                ({"awaited": "p"}, "Invalid request: missing field `address`"),
                ({"awaited": "", "address": ""}, "Awaited promise ID is required; Address is required"),
                ({"awaited": "p", "address": "nope"}, "Invalid listener address"),
                ({"awaited": "p", "address": "ftp://x"}, "Invalid listener address"),
            ],
        )

    def test_search(self):
        """
        C{promise.search}: an optional exact state, tags, limit (1 to 1000,
        100 by default; C{null} is absent) and cursor.
        """
        self.assertRead("promise.search", {}, SearchPromises())
        self.assertRead(
            "promise.search",
            {"limit": None, "state": None, "tags": None, "cursor": None},
            SearchPromises(),
        )
        self.assertRead(
            "promise.search",
            {"state": "rejected_timedout", "tags": {"a": "b"}, "limit": 1000, "cursor": "p"},
            SearchPromises(State.REJECTED_TIMEDOUT, {"a": "b"}, 1000, "p"),
        )
        self.assertRead("promise.search", {"limit": 1}, SearchPromises(limit=1))
        self.assertRefused(
            "promise.search",
            [
                ({"limit": 0}, "Limit must be a positive integer"),
                ({"limit": -1}, "Limit must be a positive integer"),
                ({"limit": 1001}, LIMIT_TOO_LARGE),
                ({"limit": 1.5}, "Invalid request: invalid type: floating point `1.5`, expected i64 at `limit`"),
                ({"limit": "10"}, "Invalid request: invalid type: string \"10\", expected i64 at `limit`"),
                ({"state": "Pending"}, "Invalid request: unknown variant `Pending`, ..."),
                ({"state": "acquired"}, "Invalid request: unknown variant `acquired`, ..."),
                ({"tags": {"a": 1}}, "Invalid request: invalid type: integer `1`, expected a string at `tags.a`"),
                ({"cursor": 1}, "Invalid request: invalid type: integer `1`, expected a string at `cursor`"),
            ],
        )


class TaskReaderTests(ReadDataTestsMixin, SynchronousTestCase):
    """
    The readers of the C{task.*} kinds.
    """

    def test_byId(self):
        """
        C{task.get}, C{task.halt} and C{task.continue} read a non-empty id.
        """
        for kind, value in [
            ("task.get", GetTask), ("task.halt", HaltTask), ("task.continue", ContinueTask)
        ]:
            self.assertRead(kind, {"id": "t"}, value("t"))
            self.assertRefused(
                kind,
                [
                    ({}, "Invalid request: missing field `id`"),
                    ({"id": ""}, "Task ID is required"),
                ],
            )

    def taskCreate(self, data=None, **members):
        return dict(
            {
                "pid": "p1",
                "ttl": 60_000,
                "action": action(
                    "promise.create",
                    data if data is not None else create(tags={"resonate:target": TARGET}),
                ),
            },
            **members,
        )

    def test_create(self):
        """
        C{task.create}: a pid, a ttl >= 1 and an action whose data is a
        C{promise.create}'s, with a target and without a delay.
        """
        self.assertRead(
            "task.create",
            self.taskCreate(),
            CreateTask(
                pid="p1",
                ttl=60_000,
                promise=CreatePromise(
                    id="p", timeout=LATER, tags={"resonate:target": TARGET}
                ),
            ),
        )
        self.assertRefused(
            "task.create",
            [
                (self.taskCreate(pid=""), "Process ID is required"),
                (self.taskCreate(ttl=0), "TTL must be a positive integer"),
                (self.taskCreate(pid="", ttl=0), "Process ID is required; TTL must be a positive integer"),
                (self.taskCreate(ttl=1.0), "Invalid request: invalid type: floating point `1.0`, expected i64 at `ttl`"),
                (self.taskCreate(action=None), "Invalid request: invalid type: null, expected an object at `action`"),
                (self.taskCreate(action={"kind": "promise.create", "data": create()}), "Invalid request: missing field `action.head`"),
                (self.taskCreate(action={"head": {}, "data": create()}), "Invalid request: missing field `action.kind`"),
                (self.taskCreate(create(tags={"resonate:target": TARGET}, timeoutAt=None)), "Invalid request: invalid type: null, expected i64 at `action.data.timeoutAt`"),
                (self.taskCreate({"timeoutAt": LATER}), "Invalid request: missing field `action.data.id`"),
                (self.taskCreate(create()), "Action must have a resonate:target tag"),
                (
                    self.taskCreate(create(tags={"resonate:target": TARGET, "resonate:delay": "5"})),
                    "Action must not have a resonate:delay tag",
                ),
                (self.taskCreate(create(tags={"resonate:target": "nope"})), "Invalid resonate:target address"),
                (
                    self.taskCreate(create("b:1", tags={"resonate:target": TARGET, "resonate:origin": "a"})),
                    "Promise ID must be prefixed by resonate:origin",
                ),
                (self.taskCreate(create(""), pid=""), "Process ID is required; Promise ID is required"),
            ],
        )

    def test_acquire(self):
        """
        C{task.acquire}: an id, a version >= 0, a pid and a ttl >= 1.
        """
        data = {"id": "t", "version": 0, "pid": "p", "ttl": 1}
        self.assertRead("task.acquire", data, AcquireTask("t", 0, "p", 1))
        self.assertRefused(
            "task.acquire",
            [
                (dict(data, version=-1), "Version must be a non-negative integer"),
                (dict(data, version=1.0), "Invalid request: invalid type: floating point `1.0`, expected i64 at `version`"),
                (dict(data, version=False), "Invalid request: invalid type: boolean `false`, expected i64 at `version`"),
                (dict(data, ttl=0), "TTL must be a positive integer"),
                (dict(data, pid=""), "Process ID is required"),
                (dict(data, id="", version=-1, pid="", ttl=0), "Task ID is required; Version must be a non-negative integer; Process ID is required; TTL must be a positive integer"),
                ({"id": "t", "version": 0, "pid": "p"}, "Invalid request: missing field `ttl`"),
            ],
        )

    def test_release(self):
        """
        C{task.release}: an id and a version.
        """
        self.assertRead("task.release", {"id": "t", "version": 3}, ReleaseTask("t", 3))
        self.assertRefused(
            "task.release",
            [
                ({"id": "t"}, "Invalid request: missing field `version`"),
                ({"id": "t", "version": -1}, "Version must be a non-negative integer"),
            ],
        )

    def fulfill(self, **settle):
        return {
            "id": "t",
            "version": 1,
            "action": action("promise.settle", dict({"id": "t", "state": "resolved"}, **settle)),
        }

    def test_fulfill(self):
        """
        C{task.fulfill}: the action settles the task's own promise.
        """
        self.assertRead(
            "task.fulfill",
            self.fulfill(value={"data": "AQ=="}),
            FulfillTask("t", 1, State.RESOLVED, Value({}, b"\x01")),
        )
        self.assertRefused(
            "task.fulfill",
            [
                (self.fulfill(id="u"), "Action ID must match the task ID"),
                (self.fulfill(id=""), "Promise ID is required"),
                (self.fulfill(state="pending"), "Invalid request: unknown variant `pending`, ..."),
                (self.fulfill(state=None), "Invalid request: invalid type: null, expected a string at `action.data.state`"),
                ({"id": "t", "version": 1}, "Invalid request: missing field `action`"),
            ],
        )

    def suspend(self, *callbacks, **members):
        return dict(
            {
                "id": "r",
                "version": 1,
                "actions": [
                    action("promise.register_callback", {"awaited": a, "awaiter": w})
                    for a, w in callbacks
                ],
            },
            **members,
        )

    def test_suspend(self):
        """
        C{task.suspend}: at least one action, each a callback from the task
        (awaiter) to another promise of its origin (awaited).
        """
        self.assertRead(
            "task.suspend",
            self.suspend(("r:1", "r"), ("r:2", "r"), ("r:1", "r")),
            SuspendTask("r", 1, ("r:1", "r:2", "r:1")),
        )
        self.assertRefused(
            "task.suspend",
            [
                (self.suspend(), "Actions array cannot be empty"),
                (self.suspend(("r:1", "r:2")), "All action awaiter IDs must match the task ID"),
                (self.suspend(("r:1", "x")), "Awaiter and awaited must belong to the same origin"),
                (self.suspend(("r", "r:1")), "All action awaiter IDs must match the task ID"),
                (self.suspend(("x:1", "r")), "Awaiter and awaited must belong to the same origin"),
                (self.suspend(("r", "r")), "Awaited and awaiter must be different promises"),
                (self.suspend(("", "r"), ("", "r")), "Awaited promise ID is required"),
                (
                    self.suspend(("", "r"), id=""),
                    "Task ID is required; Awaited promise ID is required",
                ),
                (self.suspend(actions=None), "Invalid request: invalid type: null, expected a sequence at `actions`"),
                (self.suspend(actions=[1]), "Invalid request: invalid type: integer `1`, expected an object at `actions.0`"),
                (
                    self.suspend(actions=[{"kind": "k", "data": {"awaited": "r:1", "awaiter": "r"}}]),
                    "Invalid request: missing field `actions.0.head`",
                ),
                (
                    self.suspend(actions=[action("k", {"awaited": "r:1"})]),
                    "Invalid request: missing field `actions.0.data.awaiter`",
                ),
            ],
        )

    def fence(self, kind, data, **members):
        return dict({"id": "r", "version": 1, "action": action(kind, data)}, **members)

    def test_fenceCreate(self):
        """
        C{task.fence} with C{promise.create}: the inner data is read as a
        create's, its deserialisation problems saying C{"Invalid action
        data"}.
        """
        self.assertRead(
            "task.fence",
            self.fence("promise.create", create("r:1", tags={"resonate:target": TARGET})),
            FenceTask(
                "r",
                1,
                CreatePromise(id="r:1", timeout=LATER, tags={"resonate:target": TARGET}),
            ),
        )
        self.assertRead(
            "task.fence",
            {"id": "r", "version": 1, "action": {"kind": "promise.create", "data": create("r:1")}},
            FenceTask("r", 1, CreatePromise(id="r:1", timeout=LATER)),
        )
        self.assertRefused(
            "task.fence",
            [
                (self.fence("promise.create", {"id": "r:1"}), "Invalid action data: missing field `action.data.timeoutAt`"),
                (self.fence("promise.create", create("r:1", timeoutAt=1.5)), "Invalid action data: invalid type: floating point `1.5`, expected i64 at `action.data.timeoutAt`"),
                (self.fence("promise.create", None), "Invalid action data: invalid type: null, expected an object at `action.data`"),
                (self.fence("promise.create", [1]), "Invalid action data: invalid type: sequence, expected an object at `action.data`"),
                (self.fence("promise.create", create("r:1", -1)), "TimeoutAt must be a non-negative integer"),
                (self.fence("promise.create", create("r:1", tags={"resonate:target": "x"})), "Invalid resonate:target address"),
                (self.fence("promise.create", create("r")), "Action ID must not equal the task ID"),
                (self.fence("promise.create", create("r:1"), version=-1), "Version must be a non-negative integer"),
                ({"id": "r", "version": 1, "action": {"kind": "promise.create"}}, "Invalid request: missing field `action.data`"),
            ],
        )

    def test_fenceSettle(self):
        """
        C{task.fence} with C{promise.settle}.
        """
        self.assertRead(
            "task.fence",
            self.fence("promise.settle", {"id": "r:1", "state": "rejected"}),
            FenceTask("r", 1, SettlePromise("r:1", State.REJECTED, Value())),
        )
        self.assertRefused(
            "task.fence",
            [
                (self.fence("promise.settle", {"id": "r:1", "state": "pending"}), "Invalid action data: unknown variant `pending`, ..."),
                (self.fence("promise.settle", {"id": "r", "state": "resolved"}), "Action ID must not equal the task ID"),
            ],
        )

    def test_fenceKind(self):
        """
        Any other action kind is refused, once the outer fields are valid.
        """
        self.assertRefused(
            "task.fence",
            [
                (self.fence("promise.get", {"id": "r:1"}), "Invalid fence action kind"),
                (self.fence("task.fence", {}), "Invalid fence action kind"),
                (self.fence("promise.get", {"id": "r:1"}, id=""), "Task ID is required"),
                (self.fence("promise.get", {"id": "r"}), "Action ID must not equal the task ID"),
                ({"id": "r", "version": 1, "action": {"kind": 1, "data": {}}}, "Invalid request: invalid type: integer `1`, expected a string at `action.kind`"),
            ],
        )

    def test_heartbeat(self):
        """
        C{task.heartbeat}: a pid and at least one task, of any origins
        (DECISIONS 25).
        """
        self.assertRead(
            "task.heartbeat",
            {"pid": "p", "tasks": [{"id": "a", "version": 1}, {"id": "b:1", "version": 2}]},
            HeartbeatTasks("p", (TaskAtVersion("a", 1), TaskAtVersion("b:1", 2))),
        )
        self.assertRefused(
            "task.heartbeat",
            [
                ({"pid": "", "tasks": [{"id": "a", "version": 1}]}, "Process ID is required"),
                ({"pid": "p", "tasks": []}, "Tasks array must not be empty"),
                ({"pid": "", "tasks": []}, "Process ID is required; Tasks array must not be empty"),
                ({"pid": "p", "tasks": [{"id": "a"}]}, "Invalid request: missing field `tasks.0.version`"),
                ({"pid": "p", "tasks": [{"id": "a", "version": 1.0}]}, "Invalid request: invalid type: floating point `1.0`, expected i64 at `tasks.0.version`"),
                ({"pid": "p", "tasks": ["a"]}, "Invalid request: invalid type: string \"a\", expected an object at `tasks.0`"),
            ],
        )

    def test_search(self):
        """
        C{task.search}: an optional task state, limit and cursor.
        """
        self.assertRead("task.search", {}, SearchTasks())
        self.assertRead(
            "task.search",
            {"state": "suspended", "limit": 5, "cursor": "t"},
            SearchTasks(TaskState.SUSPENDED, 5, "t"),
        )
        self.assertRefused(
            "task.search",
            [
                ({"state": "resolved"}, "Invalid request: unknown variant `resolved`, ..."),
                ({"limit": 0}, "Limit must be a positive integer"),
                ({"limit": 1001}, LIMIT_TOO_LARGE),
            ],
        )


class ScheduleReaderTests(ReadDataTestsMixin, SynchronousTestCase):
    """
    The readers of the C{schedule.*} kinds.
    """

    def schedule(self, **members):
        return dict(
            {
                "id": "s",
                "cron": "* * * * *",
                "promiseId": "{{.id}}-{{.timestamp}}",
                "promiseTimeout": 60_000,
                "promiseTags": {"resonate:target": TARGET},
            },
            **members,
        )

    def test_create(self):
        """
        C{schedule.create} reads every member; ids may hold C{.} and C{:}.
        """
        self.assertRead(
            "schedule.create",
            self.schedule(id="a.b:c", promiseParam={"data": "AA=="}),
            CreateSchedule(
                id="a.b:c",
                cron="* * * * *",
                promiseId="{{.id}}-{{.timestamp}}",
                promiseTimeout=60_000,
                promiseParam=Value({}, b"\x00"),
                promiseTags={"resonate:target": TARGET},
            ),
        )

    def test_createRefused(self):
        """
        Field problems, then the target tag, then the cron.
        """
        self.assertRefused(
            "schedule.create",
            [
                (self.schedule(id=""), "Schedule ID is required"),
                (self.schedule(id="s" * 2049), "Schedule ID must be at most 2048 bytes of UTF-8"),
                (self.schedule(cron=""), "Cron expression is required"),
                (self.schedule(promiseId=""), "Promise ID template is required"),
                (self.schedule(promiseTimeout=-1), "Promise timeout must be a non-negative integer"),
                (self.schedule(promiseTimeout=1.0), "Invalid request: invalid type: floating point `1.0`, expected i64 at `promiseTimeout`"),
                (self.schedule(id="", cron="", promiseTags={}), "Schedule ID is required; Cron expression is required"),
                (self.schedule(promiseTags={}), "promiseTags must include a resonate:target tag"),
                (self.schedule(promiseTags={"a": "b"}, cron="x"), "promiseTags must include a resonate:target tag"),
                (self.schedule(cron="x"), "Invalid cron expression"),
                (self.schedule(cron="61 * * * *"), "Invalid cron expression"),
                (self.schedule(cron="* * * * * * * *"), "Invalid cron expression"),
                (self.schedule(cron="* " * 600), "Invalid cron expression"),
                (self.schedule(cron="0 0 12 * * * 2020"), "Invalid cron expression"),
                ({"id": "s"}, "Invalid request: missing field `cron`"),
            ],
        )

    def test_cron(self):
        """
        Cron takes 5 fields (seconds 0), or 6 to 7 with the seconds first
        and an optional year, and fires after now; v0.5's own check keeps
        refusing 7 fields.
        """
        for cron, after, expected in [
            ("* * * * *", 0, 60_000),
            ("*/10 * * * * *", 0, 10_000),
            ("30 * * * * * *", 0, 30_000),
        ]:
            self.assertEqual(
                self.read("schedule.create", self.schedule(cron=cron)).cron, cron
            )
            self.assertEqual(nextRunTime(cron, after) - after % 60_000, expected)
        yearly = "0 0 12 1 1 * 2030"
        self.assertEqual(self.read("schedule.create", self.schedule(cron=yearly)).cron, yearly)
        checkCron("*/10 * * * * *")
        self.assertRaises(Exception, checkCron, "30 * * * * * *")

    def test_byId(self):
        """
        C{schedule.get} and C{schedule.delete} read a non-empty id.
        """
        self.assertRead("schedule.get", {"id": "a:b"}, GetSchedule("a:b"))
        self.assertRead("schedule.delete", {"id": "a.b"}, DeleteSchedule("a.b"))
        for kind in ["schedule.get", "schedule.delete"]:
            self.assertRefused(kind, [({"id": ""}, "Schedule ID is required")])

    def test_search(self):
        """
        C{schedule.search}: limit 10 by default, up to 1000.
        """
        self.assertRead("schedule.search", {}, SearchSchedules())
        self.assertEqual(SearchSchedules().limit, 10)
        self.assertRead(
            "schedule.search",
            {"tags": {"a": "b"}, "limit": 1000, "cursor": "s"},
            SearchSchedules({"a": "b"}, 1000, "s"),
        )
        self.assertRefused(
            "schedule.search",
            [({"limit": 1001}, LIMIT_TOO_LARGE), ({"limit": 0}, "Limit must be a positive integer")],
        )


class DebugReaderTests(ReadDataTestsMixin, SynchronousTestCase):
    """
    The readers of the C{debug.*} kinds, and unknown kinds.
    """

    def test_debug(self):
        """
        The debug kinds read as their operations; C{debug.tick} needs an
        integer C{time}.
        """
        self.assertRead("debug.start", {"x": 1}, DebugStart())
        self.assertRead("debug.stop", {}, DebugStop())
        self.assertRead("debug.reset", {}, ResetAll())
        self.assertRead("debug.snap", {}, Snapshot())
        self.assertRead("debug.tick", {"time": 5}, DebugTick(5))
        self.assertRefused(
            "debug.tick",
            [
                ({}, "Missing or invalid 'time' field"),
                ({"time": 1.0}, "Missing or invalid 'time' field"),
                ({"time": "5"}, "Missing or invalid 'time' field"),
                ({"time": True}, "Missing or invalid 'time' field"),
            ],
        )

    def test_unknown(self):
        """
        A kind that is not in section 7 is an unknown operation.
        """
        self.assertRefused(
            "promise.nope", [({}, "Unknown operation: promise.nope")]
        )
        self.assertEqual(len(KINDS), 26)


def pending(promiseId="p", **members):
    return Promise(
        **dict(
            dict(id=promiseId, state=State.PENDING, timeout=LATER, createdOn=NOW),
            **members,
        )
    )


class RenderTests(SynchronousTestCase):
    """
    Tests for the renderers.
    """

    def test_value(self):
        """
        Headers and data are rendered only when present; data as base64.
        """
        self.assertEqual(renderValue(Value()), {})
        self.assertEqual(renderValue(Value({}, b"")), {"data": ""})
        self.assertEqual(
            renderValue(Value({"a": "b"}, b"\xff")), {"headers": {"a": "b"}, "data": "/w=="}
        )

    def test_promise(self):
        """
        A promise record: lower-case state, C{settledAt} only once settled.
        """
        self.assertEqual(
            renderPromise(pending(tags={"a": "b"}, param=Value({}, b"x"))),
            {
                "id": "p",
                "state": "pending",
                "param": {"data": "eA=="},
                "value": {},
                "tags": {"a": "b"},
                "timeoutAt": LATER,
                "createdAt": NOW,
            },
        )
        for state, name in [
            (State.RESOLVED, "resolved"),
            (State.REJECTED, "rejected"),
            (State.REJECTED_CANCELED, "rejected_canceled"),
            (State.REJECTED_TIMEDOUT, "rejected_timedout"),
        ]:
            rendered = renderPromise(pending(state=state, completedOn=NOW + 1))
            self.assertEqual((rendered["state"], rendered["settledAt"]), (name, NOW + 1))

    def test_task(self):
        """
        A task record: C{ttl} and C{pid} only while acquired.
        """
        acquired = Task("t", TaskState.ACQUIRED, 2, TARGET, pid="p", ttl=5, timeoutAt=NOW)
        self.assertEqual(
            renderTask(TaskView(acquired, 1)),
            {"id": "t", "state": "acquired", "version": 2, "resumes": 1, "ttl": 5, "pid": "p"},
        )
        for state in TaskState:
            if state is not TaskState.ACQUIRED:
                self.assertEqual(
                    renderTask(TaskView(Task("t", state, 0, TARGET))),
                    {"id": "t", "state": state.value, "version": 0, "resumes": 0},
                )

    def test_schedule(self):
        """
        A schedule record: C{lastRunAt} only after the first firing.
        """
        schedule = Schedule(
            id="s",
            cron="* * * * *",
            promiseId="{{.id}}",
            promiseTimeout=10,
            nextRunTime=NOW + 60_000,
            createdOn=NOW,
            promiseTags={"resonate:target": TARGET},
        )
        rendered = {
            "id": "s",
            "cron": "* * * * *",
            "promiseId": "{{.id}}",
            "promiseTimeout": 10,
            "promiseParam": {},
            "promiseTags": {"resonate:target": TARGET},
            "createdAt": NOW,
            "nextRunAt": NOW + 60_000,
        }
        self.assertEqual(renderSchedule(schedule), rendered)
        fired = Schedule(**dict(schedule.__dict__, lastRunTime=NOW))
        self.assertEqual(renderSchedule(fired), dict(rendered, lastRunAt=NOW))

    def render(self, kind, reply, data=None):
        return renderReply(request(kind, data or {}), reply)

    def test_error(self):
        """
        An error answers its status with its message as a plain string.
        """
        answer = self.render("task.acquire", Reply(HTTPStatus.CONFLICT, "Version mismatch"))
        self.assertEqual((answer.status, answer.data), (409, "Version mismatch"))
        answer = self.render("promise.get", Reply(HTTPStatus.NOT_FOUND))
        self.assertEqual((answer.status, answer.data), (404, "Not Found"))

    def test_kinds(self):
        """
        Each kind answers its shape.
        """
        promise = pending()
        view = TaskView(Task("p", TaskState.ACQUIRED, 1, TARGET, pid="w", ttl=9))
        record = renderPromise(promise)
        for kind in [
            "promise.get", "promise.create", "promise.settle",
            "promise.register_callback", "promise.register_listener", "task.fulfill",
        ]:
            self.assertEqual(self.render(kind, Reply(promise=promise)).data, {"promise": record})
        for kind in [
            "task.release", "task.heartbeat", "task.halt", "task.continue",
            "schedule.delete", "debug.start", "debug.stop", "debug.reset",
        ]:
            self.assertEqual(self.render(kind, Reply()).data, {})
        self.assertEqual(self.render("debug.tick", Reply()).data, [])
        self.assertEqual(self.render("task.get", Reply(task=view)).data, {"task": renderTask(view)})
        for kind in ["task.create", "task.acquire"]:
            self.assertEqual(
                self.render(kind, Reply(task=view, promise=promise, preload=(pending("q"),))).data,
                {"task": renderTask(view), "promise": record, "preload": [renderPromise(pending("q"))]},
            )
            self.assertEqual(
                self.render(kind, Reply(task=view, promise=promise)).data["preload"], []
            )

    def test_searches(self):
        """
        A page carries C{cursor} only when there is a next page.
        """
        view = TaskView(Task("t", TaskState.PENDING, 0, TARGET))
        self.assertEqual(
            self.render("promise.search", Reply(promises=(pending(),), cursor="p")).data,
            {"promises": [renderPromise(pending())], "cursor": "p"},
        )
        self.assertEqual(self.render("promise.search", Reply(promises=())).data, {"promises": []})
        self.assertEqual(
            self.render("task.search", Reply(tasks=(view,))).data,
            {"tasks": [renderTask(view)]},
        )
        self.assertEqual(
            self.render("schedule.search", Reply(schedules=(), cursor="s")).data,
            {"schedules": [], "cursor": "s"},
        )

    def test_suspend(self):
        """
        C{task.suspend} answers C{{}}, or 300 with the preload.
        """
        self.assertEqual(self.render("task.suspend", Reply()).data, {})
        answer = self.render(
            "task.suspend", Reply(HTTPStatus.MULTIPLE_CHOICES, preload=(pending(),))
        )
        self.assertEqual(
            (answer.status, answer.data), (300, {"preload": [renderPromise(pending())]})
        )

    def test_fence(self):
        """
        C{task.fence} answers the inner envelope (the inner kind, the outer
        corrId, the inner status) and the preload; a settle of a missing
        promise is an inner 404 with a string.
        """
        data = {"id": "r", "version": 1, "action": action("promise.settle", {"id": "r:1"})}
        answer = self.render(
            "task.fence",
            Reply(action=Reply(HTTPStatus.NOT_FOUND, "Promise not found"), preload=()),
            data,
        )
        self.assertEqual(answer.status, 200)
        self.assertEqual(
            answer.data,
            {
                "action": {
                    "kind": "promise.settle",
                    "head": {"corrId": "c1", "status": 404, "version": "2026-04-01"},
                    "data": "Promise not found",
                },
                "preload": [],
            },
        )
        data["action"]["kind"] = "promise.create"
        answer = self.render(
            "task.fence",
            Reply(action=Reply(promise=pending("r:1")), preload=(pending("r:1"),)),
            data,
        )
        self.assertEqual(
            answer.data["action"],
            {
                "kind": "promise.create",
                "head": {"corrId": "c1", "status": 200, "version": "2026-04-01"},
                "data": {"promise": renderPromise(pending("r:1"))},
            },
        )
        self.assertEqual(answer.data["preload"], [renderPromise(pending("r:1"))])

    def test_snapshot(self):
        """
        C{debug.snap} answers section 7.20's members.
        """
        settled = pending("a", state=State.RESOLVED, completedOn=NOW)
        task = Task("b", TaskState.PENDING, 0, TARGET, timeoutAt=NOW + 5)
        reply = Reply(
            promises=(pending("b"), settled),
            tasks=(TaskView(task),),
            callbacks=(Callback("a", "b", ready=True), Callback("c", "b")),
            listeners=(Listener("b", "poll://uni@g/1"),),
            messages=(
                OutboxEntry(2, Unblock("a", "poll://uni@g/1"), NOW),
                OutboxEntry(1, Execute("b", 0, TARGET), NOW),
            ),
        )
        self.assertEqual(
            renderSnapshot(reply),
            {
                "promises": [renderPromise(settled), renderPromise(pending("b"))],
                "promiseTimeouts": [{"id": "b", "timeout": LATER}],
                "callbacks": [{"awaiter": "b", "awaited": "c"}],
                "listeners": [{"id": "b", "address": "poll://uni@g/1"}],
                "tasks": [renderTask(TaskView(task))],
                "taskTimeouts": [{"id": "b", "type": 0, "timeout": NOW + 5}],
                "messages": [
                    {
                        "address": TARGET,
                        "message": {
                            "kind": "execute",
                            "head": {},
                            "data": {"task": {"id": "b", "version": 0}},
                        },
                    },
                    {
                        "address": "poll://uni@g/1",
                        "message": {
                            "kind": "unblock",
                            "head": {},
                            "data": {"promise": renderPromise(settled)},
                        },
                    },
                ],
            },
        )
        self.assertEqual(
            self.render("debug.snap", Reply()).data,
            {
                "promises": [], "promiseTimeouts": [], "callbacks": [], "listeners": [],
                "tasks": [], "taskTimeouts": [], "messages": [],
            },
        )

    def test_kindLabel(self):
        """
        Known kinds are their own metrics label; any other is C{unknown}.
        """
        self.assertEqual(kindLabel("task.fence"), "task.fence")
        self.assertEqual(kindLabel("whatever"), "unknown")
        self.assertEqual(kindLabel("unknown"), "unknown")


class FakeStore:
    """
    A store that answers C{handle2026} with canned replies, and records
    every call.

    @ivar answers: what the next calls answer: a L{Reply}, an exception to
        fail with, or a C{Deferred}; a L{Reply} of 200 when empty.
    """

    def __init__(self):
        self.calls = []
        self.answers = []

    def handle2026(self, request, now, retryTimeout=RETRY_TIMEOUT):
        self.calls.append(("handle2026", request, now, retryTimeout))
        return self._answer()

    def completePromise(self, request, now, retryTimeout=RETRY_TIMEOUT):
        self.calls.append(("completePromise", request, now, retryTimeout))
        return self._answer()

    def ping(self):
        return succeed(None)

    def _answer(self):
        answer = self.answers.pop(0) if self.answers else Reply()
        if isinstance(answer, Exception):
            return fail(answer)
        if isinstance(answer, Deferred):
            return answer
        return succeed(answer)


class FakeDebug:
    """
    A debug control that records what it is asked.
    """

    def __init__(self):
        self.calls = []

    def pause(self):
        self.calls.append("pause")
        return succeed(None)

    def resume(self):
        self.calls.append("resume")

    def tick(self, time):
        self.calls.append(("tick", time))
        return succeed(None)


def body(kind, data, **head):
    return json.dumps(
        {"kind": kind, "head": dict({"corrId": "c1", "version": "2026-04-01"}, **head), "data": data}
    ).encode("utf-8")


class Protocol2026Tests(SynchronousTestCase):
    """
    Tests for L{Protocol2026} over L{Operations} and a fake store.
    """

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(NOW / 1000)
        self.store = FakeStore()
        self.metrics = Metrics(timer=self.clock.seconds)
        self.woken = []
        self.operations = Operations(
            self.store,
            self.clock,
            2,
            metrics=self.metrics,
            retryTimeout=7_000,
            onScheduleCreated=lambda: self.woken.append(True),
        )

    def protocol(self, debug=None):
        return Protocol2026(self.operations, self.metrics, debug)

    def answer(self, data, debug=None):
        """
        The L{Response} to the body C{data}, answered at once.
        """
        return self.successResultOf(self.protocol(debug).handle(data))

    def test_store(self):
        """
        A valid request runs on the store with the clock's now and the
        retry timeout, and its reply is rendered.
        """
        self.store.answers.append(Reply(promise=pending()))
        answer = self.answer(body("promise.get", {"id": "p"}))
        self.assertEqual(
            answer, Response("promise.get", "c1", 200, {"promise": renderPromise(pending())})
        )
        self.assertEqual(self.store.calls, [("handle2026", GetPromise("p"), NOW, 7_000)])

    def test_envelopeErrors(self):
        """
        Envelope and data errors are answered without the store.
        """
        self.assertEqual(self.answer(b"nope").status, 400)
        self.assertEqual(self.answer(body("promise.get", {})).status, 400)
        self.assertEqual(
            self.answer(body("x.y", {})), Response("x.y", "c1", 400, "Unknown operation: x.y")
        )
        self.assertEqual(self.store.calls, [])

    def test_debugDisabled(self):
        """
        Without a debug control every C{debug.*} is 403 and
        C{resonate:debug_time} is ignored.
        """
        for kind in ["debug.start", "debug.stop", "debug.reset", "debug.snap", "debug.tick"]:
            self.assertEqual(
                self.answer(body(kind, {"time": 1})),
                Response(kind, "c1", 403, "Debug operations are disabled"),
            )
        self.store.answers.append(Reply(promise=pending()))
        self.answer(body("promise.get", {"id": "p"}, **{"resonate:debug_time": 5}))
        self.assertEqual(self.store.calls, [("handle2026", GetPromise("p"), NOW, 7_000)])

    def test_debug(self):
        """
        With a debug control, start, stop and tick call it; reset and snap
        go to the store; C{resonate:debug_time} is the request's now.
        """
        debug = FakeDebug()
        self.assertEqual(self.answer(body("debug.start", {}), debug).data, {})
        self.assertEqual(self.answer(body("debug.stop", {}), debug).data, {})
        self.assertEqual(self.answer(body("debug.tick", {"time": 9}), debug).data, [])
        self.assertEqual(
            self.answer(body("debug.tick", {"time": 9}, **{"resonate:debug_time": 8}), debug),
            Response("debug.tick", "c1", 400, "resonate:debug_time must equal data.time"),
        )
        self.assertEqual(debug.calls, ["pause", "resume", ("tick", 9)])
        self.answer(body("debug.reset", {}), debug)
        self.answer(body("debug.snap", {}), debug)
        self.store.answers.append(Reply(promise=pending()))
        self.answer(body("promise.get", {"id": "p"}, **{"resonate:debug_time": 5}), debug)
        self.assertEqual(
            self.store.calls,
            [
                ("handle2026", ResetAll(), NOW, 7_000),
                ("handle2026", Snapshot(), NOW, 7_000),
                ("handle2026", GetPromise("p"), 5, 7_000),
            ],
        )

    def test_storeFailure(self):
        """
        A store failure, a full queue and shutdown answer 503 with their
        message (DECISIONS 28); anything else 500.
        """
        self.store.answers.append(StoreFailure("the database is gone"))
        self.assertEqual(
            self.answer(body("promise.get", {"id": "p"})),
            Response("promise.get", "c1", 503, "the database is gone"),
        )
        self.store.answers.append(RuntimeError("bug"))
        self.assertEqual(
            self.answer(body("promise.get", {"id": "p"})),
            Response("promise.get", "c1", 500, "Internal error"),
        )
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        # A reply the kind cannot render (a store bug) is a 500 too.
        self.store.answers.append(Reply())
        self.assertEqual(
            self.answer(body("promise.get", {"id": "p"})),
            Response("promise.get", "c1", 500, "Internal error"),
        )
        self.assertEqual(len(self.flushLoggedErrors(AttributeError)), 1)
        waiting = [Deferred(), Deferred()]
        self.store.answers.extend(waiting)
        protocol = self.protocol()
        first = protocol.handle(body("promise.get", {"id": "p"}))
        protocol.handle(body("promise.get", {"id": "p"}))
        full = self.successResultOf(protocol.handle(body("promise.get", {"id": "p"})))
        self.assertEqual((full.status, full.data), (503, Status.API_SUBMISSION_QUEUE_FULL.message))
        for d in waiting:
            d.callback(Reply(promise=pending()))
        self.assertEqual(self.successResultOf(first).status, 200)
        self.operations.stop()
        stopping = self.answer(body("promise.get", {"id": "p"}))
        self.assertEqual((stopping.status, stopping.data), (503, Status.SHUTTING_DOWN.message))

    def test_scheduleWakes(self):
        """
        A schedule created (or found) wakes the scheduler; a refused one
        does not.
        """
        data = {
            "id": "s", "cron": "* * * * *", "promiseId": "x", "promiseTimeout": 0,
            "promiseTags": {"resonate:target": TARGET},
        }
        schedule = Schedule("s", "* * * * *", "x", 0, LATER, NOW)
        self.store.answers.append(Reply(schedule=schedule))
        self.assertEqual(self.answer(body("schedule.create", data)).status, 200)
        self.assertEqual(self.woken, [True])
        self.store.answers.append(Reply(HTTPStatus.BAD_REQUEST, "no"))
        self.answer(body("schedule.create", data))
        self.assertEqual(self.woken, [True])

    def test_authRefusals(self):
        """
        With a verifier, a request without a valid C{head.auth} is 401
        before anything else (the debug switch, the kind, the data), one
        its principal may not make 403; neither reaches the store, and both
        are counted by kind and status.
        """
        keys = KeyPair("ed25519")
        protocol = Protocol2026(
            self.operations, self.metrics, tokens=TokenVerifier(keys.publicPEM)
        )
        teamA = keys.token(prefix="a/")
        for data, expected in [
            (body("promise.get", {"id": "a/1"}), (401, "Unauthorized")),
            (body("debug.snap", {}, auth="x"), (401, "Unauthorized")),
            (body("no.such", {}, auth=keys.token(expiresIn=-1)), (401, "Unauthorized")),
            (body("promise.get", {"id": "b/1"}, auth=teamA), (403, "Forbidden")),
            (body("debug.snap", {}, auth=teamA), (403, "Forbidden")),
            (body("no.such", {"id": "a/1"}, auth=teamA), (403, "Forbidden")),
        ]:
            response = self.successResultOf(protocol.handle(data))
            self.assertEqual((response.status, response.data), expected, data)
        self.assertEqual(self.store.calls, [])
        response = self.successResultOf(
            protocol.handle(body("debug.snap", {}, auth=keys.token(role="admin")))
        )
        self.assertEqual((response.status, response.data), (403, DEBUG_DISABLED))
        text = self.metrics.exposition().decode("utf-8")
        self.assertIn('resonate_request_total{kind="promise.get",status="401"} 1.0', text)
        self.assertIn('resonate_request_total{kind="promise.get",status="403"} 1.0', text)
        self.assertIn('resonate_request_total{kind="unknown",status="403"} 1.0', text)
        self.assertIn('resonate_request_total{kind="debug.snap",status="403"} 2.0', text)

    def test_metrics(self):
        """
        Every answer is counted by kind and HTTP status; unknown and
        unreadable kinds under one label.
        """
        self.store.answers.append(Reply(HTTPStatus.NOT_FOUND, "Promise not found"))
        self.answer(body("promise.get", {"id": "p"}))
        self.answer(body("promise.get", {"id": ""}))
        self.answer(body("no.such.kind", {}))
        self.answer(body("another.kind", {}))
        self.answer(b"{")
        text = self.metrics.exposition().decode("utf-8")
        self.assertIn('resonate_request_total{kind="promise.get",status="404"} 1.0', text)
        self.assertIn('resonate_request_total{kind="promise.get",status="400"} 1.0', text)
        self.assertIn('resonate_request_total{kind="unknown",status="400"} 3.0', text)
        self.assertIn('resonate_request_duration_seconds_count{kind="promise.get"} 2.0', text)
        self.assertNotIn("no.such.kind", text)


class SchedulePromisesMetricTests(SynchronousTestCase):
    """
    Tests for L{Metrics.schedulePromisesFired}.
    """

    def test_counted(self):
        """
        C{resonate_schedule_promises_total} starts at 0 and adds what it is
        given.
        """
        metrics = Metrics()
        line = "resonate_schedule_promises_total {}"
        self.assertIn(line.format("0.0"), metrics.exposition().decode("utf-8"))
        metrics.schedulePromisesFired(2)
        metrics.schedulePromisesFired(0)
        metrics.schedulePromisesFired(1)
        self.assertIn(line.format("3.0"), metrics.exposition().decode("utf-8"))


class OperationsRetryTimeoutTests(SynchronousTestCase):
    """
    Tests for the retry timeout L{Operations} hands the store.
    """

    def test_default(self):
        """
        By default it is the model's C{RETRY_TIMEOUT}.
        """
        clock = Clock()
        store = FakeStore()
        operations = Operations(store, clock, 1)
        self.assertEqual(operations.retryTimeout, RETRY_TIMEOUT)
        self.successResultOf(operations.handle2026(GetTask("t"), 5))
        self.assertEqual(store.calls, [("handle2026", GetTask("t"), 5, RETRY_TIMEOUT)])

    def test_completePromise(self):
        """
        A v0.5 completion runs the 2026 settlement chain, so it gets the
        retry timeout too.
        """
        clock = Clock()
        clock.advance(10)
        store = FakeStore()
        operations = Operations(store, clock, 1, retryTimeout=5)
        complete = CompletePromise("p", State.RESOLVED)
        self.successResultOf(operations.completePromise(complete))
        self.assertEqual(store.calls, [("completePromise", complete, 10_000, 5)])


class AuthorizeTests(SynchronousTestCase):
    """
    Tests for L{resourceIds} and L{authorize}: which ids a request names,
    and which principals may make it (protocol section 14).
    """

    def test_resourceIds(self):
        """
        Section 14's resource id of each kind, and every other id the
        request names; L{None} for kinds that name none.
        """
        fence = {"id": "t", "action": {"data": {"id": "c"}}}
        suspend = {"id": "t", "actions": [{"data": {"awaited": "a"}},
                                          {"data": {"awaited": "b"}}]}
        cases = [
            ("promise.get", {"id": "p"}, ["p"]),
            ("promise.register_callback", {"awaited": "a", "awaiter": "b"}, ["a", "b"]),
            ("promise.register_listener", {"awaited": "a", "address": "x"}, ["a"]),
            ("task.create", {"action": {"data": {"id": "c"}}}, ["c"]),
            ("task.fence", fence, ["t", "c"]),
            ("task.suspend", suspend, ["t", "a", "b"]),
            ("task.heartbeat", {"tasks": [{"id": "a"}, {"id": "b"}]}, ["a", "b"]),
            ("task.heartbeat", {"tasks": []}, [None]),
            ("task.heartbeat", {"tasks": "a"}, [None]),
            ("schedule.create", {"id": "s", "promiseId": "p-{{.id}}"}, ["p-{{.id}}"]),
            ("schedule.delete", {"id": "s"}, ["s"]),
            ("task.create", {"action": [1]}, [None]),
            ("promise.search", {"tags": {"resonate:origin": "a"}}, None),
            ("debug.snap", {}, None),
            ("no.such", {"id": "a"}, None),
        ]
        for kind, data, expected in cases:
            self.assertEqual(resourceIds(kind, data), expected, kind)

    def test_authorize(self):
        """
        An admin may make any request; prefix C{""} any but C{debug.*}; a
        prefix those whose every id starts with it, and no search; no
        prefix nothing.
        """
        admin = Principal(admin=True)
        everything = Principal(prefix="")
        teamA = Principal(prefix="a/")
        nothing = Principal()
        get = request("promise.get", {"id": "a/1"})
        other = request("promise.get", {"id": "b/1"})
        search = request("promise.search", {})
        debug = request("debug.snap", {})
        heartbeat = request("task.heartbeat", {"tasks": [{"id": "a/1"}, {"id": "b/1"}]})
        self.assertEqual(
            [[authorize(p, r) for r in (get, other, search, debug, heartbeat)]
             for p in (admin, everything, teamA, nothing)],
            [[True, True, True, True, True],
             [True, True, True, False, True],
             [True, False, False, False, False],
             [False, False, False, False, False]],
        )
