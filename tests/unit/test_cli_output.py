"""
Tests for what the newer C{resonate} commands print, and for how the
server commands take C{-o}: L{resonate.cli.render}, L{resonate.cli.serve}
and L{resonate.cli.main}.
"""

import json

from twisted.trial.unittest import SynchronousTestCase

from resonate.cli import render
from resonate.cli.arguments import UsageError
from resonate.cli.client import APIError
from resonate.cli.main import _outputOf, _serverCommand
from resonate.cli.serve import devLine


class ServerOutputTests(SynchronousTestCase):
    """
    C{serve} and C{dev} take C{-o} out of the flags they pass to C{twist
    resonate}.
    """

    def test_serverCommand(self):
        """
        Everything after C{serve} or C{dev} is theirs, also after global
        options; other commands are neither.
        """
        self.assertEqual(_serverCommand(["serve", "--config", "c.yml"]),
                         ("serve", ["--config", "c.yml"]))
        self.assertEqual(_serverCommand(["--server", "http://a:1", "dev", "-c", "x"]),
                         ("dev", ["-c", "x"]))
        self.assertIsNone(_serverCommand(["promises", "get", "dev"]))
        self.assertIsNone(_serverCommand(["--server", "serve", "promises"]))
        self.assertIsNone(_serverCommand([]))

    def test_output(self):
        """
        Every spelling of C{-o FORMAT} is taken out; the last one wins; the
        rest keep their order.
        """
        cases = [
            ([], ("table", [])),
            (["-o", "json", "--debug"], ("json", ["--debug"])),
            (["--a", "1", "--output", "json"], ("json", ["--a", "1"])),
            (["--output=json", "-c", "x"], ("json", ["-c", "x"])),
            (["-ojson", "-otable"], ("table", [])),
            (["--api-http-addr=127.0.0.1:0"], ("table", ["--api-http-addr=127.0.0.1:0"])),
        ]
        for args, expected in cases:
            self.assertEqual(_outputOf(args), expected, args)

    def test_badOutput(self):
        """
        A format that is neither C{table} nor C{json}, or none, is a usage
        error naming the choices.
        """
        for args in [["-o", "yaml"], ["-o"], ["--output="]]:
            with self.assertRaises(UsageError, msg=args) as e:
                _outputOf(args)
            self.assertIn("'table', 'json'", str(e.exception))

    def test_devLine(self):
        """
        C{resonate dev} says where it listens and where its database is, in
        one line of text or one JSON object.
        """
        addresses = {"http": "127.0.0.1:8001", "grpc": "0.0.0.0:50051",
                     "metrics": "0.0.0.0:9090"}
        text = devLine(addresses, "/tmp/d/resonate.db", "table")
        self.assertNotIn("\n", text)
        for part in ["http://127.0.0.1:8001", "gRPC 0.0.0.0:50051",
                     "http://0.0.0.0:9090/metrics", "/tmp/d/resonate.db"]:
            self.assertIn(part, text)
        self.assertEqual(
            json.loads(devLine(addresses, "/tmp/d/resonate.db", "json")),
            {**addresses, "database": "/tmp/d/resonate.db", "debug": True},
        )


class RenderTests(SynchronousTestCase):
    """
    The views of 2026 tasks and of a garbage collection.
    """

    def test_taskView(self):
        """
        An acquired task shows its lease and owner; others do not have
        them.
        """
        self.assertEqual(
            render.taskView({"id": "wf", "state": "acquired", "version": 2,
                             "resumes": 0, "ttl": 60000, "pid": "p1"}),
            "ID:       wf\nState:    acquired\nVersion:  2\nResumes:  0\n"
            "TTL:      1m\nPID:      p1",
        )
        self.assertNotIn("PID", render.taskView(
            {"id": "wf", "state": "pending", "version": 0, "resumes": 0}
        ))

    def test_taskTable(self):
        self.assertEqual(
            render.taskTable([
                {"id": "a", "state": "pending", "version": 0, "resumes": 0},
                {"id": "b", "state": "acquired", "version": 1, "resumes": 2,
                 "ttl": 1, "pid": "p"},
            ]),
            "ID  STATE     VERSION  RESUMES  PID\n"
            "a   pending   0        0\n"
            "b   acquired  1        2        p",
        )

    def test_collectionView(self):
        """
        A collection says what it deleted, or would delete on a dry run,
        and the settlement time it cut at.
        """
        result = {"settledBefore": 0, "promises": 3, "tasks": 2,
                  "callbacks": 1, "listeners": 0}
        self.assertEqual(
            render.collectionView({**result, "dryRun": False}),
            "Deleted 3 promises, 2 tasks, 1 callbacks, 0 listeners settled "
            "before 1970-01-01T00:00:00.000Z",
        )
        self.assertTrue(render.collectionView({**result, "dryRun": True})
                        .startswith("Would delete 3 promises"))

    def test_error2026(self):
        """
        A 2026 error envelope's message is its C{data} string.
        """
        body = json.dumps({"kind": "task.get", "head": {"corrId": "1", "status": 404},
                           "data": "Task not found"}).encode()
        self.assertEqual(str(APIError(404, "Not Found", body)),
                         "404 Task not found")
