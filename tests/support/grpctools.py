# -*- test-case-name: tests.integration.test_api_grpc -*-
"""
The gRPC side of the API case table: a request written as an HTTP request
(L{tests.support.apicases}) is sent as the RPC that says the same thing, and the
answer is turned back into the HTTP API's shapes (status, error code, JSON
body), so one table checks both protocols.
"""

import base64
import binascii
from urllib.parse import parse_qs, unquote

import grpc
from twisted.internet import reactor
from twisted.internet.defer import Deferred

from resonate.api.codec import parseBool
from resonate.api.grpcapi import CODE_METADATA, grpcCode
from resonate.api.pb import (
    lock_pb2,
    lock_pb2_grpc,
    promise_pb2,
    promise_pb2_grpc,
    schedule_pb2,
    schedule_pb2_grpc,
    task_pb2,
    task_pb2_grpc,
)
from resonate.status import Status
from tests.support.apicases import NotExpressible

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


def callRPC(method, request, metadata=None):
    """
    Call a unary RPC without blocking the reactor.

    @param method: a stub's method (e.g. C{stub.CreatePromise}).
    @return: a C{Deferred} firing with the response, or failing with the
        C{grpc.RpcError}.
    """
    d = Deferred()
    future = method.future(request, metadata=metadata)

    def done(future):
        try:
            result = future.result()
        except grpc.RpcError as e:
            reactor.callFromThread(d.errback, e)
        else:
            reactor.callFromThread(d.callback, result)

    future.add_done_callback(done)
    return d


class GRPCResponse:
    """
    A gRPC answer in the HTTP API's terms.

    @ivar code: the HTTP status the same answer has over HTTP.
    @ivar errorCode: the 4-digit code of an error (from the trailing
        metadata), else L{None}.
    @ivar body: the HTTP API's JSON body for the response message.
    @ivar grpcCode: the gRPC status code.
    """

    def __init__(self, code, body=None, errorCode=None, grpcCode=grpc.StatusCode.OK,
                 details=""):
        self.code = code
        self.body = body
        self.errorCode = errorCode
        self.grpcCode = grpcCode
        self.details = details

    def __repr__(self):
        return (f"<GRPCResponse {self.code} {self.grpcCode} {self.errorCode} "
                f"{self.details!r} {self.body!r}>")


def _text(body, name):
    """
    A string field: absent (or null) is the empty string, as in proto3.
    """
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise NotExpressible(f"{name} is not a string")
    return value


def _integer(body, name, bounds=INT64, required=False):
    """
    An integer field: absent is 0, as in proto3, unless the field is one
    whose absence gRPC cannot say (then the request is not expressible).
    """
    value = body.get(name)
    if value is None:
        if required:
            raise NotExpressible(f"{name} cannot be absent in protobuf")
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise NotExpressible(f"{name} is not an integer")
    if not bounds[0] <= value <= bounds[1]:
        raise NotExpressible(f"{name} does not fit the protobuf field")
    return value


def _stringMap(body, name):
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(v, str) for v in value.values()
    ):
        raise NotExpressible(f"{name} is not a map of strings")
    return value


def _value(cls, body, name):
    """
    A param/value: base64 text becomes bytes on the wire; other JSON
    shapes cannot be said.
    """
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise NotExpressible(f"{name} is not an object")
    data = value.get("data")
    if data is not None:
        if not isinstance(data, str):
            raise NotExpressible(f"{name}.data is not a string")
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise NotExpressible(f"{name}.data is not base64: bytes on the wire")
    return cls(headers=_stringMap(value, "headers"), data=data or b"")


def _headerReader(headers):
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    return lowered.get


def _strict(text):
    if text is None:
        return False
    strict = parseBool(text)
    if strict is None:
        raise NotExpressible("strict is not a boolean")
    return strict


def _pathId(path, prefix):
    try:
        return unquote(path[len(prefix):], errors="strict")
    except UnicodeDecodeError:
        raise NotExpressible("the id is not UTF-8")


def renderValue(value):
    rendered = {}
    if value.headers:
        rendered["headers"] = dict(value.headers)
    if value.data:
        rendered["data"] = base64.b64encode(value.data).decode("ascii")
    return rendered


def renderPromise(promise, stateName):
    """
    A promise message as the HTTP API renders the promise.
    """
    rendered = {
        "id": promise.id,
        "state": stateName(promise.state),
        "param": renderValue(promise.param),
        "value": renderValue(promise.value),
        "timeout": promise.timeout,
        "createdOn": promise.createdOn,
    }
    if promise.idempotencyKeyForCreate:
        rendered["idempotencyKeyForCreate"] = promise.idempotencyKeyForCreate
    if promise.idempotencyKeyForComplete:
        rendered["idempotencyKeyForComplete"] = promise.idempotencyKeyForComplete
    if promise.completedOn:
        rendered["completedOn"] = promise.completedOn
    if promise.tags:
        rendered["tags"] = dict(promise.tags)
    return rendered


def renderSchedule(schedule):
    """
    A schedule message as the HTTP API renders the schedule.
    """
    rendered = {
        "id": schedule.id,
        "cron": schedule.cron,
        "tags": dict(schedule.tags),
        "promiseId": schedule.promiseId,
        "promiseTimeout": schedule.promiseTimeout,
        "promiseParam": renderValue(schedule.promiseParam),
        "nextRunTime": schedule.nextRunTime,
        "createdOn": schedule.createdOn,
    }
    if schedule.description:
        rendered["desc"] = schedule.description
    if schedule.promiseTags:
        rendered["promiseTags"] = dict(schedule.promiseTags)
    if schedule.lastRunTime:
        rendered["lastRunTime"] = schedule.lastRunTime
    if schedule.idempotencyKey:
        rendered["idempotencyKey"] = schedule.idempotencyKey
    return rendered


def renderLock(lock):
    return {
        "resourceId": lock.resource_id,
        "processId": lock.process_id,
        "executionId": lock.execution_id,
        "expiryInMilliseconds": lock.expiry_in_milliseconds,
        "expiresAt": lock.expires_at,
    }


_promiseState = promise_pb2.State.Name
_taskState = task_pb2.TaskState.Name


def _created(response):
    return 200 if response.noop else 201


class GRPCDriver:
    """
    Sends case-table requests over a gRPC channel.
    """

    def __init__(self, channel, metadata=None):
        self._promises = promise_pb2_grpc.PromisesStub(channel)
        self._schedules = schedule_pb2_grpc.SchedulesStub(channel)
        self._locks = lock_pb2_grpc.LocksStub(channel)
        self._tasks = task_pb2_grpc.TasksStub(channel)
        self._metadata = metadata

    def translate(self, step):
        """
        The RPC for a case-table request.

        @return: C{(method, request, successCode, render)}: C{successCode}
            and C{render} take the response message.
        @raise NotExpressible: no RPC says this request.
        """
        kind = step[0]
        if kind == "create":
            _, promiseId, kw = step
            kw = dict(kw)
            headers = {}
            if kw.get("ikey") is not None:
                headers["idempotency-key"] = kw["ikey"]
            if kw.get("strict") is not None:
                headers["strict"] = str(kw["strict"]).lower()
            body = {k: v for k, v in kw.items() if k not in ("ikey", "strict")}
            body["id"] = promiseId
            return self._createPromise(body, headers)
        if kind == "complete":
            _, promiseId, kw = step
            headers = {}
            if kw.get("ikey") is not None:
                headers["idempotency-key"] = kw["ikey"]
            if kw.get("strict") is not None:
                headers["strict"] = str(kw["strict"]).lower()
            body = {k: v for k, v in kw.items() if k not in ("ikey", "strict")}
            # The HTTP driver sends the id in the path, percent-decoded there.
            return self._completePromise(_pathId("/" + promiseId, "/"), body, headers)
        if kind == "read":
            return self._route("get", "/promises/" + step[1], None, None)
        if kind == "raw":
            raise NotExpressible("raw bytes")
        method, path, *rest = step
        body = rest[0] if rest else None
        headers = rest[1] if len(rest) > 1 else None
        return self._route(method, path, body, headers)

    def _route(self, method, path, body, headers):
        body = body if body is not None else {}
        if not isinstance(body, dict):
            raise NotExpressible("the body is not an object")
        if method == "post" and path == "/promises":
            return self._createPromise(body, headers)
        if method == "get" and path.split("?", 1)[0] in ("/promises", "/schedules"):
            return self._search(path)
        if method == "get" and path.startswith("/promises/"):
            request = promise_pb2.ReadPromiseRequest(id=_pathId(path, "/promises/"))
            return (self._promises.ReadPromise, request, lambda r: 200,
                    lambda r: renderPromise(r.promise, _promiseState))
        if method == "patch" and path.startswith("/promises/"):
            return self._completePromise(_pathId(path, "/promises/"), body, headers)
        if method == "post" and path == "/schedules":
            return self._createSchedule(body, headers)
        if method == "get" and path.startswith("/schedules/"):
            request = schedule_pb2.ReadScheduleRequest(id=_pathId(path, "/schedules/"))
            return (self._schedules.ReadSchedule, request, lambda r: 200,
                    lambda r: renderSchedule(r.schedule))
        if method == "delete" and path.startswith("/schedules/"):
            request = schedule_pb2.DeleteScheduleRequest(id=_pathId(path, "/schedules/"))
            return (self._schedules.DeleteSchedule, request, lambda r: 204,
                    lambda r: None)
        if method == "post" and path == "/locks/acquire":
            lock = lock_pb2.Lock(
                resource_id=_text(body, "resourceId"),
                process_id=_text(body, "processId"),
                execution_id=_text(body, "executionId"),
                expiry_in_milliseconds=_integer(body, "expiryInMilliseconds"),
            )
            return (self._locks.AcquireLock, lock_pb2.AcquireLockRequest(lock=lock),
                    lambda r: 201, lambda r: renderLock(r.lock))
        if method == "post" and path == "/locks/heartbeat":
            request = lock_pb2.HeartbeatLocksRequest(process_id=_text(body, "processId"))
            return (self._locks.HeartbeatLocks, request, lambda r: 200,
                    lambda r: {"locksAffected": r.locksAffected})
        if method == "post" and path == "/locks/release":
            request = lock_pb2.ReleaseLockRequest(
                resource_id=_text(body, "resourceId"),
                execution_id=_text(body, "executionId"),
            )
            return (self._locks.ReleaseLock, request, lambda r: 204, lambda r: None)
        if method == "post" and path == "/tasks/claim":
            request = task_pb2.ClaimTaskRequest(
                task_id=_text(body, "taskId"),
                counter=_integer(body, "counter", INT32),
                process_id=_text(body, "processId"),
                execution_id=_text(body, "executionId"),
                expiry_in_milliseconds=_integer(body, "expiryInMilliseconds"),
            )
            return (self._tasks.ClaimTask, request, lambda r: 200,
                    lambda r: renderPromise(r.promise, _taskState))
        if method == "post" and path == "/tasks/complete":
            state = body.get("state")
            if state is None:
                state = "PENDING"
            if not isinstance(state, str) or state.upper() not in task_pb2.TaskState.keys():
                raise NotExpressible("the state is not a TaskState")
            request = task_pb2.CompleteTaskRequest(
                task_id=_text(body, "taskId"),
                counter=_integer(body, "counter", INT32),
                execution_id=_text(body, "executionId"),
                state=task_pb2.TaskState.Value(state.upper()),
                value=_value(task_pb2.TaskValue, body, "value"),
            )
            return (self._tasks.CompleteTask, request, lambda r: 200, lambda r: None)
        raise NotExpressible(f"no RPC for {method.upper()} {path}")

    def _search(self, path):
        """
        A promise or schedule search by id pattern or cursor (the only
        queries this driver says).
        """
        route, _, query = path.partition("?")
        args = parse_qs(query, keep_blank_values=True)
        if set(args) - {"id", "cursor"}:
            raise NotExpressible(f"search arguments {sorted(args)}")
        pattern = args.get("id", [""])[-1]
        cursor = args.get("cursor", [""])[-1]
        if route == "/promises":
            request = promise_pb2.SearchPromisesRequest(id=pattern, cursor=cursor)
            return (self._promises.SearchPromises, request, lambda r: 200,
                    lambda r: {"ids": [p.id for p in r.promises]})
        request = schedule_pb2.SearchSchedulesRequest(id=pattern, cursor=cursor)
        return (self._schedules.SearchSchedules, request, lambda r: 200,
                lambda r: {"ids": [s.id for s in r.schedules]})

    def _createPromise(self, body, headers):
        header = _headerReader(headers)
        if body.get("tags"):
            raise NotExpressible("CreatePromiseRequest has no tags (as in v0.5)")
        request = promise_pb2.CreatePromiseRequest(
            id=_text(body, "id"),
            timeout=_integer(body, "timeout", required=True),
            param=_value(promise_pb2.Value, body, "param"),
            idempotencyKey=header("idempotency-key") or "",
            strict=_strict(header("strict")),
        )
        return (self._promises.CreatePromise, request, _created,
                lambda r: renderPromise(r.promise, _promiseState))

    def _completePromise(self, promiseId, body, headers):
        header = _headerReader(headers)
        state = body.get("state")
        methods = {
            "RESOLVED": (self._promises.ResolvePromise, promise_pb2.ResolvePromiseRequest),
            "REJECTED": (self._promises.RejectPromise, promise_pb2.RejectPromiseRequest),
            "REJECTED_CANCELED": (self._promises.CancelPromise,
                                  promise_pb2.CancelPromiseRequest),
        }
        if not isinstance(state, str) or state.upper() not in methods:
            raise NotExpressible("no RPC completes to that state")
        method, cls = methods[state.upper()]
        request = cls(
            id=promiseId,
            value=_value(promise_pb2.Value, body, "value"),
            idempotencyKey=header("idempotency-key") or "",
            strict=_strict(header("strict")),
        )
        return (method, request, _created,
                lambda r: renderPromise(r.promise, _promiseState))

    def _createSchedule(self, body, headers):
        header = _headerReader(headers)
        description = body.get("description")
        if description is None:
            description = body.get("desc")
        request = schedule_pb2.CreateScheduleRequest(
            id=_text(body, "id"),
            description=_text({"d": description}, "d"),
            cron=_text(body, "cron"),
            tags=_stringMap(body, "tags"),
            promiseId=_text(body, "promiseId"),
            promiseTimeout=_integer(body, "promiseTimeout"),
            promiseParam=_value(schedule_pb2.PromiseValue, body, "promiseParam"),
            promiseTags=_stringMap(body, "promiseTags"),
            idempotencyKey=header("idempotency-key") or "",
        )
        return (self._schedules.CreateSchedule, request, _created,
                lambda r: renderSchedule(r.schedule))

    async def send(self, step):
        """
        Send a case-table request as its RPC.

        @return: a L{GRPCResponse}.
        @raise NotExpressible: no RPC says this request.
        """
        method, request, successCode, render = self.translate(step)
        try:
            response = await callRPC(method, request, self._metadata)
        except grpc.RpcError as error:
            codes = [v for k, v in error.trailing_metadata() or () if k == CODE_METADATA]
            errorCode = int(codes[0]) if codes else None
            code = errorCode // 10 if errorCode is not None else None
            result = GRPCResponse(code, None, errorCode, error.code(), error.details())
            if errorCode is not None and grpcCode(Status(errorCode)) != error.code():
                raise AssertionError(f"{errorCode} mapped to {error.code()}: {result!r}")
            return result
        return GRPCResponse(successCode(response), render(response))
