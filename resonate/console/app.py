# -*- test-case-name: tests.integration.test_console -*-
"""
The console's routes (Klein, served by L{resonate.api.resource.AppResource}
under the HTTP API's C{/console/} prefix): the pages, their static files,
and the actions.

Pages are C{GET}s: a page's live section alone with C{fragment=1}.
Actions are C{POST /console/api/...} with a JSON body, answered with JSON
C{{"ok", "message", "location"?}}.  The API's basic auth covers every
path the site serves, and so the console: a browser that has the
credentials sends them with every request, to any site's forms too, so an
action must show it comes from the console's own script (see
L{Console._refusal}).

With JWT auth (L{resonate.console.session}), the console asks who is using
it: a request without a token that verifies (a Bearer header, or the
cookie C{/console/login} sets) gets the login page (401), or, for a live
section or an action, a 401 of its own; the static files are public.
Every page and action is limited to what the token's principal may see
and do: lists within its prefix, a detail page or an action outside it
403.  Logging in and out are actions too, so another site cannot sign a
browser in (with its own token) or out.
"""

import json
from dataclasses import dataclass
from importlib import resources

from klein import Klein
from twisted.internet.defer import CancelledError, ensureDeferred
from twisted.logger import Logger
from twisted.web.template import flattenString
from werkzeug.exceptions import MethodNotAllowed

from resonate.api.envelope import DataReader
from resonate.api.protocol2026 import readPromiseCreate, readPromiseSettle
from resonate.api.resource import AppResource
from resonate.api.tokens import TokenRejected
from resonate.console import pages
from resonate.console.reads import STATE_FILTERS, ConsoleReads, nextQuery
from resonate.console.session import ConsoleForbidden, Scope, Sessions, describe
from resonate.console.values import ConsoleInputError, encodeJSONData, invokeData, parseTag
from resonate.errors import ResonateError
from resonate.model.promise import ALL_STATES, State
from resonate.model.tasks2026 import TaskState

#: The header an action must carry: a page of another site cannot send it
#: without the console's consent (a CORS preflight, never granted).
ACTION_HEADER = b"x-resonate-console"

#: The static files, by name: (package file, content type).
STATIC = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}

#: Headers on every console answer: no script but the console's own, no
#: framing (clickjacking), no sniffing, no referrer leaving the site.
SECURITY_HEADERS = {
    b"content-security-policy": (
        b"default-src 'self'; script-src 'self'; style-src 'self'; "
        b"img-src 'self'; connect-src 'self'; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'"
    ),
    b"x-frame-options": b"DENY",
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"same-origin",
    b"cache-control": b"no-store",
}

_DOCTYPE = b"<!DOCTYPE html>\n"

_SETTLE_STATES = {
    "resolved": State.RESOLVED,
    "rejected": State.REJECTED,
    "rejected_canceled": State.REJECTED_CANCELED,
}


@dataclass(frozen=True)
class Page:
    """
    What a page route answers: the parts of L{pages.document}.
    """

    title: str
    active: str
    controls: object
    live: object
    code: int = 200
    refresh: bool = True


#: The answer to a live section or an action without a token that
#: verifies: the script goes to the login page.
SIGN_IN_FIRST = "sign in first: your token is missing or no longer valid"


def _page(handler):
    """
    Wrap a page route: authenticate the request (the login page when it
    has no valid token), run the coroutine C{handler} with its
    L{resonate.console.session.Scope}, which returns a L{Page}, and render
    it as a document, or its live section alone when the query asks for
    C{fragment=1}.
    """

    def endpoint(self, request, **kwargs):
        _secure(request)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        principal = self._sessions.principalOf(request)
        if principal is None:
            return self._signInPage(request)
        request.consolePrincipal = principal
        d = ensureDeferred(handler(self, request, Scope(principal), **kwargs))
        d.addErrback(self._pageFailed, request)
        d.addCallback(self._renderPage, request)
        return d

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def _action(handler, signedIn=True):
    """
    Wrap an action route: refuse a request that does not show it comes
    from the console's script (403), then one without a valid token (401,
    unless C{signedIn} is false: logging in and out), read its JSON
    object, run the coroutine C{handler} with it (and, when C{signedIn},
    the L{resonate.console.session.Scope} of the request; else the
    request), and answer its C{(code, message, location)} as JSON.
    """

    def endpoint(self, request, **kwargs):
        _secure(request)
        request.setHeader(b"content-type", b"application/json")
        refusal = self._refusal(request)
        if refusal is not None:
            return _answer(request, 403, refusal)
        if signedIn:
            principal = self._sessions.principalOf(request)
            if principal is None:
                return _answer(request, 401, SIGN_IN_FIRST, pages.LOGIN)
            context = Scope(principal)
        else:
            context = request
        try:
            body = json.loads(request.content.read())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _answer(request, 400, "the body must be a JSON object")
        d = ensureDeferred(handler(self, body, context))
        d.addCallbacks(
            lambda result: _answer(request, *result),
            self._actionFailed,
            errbackArgs=(request,),
        )
        return d

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def _signInAction(handler):
    """
    Wrap an action that signs in or out: as L{_action}, but without a
    valid token, and with the request instead of a scope.
    """
    return _action(handler, signedIn=False)


class Console:
    """
    The console, over the API's operations.
    """

    app = Klein()
    _log = Logger()

    def __init__(self, operations, tokens=None):
        """
        @param operations: the L{resonate.api.operations.Operations} the
            API calls; every read and action goes through them.
        @param tokens: L{None} when JWT auth is off, else the
            L{resonate.api.tokens.TokenVerifier} the console authenticates
            its users with.
        """
        self._operations = operations
        self._sessions = Sessions(tokens)
        self._reads = ConsoleReads(operations)
        folder = resources.files("resonate.console").joinpath("static")
        self._static = {
            name: (folder.joinpath(name).read_bytes(), contentType.encode("ascii"))
            for name, contentType in STATIC.items()
        }

    def resource(self):
        """
        The C{IResource} serving the console's routes (the paths start
        with C{/console}).
        """
        return AppResource(self.app, self._routingError)

    def _routingError(self, request, error):
        _secure(request)
        if isinstance(error, MethodNotAllowed):
            request.setHeader(b"allow", ", ".join(error.valid_methods or []).encode("ascii"))
        request.setResponseCode(error.code)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return f"{error.code} {error.name}\n".encode("utf-8")

    # Pages.

    def _pageFailed(self, failure, request):
        """
        A page could not be made: its input was refused (400), an
        operation refused (its status), or something failed (500, logged).
        A page cancelled because its client went away stays cancelled,
        unlogged: nobody reads it.
        """
        if failure.check(CancelledError):
            return failure
        error = failure.value
        if isinstance(error, ConsoleInputError):
            code, text = 400, str(error)
        elif isinstance(error, ConsoleForbidden):
            code, text = 403, str(error)
        elif isinstance(error, ResonateError):
            code, text = error.status.httpCode, error.message
        else:
            self._log.failure("a console page failed", failure)
            code, text = 500, "The page could not be made; the server's log says why."
        return Page("Error", "", (), pages.message(text), code=code, refresh=False)

    def _renderPage(self, page, request):
        request.setResponseCode(page.code)
        if request.args.get(b"fragment") == [b"1"]:
            return flattenString(None, pages.fragment(page.live))
        liveURL = None
        if page.refresh and page.code == 200:
            liveURL = _withFragment(request)
        document = pages.document(
            page.title, page.active, page.controls, page.live, liveURL,
            account=self._account(request),
        )
        return flattenString(None, document).addCallback(lambda body: _DOCTYPE + body)

    def _account(self, request):
        """
        Who is signed in, for the page's header; L{None} when the console
        does not ask.
        """
        if not self._sessions.enabled:
            return None
        return describe(request.consolePrincipal)

    def _signInPage(self, request, code=401):
        """
        The login page, answering a request without a valid token (401);
        a live section gets a line that makes the script reload the page.
        """
        request.setResponseCode(code)
        if request.args.get(b"fragment") == [b"1"]:
            return flattenString(None, pages.fragment(pages.message(SIGN_IN_FIRST)))
        document = pages.document(
            "Sign in", "", pages.loginForm(_nextPage(request)),
            pages.message(
                "This server asks for a token (a JWT) of who you are. Paste "
                "it to sign in: it is kept in a cookie of this browser until "
                "it expires or you sign out."
            ),
            None,
        )
        return flattenString(None, document).addCallback(lambda body: _DOCTYPE + body)

    @app.route("/console/login", methods=["GET", "HEAD"])
    def login(self, request):
        """
        C{GET /console/login}: the login page (without JWT auth, to the
        console's first page).
        """
        _secure(request)
        if not self._sessions.enabled:
            request.setResponseCode(302)
            request.setHeader(b"location", pages.ROOT.encode("ascii"))
            return b""
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self._signInPage(request, code=200)

    @app.route("/console", methods=["GET", "HEAD"])
    def home(self, request):
        """
        C{GET /console}: to the console's first page.
        """
        _secure(request)
        request.setResponseCode(302)
        request.setHeader(b"location", pages.ROOT.encode("ascii"))
        return b""

    @app.route("/console/", methods=["GET", "HEAD"])
    @app.route("/console/promises", methods=["GET", "HEAD"])
    @_page
    async def promises(self, request, scope):
        """
        C{GET /console/promises}: promises, newest first, filtered by id
        pattern (C{*} any text), state and one C{key=value} tag.
        """
        idPattern = _arg(request, "id").strip()
        stateFilter = _arg(request, "state")
        tag = _arg(request, "tag")
        states = ALL_STATES
        if stateFilter:
            states = STATE_FILTERS.get(stateFilter)
            if states is None:
                raise ConsoleInputError(f"state: {stateFilter!r} is not a state")
        sortId = _intArg(request, "before")
        if not idPattern and not scope.unrestricted:
            # What the list shows: the filter says so.
            idPattern = scope.pattern("")
        page = await self._reads.promises(
            idPattern, states, parseTag(tag), sortId, scope=scope
        )
        query = {"id": idPattern, "state": stateFilter, "tag": tag}
        older = nextQuery(page)
        return Page(
            "Promises",
            "promises",
            pages.promiseFilters(idPattern, stateFilter, tag, STATE_FILTERS),
            pages.promiseTable(
                page.promises,
                self._reads.now(),
                None if older is None else pages.url("promises", before=older, **query),
                None if sortId is None else pages.url("promises", **query),
            ),
        )

    @app.route("/console/promise", methods=["GET", "HEAD"])
    @_page
    async def promise(self, request, scope):
        """
        C{GET /console/promise?id=...}: one promise and what refers to it,
        with the actions on it while it is pending.
        """
        promiseId = _arg(request, "id")
        detail = await self._reads.promise(promiseId, scope)
        if detail is None:
            return Page(
                "Promise", "promises", (),
                pages.message(f"No promise {promiseId!r}."), code=404, refresh=False,
            )
        controls = ()
        if pages.isPending(detail.promise):
            controls = pages.settleForm(detail.promise)
        return Page(
            f"Promise {promiseId}",
            "promises",
            controls,
            pages.promiseDetail(detail, self._reads.now()),
        )

    @app.route("/console/workflow", methods=["GET", "HEAD"])
    @_page
    async def workflow(self, request, scope):
        """
        C{GET /console/workflow?id=...}: the call tree of a root promise
        (without an id, the workflows started lately), and the form that
        invokes a function.
        """
        rootId = _arg(request, "id") or None
        controls = [pages.workflowForm(rootId), pages.invokeForm()]
        if rootId is None:
            roots = await self._reads.recentRoots(scope)
            return Page(
                "Workflows", "workflows", controls,
                pages.workflowIndex(roots, self._reads.now()),
            )
        workflow = await self._reads.workflow(rootId, scope)
        return Page(
            f"Workflow {rootId}",
            "workflows",
            controls,
            pages.workflowTree(workflow, rootId, self._reads.now()),
        )

    @app.route("/console/schedules", methods=["GET", "HEAD"])
    @_page
    async def schedules(self, request, scope):
        """
        C{GET /console/schedules}: schedules, newest first, with their
        next and last runs.
        """
        sortId = _intArg(request, "before")
        page = await self._reads.schedules(sortId=sortId, scope=scope)
        older = nextQuery(page)
        return Page(
            "Schedules",
            "schedules",
            (),
            pages.scheduleTable(
                page.schedules,
                self._reads.now(),
                None if older is None else pages.url("schedules", before=older),
                None if sortId is None else pages.url("schedules"),
            ),
        )

    @app.route("/console/tasks", methods=["GET", "HEAD"])
    @_page
    async def tasks(self, request, scope):
        """
        C{GET /console/tasks}: 2026 tasks (by id, filtered by state) and
        v0.5 tasks (by id).
        """
        stateFilter = _arg(request, "state")
        state = None
        if stateFilter:
            try:
                state = TaskState(stateFilter)
            except ValueError:
                raise ConsoleInputError(f"state: {stateFilter!r} is not a task state")
        cursor = _arg(request, "after") or None
        after05 = _arg(request, "after05") or None
        reply = await self._reads.tasks2026(state, cursor, scope)
        tasks05, next05 = await self._reads.tasks05(after05, scope)
        now = self._reads.now()
        return Page(
            "Tasks",
            "tasks",
            pages.taskFilters(stateFilter),
            [
                pages.tasks2026Table(reply.tasks, now),
                pages.morePager(
                    None if reply.cursor is None
                    else pages.url("tasks", state=stateFilter, after=reply.cursor)
                ),
                pages.tasks05Table(tasks05, now),
                pages.morePager(
                    None if next05 is None else pages.url("tasks", after05=next05)
                ),
            ],
        )

    @app.route("/console/locks", methods=["GET", "HEAD"])
    @_page
    async def locks(self, request, scope):
        """
        C{GET /console/locks}: the locks held, by resource.
        """
        after = _arg(request, "after") or None
        locks, nextAfter = await self._reads.locks(after, scope)
        return Page(
            "Locks",
            "locks",
            (),
            [
                pages.lockTable(locks, self._reads.now()),
                pages.morePager(None if nextAfter is None else pages.url("locks", after=nextAfter)),
            ],
        )

    @app.route("/console/static/<name>", methods=["GET", "HEAD"])
    def static(self, request, name):
        """
        C{GET /console/static/NAME}: the console's stylesheet, script and
        icon, shipped in the package.
        """
        _secure(request)
        found = self._static.get(name)
        if found is None:
            request.setResponseCode(404)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"404 Not Found\n"
        body, contentType = found
        request.setHeader(b"content-type", contentType)
        return body

    # Actions.

    def _refusal(self, request):
        """
        Why an action may not run, or L{None}: it must carry
        L{ACTION_HEADER} and a JSON content type (which another site's
        form cannot send, and its script only after a CORS preflight this
        server never grants), and an C{Origin}, when the browser sends
        one, must be this server's own.
        """
        if request.getHeader(ACTION_HEADER) != b"1":
            return "actions are taken from the console's pages"
        contentType = (request.getHeader(b"content-type") or b"").split(b";")[0].strip()
        if contentType.lower() != b"application/json":
            return "actions send JSON"
        origin = request.getHeader(b"origin")
        if origin is not None and not _isOwnOrigin(origin, request):
            return "actions are taken from this server's console only"
        fetchSite = request.getHeader(b"sec-fetch-site")
        if fetchSite is not None and fetchSite not in (b"same-origin", b"none"):
            return "actions are taken from this server's console only"
        return None

    def _actionFailed(self, failure, request):
        if failure.check(CancelledError):
            # Its client went away: nothing to answer, nothing to log.
            return failure
        error = failure.value
        if isinstance(error, ConsoleInputError):
            return _answer(request, 400, str(error))
        if isinstance(error, ConsoleForbidden):
            return _answer(request, 403, str(error))
        if isinstance(error, ResonateError):
            return _answer(request, error.status.httpCode, error.message)
        self._log.failure("a console action failed", failure)
        return _answer(request, 500, "the action failed; the server's log says why")

    @app.route("/console/api/settle", methods=["POST"])
    @_action
    async def settle(self, body, scope):
        """
        C{POST /console/api/settle} C{{id, state, value}}: resolve, reject
        or cancel a pending promise (a 2026 C{promise.settle}, which runs
        the settlement chain as every settlement does); C{value} is JSON
        text or blank.
        """
        state = _SETTLE_STATES.get(body.get("state"))
        if state is None:
            raise ConsoleInputError("state: one of resolved, rejected, rejected_canceled")
        value = {}
        data = encodeJSONData(_text(body, "value"))
        if data is not None:
            value["data"] = data
        scope.check(_text(body, "id"))
        reader = DataReader(
            {"id": _text(body, "id"), "state": body["state"], "value": value}
        )
        request = readPromiseSettle(reader, self._operations.now())
        if reader.problem is not None:
            return 400, reader.problem, None
        reply = await self._operations.handle2026(request, self._operations.now())
        if reply.isError:
            return int(reply.status), reply.message, None
        promise = reply.promise
        if promise.state is state:
            text = f"{promise.id} is {pages.stateName(state)}"
        else:
            text = f"{promise.id} was {pages.stateName(promise.state)} already"
        return 200, text, None

    @app.route("/console/api/invoke", methods=["POST"])
    @_action
    async def invoke(self, body, scope):
        """
        C{POST /console/api/invoke} C{{id, func, args, target, timeout}}:
        create a promise that a worker runs (a 2026 C{promise.create} with
        a C{resonate:target}), encoded as the SDKs encode an invoke.
        """
        scope.check(_text(body, "id"))
        now = self._operations.now()
        data = invokeData(
            _text(body, "id"), _text(body, "func"), _text(body, "args"),
            _text(body, "target"), _text(body, "timeout"), now,
        )
        reader = DataReader(data)
        request = readPromiseCreate(reader, now)
        if reader.problem is not None:
            return 400, reader.problem, None
        reply = await self._operations.handle2026(request, now)
        if reply.isError:
            return int(reply.status), reply.message, None
        promise = reply.promise
        if promise.createdOn == now and promise.param == request.param:
            text = f"invoked {promise.id}"
        else:
            text = f"{promise.id} exists already ({pages.stateName(promise.state)})"
        return 200, text, pages.workflowURL(promise.id)

    @app.route("/console/api/schedule/delete", methods=["POST"])
    @_action
    async def deleteSchedule(self, body, scope):
        """
        C{POST /console/api/schedule/delete} C{{id}}: delete a schedule.
        """
        scheduleId = _text(body, "id")
        if not scheduleId:
            raise ConsoleInputError("id: required")
        scope.check(scheduleId)
        if not await self._operations.deleteSchedule(
            scheduleId, principal=scope.principal
        ):
            return 404, f"no schedule {scheduleId}", None
        return 200, f"deleted schedule {scheduleId}", None

    @app.route("/console/api/login", methods=["POST"])
    @_signInAction
    async def signIn(self, body, request):
        """
        C{POST /console/api/login} C{{token, next}}: verify the token and
        keep it in the console's cookie; then to C{next} (a console page).
        """
        if not self._sessions.enabled:
            return 404, "this server does not ask for tokens", None
        token = _text(body, "token").strip()
        try:
            principal = self._sessions.signIn(request, token)
        except TokenRejected as e:
            return 401, f"the token was refused ({e})", None
        return 200, f"signed in: {describe(principal)}", _safeNext(_text(body, "next"))

    @app.route("/console/api/logout", methods=["POST"])
    @_signInAction
    async def signOut(self, body, request):
        """
        C{POST /console/api/logout}: forget the cookie; then to the login
        page.
        """
        if not self._sessions.enabled:
            return 404, "this server does not ask for tokens", None
        self._sessions.signOut(request)
        return 200, "signed out", pages.LOGIN



def _secure(request):
    for name, value in SECURITY_HEADERS.items():
        request.setHeader(name, value)


def _answer(request, code, text, location=None):
    request.setResponseCode(code)
    answer = {"ok": 200 <= code < 300, "message": text}
    if location is not None:
        answer["location"] = location
    return json.dumps(answer).encode("utf-8")


def _arg(request, name):
    """
    The last value of the query argument C{name}, as text; C{""} when
    absent.

    @raise ConsoleInputError: it is not UTF-8.
    """
    values = request.args.get(name.encode("ascii"))
    if not values:
        return ""
    try:
        return values[-1].decode("utf-8")
    except UnicodeDecodeError:
        raise ConsoleInputError(f"{name}: not UTF-8")


def _intArg(request, name):
    text = _arg(request, name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConsoleInputError(f"{name}: not a number")


def _text(body, name):
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConsoleInputError(f"{name}: must be text")
    return value


def _isOwnOrigin(origin, request):
    """
    Whether an C{Origin} names the host (and port) the request was sent
    to.  The scheme is not compared: behind a proxy that ends TLS, the page
    is C{https} and the request reaching this server C{http}.
    """
    scheme, separator, hostAndPort = origin.partition(b"://")
    host = request.getHeader(b"host")
    return bool(separator) and host is not None and hostAndPort == host


def _nextPage(request):
    """
    The page to go to once signed in: this one (without C{fragment=1}), or
    the first page when this is the login page.
    """
    path = request.uri.decode("utf-8", "replace")
    return _safeNext(path)


def _safeNext(path):
    """
    C{path} when it is a page of this console (a path under C{/console/}
    of this server, never another site's), else the first page.
    """
    if (
        path.startswith(pages.ROOT)
        and not path.startswith(pages.LOGIN)
        and "\\" not in path
        and not any(ord(c) < 32 for c in path)
    ):
        return path
    return pages.ROOT


def _withFragment(request):
    """
    The URL of this page's live section: its path and query, and
    C{fragment=1}; L{None} for a request not made with a path (the
    absolute form a proxy is sent), which the page does not refresh.
    """
    if not request.uri.startswith(b"/console"):
        return None
    path = request.uri.decode("utf-8", "replace")
    separator = "&" if "?" in path else "?"
    return path + separator + "fragment=1"
