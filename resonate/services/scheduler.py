# -*- test-case-name: tests.unit.test_services_scheduler -*-
"""
The scheduler: fire each schedule's slots on time.

Unlike the sweeps (L{resonate.services.background.BackgroundService}, on a
fixed tick), the scheduler sleeps until the next slot of any schedule is due
and wakes exactly then, so a C{* * * * * *} schedule fires every second, on
time.  It sleeps no longer than C{maxSleep} seconds, so that a schedule
another process creates in a shared database is noticed within that, and
L{ScheduleService.wake} cuts the sleep short when this process creates one.

Slots missed while the server was down (or busy) are caught up in bounded
batches: each iteration fires at most C{maxBatches} batches of
C{batchSize}, then yields to the reactor and carries on at once.  That a
slot fires at most once, even with several processes on one database, is
the store's business (L{resonate.interfaces.IScheduleStore.fireSchedules}).
"""

from resonate.services.background import WakeableLoop


class ScheduleService(WakeableLoop):
    """
    Fire due schedule slots, then sleep until the next one is due.

    Iterations never overlap: the next is only ever scheduled once the
    running one has finished.  A failing iteration is logged and counted,
    and the loop carries on after C{backoff} seconds.

    @ivar iterations: how many iterations have finished.
    @ivar failures: how many of them failed.
    @ivar fired: how many slots this service has fired.
    """

    def __init__(
        self,
        store,
        clock,
        batchSize,
        maxBatches=10,
        maxSleep=1.0,
        backoff=1.0,
        contendedSleep=0.05,
        name="schedule-promises",
        isRouted=None,
        metrics=None,
        retryTimeout=None,
    ):
        """
        @param store: the L{resonate.interfaces.IScheduleStore}.
        @param clock: the C{IReactorTime} that gives the time and schedules
            the iterations.
        @param batchSize: the most slots fired per transaction.
        @param maxBatches: the most transactions per iteration; a longer
            catch-up continues in the next iteration, right after the
            reactor has had its turn, so it cannot starve requests.
        @param maxSleep: the longest sleep between iterations, in seconds:
            how long a schedule created by another process sharing the
            database may go unnoticed.
        @param backoff: seconds to wait after a failed iteration.
        @param contendedSleep: seconds to wait when a slot was due but this
            process fired nothing for it (another process is firing it),
            instead of asking again at once.
        @param name: names the loop in logs and metrics (by default the
            contract's coroutine name).
        @param isRouted: tells whether a fired promise's id matches a task
            route, so that its task is created with it (DECISIONS 13a).
        @param metrics: the L{resonate.metrics.Metrics} that counts the
            iterations, store calls and fired promises
            (C{resonate_schedule_promises_total}); L{None} for a private
            one.
        @param retryTimeout: ms a pending 2026 task waits before its
            C{execute} is sent again, for the tasks of fired promises whose
            tags carry C{resonate:target}; L{None} for the store's default.
        """
        super().__init__(name, clock, backoff, metrics)
        self._store = store
        self._isRouted = isRouted
        self._retryTimeout = retryTimeout
        self._batchSize = batchSize
        self._maxBatches = maxBatches
        self._maxSleep = maxSleep
        self._contendedSleep = contendedSleep
        self.fired = 0

    def _fireSchedules(self, now, limit):
        if self._retryTimeout is None:
            return self._store.fireSchedules(now, limit, self._isRouted)
        return self._store.fireSchedules(
            now, limit, self._isRouted, retryTimeout=self._retryTimeout
        )

    async def _runOnce(self):
        """
        Fire what is due, in at most C{maxBatches} batches.

        @return: how many seconds to sleep before the next iteration.
        """
        now = self._milliseconds()
        for _ in range(self._maxBatches):
            count = await self._metrics.submission(
                "store", self._fireSchedules, now, self._batchSize
            )
            self.fired += count
            self._metrics.schedulePromisesFired(count)
            if count < self._batchSize:
                break
        else:
            # Every batch was full: more may be due.  Let the reactor
            # serve requests, then go on at once.
            return 0
        nextRunTime = await self._metrics.submission(
            "store", self._store.nextRunTime
        )
        if nextRunTime is None:
            return self._maxSleep
        if nextRunTime <= now:
            # Due, yet not fired here: another process is firing it.
            return min(self._contendedSleep, self._maxSleep)
        delay = nextRunTime / 1000 - self._clock.seconds()
        return min(max(delay, 0), self._maxSleep)
