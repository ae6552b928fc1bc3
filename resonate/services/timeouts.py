# -*- test-case-name: tests.unit.test_services -*-
"""
Background sweeps: overdue promises time out and expired locks are deleted
even when no request touches them.
"""

from twisted.internet.task import deferLater

from resonate.metrics import Metrics

#: The most rows one sweep transaction changes, whatever the batch size:
#: requests wait behind it for the SQLite writer or a pooled PostgreSQL
#: connection.  A thousand rows held them 60 ms on an idle machine and
#: 200-600 ms on a busy one; fifty hold them well under 50 ms, and the
#: sweep is no slower (bench/scale.py, bench/RESULTS.md "Scale").
TRANSACTION_ROWS = 50


class BatchedSweep:
    """
    One sweep: call a store's sweep method in bounded batches.

    A sweep changes at most C{maxBatches} x C{batchSize} rows, in
    transactions of at most L{TRANSACTION_ROWS}, and after each transaction
    waits as long as it took: a backlog is worked off at no more than half
    the server's time, so requests keep their latency while it lasts.

    @ivar swept: how many rows all sweeps have changed.
    """

    def __init__(self, sweep, clock, batchSize, maxBatches=10, metrics=None):
        """
        @param sweep: a store method C{(now, limit) -> Deferred[int]}, such
            as C{timeoutPromises} or C{timeoutLocks}.
        @param clock: the C{IReactorTime} that gives C{now}, times each
            transaction and waits after it.
        @param batchSize: the most rows per batch.
        @param maxBatches: the most batches per sweep; anything left waits
            for the next sweep, so one sweep cannot starve requests.
        @param metrics: the L{resonate.metrics.Metrics} that counts each
            transaction as a C{store} submission; L{None} for a private one.
        """
        self._sweep = sweep
        self._clock = clock
        self._batchSize = batchSize
        self._maxBatches = maxBatches
        self._metrics = metrics if metrics is not None else Metrics()
        self.swept = 0

    async def __call__(self):
        now = int(self._clock.seconds() * 1000)
        limit = min(self._batchSize, TRANSACTION_ROWS)
        budget = self._maxBatches * self._batchSize
        while True:
            started = self._clock.seconds()
            count = await self._metrics.submission(
                "store", self._sweep, now, min(limit, budget)
            )
            self.swept += count
            budget -= count
            if count < limit or budget <= 0:
                return
            took = self._clock.seconds() - started
            if took > 0:
                await deferLater(self._clock, took)
