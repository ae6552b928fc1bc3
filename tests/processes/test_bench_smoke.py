# -*- test-case-name: tests.processes.test_bench_smoke -*-
"""
The scale benchmark keeps working: C{bench/scale.py --quick} end to end
(2,000 promises, 1 s runs) against real servers.  Nothing here looks at a
timing.
"""

import os
import shutil
import sys

from twisted.trial import unittest

from tests.support.processtools import runProcess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ScaleSmokeTests(unittest.TestCase):
    """
    C{bench/scale.py --quick} runs to its end and prints its report.
    """

    if shutil.which("wrk") is None:
        skip = "wrk is not installed (Debian: apt-get install wrk)"

    async def test_quick(self):
        """
        Every phase runs and the report has each of its rows, and the
        id-prefix search uses the id index.
        """
        # Four server starts and a dozen wrk runs of a second or two.
        process = await runProcess(
            self,
            [sys.executable, os.path.join(ROOT, "bench", "scale.py"), "--quick"],
            timeout=240,
        )
        self.assertEqual((process.exit.code, process.exit.signal), (0, None), process.output)
        for row in [
            r"\| get req/s \| \d+ \| \d+ \| \d+\.\d\d \|",
            r"\| search p99 ms \| [\d.]+ \| [\d.]+ \| \d+\.\d\d \|",
            r"\| get p99 during the sweep of 1,000 overdue",
            r"\| sweep done after server start \| [\d.]+ s",
            r"\| one id-prefix search with [\d,]+ overdue left",
            r"\| create closed, 100 connections \| \d+ req/s",
            r"\| get paced, 100 connections \| \d+ req/s",
            r"\| peak RSS \| \d+ MB",
        ]:
            self.assertRegex(process.stdout, row)
        narrow = process.stdout.split("Search plan for `s-1-2*`", 1)[1]
        # The id index's range, not a walk of the table in sort order.
        self.assertRegex(
            narrow.split("Search plan", 1)[0],
            r"SEARCH promises USING (COVERING )?INDEX sqlite_autoindex_promises_1 \(id>\? AND id<\?\)",
        )
