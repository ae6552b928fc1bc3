# -*- test-case-name: tests.processes.test_health_processes -*-
"""
C{GET /readyz} of a real C{twist resonate} process on PostgreSQL whose
connections are cut.  The health routes themselves are tested in the test
process by L{tests.integration.test_health}.
"""

from twisted.trial import unittest

from tests.integration.test_health import cutDatabase, restoreDatabase, until
from tests.integration.test_store_postgres import SKIP
from tests.support.postgrestools import scratchDatabase
from tests.support.processtools import HTTPClient, startResonate, stopResonate


class PostgresReadinessProcessTests(unittest.TestCase):
    """
    C{/readyz} of a real server follows its PostgreSQL database going away
    and coming back.
    """

    skip = SKIP

    async def test_process(self):
        """
        A real C{twist resonate} on PostgreSQL: C{/readyz} turns 503 (5002)
        when its connections are terminated and the database refuses new
        ones, while C{/healthz} stays 200, and turns 200 again once the
        database accepts connections.
        """
        database, admin, flags = scratchDatabase(self)
        self.addCleanup(restoreDatabase, database)
        server = await startResonate(
            self, *flags, "--aio-store-postgres-tx-timeout", "1s"
        )
        client = HTTPClient(server.url)
        self.assertEqual((await client.request("GET", "/readyz")).code, 200)
        cutDatabase(database)

        async def notReady():
            response = await client.request("GET", "/readyz")
            return response.code == 503 and response

        response = await until(self, notReady)
        self.assertEqual(response.errorCode, 5002)
        self.assertEqual((await client.request("GET", "/healthz")).code, 200)
        restoreDatabase(database)

        async def ready():
            return (await client.request("GET", "/readyz")).code == 200

        await until(self, ready)
        exit = await stopResonate(server)
        self.assertTrue(exit.stoppedByTERM, server.output)
