# -*- test-case-name: tests.unit.test_console_browser -*-
"""
Tests for L{tests.support.browser}: where no browser can be driven, the
console's browser tests skip, except where one is required, where they
fail.
"""

from unittest import SkipTest

from twisted.trial import unittest

from tests.support import browser


class RequireBrowserTests(unittest.SynchronousTestCase):
    """
    L{browser.requireBrowser} skips or fails by L{browser.BROWSER_VARIABLE}.
    """

    def setUp(self):
        self.patch(browser, "problem", lambda: "no chromium at /usr/bin/chromium")

    def test_skips(self):
        """
        Without the variable, a missing browser skips with its reason.
        """
        self.patch(browser.os, "environ", {})
        error = self.assertRaises(SkipTest, browser.requireBrowser)
        self.assertEqual(str(error), "no chromium at /usr/bin/chromium")

    def test_failsWhereRequired(self):
        """
        Where the browser is required (C{.ci/run}), a missing one is an
        error, not a skip, naming the variable and the reason.
        """
        self.patch(browser.os, "environ", {browser.BROWSER_VARIABLE: "required"})
        error = self.assertRaises(browser.BrowserUnavailable, browser.requireBrowser)
        self.assertIn("RESONATE_TEST_BROWSER=required", str(error))
        self.assertIn("no chromium", str(error))

    def test_present(self):
        """
        A browser that can be driven neither skips nor fails.
        """
        self.patch(browser, "problem", lambda: None)
        self.patch(browser.os, "environ", {browser.BROWSER_VARIABLE: "required"})
        self.assertIsNone(browser.requireBrowser())
