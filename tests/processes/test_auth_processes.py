# -*- test-case-name: tests.processes.test_auth_processes -*-
"""
A real C{twist resonate} process serving the API over TLS with basic auth.
Both are tested in the test process by L{tests.integration.test_auth}.
"""

from twisted.trial import unittest

from tests.integration.test_auth import GOOD, PASSWORD, USER
from tests.support.apitools import LiveAPI
from tests.support.processtools import startResonate, stopResonate
from tests.support.tlstools import SelfSignedMixin


class TLSProcessTests(SelfSignedMixin, unittest.TestCase):
    """
    The API served over TLS with a certificate made by the test.
    """

    async def test_process(self):
        """
        C{twist resonate} with an C{ssl:} address and auth flags serves
        HTTPS, logs the address it listens on as usual, and refuses
        requests without the credentials.
        """
        server = await startResonate(
            self,
            "--api-http-addr", self.certificate.endpoint(),
            "--api-http-auth-username", USER,
            "--api-http-auth-password", PASSWORD,
            "--aio-store", "memory",
        )
        self.assertEqual(server.host, "127.0.0.1")
        api = LiveAPI(self, agent=self.certificate.trustingAgent())
        api.url = f"https://127.0.0.1:{server.port}"
        refused = await api.request("GET", "/promises/p")
        self.assertEqual((refused.code, refused.errorCode), (401, 4010))
        created = await api.request(
            "POST", "/promises", {"id": "p", "timeout": 2**40}, GOOD
        )
        self.assertEqual(created.code, 201)
        exit = await stopResonate(server)
        self.assertTrue(exit.stoppedByTERM, server.output)

