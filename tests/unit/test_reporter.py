# -*- test-case-name: tests.unit.test_reporter -*-
"""
Tests for the C{counts} trial reporter (L{resonate.testing.reporter}): its
last line is C{N passed, N failed}, and the line before it counts the
skipped tests by reason.
"""

import io

from twisted.plugin import getPlugins
from twisted.trial import unittest
from twisted.trial.itrial import IReporter

from resonate.testing.reporter import CountsReporter, skipLines


class _Sample(unittest.SynchronousTestCase):
    """
    Tests that end every way a test can; run by L{CountsReporterTests},
    never by trial itself (they are not named C{test_}).
    """

    def ok_one(self):
        pass

    def ok_two(self):
        pass

    def fails(self):
        self.fail("no")

    def errs(self):
        raise RuntimeError("boom")

    def postgres_one(self):
        raise unittest.SkipTest("RESONATE_TEST_POSTGRES_DSN is not set")

    def postgres_two(self):
        raise unittest.SkipTest(
            "set RESONATE_TEST_POSTGRES_DSN to run the PostgreSQL process tests"
        )

    def postgres_three(self):
        raise unittest.SkipTest("RESONATE_TEST_POSTGRES_DSN is not set")

    def wrk(self):
        raise unittest.SkipTest("wrk is not installed (Debian: apt-get install wrk)")

    def todo(self):
        self.fail("not yet")

    todo.todo = "not written yet"


def run(*names):
    """
    Run the named L{_Sample} methods with L{CountsReporter}.

    @return: every line it printed.
    """
    stream = io.StringIO()
    reporter = CountsReporter(stream)
    suite = unittest.TestSuite([_Sample(name) for name in names])
    suite.run(reporter)
    reporter.done()
    return stream.getvalue().splitlines()


class CountsReporterTests(unittest.SynchronousTestCase):
    """
    L{CountsReporter} ends with the skips by reason and the counts.
    """

    def test_lastLines(self):
        """
        The last line counts passes and failures (errors among them); the
        lines before it count the skips, the PostgreSQL ones together under
        the variable that runs them, the most frequent reason first.
        """
        lines = run("ok_one", "ok_two", "fails", "errs", "postgres_one",
                    "postgres_two", "postgres_three", "wrk", "todo")
        self.assertEqual(lines[-5:], [
            "4 skipped:",
            "  3 PostgreSQL: set RESONATE_TEST_POSTGRES_DSN to run them",
            "  1 wrk is not installed (Debian: apt-get install wrk)",
            "1 expected failures (todo)",
            "2 passed, 2 failed",
        ])

    def test_noSkips(self):
        """
        Without skips the line says C{0 skipped}, and nothing more.
        """
        lines = run("ok_one")
        self.assertEqual(lines[-2:], ["0 skipped", "1 passed, 0 failed"])

    def test_lastLineFormat(self):
        """
        The last line is exactly what C{.ci/run} looks for.
        """
        lines = run("ok_one", "fails", "wrk")
        self.assertRegex(lines[-1], r"^[0-9]+ passed, [0-9]+ failed$")
        self.assertEqual(lines[-1], "1 passed, 1 failed")

    def test_widthAligns(self):
        """
        Counts are right-aligned to the widest, so reasons line up.
        """
        skips = [(None, "a")] * 12 + [(None, "b")]
        self.assertEqual(
            skipLines(skips, []), ["13 skipped:", "  12 a", "   1 b"]
        )

    def test_multilineReason(self):
        """
        A reason of several lines is counted under its first.
        """
        self.assertEqual(
            skipLines([(None, "first\nsecond")], []),
            ["1 skipped:", "  1 first"],
        )


class PluginTests(unittest.SynchronousTestCase):
    """
    The C{counts} reporter is found as C{trial --reporter=counts} finds it,
    in this (editable, test) install.
    """

    def test_found(self):
        reporters = {plugin.longOpt: plugin for plugin in getPlugins(IReporter)}
        self.assertIn("counts", reporters)
        plugin = reporters["counts"]
        self.assertEqual((plugin.module, plugin.klass),
                         ("resonate.testing.reporter", "CountsReporter"))

