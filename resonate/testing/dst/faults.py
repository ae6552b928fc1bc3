# -*- test-case-name: tests.integration.test_dst -*-
"""
Store faults: an L{IStore} proxy that fails calls on purpose.

With the given probability, drawn from its own seeded C{random.Random} at
the moment of the call, a call fails with L{StoreFailure} either before it
reaches the real store (nothing happened) or after the real store finished
it (it happened, but the caller sees 5002 all the same).  Every decision is
recorded, so the runner can tell which request a fault hit.
"""

from twisted.internet.defer import fail
from zope.interface import implementer

from resonate.errors import StoreFailure
from resonate.interfaces import IStore

#: What a call may suffer.
NONE, BEFORE, AFTER = "none", "before", "after"


@implementer(IStore)
class FaultyStore:
    """
    Delegates every L{IStore} method to C{store}, failing some.

    @ivar decisions: C{(method name, NONE | BEFORE | AFTER)} for each call
        since the runner last took them (L{takeDecisions}).
    @ivar injected: how many faults were injected in all.
    """

    def __init__(self, store, rng, rate):
        """
        @param store: the real L{IStore}.
        @param rng: a C{random.Random} for this proxy alone.
        @param rate: the probability that a call fails.
        """
        self._store = store
        self._rng = rng
        self._rate = rate
        self.decisions = []
        self.injected = 0

    def takeDecisions(self):
        """
        @return: the decisions recorded since the last call, oldest first.
        """
        taken, self.decisions = self.decisions, []
        return taken

    def _call(self, name, *args, **kwargs):
        fault = NONE
        if self._rate and self._rng.random() < self._rate:
            fault = self._rng.choice((BEFORE, AFTER))
            self.injected += 1
        self.decisions.append((name, fault))
        if fault == BEFORE:
            return fail(StoreFailure(f"injected before {name}"))
        d = getattr(self._store, name)(*args, **kwargs)
        if fault == AFTER:
            def injected(result):
                raise StoreFailure(f"injected after {name}")
            d.addCallback(injected)
        return d

    def readPromise(self, promiseId, now, **kwargs):
        return self._call("readPromise", promiseId, now, **kwargs)

    def createPromise(self, request, now, **kwargs):
        return self._call("createPromise", request, now, **kwargs)

    def completePromise(self, request, now, **kwargs):
        return self._call("completePromise", request, now, **kwargs)

    def searchPromises(self, query, now):
        return self._call("searchPromises", query, now)

    def timeoutPromises(self, now, limit, **kwargs):
        return self._call("timeoutPromises", now, limit, **kwargs)

    def createSchedule(self, request, now):
        return self._call("createSchedule", request, now)

    def readSchedule(self, scheduleId, now):
        return self._call("readSchedule", scheduleId, now)

    def deleteSchedule(self, scheduleId, now):
        return self._call("deleteSchedule", scheduleId, now)

    def searchSchedules(self, query, now):
        return self._call("searchSchedules", query, now)

    def fireSchedules(self, now, limit, isRouted=None, **kwargs):
        return self._call("fireSchedules", now, limit, isRouted, **kwargs)

    def nextRunTime(self):
        return self._call("nextRunTime")

    def acquireLock(self, request, now):
        return self._call("acquireLock", request, now)

    def releaseLock(self, request, now):
        return self._call("releaseLock", request, now)

    def heartbeatLocks(self, processId, now):
        return self._call("heartbeatLocks", processId, now)

    def timeoutLocks(self, now, limit):
        return self._call("timeoutLocks", now, limit)

    def createPromiseAndTask(self, request, now, **kwargs):
        return self._call("createPromiseAndTask", request, now, **kwargs)

    def claimTask(self, request, now, **kwargs):
        return self._call("claimTask", request, now, **kwargs)

    def completeTask(self, request, now, **kwargs):
        return self._call("completeTask", request, now, **kwargs)

    def dispatchTasks(self, now, limit, claimWindow):
        return self._call("dispatchTasks", now, limit, claimWindow)

    def handle2026(self, request, now, **kwargs):
        return self._call("handle2026", request, now, **kwargs)

    def expireTasks2026(self, now, limit, **kwargs):
        return self._call("expireTasks2026", now, limit, **kwargs)

    def takeMessages(self, now, limit, route, lease):
        return self._call("takeMessages", now, limit, route, lease)

    def settleMessages(self, delivered, failed):
        return self._call("settleMessages", delivered, failed)

    def dropExpiredMessages(self, createdBefore, limit):
        return self._call("dropExpiredMessages", createdBefore, limit)

    def close(self):
        return self._store.close()
