# -*- test-case-name: tests.integration.test_dst -*-
"""
The requests the simulation sends, as plain values, and their HTTP form.

Each request names the one entity it touches (C{key}: a promise, schedule,
lock or task id; a task shares its promise's id, and the lock a claim takes
is on that id too), so requests with distinct keys may run concurrently.
The model judges requests by their fields; L{httpRequest} renders them for
the wire.
"""

import json
from dataclasses import dataclass, field
from urllib.parse import quote


def canonicalJSON(obj):
    """
    The one text a JSON value is compared and logged as.
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class CreatePromise:
    """
    C{POST /promises}.  C{param} is the canonical JSON of the value sent;
    C{tags} a sorted tuple of pairs; C{strict} L{None} sends no header.
    """

    key: str
    timeout: int
    param: str = "{}"
    tags: tuple = ()
    ikey: str = None
    strict: bool = None

    def http(self):
        body = {"id": self.key, "timeout": self.timeout, "param": json.loads(self.param)}
        if self.tags:
            body["tags"] = dict(self.tags)
        return "POST", "/promises", _keyHeaders(self.ikey, self.strict), body


@dataclass(frozen=True)
class ReadPromise:
    """
    C{GET /promises/{id}}.
    """

    key: str

    def http(self):
        return "GET", "/promises/" + _path(self.key), {}, None


@dataclass(frozen=True)
class CompletePromise:
    """
    C{PATCH /promises/{id}}.
    """

    key: str
    state: str
    value: str = "{}"
    ikey: str = None
    strict: bool = None
    #: How the state is spelled on the wire (states are case-insensitive).
    spelling: str = None

    def http(self):
        body = {"state": self.spelling or self.state, "value": json.loads(self.value)}
        return (
            "PATCH", "/promises/" + _path(self.key),
            _keyHeaders(self.ikey, self.strict), body,
        )


@dataclass(frozen=True)
class CreateSchedule:
    """
    C{POST /schedules}.
    """

    key: str
    cron: str
    promiseId: str
    promiseTimeout: int
    description: str = None
    tags: tuple = ()
    promiseParam: str = "{}"
    promiseTags: tuple = ()
    ikey: str = None

    def http(self):
        body = {
            "id": self.key,
            "cron": self.cron,
            "promiseId": self.promiseId,
            "promiseTimeout": self.promiseTimeout,
            "promiseParam": json.loads(self.promiseParam),
        }
        if self.description is not None:
            body["desc"] = self.description
        if self.tags:
            body["tags"] = dict(self.tags)
        if self.promiseTags:
            body["promiseTags"] = dict(self.promiseTags)
        return "POST", "/schedules", _keyHeaders(self.ikey, None), body


@dataclass(frozen=True)
class ReadSchedule:
    """
    C{GET /schedules/{id}}.
    """

    key: str

    def http(self):
        return "GET", "/schedules/" + _path(self.key), {}, None


@dataclass(frozen=True)
class DeleteSchedule:
    """
    C{DELETE /schedules/{id}}.
    """

    key: str

    def http(self):
        return "DELETE", "/schedules/" + _path(self.key), {}, None


@dataclass(frozen=True)
class AcquireLock:
    """
    C{POST /locks/acquire}; C{key} is the resource id.
    """

    key: str
    processId: str
    executionId: str
    expiry: int

    def http(self):
        return "POST", "/locks/acquire", {}, {
            "resourceId": self.key,
            "processId": self.processId,
            "executionId": self.executionId,
            "expiryInMilliseconds": self.expiry,
        }


@dataclass(frozen=True)
class ReleaseLock:
    """
    C{POST /locks/release}.
    """

    key: str
    executionId: str

    def http(self):
        return "POST", "/locks/release", {}, {
            "resourceId": self.key, "executionId": self.executionId,
        }


@dataclass(frozen=True)
class ClaimTask:
    """
    C{POST /tasks/claim}; C{key} is the task id (its promise's id).
    """

    key: str
    counter: int
    processId: str
    executionId: str
    expiry: int

    def http(self):
        return "POST", "/tasks/claim", {}, {
            "taskId": self.key,
            "counter": self.counter,
            "processId": self.processId,
            "executionId": self.executionId,
            "expiryInMilliseconds": self.expiry,
        }


@dataclass(frozen=True)
class CompleteTask:
    """
    C{POST /tasks/complete}.
    """

    key: str
    counter: int
    executionId: str
    state: str
    value: str = "{}"
    spelling: str = None

    def http(self):
        return "POST", "/tasks/complete", {}, {
            "taskId": self.key,
            "counter": self.counter,
            "executionId": self.executionId,
            "state": self.spelling or self.state.lower(),
            "value": json.loads(self.value),
        }


@dataclass(frozen=True)
class Invalid:
    """
    A malformed request: it must be refused with 400 (4000) before it
    reaches the store, whatever state its key is in.

    @ivar what: what is wrong with it, for the log.
    """

    key: str
    what: str
    method: str
    path: str
    headers: tuple = ()
    body: object = None
    #: Raw bytes to send instead of C{body} as JSON.
    raw: bytes = None

    def http(self):
        return self.method, self.path, dict(self.headers), (
            self.raw if self.raw is not None else self.body
        )


@dataclass(frozen=True)
class SearchPromises:
    """
    C{GET /promises}: a search, followed through every page.
    """

    pattern: str
    state: str = None
    tags: tuple = ()
    limit: int = None

    def http(self, cursor=None):
        if cursor is not None:
            return "GET", "/promises?cursor=" + quote(cursor, safe=""), {}, None
        args = [("id", self.pattern)]
        if self.state is not None:
            args.append(("state", self.state))
        args += [(f"tags[{k}]", v) for k, v in self.tags]
        if self.limit is not None:
            args.append(("limit", str(self.limit)))
        return "GET", "/promises?" + _query(args), {}, None


@dataclass(frozen=True)
class SearchSchedules:
    """
    C{GET /schedules}: a search, followed through every page.
    """

    pattern: str
    tags: tuple = ()
    limit: int = None

    def http(self, cursor=None):
        if cursor is not None:
            return "GET", "/schedules?cursor=" + quote(cursor, safe=""), {}, None
        args = [("id", self.pattern)]
        args += [(f"tags[{k}]", v) for k, v in self.tags]
        if self.limit is not None:
            args.append(("limit", str(self.limit)))
        return "GET", "/schedules?" + _query(args), {}, None


@dataclass(frozen=True)
class HeartbeatLocks:
    """
    C{POST /locks/heartbeat}.
    """

    processId: str

    def http(self):
        return "POST", "/locks/heartbeat", {}, {"processId": self.processId}


@dataclass(frozen=True)
class Batch:
    """
    Requests on distinct keys, sent together and answered in any order.
    """

    requests: tuple = field(default_factory=tuple)


def _keyHeaders(ikey, strict):
    headers = {}
    if ikey is not None:
        headers["idempotency-key"] = ikey
    if strict is not None:
        headers["strict"] = "true" if strict else "false"
    return headers


def _path(key):
    return quote(key, safe="/")


def _query(args):
    return "&".join(f"{quote(k, safe='[]')}={quote(v, safe='*/')}" for k, v in args)


def describe(request):
    """
    One line naming a request and its fields, for the log.
    """
    method, path, headers, body = request.http()
    parts = [method, path]
    parts += [f"{k}={v}" for k, v in sorted(headers.items())]
    if isinstance(body, bytes):
        parts.append(repr(body))
    elif body is not None:
        parts.append(canonicalJSON(body))
    return " ".join(parts)


@dataclass(frozen=True)
class Advance:
    """
    Move the simulated clock forward by C{milliseconds}.
    """

    milliseconds: int


@dataclass(frozen=True)
class SweepPromises:
    """
    The background promise timeout sweep (C{IStore.timeoutPromises}).
    """

    limit: int


@dataclass(frozen=True)
class FireSchedules:
    """
    The scheduler's work (C{IStore.fireSchedules}): every due slot.
    """

    limit: int = 10_000


@dataclass(frozen=True)
class SweepLocks:
    """
    The background lock expiry sweep (C{IStore.timeoutLocks}).
    """

    limit: int = 10_000


@dataclass(frozen=True)
class DispatchTasks:
    """
    The dispatcher's work (C{IStore.dispatchTasks}): offer every
    dispatchable task with a claim window of C{claimWindow} ms.
    """

    claimWindow: int
    limit: int = 10_000


#: The 2026 protocol's envelope version.
VERSION_2026 = "2026-04-01"


@dataclass(frozen=True)
class Rpc:
    """
    One request of the 2026 protocol: C{POST /} with the envelope
    C{{kind, head: {corrId, version}, data}}.

    @ivar key: the model's key of the entity it touches (the origin of the
        ids it names: L{resonate.testing.dst.model2026.modelKey}).
    @ivar data: the canonical JSON of the envelope's C{data}.
    @ivar corrId: the correlation id the answer must echo.
    """

    key: str
    kind: str
    data: str
    corrId: str

    def http(self):
        return "POST", "/", {}, {
            "kind": self.kind,
            "head": {"corrId": self.corrId, "version": VERSION_2026},
            "data": json.loads(self.data),
        }


@dataclass(frozen=True)
class HeartbeatTasks2026:
    """
    C{task.heartbeat}: renew the leases of C{tasks} (C{(id, version)}
    pairs, from any origins: DECISIONS 25) held by C{pid}.
    """

    pid: str
    tasks: tuple
    corrId: str

    kind = "task.heartbeat"

    def http(self):
        return "POST", "/", {}, {
            "kind": self.kind,
            "head": {"corrId": self.corrId, "version": VERSION_2026},
            "data": {
                "pid": self.pid,
                "tasks": [{"id": i, "version": v} for i, v in self.tasks],
            },
        }


@dataclass(frozen=True)
class ExpireTasks2026:
    """
    The background work of 2026 task timers (C{IStore.expireTasks2026}):
    retries re-sent and re-armed, ended leases made pending.
    """

    limit: int = 10_000
