# -*- test-case-name: tests.integration.test_api_resource -*-
"""
The C{IResource} that serves a Klein app's routes, leaving no reference
cycle behind a request.

Klein's own resource (C{Klein.resource()}) defines, per request, an error
callback that refers to itself and holds the request: every request's
objects (the request, its headers, Klein's adapter and werkzeug's URL
adapter, about 40 in all) stay alive until the garbage collector finds
the cycle.  A request answered at once dies young and costs little.  The
server's requests wait for a commit, outlive the collector's young
generation, and were collected from the older ones, at about 25 us of the
reactor's time per create (measured with C{gc.callbacks} under load), in
full collections of 20 ms.

L{AppResource} routes with the same Klein app (its URL map and endpoints,
called through C{Klein.execute_endpoint}), and its callbacks are bound
methods that the C{Deferred}s drop once fired.  It serves what this
server's routes answer: C{bytes}, C{str}, or a C{Deferred} (or coroutine)
of them; an answer's length is sent as C{Content-Length}.  A route may
also answer C{NOT_DONE_YET} and write and finish the request itself.
"""

from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import IResource
from twisted.web.server import NOT_DONE_YET
from werkzeug.exceptions import BadRequest, HTTPException
from zope.interface import implementer


def _defaultRoutingError(request, error):
    """
    Answer a routing error with its code and no body.
    """
    request.setResponseCode(error.code)
    return b""


@implementer(IResource)
class AppResource:
    """
    Serve the routes of a bound Klein app.

    @ivar isLeaf: always true: the app's URL map routes the whole path.
    """

    isLeaf = True

    def __init__(self, app, routingError=_defaultRoutingError, shortcut=None):
        """
        @param app: a C{Klein} app bound to the instance its routes are
            methods of (C{instance.app}).
        @param routingError: called as C{routingError(request, error)} when
            no route answers, with werkzeug's C{HTTPException} (C{NotFound},
            C{MethodNotAllowed}...; C{BadRequest} for a path that is not
            UTF-8 once percent-decoded); it returns the body, as a route
            does.
        @param shortcut: L{None}, or called as C{shortcut(request)} before
            the URL map is consulted: it returns L{None} to let the map
            route the request, or C{(endpoint, arguments)} to call
            C{endpoint(request, **arguments)} instead (a bound route of the
            app, and what the map would have matched).  Binding and
            matching the map is about a tenth of a request's time on the
            reactor; an app's busiest routes can be found by looking at
            the path.
        """
        self._app = app
        self._routingError = routingError
        self._shortcut = shortcut

    def getChildWithDefault(self, name, request):
        raise NotImplementedError("a leaf: the URL map routes the whole path")

    def putChild(self, path, child):
        raise NotImplementedError("routes are added to the Klein app")

    def render(self, request):
        """
        Route C{request}, call its endpoint, and write what it answers.
        """
        try:
            found = None if self._shortcut is None else self._shortcut(request)
            if found is not None:
                endpoint, arguments = found
                result = endpoint(request, **arguments)
            else:
                try:
                    adapter = self._bind(request)
                    rule, arguments = adapter.match(return_rule=True)
                except HTTPException as error:
                    result = self._routingError(request, error)
                else:
                    result = self._app.execute_endpoint(
                        rule.endpoint, request, **arguments
                    )
        except Exception:
            request.processingFailed(Failure())
            return NOT_DONE_YET
        if isinstance(result, Deferred):
            _Answer(request, result)
            return NOT_DONE_YET
        if result is NOT_DONE_YET:
            # The endpoint answers the request itself.
            return NOT_DONE_YET
        return _encoded(result)

    def _bind(self, request):
        """
        The app's URL map bound to C{request}, as Klein binds it (the host
        is used only in the URLs of redirects, which this map never
        answers with).

        @raise BadRequest: the path is not UTF-8 once percent-decoded.
        """
        host = request.getRequestHostname()
        port = getattr(request.getHost(), "port", 0)
        secure = bool(request.isSecure())
        if (secure, port) not in _DEFAULT_PORTS:
            host = b"%s:%d" % (host, port)
        path = b"/".join(request.postpath)
        if not path.startswith(b"/"):
            path = b"/" + path
        try:
            pathInfo = path.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("the path is not UTF-8")
        return self._app.url_map.bind(
            host.decode("utf-8", "replace"),
            "",
            path_info=pathInfo,
            default_method=request.method.decode("latin-1"),
            url_scheme="https" if secure else "http",
        )


_DEFAULT_PORTS = {(True, 443), (False, 80), (False, 0), (True, 0)}


def _encoded(result):
    if isinstance(result, str):
        return result.encode("utf-8")
    if result is None:
        return b""
    return result


class _Answer:
    """
    Write a route's C{Deferred} answer to its request once it comes, and
    cancel the C{Deferred} if the client goes away first.  Only bound
    methods are handed to the C{Deferred}s, which drop them once fired: no
    cycle outlives the request.
    """

    __slots__ = ("_request", "_answer", "_gone")

    _log = Logger()

    def __init__(self, request, answer):
        self._request = request
        self._answer = answer
        self._gone = False
        request.notifyFinish().addErrback(self._connectionLost)
        answer.addCallbacks(self._write, self._failed)

    def _connectionLost(self, reason):
        self._gone = True
        answer, self._answer = self._answer, None
        if answer is not None:
            answer.cancel()

    def _write(self, result):
        self._answer = None
        if self._gone:
            return
        body = _encoded(result)
        request = self._request
        request.setHeader(b"content-length", b"%d" % (len(body),))
        request.write(body)
        request.finish()

    def _failed(self, failure):
        self._answer = None
        if self._gone:
            if not failure.check(CancelledError):
                self._log.failure(
                    "a route failed after its client went away", failure
                )
            return
        self._request.processingFailed(failure)
