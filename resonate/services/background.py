# -*- test-case-name: tests.unit.test_services -*-
"""
Background loops that cannot die.

A bare C{LoopingCall} stops for good the first time its function fails.
L{BackgroundService} logs and counts a failed iteration and carries on, never
runs two iterations at once, and on stop waits for the running one.  Every
iteration is counted in the metrics (C{background_runs_total},
C{background_failures_total}, and as the coroutine named after the loop).

Both kinds of loop can be paused while they keep running as services
(C{pause}/C{resume}): the 2026 protocol's C{debug.start} stops the
background work so that a test drives time itself (C{debug.tick}).
"""

import inspect
import sys

from twisted.application.service import Service
from twisted.internet.defer import Deferred, ensureDeferred, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from resonate.errors import ResonateError
from resonate.metrics import Metrics


def logIterationFailure(log, name):
    """
    Log the exception being handled as a failed iteration of loop C{name}.
    Call it from an C{except} block.

    An expected failure (a L{ResonateError}: the database is away, say) is
    one line, not a traceback at every iteration until it is back.
    """
    error = sys.exc_info()[1]
    if isinstance(error, ResonateError):
        log.warn(
            "background loop {name} failed: {error}; it will run again",
            name=name,
            error=error,
        )
    else:
        log.failure("background loop {name} failed; it will run again", name=name)


def whenFinished(running):
    """
    A new C{Deferred} that fires (with L{None}) once the iteration
    C{running} has finished, leaving C{running}'s own result alone.

    @param running: a C{Deferred}, or L{None} for nothing running.
    """
    if running is None:
        return succeed(None)
    waiting = Deferred()
    running.addBoth(lambda result: waiting.callback(None) or result)
    return waiting


class BackgroundService(Service):
    """
    Call C{work()} every C{interval} seconds on C{clock}, unless paused.

    @ivar iterations: how many iterations have finished.
    @ivar failures: how many of them failed.
    @ivar paused: whether L{pause} holds the iterations back.
    """

    _log = Logger()

    def __init__(self, name, interval, work, clock, metrics=None):
        """
        @param name: names the loop in logs and metrics.
        @param interval: seconds between the starts of iterations.
        @param work: a callable returning a result, a C{Deferred} or a
            coroutine.
        @param clock: the C{IReactorTime} to schedule on.
        @param metrics: the L{resonate.metrics.Metrics} that counts the
            iterations; L{None} for a private one.
        """
        self.setName(name)
        self._metrics = metrics if metrics is not None else Metrics()
        self._interval = interval
        self._work = work
        self._loop = LoopingCall(self._tick)
        self._loop.clock = clock
        self._running = None
        self.iterations = 0
        self.failures = 0
        self.paused = False

    def _tick(self):
        # Paused, the clock keeps ticking but nothing runs: resuming is
        # then only a matter of the next tick.
        if self.paused:
            return None
        return ensureDeferred(self._iterate())

    async def _iterate(self):
        done = Deferred()
        self._running = done
        self._metrics.loopStarted(self.name)
        failed = True
        try:
            result = self._work()
            if inspect.isawaitable(result):
                await result
            failed = False
        except Exception:
            self.failures += 1
            logIterationFailure(self._log, self.name)
        finally:
            self._metrics.loopFinished(self.name, failed)
            self.iterations += 1
            self._running = None
            done.callback(None)

    def startService(self):
        super().startService()
        # The first iteration runs at once: overdue work from before a
        # restart is picked up immediately.
        self._loop.start(self._interval, now=True)

    def stopService(self):
        """
        Stop scheduling iterations.

        @return: a C{Deferred} that fires once the running iteration, if any,
            has finished.
        """
        super().stopService()
        if self._loop.running:
            self._loop.stop()
        return whenFinished(self._running)

    def pause(self):
        """
        Start no more iterations until L{resume}, running or not.

        @return: a C{Deferred} that fires once the running iteration, if
            any, has finished: from then on the loop changes nothing.
        """
        self.paused = True
        return whenFinished(self._running)

    def resume(self):
        """
        Undo L{pause}: iterations start again at the next tick of the
        interval.
        """
        self.paused = False


class WakeableLoop(Service):
    """
    A loop whose every iteration says how long to sleep before the next,
    and which C{wake} can cut short: for work that has a natural next time
    (the next schedule slot) or that a request makes due at once (a task
    to push).

    The first iteration runs at start.  Iterations never overlap: the next
    is only ever scheduled once the running one has finished, and a
    C{wake} during an iteration runs another right after it.  A failing
    iteration is logged and counted, and the loop carries on after
    C{backoff} seconds.  Subclasses implement L{_runOnce}.

    @ivar iterations: how many iterations have finished.
    @ivar failures: how many of them failed.
    @ivar paused: whether L{pause} holds the iterations back.
    """

    _log = Logger()

    def __init__(self, name, clock, backoff, metrics=None):
        """
        @param name: names the loop in logs and metrics.
        @param clock: the C{IReactorTime} that gives the time and schedules
            the iterations.
        @param backoff: seconds to wait after a failed iteration.
        @param metrics: the L{resonate.metrics.Metrics} that counts the
            iterations; L{None} for a private one.
        """
        self.setName(name)
        self._metrics = metrics if metrics is not None else Metrics()
        self._clock = clock
        self._backoff = backoff
        self._timer = None
        self._running = None
        self._again = False
        self.iterations = 0
        self.failures = 0
        self.paused = False

    async def _runOnce(self):
        """
        One iteration.

        @return: how many seconds to sleep before the next.
        """
        raise NotImplementedError()

    def _milliseconds(self):
        return int(self._clock.seconds() * 1000)

    def startService(self):
        """
        Run the first iteration at once: work that fell due while the
        server was down is done immediately.
        """
        super().startService()
        if not self.paused:
            self._begin()

    def stopService(self):
        """
        Cancel the sleep.

        @return: a C{Deferred} that fires once the running iteration, if
            any, has finished.
        """
        super().stopService()
        self._again = False
        self._cancelTimer()
        return whenFinished(self._running)

    def wake(self):
        """
        Run an iteration now rather than at the end of the sleep; if one is
        running, run another right after it.  The iteration starts from the
        reactor, not from the caller's stack.
        """
        if not self.running or self.paused:
            # A paused loop catches up when resumed; nothing to remember.
            return
        if self._running is not None:
            self._again = True
            return
        self._sleep(0)

    def pause(self):
        """
        Start no more iterations until L{resume}, running or not; a
        C{wake} meanwhile is ignored.

        @return: a C{Deferred} that fires once the running iteration, if
            any, has finished: from then on the loop changes nothing.
        """
        self.paused = True
        self._again = False
        self._cancelTimer()
        return whenFinished(self._running)

    def resume(self):
        """
        Undo L{pause}: if the service runs, iterate at once (from the
        reactor), since work may have fallen due while paused.
        """
        self.paused = False
        if self.running and self._running is None:
            self._sleep(0)

    def _sleep(self, seconds):
        self._cancelTimer()
        self._timer = self._clock.callLater(seconds, self._begin)

    def _cancelTimer(self):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _begin(self):
        self._timer = None
        if self._running is not None:
            # Cannot happen through the timer; never overlap regardless.
            self._again = True
            return
        ensureDeferred(self._iterate())

    async def _iterate(self):
        done = Deferred()
        self._running = done
        delay = self._backoff
        self._metrics.loopStarted(self.name)
        failed = True
        try:
            delay = await self._runOnce()
            failed = False
        except Exception:
            self.failures += 1
            logIterationFailure(self._log, self.name)
        finally:
            self._metrics.loopFinished(self.name, failed)
            self.iterations += 1
            self._running = None
            if self.running and not self.paused:
                if self._again:
                    self._again = False
                    delay = 0
                self._sleep(delay)
            done.callback(None)
