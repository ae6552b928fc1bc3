# -*- test-case-name: tests.processes.test_metrics_processes -*-
"""
The C{/metrics} page of a real C{twist resonate} process.  What is recorded
is tested in the test process by L{tests.integration.test_metrics}.
"""

import treq
from twisted.trial import unittest

from tests.integration.test_metrics import http, samples
from tests.support.processtools import (
    HTTPClient,
    sqliteFlags,
    startResonate,
    stopResonate,
)


class ProcessMetricsTests(unittest.TestCase):
    """
    A real C{twist resonate} process serves its metrics over HTTP.
    """

    async def test_scrape(self):
        """
        The process logs C{starting metrics server addr=:PORT}; after known
        traffic, C{GET /metrics} on that port shows exactly that traffic.
        """
        process = await startResonate(self, *sqliteFlags(self.mktemp() + ".db"))
        metricsURL = await process.metricsURL()
        self.assertRegex(process.output, r"starting metrics server addr=:\d+\n")
        client = HTTPClient(process.url)
        self.assertEqual((await client.create("a", 2**62, ikey="k")).code, 201)
        self.assertEqual((await client.create("b", 2**62)).code, 201)
        self.assertEqual((await client.create("a", 2**62, ikey="k")).code, 200)
        self.assertEqual((await client.create("a", 2**62)).code, 409)
        self.assertEqual((await client.read("missing")).code, 404)
        self.assertEqual((await client.read("b")).code, 200)
        response = await treq.get(metricsURL, pool=client.pool)
        self.assertEqual(response.code, 200)
        text = await treq.content(response)
        self.assertEqual(
            samples(text, "api_total_requests"),
            {http(2010): "2.0", http(2000): "2.0", http(4090): "1.0",
             http(4040): "1.0"},
        )
        self.assertEqual(
            samples(text, "api_in_flight_requests"), {'{type="http"}': "0.0"}
        )
        coroutines = samples(text, "coroutines_total")
        self.assertEqual(coroutines['{type="create-promise"}'], "4.0")
        self.assertEqual(coroutines['{type="read-promise"}'], "2.0")
        exit = await stopResonate(process)
        self.assertTrue(exit.stoppedByTERM, process.output)
