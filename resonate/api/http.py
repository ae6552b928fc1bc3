# -*- test-case-name: tests.integration.test_api_http -*-
"""
The HTTP API (Klein): routes, the error envelope, and the request limits.

Routes are bound to an L{HTTPAPI} instance, which holds the
L{resonate.api.operations.Operations} it calls; no state is global.

Two protocols share the one site (DECISIONS 23): the v0.5 REST routes
(C{/promises}, C{/schedules}, C{/locks}, C{/tasks}, C{/healthz},
C{/readyz}), and the 2026 protocol's C{POST /}, answered by
L{resonate.api.protocol2026.Protocol2026} (the HTTP status is the
envelope's C{head.status}), with its C{GET /health} and C{GET /ready}, and
its Server-Sent Events stream C{GET /poll/{group}/{id}}
(L{resonate.api.sse}); and the web console under C{/console}
(L{resonate.console}), counted apart from the API
(C{resonate_console_requests_total}, see L{resonate.metrics}).  The
site's limits (body size, basic auth, slow clients) apply to every path.  With JWT auth the site asks every path for
an C{Authorization: Bearer} token but the health probes, C{POST /} and the
console, which authenticate themselves (L{tokenExempt}), and puts the
principal on the request for the routes (C{request.principal}).
"""

import uuid
from importlib import resources
from urllib.parse import unquote_to_bytes

from klein import Klein
from twisted.logger import Logger
from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from werkzeug.exceptions import BadRequest, MethodNotAllowed, NotFound
from werkzeug.routing import PathConverter

from resonate.api import codec
from resonate.api.auth import CHALLENGE
from resonate.api import tokens as _tokens
from resonate.api.protocol2026 import Protocol2026
from resonate.api.resource import AppResource
from resonate.api.sse import servePoll
from resonate.errors import ResonateError, ValidationError
from resonate.metrics import Metrics
from resonate.status import Status


_jsonBytes = codec.encodeJSON


def _errorBody(error):
    return _jsonBytes(codec.renderError(error))


def _endpoint(handler):
    """
    Wrap a route: answer with JSON, and turn every failure into the error
    envelope.  Unexpected failures are logged once, with the request id,
    and answer 5000 without a traceback.  Every answer is counted in the
    metrics with its 4-digit code.

    The handler returns C{(status, body)}, where C{body} is a JSON-able
    object or L{None} for no body, or a C{Deferred} or coroutine producing
    it.  The hot routes return C{Deferred}s: a coroutine costs a tenth of
    a request's time on the reactor, and an answer known at once (a read
    served from memory) is written without waiting for a turn of the
    reactor.

    An answer that takes a while is written to the request by the
    endpoint itself (L{_writeAnswer}), not handed to L{AppResource} in a
    C{Deferred}: one C{Deferred}, a C{notifyFinish} and their callbacks
    fewer per request.  A client that goes away never cancels the
    operation under way, which goes on, is counted, and whose answer is
    dropped.
    """

    def endpoint(self, request, **kwargs):
        started = self._metrics.requestStarted("http")
        request.setHeader(b"content-type", b"application/json")
        d = maybeDeferred(handler, self, request, **kwargs)
        if d.called and not d.paused:
            # Answered already: hand the resource the bytes, which it
            # writes with their length.  (Not d.callbacks: deprecated
            # since Twisted 25.5, every read of it goes through
            # warnings.warn.)
            d.addBoth(_respond, self, request, started)
            return d.result
        # The answer is written straight to the request once it comes: no
        # Deferred of its own for the resource, no notifyFinish.  An
        # answer whose client went away is dropped, and the operation goes
        # on regardless (it is counted, as every answer is).
        d.addBoth(_respond, self, request, started).addCallbacks(
            _writeAnswer, _answerFailed, (request,), None, (request,)
        )
        return server.NOT_DONE_YET
    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def _decisionEndpoint(render):
    """
    Like L{_endpoint}, for the busiest routes, whose handler returns the
    operation's C{Deferred} of a L{resonate.model.promise.Decision}: one
    callback (L{_answerDecision}) turns the decision into the answer and
    writes it, where L{_endpoint} chains four (and C{maybeDeferred}).  The
    answers, their metrics and their failures are L{_endpoint}'s.

    @param render: renders the decision's promise into a JSON-able object.
    """

    def decorate(handler):
        def endpoint(self, request, **kwargs):
            started = self._metrics.requestStarted("http")
            request.setHeader(b"content-type", b"application/json")
            try:
                d = handler(self, request, **kwargs)
            except BaseException:
                d = fail()
            if d.called and not d.paused:
                d.addBoth(_answerDecision, self, request, started, render, False)
                result = d.result
                if isinstance(result, Failure):
                    # Rendering failed (a bug): the resource answers 500.
                    d.addErrback(lambda failure: None)
                    result.raiseException()
                return result
            d.addBoth(_answerDecision, self, request, started, render, True)
            return server.NOT_DONE_YET

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return decorate


def _answerDecision(result, api, request, started, render, late):
    """
    Answer with a decision (its status and rendered promise, or the error
    envelope of its error status, raised as a L{ResonateError} would be)
    or a failure, through L{_respond}; write it to the request when
    C{late} (see L{_writeAnswer}), else return the body.
    """
    if not isinstance(result, Failure):
        status = result.status
        if status.isError:
            result = Failure(ResonateError(status))
        else:
            result = (status, render(result.promise))
    if not late:
        return _respond(result, api, request, started)
    try:
        body = _respond(result, api, request, started)
    except BaseException:
        _answerFailed(Failure(), request)
        return None
    _writeAnswer(body, request)
    return None


def _writeAnswer(body, request):
    """
    Write a route's answer, C{bytes}, with its length, and finish the
    request; drop it if the client has gone away meanwhile.
    """
    if request.channel is None:
        # Gone (http.Request.connectionLost): nobody to answer.
        return
    try:
        request.setHeader(b"content-length", b"%d" % (len(body),))
        request.write(body)
        request.finish()
    except Exception:
        request.processingFailed(Failure())


def _answerFailed(failure, request):
    """
    Rendering an answer failed (a bug): answer 500 as Twisted does, or log
    it if the client has gone away.
    """
    if request.channel is None:
        _log.failure("a route failed after its client went away", failure)
        return
    request.processingFailed(failure)


_log = Logger()


def _requestId(request):
    """
    The request's id for the log: the client's C{request-id}, or a new one
    (made only when something is logged: uuid4 costs 6% of a create).
    """
    return request.getHeader("request-id") or uuid.uuid4().hex


def _respond(result, api, request, started):
    """
    Turn a route's outcome (C{(status, body)} or a L{Failure}) into the
    response's code and bytes, and count it, for L{_endpoint}.
    """
    if isinstance(result, Failure):
        error = result.value
        if isinstance(error, ResonateError):
            if error.status.value >= 5000:
                api._log.warn(
                    "request {requestId} failed: {code} {message}",
                    requestId=_requestId(request),
                    code=error.status.value,
                    message=error.message,
                )
        else:
            api._log.failure(
                "request {requestId} failed", result, requestId=_requestId(request)
            )
            error = ResonateError(Status.INTERNAL_SERVER_ERROR)
        status, body = error.status, _errorBody(error)
    else:
        status, body = result
        if body is None:
            body = b""
        elif body is _NULL:
            body = b"null"
        else:
            body = _jsonBytes(body)
    api._metrics.requestFinished("http", status, started)
    request.setResponseCode(status.httpCode)
    return body


class _Null:
    """
    A body that renders as JSON C{null} (L{None} means no body).
    """


_NULL = _Null()


def _principal(request):
    """
    Who a request is (L{APISite.authorizes} says): what every v0.5
    operation is authorized for.
    """
    return getattr(request, "principal", UNAUTHENTICATED)


def _headerReader(request):
    return lambda name: request.getHeader(name)


def _pageAnswer(page, render):
    return Status.OK, render(page)


def _queryArgs(request):
    try:
        return {
            name.decode("utf-8"): [v.decode("utf-8") for v in values]
            for name, values in request.args.items()
        }
    except UnicodeDecodeError:
        raise ValidationError([("query", "must be UTF-8")])


class _IdConverter(PathConverter):
    """
    The rest of the path as one id, every slash and line break kept:
    werkzeug's C{path} refuses a leading slash and a line break, so ids
    such as C{/a}, or C{a} and C{b} on two lines, could be created but
    never read (C{GET /promises//a}, C{GET /promises/a%0Ab}).
    """

    regex = "(?s:.+)"
    part_isolating = False


def _consoleRoute(request):
    """
    The metrics label of a console request: C{"static"} (its stylesheet,
    script, icon), C{"action"} (C{/console/api/...}), C{"fragment"} (a
    page's live section) or C{"page"} (any other, unknown paths too).
    """
    path = request.path
    if path.startswith(b"/console/static/"):
        return "static"
    if path.startswith(b"/console/api/"):
        return "action"
    if request.args.get(b"fragment") == [b"1"]:
        return "fragment"
    return "page"


#: The methods the console's routes answer (pages, and JSON actions).
_CONSOLE_METHODS = ["GET", "HEAD", "POST"]


class HTTPAPI:
    """
    The HTTP API: v0.5's routes and the 2026 protocol's.
    """

    app = Klein()
    app.url_map.converters["id"] = _IdConverter
    _log = Logger()

    def __init__(
        self, operations, metrics=None, debug=None, poll=None, console=None,
        tokens=None,
    ):
        """
        @param operations: the L{resonate.api.operations.Operations} to call.
        @param metrics: the L{resonate.metrics.Metrics} that counts every
            answer; L{None} for a private one.
        @param debug: L{None} (the default: C{debug.*} requests answer 403
            and C{resonate:debug_time} is ignored), or the debug control
            of C{--debug} (a L{resonate.services.debug.DebugControl}).
        @param poll: L{None} (C{GET /poll/...} answers 404), or the
            L{resonate.api.sse.PollRegistry} its streams register with.
        @param console: L{None} (C{/console} answers 404), or the
            L{resonate.console.Console} served under C{/console}.
        @param tokens: L{None} (JWT auth off), or the
            L{resonate.api.tokens.TokenVerifier} of the 2026 protocol's
            C{head.auth}.
        """
        self._operations = operations
        self._console = None if console is None else console.resource()
        self._poll = poll
        self._metrics = metrics if metrics is not None else Metrics()
        self._protocol2026 = Protocol2026(operations, self._metrics, debug, tokens)
        self._openAPI = (
            resources.files("resonate.api").joinpath("openapi.yml").read_bytes()
        )

    def resource(self):
        """
        The C{IResource} serving this API.
        """
        return AppResource(self.app, self._routingError, self._hotRoute)

    def _hotRoute(self, request):
        """
        Route the busiest requests without the URL map (see
        L{AppResource}): C{POST /promises}, C{GET} and C{PATCH}
        C{/promises/{id...}}, and the 2026 protocol's C{POST /}.  The id is the rest of the percent-decoded
        path, as C{_IdConverter} matches it.  Anything else, or anything
        unusual (an empty id, a path that is not UTF-8), is left to the
        map.

        @return: L{None}, or C{(endpoint, arguments)}.
        """
        segments = request.postpath
        method = request.method
        if segments[0] != b"promises":
            if method == b"POST" and segments == [b""]:
                # The 2026 protocol: every request is a POST /.
                return self.rpc, {}
            return None
        if len(segments) == 1:
            if method == b"POST":
                return self.createPromise, {}
            return None
        if method == b"GET":
            endpoint = self.readPromise
        elif method == b"PATCH":
            endpoint = self.completePromise
        else:
            return None
        rest = b"/".join(segments[1:])
        if not rest:
            return None
        try:
            return endpoint, {"promiseId": rest.decode("utf-8")}
        except UnicodeDecodeError:
            return None

    @app.route("/promises", methods=["POST"])
    @_decisionEndpoint(codec.renderPromise)
    def createPromise(self, request):
        """
        C{POST /promises}: 201 created, 200 deduplicated, 409 exists.
        """
        body = codec.parseJSONObject(request.content.read())
        create = codec.parseCreatePromise(body, _headerReader(request))
        return self._operations.createPromise(create, principal=_principal(request))

    @app.route("/promises", methods=["GET"])
    @_endpoint
    def searchPromises(self, request):
        """
        C{GET /promises}: search by id pattern, state and tags, newest first.
        A cursor, when given, carries the whole query.
        """
        args = _queryArgs(request)
        cursor = args.get("cursor")
        if cursor and cursor[-1]:
            query = codec.decodeCursor(cursor[-1])
        else:
            query = codec.parseSearchArgs(args)
        d = self._operations.searchPromises(query, principal=_principal(request))
        return d.addCallback(
            _pageAnswer, codec.renderSearchPage
        )

    @app.route("/promises/<id:promiseId>", methods=["GET"])
    @_decisionEndpoint(codec.renderPromise)
    def readPromise(self, request, promiseId):
        """
        C{GET /promises/{id...}}: 200 or 404.
        """
        promiseId = codec.parsePathId(promiseId)
        return self._operations.readPromise(promiseId, principal=_principal(request))

    @app.route("/promises/<id:promiseId>", methods=["PATCH"])
    @_decisionEndpoint(codec.renderPromise)
    def completePromise(self, request, promiseId):
        """
        C{PATCH /promises/{id...}}: 201 completed, 200 deduplicated, 403
        already completed, 404 not found.
        """
        body = codec.parseJSONObject(request.content.read())
        complete = codec.parseCompletePromise(
            promiseId, body, _headerReader(request)
        )
        return self._operations.completePromise(
            complete, principal=_principal(request)
        )

    @app.route("/schedules", methods=["POST"])
    @_endpoint
    async def createSchedule(self, request):
        """
        C{POST /schedules}: 201 created, 200 deduplicated (same idempotency
        key; the body is not compared), 409 exists.
        """
        body = codec.parseJSONObject(request.content.read())
        create = codec.parseCreateSchedule(body, _headerReader(request))
        decision = await self._operations.createSchedule(
            create, principal=_principal(request)
        )
        if decision.status.isError:
            raise ResonateError(decision.status)
        return decision.status, codec.renderSchedule(decision.schedule)

    @app.route("/schedules", methods=["GET"])
    @_endpoint
    async def searchSchedules(self, request):
        """
        C{GET /schedules}: search by id pattern and tags, newest first.  A
        cursor, when given, carries the whole query.
        """
        args = _queryArgs(request)
        cursor = args.get("cursor")
        if cursor and cursor[-1]:
            query = codec.decodeScheduleCursor(cursor[-1])
        else:
            query = codec.parseScheduleSearchArgs(args)
        page = await self._operations.searchSchedules(
            query, principal=_principal(request)
        )
        return Status.OK, codec.renderSchedulePage(page)

    @app.route("/schedules/<id:scheduleId>", methods=["GET"])
    @_endpoint
    async def readSchedule(self, request, scheduleId):
        """
        C{GET /schedules/{id...}}: 200 or 404.
        """
        scheduleId = codec.parsePathId(scheduleId)
        schedule = await self._operations.readSchedule(
            scheduleId, principal=_principal(request)
        )
        if schedule is None:
            raise ResonateError(Status.SCHEDULE_NOT_FOUND)
        return Status.OK, codec.renderSchedule(schedule)

    @app.route("/schedules/<id:scheduleId>", methods=["DELETE"])
    @_endpoint
    async def deleteSchedule(self, request, scheduleId):
        """
        C{DELETE /schedules/{id...}}: 204 deleted, 404 not found.
        """
        scheduleId = codec.parsePathId(scheduleId)
        if not await self._operations.deleteSchedule(
            scheduleId, principal=_principal(request)
        ):
            raise ResonateError(Status.SCHEDULE_NOT_FOUND)
        return Status.NO_CONTENT, None

    @app.route("/locks/acquire", methods=["POST"])
    @_endpoint
    async def acquireLock(self, request):
        """
        C{POST /locks/acquire}: 201 acquired (or re-acquired by its holder,
        or taken over once expired), 403 held by another execution.
        """
        body = codec.parseJSONObject(request.content.read())
        acquire = codec.parseAcquireLock(body)
        decision = await self._operations.acquireLock(
            acquire, principal=_principal(request)
        )
        if decision.status.isError:
            raise ResonateError(decision.status)
        return decision.status, codec.renderLock(decision.lock)

    @app.route("/locks/heartbeat", methods=["POST"])
    @_endpoint
    async def heartbeatLocks(self, request):
        """
        C{POST /locks/heartbeat}: extend every lock of a process; 200 with
        how many.
        """
        body = codec.parseJSONObject(request.content.read())
        processId = codec.parseHeartbeatLocks(body)
        count = await self._operations.heartbeatLocks(
            processId, principal=_principal(request)
        )
        return Status.OK, {"locksAffected": count}

    @app.route("/locks/release", methods=["POST"])
    @_endpoint
    async def releaseLock(self, request):
        """
        C{POST /locks/release}: 204 released, 404 not held by that
        execution.
        """
        body = codec.parseJSONObject(request.content.read())
        release = codec.parseReleaseLock(body)
        if not await self._operations.releaseLock(
            release, principal=_principal(request)
        ):
            raise ResonateError(Status.LOCK_NOT_FOUND)
        return Status.NO_CONTENT, None

    @app.route("/tasks/claim", methods=["POST"])
    @_endpoint
    async def claimTask(self, request):
        """
        C{POST /tasks/claim}: 200 with the task's promise; 403 lock held by
        another execution (4034), timed out (4035), completed (4036) or
        wrong counter (4037); 404 unknown task (4044).
        """
        body = codec.parseJSONObject(request.content.read())
        claim = codec.parseClaimTask(body)
        status, promise = await self._operations.claimTask(
            claim, principal=_principal(request)
        )
        if status.isError:
            raise ResonateError(status)
        return status, codec.renderPromise(promise)

    @app.route("/tasks/complete", methods=["POST"])
    @_endpoint
    async def completeTask(self, request):
        """
        C{POST /tasks/complete}: 200 with the body C{null}; 403 timed out
        (4035), completed, here or through its promise (4036), or wrong
        counter (4037); 404 unknown task (4044).
        """
        body = codec.parseJSONObject(request.content.read())
        complete = codec.parseCompleteTask(body)
        status = await self._operations.completeTask(
            complete, principal=_principal(request)
        )
        if status.isError:
            raise ResonateError(status)
        return status, _NULL

    @app.route("/gc", methods=["POST"])
    @_endpoint
    async def collectGarbage(self, request):
        """
        C{POST /gc} (C{resonate gc}): delete, now, the settled promises
        settled more than C{olderThan} ms ago that nothing pending needs,
        with their tasks, callbacks and listeners, as retention does; with
        C{dryRun}, only count them.  200 with the counts, once every batch
        is done.
        """
        olderThan, dryRun = codec.parseCollectGarbage(
            codec.parseJSONObject(request.content.read())
        )
        settledBefore = self._operations.now() - olderThan
        count = await self._operations.collectGarbage(
            settledBefore, dryRun, principal=_principal(request)
        )
        return Status.OK, {
            "dryRun": dryRun,
            "settledBefore": settledBefore,
            "promises": count.promises,
            "tasks": count.tasks,
            "callbacks": count.callbacks,
            "listeners": count.listeners,
        }

    @app.route("/", methods=["POST"])
    def rpc(self, request):
        """
        C{POST /}: one request of the 2026 protocol, a JSON envelope in and
        out; the HTTP status is the answer's C{head.status} (300 for the
        C{task.suspend} redirect).
        """
        request.setHeader(b"content-type", b"application/json")
        d = self._protocol2026.handle(request.content.read())
        d.addCallback(_writeEnvelope, request)
        if d.called and not d.paused:
            # Answered already (the callbacks never fail): hand over the
            # bytes without a Deferred.
            return d.result
        # The resource cancels what it is handed when the client goes
        # away; that must not cancel the operation under way, which goes
        # on, is counted, and whose answer is dropped.
        answer = Deferred()
        d.addBoth(answer.callback)
        return answer

    @app.route("/poll/<id:rest>", methods=["GET"])
    def poll(self, request, rest):
        """
        C{GET /poll/{group}/{id}} (2026 protocol): a Server-Sent Events
        stream of the messages for that worker; both segments required.
        """
        segments = _pollSegments(request.path)
        if self._poll is None or segments is None:
            return self._routingError(request, NotFound())
        return servePoll(self._poll, request, *segments)

    @app.route("/console", methods=_CONSOLE_METHODS)
    @app.route("/console/", methods=_CONSOLE_METHODS)
    @app.route("/console/<id:rest>", methods=_CONSOLE_METHODS)
    def console(self, request, rest=None):
        """
        C{/console/...}: the web console's pages and actions, routed by its
        own resource (whose URL map holds the whole path).
        """
        if self._console is None:
            return self._routingError(request, NotFound())
        route = _consoleRoute(request)
        started = self._metrics.consoleStarted(route)
        request.notifyFinish().addBoth(
            self._consoleAnswered, request, route, started
        )
        return self._console.render(request)

    def _consoleAnswered(self, result, request, route, started):
        """
        Count a console request once its answer is written (with its HTTP
        status), or its client went away first (499).
        """
        status = 499 if isinstance(result, Failure) else request.code
        self._metrics.consoleFinished(route, status, started)

    @app.route("/health", methods=["GET"])
    def health(self, request):
        """
        C{GET /health} (2026 protocol): 200 with an empty body whenever the
        process answers.
        """
        return b""

    @app.route("/ready", methods=["GET"])
    async def ready(self, request):
        """
        C{GET /ready} (2026 protocol): 200 when the store answers, else
        503; the body is empty either way.
        """
        if await self._notReady() is not None:
            request.setResponseCode(503)
        return b""

    @app.route("/healthz", methods=["GET"])
    def healthz(self, request):
        """
        C{GET /healthz}: 200 whenever the process answers.  It touches
        neither admission nor the store, so it answers under overload too.
        """
        request.setHeader(b"content-type", b"application/json")
        return _HEALTHY

    @app.route("/readyz", methods=["GET"])
    async def readyz(self, request):
        """
        C{GET /readyz}: 200 when the store answers; otherwise 503 (not the
        500 that code 5002 would give elsewhere: probes and load balancers
        read 503 as "up, but do not send traffic") with the envelope,
        5002 saying why, or 5030 while shutting down.
        """
        request.setHeader(b"content-type", b"application/json")
        error = await self._notReady()
        if error is not None:
            request.setResponseCode(503)
            return _errorBody(error)
        return _HEALTHY

    async def _notReady(self):
        """
        Ping the store, for the readiness routes.

        @return: L{None} when it answers; else the L{ResonateError} saying
            why not (5002, or 5030 while shutting down), logged.
        """
        try:
            await self._operations.ping()
        except ResonateError as error:
            self._log.warn(
                "not ready: {code} {message}",
                code=error.status.value,
                message=error.message,
            )
            return error
        except Exception:
            self._log.failure("the readiness check failed")
            return ResonateError(Status.STORE_FAILURE)
        return None

    @app.route("/openapi.yml", methods=["GET"])
    def openAPI(self, request):
        """
        C{GET /openapi.yml}: the OpenAPI 3 description of this API.
        """
        request.setHeader(b"content-type", b"application/yaml")
        return self._openAPI

    def _routingError(self, request, error):
        """
        No route answers (see L{AppResource}): unknown paths answer 404,
        wrong methods 405, a path that is not UTF-8 400, with the envelope.
        """
        started = self._metrics.requestStarted("http")
        if isinstance(error, MethodNotAllowed):
            refusal = ResonateError(Status.METHOD_NOT_ALLOWED)
            allowed = error.valid_methods or []
            request.setHeader(b"allow", ", ".join(allowed).encode("ascii"))
        elif isinstance(error, BadRequest):
            refusal = ValidationError([("path", "must be UTF-8")])
        else:
            refusal = ResonateError(Status.NOT_FOUND)
        self._metrics.requestFinished("http", refusal.status, started)
        request.setResponseCode(refusal.status.httpCode)
        request.setHeader(b"content-type", b"application/json")
        return _errorBody(refusal)


def _pollSegments(path):
    """
    The group and id of a C{/poll/{group}/{id}} path, each percent-decoded
    once (so that C{%2F} is part of a segment, as the reference reads it);
    L{None} unless there are exactly two non-empty segments.
    """
    segments = path.split(b"/")[2:]
    if len(segments) != 2 or not all(segments):
        return None
    try:
        return tuple(unquote_to_bytes(s).decode("utf-8") for s in segments)
    except UnicodeDecodeError:
        return None


def _writeEnvelope(response, request):
    """
    Set the HTTP status of a 2026 answer (its C{head.status}).

    @param response: a L{resonate.api.envelope.Response}.
    @return: the body, C{bytes}.
    """
    request.setResponseCode(response.status)
    return response.toBytes()


_HEALTHY = _jsonBytes({"status": "ok"})
_TOO_LARGE = _errorBody(ResonateError(Status.PAYLOAD_TOO_LARGE))


#: The principal of a request the site has not authenticated (a path whose
#: handler authenticates, with JWT auth): it may name no id, so a handler
#: that forgets to authenticate fails closed (403).
UNAUTHENTICATED = _tokens.Principal()


class BoundedRequest(server.Request):
    """
    A request whose body may not exceed its site's C{maxBodySize}.

    An oversized body is refused as soon as its size is known (from
    C{Content-Length}, or while chunks arrive), with 413 and the error
    envelope, and the connection is closed: the body is never buffered.

    The body of a request without the site's credentials is read and
    dropped, not buffered: it is answered 401 without being looked at.

    @ivar endStream: L{None}, or, for an answer that never ends by itself
        (an SSE stream), a callable that ends it cleanly: shutdown calls it.
    """

    endStream = None
    #: The L{resonate.api.tokens.Principal} the site authenticated (set
    #: before routing): C{EVERYONE} without JWT auth; L{UNAUTHENTICATED}
    #: until then, and on the paths whose handler authenticates (see
    #: L{APISite.authorizes}).
    principal = UNAUTHENTICATED
    _refused = False
    _unauthorized = False
    _received = 0

    def __init__(self, *args, **kwargs):
        # The API speaks JSON only: never parse a POST body as a form.
        # Twisted would otherwise parse every POST's Content-Type with the
        # email package, about a quarter of the reactor's time per create.
        kwargs.setdefault("parsePOSTFormSubmission", False)
        super().__init__(*args, **kwargs)

    def _limit(self):
        return self.channel.site.maxBodySize

    def _refuse(self):
        self._refused = True
        metrics = self.channel.site.metrics
        metrics.requestFinished(
            "http", Status.PAYLOAD_TOO_LARGE, metrics.requestStarted("http")
        )
        transport = self.channel.transport
        transport.write(
            b"HTTP/1.1 413 Payload Too Large\r\n"
            b"Content-Type: application/json\r\n"
            b"Connection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(_TOO_LARGE), _TOO_LARGE)
        )
        transport.loseConnection()

    def gotLength(self, length):
        # Every header has arrived: the credentials can be checked now (the
        # request line is still the channel's: requestReceived comes after
        # the body).
        channel = self.channel
        self._unauthorized = not channel.site.authorizes(
            self, getattr(channel, "_command", None), getattr(channel, "_path", None)
        )
        if length is not None and length > self._limit():
            self._refuse()
        super().gotLength(0 if self._refused or self._unauthorized else length)

    def handleContentChunk(self, data):
        if self._refused:
            return
        self._received += len(data)
        if self._received > self._limit():
            self._refuse()
            return
        if self._unauthorized:
            return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version):
        if self._refused:
            # The answer was sent already; the connection is closing.
            return
        super().requestReceived(command, path, version)


_UNAUTHORIZED = _errorBody(ResonateError(Status.UNAUTHORIZED))


class _Unauthorized(Resource):
    """
    Answers a request without the site's credentials: 401 with the
    envelope (4010, saying why when C{reason} does) and the challenge,
    counted in C{metrics}.
    """

    isLeaf = True

    def __init__(self, metrics, challenge=CHALLENGE, reason=None):
        super().__init__()
        self._metrics = metrics
        self._challenge = challenge
        self._body = _UNAUTHORIZED
        if reason:
            self._body = _errorBody(ResonateError(Status.UNAUTHORIZED, reason))

    def render(self, request):
        self._metrics.requestFinished(
            "http", Status.UNAUTHORIZED, self._metrics.requestStarted("http")
        )
        request.setResponseCode(Status.UNAUTHORIZED.httpCode)
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"www-authenticate", self._challenge)
        return self._body


_LINE_TOO_LONG = _errorBody(
    ValidationError(
        [("request", f"line or header is longer than {HTTPChannel.MAX_LENGTH} bytes")]
    )
)


class _TrackedChannel(HTTPChannel):
    """
    An HTTP connection its site knows about, so that shutdown can let it
    finish its answer and close it.

    Slow clients are cut off: besides the idle timeout (the site's
    C{timeout}, which every byte received pushes back), a request must
    arrive whole, from its first byte to the end of its body, within that
    same time.  A client that sends a request a byte at a time, each byte
    within the idle timeout (slowloris), holds the connection no longer.

    The deadline's timer is made once per connection and moved to each
    request's first byte (a C{reset}, arithmetic when the time is later);
    a request that arrives whole only disarms it.  Making and cancelling
    one per request cost a few microseconds of every request; a disarmed
    timer that falls due is dropped.
    """

    _awaitingRequest = True
    _deadline = None
    _deadlineArmed = False
    _timedOut = False
    _host = None

    def getHost(self):
        """
        The connection's local address, asked of the socket once: every
        request's C{__init__} asks for it, and each ask was a
        C{getsockname} system call (6% of the reactor's time per create).
        A connected socket's address does not change.
        """
        host = self._host
        if host is None:
            host = self._host = super().getHost()
        return host

    def connectionMade(self):
        super().connectionMade()
        self.site.channelOpened(self)

    def dataReceived(self, data):
        # The first bytes of a request start its deadline; later bytes do
        # not push it back.
        if self._awaitingRequest and not self._deadlineArmed and self.site.timeOut:
            self._deadlineArmed = True
            if self._deadline is None:
                self._deadline = self.callLater(self.site.timeOut, self._tooSlow)
            else:
                self._deadline.reset(self.site.timeOut)
        super().dataReceived(data)

    def allContentReceived(self):
        self._awaitingRequest = False
        self._deadlineArmed = False
        super().allContentReceived()

    def requestDone(self, request):
        self._awaitingRequest = True
        super().requestDone(request)

    def _tooSlow(self):
        self._deadline = None
        if self._deadlineArmed:
            self.timeoutConnection()

    def timeoutConnection(self):
        # The idle timeout and the deadline may both fall due before the
        # connection is gone: time it out once.
        if self._timedOut:
            return
        self._timedOut = True
        self._cancelDeadline()
        super().timeoutConnection()

    def _cancelDeadline(self):
        self._deadlineArmed = False
        if self._deadline is not None:
            if self._deadline.active():
                self._deadline.cancel()
            self._deadline = None

    def lineLengthExceeded(self, line):
        """
        A request line or header over C{MAX_LENGTH} bytes: answer 400 with
        the envelope and close (the line receiver would just hang up).
        """
        metrics = self.site.metrics
        metrics.requestFinished(
            "http", Status.FIELD_VALIDATION_FAILED, metrics.requestStarted("http")
        )
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\n"
            b"Content-Type: application/json\r\n"
            b"Connection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(_LINE_TOO_LONG), _LINE_TOO_LONG)
        )
        self.transport.loseConnection()

    def connectionLost(self, reason):
        self._cancelDeadline()
        super().connectionLost(reason)
        self.site.channelClosed(self)


#: The paths that stay open with JWT auth: the health probes (which cannot
#: send a token).
_OPEN_PATHS = frozenset([b"/healthz", b"/readyz", b"/health", b"/ready"])


def tokenExempt(method, path):
    """
    Whether, with JWT auth, the site leaves a request to its handler rather
    than asking for C{Authorization: Bearer}: the health probes (open), the
    2026 protocol's C{POST /} (its token is the envelope's C{head.auth})
    and the console (a Bearer header or its cookie).  Every other path,
    unknown ones and C{GET /poll/...} included, needs the header.

    @param method: C{bytes}.
    @param path: the raw path without its query, C{bytes}.
    """
    if path in _OPEN_PATHS:
        return True
    if path == b"/":
        return method == b"POST"
    return path == b"/console" or path.startswith(b"/console/")


class APISite(server.Site):
    """
    The HTTP site: bounded request bodies, slow clients cut off (see
    L{_TrackedChannel}), connections tracked for a clean shutdown, and no
    access log (it costs about 15% of throughput; failures
    are logged with their request id).

    @ivar metrics: the L{resonate.metrics.Metrics} that counts the answers
        given here rather than by a route (413, and 400 for a request line
        or header too long).
    """

    requestFactory = BoundedRequest
    # Plain HTTP/1.1 channels (the generic wrapper only serves HTTP/2 over
    # TLS, which this site does not speak).
    protocol = _TrackedChannel
    # One log line per listener is ours ("starting http server addr=...").
    noisy = False

    def __init__(
        self, resource, maxBodySize, credentials=None, metrics=None,
        idleTimeout=60.0, tokens=None, **kwargs,
    ):
        """
        @param resource: the API's C{IResource}.
        @param maxBodySize: the largest request body accepted, in bytes.
        @param credentials: L{None} (no auth), or a
            L{resonate.api.auth.BasicCredentials} that every request, to
            any path, must present.
        @param metrics: the L{resonate.metrics.Metrics} answers outside the
            routes (413, 401, bad paths) are counted in.
        @param idleTimeout: seconds after which a connection is closed when
            nothing arrives, or when a request has not arrived whole.
        @param tokens: L{None} (no JWT auth), or the
            L{resonate.api.tokens.TokenVerifier} of the C{Authorization:
            Bearer} token every request must present, but to the paths
            L{tokenExempt} leaves to their handlers.
        """
        super().__init__(resource, timeout=idleTimeout, **kwargs)
        self.maxBodySize = maxBodySize
        self.credentials = credentials
        self.tokens = tokens
        self.metrics = metrics if metrics is not None else Metrics()
        self._channels = set()
        self._whenClosed = []

    def channelOpened(self, channel):
        """
        Called by a channel once connected.
        """
        self._channels.add(channel)

    def channelClosed(self, channel):
        """
        Called by a channel once disconnected.
        """
        self._channels.discard(channel)
        if not self._channels:
            waiting, self._whenClosed = self._whenClosed, []
            for d in waiting:
                d.callback(None)

    def closeConnections(self):
        """
        Close every connection once its answer has been written: idle ones
        at once, busy ones as soon as their request is done, and streams
        (which never are) ended now.  Buffered answers are flushed first,
        so no acknowledged answer is cut off.

        @return: a C{Deferred} that fires once every connection is closed.
        """
        for channel in list(self._channels):
            channel.persistent = False
            streams = [
                request.endStream
                for request in channel.requests
                if getattr(request, "endStream", None) is not None
            ]
            if not channel.requests:
                channel.loseConnection()
            # Ending the stream finishes its request, which closes the
            # connection, now that it is not persistent.
            for endStream in streams:
                endStream()
        if not self._channels:
            return succeed(None)
        d = Deferred()
        self._whenClosed.append(d)
        return d

    def abortConnections(self):
        """
        Drop every connection still open, written or not.
        """
        for channel in list(self._channels):
            channel.transport.abortConnection()

    def authorizes(self, request, method, path):
        """
        Whether C{request} may be served, and who it is: set
        C{request.principal}.  Decided once per request (the first call,
        once its headers are in, is remembered).

        Without JWT auth, the principal is C{EVERYONE}, and the request
        must present the basic credentials if there are any.  With it, the
        request must present a token that verifies (C{Authorization:
        Bearer}), and is its principal; but to the paths L{tokenExempt}
        names, whose principal is L{UNAUTHENTICATED}: their handler
        authenticates.

        @param method: the request's method, C{bytes}, or L{None} if not
            known yet.
        @param path: the request's path (a query is ignored), C{bytes}, or
            L{None} if not known yet: then a request without a good token
            is let through for now, and decided once its path is known.
        """
        decided = getattr(request, "_authorization", None)
        if decided is not None:
            return decided[0]
        if self.tokens is None:
            request.principal = _tokens.EVERYONE
            if self.credentials is None:
                decided = (True, None)
            else:
                good = self.credentials.check(request.getHeader(b"authorization"))
                decided = (good, None)
        elif path is None or method is None:
            return True
        elif tokenExempt(method, path.split(b"?", 1)[0]):
            request.principal = UNAUTHENTICATED
            decided = (True, None)
        else:
            try:
                request.principal = self.tokens.verifyAuthorization(
                    request.getHeader(b"authorization")
                )
            except _tokens.TokenRejected as e:
                decided = (False, str(e))
            else:
                decided = (True, None)
        request._authorization = decided
        return decided[0]

    def getResourceFor(self, request):
        # Before routing, so that unknown paths, wrong methods and the
        # health routes are refused alike.
        if not self.authorizes(request, request.method, request.path):
            if self.tokens is not None:
                return _Unauthorized(
                    self.metrics, _tokens.CHALLENGE, request._authorization[1]
                )
            return _Unauthorized(self.metrics)
        return super().getResourceFor(request)

    def log(self, request):
        pass
