# -*- test-case-name: tests.integration.test_services_listen -*-
"""
Tests for L{resonate.services.listen}: listening on real ports of
127.0.0.1.
"""

from twisted.trial import unittest

from resonate.services.listen import CannotListen, ListeningService, endpointForAddress


class ListeningServiceTests(unittest.TestCase):
    """
    Tests for L{ListeningService}.
    """

    def test_portTaken(self):
        """
        A port that cannot be bound stops startup with one clear line.
        """
        from twisted.internet import reactor
        from twisted.internet.protocol import Factory

        first = ListeningService(
            "http", endpointForAddress(reactor, "127.0.0.1:0"), Factory()
        )
        first.startService()
        self.addCleanup(first.stopService)
        port = first.port.getHost().port
        second = ListeningService(
            "http", endpointForAddress(reactor, f"127.0.0.1:{port}"), Factory()
        )
        error = self.assertRaises(CannotListen, second.startService)
        self.assertIn("cannot start http server", str(error))
        self.assertFalse(second.running)
