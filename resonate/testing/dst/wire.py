# -*- test-case-name: tests.integration.test_dst -*-
"""
HTTP in memory: requests go through the server's real HTTP site (Twisted's
HTTP parser, the Klein routes, the codec) over a L{StringTransport}, with no
socket and no timer.

Each request is HTTP/1.0 on a connection of its own, so the server closes
the connection once it has answered: that is when the answer is complete.
"""

import json

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from resonate.testing.dst import model2026
from resonate.testing.dst.model import Answer, Violation
from resonate.testing.dst.requests import VERSION_2026, canonicalJSON


class _Connection(StringTransport):
    """
    A transport that says when the server closed it.
    """

    def __init__(self):
        super().__init__()
        self.closed = Deferred()

    def loseConnection(self):
        super().loseConnection()
        if not self.closed.called:
            self.closed.callback(self.value())


class Response:
    """
    A parsed HTTP response.

    @ivar status: the HTTP status code.
    @ivar headers: a C{dict} of lower-cased header names to values.
    @ivar body: the body, C{bytes}.
    """

    def __init__(self, raw):
        head, separator, self.body = raw.partition(b"\r\n\r\n")
        if not separator:
            raise Violation(f"not an HTTP response: {raw!r}")
        statusLine, *lines = head.decode("latin-1").split("\r\n")
        version, status, *_ = statusLine.split(" ", 2)
        self.status = int(status)
        self.headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()


class Wire:
    """
    Sends requests to an HTTP site in memory.
    """

    def __init__(self, site):
        """
        @param site: the server's L{twisted.web.server.Site}.
        """
        site.timeOut = None  # no idle-timeout timers on the real reactor
        self._site = site

    def send(self, method, path, headers, body):
        """
        Send one request.  The server starts on it at once (its store call
        is made before this returns).

        @param body: a JSON-able object, raw C{bytes}, or L{None}.
        @return: a C{Deferred} firing with the L{Response}.
        """
        if body is None:
            payload = b""
        elif isinstance(body, bytes):
            payload = body
        else:
            payload = json.dumps(body).encode("utf-8")
        lines = [f"{method} {path} HTTP/1.0"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None:
            lines.append("content-type: application/json")
            lines.append(f"content-length: {len(payload)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + payload
        channel = self._site.buildProtocol(None)
        connection = _Connection()
        channel.makeConnection(connection)
        channel.dataReceived(raw)

        def answered(data):
            channel.connectionLost(Failure(ConnectionDone()))
            return Response(data)

        return connection.closed.addCallback(answered)


def _jsonBody(response):
    """
    The JSON body of a response that says it is JSON.

    @raise Violation: it does not say so, or is not.
    """
    if response.headers.get("content-type") != "application/json":
        raise Violation(f"content-type {response.headers.get('content-type')!r}")
    try:
        return json.loads(response.body)
    except ValueError:
        raise Violation(f"{response.status} with a body that is not JSON: "
                        f"{response.body!r}")


def toAnswer(response):
    """
    Check the form of a response and reduce it to an L{Answer}: a success
    keeps its body, an error must be the contract's envelope whose code's
    HTTP status is the response's.

    @raise Violation: the response breaks the wire contract.
    """
    if response.status == 204:
        if response.body:
            raise Violation(f"204 with a body: {response.body!r}")
        return Answer(2040, "")
    body = _jsonBody(response)
    if response.status < 400:
        return Answer(response.status * 10, canonicalJSON(body))
    error = body.get("error") if isinstance(body, dict) else None
    if not (
        isinstance(error, dict)
        and isinstance(error.get("code"), int)
        and isinstance(error.get("message"), str)
        and isinstance(error.get("details"), list)
        and error["details"]
    ):
        raise Violation(f"{response.status} without the error envelope: {body!r}")
    if error["code"] // 10 != response.status:
        raise Violation(f"HTTP {response.status} for code {error['code']}")
    return Answer(error["code"])


def toAnswer2026(response, request):
    """
    Check the form of a 2026 answer (section 2: the envelope, its C{kind}
    and C{corrId} echoed, the HTTP status its C{head.status}, an error's
    C{data} a string) and reduce it to an L{Answer}: the status, and the
    canonical JSON of a success's C{data}.  A fenced action's error
    message is shown as L{model2026.MESSAGE}: only its being a string is
    the contract's.

    @param request: the L{resonate.testing.dst.requests.Rpc} (or heartbeat)
        it answers.
    @raise Violation: the answer breaks the wire contract.
    """
    body = _jsonBody(response)
    head = body.get("head") if isinstance(body, dict) else None
    if not (
        isinstance(head, dict)
        and body.get("kind") == request.kind
        and head.get("corrId") == request.corrId
        and head.get("status") == response.status
        and head.get("version") == VERSION_2026
        and "data" in body
    ):
        raise Violation(f"{response.status} without the 2026 envelope of "
                        f"{request.kind} {request.corrId}: {body!r}")
    data = body["data"]
    if response.status >= 400:
        if not isinstance(data, str):
            raise Violation(f"{response.status} whose data is not a string: {data!r}")
        return Answer(response.status)
    if request.kind == "task.fence" and isinstance(data, dict):
        action = data.get("action")
        if isinstance(action, dict) and isinstance(action.get("data"), str):
            data = dict(data, action=dict(action, data=model2026.MESSAGE))
    return Answer(response.status, canonicalJSON(data))
