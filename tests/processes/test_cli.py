# -*- test-case-name: tests.processes.test_cli -*-
"""
Tests for the C{resonate} command line (L{resonate.cli}).

The value parsers and the rendering are tested as functions; the commands
are run as real child processes against a real C{twist resonate} (SQLite
in a temporary file), or against a small recording HTTP server in the test
process where the test must see exactly what the client sends.
"""

import argparse
import base64
import io
import json
import os
import re
import socket
import sys
import time
from collections import namedtuple

from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred, gatherResults, succeed
from twisted.trial import unittest
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import Site

from resonate import __version__
from resonate.cli import render
from resonate.cli.arguments import (
    pairsToDict,
    parseBoolean,
    parseDuration,
    parseKeyValue,
    parseServerURL,
)
from resonate.cli.client import APIError, path
from resonate.cli.main import DEFAULT_SERVER, buildParser, main
from resonate.config import KEYS
from tests.support.processtools import (
    START_TIMEOUT,
    ChildProcess,
    ProcessExit,
    ResonateProcess,
    installedExecutable,
    resonateCommand,
    runProcess,
    sqliteFlags,
    startResonate,
    stopResonate,
    twistCommand,
)

#: The command line, run as a child process (from the plain install when
#: $RESONATE_TEST_PLAIN_VENV names one: see L{tests.support.processtools}).
CLI = resonateCommand()

#: The environment of every child: no server or token chosen by the
#: caller's shell.
ENV = {"RESONATE_SERVER": None, "RESONATE_TOKEN": None}


def b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def freePort():
    """
    A TCP port of 127.0.0.1 nothing listens on right now.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nowMs():
    return int(time.time() * 1000)


class DurationTests(unittest.TestCase):
    """
    L{parseDuration} reads Go-style durations into milliseconds.
    """

    def test_valid(self):
        """
        Terms of a number and a unit add up; fractions are allowed.
        """
        cases = {
            "500ms": 500,
            "90s": 90_000,
            "1m": 60_000,
            "1h30m": 5_400_000,
            "1.5h": 5_400_000,
            ".5s": 500,
            "2d": 172_800_000,
            "1d2h3m4s5ms": 93_784_005,
            "1s500ms": 1500,
        }
        self.assertEqual({text: parseDuration(text) for text in cases}, cases)

    def test_invalid(self):
        """
        No unit, an unknown unit, a sign, spaces, nothing, or less than a
        millisecond: each is an C{ArgumentTypeError} naming the text.
        """
        for text in ["", "10", "1x", "h", "-1s", "+1s", "1h 30m", "0s", "0.5ms",
                     "1hh", "ms", "1.2.3s"]:
            with self.assertRaises(argparse.ArgumentTypeError, msg=text) as e:
                parseDuration(text)
            self.assertIn(repr(text), str(e.exception))


class KeyValueTests(unittest.TestCase):
    """
    L{parseKeyValue} reads one C{key=value} pair.
    """

    def test_valid(self):
        """
        The value is everything after the first C{=}, possibly empty.
        """
        self.assertEqual(parseKeyValue("a=b"), ("a", "b"))
        self.assertEqual(parseKeyValue("a="), ("a", ""))
        self.assertEqual(parseKeyValue("a=b=c,d"), ("a", "b=c,d"))
        self.assertEqual(parseKeyValue("resonate:timeout=true"),
                         ("resonate:timeout", "true"))

    def test_invalid(self):
        """
        No C{=} or an empty key is an C{ArgumentTypeError}.
        """
        for text in ["a", "", "=b"]:
            with self.assertRaises(argparse.ArgumentTypeError, msg=text):
                parseKeyValue(text)

    def test_pairsToDict(self):
        """
        Repeated pairs make a C{dict}; the last value of a key wins.
        """
        self.assertEqual(pairsToDict(None), {})
        self.assertEqual(pairsToDict([("a", "1"), ("b", "2"), ("a", "3")]),
                         {"a": "3", "b": "2"})


class BooleanAndServerTests(unittest.TestCase):
    """
    L{parseBoolean} and L{parseServerURL}.
    """

    def test_boolean(self):
        """
        Booleans parse as the server parses its C{strict} header.
        """
        for text in ["true", "True", "TRUE", "t", "1"]:
            self.assertIs(parseBoolean(text), True)
        for text in ["false", "False", "FALSE", "f", "0"]:
            self.assertIs(parseBoolean(text), False)
        for text in ["yes", "no", "", "tRUE"]:
            self.assertRaises(argparse.ArgumentTypeError, parseBoolean, text)

    def test_server(self):
        """
        A server is an http(s) URL with a host; a trailing C{/} is dropped.
        """
        self.assertEqual(parseServerURL("http://127.0.0.1:8001/"),
                         "http://127.0.0.1:8001")
        self.assertEqual(parseServerURL("https://resonate.example/api"),
                         "https://resonate.example/api")
        for text in ["127.0.0.1:8001", "ftp://x", "http://", "http://x:port"]:
            self.assertRaises(argparse.ArgumentTypeError, parseServerURL, text)


class ParserTests(unittest.TestCase):
    """
    The argument parser: global options anywhere, the default server, and
    how C{serve} is recognised.
    """

    def parse(self, argv, environ=None):
        return buildParser(environ or {}).parse_args(argv)

    def test_defaultServer(self):
        """
        The server is C{$RESONATE_SERVER}, else the default.
        """
        self.assertEqual(self.parse(["promises", "get", "x"]).server,
                         DEFAULT_SERVER)
        args = self.parse(["promises", "get", "x"],
                          {"RESONATE_SERVER": "http://h:1"})
        self.assertEqual(args.server, "http://h:1")

    def test_globalOptionsAnywhere(self):
        """
        Global options may come before or after the command; after wins.
        """
        before = self.parse(["--server", "http://a:1", "-U", "u", "promise",
                             "get", "x"])
        self.assertEqual((before.server, before.username, before.password),
                         ("http://a:1", "u", None))
        after = self.parse(["--server", "http://a:1", "promise", "get", "x",
                            "--server", "http://b:2", "-P", "p"])
        self.assertEqual((after.server, after.password), ("http://b:2", "p"))

    def test_strictDefault(self):
        """
        C{--strict} is true unless given.
        """
        self.assertIs(
            self.parse(["promises", "create", "x", "--timeout", "1s"]).strict,
            True,
        )
        self.assertIs(
            self.parse(["promises", "resolve", "x", "-s", "false"]).strict,
            False,
        )

    def test_usageErrors(self):
        """
        Bad values and missing options exit with status 2.
        """
        bad = [
            [],
            ["promises"],
            ["promises", "create", "x"],
            ["promises", "create", "x", "--timeout", "soon"],
            ["promises", "create", "x", "--timeout", "1h", "-T", "novalue"],
            ["promises", "search", "*", "-l", "101"],
            ["promises", "search", "*", "-s", "done"],
            ["locks", "acquire", "r", "--process-id", "p", "--execution-id", "e"],
            ["tasks", "claim", "t", "--counter", "0", "--process-id", "p",
             "--execution-id", "e", "--expiry", "1s"],
            ["tasks", "complete", "t", "--counter", "1", "--execution-id", "e",
             "--state", "canceled"],
            ["nope"],
        ]
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        for argv in bad:
            with self.assertRaises(SystemExit, msg=argv) as e:
                self.parse(argv)
            self.assertEqual(e.exception.code, 2, argv)


class RenderTests(unittest.TestCase):
    """
    What the command line prints for people.
    """

    def test_formatTime(self):
        """
        Epoch milliseconds print as ISO 8601 UTC with milliseconds.
        """
        self.assertEqual(render.formatTime(0), "1970-01-01T00:00:00.000Z")
        self.assertEqual(render.formatTime(1_700_000_000_123),
                         "2023-11-14T22:13:20.123Z")
        self.assertEqual(render.formatTime(None), "")
        self.assertEqual(render.formatTime(2**63 - 1), str(2**63 - 1))

    def test_formatDuration(self):
        """
        Relative milliseconds print the way durations are typed.
        """
        self.assertEqual(render.formatDuration(5_400_000), "1h30m")
        self.assertEqual(render.formatDuration(90_500), "1m30s500ms")
        self.assertEqual(render.formatDuration(86_400_000), "1d")
        self.assertEqual(render.formatDuration(0), "0ms")

    def test_formatData(self):
        """
        Data prints as its text when it is printable UTF-8, else as the
        base64 it came as.
        """
        self.assertEqual(render.formatData(b64("héllo\nworld")), "héllo\nworld")
        binary = base64.b64encode(b"\x00\xff").decode("ascii")
        self.assertEqual(render.formatData(binary), "base64:" + binary)
        self.assertEqual(render.formatData("%%%"), "base64:%%%")
        self.assertEqual(render.formatData(None), "")

    def test_table(self):
        """
        Columns are left-aligned, two spaces apart, without trailing space.
        """
        self.assertEqual(
            render.table(["ID", "STATE"], [["a-long-id", "PENDING"], ["b", ""]]),
            "ID         STATE\n"
            "a-long-id  PENDING\n"
            "b",
        )

    def test_promiseTable(self):
        """
        A search page prints id, state, timeout and tags.
        """
        text = render.promiseTable([
            {"id": "foo", "state": "PENDING", "timeout": 1_700_000_000_000,
             "tags": {"b": "2", "a": "1"}},
            {"id": "a/longer/id", "state": "RESOLVED", "timeout": 0},
        ])
        self.assertEqual(text.splitlines(), [
            "ID           STATE     TIMEOUT                   TAGS",
            "foo          PENDING   2023-11-14T22:13:20.000Z  a=1, b=2",
            "a/longer/id  RESOLVED  1970-01-01T00:00:00.000Z",
        ])

    def test_promiseView(self):
        """
        One promise prints field by field; absent fields are left out.
        """
        text = render.promiseView({
            "id": "foo", "state": "PENDING", "timeout": 1_700_000_000_000,
            "param": {"headers": {"h": "v"}, "data": b64("hi")}, "value": {},
            "createdOn": 1_700_000_000_000,
        })
        self.assertEqual(text.splitlines(), [
            "ID:             foo",
            "State:          PENDING",
            "Timeout:        2023-11-14T22:13:20.000Z",
            "Param headers:  h=v",
            "Param data:     hi",
            "Created on:     2023-11-14T22:13:20.000Z",
        ])

    def test_errorEnvelope(self):
        """
        An error envelope prints as one line with the HTTP status, message
        and code, then its details that say more than the message.
        """
        body = json.dumps({"error": {
            "code": 4000, "message": "The request is invalid",
            "details": [{"message": "id is required"},
                        {"message": "The request is invalid"}],
        }}).encode()
        error = APIError(400, "Bad Request", body)
        self.assertEqual(render.errorLines(error), [
            "error: 400 The request is invalid (4000)",
            "  id is required",
        ])

    def test_errorNotEnvelope(self):
        """
        An error that is not an envelope prints the HTTP status and reason,
        and the start of the body.
        """
        error = APIError(502, "Bad Gateway", b"<html>upstream down</html>\n")
        self.assertEqual(render.errorLines(error), [
            "error: 502 Bad Gateway",
            "  <html>upstream down</html>",
        ])
        self.assertEqual(render.errorLines(APIError(401, "Unauthorized", b"")),
                         ["error: 401 Unauthorized"])

    def test_path(self):
        """
        An id goes into the path percent-encoded whole, C{/} included.
        """
        self.assertEqual(path("promises", "a/b c%?#"),
                         "/promises/a%2Fb%20c%25%3F%23")


class VersionTests(unittest.TestCase):
    """
    C{resonate --version}, in process and as the installed script.
    """

    def test_version(self):
        """
        C{--version} prints the package version and exits 0.
        """
        stdout = io.StringIO()
        self.patch(sys, "stdout", stdout)
        with self.assertRaises(SystemExit) as e:
            main(["--version"])
        self.assertEqual(e.exception.code, 0)
        self.assertEqual(stdout.getvalue(), f"resonate {__version__}\n")

    def test_serveVersion(self):
        """
        C{resonate serve --version} prints the same: the server's version,
        not Twisted's.
        """
        stdout = io.StringIO()
        self.patch(sys, "stdout", stdout)
        with self.assertRaises(SystemExit) as e:
            main(["serve", "--version"])
        self.assertEqual(e.exception.code, 0)
        self.assertEqual(stdout.getvalue(), f"resonate {__version__}\n")

    async def test_consoleScript(self):
        """
        The installed C{resonate} script runs the command line.
        """
        script = installedExecutable("resonate")
        if not os.path.exists(script):
            raise unittest.SkipTest(f"{script} is not installed")
        process = await runProcess(self, [script, "--version"], env=ENV)
        self.assertEqual(process.exit, ProcessExit(0, None), process.output)
        self.assertEqual(process.stdout, f"resonate {__version__}\n")


# Processes


class CLIRunner:
    """
    Runs the command line as a child process against one server.
    """

    def __init__(self, testCase, server):
        self.testCase = testCase
        self.server = server

    async def run(self, *args, expect=0):
        """
        Run C{resonate --server SERVER ARGS} to its end and check its exit
        status and that it printed no traceback.

        @return: the ended L{ChildProcess}.
        """
        process = await runProcess(
            self.testCase, [*CLI, "--server", self.server, *args], env=ENV
        )
        self.testCase.assertEqual(
            process.exit, ProcessExit(expect, None),
            f"resonate {' '.join(args)}:\n{process.output}",
        )
        self.testCase.assertNotIn("Traceback", process.output)
        return process

    async def json(self, *args):
        """
        Run a command with C{-o json}; the decoded output.
        """
        process = await self.run(*args, "-o", "json")
        return json.loads(process.stdout)


class PromiseCommandTests(unittest.TestCase):
    """
    C{resonate promises ...} against a real server.
    """

    timeout = 120

    async def setUp(self):
        database = os.path.abspath(self.mktemp()) + ".db"
        self.server = await startResonate(self, *sqliteFlags(database))
        self.cli = CLIRunner(self, self.server.url)

    async def test_createAndGet(self):
        """
        C{create} sends the id, now + timeout, the data base64-encoded, the
        headers, the tags and the idempotency key; C{get} shows them, as a
        view or as the server's JSON.
        """
        before = nowMs()
        process = await self.cli.run(
            "promises", "create", "orders/1", "--timeout", "1h30m",
            "-D", "hello wörld", "-H", "content-type=text/plain",
            "-T", "env=dev", "-T", "team=a=b", "-i", "create-1",
        )
        after = nowMs()
        self.assertEqual(process.stdout, "Created promise: orders/1\n")
        self.assertEqual(process.stderr, "")

        promise = await self.cli.json("promise", "get", "orders/1")
        timeout = promise.pop("timeout")
        self.assertTrue(before + 5_400_000 <= timeout <= after + 5_400_000,
                        (before, timeout, after))
        promise.pop("createdOn")
        self.assertEqual(promise, {
            "id": "orders/1",
            "state": "PENDING",
            "param": {"headers": {"content-type": "text/plain"},
                      "data": b64("hello wörld")},
            "value": {},
            "idempotencyKeyForCreate": "create-1",
            "tags": {"env": "dev", "team": "a=b"},
        })

        process = await self.cli.run("promises", "get", "orders/1")
        lines = process.stdout.splitlines()
        self.assertIn("ID:                        orders/1", lines)
        self.assertIn("State:                     PENDING", lines)
        self.assertIn("Param data:                hello wörld", lines)
        self.assertIn("Tags:                      env=dev, team=a=b", lines)
        self.assertIn(f"Timeout:                   {render.formatTime(timeout)}",
                      lines)

    async def test_createDeduplicatedAndErrors(self):
        """
        Creating again with the same idempotency key is deduplicated (200);
        without it the server answers 409, and reading an unknown promise
        404: the command exits 1 with one error line.
        """
        await self.cli.run("promises", "create", "p", "--timeout", "1h",
                           "-i", "k")
        process = await self.cli.run("promises", "create", "p", "--timeout",
                                     "1h", "-i", "k")
        self.assertEqual(process.stdout, "Created promise: p (deduplicated)\n")
        process = await self.cli.run("promises", "create", "p", "--timeout",
                                     "1h", expect=1)
        self.assertEqual(process.stdout, "")
        self.assertEqual(process.stderr,
                         "error: 409 The promise already exists (4090)\n")

        process = await self.cli.run("promises", "get", "nope", expect=1)
        self.assertEqual(process.stderr,
                         "error: 404 The specified promise was not found (4040)\n")

    async def test_complete(self):
        """
        C{resolve}, C{reject} and C{cancel} complete promises with their
        value; repeating a resolve with its key is deduplicated; completing
        a completed promise is 403 unless C{--strict false} and the key
        match.
        """
        for name in ["a", "b", "c"]:
            await self.cli.run("promises", "create", name, "--timeout", "1h")

        process = await self.cli.run("promises", "resolve", "a", "-D", "done",
                                     "-H", "k=v", "-i", "ca")
        self.assertEqual(process.stdout, "Resolved promise: a\n")
        process = await self.cli.run("promises", "resolve", "a", "-D", "done",
                                     "-i", "ca")
        self.assertEqual(process.stdout, "Resolved promise: a (deduplicated)\n")
        process = await self.cli.run("promises", "reject", "a", expect=1)
        self.assertEqual(process.stderr,
                         "error: 403 The promise has already been resolved (4030)\n")

        process = await self.cli.run("promises", "reject", "b", "-D", "boom")
        self.assertEqual(process.stdout, "Rejected promise: b\n")
        process = await self.cli.run("promises", "cancel", "c")
        self.assertEqual(process.stdout, "Canceled promise: c\n")

        states = {}
        for name in ["a", "b", "c"]:
            promise = await self.cli.json("promises", "get", name)
            states[name] = (promise["state"], promise["value"])
        self.assertEqual(states, {
            "a": ("RESOLVED", {"headers": {"k": "v"}, "data": b64("done")}),
            "b": ("REJECTED", {"data": b64("boom")}),
            "c": ("REJECTED_CANCELED", {}),
        })

        process = await self.cli.run("promises", "resolve", "missing",
                                     expect=1)
        self.assertIn("(4040)", process.stderr)

        # With --strict false, the same key but another state is
        # deduplicated (the v0.5 asymmetry); strictly it is refused.
        await self.cli.run("promises", "create", "s", "--timeout", "1h")
        await self.cli.run("promises", "resolve", "s", "-i", "k")
        process = await self.cli.run("promises", "reject", "s", "-i", "k",
                                     expect=1)
        self.assertIn("(4030)", process.stderr)
        process = await self.cli.run("promises", "reject", "s", "-i", "k",
                                     "-s", "false")
        self.assertEqual(process.stdout, "Rejected promise: s (deduplicated)\n")

    async def test_search(self):
        """
        C{search} filters by pattern, state and tags, pages with limit and
        cursor, and prints a table or the server's JSON.
        """
        await self.cli.run("promises", "create", "job/1", "--timeout", "1h",
                           "-T", "kind=x")
        await self.cli.run("promises", "create", "job/2", "--timeout", "1h",
                           "-T", "kind=y")
        await self.cli.run("promises", "create", "other", "--timeout", "1h")
        await self.cli.run("promises", "resolve", "job/2")

        process = await self.cli.run("promises", "search", "job/*")
        lines = process.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "STATE", "TIMEOUT", "TAGS"])
        self.assertEqual([line.split()[:2] for line in lines[1:]],
                         [["job/2", "RESOLVED"], ["job/1", "PENDING"]])

        page = await self.cli.json("promises", "search", "*", "-s", "pending")
        self.assertEqual(sorted(p["id"] for p in page["promises"]),
                         ["job/1", "other"])
        page = await self.cli.json("promises", "search", "*", "-T", "kind=y")
        self.assertEqual([p["id"] for p in page["promises"]], ["job/2"])

        page = await self.cli.json("promises", "search", "*", "-l", "2")
        self.assertEqual([p["id"] for p in page["promises"]], ["other", "job/2"])
        self.assertIsNotNone(page["cursor"])
        process = await self.cli.run("promises", "search", "*", "-l", "2")
        self.assertIn(f"More: --cursor {page['cursor']}", process.stdout)
        page = await self.cli.json("promises", "search", "*", "-c",
                                   page["cursor"])
        self.assertEqual([p["id"] for p in page["promises"]], ["job/1"])
        self.assertIsNone(page["cursor"])

        process = await self.cli.run("promises", "search", "*", "-c", "junk",
                                     expect=1)
        self.assertEqual(process.stderr.splitlines(), [
            "error: 400 The request is invalid (4000)",
            "  cursor is invalid",
        ])


class ScheduleAndLockCommandTests(unittest.TestCase):
    """
    C{resonate schedules ...} and C{resonate locks ...} against a real
    server.
    """

    timeout = 120

    async def setUp(self):
        database = os.path.abspath(self.mktemp()) + ".db"
        self.server = await startResonate(self, *sqliteFlags(database))
        self.cli = CLIRunner(self, self.server.url)

    async def test_schedules(self):
        """
        C{create} (with dedup and 409), C{get}, C{search} and C{delete} (and
        404 after it); an invalid cron is the server's 400 with its detail.
        """
        create = ["schedules", "create", "nightly", "--cron", "0 3 * * *",
                  "--promise-id", "nightly.{{.timestamp}}",
                  "--promise-timeout", "1h30m"]
        process = await self.cli.run(
            *create, "-d", "every night", "-T", "team=a",
            "--promise-data", "payload", "--promise-header", "h=v",
            "--promise-tag", "t=1", "-i", "sk",
        )
        self.assertEqual(process.stdout, "Created schedule: nightly\n")
        process = await self.cli.run(*create, "-i", "sk")
        self.assertEqual(process.stdout,
                         "Created schedule: nightly (deduplicated)\n")
        process = await self.cli.run(*create, expect=1)
        self.assertEqual(process.stderr,
                         "error: 409 The schedule already exists (4091)\n")

        schedule = await self.cli.json("schedule", "get", "nightly")
        for key in ["nextRunTime", "createdOn"]:
            self.assertIsInstance(schedule.pop(key), int)
        self.assertEqual(schedule, {
            "id": "nightly",
            "desc": "every night",
            "cron": "0 3 * * *",
            "tags": {"team": "a"},
            "promiseId": "nightly.{{.timestamp}}",
            "promiseTimeout": 5_400_000,
            "promiseParam": {"headers": {"h": "v"}, "data": b64("payload")},
            "promiseTags": {"t": "1"},
            "idempotencyKey": "sk",
        })
        process = await self.cli.run("schedules", "get", "nightly")
        self.assertIn("Promise timeout:        1h30m", process.stdout)
        self.assertIn("Cron:                   0 3 * * *", process.stdout)

        process = await self.cli.run("schedules", "search", "night*",
                                     "-T", "team=a")
        lines = process.stdout.splitlines()
        self.assertEqual(lines[0].split(),
                         ["ID", "CRON", "NEXT", "RUN", "LAST", "RUN", "TAGS"])
        self.assertTrue(lines[1].startswith("nightly  0 3 * * *  "), lines)
        page = await self.cli.json("schedules", "search", "*", "-T", "team=b")
        self.assertEqual(page, {"cursor": None, "schedules": []})

        process = await self.cli.run(
            "schedules", "create", "bad", "--cron", "every day",
            "--promise-id", "x", "--promise-timeout", "1m", expect=1,
        )
        lines = process.stderr.splitlines()
        self.assertEqual(lines[0], "error: 400 The request is invalid (4000)")
        self.assertTrue(lines[1].startswith("  cron is invalid"), lines)

        process = await self.cli.run("schedules", "delete", "nightly")
        self.assertEqual(process.stdout, "Deleted schedule: nightly\n")
        process = await self.cli.run("schedules", "delete", "nightly", expect=1)
        self.assertEqual(
            process.stderr,
            "error: 404 The specified schedule was not found (4042)\n",
        )

    async def test_locks(self):
        """
        C{acquire} takes a lock (again for its execution, 403 for another),
        C{heartbeat} counts a process's locks, C{release} frees a lock its
        execution holds (404 otherwise).
        """
        acquire = ["locks", "acquire", "res/1", "--expiry", "30s"]
        before = nowMs()
        process = await self.cli.run(*acquire, "--process-id", "p1",
                                     "--execution-id", "e1")
        self.assertTrue(process.stdout.startswith("Acquired lock: res/1 "
                                                  "(expires at "),
                        process.stdout)
        lock = await self.cli.json(*acquire, "--process-id", "p1",
                                   "--execution-id", "e1")
        self.assertGreaterEqual(lock.pop("expiresAt"), before + 30_000)
        self.assertEqual(lock, {"resourceId": "res/1", "processId": "p1",
                                "executionId": "e1",
                                "expiryInMilliseconds": 30_000})
        process = await self.cli.run(*acquire, "--process-id", "p2",
                                     "--execution-id", "e2", expect=1)
        self.assertEqual(process.stderr,
                         "error: 403 The lock is already acquired (4034)\n")

        process = await self.cli.run("locks", "heartbeat", "--process-id", "p1")
        self.assertEqual(process.stdout, "Locks affected: 1\n")
        self.assertEqual(
            await self.cli.json("locks", "heartbeat", "--process-id", "p2"),
            {"locksAffected": 0},
        )

        process = await self.cli.run("locks", "release", "res/1",
                                     "--execution-id", "e2", expect=1)
        self.assertEqual(process.stderr,
                         "error: 404 The specified lock was not found (4043)\n")
        process = await self.cli.run("locks", "release", "res/1",
                                     "--execution-id", "e1")
        self.assertEqual(process.stdout, "Released lock: res/1\n")
        process = await self.cli.run(*acquire, "--process-id", "p2",
                                     "--execution-id", "e2")
        self.assertIn("Acquired lock: res/1", process.stdout)


# A recording HTTP server in the test process


Recorded = namedtuple("Recorded", ["method", "uri", "headers", "body"])


class _RecordingResource(Resource):
    """
    Records every request and answers each with C{answer}:
    C{(code, body bytes)}.
    """

    isLeaf = True

    def __init__(self, answer):
        super().__init__()
        self.answer = answer
        self.requests = []
        self._waiting = []

    def nextRequest(self):
        """
        A C{Deferred} firing with the next request recorded from now on.
        """
        d = Deferred()
        self._waiting.append(d)
        return d

    def render(self, request):
        recorded = Recorded(
            request.method.decode("ascii"),
            request.uri.decode("ascii"),
            {k.decode().lower(): v[-1].decode()
             for k, v in request.requestHeaders.getAllRawHeaders()},
            request.content.read(),
        )
        self.requests.append(recorded)
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(recorded)
        code, body = self.answer
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"application/json")
        return body


class _TrackedChannel(HTTPChannel):
    def connectionMade(self):
        super().connectionMade()
        self.site.channels.add(self)

    def connectionLost(self, reason):
        super().connectionLost(reason)
        self.site.channels.discard(self)
        if not self.site.channels:
            waiting, self.site.closed = self.site.closed, []
            for d in waiting:
                d.callback(None)


class _TrackedSite(Site):
    protocol = _TrackedChannel
    noisy = False

    def __init__(self, resource):
        super().__init__(resource, timeout=None)
        self.channels = set()
        self.closed = []

    def log(self, request):
        pass

    def closeAll(self):
        for channel in list(self.channels):
            channel.transport.abortConnection()
        if not self.channels:
            return succeed(None)
        d = Deferred()
        self.closed.append(d)
        return d


def listenRecorder(testCase, answer=(200, b"{}")):
    """
    Listen on an ephemeral port of 127.0.0.1 with a L{_RecordingResource};
    the test stops it and closes its connections.

    @return: C{(resource, url)}.
    """
    resource = _RecordingResource(answer)
    site = _TrackedSite(resource)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")

    async def stop():
        await port.stopListening()
        await site.closeAll()

    testCase.addCleanup(stop)
    return resource, f"http://127.0.0.1:{port.getHost().port}"


class RequestTests(unittest.TestCase):
    """
    What the client sends and how it reports answers that are not the
    server's, seen by a recording server.
    """

    timeout = 60

    async def test_createRequest(self):
        """
        C{create} posts JSON to C{/promises} with the C{idempotency-key}
        and C{strict} headers, and basic auth when C{-U}/C{-P} are given.
        """
        recorder, url = listenRecorder(self, (201, b'{"id": "x"}'))
        cli = CLIRunner(self, url)
        before = nowMs()
        await cli.run("-U", "alice", "-P", "s3cret", "promises", "create", "x",
                      "--timeout", "2m", "-D", "d", "-i", "ik", "-s", "false")
        after = nowMs()
        [request] = recorder.requests
        self.assertEqual((request.method, request.uri), ("POST", "/promises"))
        self.assertEqual(request.headers["authorization"],
                         "Basic " + b64("alice:s3cret"))
        self.assertEqual(request.headers["idempotency-key"], "ik")
        self.assertEqual(request.headers["strict"], "false")
        self.assertEqual(request.headers["content-type"], "application/json")
        body = json.loads(request.body)
        timeout = body.pop("timeout")
        self.assertTrue(before + 120_000 <= timeout <= after + 120_000)
        self.assertEqual(body, {"id": "x", "param": {"data": b64("d")}})

    async def test_requestPaths(self):
        """
        Ids are percent-encoded into the path; search arguments are
        C{id}, C{state}, C{tags[k]}, C{limit} and C{cursor}; no basic
        auth is sent unless asked for.
        """
        recorder, url = listenRecorder(
            self, (200, b'{"cursor": null, "promises": [], "schedules": []}')
        )
        cli = CLIRunner(self, url)
        await cli.run("promises", "search", "a/*", "-s", "Rejected",
                      "-T", "k=v w", "-l", "5", "-c", "CUR")
        await cli.run("schedules", "search", "*")
        recorder.answer = (204, b"")
        await cli.run("schedules", "delete", "a b/c?")
        uris = [r.uri for r in recorder.requests]
        self.assertEqual(uris, [
            "/promises?id=a%2F%2A&state=rejected&tags%5Bk%5D=v+w&limit=5"
            "&cursor=CUR",
            "/schedules?id=%2A&limit=100",
            "/schedules/a%20b%2Fc%3F",
        ])
        self.assertNotIn("authorization", recorder.requests[0].headers)

    async def test_notAnEnvelope(self):
        """
        An error answer that is not an envelope (a proxy's, an auth
        layer's) prints the HTTP status and the start of the body: exit 1.
        """
        recorder, url = listenRecorder(self, (502, b"Bad Gateway\n"))
        process = await CLIRunner(self, url).run("promises", "get", "x",
                                                 expect=1)
        self.assertEqual(process.stderr,
                         "error: 502 Bad Gateway\n  Bad Gateway\n")

    async def test_unreachable(self):
        """
        A server nothing listens on: one line naming it, exit 1.
        """
        url = f"http://127.0.0.1:{freePort()}"
        process = await CLIRunner(self, url).run("promises", "get", "x",
                                                 expect=1)
        self.assertEqual(process.stderr,
                         f"error: cannot reach {url}: Connection refused\n")
        self.assertEqual(process.stdout, "")

    async def test_usageError(self):
        """
        A usage error exits 2 with argparse's message, and sends nothing.
        """
        recorder, url = listenRecorder(self)
        cli = CLIRunner(self, url)
        process = await cli.run("promises", "create", "x", "--timeout", "1y",
                                expect=2)
        self.assertIn("argument --timeout: invalid duration '1y'",
                      process.stderr)
        process = await cli.run("locks", "acquire", "r", expect=2)
        self.assertIn("required", process.stderr)
        self.assertEqual(recorder.requests, [])


class TaskCommandTests(unittest.TestCase):
    """
    C{resonate tasks claim} and C{complete} against a real server that
    routes promises to a recording server standing in for a worker.
    """

    timeout = 120

    async def test_claimAndComplete(self):
        """
        A routed promise's task, pushed to the worker, is claimed with the
        pushed counter (printing its promise), then completed, which
        resolves the promise; wrong counters, a second completion and an
        unknown task are the server's 403 and 404.
        """
        worker, workerURL = listenRecorder(self)
        connections = [{"kind": "http", "name": "w",
                        "metadata": {"properties": {"url": workerURL}}}]
        routes = [{"kind": "pattern", "name": "work",
                   "target": {"connection": "w", "queue": "q"},
                   "metadata": {"properties": {"pattern": "/work/*"}}}]
        database = os.path.abspath(self.mktemp()) + ".db"
        server = await startResonate(
            self,
            "--aio-queuing-connections", json.dumps(connections),
            "--aio-queuing-routes", json.dumps(routes),
            *sqliteFlags(database),
        )
        cli = CLIRunner(self, server.url)

        pushed = worker.nextRequest()
        await cli.run("promises", "create", "work/1", "--timeout", "1h",
                      "-D", "input")
        push = json.loads((await pushed).body)
        self.assertEqual((push["queue"], push["taskId"]), ("q", "work/1"))
        counter = str(push["counter"])

        claim = ["tasks", "claim", "work/1", "--process-id", "p",
                 "--execution-id", "e", "--expiry", "30s"]
        process = await cli.run(*claim, "--counter", str(push["counter"] + 1),
                                expect=1)
        self.assertEqual(process.stderr,
                         "error: 403 The task counter is invalid (4037)\n")
        process = await cli.run(*claim, "--counter", counter)
        lines = process.stdout.splitlines()
        self.assertIn("ID:          work/1", lines)
        self.assertIn("State:       PENDING", lines)
        self.assertIn("Param data:  input", lines)

        complete = ["tasks", "complete", "work/1", "--counter", counter,
                    "--execution-id", "e", "--state", "resolved"]
        process = await cli.run(*complete, "-D", "output")
        self.assertEqual(process.stdout, "Completed task: work/1 (resolved)\n")
        promise = await cli.json("promises", "get", "work/1")
        self.assertEqual((promise["state"], promise["value"]),
                         ("RESOLVED", {"data": b64("output")}))
        process = await cli.run(*complete, expect=1)
        self.assertEqual(
            process.stderr,
            "error: 403 The task has already been completed (4036)\n",
        )

        process = await cli.run("tasks", "claim", "nope", "--counter", "1",
                                "--process-id", "p", "--execution-id", "e",
                                "--expiry", "1s", expect=1)
        self.assertEqual(process.stderr,
                         "error: 404 The specified task was not found (4044)\n")
        exit = await stopResonate(server)
        self.assertTrue(exit.stoppedByTERM, server.output)


class ServeProcess(ResonateProcess):
    """
    C{resonate serve FLAGS} as a child process.
    """

    def __init__(self, flags):
        ChildProcess.__init__(self, [*CLI, "serve", *flags], env=ENV)
        self.url = self.host = self.port = None


class ServeTests(unittest.TestCase):
    """
    C{resonate serve} runs the same server as C{twist resonate}.
    """

    timeout = 120

    async def test_help(self):
        """
        C{resonate serve --help} exits 0 and lists exactly the flags of
        C{twist resonate --help}, every configuration key among them.
        """
        serve, twist = await gatherResults([
            ensureDeferred(runProcess(self, [*CLI, "serve", "--help"], env=ENV)),
            ensureDeferred(runProcess(
                self, [*twistCommand(), "resonate", "--help"],
                env=ENV,
            )),
        ])
        self.assertEqual(serve.exit, ProcessExit(0, None), serve.output)
        self.assertEqual(twist.exit, ProcessExit(0, None), twist.output)
        # Only the usage line differs: it names the command that was run.
        self.assertEqual(serve.stdout.splitlines()[0],
                         "Usage: resonate serve [options]")
        self.assertEqual(serve.stdout.splitlines()[1:],
                         twist.stdout.splitlines()[1:])
        # A switch (--debug) takes no value; every other flag does.
        listed = set(re.findall(r"--([\w-]+)(=?)", serve.stdout))
        missing = [
            key.flag
            for key in KEYS
            if (key.flag, "" if key.switch else "=") not in listed
        ]
        self.assertEqual(missing, [])

    async def test_badFlag(self):
        """
        An unknown flag is refused with one line naming it and one saying
        where help is, on stderr, and exit status 2.
        """
        process = await runProcess(self, [*CLI, "serve", "--no-such-flag"],
                                   env=ENV)
        self.assertEqual(process.exit, ProcessExit(2, None), process.output)
        self.assertEqual(process.stdout, "")
        self.assertEqual(
            process.stderr,
            "error: option --no-such-flag not recognized\n"
            "Run 'resonate serve --help' for the options.\n",
        )

    def test_configError(self):
        """
        A configuration error prints the error and where help is, not every
        flag, and exits 2.
        """
        stderr = io.StringIO()
        with self.assertRaises(SystemExit) as e:
            main(["serve", "--api-size", "abc"], stderr=stderr)
        self.assertEqual(e.exception.code, 2)
        lines = stderr.getvalue().splitlines()
        self.assertEqual(len(lines), 2, lines)
        self.assertTrue(lines[0].startswith("error: "), lines)
        self.assertIn("api.size", lines[0])
        self.assertIn("--api-size", lines[0])
        self.assertEqual(lines[1], "Run 'resonate serve --help' for the options.")

    def test_configFileError(self):
        """
        So does a configuration file that cannot be read.
        """
        stderr = io.StringIO()
        missing = os.path.abspath(self.mktemp())
        with self.assertRaises(SystemExit) as e:
            main(["serve", "--config", missing], stderr=stderr)
        self.assertEqual(e.exception.code, 2)
        lines = stderr.getvalue().splitlines()
        self.assertEqual(len(lines), 2, lines)
        self.assertIn(missing, lines[0])
        self.assertEqual(lines[1], "Run 'resonate serve --help' for the options.")

    async def test_serves(self):
        """
        C{resonate serve} with config flags listens, answers the client,
        keeps what it acknowledged in the given SQLite file, and stops
        cleanly on SIGTERM.
        """
        database = os.path.abspath(self.mktemp()) + ".db"
        process = ServeProcess(
            ["--api-http-addr", "127.0.0.1:0", "--api-grpc-addr", "127.0.0.1:0",
             *sqliteFlags(database)]
        )
        process.spawn()
        self.addCleanup(process.kill)
        await process.listening(START_TIMEOUT)

        cli = CLIRunner(self, process.url)
        await cli.run("promises", "create", "served", "--timeout", "1h")
        process2 = await cli.run("promises", "get", "served")
        self.assertIn("State:       PENDING", process2.stdout)

        exit = await stopResonate(process)
        self.assertTrue(exit.stoppedByTERM, process.output)
        self.assertTrue(os.path.getsize(database) > 0)

    async def test_servesWithWorkers(self):
        """
        C{resonate serve --api-workers 2} starts its workers (each as the
        C{twist resonate} command line, not as C{resonate serve}), which
        answer the client, and stops them all on SIGTERM.
        """
        database = os.path.abspath(self.mktemp()) + ".db"
        process = ServeProcess(
            ["--api-workers", "2", "--api-http-addr", "127.0.0.1:0",
             "--api-grpc-addr", "127.0.0.1:0", "--metrics-port", "0",
             *sqliteFlags(database)]
        )
        process.spawn()
        self.addCleanup(process.kill)
        await process.waitForOutput(re.compile(r"ready \(2 workers ready\)"), START_TIMEOUT)
        await process.listening(START_TIMEOUT)
        cli = CLIRunner(self, process.url)
        await cli.run("promises", "create", "served-by-workers", "--timeout", "1h")
        got = await cli.run("promises", "get", "served-by-workers")
        self.assertIn("State:       PENDING", got.stdout)
        exit = await stopResonate(process)
        self.assertTrue(exit.stoppedByTERM, process.output)
        self.assertEqual(process.output.count("stopped: store closed"), 2, process.output)
