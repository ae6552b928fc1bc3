# -*- test-case-name: tests.unit.test_api_envelope -*-
"""
Tests for L{resonate.api.envelope}: the 2026 protocol's envelope and the
readers of its C{data}.
"""

import json

from twisted.trial.unittest import SynchronousTestCase

from resonate.api.envelope import (
    DATA_NOT_OBJECT,
    EMPTY_KIND,
    INT64_MAX,
    INT64_MIN,
    PROTOCOL_VERSION,
    DataReader,
    Request,
    Response,
    WireValue,
    badRequest,
    decodeJSON,
    failure,
    isInteger,
    parseRequest,
    resolveNow,
    success,
    unknownOperation,
)

HEAD = {"corrId": "c1", "version": "2026-04-01"}


def envelope(**members):
    """
    A valid request envelope as a C{dict}, with C{members} replacing its
    own (a value of C{...} removes the member).
    """
    body = {"kind": "promise.get", "head": dict(HEAD), "data": {"id": "p"}}
    body.update(members)
    return {k: v for k, v in body.items() if v is not ...}


def encode(value):
    """
    C{value} as a request body.
    """
    return json.dumps(value).encode("utf-8")


def head(**members):
    """
    A valid head with C{members} replacing its own (C{...} removes).
    """
    result = dict(HEAD, **members)
    return {k: v for k, v in result.items() if v is not ...}


class ParseRequestTests(SynchronousTestCase):
    """
    Tests for L{parseRequest}.
    """

    def assertRefused(self, cases):
        """
        Each body is answered 400 with the kind, corrId and message (or
        message prefix, when it ends with C{...}) its row gives.
        """
        for body, kind, corrId, message in cases:
            answer = parseRequest(body)
            self.assertIsInstance(answer, Response, repr(body))
            self.assertEqual(
                (answer.kind, answer.corrId, answer.status),
                (kind, corrId, 400),
                repr(body),
            )
            self.assertIsInstance(answer.data, str, repr(body))
            if message.endswith("..."):
                self.assertTrue(
                    answer.data.startswith(message[:-3]), (body, answer.data)
                )
            else:
                self.assertEqual(answer.data, message, repr(body))

    def test_valid(self):
        """
        A well-formed envelope is a L{Request}; other head members (the npm
        SDK's C{resonate:origin}) and unknown top-level members are kept
        or ignored, never refused.
        """
        cases = [
            envelope(),
            envelope(head=head(auth="jwt")),
            envelope(head=head(auth=None)),
            envelope(head=head(**{"resonate:debug_time": 5})),
            envelope(head=head(**{"resonate:debug_time": None})),
            envelope(head=head(**{"resonate:origin": "root"})),
            envelope(extra=[1, 2]),
            envelope(data={}),
            envelope(kind="no.such.kind"),
            envelope(head=head(corrId="")),
        ]
        for body in cases:
            request = parseRequest(encode(body))
            self.assertEqual(
                request,
                Request(body["kind"], body["head"]["corrId"], body["head"], body["data"]),
                repr(body),
            )

    def test_requestHead(self):
        """
        A L{Request} reads its version, auth and debug time from its head.
        """
        request = parseRequest(
            encode(envelope(head=head(auth="t", **{"resonate:debug_time": 7})))
        )
        self.assertEqual(
            (request.version, request.auth, request.debugTime),
            ("2026-04-01", "t", 7),
        )
        bare = parseRequest(encode(envelope()))
        self.assertEqual((bare.auth, bare.debugTime), (None, None))

    def test_notJSON(self):
        """
        A body that is not strict JSON (empty, truncated, not UTF-8,
        C{NaN}, a lone surrogate) is an invalid envelope, answered with
        kind C{unknown} and corrId C{0}.
        """
        self.assertRefused(
            [
                (b"", "unknown", "0", "Invalid request envelope: ..."),
                (b"{", "unknown", "0", "Invalid request envelope: ..."),
                (b"nope", "unknown", "0", "Invalid request envelope: ..."),
                (b"\xff{}", "unknown", "0", "Invalid request envelope: invalid UTF-8 at byte 0"),
                (
                    b'{"kind": "k", "head": {"corrId": "c", "version": "2026-04-01"}, "data": {"n": NaN}}',
                    "unknown",
                    "0",
                    "Invalid request envelope: NaN is not JSON",
                ),
                (
                    b'{"kind": "k", "head": {"corrId": "c", "version": "2026-04-01"}, "data": {"n": -Infinity}}',
                    "unknown",
                    "0",
                    "Invalid request envelope: -Infinity is not JSON",
                ),
                (
                    b'{"kind": "k", "head": {"corrId": "c", "version": "2026-04-01"}, "data": {"s": "\\ud800"}}',
                    "unknown",
                    "0",
                    "Invalid request envelope: lone surrogate in a string",
                ),
                (
                    b'{"kind": "k", "head": {"corrId": "c", "version": "2026-04-01"}, "data": {"\\udfff": 1}}',
                    "unknown",
                    "0",
                    "Invalid request envelope: lone surrogate in a string",
                ),
                (b"[" * 100000 + b"]" * 100000, "unknown", "0", "Invalid request envelope: ..."),
            ]
        )

    def test_surrogatePair(self):
        """
        A surrogate pair escape is a character like any other.
        """
        body = b'{"kind": "k", "head": {"corrId": "c", "version": "2026-04-01"}, "data": {"s": "\\ud83d\\ude00"}}'
        self.assertEqual(parseRequest(body).data, {"s": "\U0001F600"})

    def test_notAnEnvelope(self):
        """
        Step 1: a JSON value that is not an envelope is refused with the
        body's kind and corrId when they are strings, C{unknown} and C{0}
        otherwise.
        """
        bad = "Invalid request envelope: "
        self.assertRefused(
            [
                (b"[]", "unknown", "0", bad + "invalid type: sequence, expected an envelope object"),
                (b"null", "unknown", "0", bad + "invalid type: null, expected an envelope object"),
                (b'"x"', "unknown", "0", bad + 'invalid type: string "x", expected an envelope object'),
                (encode(envelope(kind=...)), "unknown", "c1", bad + "missing field `kind`"),
                (encode(envelope(head=...)), "promise.get", "0", bad + "missing field `head`"),
                (encode(envelope(data=...)), "promise.get", "c1", bad + "missing field `data`"),
                (
                    encode(envelope(kind=1)),
                    "unknown",
                    "c1",
                    bad + "invalid type: integer `1`, expected a string at `kind`",
                ),
                (
                    encode(envelope(kind=None)),
                    "unknown",
                    "c1",
                    bad + "invalid type: null, expected a string at `kind`",
                ),
                (
                    encode(envelope(head=[])),
                    "promise.get",
                    "0",
                    bad + "invalid type: sequence, expected an object at `head`",
                ),
                (
                    encode(envelope(head=head(corrId=...))),
                    "promise.get",
                    "0",
                    bad + "missing field `head.corrId`",
                ),
                (
                    encode(envelope(head=head(corrId=7))),
                    "promise.get",
                    "0",
                    bad + "invalid type: integer `7`, expected a string at `head.corrId`",
                ),
                (
                    encode(envelope(head=head(version=...))),
                    "promise.get",
                    "c1",
                    bad + "missing field `head.version`",
                ),
                (
                    encode(envelope(head=head(version=20260401))),
                    "promise.get",
                    "c1",
                    bad + "invalid type: integer `20260401`, expected a string at `head.version`",
                ),
                (
                    encode(envelope(head=head(auth=1))),
                    "promise.get",
                    "c1",
                    bad + "invalid type: integer `1`, expected a string at `head.auth`",
                ),
                (
                    encode(envelope(head=head(**{"resonate:debug_time": 1.0}))),
                    "promise.get",
                    "c1",
                    bad + "invalid type: floating point `1.0`, expected i64 at `head.resonate:debug_time`",
                ),
                (
                    encode(envelope(head=head(**{"resonate:debug_time": "5"}))),
                    "promise.get",
                    "c1",
                    bad + 'invalid type: string "5", expected i64 at `head.resonate:debug_time`',
                ),
                (
                    encode(envelope(head=head(**{"resonate:debug_time": 2**63}))),
                    "promise.get",
                    "c1",
                    bad + f"invalid value: integer `{2**63}`, expected i64 at `head.resonate:debug_time`",
                ),
            ]
        )

    def test_emptyKind(self):
        """
        Step 2: an empty kind is refused, before the data and the version
        are looked at.
        """
        self.assertRefused(
            [
                (encode(envelope(kind="")), "", "c1", EMPTY_KIND),
                (encode(envelope(kind="", data=[], head=head(version="x"))), "", "c1", EMPTY_KIND),
            ]
        )
        self.assertEqual(
            EMPTY_KIND,
            "Missing or invalid 'kind' field \u2014 must be a non-empty string",
        )

    def test_dataNotObject(self):
        """
        Step 3: C{data} must be an object (C{null} included), checked
        before the version.
        """
        cases = [
            (encode(envelope(data=value)), "promise.get", "c1", DATA_NOT_OBJECT)
            for value in [[], "x", 1, 1.5, None, True]
        ]
        cases.append(
            (encode(envelope(data=None, head=head(version="x"))), "promise.get", "c1", DATA_NOT_OBJECT)
        )
        self.assertRefused(cases)
        self.assertEqual(DATA_NOT_OBJECT, "Invalid 'data' field \u2014 must be an object")

    def test_unsupportedVersion(self):
        """
        Step 4: only C{2026-04-01} is supported; the message names the
        version and the supported ones.
        """
        self.assertRefused(
            [
                (
                    encode(envelope(head=head(version=version))),
                    "promise.get",
                    "c1",
                    f"Unsupported protocol version '{version}', "
                    'supported versions: ["2026-04-01"]',
                )
                for version in ["", "2025-01-01", "v0.5", "2026-04-01 "]
            ]
        )


class ResponseTests(SynchronousTestCase):
    """
    Tests for L{Response} and the functions that build one.
    """

    request = Request("task.suspend", "c9", dict(HEAD), {})

    def test_toJSON(self):
        """
        The envelope echoes kind and corrId and carries the status and this
        server's version in its head.
        """
        self.assertEqual(
            Response("promise.get", "c1", 404, "Promise not found").toJSON(),
            {
                "kind": "promise.get",
                "head": {"corrId": "c1", "status": 404, "version": PROTOCOL_VERSION},
                "data": "Promise not found",
            },
        )

    def test_toBytes(self):
        """
        The body is compact UTF-8 JSON.
        """
        self.assertEqual(
            Response("k", "c", 200, {"s": "é"}).toBytes(),
            '{"kind":"k","head":{"corrId":"c","status":200,"version":"2026-04-01"},'
            '"data":{"s":"é"}}'.encode("utf-8"),
        )

    def test_builders(self):
        """
        L{success} answers 200 (or the given status: C{task.suspend}'s
        300), L{failure} and L{badRequest} answer a string message,
        L{unknownOperation} the reference's message.
        """
        cases = [
            (success(self.request, {}), Response("task.suspend", "c9", 200, {})),
            (
                success(self.request, {"preload": []}, 300),
                Response("task.suspend", "c9", 300, {"preload": []}),
            ),
            (
                failure(self.request, 409, "Version mismatch"),
                Response("task.suspend", "c9", 409, "Version mismatch"),
            ),
            (badRequest(self.request, "bad"), Response("task.suspend", "c9", 400, "bad")),
            (
                unknownOperation(self.request),
                Response("task.suspend", "c9", 400, "Unknown operation: task.suspend"),
            ),
        ]
        for built, expected in cases:
            self.assertEqual(built, expected)

    def test_resolveNow(self):
        """
        C{resonate:debug_time} replaces now only in debug mode.
        """
        timed = Request("k", "c", head(**{"resonate:debug_time": 5}), {})
        untimed = Request("k", "c", head(), {})
        cases = [
            ((timed, 100, True), 5),
            ((timed, 100, False), 100),
            ((untimed, 100, True), 100),
            ((untimed, 100, False), 100),
        ]
        for arguments, expected in cases:
            self.assertEqual(resolveNow(*arguments), expected, repr(arguments))


class DecodeJSONTests(SynchronousTestCase):
    """
    Tests for L{decodeJSON} beyond what L{ParseRequestTests} covers.
    """

    def test_decoded(self):
        """
        Strict JSON decodes to its value, with no problem.
        """
        for body, value in [(b"{}", {}), (b"[1]", [1]), (b'"\\u00e9"', "é"), (b"1.0", 1.0)]:
            self.assertEqual(decodeJSON(body), (value, None))


class IsIntegerTests(SynchronousTestCase):
    """
    Tests for L{isInteger}.
    """

    def test_table(self):
        """
        Integers in the i64 range are integers; floats (even C{1.0}),
        booleans, strings and integers out of range are not.
        """
        cases = [
            (0, True),
            (-1, True),
            (INT64_MAX, True),
            (INT64_MIN, True),
            (INT64_MAX + 1, False),
            (INT64_MIN - 1, False),
            (1.0, False),
            (1.5, False),
            (True, False),
            (False, False),
            ("1", False),
            (None, False),
        ]
        for value, expected in cases:
            self.assertEqual(isInteger(value), expected, repr(value))


def read(data, method, *arguments, **keywords):
    """
    Read one member of C{data} with the L{DataReader} method C{method}.

    @return: C{(value, problem)}.
    """
    reader = DataReader(data)
    value = getattr(reader, method)(*arguments, **keywords)
    return value, reader.problem


class DataReaderTests(SynchronousTestCase):
    """
    Tests for the member readers of L{DataReader}.
    """

    def assertReads(self, cases):
        """
        Each row C{(data, method, arguments, keywords, value, problem)}
        reads C{value} with C{problem}.
        """
        for data, method, arguments, keywords, value, problem in cases:
            self.assertEqual(
                read(data, method, *arguments, **keywords),
                (value, problem),
                f"{method}{arguments} of {data!r}",
            )

    def test_integer(self):
        """
        An i64 member: a float where an integer belongs (even C{1.0}, or
        C{1e3} as JSON gives it), a boolean, a string, C{null} or an
        integer out of range is refused as "Invalid request"; optional
        members read absent and C{null} as L{None}.
        """
        bad = "Invalid request: "
        i = "integer"
        self.assertReads(
            [
                ({"n": 0}, i, ("n",), {}, 0, None),
                ({"n": -5}, i, ("n",), {}, -5, None),
                ({"n": INT64_MAX}, i, ("n",), {}, INT64_MAX, None),
                ({"n": INT64_MIN}, i, ("n",), {}, INT64_MIN, None),
                ({}, i, ("n",), {}, None, bad + "missing field `n`"),
                ({"n": None}, i, ("n",), {}, None, bad + "invalid type: null, expected i64 at `n`"),
                ({"n": 1.0}, i, ("n",), {}, None, bad + "invalid type: floating point `1.0`, expected i64 at `n`"),
                (json.loads('{"n": 1e3}'), i, ("n",), {}, None, bad + "invalid type: floating point `1000.0`, expected i64 at `n`"),
                ({"n": 1.5}, i, ("n",), {}, None, bad + "invalid type: floating point `1.5`, expected i64 at `n`"),
                ({"n": True}, i, ("n",), {}, None, bad + "invalid type: boolean `true`, expected i64 at `n`"),
                ({"n": False}, i, ("n",), {}, None, bad + "invalid type: boolean `false`, expected i64 at `n`"),
                ({"n": "5"}, i, ("n",), {}, None, bad + 'invalid type: string "5", expected i64 at `n`'),
                ({"n": [5]}, i, ("n",), {}, None, bad + "invalid type: sequence, expected i64 at `n`"),
                ({"n": {}}, i, ("n",), {}, None, bad + "invalid type: map, expected i64 at `n`"),
                ({"n": 2**63}, i, ("n",), {}, None, bad + f"invalid value: integer `{2**63}`, expected i64 at `n`"),
                ({}, i, ("n",), {"optional": True}, None, None),
                ({"n": None}, i, ("n",), {"optional": True}, None, None),
                ({"n": 7}, i, ("n",), {"optional": True}, 7, None),
                ({"n": 7.0}, i, ("n",), {"optional": True}, None, bad + "invalid type: floating point `7.0`, expected i64 at `n`"),
            ]
        )

    def test_string(self):
        """
        A string member: other types are refused; NUL is a validation
        problem unless the kind reports it itself.
        """
        bad = "Invalid request: "
        s = "string"
        self.assertReads(
            [
                ({"s": "x"}, s, ("s",), {}, "x", None),
                ({"s": ""}, s, ("s",), {}, "", None),
                ({}, s, ("s",), {}, None, bad + "missing field `s`"),
                ({"s": None}, s, ("s",), {}, None, bad + "invalid type: null, expected a string at `s`"),
                ({"s": 1}, s, ("s",), {}, None, bad + "invalid type: integer `1`, expected a string at `s`"),
                ({"s": {}}, s, ("s",), {}, None, bad + "invalid type: map, expected a string at `s`"),
                ({"s": "a\x00b"}, s, ("s",), {}, "a\x00b", "s must not contain null bytes"),
                ({"s": "a\x00b"}, s, ("s",), {"allowNul": True}, "a\x00b", None),
                ({}, s, ("s",), {"optional": True}, None, None),
                ({"s": None}, s, ("s",), {"optional": True}, None, None),
            ]
        )

    def test_choice(self):
        """
        An enum member: exactly one of the choices, case included.
        """
        states = ("resolved", "rejected", "rejected_canceled")
        unknown = (
            "Invalid request: unknown variant `{}`, expected one of "
            "`resolved`, `rejected`, `rejected_canceled` at `state`"
        )
        c = "choice"
        self.assertReads(
            [
                ({"state": "rejected"}, c, ("state", states), {}, "rejected", None),
                ({"state": "pending"}, c, ("state", states), {}, None, unknown.format("pending")),
                ({"state": "RESOLVED"}, c, ("state", states), {}, None, unknown.format("RESOLVED")),
                ({"state": "rejected_timedout"}, c, ("state", states), {}, None, unknown.format("rejected_timedout")),
                ({}, c, ("state", states), {}, None, "Invalid request: missing field `state`"),
                ({"state": 1}, c, ("state", states), {}, None, "Invalid request: invalid type: integer `1`, expected a string at `state`"),
                ({}, c, ("state", states), {"optional": True}, None, None),
                ({"state": None}, c, ("state", states), {"optional": True}, None, None),
            ]
        )

    def test_stringMap(self):
        """
        A map of strings: absent is C{{}} (or L{None} when optional),
        C{null} is refused unless optional, a non-string value is refused
        by its path, NUL is a validation problem.
        """
        bad = "Invalid request: "
        m = "stringMap"
        self.assertReads(
            [
                ({"tags": {"a": "b"}}, m, ("tags",), {}, {"a": "b"}, None),
                ({}, m, ("tags",), {}, {}, None),
                ({"tags": {}}, m, ("tags",), {}, {}, None),
                ({"tags": None}, m, ("tags",), {}, None, bad + "invalid type: null, expected a map of strings at `tags`"),
                ({"tags": []}, m, ("tags",), {}, None, bad + "invalid type: sequence, expected a map of strings at `tags`"),
                ({"tags": {"a": 1}}, m, ("tags",), {}, None, bad + "invalid type: integer `1`, expected a string at `tags.a`"),
                ({"tags": {"a": None}}, m, ("tags",), {}, None, bad + "invalid type: null, expected a string at `tags.a`"),
                ({"tags": {"a": True}}, m, ("tags",), {}, None, bad + "invalid type: boolean `true`, expected a string at `tags.a`"),
                ({"tags": {"a": "\x00"}}, m, ("tags",), {}, {"a": "\x00"}, "tags.a must not contain null bytes"),
                ({"tags": {"\x00": "b"}}, m, ("tags",), {}, {"\x00": "b"}, "tags key must not contain null bytes"),
                ({}, m, ("tags",), {"optional": True}, None, None),
                ({"tags": None}, m, ("tags",), {"optional": True}, None, None),
                ({"tags": {"a": "b"}}, m, ("tags",), {"optional": True}, {"a": "b"}, None),
            ]
        )

    def test_value(self):
        """
        A value: absent or C{{}} is empty; C{headers} and C{data} are read,
        each optional, other members ignored; a value that is not an
        object, or misshapen parts, are refused.
        """
        bad = "Invalid request: "
        v = "value"
        self.assertReads(
            [
                ({}, v, ("param",), {}, WireValue(), None),
                ({"param": {}}, v, ("param",), {}, WireValue(), None),
                (
                    {"param": {"headers": {"h": "1"}, "data": "eyJhIjoxfQ=="}},
                    v,
                    ("param",),
                    {},
                    WireValue({"h": "1"}, "eyJhIjoxfQ=="),
                    None,
                ),
                ({"param": {"headers": None, "data": None}}, v, ("param",), {}, WireValue(), None),
                ({"param": {"data": "not base64 at all", "x": 1}}, v, ("param",), {}, WireValue({}, "not base64 at all"), None),
                ({"param": None}, v, ("param",), {}, None, bad + "invalid type: null, expected an object at `param`"),
                ({"param": "x"}, v, ("param",), {}, None, bad + 'invalid type: string "x", expected an object at `param`'),
                ({"param": {"data": 1}}, v, ("param",), {}, None, bad + "invalid type: integer `1`, expected a string at `param.data`"),
                ({"param": {"headers": {"h": 1}}}, v, ("param",), {}, None, bad + "invalid type: integer `1`, expected a string at `param.headers.h`"),
                ({"param": {"headers": []}}, v, ("param",), {}, None, bad + "invalid type: sequence, expected a map of strings at `param.headers`"),
            ]
        )

    def test_anything(self):
        """
        Any JSON value: required means present, C{null} included.
        """
        self.assertReads(
            [
                ({"head": {"x": 1}}, "anything", ("head",), {}, {"x": 1}, None),
                ({"head": None}, "anything", ("head",), {}, None, None),
                ({}, "anything", ("head",), {}, None, "Invalid request: missing field `head`"),
                ({}, "anything", ("head",), {"optional": True}, None, None),
            ]
        )

    def test_array(self):
        """
        An array reads as its list of raw values.
        """
        self.assertReads(
            [
                ({"tasks": [1, {}]}, "array", ("tasks",), {}, [1, {}], None),
                ({"tasks": []}, "array", ("tasks",), {}, [], None),
                ({}, "array", ("tasks",), {}, None, "Invalid request: missing field `tasks`"),
                ({"tasks": {}}, "array", ("tasks",), {}, None, "Invalid request: invalid type: map, expected a sequence at `tasks`"),
            ]
        )


class NestedReaderTests(SynchronousTestCase):
    """
    Tests for nested objects read with L{DataReader}: paths in messages,
    and problems shared with the outer reader.
    """

    def test_objectPaths(self):
        """
        A nested object's problems name the member by its whole path.
        """
        reader = DataReader({"action": {"kind": "promise.create", "data": {"timeoutAt": 1}}})
        action = reader.object("action")
        data = action.object("data")
        self.assertEqual(data.string("id"), None)
        self.assertEqual(
            reader.problem, "Invalid request: missing field `action.data.id`"
        )

    def test_objectNotAnObject(self):
        """
        A nested member that is not an object is refused; an optional one
        may be absent or C{null}.
        """
        cases = [
            ({"action": []}, {}, "Invalid request: invalid type: sequence, expected an object at `action`"),
            ({}, {}, "Invalid request: missing field `action`"),
            ({}, {"optional": True}, None),
            ({"action": None}, {"optional": True}, None),
        ]
        for data, keywords, problem in cases:
            reader = DataReader(data)
            self.assertIsNone(reader.object("action", **keywords))
            self.assertEqual(reader.problem, problem, repr(data))

    def test_nestedItems(self):
        """
        Items of an array are read with L{DataReader.nested}, by the path
        the caller gives.
        """
        reader = DataReader({"tasks": [{"id": "a", "version": 1}, {"id": "b", "version": 1.0}, 3]})
        items = reader.array("tasks")
        first = reader.nested(items[0], "tasks.0")
        self.assertEqual((first.string("id"), first.integer("version")), ("a", 1))
        self.assertIsNone(reader.problem)
        second = reader.nested(items[1], "tasks.1")
        self.assertIsNone(second.integer("version"))
        self.assertIsNone(reader.nested(items[2], "tasks.2"))
        self.assertEqual(
            reader.problem,
            "Invalid request: invalid type: floating point `1.0`, expected i64 at `tasks.1.version`",
        )


class ProblemTests(SynchronousTestCase):
    """
    Tests for L{DataReader.problem}, L{DataReader.invalid} and
    L{DataReader.check}.
    """

    def test_none(self):
        """
        A reader with nothing wrong has no problem and is well formed.
        """
        reader = DataReader({"id": "p"})
        reader.string("id")
        reader.invalid(None)
        reader.check(True, "never")
        self.assertIsNone(reader.problem)
        self.assertTrue(reader.isWellFormed)

    def test_validationJoined(self):
        """
        Validation problems are joined with C{"; "}, a repeat of the one
        before it left out.
        """
        reader = DataReader({})
        reader.invalid("Promise ID is required")
        reader.check(False, "TimeoutAt must be a non-negative integer")
        reader.invalid("TimeoutAt must be a non-negative integer")
        reader.invalid("Promise ID is required")
        self.assertEqual(
            reader.problem,
            "Promise ID is required; TimeoutAt must be a non-negative integer; "
            "Promise ID is required",
        )
        self.assertTrue(reader.isWellFormed)

    def test_malformedFirst(self):
        """
        A deserialisation problem hides validation problems, and only the
        first is reported.
        """
        reader = DataReader({"timeoutAt": 1.5, "tags": 3})
        reader.invalid("Promise ID is required")
        reader.integer("timeoutAt")
        reader.stringMap("tags")
        reader.string("id")
        self.assertFalse(reader.isWellFormed)
        self.assertEqual(
            reader.problem,
            "Invalid request: invalid type: floating point `1.5`, expected i64 at `timeoutAt`",
        )
