# -*- test-case-name: tests.unit.test_api_envelope -*-
"""
The envelope of the 2026 protocol's C{POST /} (protocol §2), as pure
functions: bytes in, values out.  Nothing here does I/O, imports Twisted's
web or knows the store.

A request body is either a L{Request} (kind, corrId, head and data, checked
as far as the envelope goes) or already the L{Response} to send, an error
answer; L{parseRequest} decides which, with the checks in the order the
reference makes them:

  1. the body is a JSON object with a string C{kind}, an object C{head}
     with a string C{corrId} and a string C{version} (and, when present, a
     string C{auth} and an integer C{resonate:debug_time}), and a C{data}
     member: else 400, C{"Invalid request envelope: ..."}, with the body's
     C{kind} and C{corrId} echoed when they can be read as strings, else
     C{"unknown"} and C{"0"};
  2. C{kind} is not empty;
  3. C{data} is an object;
  4. C{version} is supported.

Auth (step 5) and dispatch on the kind (6, L{unknownOperation}) are the
caller's.  Every answer is a L{Response}: an error's C{data} is a string
message, and the HTTP status is always C{head.status}.

Per kind, a L{DataReader} reads the members of C{data} as the reference's
deserialisation does (step 7): integers that refuse floats, booleans and
strings, strings, maps of strings, values, choices, with required, optional
(C{null} is absent) and defaulted (absent is empty, C{null} is refused)
members.  A misshapen member is a deserialisation problem and answers
C{"Invalid request: ..."}; the checks the kind adds afterwards (ranges,
non-empty ids, L{resonate.model.ids}) are validation problems, joined with
C{"; "}, reported only when there is no deserialisation problem.

Choices where the reference is open:

  - The reference reports the first deserialisation problem in the order
    of the body's members; this module reports the first in the order the
    kind reads them.  Its messages follow serde's wording, naming the
    member by its path (C{"missing field `action.data.id`"},
    C{"invalid type: floating point `1.5`, expected i64 at `timeoutAt`"}).
  - Every string a kind reads is refused (a validation problem) when it
    holds NUL, except where the kind asks otherwise to give its own
    message (a promise id, L{resonate.model.ids.checkLineage}): the stores
    cannot keep NUL in text.
  - A body with a lone UTF-16 surrogate escape (C{"\\ud800"}) anywhere is
    refused as an invalid envelope, as the reference's JSON parser refuses
    it; so are C{NaN} and C{Infinity}.
"""

import json
import re
from dataclasses import dataclass, field

#: The protocol version this server answers with.
PROTOCOL_VERSION = "2026-04-01"

#: The protocol versions a request may name.
SUPPORTED_VERSIONS = ("2026-04-01",)

#: The C{kind} and C{corrId} of an error answer to a body that has none.
UNKNOWN_KIND = "unknown"
UNKNOWN_CORR_ID = "0"

#: The head member that, in debug mode, replaces "now" for one request.
DEBUG_TIME = "resonate:debug_time"

OK = 200
BAD_REQUEST = 400

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

EMPTY_KIND = "Missing or invalid 'kind' field \u2014 must be a non-empty string"
DATA_NOT_OBJECT = "Invalid 'data' field \u2014 must be an object"

# A JSON escape of a UTF-16 surrogate: only then can decoding leave a lone
# one in a string, so only then is the decoded body searched for one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


@dataclass(frozen=True)
class Request:
    """
    A request whose envelope is well formed.

    @ivar kind: the operation, a non-empty C{str}.
    @ivar corrId: the C{str} to echo.
    @ivar head: the whole C{head} C{dict}, as sent.
    @ivar data: the C{data} C{dict}, not yet checked against its kind.
    """

    kind: str
    corrId: str
    head: dict
    data: dict

    @property
    def version(self):
        """
        The protocol version the request names.
        """
        return self.head["version"]

    @property
    def auth(self):
        """
        The token in C{head.auth}, or L{None}.
        """
        return self.head.get("auth")

    @property
    def debugTime(self):
        """
        C{head["resonate:debug_time"]} in milliseconds, or L{None}.
        """
        return self.head.get(DEBUG_TIME)


@dataclass(frozen=True)
class Response:
    """
    An answer to send: the HTTP status is C{status} too.

    @ivar data: the per-kind JSON value on success; a C{str} message on
        failure.
    """

    kind: str
    corrId: str
    status: int
    data: object

    def toJSON(self):
        """
        The envelope as a JSON-ready C{dict}.
        """
        return {
            "kind": self.kind,
            "head": {
                "corrId": self.corrId,
                "status": self.status,
                "version": PROTOCOL_VERSION,
            },
            "data": self.data,
        }

    def toBytes(self):
        """
        The envelope as compact UTF-8 JSON, the response body.
        """
        return json.dumps(
            self.toJSON(), ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")


def success(request, data, status=OK):
    """
    Answer C{request} with C{data}: 200, or the given status (the 300 of
    C{task.suspend}).
    """
    return Response(request.kind, request.corrId, status, data)


def failure(request, status, message):
    """
    Answer C{request} with an error: C{data} is the string C{message}.
    """
    return Response(request.kind, request.corrId, status, str(message))


def badRequest(request, message):
    """
    Answer C{request} 400 with C{message}.
    """
    return failure(request, BAD_REQUEST, message)


def unknownOperation(request):
    """
    The answer to a request whose C{kind} no operation has (step 6).
    """
    return badRequest(request, f"Unknown operation: {request.kind}")


def resolveNow(request, now, debug):
    """
    The time a request runs at: its C{resonate:debug_time} when the server
    runs in debug mode and the request gives one, else C{now}.
    """
    if debug and request.debugTime is not None:
        return request.debugTime
    return now


def isInteger(value):
    """
    Whether C{value} is a JSON integer that fits an i64: not a float (even
    C{1.0}), not a boolean.
    """
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and INT64_MIN <= value <= INT64_MAX
    )


def _unexpected(value):
    """
    Name a JSON value as serde's "invalid type" messages do.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value!r}`"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, list):
        return "sequence"
    return "map"


def _invalidType(value, expected, path):
    return f"invalid type: {_unexpected(value)}, expected {expected} at `{path}`"


def _integerProblem(value, path):
    """
    What is wrong with C{value} as an i64, or L{None}.
    """
    if isInteger(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return f"invalid value: integer `{value}`, expected i64 at `{path}`"
    return _invalidType(value, "i64", path)


def _hasLoneSurrogate(decoded):
    """
    Whether some string in the decoded JSON holds a lone surrogate.
    Iterative, so that depth costs no stack.
    """
    pending = [decoded]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            strings = [value]
        elif isinstance(value, dict):
            strings = list(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            strings = []
            pending.extend(value)
        else:
            strings = []
        for text in strings:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def _refuseConstant(name):
    raise ValueError(f"{name} is not JSON")


def decodeJSON(body):
    """
    Decode a body as strict JSON: UTF-8, no C{NaN}/C{Infinity}, no lone
    surrogate.

    @param body: C{bytes}.
    @return: C{(decoded, None)}, or C{(None, problem)} with a C{str}.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"invalid UTF-8 at byte {e.start}"
    try:
        decoded = json.loads(text, parse_constant=_refuseConstant)
    except RecursionError:
        return None, "recursion limit exceeded"
    except ValueError as e:
        return None, str(e)
    if _SURROGATE_ESCAPE.search(body) and _hasLoneSurrogate(decoded):
        return None, "lone surrogate in a string"
    return decoded, None


def _echoes(decoded):
    """
    The C{kind} and C{corrId} to answer a malformed envelope with: the
    body's when they are strings, else L{UNKNOWN_KIND} and
    L{UNKNOWN_CORR_ID}.
    """
    if not isinstance(decoded, dict):
        return UNKNOWN_KIND, UNKNOWN_CORR_ID
    kind = decoded.get("kind")
    head = decoded.get("head")
    corrId = head.get("corrId") if isinstance(head, dict) else None
    return (
        kind if isinstance(kind, str) else UNKNOWN_KIND,
        corrId if isinstance(corrId, str) else UNKNOWN_CORR_ID,
    )


def _envelopeProblem(decoded):
    """
    What keeps C{decoded} from being an envelope (step 1), or L{None}.
    """
    if not isinstance(decoded, dict):
        return f"invalid type: {_unexpected(decoded)}, expected an envelope object"
    for name in ("kind", "head", "data"):
        if name not in decoded:
            return f"missing field `{name}`"
    kind, head = decoded["kind"], decoded["head"]
    if not isinstance(kind, str):
        return _invalidType(kind, "a string", "kind")
    if not isinstance(head, dict):
        return _invalidType(head, "an object", "head")
    for name in ("corrId", "version"):
        if name not in head:
            return f"missing field `head.{name}`"
        if not isinstance(head[name], str):
            return _invalidType(head[name], "a string", f"head.{name}")
    auth = head.get("auth")
    if auth is not None and not isinstance(auth, str):
        return _invalidType(auth, "a string", "head.auth")
    debugTime = head.get(DEBUG_TIME)
    if debugTime is not None:
        return _integerProblem(debugTime, f"head.{DEBUG_TIME}")
    return None


def parseRequest(body):
    """
    Check a C{POST /} body as an envelope (steps 1 to 4).

    @param body: the request body, C{bytes}.
    @return: a L{Request}, or the L{Response} (400) to send instead.
    """
    decoded, problem = decodeJSON(body)
    if problem is None:
        problem = _envelopeProblem(decoded)
    if problem is not None:
        kind, corrId = _echoes(decoded)
        return Response(
            kind, corrId, BAD_REQUEST, f"Invalid request envelope: {problem}"
        )
    head = decoded["head"]
    request = Request(decoded["kind"], head["corrId"], head, decoded["data"])
    if request.kind == "":
        return badRequest(request, EMPTY_KIND)
    if not isinstance(request.data, dict):
        return badRequest(request, DATA_NOT_OBJECT)
    if request.version not in SUPPORTED_VERSIONS:
        supported = ", ".join(json.dumps(v) for v in SUPPORTED_VERSIONS)
        return badRequest(
            request,
            f"Unsupported protocol version '{request.version}', "
            f"supported versions: [{supported}]",
        )
    return request


@dataclass(frozen=True)
class WireValue:
    """
    A C{param}, C{value} or C{promiseParam} as the 2026 protocol carries
    it: string headers and an opaque C{data} string, never decoded.

    @ivar headers: a C{dict} of C{str} to C{str}, empty when absent.
    @ivar data: a C{str}, or L{None} when absent.
    """

    headers: dict = field(default_factory=dict)
    data: str = None


class _Problems:
    """
    The problems found in one request's C{data}, shared by the readers of
    its nested objects.
    """

    def __init__(self):
        self.malformed = []
        self.invalid = []


class DataReader:
    """
    Reads the members of one JSON object of a request's C{data}, recording
    problems instead of raising.  Each reader method returns the member
    read, or L{None} when it is absent (and optional) or has a problem.

    Presence, as the reference's deserialisation has it:

      - required (the default): absent is C{"missing field"}, C{null} a
        type problem;
      - C{optional=True}: absent and C{null} both read as L{None};
      - maps and values: absent reads as empty, C{null} is a type problem
        (unless C{optional=True}, then both read as L{None}).
    """

    def __init__(self, data, path="", problems=None):
        """
        @param data: the C{dict} to read.
        @param path: the dotted path of C{data} in the request's C{data},
            C{""} at the top.
        """
        self._data = data
        self._path = path
        self._problems = _Problems() if problems is None else problems

    @property
    def problem(self):
        """
        The message of the 400 to answer, or L{None} when there is none:
        C{"Invalid request: "} and the first deserialisation problem, else
        the validation problems joined with C{"; "} (a repeat of the one
        before left out).
        """
        if self._problems.malformed:
            return f"Invalid request: {self._problems.malformed[0]}"
        messages = []
        for message in self._problems.invalid:
            if not messages or messages[-1] != message:
                messages.append(message)
        return "; ".join(messages) or None

    @property
    def isWellFormed(self):
        """
        Whether no member was misshapen (validation aside).
        """
        return not self._problems.malformed

    def invalid(self, message):
        """
        Record a validation problem: a member is well formed but its value
        is refused.

        @param message: the reference's message, a C{str}; L{None} is
            ignored, so that a C{check*} function's answer may be passed
            as it is.
        """
        if message is not None:
            self._problems.invalid.append(message)

    def check(self, condition, message):
        """
        Record C{message} as a validation problem unless C{condition}.
        """
        if not condition:
            self.invalid(message)

    def pathOf(self, name):
        """
        The dotted path of member C{name}.
        """
        return f"{self._path}.{name}" if self._path else name

    def _malformed(self, message):
        self._problems.malformed.append(message)

    def _member(self, name, optional):
        """
        Read member C{name}'s raw value, recording it missing if required.

        @return: C{(present, value)}; C{present} is false when the member is
            absent, or C{null} and optional.
        """
        if name not in self._data:
            if not optional:
                self._malformed(f"missing field `{self.pathOf(name)}`")
            return False, None
        value = self._data[name]
        if value is None and optional:
            return False, None
        return True, value

    def _typed(self, name, optional, kind, expected):
        """
        Read member C{name}, which must be an instance of C{kind} (named
        C{expected} in the problem).

        @return: the value, or L{None} when absent or misshapen.
        """
        present, value = self._member(name, optional)
        if not present:
            return None
        if not isinstance(value, kind):
            self._malformed(_invalidType(value, expected, self.pathOf(name)))
            return None
        return value

    def _checkText(self, text, path):
        if "\x00" in text:
            self.invalid(f"{path} must not contain null bytes")

    def integer(self, name, optional=False):
        """
        Read an i64: a float (even C{1.0}), a boolean, a string or an
        integer out of range is a deserialisation problem.
        """
        present, value = self._member(name, optional)
        if not present:
            return None
        problem = _integerProblem(value, self.pathOf(name))
        if problem is not None:
            self._malformed(problem)
            return None
        return value

    def string(self, name, optional=False, allowNul=False):
        """
        Read a string.  One holding NUL is a validation problem unless
        C{allowNul} (then the kind's own rule reports it).
        """
        value = self._typed(name, optional, str, "a string")
        if value is not None and not allowNul:
            self._checkText(value, self.pathOf(name))
        return value

    def choice(self, name, choices, optional=False):
        """
        Read one of the strings C{choices} (an enum): anything else is a
        deserialisation problem.

        @param choices: a sequence of C{str}, in the order to name them.
        """
        value = self._typed(name, optional, str, "a string")
        if value is None:
            return None
        path = self.pathOf(name)
        if value not in choices:
            expected = ", ".join(f"`{c}`" for c in choices)
            self._malformed(
                f"unknown variant `{value}`, expected one of {expected} at `{path}`"
            )
            return None
        return value

    def _stringMap(self, value, path):
        if not isinstance(value, dict):
            self._malformed(_invalidType(value, "a map of strings", path))
            return None
        for key, item in value.items():
            if not isinstance(item, str):
                self._malformed(_invalidType(item, "a string", f"{path}.{key}"))
                return None
            self._checkText(key, f"{path} key")
            self._checkText(item, f"{path}.{key}")
        return dict(value)

    def stringMap(self, name, optional=False):
        """
        Read a map of strings to strings (C{tags}, C{headers}).  Absent, it
        reads as C{{}} (or L{None} when C{optional}).
        """
        if name not in self._data and not optional:
            return {}
        present, value = self._member(name, optional)
        if not present:
            return None
        return self._stringMap(value, self.pathOf(name))

    def value(self, name):
        """
        Read a L{WireValue}: an object with optional C{headers} (a map of
        strings) and C{data} (a string); other members are ignored.
        Absent, it reads as an empty value; C{null} is a problem.
        """
        if name not in self._data:
            return WireValue()
        path = self.pathOf(name)
        value = self._data[name]
        if not isinstance(value, dict):
            self._malformed(_invalidType(value, "an object", path))
            return None
        before = len(self._problems.malformed)
        inner = DataReader(value, path, self._problems)
        headers = inner.stringMap("headers", optional=True)
        data = inner.string("data", optional=True)
        if len(self._problems.malformed) > before:
            return None
        return WireValue(headers or {}, data)

    def object(self, name, optional=False):
        """
        Read a nested object.

        @return: a L{DataReader} over it that shares this one's problems,
            or L{None}.
        """
        present, value = self._member(name, optional)
        if not present:
            return None
        return self.nested(value, self.pathOf(name))

    def nested(self, value, path):
        """
        A L{DataReader} over C{value}, an item read with L{array}, that
        shares this one's problems; L{None} when it is not an object.

        @param path: its path, such as C{"actions.0"}.
        """
        if not isinstance(value, dict):
            self._malformed(_invalidType(value, "an object", path))
            return None
        return DataReader(value, path, self._problems)

    def array(self, name, optional=False):
        """
        Read an array.

        @return: a C{list} of raw JSON values, or L{None}.
        """
        return self._typed(name, optional, list, "a sequence")

    def anything(self, name, optional=False):
        """
        Read any JSON value (an action's C{head}, a fenced action's
        C{data}): required means present, C{null} included (read as
        L{None}, as an optional absent member is).
        """
        present, value = self._member(name, optional)
        return value if present else None

