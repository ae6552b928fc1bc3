# -*- test-case-name: tests.test_bench_smoke -*-
"""
The scale benchmark still runs: C{bench/scale.py --quick} end to end, in a
child process, against real servers.
"""

import os
import shutil
import sys

from twisted.internet import reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ScaleSmokeTests(unittest.TestCase):
    """
    C{bench/scale.py --quick}: 2,000 promises, 1 s runs.
    """

    # Four server starts and a dozen one-second wrk runs, on a busy machine.
    timeout = 300

    def setUp(self):
        if shutil.which("wrk") is None:
            raise unittest.SkipTest("wrk is not installed")

    async def test_quick(self):
        """
        Every phase runs and the report has every row, and the id-prefix
        search uses the id index.
        """
        out, err, code = await getProcessOutputAndValue(
            sys.executable,
            [os.path.join(ROOT, "bench", "scale.py"), "--quick"],
            env=dict(os.environ),
            path=ROOT,
            reactor=reactor,
        )
        out, err = out.decode(), err.decode()
        self.assertEqual(code, 0, f"{out}\n{err}")
        for row in [
            "| get req/s |",
            "| search p99 ms |",
            "| get p99 during the sweep of 1,000 overdue",
            "| sweep done after server start |",
            "| one id-prefix search with",
            "| create closed, 100 connections |",
            "| get paced, 100 connections |",
            "| peak RSS |",
        ]:
            self.assertIn(row, out)
        narrow = out.split("Search plan for `s-1-2*`", 1)[1].split("Search plan", 1)[0]
        self.assertIn("SEARCH promises USING INDEX", narrow)
