# -*- test-case-name: tests.processes.test_cli_auth -*-
"""
The C{resonate} command line with JWT auth: C{--token} and
C{$RESONATE_TOKEN}, seen by a recording server and against a real
C{twist resonate} with C{--api-auth-jwt-public-key} (from the plain
install when C{$RESONATE_TEST_PLAIN_VENV} names one).
"""

import json

from twisted.trial import unittest

from tests.processes.test_cli import CLI, ENV, b64, listenRecorder
from tests.support.jwttools import KeyPair
from tests.support.processtools import ProcessExit, runProcess, startResonate, stopResonate

#: The one line a request without a token gets from a server with JWT on.
NO_TOKEN_LINE = (
    "error: 401 The request is unauthorized (4010): no token; "
    "give a token with --token or $RESONATE_TOKEN\n"
)


async def resonate(testCase, server, *args, env=None, expect=0):
    """
    Run C{resonate --server SERVER ARGS} with C{env} added to L{ENV}, to its
    end; check its exit status and that it printed no traceback.

    @return: the ended process.
    """
    process = await runProcess(
        testCase, [*CLI, "--server", server, *args], env={**ENV, **(env or {})}
    )
    testCase.assertEqual(
        process.exit, ProcessExit(expect, None),
        f"resonate {' '.join(args)}:\n{process.output}",
    )
    testCase.assertNotIn("Traceback", process.output)
    return process


class TokenRequestTests(unittest.TestCase):
    """
    What the client sends with a token, seen by a recording server.
    """

    timeout = 60

    async def test_tokenFlag(self):
        """
        C{--token} is sent as C{Authorization: Bearer} on v0.5 requests,
        before or after the command.
        """
        recorder, url = listenRecorder(self, (200, b'{"id": "x"}'))
        await resonate(self, url, "--token", "T1", "promises", "get", "x")
        await resonate(self, url, "promises", "get", "x", "--token", "T2")
        self.assertEqual(
            [r.headers["authorization"] for r in recorder.requests],
            ["Bearer T1", "Bearer T2"],
        )

    async def test_environment(self):
        """
        C{$RESONATE_TOKEN} is sent when C{--token} is not given; the flag
        wins over it.
        """
        recorder, url = listenRecorder(self, (200, b'{"id": "x"}'))
        env = {"RESONATE_TOKEN": "FROM-ENV"}
        await resonate(self, url, "promises", "get", "x", env=env)
        await resonate(self, url, "--token", "FLAG", "promises", "get", "x", env=env)
        self.assertEqual(
            [r.headers["authorization"] for r in recorder.requests],
            ["Bearer FROM-ENV", "Bearer FLAG"],
        )

    async def test_envelopeAuth(self):
        """
        A 2026 command puts the token in its envelope's C{head.auth} (which
        is where the protocol reads it).
        """
        recorder, url = listenRecorder(self, (200, b"{}"))
        await resonate(self, url, "--token", "T", "tasks", "get", "t1", expect=1)
        [request] = recorder.requests
        self.assertEqual((request.method, request.uri), ("POST", "/"))
        self.assertEqual(json.loads(request.body)["head"]["auth"], "T")

    async def test_noTokenNoAuth(self):
        """
        Without a token, an envelope has no C{head.auth}, and no
        C{Authorization} is sent.
        """
        recorder, url = listenRecorder(self, (200, b"{}"))
        await resonate(self, url, "tasks", "get", "t1", expect=1)
        [request] = recorder.requests
        self.assertNotIn("auth", json.loads(request.body)["head"])
        self.assertNotIn("authorization", request.headers)

    async def test_notWithBasic(self):
        """
        C{--token} with C{-U}/C{-P} is a usage error (exit 2), sent nowhere;
        C{$RESONATE_TOKEN} gives way to C{-U}/C{-P} given on the command
        line.
        """
        recorder, url = listenRecorder(self, (200, b'{"id": "x"}'))
        process = await resonate(
            self, url, "--token", "T", "-U", "u", "-P", "p", "promises", "get", "x",
            expect=2,
        )
        self.assertEqual(process.stderr, "error: --token cannot be given with -U/-P\n")
        self.assertEqual(recorder.requests, [])
        await resonate(self, url, "-U", "u", "-P", "p", "promises", "get", "x",
                       env={"RESONATE_TOKEN": "T"})
        [request] = recorder.requests
        self.assertEqual(request.headers["authorization"], "Basic " + b64("u:p"))

    async def test_basicChallengeHint(self):
        """
        A 401 that challenges for basic auth, to a request sent without
        credentials, names C{-U}/C{-P}.
        """
        recorder, url = listenRecorder(self, (401, b""))
        recorder.render = _withChallenge(recorder.render, b'Basic realm="resonate"')
        process = await resonate(self, url, "promises", "get", "x", expect=1)
        self.assertEqual(
            process.stderr,
            "error: 401 Unauthorized; give the server's username and password "
            "with -U/-P\n",
        )


def _withChallenge(render, challenge):
    def withChallenge(request):
        request.setHeader(b"www-authenticate", challenge)
        return render(request)

    return withChallenge


class TokenServerTests(unittest.TestCase):
    """
    The command line against C{twist resonate} with JWT auth on.
    """

    timeout = 120

    async def test_tokens(self):
        """
        With C{--token} or C{$RESONATE_TOKEN} the client works (v0.5 and
        2026 commands); without one, or with a token the server refuses,
        it prints one line and exits 1; a token's prefix limits its ids.
        """
        keys = KeyPair("ed25519")
        publicKey = keys.writePublic(self.mktemp())
        server = await startResonate(
            self, "--api-auth-jwt-public-key", publicKey, "--aio-store", "memory",
        )
        url = server.url
        admin = keys.token(role="admin")
        teamA = keys.token(prefix="team-a/")

        await resonate(self, url, "--token", admin, "promises", "create", "team-b/1",
                       "--timeout", "1m")
        process = await resonate(self, url, "promises", "get", "team-b/1", "-o", "json",
                                 env={"RESONATE_TOKEN": admin})
        self.assertEqual(json.loads(process.stdout)["id"], "team-b/1")
        await resonate(self, url, "tasks", "search", env={"RESONATE_TOKEN": admin})

        process = await resonate(self, url, "promises", "get", "team-b/1", expect=1)
        self.assertEqual(process.stderr, NO_TOKEN_LINE)
        self.assertEqual(process.stdout, "")
        process = await resonate(self, url, "tasks", "search", expect=1)
        self.assertEqual(process.stderr.count("\n"), 1, process.stderr)
        self.assertIn("error: 401", process.stderr)

        expired = keys.token(expiresIn=-60, role="admin")
        process = await resonate(self, url, "--token", expired, "promises", "get",
                                 "team-b/1", expect=1)
        self.assertEqual(process.stderr.count("\n"), 1, process.stderr)
        self.assertTrue(process.stderr.startswith(
            "error: 401 The request is unauthorized (4010): invalid token: "
        ), process.stderr)
        self.assertIn("expired", process.stderr)

        process = await resonate(self, url, "--token", teamA, "promises", "get",
                                 "team-b/1", expect=1)
        self.assertEqual(
            process.stderr,
            "error: 403 The request is forbidden (4038): id is outside the "
            "token's prefix\n",
        )
        await resonate(self, url, "--token", teamA, "promises", "create", "team-a/1",
                       "--timeout", "1m")
        # A workflow's tree is read within the prefix that covers its root.
        await resonate(self, url, "--token", teamA, "invoke", "team-a/wf",
                       "--func", "f")
        process = await resonate(self, url, "--token", teamA, "tree", "team-a/wf",
                                 "-o", "json")
        self.assertEqual(json.loads(process.stdout)["id"], "team-a/wf")
        exit = await stopResonate(server)
        self.assertTrue(exit.stoppedByTERM, server.output)
