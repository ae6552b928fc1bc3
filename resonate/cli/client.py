# -*- test-case-name: tests.processes.test_cli -*-
"""
A small blocking HTTP client of the v0.5 API and of the 2026 protocol's
C{POST /} envelopes, on C{urllib.request}.

The command line is not a server: blocking is fine here, and the standard
library is enough.  Every answer becomes either the decoded JSON body or an
L{APIError}; every failure to get an answer becomes L{Unreachable}.
"""

import base64
import http.client
import itertools
import json
import os
import socket
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode

#: How long to wait for the server, in seconds.
DEFAULT_TIMEOUT = 30.0

#: The version of the 2026 protocol's envelopes.
PROTOCOL_2026 = "2026-04-01"


class APIError(Exception):
    """
    The server answered with an error.

    @ivar status: the HTTP status code.
    @ivar code: the envelope's 4-digit code, or L{None} if the body was not
        a v0.5 error envelope.
    @ivar message: the envelope's message (a 2026 envelope's C{data}
        string), or the HTTP reason.
    @ivar details: the messages of the envelope's details that say more
        than C{message}.
    @ivar challenge: the C{WWW-Authenticate} header of a 401, or L{None}.
    """

    def __init__(self, status, reason, body, challenge=None):
        super().__init__(status, reason)
        self.status = status
        self.challenge = challenge
        self.code = None
        self.message = reason
        self.details = []
        envelope = _decode(body)
        error = envelope.get("error") if isinstance(envelope, dict) else None
        if isinstance(envelope, dict) and isinstance(envelope.get("data"), str):
            # A 2026 envelope: its error is the data, a plain string.
            self.message = envelope["data"] or reason
        elif isinstance(error, dict):
            self.code = error.get("code")
            self.message = error.get("message") or reason
            for detail in error.get("details") or ():
                text = detail.get("message") if isinstance(detail, dict) else None
                if text and text != self.message:
                    self.details.append(text)
        elif body:
            # Not ours (a proxy, a load balancer): show the start of it.
            self.details.append(body[:200].decode("utf-8", "replace").strip())

    def __str__(self):
        code = f" ({self.code})" if self.code is not None else ""
        return f"{self.status} {self.message}{code}"


class CommandFailed(Exception):
    """
    The server answered, but the command cannot do what it was asked (the
    root of a tree does not exist): C{str()} says why, on one line.
    """


class Unreachable(Exception):
    """
    No answer came from the server: C{str()} says why.
    """


def _decode(body):
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


class Response:
    """
    A successful answer.

    @ivar status: the HTTP status code (200, 201, 204).
    @ivar body: the decoded JSON body, L{None} when there is none.
    """

    def __init__(self, status, body):
        self.status = status
        self.body = body


def _describe(reason):
    """
    The short reason of a connection failure, without C{[Errno N]}.
    """
    if isinstance(reason, socket.timeout):
        return "timed out"
    if isinstance(reason, socket.gaierror):
        return f"unknown host ({reason.strerror})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


class Client:
    """
    Requests to one server.
    """

    def __init__(self, server, username=None, password=None,
                 timeout=DEFAULT_TIMEOUT, opener=None, token=None):
        """
        @param server: the base URL, e.g. C{http://127.0.0.1:8001}.
        @param username: with C{password}, sent as HTTP basic auth.
        @param password: see C{username}.
        @param opener: the C{urllib.request.OpenerDirector} to use.
        @param token: a JWT, sent as C{Authorization: Bearer} with every
            request and as C{head.auth} of every 2026 envelope; not with
            C{username} and C{password} (one C{Authorization} header).
        @raise ValueError: both a token and basic credentials.
        """
        self.server = server.rstrip("/")
        self._timeout = timeout
        self._opener = opener or urllib.request.build_opener()
        self._corrIds = itertools.count(1)
        self._headers = {"Accept": "application/json"}
        self.token = token or None
        if self.token is not None:
            if username is not None or password is not None:
                raise ValueError("a token cannot be sent with a username and password")
            self._headers["Authorization"] = "Bearer " + self.token
        elif username is not None or password is not None:
            credentials = f"{username or ''}:{password or ''}".encode("utf-8")
            self._headers["Authorization"] = (
                "Basic " + base64.b64encode(credentials).decode("ascii")
            )

    def envelope(self, kind, data):
        """
        Send one 2026 operation, C{POST /} with the envelope C{{"kind",
        "head": {"corrId", "version", "auth"?}, "data"}} (C{auth}: the
        token, if any).

        @return: the answer's C{data}.
        @raise APIError: an error answer (its C{head.status} is the HTTP
            status); also an answer that is not this request's envelope.
        @raise Unreachable: no answer.
        """
        corrId = f"cli-{os.getpid()}-{next(self._corrIds)}"
        head = {"corrId": corrId, "version": PROTOCOL_2026}
        if self.token is not None:
            head["auth"] = self.token
        response = self.request("POST", "/", {
            "kind": kind,
            "head": head,
            "data": data,
        })
        body = response.body
        head = body.get("head") if isinstance(body, dict) else None
        if not isinstance(head, dict) or head.get("corrId") != corrId:
            raise APIError(response.status, "not a 2026 protocol answer", b"")
        return body.get("data")

    def request(self, method, path, body=None, headers=None, query=None):
        """
        Send one request.

        @param path: the path, already quoted (see L{path}).
        @param body: a JSON-able object, or L{None} for no body.
        @param headers: extra request headers.
        @param query: a list of C{(name, value)} query arguments.
        @return: a L{Response} for a 2xx answer.
        @raise APIError: any other answer.
        @raise Unreachable: no answer.
        """
        url = self.server + path
        if query:
            url += "?" + urlencode(query)
        allHeaders = dict(self._headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            allHeaders["Content-Type"] = "application/json"
        allHeaders.update(headers or {})
        request = urllib.request.Request(
            url, data=data, headers=allHeaders, method=method
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as answer:
                return Response(answer.status, _decode(answer.read()))
        except urllib.error.HTTPError as error:
            with error:
                content = error.read()
            raise APIError(
                error.code, error.reason, content,
                error.headers.get("WWW-Authenticate") if error.headers else None,
            )
        except urllib.error.URLError as error:
            raise Unreachable(
                f"cannot reach {self.server}: {_describe(error.reason)}"
            )
        except (OSError, http.client.HTTPException) as error:
            # Connected, but the answer never came whole.
            raise Unreachable(
                f"no answer from {self.server}: {_describe(error)}"
            )


def path(*segments):
    """
    Build a request path from fixed segments and one id; the id is
    percent-encoded whole (its C{/} included), which the server decodes
    once.

    >>> path("promises", "a/b c")
    '/promises/a%2Fb%20c'
    """
    return "".join("/" + quote(segment, safe="") for segment in segments)
