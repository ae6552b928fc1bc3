# -*- test-case-name: tests.integration.test_api_grpc -*-
"""
The v0.5 gRPC API: the four services, translated to and from the same
operations the HTTP API calls.

A request is turned into the JSON-shaped fields the HTTP codec parses, so
both protocols validate with one set of rules; the answer is rendered into
the protobuf messages, and an error is raised as the gRPC status code the
contract maps it to, with the 4-digit code in the C{resonate-code} trailing
metadata.

The servicers' methods run on grpcio's event loop (a thread of its own,
see L{resonate.api.grpcserver}), and only hand the request over: parsing,
the operation and rendering all run on the reactor, through the C{call}
function they are given, and the loop then sends the answer.
"""

import grpc
from twisted.internet.defer import maybeDeferred
from twisted.logger import Logger

from resonate.api import codec
from resonate.api.tokens import EVERYONE, TokenRejected
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
from resonate.errors import ResonateError, ValidationError
from resonate.metrics import Metrics
from resonate.status import Status

#: The trailing metadata key that carries the 4-digit code of an error.
CODE_METADATA = "resonate-code"


#: gRPC status codes by HTTP status family (contract 2.10's mapping).
def grpcCode(status):
    """
    The gRPC status code of a status, from the one table of
    L{resonate.status} (contract 2.10): validation is INVALID_ARGUMENT,
    already completed and held locks PERMISSION_DENIED, not found
    NOT_FOUND, exists ALREADY_EXISTS, 5000-5003 INTERNAL and 5030-5032
    UNAVAILABLE.
    """
    return getattr(grpc.StatusCode, status.grpcCodeName)


def _message(error):
    """
    One line for the gRPC status message: the status message and every
    field problem.
    """
    if not error.details:
        return error.message
    problems = "; ".join(f"{field} {problem}" for field, problem in error.details)
    return f"{error.status.message}: {problems}"


def _value(value):
    """
    The JSON-shaped form of a protobuf C{Value}/C{PromiseValue}/C{TaskValue}.
    """
    return {"headers": dict(value.headers), "data": value.data}


def _headers(idempotencyKey, strict=False):
    """
    A header reader, as the codec takes, for an idempotency key and strict.
    """
    headers = {"idempotency-key": idempotencyKey, "strict": "true" if strict else None}
    return headers.get


def _renderValue(cls, value):
    return cls(headers=value.headers, data=value.data or b"")


def _renderPromise(promise, cls=promise_pb2.Promise, valueCls=promise_pb2.Value):
    return cls(
        id=promise.id,
        state=promise.state.value,
        param=_renderValue(valueCls, promise.param),
        value=_renderValue(valueCls, promise.value),
        timeout=promise.timeout,
        idempotencyKeyForCreate=promise.idempotencyKeyForCreate or "",
        idempotencyKeyForComplete=promise.idempotencyKeyForComplete or "",
        createdOn=promise.createdOn,
        completedOn=promise.completedOn or 0,
        tags=promise.tags,
    )


def _renderSchedule(schedule):
    return schedule_pb2.Schedule(
        id=schedule.id,
        description=schedule.description or "",
        cron=schedule.cron,
        tags=schedule.tags or {},
        promiseId=schedule.promiseId,
        promiseTimeout=schedule.promiseTimeout,
        promiseParam=_renderValue(schedule_pb2.PromiseValue, schedule.promiseParam),
        promiseTags=schedule.promiseTags or {},
        idempotencyKey=schedule.idempotencyKey or "",
        lastRunTime=schedule.lastRunTime or 0,
        nextRunTime=schedule.nextRunTime,
        createdOn=schedule.createdOn,
    )


def _renderLock(lock):
    return lock_pb2.Lock(
        resource_id=lock.resourceId,
        process_id=lock.processId,
        execution_id=lock.executionId,
        expiry_in_milliseconds=lock.expiryInMilliseconds,
        expires_at=lock.expiresAt,
    )


def _searchArgs(pattern, tags, limit, state=None):
    """
    The query arguments of an HTTP search, from a gRPC one: an empty
    pattern means every id (v0.5 asserted there), a limit of 0 the default.
    """
    args = {"id": [pattern or "*"]}
    if limit:
        args["limit"] = [str(limit)]
    if state:
        args["state"] = [state]
    for key, value in tags.items():
        args[f"tags[{key}]"] = [value]
    return args


_SEARCH_STATES = {
    promise_pb2.SEARCH_PENDING: "pending",
    promise_pb2.SEARCH_RESOLVED: "resolved",
    promise_pb2.SEARCH_REJECTED: "rejected",
}

_TASK_STATE_NAMES = {number: name for name, number in task_pb2.TaskState.items()}


def _taskState(number):
    """
    The state text of a task completion: PENDING (0, the default) counts
    as absent; the codec refuses every state but resolved and rejected.
    """
    if number == task_pb2.PENDING:
        return None
    return _TASK_STATE_NAMES.get(number, str(number))


def _decided(decision):
    """
    The status of a state-machine decision, raised if it is an error.
    """
    if decision.status.isError:
        raise ResonateError(decision.status)
    return decision.status


class GRPCAPI:
    """
    The four v0.5 services over one L{resonate.api.operations.Operations}.

    Each RPC method is a coroutine with grpcio's servicer signature
    C{(request, context)}; L{addTo} registers them all on a
    C{grpc.aio.Server}.
    """

    _log = Logger()

    def __init__(self, operations, call, metrics=None, tokens=None):
        """
        @param operations: the L{resonate.api.operations.Operations}.
        @param call: C{call(f, *args)}, from the gRPC event loop, runs
            C{f(*args)} (a coroutine function, or one returning a
            C{Deferred}) on the reactor and returns an awaitable of its
            result.
        @param metrics: the L{resonate.metrics.Metrics} to record each RPC
            in (as C{type="grpc"}), or L{None} for none kept.
        @param tokens: L{None} (no JWT auth: every RPC's principal is
            C{EVERYONE}), or the L{resonate.api.tokens.TokenVerifier} of the
            C{authorization} metadata (C{Bearer <jwt>}) every RPC must
            send: else UNAUTHENTICATED (4010), and PERMISSION_DENIED
            (4038) for ids outside its principal's.
        """
        if metrics is None:
            metrics = Metrics()
        self._tokens = tokens
        self._operations = operations
        self._call = call
        self._metrics = metrics

    def addTo(self, server):
        """
        Register the Promises, Schedules, Locks and Tasks services.

        @return: the full names of the services registered.
        """
        promise_pb2_grpc.add_PromisesServicer_to_server(_Promises(self), server)
        schedule_pb2_grpc.add_SchedulesServicer_to_server(_Schedules(self), server)
        lock_pb2_grpc.add_LocksServicer_to_server(_Locks(self), server)
        task_pb2_grpc.add_TasksServicer_to_server(_Tasks(self), server)
        return [
            "promise.Promises",
            "schedule.Schedules",
            "lock.Locks",
            "task.Tasks",
        ]

    def _principal(self, context):
        """
        On the gRPC event loop: who an RPC is, from its C{authorization}
        metadata (the last one given).  Verifying is computation, nothing
        that waits, and leaves the reactor to the operations.

        @raise ResonateError: 4010, saying why, with JWT auth and no token
            that verifies.
        """
        if self._tokens is None:
            return EVERYONE
        given = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                given = value
        try:
            return self._tokens.verifyAuthorization(given)
        except TokenRejected as e:
            raise ResonateError(Status.UNAUTHORIZED, str(e))

    async def answer(self, context, requestId, handle):
        """
        On the gRPC event loop: authenticate the RPC, run
        C{handle(principal)} on the reactor and answer with its response,
        or end the RPC with the gRPC code its error maps to.  The loop only
        touches C{context}; the reactor does the rest.
        """
        try:
            principal = self._principal(context)
        except ResonateError as refusal:
            # Counted on the reactor, as every answer is.
            response, error = await self._call(self._refused, refusal)
        else:
            response, error = await self._call(
                self._serve, requestId, handle, principal
            )
        if error is not None:
            context.set_trailing_metadata(((CODE_METADATA, str(error.status.value)),))
            await context.abort(grpcCode(error.status), _message(error))
        return response

    def _serve(self, requestId, handle, principal):
        """
        On the reactor: run C{handle(principal)}, which gives C{(status, response)}
        (through a C{Deferred} or as a coroutine), and count the RPC.
        Plain callbacks: this is every RPC's path.

        @return: a C{Deferred} firing with C{(response, None)}, or
            C{(None, error)}: a L{ResonateError}, or INTERNAL (5000) for
            anything else, logged once.
        """
        started = self._metrics.requestStarted("grpc")
        return maybeDeferred(handle, principal).addCallbacks(
            self._served,
            self._failed,
            callbackArgs=(started,),
            errbackArgs=(requestId, started),
        )

    def _refused(self, error):
        """
        On the reactor: count an RPC refused before it was served.

        @return: C{(None, error)}, as L{_serve} gives a failure.
        """
        self._metrics.requestFinished(
            "grpc", error.status, self._metrics.requestStarted("grpc")
        )
        return None, error

    def _served(self, result, started):
        status, response = result
        self._metrics.requestFinished("grpc", status, started)
        return response, None

    def _failed(self, failure, requestId, started):
        if failure.check(ResonateError):
            error = failure.value
            if error.status.value >= 5000:
                self._log.warn(
                    "grpc request {requestId} failed: {code} {message}",
                    requestId=requestId,
                    code=error.status.value,
                    message=error.message,
                )
        else:
            self._log.failure(
                "grpc request {requestId} failed", failure, requestId=requestId
            )
            error = ResonateError(Status.INTERNAL_SERVER_ERROR)
        self._metrics.requestFinished("grpc", error.status, started)
        return None, error

    @property
    def operations(self):
        """
        The operations the services call.
        """
        return self._operations


class _Promises(promise_pb2_grpc.PromisesServicer):
    """
    C{promise.Promises}.
    """

    def __init__(self, api):
        self._api = api

    async def ReadPromise(self, request, context):
        def handle(principal):
            promiseId = codec.parsePathId(request.id)
            return self._api.operations.readPromise(promiseId, principal=principal).addCallback(read)

        def read(decision):
            _decided(decision)
            return Status.OK, promise_pb2.ReadPromiseResponse(
                promise=_renderPromise(decision.promise)
            )

        return await self._api.answer(context, request.requestId, handle)

    async def SearchPromises(self, request, context):
        async def handle(principal):
            if request.cursor:
                query = codec.decodeCursor(request.cursor)
            else:
                args = _searchArgs(
                    request.id,
                    request.tags,
                    request.limit,
                    _SEARCH_STATES.get(request.state),
                )
                query = codec.parseSearchArgs(args)
            page = await self._api.operations.searchPromises(query, principal=principal)
            return Status.OK, promise_pb2.SearchPromisesResponse(
                cursor=codec.encodeCursor(page.next) if page.next is not None else "",
                promises=[_renderPromise(p) for p in page.promises],
            )

        return await self._api.answer(context, request.requestId, handle)

    async def CreatePromise(self, request, context):
        def handle(principal):
            body = {"id": request.id, "timeout": request.timeout}
            if request.HasField("param"):
                body["param"] = _value(request.param)
            create = codec.parseCreatePromise(
                body, _headers(request.idempotencyKey, request.strict)
            )
            return self._api.operations.createPromise(create, principal=principal).addCallback(created)

        def created(decision):
            status = _decided(decision)
            return status, promise_pb2.CreatePromiseResponse(
                noop=status is Status.OK, promise=_renderPromise(decision.promise)
            )

        return await self._api.answer(context, request.requestId, handle)

    async def _complete(self, state, responseType, request, context):
        async def handle(principal):
            body = {"state": state}
            if request.HasField("value"):
                body["value"] = _value(request.value)
            if not request.id:
                raise ValidationError([("id", "is required")])
            complete = codec.parseCompletePromise(
                codec.parsePathId(request.id),
                body,
                _headers(request.idempotencyKey, request.strict),
            )
            decision = await self._api.operations.completePromise(complete, principal=principal)
            status = _decided(decision)
            return status, responseType(
                noop=status is Status.OK, promise=_renderPromise(decision.promise)
            )

        return await self._api.answer(context, request.requestId, handle)

    async def ResolvePromise(self, request, context):
        return await self._complete(
            "RESOLVED", promise_pb2.ResolvePromiseResponse, request, context
        )

    async def RejectPromise(self, request, context):
        return await self._complete(
            "REJECTED", promise_pb2.RejectPromiseResponse, request, context
        )

    async def CancelPromise(self, request, context):
        return await self._complete(
            "REJECTED_CANCELED", promise_pb2.CancelPromiseResponse, request, context
        )


class _Schedules(schedule_pb2_grpc.SchedulesServicer):
    """
    C{schedule.Schedules}.
    """

    def __init__(self, api):
        self._api = api

    async def CreateSchedule(self, request, context):
        async def handle(principal):
            body = {
                "id": request.id or None,
                "description": request.description or None,
                "cron": request.cron or None,
                "tags": dict(request.tags),
                "promiseId": request.promiseId or None,
                "promiseTimeout": request.promiseTimeout or None,
                "promiseTags": dict(request.promiseTags),
            }
            if request.HasField("promiseParam"):
                body["promiseParam"] = _value(request.promiseParam)
            create = codec.parseCreateSchedule(body, _headers(request.idempotencyKey))
            decision = await self._api.operations.createSchedule(create, principal=principal)
            status = _decided(decision)
            return status, schedule_pb2.CreatedScheduleResponse(
                noop=status is Status.OK, schedule=_renderSchedule(decision.schedule)
            )

        return await self._api.answer(context, request.requestId, handle)

    async def ReadSchedule(self, request, context):
        async def handle(principal):
            scheduleId = codec.parsePathId(request.id)
            schedule = await self._api.operations.readSchedule(scheduleId, principal=principal)
            if schedule is None:
                raise ResonateError(Status.SCHEDULE_NOT_FOUND)
            return Status.OK, schedule_pb2.ReadScheduleResponse(
                schedule=_renderSchedule(schedule)
            )

        return await self._api.answer(context, request.requestId, handle)

    async def SearchSchedules(self, request, context):
        async def handle(principal):
            if request.cursor:
                query = codec.decodeScheduleCursor(request.cursor)
            else:
                args = _searchArgs(request.id, request.tags, request.limit)
                query = codec.parseScheduleSearchArgs(args)
            page = await self._api.operations.searchSchedules(query, principal=principal)
            cursor = ""
            if page.next is not None:
                cursor = codec.encodeScheduleCursor(page.next)
            return Status.OK, schedule_pb2.SearchSchedulesResponse(
                cursor=cursor,
                schedules=[_renderSchedule(s) for s in page.schedules],
            )

        return await self._api.answer(context, request.requestId, handle)

    async def DeleteSchedule(self, request, context):
        async def handle(principal):
            scheduleId = codec.parsePathId(request.id)
            if not await self._api.operations.deleteSchedule(scheduleId, principal=principal):
                raise ResonateError(Status.SCHEDULE_NOT_FOUND)
            return Status.NO_CONTENT, schedule_pb2.DeleteScheduleResponse()

        return await self._api.answer(context, request.requestId, handle)


class _Locks(lock_pb2_grpc.LocksServicer):
    """
    C{lock.Locks}.
    """

    def __init__(self, api):
        self._api = api

    async def AcquireLock(self, request, context):
        async def handle(principal):
            lock = request.lock
            acquire = codec.parseAcquireLock(
                {
                    "resourceId": lock.resource_id or None,
                    "processId": lock.process_id or None,
                    "executionId": lock.execution_id or None,
                    "expiryInMilliseconds": lock.expiry_in_milliseconds or None,
                }
            )
            decision = await self._api.operations.acquireLock(acquire, principal=principal)
            status = _decided(decision)
            return status, lock_pb2.AcquireLockResponse(lock=_renderLock(decision.lock))

        return await self._api.answer(context, request.request_id, handle)

    async def HeartbeatLocks(self, request, context):
        async def handle(principal):
            processId = codec.parseHeartbeatLocks({"processId": request.process_id or None})
            count = await self._api.operations.heartbeatLocks(processId, principal=principal)
            return Status.OK, lock_pb2.HeartbeatLocksResponse(locksAffected=count)

        return await self._api.answer(context, request.request_id, handle)

    async def ReleaseLock(self, request, context):
        async def handle(principal):
            release = codec.parseReleaseLock(
                {
                    "resourceId": request.resource_id or None,
                    "executionId": request.execution_id or None,
                }
            )
            if not await self._api.operations.releaseLock(release, principal=principal):
                raise ResonateError(Status.LOCK_NOT_FOUND)
            return Status.NO_CONTENT, lock_pb2.ReleaseLockResponse()

        return await self._api.answer(context, request.request_id, handle)


class _Tasks(task_pb2_grpc.TasksServicer):
    """
    C{task.Tasks}.
    """

    def __init__(self, api):
        self._api = api

    async def ClaimTask(self, request, context):
        async def handle(principal):
            claim = codec.parseClaimTask(
                {
                    "taskId": request.task_id or None,
                    "counter": request.counter,
                    "processId": request.process_id or None,
                    "executionId": request.execution_id or None,
                    "expiryInMilliseconds": request.expiry_in_milliseconds or None,
                }
            )
            status, promise = await self._api.operations.claimTask(claim, principal=principal)
            if status.isError:
                raise ResonateError(status)
            return status, task_pb2.ClaimTaskResponse(
                promise=_renderPromise(promise, task_pb2.TaskPromise, task_pb2.TaskValue)
            )

        return await self._api.answer(context, request.requestId, handle)

    async def CompleteTask(self, request, context):
        async def handle(principal):
            body = {
                "taskId": request.task_id or None,
                "counter": request.counter,
                "executionId": request.execution_id or None,
                "state": _taskState(request.state),
            }
            if request.HasField("value"):
                body["value"] = _value(request.value)
            complete = codec.parseCompleteTask(body)
            status = await self._api.operations.completeTask(complete, principal=principal)
            if status.isError:
                raise ResonateError(status)
            return status, task_pb2.CompleteTaskResponse()

        return await self._api.answer(context, request.requestId, handle)
