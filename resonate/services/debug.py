# -*- test-case-name: tests.unit.test_services_debug -*-
"""
The 2026 protocol's debug control (C{twist resonate --debug}, DECISIONS
30): conformance and differential tests stop the server's background work
and drive time themselves.

  - C{debug.start}: L{DebugControl.pause} every background loop (promise
    timeouts, task timers, schedules, lock expiry, task dispatch), so that
    nothing changes but what requests change;
  - C{debug.stop}: L{DebugControl.resume} them;
  - C{debug.tick {time}}: L{DebugControl.tick} does, at C{time} rather
    than now, what the loops would: time out overdue promises, expire 2026
    task timers, fire due schedule slots, each until nothing is left due.

C{debug.reset} and C{debug.snap} are plain store calls and live with the
API.
"""

from twisted.internet.defer import DeferredList, ensureDeferred
from twisted.logger import Logger

from resonate.metrics import Metrics
from resonate.services.background import whenFinished
from resonate.services.timeouts import TRANSACTION_ROWS


class DebugControl:
    """
    Pause and resume the background loops, and run their timeout
    processing at a given time.

    @ivar paused: whether L{pause} was called last (rather than L{resume}).
    """

    _log = Logger()

    def __init__(
        self, loops, store, retryTimeout, isRouted=None,
        batchSize=TRANSACTION_ROWS, metrics=None,
    ):
        """
        @param loops: the background loops to pause: each has C{pause()},
            returning a C{Deferred} that fires once its running iteration
            has finished, and C{resume()} (a
            L{resonate.services.background.BackgroundService} or
            L{resonate.services.background.WakeableLoop}).
        @param store: the L{resonate.interfaces.IStore} whose
            C{timeoutPromises}, C{expireTasks2026} and C{fireSchedules}
            L{tick} calls.
        @param retryTimeout: ms a pending 2026 task waits before its
            C{execute} is sent again (C{tasks.retryTimeout}), for the tasks
            that L{tick} makes pending.
        @param isRouted: tells whether a fired promise's id matches a v0.5
            task route, as for the scheduler (DECISIONS 13a).
        @param batchSize: the most rows per store transaction in L{tick}.
        @param metrics: the L{resonate.metrics.Metrics} that counts the
            store calls and fired schedule promises; L{None} for a private
            one.
        """
        self._loops = list(loops)
        self._store = store
        self._retryTimeout = retryTimeout
        self._isRouted = isRouted
        self._batchSize = batchSize
        self._metrics = metrics if metrics is not None else Metrics()
        self._quieting = None
        self.paused = False

    def pause(self):
        """
        Pause every loop (C{debug.start}).

        @return: a C{Deferred} that fires once the iterations running when
            it was called have finished; L{tick} waits for them too.
        """
        self.paused = True
        self._log.info("debug: background loops paused")
        self._quieting = DeferredList(
            [loop.pause() for loop in self._loops], consumeErrors=True
        )
        return whenFinished(self._quieting)

    def resume(self):
        """
        Resume every loop (C{debug.stop}).
        """
        self.paused = False
        for loop in self._loops:
            loop.resume()
        self._log.info("debug: background loops resumed")

    def tick(self, time):
        """
        Run the background timeout processing once at C{time}
        (C{debug.tick}), in the order the reference server runs it.

        @param time: the time to run at, in epoch milliseconds.
        @return: a C{Deferred} that fires with L{None} once overdue
            promises are timed out, due task timers expired and due
            schedule slots fired, each until none is left at C{time}, or
            fails with the store's failure.
        """
        return ensureDeferred(self._tick(time))

    async def _tick(self, time):
        # An iteration that was running when paused would otherwise
        # change the store beside this tick.
        await whenFinished(self._quieting)
        retryTimeout = self._retryTimeout
        await self._drain(
            lambda now, limit: self._store.timeoutPromises(
                now, limit, retryTimeout=retryTimeout
            ),
            time,
        )
        await self._drain(
            lambda now, limit: self._store.expireTasks2026(
                now, limit, retryTimeout=retryTimeout
            ),
            time,
        )
        fired = await self._drain(
            lambda now, limit: self._store.fireSchedules(
                now, limit, self._isRouted, retryTimeout=retryTimeout
            ),
            time,
        )
        self._metrics.schedulePromisesFired(fired)

    async def _drain(self, sweep, time):
        """
        Call C{sweep(time, limit)} until a batch comes back short.

        @return: how many rows every batch changed.
        """
        total = 0
        while True:
            count = await self._metrics.submission(
                "store", sweep, time, self._batchSize
            )
            total += count
            if count < self._batchSize:
                return total
