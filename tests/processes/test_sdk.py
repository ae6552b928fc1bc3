# -*- test-case-name: tests.processes.test_sdk -*-
"""
The real client: the Resonate Python SDK (C{resonate-sdk==0.1.31}, the
promises-only REST client of the v0.5 era) runs a durable fan-out workflow
against a real C{twist resonate} process on a SQLite file.

The SDK runs in a virtualenv of its own (its top-level package is also
called C{resonate}): C{.venv-sdk} in the project root, created on first use,
or the interpreter named by C{$RESONATE_TEST_SDK_PYTHON}.  If it cannot be
created (no network, no package index) the test fails: it is never skipped.
"""

import base64
import json
import os
import shutil
from collections import Counter

from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from tests.support.processtools import HTTPClient, runProcess, sqliteFlags, startResonate

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: The SDK's virtualenv, created on first use.
SDK_VENV = os.path.join(PROJECT_ROOT, ".venv-sdk")

#: The SDK release that speaks the v0.5 promises API.
SDK_VERSION = "0.1.31"

#: The script the SDK's interpreter runs.
WORKFLOW = os.path.join(PROJECT_ROOT, "tests", "support", "sdk_workflow.py")

#: The environment variable that names an SDK interpreter to use instead.
SDK_PYTHON_VARIABLE = "RESONATE_TEST_SDK_PYTHON"

#: The SDK's own package is C{resonate} too: never let the server's be found.
_SDK_ENV = {"PYTHONPATH": None, "PYTHONHOME": None}


def _tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


class SDKTests(unittest.TestCase):
    """
    The real SDK against a real server process.
    """

    #: Creating the SDK's virtualenv downloads and installs packages.
    timeout = 300

    async def _sdkPython(self):
        """
        The interpreter with C{resonate-sdk==0.1.31}: C{$RESONATE_TEST_SDK_PYTHON},
        or that of C{.venv-sdk}, created if missing.  Fails the test if
        neither can be had.
        """
        python = os.environ.get(SDK_PYTHON_VARIABLE)
        if python:
            origin = f"${SDK_PYTHON_VARIABLE} ({python})"
        else:
            python = os.path.join(SDK_VENV, "bin", "python")
            origin = SDK_VENV
            if not os.path.exists(python):
                await self._createVenv()
        check = await runProcess(
            self,
            [python, "-c",
             "from importlib.metadata import version; print(version('resonate-sdk'))"],
            env=_SDK_ENV,
        )
        found = check.stdout.strip()
        if check.exit.code != 0 or found != SDK_VERSION:
            self.fail(
                f"{origin} must have resonate-sdk=={SDK_VERSION}; "
                f"found {found or 'none'} ({check.exit}):\n{_tail(check.output)}\n"
                f"Delete {SDK_VENV} to have it created again."
            )
        return python

    async def _createVenv(self):
        """
        Create L{SDK_VENV} with the SDK installed, next to it first and then
        renamed into place, so that a half-made one is never used and two
        test runs at once do not trip over each other.
        """
        building = f"{SDK_VENV}.building-{os.getpid()}"
        steps = [
            ("create a virtualenv",
             [shutil.which("python3") or "python3", "-m", "venv", building], 120),
            (f"install resonate-sdk=={SDK_VERSION}",
             [os.path.join(building, "bin", "python"), "-m", "pip", "install",
              "--disable-pip-version-check", "--no-input", "-q",
              f"resonate-sdk=={SDK_VERSION}"], 240),
        ]
        try:
            for what, args, timeout in steps:
                step = await runProcess(self, args, env=_SDK_ENV, timeout=timeout)
                if step.exit.code != 0:
                    self.fail(
                        f"cannot {what} for the SDK test ({step.exit}): "
                        f"{' '.join(args)}\n{_tail(step.output)}\n"
                        f"Without network access to a package index, set "
                        f"${SDK_PYTHON_VARIABLE} to an interpreter that has "
                        f"resonate-sdk=={SDK_VERSION}."
                    )
            try:
                os.rename(building, SDK_VENV)
            except OSError:
                # Another run made it meanwhile; use theirs.
                if not os.path.isdir(SDK_VENV):
                    raise
        finally:
            if os.path.exists(building):
                await deferToThread(shutil.rmtree, building, True)

    async def _runWorkflow(self, python, url, workflowId, log, n):
        """
        Run L{WORKFLOW} and check that it succeeded.

        @return: its JSON summary.
        """
        run = await runProcess(
            self,
            [python, WORKFLOW, "--url", url, "--id", workflowId,
             "--n", str(n), "--log", log, "--timeout", "60"],
            env=_SDK_ENV,
            timeout=120,
        )
        lines = run.stdout.strip().splitlines()
        try:
            summary = json.loads(lines[-1])
        except (IndexError, ValueError):
            summary = None
        if run.exit.code != 0 or summary is None or not summary["ok"]:
            self.fail(
                f"the SDK workflow failed ({run.exit}): {summary}\n"
                f"{_tail(run.stderr)}"
            )
        return summary

    def _executions(self, log):
        with open(log) as f:
            return f.read().splitlines()

    async def test_fanOutWorkflow(self):
        """
        Each step runs once; a re-run returns the stored result, runs nothing.
        """
        python = await self._sdkPython()
        server = await startResonate(self, *sqliteFlags(self.mktemp() + ".db"))
        log = self.mktemp() + ".log"
        n = 5
        workflowId = "workflows/fanout-1"
        expected = {"squares": [i * i for i in range(n)],
                    "total": sum(i * i for i in range(n))}

        first = await self._runWorkflow(python, server.url, workflowId, log, n)
        self.assertEqual(first["result"], expected)
        executions = self._executions(log)
        self.assertEqual(
            Counter(line.split()[0] for line in executions),
            {"square": n, "addAll": 1},
        )
        executedIds = [line.split()[1] for line in executions]
        self.assertEqual(
            sorted(executedIds),
            sorted(f"{workflowId}.{i}" for i in range(1, n + 2)),
        )

        again = await self._runWorkflow(python, server.url, workflowId, log, n)
        self.assertEqual(again["result"], expected)
        self.assertEqual(self._executions(log), executions)

        client = HTTPClient(server.url)
        root = await client.read(workflowId)
        self.assertEqual(root.code, 200, root)
        self.assertEqual(root.body["state"], "RESOLVED")
        self.assertEqual(
            json.loads(base64.b64decode(root.body["value"]["data"])), expected
        )
        for childId in executedIds:
            child = await client.read(childId)
            self.assertEqual((child.code, child.body["state"]), (200, "RESOLVED"))
