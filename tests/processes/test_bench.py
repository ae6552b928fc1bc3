# -*- test-case-name: tests.processes.test_bench -*-
"""
A smoke run of the benchmark, so that it keeps working: a few hundred
requests per workload against the baseline and a real server.  Nothing here
looks at a timing.
"""

import os
import shutil
import sys

from twisted.trial import unittest

from tests.support.processtools import ChildProcess, HTTPClient, runProcess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class BenchSmokeTests(unittest.TestCase):
    """
    C{bench/run.py --smoke} runs to its end and prints its table.
    """

    if shutil.which("wrk") is None:
        skip = "wrk is not installed (Debian: apt-get install wrk)"

    async def test_smoke(self):
        """
        Every workload runs against both servers without an error, and the
        table names each with its ratio.
        """
        process = await runProcess(
            self,
            [sys.executable, os.path.join(ROOT, "bench", "run.py"), "--smoke"],
            timeout=180,
        )
        self.assertEqual((process.exit.code, process.exit.signal), (0, None), process.output)
        for workload in ["create", "get", "complete", "search", "mixed", "grpc create"]:
            self.assertRegex(
                process.stdout, rf"\| {workload} \| [^|]+ \| \d+ \| \d+\.\d\d \|"
            )


class BaselineTests(unittest.TestCase):
    """
    C{bench/baseline.py} answers the same whichever resource serves it.
    """

    async def answers(self, flags):
        child = ChildProcess(
            [sys.executable, os.path.join(ROOT, "bench", "baseline.py"), *flags]
        ).spawn()
        self.addCleanup(child.kill)
        match = await child.waitForOutput(r"starting http server addr=(\S+)", 30)
        client = HTTPClient("http://" + match.group(1))
        created = await client.create("b.1", 10, param={"data": "eA=="})
        read = await client.read("b.1")
        return [(r.code, r.body) for r in (created, read)]

    async def test_sameAnswers(self):
        """
        Klein's own resource (C{--klein-resource}) and the server's
        C{AppResource} give the same codes and bodies.
        """
        ours = await self.answers([])
        klein = await self.answers(["--klein-resource"])
        self.assertEqual(ours, klein)
        self.assertEqual([code for code, _ in ours], [201, 200])
