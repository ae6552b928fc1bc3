# -*- test-case-name: tests.test_bench -*-
"""
A smoke run of the benchmark, so that it keeps working: a few hundred
requests per workload against the baseline and a real server.  Nothing here
looks at a timing.
"""

import os
import shutil
import sys

from twisted.trial import unittest

from tests.processtools import runProcess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
