# -*- test-case-name: tests.test_services -*-
"""
Background sweeps: overdue promises time out and expired locks are deleted
even when no request touches them.
"""

from resonate.metrics import Metrics


class BatchedSweep:
    """
    One sweep: call a store's sweep method in bounded batches.

    @ivar swept: how many rows all sweeps have changed.
    """

    def __init__(self, sweep, clock, batchSize, maxBatches=10, metrics=None):
        """
        @param sweep: a store method C{(now, limit) -> Deferred[int]}, such
            as C{timeoutPromises} or C{timeoutLocks}.
        @param clock: the C{IReactorTime} that gives C{now}.
        @param batchSize: the most rows per transaction.
        @param maxBatches: the most transactions per sweep; anything left
            waits for the next sweep, so one sweep cannot starve requests.
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
        for _ in range(self._maxBatches):
            count = await self._metrics.submission(
                "store", self._sweep, now, self._batchSize
            )
            self.swept += count
            if count < self._batchSize:
                return
