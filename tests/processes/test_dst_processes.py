# -*- test-case-name: tests.processes.test_dst_processes -*-
"""
C{python -m resonate.testing.dst} as a child process.  The simulation
itself runs in the test process in L{tests.integration.test_dst}.
"""

import sys

from twisted.trial import unittest

from tests.support.processtools import runProcess


class CommandTests(unittest.TestCase):
    """
    C{python -m resonate.testing.dst} runs a simulation and prints its log
    and verdict.
    """

    async def test_run(self):
        """
        A passing run prints one line per step and the verdict; it exits 0.
        """
        process = await runProcess(self, [
            sys.executable, "-m", "resonate.testing.dst",
            "--seed", "5", "--steps", "40", "--store", "sqlite",
        ], timeout=60)
        self.assertEqual(process.exit.code, 0, process.output)
        lines = process.stdout.splitlines()
        self.assertEqual(len(lines), 41, process.output)
        self.assertTrue(lines[0].startswith("00001 "), lines[0])
        self.assertTrue(
            lines[-1].startswith("dst: PASS seed=5 steps=40 store=sqlite "),
            lines[-1],
        )
