# -*- test-case-name: tests.unit.test_logs -*-
"""
Tests for L{resonate.logs}.
"""

from twisted.logger import Logger, LogPublisher
from twisted.trial import unittest

from resonate.logs import filterLogLevel


class FilterLogLevelTests(unittest.SynchronousTestCase):
    """
    Tests for L{filterLogLevel}.
    """

    def test_dropsBelowLevel(self):
        """
        Events below the level no longer reach the publisher's observers;
        events at or above it still do.
        """
        seen = []
        publisher = LogPublisher(seen.append)
        log = Logger(observer=publisher)
        filterLogLevel(publisher, "warn")
        log.info("quiet")
        log.warn("loud")
        log.error("louder")
        self.assertEqual([e["log_format"] for e in seen], ["loud", "louder"])
