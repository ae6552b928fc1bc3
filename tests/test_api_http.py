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

from resonate.store.memory import MemoryStore
from tests.apitools import NOW, LiveAPI

LATER = NOW + 60_000
B64 = base64.b64encode(b"hello").decode()


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
        if kind == "raw":
            _, method, path, raw = step
            return await api.request(method, path, raw=raw)
        method, path, *rest = step
        body = rest[0] if rest else None
        headers = rest[1] if len(rest) > 1 else None
        return await api.request(method.upper(), path, body, headers=headers)

    async def test_cases(self):
        """
        Every row of the case table answers as the contract says.
        """
        for name, scene, request, code, errorCode, fields in CASES:
            api = await self.startAPI()
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
        ]:
            response = await self.search(api, query)
            self.assertEqual(response.code, 400, query)
            self.assertEqual(response.errorCode, 4000, query)
            self.assertEqual(response.body["error"]["details"][0]["field"], field, query)

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
