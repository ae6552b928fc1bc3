# -*- test-case-name: tests.integration.test_api_http,tests.integration.test_api_grpc -*-
"""
The API case table: every row of the contract's status-code tables, as
data, run against both protocols (L{tests.integration.test_api_http},
L{tests.integration.test_api_grpc}) over every store.

Each case sets the scene with plain HTTP requests, then sends one request
through the protocol under test and checks the status, the error code and
fields of the body.  Requests are written as HTTP requests; the gRPC driver
(L{tests.support.grpctools}) sends the RPC that says the same thing, and reports
the requests no RPC can say (raw bytes, JSON types protobuf cannot carry,
routes that only exist in HTTP) as not expressible.
"""

import base64
import random
from urllib.parse import quote

from resonate.api.codec import MAX_CRON_LENGTH, MAX_ID_BYTES
from resonate.model.routing import Route
from resonate.model.schedule import nextRunTime
from tests.support.apitools import NOW

LATER = NOW + 60_000
B64 = base64.b64encode(b"hello").decode()
EVERY_MINUTE = "* * * * *"
PROMISE_TEMPLATE = "p.{{.id}}.{{.timestamp}}"
#: The routes of the case table: promises "jobs/..." get a task.
ROUTES = [Route("jobs", "/jobs/*", "workers", "q")]

#: The longest id, and one byte more (PostgreSQL cannot index much longer).
LONGEST_ID = "i" * MAX_ID_BYTES
TOO_LONG_ID = LONGEST_ID + "i"
#: The longest id in 4-byte characters, and one byte more.
WIDE_ID = "\U0001F600" * (MAX_ID_BYTES // 4)
TOO_WIDE_ID = WIDE_ID + "i"
#: The longest id that does not compress (PostgreSQL compresses index
#: entries: "iii..." ids would fit its btrees at any length).
RANDOM_ID = base64.urlsafe_b64encode(
    random.Random(7).randbytes(MAX_ID_BYTES)
).decode()[:MAX_ID_BYTES]
#: A routed promise (and so task) with the longest id.
LONGEST_JOB = ("jobs/" + RANDOM_ID)[:MAX_ID_BYTES]
#: The longest cron expression (every minute 0), and one character more.
LONGEST_CRON = ",".join(["0"] * ((MAX_CRON_LENGTH - 7) // 2)) + " * * * *"
LONGEST_CRON = "0" * (MAX_CRON_LENGTH - len(LONGEST_CRON)) + LONGEST_CRON
TOO_LONG_CRON = "0" + LONGEST_CRON


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
    ("complete id with a leading slash", [create("/a")], complete("/a", "RESOLVED"),
     201, None, {"id": "/a", "state": "RESOLVED"}),
    ("complete id with NUL", [], complete("a%00", "RESOLVED"), 400, 4000, None),
    ("read schedule with a leading slash", [createSchedule("/s")],
     readSchedule("/s"), 200, None, {"id": "/s"}),
    ("read schedule id with a line break", [createSchedule("a\nb")],
     readSchedule("a%0Ab"), 200, None, {"id": "a\nb"}),
    ("read schedule id with NUL", [], readSchedule("a%00"), 400, 4000, None),
    ("delete schedule with a leading slash", [createSchedule("/s")],
     deleteSchedule("/s"), 204, None, None),
    ("delete schedule id with NUL", [], deleteSchedule("a%00"), 400, 4000, None),

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

    # DELETE /schedules/{id}
    ("delete schedule", [createSchedule("s")], deleteSchedule("s"), 204, None, None),
    ("delete schedule, then read", [createSchedule("s"), deleteSchedule("s")],
     readSchedule("s"), 404, 4042, None),
    ("delete schedule twice", [createSchedule("s"), deleteSchedule("s")],
     deleteSchedule("s"), 404, 4042, None),
    ("delete schedule missing", [], deleteSchedule("nope"), 404, 4042, None),
    ("delete schedule with slashes", [createSchedule("a/b"), createSchedule("a")],
     deleteSchedule("a/b"), 204, None, None),
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

    # huge ids: up to MAX_ID_BYTES of UTF-8 on every store, 400 beyond
    ("create with the longest id", [], create(LONGEST_ID), 201, None,
     {"id": LONGEST_ID}),
    ("read the longest id", [create(LONGEST_ID)], read(LONGEST_ID), 200, None,
     {"id": LONGEST_ID}),
    ("complete the longest id", [create(LONGEST_ID)], complete(LONGEST_ID, "RESOLVED"),
     201, None, {"id": LONGEST_ID, "state": "RESOLVED"}),
    ("create with an id too long", [], create(TOO_LONG_ID), 400, 4000, None),
    ("create with the longest random id", [], create(RANDOM_ID), 201, None,
     {"id": RANDOM_ID}),
    ("read the longest random id", [create(RANDOM_ID)], read(RANDOM_ID), 200, None,
     {"id": RANDOM_ID}),
    ("create with a random id too long", [], create(RANDOM_ID + "x"), 400, 4000, None),
    ("read an id too long", [], read(TOO_LONG_ID), 400, 4000, None),
    ("complete an id too long", [], complete(TOO_LONG_ID, "RESOLVED"), 400, 4000, None),
    ("create with the longest id in 4-byte characters", [], create(WIDE_ID), 201, None,
     {"id": WIDE_ID}),
    ("read the longest id in 4-byte characters", [create(WIDE_ID)],
     read(quote(WIDE_ID)), 200, None, {"id": WIDE_ID}),
    ("create with an id one byte too long in 4-byte characters", [],
     create(TOO_WIDE_ID), 400, 4000, None),
    ("claim the task with the longest id", [create(LONGEST_JOB), dispatch()],
     claimTask(taskId=LONGEST_JOB), 200, None, {"id": LONGEST_JOB}),
    ("complete the task with the longest id",
     [create(LONGEST_JOB), dispatch(), claimTask(taskId=LONGEST_JOB)],
     completeTask(taskId=LONGEST_JOB), 200, None, None),
    ("claim with a task id too long", [], claimTask(taskId=TOO_LONG_ID), 400, 4000, None),
    ("claim with a process id too long", OFFERED, claimTask(processId=TOO_LONG_ID),
     400, 4000, None),
    ("claim with an execution id too long", OFFERED, claimTask(executionId=TOO_LONG_ID),
     400, 4000, None),
    ("complete task with a task id too long", [], completeTask(taskId=TOO_LONG_ID),
     400, 4000, None),
    ("acquire with the longest ids", [],
     acquire(LONGEST_ID, LONGEST_ID, processId=LONGEST_ID), 201, None,
     {"resourceId": LONGEST_ID, "processId": LONGEST_ID, "executionId": LONGEST_ID}),
    ("heartbeat with the longest process id",
     [acquire("r", "e", processId=LONGEST_ID)], heartbeat(LONGEST_ID), 200, None,
     {"locksAffected": 1}),
    ("release with the longest ids", [acquire(LONGEST_ID, LONGEST_ID)],
     release(LONGEST_ID, LONGEST_ID), 204, None, None),
    ("acquire with the longest random ids", [],
     acquire(RANDOM_ID, RANDOM_ID, processId=RANDOM_ID), 201, None,
     {"resourceId": RANDOM_ID, "processId": RANDOM_ID}),
    ("acquire with a resource id too long", [], acquire(TOO_LONG_ID, "e"), 400, 4000, None),
    ("acquire with a random resource id too long", [], acquire(RANDOM_ID + "x", "e"),
     400, 4000, None),
    ("acquire with a process id too long", [], acquire("r", "e", processId=TOO_LONG_ID),
     400, 4000, None),
    ("acquire with an execution id too long", [], acquire("r", TOO_LONG_ID),
     400, 4000, None),
    ("heartbeat with a process id too long", [], heartbeat(TOO_LONG_ID), 400, 4000, None),
    ("release with a resource id too long", [], release(TOO_LONG_ID, "e"), 400, 4000, None),
    ("create schedule with the longest id", [],
     createSchedule(LONGEST_ID, promiseId="{{.id}}"), 201, None,
     {"id": LONGEST_ID, "promiseId": "{{.id}}"}),
    ("read schedule with the longest id",
     [createSchedule(LONGEST_ID, promiseId="{{.id}}")],
     readSchedule(LONGEST_ID), 200, None, {"id": LONGEST_ID}),
    ("delete schedule with the longest id",
     [createSchedule(LONGEST_ID, promiseId="{{.id}}")],
     deleteSchedule(LONGEST_ID), 204, None, None),
    ("create schedule with an id too long", [], createSchedule(TOO_LONG_ID),
     400, 4000, None),
    ("create schedule with the longest random id", [],
     createSchedule(RANDOM_ID, promiseId="{{.id}}"), 201, None, {"id": RANDOM_ID}),
    ("create schedule with a random id too long", [],
     createSchedule(RANDOM_ID + "x", promiseId="p"), 400, 4000, None),
    ("read schedule with an id too long", [], readSchedule(TOO_LONG_ID), 400, 4000, None),
    ("delete schedule with an id too long", [], deleteSchedule(TOO_LONG_ID),
     400, 4000, None),
    ("create schedule with a promise id template too long", [],
     createSchedule("s", promiseId=TOO_LONG_ID), 400, 4000, None),
    ("create schedule whose promise ids would be too long", [],
     createSchedule(LONGEST_ID, promiseId="{{.id}}.{{.timestamp}}"), 400, 4000, None),
    ("create schedule whose template repeats its id too often", [],
     createSchedule("i" * 8, promiseId="{{.id}}" * 292), 400, 4000, None),
    ("create schedule with the longest cron", [], createSchedule("s", cron=LONGEST_CRON),
     201, None, {"cron": LONGEST_CRON}),
    ("create schedule with a cron too long", [], createSchedule("s", cron=TOO_LONG_CRON),
     400, 4000, None),

    # hostile JSON
    ("create with deeply nested JSON", [],
     ("raw", "POST", "/promises", b"[" * 100_000 + b"]" * 100_000), 400, 4000, None),
    ("create with a deeply nested param", [],
     ("raw", "POST", "/promises",
      b'{"id": "p", "timeout": 1, "param": ' + b'{"a": ' * 100_000 + b"1"
      + b"}" * 100_001), 400, 4000, None),
    ("acquire with deeply nested JSON", [],
     ("raw", "POST", "/locks/acquire", b'{"a": ' * 100_000 + b"1" + b"}" * 100_000),
     400, 4000, None),
    ("create with a 5000-digit timeout", [],
     ("raw", "POST", "/promises", b'{"id": "p", "timeout": ' + b"9" * 5000 + b"}"),
     400, 4000, None),
    ("create with timeout NaN", [],
     ("raw", "POST", "/promises", b'{"id": "p", "timeout": NaN}'), 400, 4000, None),
    ("create with timeout 1e400", [],
     ("raw", "POST", "/promises", b'{"id": "p", "timeout": 1e400}'), 400, 4000, None),
    ("create with a JSON string body", [], ("raw", "POST", "/promises", b'"p"'),
     400, 4000, None),
    ("create with a JSON null body", [], ("raw", "POST", "/promises", b"null"),
     400, 4000, None),
    ("complete with a truncated body", [create("p")],
     ("raw", "PATCH", "/promises/p", b'{"state": "RESOL'), 400, 4000, None),
    ("complete with an unknown state, lower case", [create("p")],
     complete("p", "timedout"), 400, 4000, None),
    ("complete with a non-string state", [create("p")],
     ("patch", "/promises/p", {"state": ["RESOLVED"]}), 400, 4000, None),

    # ids that look like paths are plain ids: nothing is read from disk
    ("create with a path traversal id", [], create("../../etc/passwd"), 201, None,
     {"id": "../../etc/passwd"}),
    ("read a path traversal id", [create("../../etc/passwd")],
     read("../../etc/passwd"), 200, None, {"id": "../../etc/passwd"}),
    ("read a path traversal id never created", [], read("../../../../etc/passwd"),
     404, 4040, None),
    ("read percent-encoded dot segments", [create("../etc/passwd")],
     read("%2e%2e%2fetc%2fpasswd"), 200, None, {"id": "../etc/passwd"}),
    ("read half-encoded dot segments", [create("../etc/passwd")],
     read("..%2Fetc%2Fpasswd"), 200, None, {"id": "../etc/passwd"}),
    ("percent signs in an id are decoded once", [create("..%2Fetc")],
     read("..%252Fetc"), 200, None, {"id": "..%2Fetc"}),
    ("read the id ..", [create("..")], read(".."), 200, None, {"id": ".."}),
    ("read a backslash traversal id", [create("..\\..\\windows\\win.ini")],
     read("..%5C..%5Cwindows%5Cwin.ini"), 200, None, {"id": "..\\..\\windows\\win.ini"}),
    ("complete a path traversal id", [create("../x")], complete("../x", "RESOLVED"),
     201, None, {"id": "../x", "state": "RESOLVED"}),
    ("read schedule with a path traversal id", [createSchedule("../../s")],
     readSchedule("../../s"), 200, None, {"id": "../../s"}),
    ("delete schedule with a path traversal id", [createSchedule("../s")],
     deleteSchedule("../s"), 204, None, None),
    ("acquire a path traversal resource", [], acquire("../../etc/passwd", "e"),
     201, None, {"resourceId": "../../etc/passwd"}),

    # routing
    ("path not UTF-8", [], ("get", "/promises/%FF"), 400, 4000, None),
    ("unknown path", [], ("get", "/nope"), 404, 4045, None),
    ("wrong method", [], ("delete", "/promises/p"), 405, 4050, None),
]


class NotExpressible(Exception):
    """
    The request of a case cannot be said in the protocol under test (raw
    bytes, a JSON type the protocol cannot carry, an HTTP-only route).
    """


class APICasesMixin:
    """
    Runs L{CASES}.  Mixed into a C{TestCase} that provides
    C{startAPI(routes=...)} (a live API whose C{perform(step)} sends a step
    over HTTP) and C{send(api, step)}, which sends the request under test
    through its protocol and returns an object with C{code}, C{errorCode}
    and C{body} in the HTTP API's shapes, or raises
    L{NotExpressible}.
    """

    #: The fewest cases the protocol must be able to run.
    minimumCases = len(CASES)

    async def test_cases(self):
        """
        Every row of the case table answers as the contract says.
        """
        ran = 0
        for name, scene, request, code, errorCode, fields in CASES:
            api = await self.startAPI(routes=ROUTES)
            for step in scene:
                await api.perform(step)
            try:
                response = await self.send(api, request)
            except NotExpressible:
                continue
            ran += 1
            self.assertEqual(response.code, code, f"{name}: {response!r}")
            if errorCode is not None:
                self.assertEqual(response.errorCode, errorCode, name)
                self.assertEqual(response.code, errorCode // 10, name)
            for key, value in (fields or {}).items():
                self.assertEqual(response.body.get(key), value, f"{name}: {key}")
        self.assertGreaterEqual(ran, self.minimumCases)
