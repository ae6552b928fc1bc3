# -*- test-case-name: tests.unit.test_retention -*-
"""
Retention (C{aio.subsystems.store.config.retention}): settled promises are
deleted, with what refers to them, once they have been settled that long
and nothing pending needs them.

A L{BackgroundService} runs L{Retention} every L{INTERVAL}: one run
collects in bounded batches (L{resonate.api.operations.Operations.collectGarbage})
until none is left.  With C{--api-workers}, only the first worker runs it
(L{resonate.tap}); it would be safe in every worker all the same, as it is
beside a C{POST /gc}: candidates another transaction holds are skipped
(PostgreSQL C{FOR UPDATE SKIP LOCKED}; SQLite's writers take turns) and
every delete is conditional.
"""

from twisted.logger import Logger

from resonate.metrics import Metrics
from resonate.services.background import BackgroundService

#: Seconds between retention runs: the window is days long, so a minute
#: late is nothing, and an idle run costs one indexed read.
INTERVAL = 60.0


class Retention:
    """
    One retention run: collect everything settled more than C{retention}
    ago, and count how long that took.
    """

    _log = Logger()

    def __init__(self, collect, clock, retention, metrics=None):
        """
        @param collect: C{collect(settledBefore)}, returning an awaitable of
            a L{resonate.model.requestsadmin.GarbageCount}: the server's
            L{Operations.collectGarbage
            <resonate.api.operations.Operations.collectGarbage>}.
        @param clock: the C{IReactorTime} that gives the time.
        @param retention: how long a settled promise is kept, in seconds
            (> 0).
        @param metrics: the L{resonate.metrics.Metrics} that records each
            run's duration; L{None} for a private one.
        """
        self._collect = collect
        self._clock = clock
        self._retention = round(retention * 1000)
        self._metrics = metrics if metrics is not None else Metrics()

    async def __call__(self):
        started = self._clock.seconds()
        settledBefore = int(started * 1000) - self._retention
        count = await self._collect(settledBefore)
        self._metrics.retentionRan(self._clock.seconds() - started)
        if count.promises:
            self._log.info(
                "retention deleted {promises} promises settled before "
                "{settledBefore} (ms), {tasks} tasks, {callbacks} callbacks, "
                "{listeners} listeners",
                promises=count.promises,
                settledBefore=settledBefore,
                tasks=count.tasks,
                callbacks=count.callbacks,
                listeners=count.listeners,
            )
        return count


def retentionService(collect, clock, retention, interval=INTERVAL, metrics=None):
    """
    The background loop C{"retention"}: a L{Retention} run every
    C{interval} seconds (the first at start), paused with the other loops
    by C{--debug}'s C{debug.start}.

    @param collect: as for L{Retention}.
    @param retention: seconds, > 0.
    @return: a L{BackgroundService}.
    """
    return BackgroundService(
        "retention",
        interval,
        Retention(collect, clock, retention, metrics=metrics),
        clock,
        metrics=metrics,
    )
