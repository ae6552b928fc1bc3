# -*- test-case-name: tests.test_api_http -*-
"""
The HTTP API over real sockets on 127.0.0.1: every row of the contract's
status-code tables, the error envelope, validation, search and the limits.

The table in L{CASES} is data: each case sets the scene with plain requests,
then sends one request and checks the status, the error code and fields of
the body.  L{HTTPAPITestsMixin} runs it against a store; it is run against
every store provider below.
"""

import base64
import json

from twisted.internet.defer import Deferred
from twisted.trial import unittest

from resonate.model.routing import Route
from resonate.model.schedule import nextRunTime
from resonate.store.memory import MemoryStore
from tests.apitools import NOW, LiveAPI

LATER = NOW + 60_000
B64 = base64.b64encode(b"hello").decode()
EVERY_MINUTE = "* * * * *"
PROMISE_TEMPLATE = "p.{{.id}}.{{.timestamp}}"
#: The routes of the case table: promises "jobs/..." get a task.
ROUTES = [Route("jobs", "/jobs/*", "workers", "q")]


def forgedCursor(**claims):
    """
    A cursor that carries C{claims}, as a client could make one.
    """
    raw = json.dumps(claims).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def create(promiseId, timeout=LATER, ikey=None, strict=None, **fields):
    return ("create", promiseId, dict(timeout=timeout, ikey=ikey, strict=strict, **fields))


def complete(promiseId, state, ikey=None, strict=None, **fields):
    return ("complete", promiseId, dict(state=state, ikey=ikey, strict=strict, **fields))


def read(promiseId):
    return ("read", promiseId, {})


def at(ms):
    return ("now", ms, {})


def acquire(resourceId, executionId, processId="process", expiry=1000, **fields):
    return ("post", "/locks/acquire",
            dict(resourceId=resourceId, processId=processId, executionId=executionId,
                 expiryInMilliseconds=expiry, **fields))


def release(resourceId, executionId):
    return ("post", "/locks/release",
            {"resourceId": resourceId, "executionId": executionId})


def heartbeat(processId):
    return ("post", "/locks/heartbeat", {"processId": processId})


def lockBody(**fields):
    """
    An acquire body: a valid one, changed by C{fields}; a field given as
    L{None} is left out.
    """
    body = {"resourceId": "r", "processId": "p", "executionId": "e",
            "expiryInMilliseconds": 1000}
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


def scheduleBody(**fields):
    """
    A schedule create body: a valid one, changed by C{fields}; a field
    given as L{None} is left out.
    """
    body = {"id": "s", "cron": EVERY_MINUTE, "promiseId": PROMISE_TEMPLATE,
            "promiseTimeout": 60_000}
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


def createSchedule(scheduleId="s", ikey=None, **fields):
    headers = {"idempotency-key": ikey} if ikey is not None else {}
    return ("post", "/schedules", scheduleBody(id=scheduleId, **fields), headers)


def readSchedule(scheduleId):
    return ("get", "/schedules/" + scheduleId)


def deleteSchedule(scheduleId):
    return ("delete", "/schedules/" + scheduleId)


def dispatch():
    """
    One millisecond later, offer every dispatchable task (a new counter).
    """
    return ("dispatch", None, {})


def taskBody(**fields):
    """
    A claim body for "jobs/1": a valid one, changed by C{fields}; a field
    given as L{None} is left out.
    """
    body = {"taskId": "jobs/1", "counter": 1, "processId": "p1",
            "executionId": "e1", "expiryInMilliseconds": 1000}
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


def completeTaskBody(**fields):
    """
    A task complete body for "jobs/1": a valid one, changed by C{fields};
    a field given as L{None} is left out.
    """
    body = {"taskId": "jobs/1", "counter": 1, "executionId": "e1",
            "state": "resolved", "value": {"data": B64}}
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


def claimTask(**fields):
    return ("post", "/tasks/claim", taskBody(**fields))


def completeTask(**fields):
    return ("post", "/tasks/complete", completeTaskBody(**fields))


#: A routed promise, offered once (counter 1) at NOW + 1.
OFFERED = [create("jobs/1"), dispatch()]
#: ... and claimed by execution e1 with a 1000 ms lease.
CLAIMED = OFFERED + [claimTask()]


# name, scene, request, expected HTTP code, expected error code or None,
# expected body fields (for successes).
CASES = [
    # POST /promises
    ("create new", [], create("p", ikey="ik"), 201, None,
     {"id": "p", "state": "PENDING", "timeout": LATER, "createdOn": NOW,
      "idempotencyKeyForCreate": "ik", "param": {}, "value": {}}),
    ("create new without key", [], create("p"), 201, None,
     {"state": "PENDING", "param": {}, "value": {}}),
    ("create pending, same key", [create("p", ikey="ik")],
     create("p", ikey="ik"), 200, None, {"state": "PENDING"}),
    ("create pending, same key, strict", [create("p", ikey="ik")],
     create("p", ikey="ik", strict=True), 200, None, {"state": "PENDING"}),
    ("create pending, other key", [create("p", ikey="ik")],
     create("p", ikey="other"), 409, 4090, None),
    ("create pending, no key on request", [create("p", ikey="ik")],
     create("p"), 409, 4090, None),
    ("create pending, no key stored", [create("p")],
     create("p", ikey="ik"), 409, 4090, None),
    ("create pending, no keys at all", [create("p")],
     create("p"), 409, 4090, None),
    ("create completed, same key", [create("p", ikey="ik"), complete("p", "RESOLVED")],
     create("p", ikey="ik"), 200, None, {"state": "RESOLVED"}),
    ("create completed, same key, strict",
     [create("p", ikey="ik"), complete("p", "RESOLVED")],
     create("p", ikey="ik", strict=True), 409, 4090, None),
    ("create completed, other key", [create("p", ikey="ik"), complete("p", "REJECTED")],
     create("p", ikey="x"), 409, 4090, None),
    ("create overdue, same key", [create("p", ikey="ik"), at(LATER)],
     create("p", ikey="ik"), 200, None,
     {"state": "REJECTED_TIMEDOUT", "completedOn": LATER}),
    ("create overdue, same key, strict", [create("p", ikey="ik"), at(LATER)],
     create("p", ikey="ik", strict=True), 409, 4090, None),
    ("create overdue timer, same key",
     [create("p", ikey="ik", tags={"resonate:timeout": "true"}), at(LATER)],
     create("p", ikey="ik"), 200, None, {"state": "RESOLVED", "completedOn": LATER}),
    ("create with timeout in the past", [], create("p", timeout=NOW - 1), 201, None,
     {"state": "PENDING", "timeout": NOW - 1}),
    ("create with param and tags", [],
     create("p", param={"headers": {"a": "b"}, "data": B64}, tags={"k": "v"}), 201, None,
     {"param": {"headers": {"a": "b"}, "data": B64}, "tags": {"k": "v"}}),
    ("create with null param parts and tags (the SDK sends these)", [],
     create("p", param={"headers": None, "data": None}, tags=None), 201, None,
     {"param": {}}),

    # GET /promises/{id}
    ("read", [create("p", ikey="ik")], read("p"), 200, None,
     {"id": "p", "state": "PENDING"}),
    ("read missing", [], read("nope"), 404, 4040, None),
    ("read overdue", [create("p"), at(LATER)], read("p"), 200, None,
     {"state": "REJECTED_TIMEDOUT", "completedOn": LATER, "value": {}}),
    ("read just before timeout", [create("p"), at(LATER - 1)], read("p"), 200, None,
     {"state": "PENDING"}),
    ("read overdue timer", [create("p", tags={"resonate:timeout": "true"}), at(LATER + 5)],
     read("p"), 200, None, {"state": "RESOLVED", "completedOn": LATER}),
    ("read id with slashes", [create("a/b/c")], read("a/b/c"), 200, None, {"id": "a/b/c"}),
    ("read id percent-encoded", [create("a b?#%")], read("a%20b%3F%23%25"), 200, None,
     {"id": "a b?#%"}),
    ("read unicode id", [create("ü.1")], read("%C3%BC.1"), 200, None, {"id": "ü.1"}),
    ("read id with a leading slash", [create("/a")], read("/a"), 200, None,
     {"id": "/a"}),
    ("read id with a leading slash percent-encoded", [create("/a/b")],
     read("%2Fa%2Fb"), 200, None, {"id": "/a/b"}),
    ("read id with doubled and trailing slashes", [create("a//b/")], read("a//b/"),
     200, None, {"id": "a//b/"}),
    ("read id that is a slash", [create("/")], read("/"), 200, None, {"id": "/"}),
    ("read id with line breaks", [create("a\nb\r\n")], read("a%0Ab%0D%0A"), 200, None,
     {"id": "a\nb\r\n"}),
    ("read id with NUL", [], read("a%00"), 400, 4000, None),

    # PATCH /promises/{id}
    ("complete missing", [], complete("nope", "RESOLVED"), 404, 4040, None),
    ("resolve", [create("p")], complete("p", "RESOLVED", ikey="c", value={"data": B64}),
     201, None, {"state": "RESOLVED", "completedOn": NOW, "idempotencyKeyForComplete": "c",
                 "value": {"data": B64}}),
    ("reject", [create("p")], complete("p", "REJECTED"), 201, None, {"state": "REJECTED"}),
    ("cancel", [create("p")], complete("p", "REJECTED_CANCELED"), 201, None,
     {"state": "REJECTED_CANCELED"}),
    ("state is case-insensitive", [create("p")], complete("p", "resolved"), 201, None,
     {"state": "RESOLVED"}),
    ("complete id with a leading slash", [create("/a")], complete("/a", "RESOLVED"),
     201, None, {"id": "/a", "state": "RESOLVED"}),
    ("complete id with NUL", [], complete("a%00", "RESOLVED"), 400, 4000, None),
    ("complete overdue", [create("p"), at(LATER)], complete("p", "RESOLVED"), 200, None,
     {"state": "REJECTED_TIMEDOUT", "completedOn": LATER}),
    ("complete overdue, strict", [create("p"), at(LATER)],
     complete("p", "RESOLVED", strict=True), 403, 4033, None),
    ("complete overdue timer", [create("p", tags={"resonate:timeout": "true"}), at(LATER)],
     complete("p", "RESOLVED"), 403, 4030, None),
    ("complete overdue timer, strict",
     [create("p", tags={"resonate:timeout": "true"}), at(LATER)],
     complete("p", "RESOLVED", strict=True), 403, 4030, None),
    ("complete again, same key", [create("p"), complete("p", "RESOLVED", ikey="c")],
     complete("p", "RESOLVED", ikey="c"), 200, None, {"state": "RESOLVED"}),
    ("complete again, same key, other state",
     [create("p"), complete("p", "RESOLVED", ikey="c")],
     complete("p", "REJECTED", ikey="c"), 200, None, {"state": "RESOLVED"}),
    ("complete again, same key, strict",
     [create("p"), complete("p", "RESOLVED", ikey="c")],
     complete("p", "RESOLVED", ikey="c", strict=True), 200, None, {"state": "RESOLVED"}),
    ("complete again, same key, strict, other state",
     [create("p"), complete("p", "RESOLVED", ikey="c")],
     complete("p", "REJECTED", ikey="c", strict=True), 403, 4030, None),
    ("complete again, other key", [create("p"), complete("p", "REJECTED", ikey="c")],
     complete("p", "REJECTED", ikey="d"), 403, 4031, None),
    ("complete again, no keys", [create("p"), complete("p", "REJECTED_CANCELED")],
     complete("p", "REJECTED_CANCELED"), 403, 4032, None),
    ("complete timed out, any key", [create("p"), at(LATER), read("p")],
     complete("p", "RESOLVED", ikey="whatever"), 200, None, {"state": "REJECTED_TIMEDOUT"}),
    ("complete timed out, strict", [create("p"), at(LATER), read("p")],
     complete("p", "RESOLVED", strict=True), 403, 4033, None),
    ("complete timed-out timer", [create("p", tags={"resonate:timeout": "true"}),
                                  at(LATER), read("p")],
     complete("p", "RESOLVED"), 403, 4030, None),

    # validation
    ("create without id", [], ("post", "/promises", {"timeout": LATER}), 400, 4000, None),
    ("create with empty id", [], ("post", "/promises", {"id": "", "timeout": LATER}),
     400, 4000, None),
    ("create without timeout", [], ("post", "/promises", {"id": "p"}), 400, 4000, None),
    ("create with negative timeout", [], create("p", timeout=-1), 400, 4000, None),
    ("create with timeout past int64", [], create("p", timeout=2**63), 400, 4000, None),
    ("create with string timeout", [], create("p", timeout="soon"), 400, 4000, None),
    ("create with float timeout", [], create("p", timeout=1.5), 400, 4000, None),
    ("create with non-object param", [], create("p", param="x"), 400, 4000, None),
    ("create with bad base64", [], create("p", param={"data": "%%%"}), 400, 4000, None),
    ("create with non-string data", [], create("p", param={"data": 3}), 400, 4000, None),
    ("create with non-string header", [], create("p", param={"headers": {"a": 1}}),
     400, 4000, None),
    ("create with non-string tag", [], create("p", tags={"a": 1}), 400, 4000, None),
    ("create with non-object tags", [], create("p", tags=["a"]), 400, 4000, None),
    ("create with bad strict", [], ("post", "/promises", {"id": "p", "timeout": LATER},
                                    {"strict": "yes"}), 400, 4000, None),
    ("create with invalid JSON", [], ("raw", "POST", "/promises", b"{nope"), 400, 4000, None),
    ("create with JSON array", [], ("raw", "POST", "/promises", b"[]"), 400, 4000, None),
    ("create with empty body", [], ("raw", "POST", "/promises", b""), 400, 4000, None),
    ("create with non-UTF-8 body", [], ("raw", "POST", "/promises", b'{"id": "\xff"}'),
     400, 4000, None),
    ("create with NUL in id", [], create("a\x00b"), 400, 4000, None),
    ("create with lone surrogate in id", [],
     ("raw", "POST", "/promises", b'{"id": "a\\ud800", "timeout": 1}'), 400, 4000, None),
    ("create with lone surrogate in a tag", [],
     ("raw", "POST", "/promises", b'{"id": "a", "timeout": 1, "tags": {"k": "\\udc00"}}'),
     400, 4000, None),
    ("create with unknown fields", [], create("p", extra={"x": 1}), 201, None,
     {"state": "PENDING"}),
    ("complete without state", [create("p")], ("patch", "/promises/p", {}), 400, 4000, None),
    ("complete to PENDING", [create("p")], complete("p", "PENDING"), 400, 4000, None),
    ("complete to REJECTED_TIMEDOUT", [create("p")], complete("p", "REJECTED_TIMEDOUT"),
     400, 4000, None),
    ("complete to unknown state", [create("p")], complete("p", "DONE"), 400, 4000, None),
    ("complete with non-object value", [create("p")], complete("p", "RESOLVED", value=[]),
     400, 4000, None),
    ("complete with bad strict", [create("p")],
     ("patch", "/promises/p", {"state": "RESOLVED"}, {"strict": "maybe"}), 400, 4000, None),
    ("strict parses like Go: True", [create("p", ikey="ik"), complete("p", "RESOLVED")],
     ("post", "/promises", {"id": "p", "timeout": LATER},
      {"Strict": "True", "Idempotency-Key": "ik"}), 409, 4090, None),
    ("strict parses like Go: 0", [create("p", ikey="ik"), complete("p", "RESOLVED")],
     ("post", "/promises", {"id": "p", "timeout": LATER},
      {"strict": "0", "idempotency-key": "ik"}), 200, None, {"state": "RESOLVED"}),

    # POST /locks/acquire
    ("acquire free", [], acquire("r", "e", processId="p", expiry=1500), 201, None,
     {"resourceId": "r", "processId": "p", "executionId": "e",
      "expiryInMilliseconds": 1500, "expiresAt": NOW + 1500}),
    ("acquire again, same execution",
     [acquire("r", "e", processId="p1", expiry=1000), at(NOW + 400)],
     acquire("r", "e", processId="p2", expiry=3000), 201, None,
     {"processId": "p2", "executionId": "e", "expiryInMilliseconds": 3000,
      "expiresAt": NOW + 3400}),
    ("acquire held by another execution", [acquire("r", "e1")],
     acquire("r", "e2"), 403, 4034, None),
    ("acquire held by another execution of the same process",
     [acquire("r", "e1", processId="p")], acquire("r", "e2", processId="p"),
     403, 4034, None),
    ("acquire held, just before expiry", [acquire("r", "e1", expiry=1000), at(NOW + 999)],
     acquire("r", "e2"), 403, 4034, None),
    ("acquire expired, not swept", [acquire("r", "e1", expiry=1000), at(NOW + 1000)],
     acquire("r", "e2", processId="p2", expiry=50), 201, None,
     {"executionId": "e2", "processId": "p2", "expiresAt": NOW + 1050}),
    ("acquire taken over: old holder refused",
     [acquire("r", "e1", expiry=1000), at(NOW + 1000), acquire("r", "e2")],
     acquire("r", "e1"), 403, 4034, None),
    ("acquire after release", [acquire("r", "e1"), release("r", "e1")],
     acquire("r", "e2"), 201, None, {"executionId": "e2"}),
    ("acquire with unknown fields", [], acquire("r", "e", extra=[1]), 201, None,
     {"resourceId": "r"}),
    ("acquire without resourceId", [],
     ("post", "/locks/acquire", lockBody(resourceId=None)), 400, 4000, None),
    ("acquire without processId", [],
     ("post", "/locks/acquire", lockBody(processId=None)), 400, 4000, None),
    ("acquire without executionId", [],
     ("post", "/locks/acquire", lockBody(executionId=None)), 400, 4000, None),
    ("acquire without expiry", [],
     ("post", "/locks/acquire", lockBody(expiryInMilliseconds=None)), 400, 4000, None),
    ("acquire with empty resourceId", [],
     ("post", "/locks/acquire", lockBody(resourceId="")), 400, 4000, None),
    ("acquire with empty processId", [],
     ("post", "/locks/acquire", lockBody(processId="")), 400, 4000, None),
    ("acquire with empty executionId", [],
     ("post", "/locks/acquire", lockBody(executionId="")), 400, 4000, None),
    ("acquire with non-string resourceId", [],
     ("post", "/locks/acquire", lockBody(resourceId=7)), 400, 4000, None),
    ("acquire with expiry 0", [], acquire("r", "e", expiry=0), 400, 4000, None),
    ("acquire with negative expiry", [], acquire("r", "e", expiry=-1), 400, 4000, None),
    ("acquire with a lease past 64 bits", [], acquire("r", "e", expiry=2**62 + 1),
     400, 4000, None),
    ("acquire with the longest lease", [], acquire("r", "e", expiry=2**62), 201, None,
     {"expiresAt": NOW + 2**62}),
    ("acquire with float expiry", [], acquire("r", "e", expiry=1.5), 400, 4000, None),
    ("acquire with string expiry", [], acquire("r", "e", expiry="1000"), 400, 4000, None),
    ("acquire with boolean expiry", [], acquire("r", "e", expiry=True), 400, 4000, None),
    ("acquire with JSON array", [], ("raw", "POST", "/locks/acquire", b"[]"),
     400, 4000, None),
    ("acquire with invalid JSON", [], ("raw", "POST", "/locks/acquire", b"{nope"),
     400, 4000, None),
    ("acquire with empty body", [], ("raw", "POST", "/locks/acquire", b""),
     400, 4000, None),

    # POST /locks/heartbeat
    ("heartbeat", [acquire("r1", "e1", processId="p"), acquire("r2", "e2", processId="p"),
                   acquire("r3", "e3", processId="q")],
     heartbeat("p"), 200, None, {"locksAffected": 2}),
    ("heartbeat without locks", [acquire("r", "e", processId="q")],
     heartbeat("p"), 200, None, {"locksAffected": 0}),
    ("heartbeat extends from now",
     [acquire("r", "e1", processId="p", expiry=1000), at(NOW + 500), heartbeat("p"),
      at(NOW + 1499)],
     acquire("r", "e2"), 403, 4034, None),
    ("heartbeat extends by one lease",
     [acquire("r", "e1", processId="p", expiry=1000), at(NOW + 500), heartbeat("p"),
      at(NOW + 1500)],
     acquire("r", "e2"), 201, None, {"executionId": "e2"}),
    ("heartbeat leaves other processes",
     [acquire("r", "e1", processId="q", expiry=1000), at(NOW + 500), heartbeat("p"),
      at(NOW + 1000)],
     acquire("r", "e2"), 201, None, {"executionId": "e2"}),
    ("heartbeat without processId", [], ("post", "/locks/heartbeat", {}), 400, 4000, None),
    ("heartbeat with empty processId", [], heartbeat(""), 400, 4000, None),
    ("heartbeat with JSON array", [], ("raw", "POST", "/locks/heartbeat", b"[]"),
     400, 4000, None),

    # POST /locks/release
    ("release", [acquire("r", "e")], release("r", "e"), 204, None, None),
    ("release expired, not swept", [acquire("r", "e", expiry=10), at(LATER)],
     release("r", "e"), 204, None, None),
    ("release by another execution", [acquire("r", "e1")], release("r", "e2"),
     404, 4043, None),
    ("release unknown", [], release("r", "e"), 404, 4043, None),
    ("release twice", [acquire("r", "e"), release("r", "e")], release("r", "e"),
     404, 4043, None),
    ("release without resourceId", [],
     ("post", "/locks/release", {"executionId": "e"}), 400, 4000, None),
    ("release without executionId", [],
     ("post", "/locks/release", {"resourceId": "r"}), 400, 4000, None),
    ("release with empty executionId", [], release("r", ""), 400, 4000, None),
    ("release with JSON array", [], ("raw", "POST", "/locks/release", b"[]"),
     400, 4000, None),

    # POST /schedules
    ("create schedule", [], createSchedule("s", ikey="ik", tags=None), 201, None,
     {"id": "s", "cron": EVERY_MINUTE, "promiseId": PROMISE_TEMPLATE,
      "promiseTimeout": 60_000, "promiseParam": {}, "tags": {},
      "nextRunTime": nextRunTime(EVERY_MINUTE, NOW), "createdOn": NOW,
      "idempotencyKey": "ik", "lastRunTime": None, "desc": None,
      "promiseTags": None}),
    ("create schedule with everything", [],
     createSchedule("s", desc="d", tags={"k": "v"},
                    promiseParam={"headers": {"a": "b"}, "data": B64},
                    promiseTags={"t": "u"}), 201, None,
     {"desc": "d", "tags": {"k": "v"}, "promiseParam": {"headers": {"a": "b"}, "data": B64},
      "promiseTags": {"t": "u"}, "idempotencyKey": None}),
    ("create schedule, description spelled out", [],
     createSchedule("s", description="d"), 201, None, {"desc": "d"}),
    ("create schedule with null parts (as SDKs send)", [],
     createSchedule("s", desc=None, promiseParam={"headers": None, "data": None}),
     201, None, {"promiseParam": {}, "tags": {}}),
    ("create schedule, 6 fields", [], createSchedule("s", cron="*/10 * * * * *"), 201, None,
     {"cron": "*/10 * * * * *", "nextRunTime": nextRunTime("*/10 * * * * *", NOW)}),
    ("create schedule, @daily", [], createSchedule("s", cron="@daily"), 201, None,
     {"nextRunTime": nextRunTime("@daily", NOW)}),
    ("create schedule, @every 1m", [], createSchedule("s", cron="@every 1m"), 201, None,
     {"nextRunTime": nextRunTime("@every 1m", NOW)}),
    ("create schedule at a later now", [at(LATER + 1)], createSchedule("s"), 201, None,
     {"nextRunTime": nextRunTime(EVERY_MINUTE, LATER + 1), "createdOn": LATER + 1}),
    ("create schedule with the longest promiseTimeout", [],
     createSchedule("s", promiseTimeout=2**62), 201, None, {"promiseTimeout": 2**62}),
    ("create schedule with unknown fields", [], createSchedule("s", extra=[1]), 201, None,
     {"id": "s"}),
    ("create schedule, same key", [createSchedule("s", ikey="ik")],
     createSchedule("s", ikey="ik"), 200, None, {"id": "s", "idempotencyKey": "ik"}),
    ("create schedule, same key, other body",
     [createSchedule("s", ikey="ik", cron="@daily", promiseTimeout=5), at(LATER)],
     createSchedule("s", ikey="ik", cron="@hourly", promiseTimeout=7, tags={"k": "v"}),
     200, None, {"cron": "@daily", "promiseTimeout": 5, "tags": {}, "createdOn": NOW,
                 "nextRunTime": nextRunTime("@daily", NOW)}),
    ("create schedule, other key", [createSchedule("s", ikey="ik")],
     createSchedule("s", ikey="other"), 409, 4091, None),
    ("create schedule, no key on request", [createSchedule("s", ikey="ik")],
     createSchedule("s"), 409, 4091, None),
    ("create schedule, no key stored", [createSchedule("s")],
     createSchedule("s", ikey="ik"), 409, 4091, None),
    ("create schedule, no keys at all", [createSchedule("s")],
     createSchedule("s"), 409, 4091, None),
    ("create schedule after delete", [createSchedule("s"), deleteSchedule("s")],
     createSchedule("s"), 201, None, {"id": "s"}),
    ("create schedule with slashes", [], createSchedule("a/b/c"), 201, None,
     {"id": "a/b/c"}),

    # schedule validation
    ("create schedule without id", [], createSchedule(None), 400, 4000, None),
    ("create schedule with empty id", [], createSchedule(""), 400, 4000, None),
    ("create schedule with non-string id", [], createSchedule(7), 400, 4000, None),
    ("create schedule with NUL in id", [], createSchedule("a\x00b"), 400, 4000, None),
    ("create schedule without cron", [], createSchedule("s", cron=None), 400, 4000, None),
    ("create schedule with empty cron", [], createSchedule("s", cron=""), 400, 4000, None),
    ("create schedule with non-string cron", [], createSchedule("s", cron=5),
     400, 4000, None),
    ("create schedule with cron x", [], createSchedule("s", cron="x"), 400, 4000, None),
    ("create schedule with 3 fields", [], createSchedule("s", cron="* * *"),
     400, 4000, None),
    ("create schedule with 7 fields", [], createSchedule("s", cron="* * * * * * *"),
     400, 4000, None),
    ("create schedule with minute 61", [], createSchedule("s", cron="61 * * * *"),
     400, 4000, None),
    ("create schedule with unknown descriptor", [], createSchedule("s", cron="@never"),
     400, 4000, None),
    ("create schedule with bad @every", [], createSchedule("s", cron="@every soon"),
     400, 4000, None),
    ("create schedule without promiseId", [], createSchedule("s", promiseId=None),
     400, 4000, None),
    ("create schedule with empty promiseId", [], createSchedule("s", promiseId=""),
     400, 4000, None),
    ("create schedule with non-string promiseId", [], createSchedule("s", promiseId=[]),
     400, 4000, None),
    ("create schedule without promiseTimeout", [],
     createSchedule("s", promiseTimeout=None), 400, 4000, None),
    ("create schedule with promiseTimeout 0", [], createSchedule("s", promiseTimeout=0),
     400, 4000, None),
    ("create schedule with negative promiseTimeout", [],
     createSchedule("s", promiseTimeout=-1), 400, 4000, None),
    ("create schedule with float promiseTimeout", [],
     createSchedule("s", promiseTimeout=1.5), 400, 4000, None),
    ("create schedule with string promiseTimeout", [],
     createSchedule("s", promiseTimeout="1000"), 400, 4000, None),
    ("create schedule with boolean promiseTimeout", [],
     createSchedule("s", promiseTimeout=True), 400, 4000, None),
    ("create schedule with promiseTimeout past 2^62", [],
     createSchedule("s", promiseTimeout=2**62 + 1), 400, 4000, None),
    ("create schedule with non-object promiseParam", [],
     createSchedule("s", promiseParam="x"), 400, 4000, None),
    ("create schedule with bad base64", [],
     createSchedule("s", promiseParam={"data": "%%%"}), 400, 4000, None),
    ("create schedule with non-string header", [],
     createSchedule("s", promiseParam={"headers": {"a": 1}}), 400, 4000, None),
    ("create schedule with non-string tag", [], createSchedule("s", tags={"a": 1}),
     400, 4000, None),
    ("create schedule with non-object tags", [], createSchedule("s", tags=["a"]),
     400, 4000, None),
    ("create schedule with non-string promiseTag", [],
     createSchedule("s", promiseTags={"a": True}), 400, 4000, None),
    ("create schedule with non-string desc", [], createSchedule("s", desc=1),
     400, 4000, None),
    ("create schedule with invalid JSON", [], ("raw", "POST", "/schedules", b"{nope"),
     400, 4000, None),
    ("create schedule with JSON array", [], ("raw", "POST", "/schedules", b"[]"),
     400, 4000, None),
    ("create schedule with empty body", [], ("raw", "POST", "/schedules", b""),
     400, 4000, None),

    # GET /schedules/{id}
    ("read schedule", [createSchedule("s", ikey="ik")], readSchedule("s"), 200, None,
     {"id": "s", "cron": EVERY_MINUTE, "idempotencyKey": "ik", "createdOn": NOW,
      "nextRunTime": nextRunTime(EVERY_MINUTE, NOW), "tags": {}, "promiseParam": {}}),
    ("read schedule missing", [], readSchedule("nope"), 404, 4042, None),
    ("read schedule, not a promise", [create("p")], readSchedule("p"), 404, 4042, None),
    ("read promise, not a schedule", [createSchedule("s")], read("s"), 404, 4040, None),
    ("read schedule with slashes", [createSchedule("a/b/c")], readSchedule("a/b/c"),
     200, None, {"id": "a/b/c"}),
    ("read schedule percent-encoded", [createSchedule("a b?#%")],
     readSchedule("a%20b%3F%23%25"), 200, None, {"id": "a b?#%"}),
    ("read schedule with a leading slash", [createSchedule("/s")],
     readSchedule("/s"), 200, None, {"id": "/s"}),
    ("read schedule id with a line break", [createSchedule("a\nb")],
     readSchedule("a%0Ab"), 200, None, {"id": "a\nb"}),
    ("read schedule id with NUL", [], readSchedule("a%00"), 400, 4000, None),

    # DELETE /schedules/{id}
    ("delete schedule", [createSchedule("s")], deleteSchedule("s"), 204, None, None),
    ("delete schedule, then read", [createSchedule("s"), deleteSchedule("s")],
     readSchedule("s"), 404, 4042, None),
    ("delete schedule twice", [createSchedule("s"), deleteSchedule("s")],
     deleteSchedule("s"), 404, 4042, None),
    ("delete schedule missing", [], deleteSchedule("nope"), 404, 4042, None),
    ("delete schedule with slashes", [createSchedule("a/b"), createSchedule("a")],
     deleteSchedule("a/b"), 204, None, None),
    ("delete schedule with a leading slash", [createSchedule("/s")],
     deleteSchedule("/s"), 204, None, None),
    ("delete schedule id with NUL", [], deleteSchedule("a%00"), 400, 4000, None),
    ("delete schedule with slashes leaves its prefix",
     [createSchedule("a/b"), createSchedule("a"), deleteSchedule("a/b")],
     readSchedule("a"), 200, None, {"id": "a"}),
    ("wrong method on a schedule", [createSchedule("s")],
     ("patch", "/schedules/s", {}), 405, 4050, None),

    # POST /tasks/claim
    ("create routed promise", [], create("jobs/1"), 201, None,
     {"id": "jobs/1", "state": "PENDING"}),
    ("claim", OFFERED, claimTask(), 200, None,
     {"id": "jobs/1", "state": "PENDING", "timeout": LATER, "createdOn": NOW,
      "param": {}, "value": {}}),
    ("claim with the longest lease", OFFERED,
     claimTask(expiryInMilliseconds=2**62), 200, None, {"id": "jobs/1"}),
    ("claim by another execution", CLAIMED,
     claimTask(executionId="e2", processId="p2"), 403, 4034, None),
    ("claim with wrong counter", OFFERED, claimTask(counter=2), 403, 4037, None),
    ("claim before dispatch", [create("jobs/1")], claimTask(), 403, 4037, None),
    ("claim after the claim window", OFFERED + [at(NOW + 10_002)], claimTask(),
     403, 4035, None),
    ("claim after the promise timed out",
     [create("jobs/1", timeout=NOW + 100), dispatch(), at(NOW + 101)], claimTask(),
     403, 4035, None),
    ("claim completed", CLAIMED + [completeTask()], claimTask(), 403, 4036, None),
    ("claim unknown task", [], claimTask(taskId="jobs/nope"), 404, 4044, None),
    ("claim, promise not routed", [create("p"), dispatch()],
     claimTask(taskId="p"), 404, 4044, None),
    ("claim without taskId", OFFERED, claimTask(taskId=None), 400, 4000, None),
    ("claim with empty taskId", OFFERED, claimTask(taskId=""), 400, 4000, None),
    ("claim without counter", OFFERED, claimTask(counter=None), 400, 4000, None),
    ("claim with counter 0", OFFERED, claimTask(counter=0), 400, 4000, None),
    ("claim with negative counter", OFFERED, claimTask(counter=-1), 400, 4000, None),
    ("claim with string counter", OFFERED, claimTask(counter="1"), 400, 4000, None),
    ("claim with boolean counter", OFFERED, claimTask(counter=True), 400, 4000, None),
    ("claim without processId", OFFERED, claimTask(processId=None), 400, 4000, None),
    ("claim without executionId", OFFERED, claimTask(executionId=None),
     400, 4000, None),
    ("claim without expiry", OFFERED, claimTask(expiryInMilliseconds=None),
     400, 4000, None),
    ("claim with expiry 0", OFFERED, claimTask(expiryInMilliseconds=0), 400, 4000, None),
    ("claim with a lease past 64 bits", OFFERED,
     claimTask(expiryInMilliseconds=2**62 + 1), 400, 4000, None),
    ("claim with JSON array", [], ("raw", "POST", "/tasks/claim", b"[]"),
     400, 4000, None),
    ("claim with invalid JSON", [], ("raw", "POST", "/tasks/claim", b"{nope"),
     400, 4000, None),
    ("claim with GET", [], ("get", "/tasks/claim"), 405, 4050, None),

    # POST /tasks/complete
    ("complete task", CLAIMED, completeTask(), 200, None, None),
    ("complete task resolves the promise", CLAIMED + [completeTask()], read("jobs/1"),
     200, None, {"state": "RESOLVED", "value": {"data": B64}, "completedOn": NOW + 1}),
    ("complete task rejected, any case", CLAIMED + [completeTask(state="REJECTED")],
     read("jobs/1"), 200, None, {"state": "REJECTED", "value": {"data": B64}}),
    ("complete task without value", CLAIMED + [completeTask(value=None)],
     read("jobs/1"), 200, None, {"state": "RESOLVED", "value": {}}),
    ("complete task twice", CLAIMED + [completeTask()], completeTask(),
     403, 4036, None),
    ("complete task whose promise was completed",
     CLAIMED + [complete("jobs/1", "REJECTED")], completeTask(), 403, 4036, None),
    ("complete task whose promise was completed leaves it",
     CLAIMED + [complete("jobs/1", "REJECTED"), completeTask()], read("jobs/1"),
     200, None, {"state": "REJECTED", "value": {}}),
    ("complete task after the lease", CLAIMED + [at(NOW + 1002)], completeTask(),
     403, 4035, None),
    ("complete task after the lease leaves the promise",
     CLAIMED + [at(NOW + 1002), completeTask()], read("jobs/1"), 200, None,
     {"state": "PENDING"}),
    ("complete task with wrong counter", CLAIMED, completeTask(counter=2),
     403, 4037, None),
    ("complete unknown task", [], completeTask(taskId="jobs/nope"), 404, 4044, None),
    ("complete task, promise not routed", [create("p")], completeTask(taskId="p"),
     404, 4044, None),
    ("complete task without taskId", CLAIMED, completeTask(taskId=None),
     400, 4000, None),
    ("complete task without counter", CLAIMED, completeTask(counter=None),
     400, 4000, None),
    ("complete task with counter 0", CLAIMED, completeTask(counter=0), 400, 4000, None),
    ("complete task without executionId", CLAIMED, completeTask(executionId=None),
     400, 4000, None),
    ("complete task without state", CLAIMED, completeTask(state=None), 400, 4000, None),
    ("complete task with state pending", CLAIMED, completeTask(state="pending"),
     400, 4000, None),
    ("complete task with state rejected_canceled", CLAIMED,
     completeTask(state="rejected_canceled"), 400, 4000, None),
    ("complete task with non-string state", CLAIMED, completeTask(state=1),
     400, 4000, None),
    ("complete task with non-object value", CLAIMED, completeTask(value="x"),
     400, 4000, None),
    ("complete task with bad base64", CLAIMED, completeTask(value={"data": "%%%"}),
     400, 4000, None),
    ("complete task with JSON array", [], ("raw", "POST", "/tasks/complete", b"[]"),
     400, 4000, None),
    ("complete task, validation leaves the promise",
     CLAIMED + [completeTask(state="pending")], read("jobs/1"), 200, None,
     {"state": "PENDING"}),

    # routing
    ("path not UTF-8", [], ("get", "/promises/%FF"), 400, 4000, None),
    ("unknown path", [], ("get", "/nope"), 404, 4045, None),
    ("wrong method", [], ("delete", "/promises/p"), 405, 4050, None),
]


class HTTPAPITestsMixin:
    """
    The case table and the search, envelope and limit tests, against the
    store C{makeStore} returns.
    """

    def makeStore(self):
        raise NotImplementedError()

    async def startAPI(self, **kwargs):
        store = self.makeStore()
        return await LiveAPI(self, store=store, **kwargs).start()

    async def perform(self, api, step):
        kind = step[0]
        if kind == "create":
            _, promiseId, kw = step
            return await api.create(promiseId, **kw)
        if kind == "complete":
            _, promiseId, kw = step
            return await api.complete(promiseId, **kw)
        if kind == "read":
            return await api.request("GET", "/promises/" + step[1])
        if kind == "now":
            api.setNow(step[1])
            return None
        if kind == "dispatch":
            await self.dispatch(api)
            return None
        if kind == "raw":
            _, method, path, raw = step
            return await api.request(method, path, raw=raw)
        method, path, *rest = step
        body = rest[0] if rest else None
        headers = rest[1] if len(rest) > 1 else None
        return await api.request(method.upper(), path, body, headers=headers)

    async def dispatch(self, api):
        """
        One millisecond later (a new task's claim window ends at its
        creation), offer every dispatchable task.

        @return: the tasks offered.
        """
        api.setNow(api.operations.now() + 1)
        return await api.store.dispatchTasks(api.operations.now(), 10, 10_000)

    async def test_cases(self):
        """
        Every row of the case table answers as the contract says.
        """
        for name, scene, request, code, errorCode, fields in CASES:
            api = await self.startAPI(routes=ROUTES)
            for step in scene:
                await self.perform(api, step)
            response = await self.perform(api, request)
            self.assertEqual(response.code, code, f"{name}: {response!r}")
            if errorCode is not None:
                self.assertEqual(response.errorCode, errorCode, name)
                self.assertEqual(response.code, errorCode // 10, name)
            for key, value in (fields or {}).items():
                self.assertEqual(response.body.get(key), value, f"{name}: {key}")

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

        def slowRead(promiseId, now):
            return blocked.addCallback(lambda _: original(promiseId, now))

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
        from resonate.store.sqlite import SQLiteStore

        store = SQLiteStore(StoreConfig(options={"path": self.mktemp()}), reactor)
        self.addCleanup(store.close)
        return store
