# -*- test-case-name: tests.integration.test_api_http,tests.integration.test_api_grpc -*-
"""
The JSON wire format of the v0.5 API: parsing with validation, rendering.

Parsing collects every problem it finds, one per field, and raises a single
L{ValidationError}; nothing malformed ever reaches a store.  JSON C{null}
counts as absent everywhere, because the real SDKs send C{"tags": null} and
C{"headers": null}.
"""

import base64
import binascii
import json

import orjson

from resonate.errors import ValidationError
from resonate.model.lock import AcquireLock, ReleaseLock
from resonate.model.promise import (
    ALL_STATES,
    COMPLETION_STATES,
    SEARCH_STATES,
    CompletePromise,
    CreatePromise,
    PromiseQuery,
    State,
    Value,
)
from resonate.model.task import ClaimTask, CompleteTask
from resonate.model.schedule import (
    CreateSchedule,
    InvalidCron,
    ScheduleQuery,
    checkCron,
    expandPromiseId,
)

INT64_MAX = 2**63 - 1

#: The longest lock lease: now + lease must still fit in 64 bits.
MAX_LEASE = 2**62

#: The largest page a search may ask for.
MAX_SEARCH_LIMIT = 100

#: The longest id (of a promise, schedule, lock, process, execution or
#: task) and search pattern, in bytes of UTF-8.  PostgreSQL indexes ids in
#: btrees, whose entries hold at most 2704 bytes: a longer id would fail
#: there (5002), while SQLite and memory would keep it.  One limit for every
#: store, with room to spare; any id this long still fits in a request line.
MAX_ID_BYTES = 2048

#: The longest cron expression, in characters: it is parsed on the reactor
#: thread, and a megabyte of it takes seconds.  Real ones are far shorter.
MAX_CRON_LENGTH = 1024

_ID_TOO_LONG = f"must be at most {MAX_ID_BYTES} bytes of UTF-8"

_TRUE = frozenset(["1", "t", "T", "TRUE", "true", "True"])
_FALSE = frozenset(["0", "f", "F", "FALSE", "false", "False"])


class _Problems:
    """
    Accumulates field problems; raises them all at once.
    """

    def __init__(self):
        self.details = []

    def add(self, field, message):
        self.details.append((field, message))

    def check(self):
        if self.details:
            raise ValidationError(self.details)


def parseBool(text):
    """
    Parse a boolean the way Go's C{strconv.ParseBool} does.

    @return: C{True} or C{False}, or L{None} if C{text} is not a boolean.
    """
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


#: The json module's encoder, for what orjson refuses.
_encodeWithJSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encodeJSON(obj):
    """
    Encode an answer body as compact JSON in UTF-8, non-ASCII characters
    as themselves: what C{json.dumps(obj, separators=(",", ":"),
    ensure_ascii=False).encode("utf-8")} makes, at a fifth of its cost
    (orjson).  What orjson refuses (keys that are not strings, integers
    beyond 64 bits) is encoded by the json module, as it was.  Bodies hold
    no floats, which the two would write differently.

    @return: C{bytes}.
    """
    try:
        return orjson.dumps(obj)
    except TypeError:
        return _encodeWithJSON(obj).encode("utf-8")


def _decodeJSONObject(body):
    """
    Decode JSON as C{json.loads} does, where it matters to the parsers
    here: with orjson, a few times faster, when it accepts the body and
    decodes an object without a float among its values; otherwise with
    json, so that what json accepts beyond orjson (NaN, UTF-16, lone
    surrogates) and the messages it refuses with are unchanged.

    orjson decodes an integer beyond 64 bits as a float, where json keeps
    an C{int}.  The parsers read numbers only from an object's own fields
    (C{timeout}, C{counter}...), and anything nested is a string, an
    object of strings, or ignored, which a float and an integer fail
    alike; so a float among the values is all that needs json's eyes.
    """
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)
    if type(decoded) is dict:
        for value in decoded.values():
            if type(value) is float:
                return json.loads(body)
        return decoded
    return json.loads(body)


def parseJSONObject(body):
    """
    Decode a request body that must be a JSON object.

    @param body: C{bytes}.
    @return: a C{dict}.
    @raise ValidationError: the body is not a JSON object.
    """
    try:
        decoded = _decodeJSONObject(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValidationError([("body", f"invalid JSON: {e}")])
    except RecursionError:
        raise ValidationError([("body", "invalid JSON: nested too deeply")])
    if not isinstance(decoded, dict):
        raise ValidationError([("body", "must be a JSON object")])
    return decoded


def _isInteger(value):
    # bool is an int subclass; JSON true is not a number.
    return isinstance(value, int) and not isinstance(value, bool)


def _isText(value):
    """
    Whether C{value} is a string that every store can keep: valid Unicode
    (JSON can smuggle in lone surrogates) without NUL (SQL pattern matching
    stops at it).
    """
    if "\x00" in value:
        return False
    if value.isascii():
        # ASCII holds no surrogate: no need to encode it to know.
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fitsId(value):
    """
    Whether the text C{value} (valid Unicode, see L{_isText}) is short
    enough for an id: at most L{MAX_ID_BYTES} bytes of UTF-8.
    """
    # A UTF-8 character takes at most 4 bytes: encode only what may not fit.
    return len(value) * 4 <= MAX_ID_BYTES or len(value.encode("utf-8")) <= MAX_ID_BYTES


def _parseStringMap(problems, field, value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(field, "must be an object of strings")
        return {}
    result = {}
    for key, item in value.items():
        if not isinstance(item, str):
            problems.add(f"{field}.{key}", "must be a string")
        elif not (_isText(key) and _isText(item)):
            problems.add(f"{field}", "must hold valid Unicode text without NUL")
        else:
            result[key] = item
    return result


#: The names of a param's or value's parts, made once.
_VALUE_PARTS = {
    field: (f"{field}.headers", f"{field}.data")
    for field in ("param", "value", "promiseParam")
}


def _parseValue(problems, field, value):
    if value is None:
        return Value()
    if not isinstance(value, dict):
        problems.add(field, "must be an object")
        return Value()
    headersField, dataField = _VALUE_PARTS.get(field) or (
        f"{field}.headers", f"{field}.data"
    )
    headers = _parseStringMap(problems, headersField, value.get("headers"))
    data = value.get("data")
    if isinstance(data, bytes):
        # Already raw (gRPC carries bytes); an empty field means no data.
        data = data or None
    elif data is not None:
        if not isinstance(data, str):
            problems.add(dataField, "must be a base64 string")
            data = None
        else:
            try:
                data = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                problems.add(dataField, "must be valid base64")
                data = None
    return Value(headers=headers, data=data)


def parseHeaders(problems, headers):
    """
    Read the C{idempotency-key} and C{strict} request headers.

    @param headers: a callable from a lower-case header name to its value
        (C{str}) or L{None}.
    @return: C{(idempotencyKey, strict)}.
    """
    idempotencyKey = headers("idempotency-key") or None
    strictText = headers("strict")
    strict = False
    if strictText is not None:
        strict = parseBool(strictText)
        if strict is None:
            problems.add("strict", f"must be a boolean, got {strictText!r}")
            strict = False
    return idempotencyKey, strict


def parseCreatePromise(body, headers):
    """
    Parse C{POST /promises}.

    @param body: the decoded JSON object.
    @param headers: see L{parseHeaders}.
    @return: a L{CreatePromise}.
    @raise ValidationError: one detail per bad field.
    """
    problems = _Problems()
    promiseId = body.get("id")
    if promiseId is None or promiseId == "":
        problems.add("id", "is required")
    elif not isinstance(promiseId, str):
        problems.add("id", "must be a string")
    elif not _isText(promiseId):
        problems.add("id", "must be valid Unicode text without NUL")
    elif not _fitsId(promiseId):
        problems.add("id", _ID_TOO_LONG)
    timeout = body.get("timeout")
    if timeout is None:
        problems.add("timeout", "is required")
    elif not _isInteger(timeout):
        problems.add("timeout", "must be an integer (epoch milliseconds)")
    elif not 0 <= timeout <= INT64_MAX:
        problems.add("timeout", "must be between 0 and 2^63-1")
    param = _parseValue(problems, "param", body.get("param"))
    tags = _parseStringMap(problems, "tags", body.get("tags"))
    idempotencyKey, strict = parseHeaders(problems, headers)
    problems.check()
    return CreatePromise(
        id=promiseId,
        timeout=timeout,
        param=param,
        tags=tags,
        idempotencyKey=idempotencyKey,
        strict=strict,
    )


def parsePathId(value):
    """
    Check an id taken from a request path: like an id in a body, it must be
    text every store can keep (PostgreSQL refuses NUL).

    @return: C{value}.
    @raise ValidationError: it is not.
    """
    if not _isText(value):
        raise ValidationError([("id", "must be valid Unicode text without NUL")])
    if not _fitsId(value):
        raise ValidationError([("id", _ID_TOO_LONG)])
    return value


#: The states a client may complete with, by their names.
_COMPLETION_STATES = {state.value: state for state in COMPLETION_STATES}


def parseState(text):
    """
    Parse a completion state, case-insensitively.

    @return: a L{State} a client may complete with, or L{None}.
    """
    if not isinstance(text, str):
        return None
    # A dictionary, not State(...): an enum's lookup by value costs a
    # microsecond and a half, and this is every completion's path.
    return _COMPLETION_STATES.get(text.upper())


def parseCompletePromise(promiseId, body, headers):
    """
    Parse C{PATCH /promises/{id}}.

    @return: a L{CompletePromise}.
    @raise ValidationError: one detail per bad field.
    """
    problems = _Problems()
    if not _isText(promiseId):
        problems.add("id", "must be valid Unicode text without NUL")
    elif not _fitsId(promiseId):
        problems.add("id", _ID_TOO_LONG)
    rawState = body.get("state")
    state = parseState(rawState)
    if rawState is None:
        problems.add("state", "is required")
    elif state is None:
        problems.add(
            "state", "must be one of RESOLVED, REJECTED, REJECTED_CANCELED"
        )
    value = _parseValue(problems, "value", body.get("value"))
    idempotencyKey, strict = parseHeaders(problems, headers)
    problems.check()
    return CompletePromise(
        id=promiseId,
        state=state,
        value=value,
        idempotencyKey=idempotencyKey,
        strict=strict,
    )


def _parseQueryArgs(problems, args):
    """
    Read the parameters promise and schedule searches share.

    @return: C{(pattern, tags, limit)}.
    """
    pattern = _single(args, "id", "*")
    if pattern == "":
        problems.add("id", "must not be empty")
    elif not _isText(pattern):
        problems.add("id", "must be valid Unicode text without NUL")
    elif not _fitsId(pattern):
        problems.add("id", _ID_TOO_LONG)
    tags = {}
    for name, values in args.items():
        if name == "tags":
            problems.add("tags", "must be given as tags[key]=value")
        elif name.startswith("tags[") and name.endswith("]"):
            key, value = name[len("tags[") : -1], values[-1]
            if _isText(key) and _isText(value):
                tags[key] = value
            else:
                problems.add("tags", "must hold valid Unicode text without NUL")
    limit = MAX_SEARCH_LIMIT
    limitText = _single(args, "limit", None)
    if limitText is not None:
        try:
            limit = int(limitText)
        except ValueError:
            limit = None
        if limit is None or not 1 <= limit <= MAX_SEARCH_LIMIT:
            problems.add("limit", f"must be an integer from 1 to {MAX_SEARCH_LIMIT}")
    return pattern, tags, limit


def parseSearchArgs(args):
    """
    Parse the query of C{GET /promises} (without a cursor).

    @param args: a C{dict} from C{str} name to a list of C{str} values.
    @return: a L{PromiseQuery}.
    @raise ValidationError: one detail per bad parameter.
    """
    problems = _Problems()
    pattern, tags, limit = _parseQueryArgs(problems, args)
    stateText = _single(args, "state", None)
    states = ALL_STATES
    if stateText is not None:
        states = SEARCH_STATES.get(stateText.lower())
        if states is None:
            problems.add("state", "must be one of pending, resolved, rejected")
    problems.check()
    return PromiseQuery(id=pattern, states=states, tags=tags, limit=limit)


def parseScheduleSearchArgs(args):
    """
    Parse the query of C{GET /schedules} (without a cursor).

    @param args: a C{dict} from C{str} name to a list of C{str} values.
    @return: a L{ScheduleQuery}.
    @raise ValidationError: one detail per bad parameter.
    """
    problems = _Problems()
    pattern, tags, limit = _parseQueryArgs(problems, args)
    problems.check()
    return ScheduleQuery(id=pattern, tags=tags, limit=limit)


def _single(args, name, default):
    values = args.get(name)
    return values[-1] if values else default


#: The C{kind} claim of a promise search cursor.
_PROMISES_CURSOR = "promises"

#: The C{kind} claim of a schedule search cursor.
_SCHEDULES_CURSOR = "schedules"


def _encodeClaims(claims):
    raw = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decodeClaims(cursor, kind):
    """
    Decode the claims of a cursor of C{kind} and check what every kind
    carries: an id pattern, tags, a page limit and a sort id.

    @return: the claims, a C{dict}.
    @raise ValidationError: the cursor is not one of ours, or of another
        kind.
    """
    invalid = ValidationError([("cursor", "is invalid")])
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        claims = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise invalid
    if not isinstance(claims, dict):
        raise invalid
    pattern = claims.get("id")
    tags = claims.get("tags")
    limit = claims.get("limit")
    valid = (
        claims.get("kind") == kind
        and isinstance(pattern, str)
        and pattern != ""
        and _isText(pattern)
        and _fitsId(pattern)
        and isinstance(tags, dict)
        and all(
            isinstance(v, str) and _isText(k) and _isText(v)
            for k, v in tags.items()
        )
        and _isInteger(limit)
        and 1 <= limit <= MAX_SEARCH_LIMIT
        and _isInteger(claims.get("sortId"))
    )
    if not valid:
        raise invalid
    return claims


def encodeCursor(query):
    """
    Encode the query of the next page of a promise search as an opaque,
    URL-safe cursor.
    """
    return _encodeClaims(
        {
            "kind": _PROMISES_CURSOR,
            "id": query.id,
            "states": sorted(state.value for state in query.states),
            "tags": query.tags,
            "limit": query.limit,
            "sortId": query.sortId,
        }
    )


def decodeCursor(cursor):
    """
    Decode a cursor made by L{encodeCursor}.

    @return: a L{PromiseQuery}.
    @raise ValidationError: the cursor is not one of ours (a schedule
        cursor included).
    """
    claims = _decodeClaims(cursor, _PROMISES_CURSOR)
    states = claims.get("states")
    valid = (
        isinstance(states, list)
        and states
        and all(s in State._value2member_map_ for s in states)
    )
    if not valid:
        raise ValidationError([("cursor", "is invalid")])
    return PromiseQuery(
        id=claims["id"],
        states=frozenset(State(s) for s in states),
        tags=claims["tags"],
        limit=claims["limit"],
        sortId=claims["sortId"],
    )


def encodeScheduleCursor(query):
    """
    Encode the query of the next page of a schedule search as an opaque,
    URL-safe cursor.
    """
    return _encodeClaims(
        {
            "kind": _SCHEDULES_CURSOR,
            "id": query.id,
            "tags": query.tags,
            "limit": query.limit,
            "sortId": query.sortId,
        }
    )


def decodeScheduleCursor(cursor):
    """
    Decode a cursor made by L{encodeScheduleCursor}.

    @return: a L{ScheduleQuery}.
    @raise ValidationError: the cursor is not one of ours (a promise cursor
        included).
    """
    claims = _decodeClaims(cursor, _SCHEDULES_CURSOR)
    return ScheduleQuery(
        id=claims["id"],
        tags=claims["tags"],
        limit=claims["limit"],
        sortId=claims["sortId"],
    )


def renderValue(value):
    """
    Render a param or value; empty parts are omitted, so an empty value
    renders as C{{}}.
    """
    rendered = {}
    if value.headers:
        rendered["headers"] = value.headers
    # Empty data is omitted too, as v0.5 (Go's omitempty) does: {"data": ""}
    # comes back as {}.
    if value.data:
        rendered["data"] = base64.b64encode(value.data).decode("ascii")
    return rendered


def renderPromise(promise):
    """
    Render a promise as the v0.5 API does: optional fields are omitted when
    they have no value.
    """
    rendered = {
        "id": promise.id,
        "state": promise.state.value,
        "param": renderValue(promise.param),
        "value": renderValue(promise.value),
        "timeout": promise.timeout,
    }
    if promise.idempotencyKeyForCreate is not None:
        rendered["idempotencyKeyForCreate"] = promise.idempotencyKeyForCreate
    if promise.idempotencyKeyForComplete is not None:
        rendered["idempotencyKeyForComplete"] = promise.idempotencyKeyForComplete
    rendered["createdOn"] = promise.createdOn
    if promise.completedOn is not None:
        rendered["completedOn"] = promise.completedOn
    if promise.tags:
        rendered["tags"] = promise.tags
    return rendered


def renderSearchPage(page):
    """
    Render a search page with its cursor (L{None} on a short page).
    """
    return {
        "cursor": encodeCursor(page.next) if page.next is not None else None,
        "promises": [renderPromise(p) for p in page.promises],
    }


def renderSchedule(schedule):
    """
    Render a schedule as the v0.5 API does: C{desc}, C{promiseTags},
    C{lastRunTime} and C{idempotencyKey} are omitted when they have no
    value; C{tags} and C{promiseParam} are always present.
    """
    rendered = {"id": schedule.id}
    if schedule.description:
        rendered["desc"] = schedule.description
    rendered["cron"] = schedule.cron
    rendered["tags"] = schedule.tags or {}
    rendered["promiseId"] = schedule.promiseId
    rendered["promiseTimeout"] = schedule.promiseTimeout
    rendered["promiseParam"] = renderValue(schedule.promiseParam)
    if schedule.promiseTags:
        rendered["promiseTags"] = schedule.promiseTags
    if schedule.lastRunTime is not None:
        rendered["lastRunTime"] = schedule.lastRunTime
    rendered["nextRunTime"] = schedule.nextRunTime
    if schedule.idempotencyKey is not None:
        rendered["idempotencyKey"] = schedule.idempotencyKey
    rendered["createdOn"] = schedule.createdOn
    return rendered


def renderSchedulePage(page):
    """
    Render a schedule search page with its cursor (L{None} on a short
    page).
    """
    return {
        "cursor": (
            encodeScheduleCursor(page.next) if page.next is not None else None
        ),
        "schedules": [renderSchedule(s) for s in page.schedules],
    }


_ERROR_TYPES = {
    "validation": "FieldValidationError",
    "request": "RequestError",
    "server": "ServerError",
}


def renderError(error):
    """
    Render a L{resonate.errors.ResonateError} as the error envelope, with one
    detail per field problem (or one detail with the message).
    """
    status = error.status
    detail = {
        "@type": _ERROR_TYPES[status.domain],
        "domain": status.domain,
        "metadata": {
            "url": f"https://docs.resonatehq.io/reference/error-codes#{status.value}"
        },
    }
    if error.details:
        details = [
            dict(detail, message=f"{field} {message}", field=field)
            for field, message in error.details
        ]
    else:
        details = [dict(detail, message=error.message)]
    return {
        "error": {
            "code": status.value,
            "message": status.message,
            "details": details,
        }
    }


def _requireText(problems, body, field, isId=True):
    """
    Read a required text field; an id (C{isId}) may be at most
    L{MAX_ID_BYTES} long.

    @return: the text, or L{None} when there is a problem (added).
    """
    value = body.get(field)
    if value is None or value == "":
        problems.add(field, "is required")
    elif not isinstance(value, str):
        problems.add(field, "must be a string")
    elif not _isText(value):
        problems.add(field, "must be valid Unicode text without NUL")
    elif isId and not _fitsId(value):
        problems.add(field, _ID_TOO_LONG)
    else:
        return value
    return None


def _optionalText(problems, body, field):
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.add(field, "must be a string")
    elif not _isText(value):
        problems.add(field, "must be valid Unicode text without NUL")
    else:
        return value
    return None


def parseCreateSchedule(body, headers):
    """
    Parse C{POST /schedules}: C{id}, C{cron}, C{promiseId} and
    C{promiseTimeout} are required; the description may be given as
    C{description} or, as v0.5 names it, C{desc}.

    @param body: the decoded JSON object.
    @param headers: see L{parseHeaders}; only C{idempotency-key} is read.
    @return: a L{CreateSchedule}.
    @raise ValidationError: one detail per bad field.
    """
    problems = _Problems()
    scheduleId = _requireText(problems, body, "id")
    descriptionField = "desc" if body.get("description") is None else "description"
    description = _optionalText(problems, body, descriptionField)
    cron = _requireText(problems, body, "cron", isId=False)
    if cron is not None and len(cron) > MAX_CRON_LENGTH:
        problems.add("cron", f"must be at most {MAX_CRON_LENGTH} characters")
    elif cron is not None:
        try:
            checkCron(cron)
        except InvalidCron as e:
            problems.add("cron", f"is invalid: {e}")
    tags = _parseStringMap(problems, "tags", body.get("tags"))
    promiseId = _requireText(problems, body, "promiseId")
    if scheduleId is not None and promiseId is not None:
        # Every promise the schedule fires must be a promise id that fits,
        # or it could be refused at every slot, long after this answer.
        longest = expandPromiseId(promiseId, scheduleId, INT64_MAX)
        if not _fitsId(longest):
            problems.add(
                "promiseId",
                f"must give promise ids of at most {MAX_ID_BYTES} bytes of "
                "UTF-8 ({{.id}} is the schedule id, {{.timestamp}} up to 19 "
                "digits)",
            )
    promiseTimeout = body.get("promiseTimeout")
    if promiseTimeout is None:
        problems.add("promiseTimeout", "is required")
    elif not _isInteger(promiseTimeout) or not 0 < promiseTimeout <= MAX_LEASE:
        # Relative, like a lease: a slot's time + promiseTimeout must fit in
        # 64 bits.
        problems.add("promiseTimeout", "must be a positive integer up to 2^62")
    promiseParam = _parseValue(problems, "promiseParam", body.get("promiseParam"))
    promiseTags = _parseStringMap(problems, "promiseTags", body.get("promiseTags"))
    idempotencyKey = headers("idempotency-key") or None
    problems.check()
    return CreateSchedule(
        id=scheduleId,
        description=description,
        cron=cron,
        tags=tags,
        promiseId=promiseId,
        promiseTimeout=promiseTimeout,
        promiseParam=promiseParam,
        promiseTags=promiseTags,
        idempotencyKey=idempotencyKey,
    )


def parseAcquireLock(body):
    """
    Parse C{POST /locks/acquire}: every field is required and the lease
    must be a positive number of milliseconds.

    @return: an L{AcquireLock}.
    @raise ValidationError: one detail per bad field.
    """
    problems = _Problems()
    resourceId = _requireText(problems, body, "resourceId")
    processId = _requireText(problems, body, "processId")
    executionId = _requireText(problems, body, "executionId")
    expiry = body.get("expiryInMilliseconds")
    if expiry is None:
        problems.add("expiryInMilliseconds", "is required")
    elif not _isInteger(expiry) or not 0 < expiry <= MAX_LEASE:
        # Bounded so that now + expiry always fits in 64 bits.
        problems.add(
            "expiryInMilliseconds", "must be a positive integer up to 2^62"
        )
    problems.check()
    return AcquireLock(resourceId, processId, executionId, expiry)


def parseHeartbeatLocks(body):
    """
    Parse C{POST /locks/heartbeat}.

    @return: the process id.
    @raise ValidationError: it is missing.
    """
    problems = _Problems()
    processId = _requireText(problems, body, "processId")
    problems.check()
    return processId


def parseReleaseLock(body):
    """
    Parse C{POST /locks/release}.

    @return: a L{ReleaseLock}.
    @raise ValidationError: one detail per bad field.
    """
    problems = _Problems()
    resourceId = _requireText(problems, body, "resourceId")
    executionId = _requireText(problems, body, "executionId")
    problems.check()
    return ReleaseLock(resourceId, executionId)


def _requireCounter(problems, body):
    """
    Read a task counter: required, an integer of at least 1 (0 fails as
    "required", as it does in v0.5; counters start at 1).
    """
    counter = body.get("counter")
    if counter is None or counter == 0:
        problems.add("counter", "is required")
    elif not _isInteger(counter) or not 1 <= counter <= INT64_MAX:
        problems.add("counter", "must be a positive integer")
    else:
        return counter
    return None


def parseCollectGarbage(body):
    """
    Parse C{POST /gc}: C{olderThan} (ms, a required integer >= 0) and
    C{dryRun} (a boolean, false when absent).

    @return: C{(olderThan, dryRun)}.
    @raise ValidationError: one detail per bad field.
    """
    problems = _Problems()
    olderThan = body.get("olderThan")
    if olderThan is None:
        problems.add("olderThan", "is required")
    elif not _isInteger(olderThan) or not 0 <= olderThan <= INT64_MAX:
        problems.add("olderThan", "must be an integer of milliseconds >= 0")
    dryRun = body.get("dryRun", False)
    if not isinstance(dryRun, bool):
        problems.add("dryRun", "must be a boolean")
    problems.check()
    return olderThan, dryRun


def parseClaimTask(body):
    """
    Parse C{POST /tasks/claim}: every field is required and the lease must
    be a positive number of milliseconds.

    @return: a L{ClaimTask}.
    @raise ValidationError: one detail per bad field.
    """
    problems = _Problems()
    taskId = _requireText(problems, body, "taskId")
    counter = _requireCounter(problems, body)
    processId = _requireText(problems, body, "processId")
    executionId = _requireText(problems, body, "executionId")
    expiry = body.get("expiryInMilliseconds")
    if expiry is None:
        problems.add("expiryInMilliseconds", "is required")
    elif not _isInteger(expiry) or not 0 < expiry <= MAX_LEASE:
        # Bounded so that now + expiry always fits in 64 bits.
        problems.add(
            "expiryInMilliseconds", "must be a positive integer up to 2^62"
        )
    problems.check()
    return ClaimTask(taskId, counter, processId, executionId, expiry)


def parseTaskState(text):
    """
    Parse a task completion state, case-insensitively: C{resolved} or
    C{rejected}.

    @return: L{State.RESOLVED} or L{State.REJECTED}, or L{None}.
    """
    if not isinstance(text, str):
        return None
    return {"RESOLVED": State.RESOLVED, "REJECTED": State.REJECTED}.get(
        text.upper()
    )


def parseCompleteTask(body):
    """
    Parse C{POST /tasks/complete}: C{taskId}, C{counter}, C{executionId}
    and C{state} are required; C{value} is optional.

    @return: a L{CompleteTask}.
    @raise ValidationError: one detail per bad field.
    """
    problems = _Problems()
    taskId = _requireText(problems, body, "taskId")
    counter = _requireCounter(problems, body)
    executionId = _requireText(problems, body, "executionId")
    rawState = body.get("state")
    state = parseTaskState(rawState)
    if rawState is None or rawState == "":
        problems.add("state", "is required")
    elif state is None:
        problems.add("state", "must be one of resolved, rejected")
    value = _parseValue(problems, "value", body.get("value"))
    problems.check()
    return CompleteTask(taskId, counter, executionId, state, value)


def renderLock(lock):
    """
    Render a lock.
    """
    return {
        "resourceId": lock.resourceId,
        "processId": lock.processId,
        "executionId": lock.executionId,
        "expiryInMilliseconds": lock.expiryInMilliseconds,
        "expiresAt": lock.expiresAt,
    }
