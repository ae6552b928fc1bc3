# -*- test-case-name: tests.test_services -*-
"""
The background timeout sweep: overdue promises are timed out even when no
one reads them.
"""


class PromiseTimeouts:
    """
    One sweep: time out overdue promises in bounded batches.

    @ivar timedOut: how many promises all sweeps have timed out.
    """

    def __init__(self, store, clock, batchSize, maxBatches=10):
        """
        @param store: an L{resonate.interfaces.IPromiseStore}.
        @param clock: the C{IReactorTime} that gives C{now}.
        @param batchSize: the most promises per transaction.
        @param maxBatches: the most transactions per sweep; anything left
            waits for the next sweep, so one sweep cannot starve requests.
        """
        self._store = store
        self._clock = clock
        self._batchSize = batchSize
        self._maxBatches = maxBatches
        self.timedOut = 0

    async def __call__(self):
        now = int(self._clock.seconds() * 1000)
        for _ in range(self._maxBatches):
            count = await self._store.timeoutPromises(now, self._batchSize)
            self.timedOut += count
            if count < self._batchSize:
                return
