# -*- test-case-name: tests.processes.test_openapi -*-
"""
The OpenAPI description of the HTTP API, C{resonate/api/openapi.yml}: it is
valid OpenAPI 3, it declares exactly the routes the server has, the server
serves it, and a real server answers every operation as it declares.
"""

import json
import os
import re
import sys
from importlib import resources

import treq
import yaml
from openapi_spec_validator import validate
from twisted.internet import reactor
from twisted.trial import unittest
from twisted.web.client import HTTPConnectionPool

from resonate.api.http import HTTPAPI
from tests.support import postgrestools as postgres
from tests.support.apitools import LiveAPI
from tests.support.processtools import (
    runProcess,
    sqliteFlags,
    startResonate,
    stopResonate,
)

_METHODS = frozenset(
    ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
)

#: What schemathesis checks on every answer: no 5xx, a declared status, a
#: declared content type and headers, and a body that matches its schema.
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)

#: Requests generated per operation and phase: few, and always the same
#: ones (deterministic generation), so the run is short and repeatable.
MAX_EXAMPLES = 25

#: The most the schemathesis run may take, in seconds (it takes about 20).
SCHEMATHESIS_TIMEOUT = 300.0


def loadDocument():
    """
    The document as packaged.

    @return: C{(raw bytes, parsed document)}.
    """
    raw = resources.files("resonate.api").joinpath("openapi.yml").read_bytes()
    return raw, yaml.safe_load(raw)


def documentedOperations(document):
    """
    Every C{(METHOD, path)} the document declares, paths as written there
    (C{/promises/{promiseId}}).
    """
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in _METHODS
    }


def routedOperations():
    """
    Every C{(METHOD, path)} the HTTP API routes, its werkzeug rules written
    as OpenAPI paths (C{<id:promiseId>} becomes C{{promiseId}}).  HEAD,
    which werkzeug adds to every GET, is left out, and so is the web
    console under C{/console} (HTML pages for people, not the API).
    """
    operations = set()
    for rule in HTTPAPI.app.url_map.iter_rules():
        if rule.endpoint == "console":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operations.add((method, path))
    return operations


class OpenAPIDocumentTests(unittest.TestCase):
    """
    The document itself, and the route that serves it.
    """

    def test_valid(self):
        """
        The document is valid OpenAPI 3.
        """
        raw, document = loadDocument()
        self.assertTrue(document["openapi"].startswith("3."))
        validate(document)

    def test_everyRouteDeclared(self):
        """
        Every route of the HTTP API is declared, with its path parameters
        named as the route names them.
        """
        undeclared = routedOperations() - documentedOperations(loadDocument()[1])
        self.assertEqual(undeclared, set())

    def test_everyDeclaredOperationRouted(self):
        """
        Every operation the document declares is routed.
        """
        unrouted = documentedOperations(loadDocument()[1]) - routedOperations()
        self.assertEqual(unrouted, set())

    async def test_served(self):
        """
        C{GET /openapi.yml} answers the packaged document as YAML.
        """
        api = await LiveAPI(self).start()
        pool = HTTPConnectionPool(reactor, persistent=False)
        response = await treq.get(api.url + "/openapi.yml", pool=pool)
        body = await treq.content(response)
        self.assertEqual(response.code, 200)
        self.assertEqual(
            response.headers.getRawHeaders("content-type"), ["application/yaml"]
        )
        self.assertEqual(body, loadDocument()[0])


class ConformanceTestsMixin:
    """
    A real server answers as the document it serves declares, over the
    store C{storeFlags} names.
    """

    def storeFlags(self):
        """
        @return: the C{twist resonate} flags that choose the store.
        """
        raise NotImplementedError()

    def authFlags(self):
        """
        @return: C{(server flags, schemathesis arguments)} for the auth the
            run is under: none by default.
        """
        return (), []

    async def test_schemathesis(self):
        """
        schemathesis generates requests, valid and invalid, for every
        operation of the document a real C{twist resonate} serves, from its
        examples, boundary values, random data and sequences that follow the
        document's links: no answer is a 5xx, and every answer has a declared
        status, content type and headers and a body that matches its schema.
        """
        serverFlags, clientArgs = self.authFlags()
        server = await startResonate(self, *self.storeFlags(), *serverFlags)
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        report = os.path.join(workdir, "report.json")
        args = [
            sys.executable, "-m", "schemathesis.cli", "run",
            server.url + "/openapi.yml",
            "--url", server.url,
            "--checks", CHECKS,
            "--max-examples", str(MAX_EXAMPLES),
            "--generation-deterministic",
            "--workers", "1",
            "--report", "json",
            "--report-json-path", report,
            "--no-color",
            # A valid GET /poll/{group}/{id} is an event stream that never
            # ends: tests/integration/test_sse.py tests it instead.
            "--exclude-path", "/poll/{rest}",
            *clientArgs,
        ]
        # No working directory of its own: with one, Twisted must fork()
        # instead of posix_spawn(), and forking this process, which has run
        # grpcio's threads, was seen to abort the child once (SIGABRT, an
        # epoll error from grpc's poller).
        run = await runProcess(self, args, timeout=SCHEMATHESIS_TIMEOUT)
        await stopResonate(server)
        self.assertEqual((run.exit.code, run.exit.signal), (0, None), run.output)
        # Every operation was tested: none was left out, skipped or errored.
        # (schemathesis leaves out the operation it loaded the document from;
        # test_served covers it.)
        with open(report) as f:
            operations = json.load(f)["operations"]
        tested = documentedOperations(loadDocument()[1])
        expected = len(tested - {("GET", "/openapi.yml"), ("GET", "/poll/{rest}")})
        self.assertEqual(
            (operations["selected"], operations["tested"]),
            (expected, expected),
            run.output,
        )
        self.assertEqual(
            (operations["skipped"], operations["errored"]), (0, 0), run.output
        )


class SQLiteConformanceTests(ConformanceTestsMixin, unittest.TestCase):
    """
    The conformance run over an SQLite file.
    """

    def storeFlags(self):
        return sqliteFlags(self.mktemp())


class JWTConformanceTests(ConformanceTestsMixin, unittest.TestCase):
    """
    The conformance run over an SQLite file with JWT auth on, every request
    carrying an admin token: hostile input still never gets a 5xx, and
    authentication changes no answer the document declares.
    """

    def storeFlags(self):
        return sqliteFlags(self.mktemp())

    def authFlags(self):
        from tests.support.jwttools import KeyPair

        keys = KeyPair("ec")
        publicKey = keys.writePublic(self.mktemp())
        token = keys.token(expiresIn=3600, role="admin")
        return (
            ("--api-auth-jwt-public-key", publicKey),
            ["--header", f"Authorization: Bearer {token}"],
        )


class PostgresConformanceTests(ConformanceTestsMixin, unittest.TestCase):
    """
    The conformance run over a scratch PostgreSQL database (it refuses what
    SQLite lets through, such as NUL in text).
    """

    if not postgres.DSN:
        skip = "set RESONATE_TEST_POSTGRES_DSN to run the PostgreSQL run"

    def storeFlags(self):
        return postgres.scratchDatabase(self)[2]
