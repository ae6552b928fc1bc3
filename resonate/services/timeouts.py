# -*- test-case-name: tests.test_services -*-
"""
Background sweeps: overdue promises time out and expired locks are deleted
even when no request touches them.
"""


class BatchedSweep:
    """
    One sweep: call a store's sweep method in bounded batches.

    @ivar swept: how many rows all sweeps have changed.
    """

    def __init__(self, sweep, clock, batchSize, maxBatches=10):
        """
        @param sweep: a store method C{(now, limit) -> Deferred[int]}, such
            as C{timeoutPromises} or C{timeoutLocks}.
        @param clock: the C{IReactorTime} that gives C{now}.
        @param batchSize: the most rows per transaction.
        @param maxBatches: the most transactions per sweep; anything left
            waits for the next sweep, so one sweep cannot starve requests.
        """
        self._sweep = sweep
        self._clock = clock
        self._batchSize = batchSize
        self._maxBatches = maxBatches
        self.swept = 0

    async def __call__(self):
        now = int(self._clock.seconds() * 1000)
        for _ in range(self._maxBatches):
            count = await self._sweep(now, self._batchSize)
            self.swept += count
            if count < self._batchSize:
                return
