# -*- test-case-name: tests.unit.test_store_memory -*-
"""
Tests for L{resonate.store.memory}: the store contract, run on the in-memory
store; and, on memory stores broken on purpose, that the contract's tests of
rollback, lost races and durability fail where they should.
"""

from dataclasses import replace

from twisted.internet.defer import maybeDeferred
from twisted.trial import unittest
from twisted.trial.reporter import TestResult

from zope.interface.verify import verifyObject

from resonate.interfaces import ITask2026Rows
from resonate.model.tasks2026 import (
    ClearTimer,
    Effects,
    InsertTask,
    SetTimer,
    Task,
    TaskState,
    Timer,
    TimerKind,
)
from resonate.store import scripts
from resonate.store.memory import MemoryRows, MemoryStore
from resonate.testing.store import NOW, StoreTestsMixin


class MemoryStoreContractTests(StoreTestsMixin, unittest.TestCase):
    """
    L{MemoryStore} keeps the store contract.
    """

    rowsClass = MemoryRows

    def makeStore(self):
        """
        A new, empty L{MemoryStore}.
        """
        store = MemoryStore()
        self.addCleanup(store.close)
        return store


class MemoryRowsTests(unittest.SynchronousTestCase):
    """
    L{MemoryRows} has the 2026 tables, and L{scripts.applyEffects} writes
    through them.
    """

    def test_interface(self):
        """
        L{MemoryRows} provides L{ITask2026Rows}.
        """
        self.assertTrue(verifyObject(ITask2026Rows, MemoryRows()))

    def test_timersAreInTheTask(self):
        """
        The timer changes of the effects make no row operation of their
        own: the task's C{timeoutAt} holds its timer.
        """
        rows = MemoryRows()
        task = Task("t", TaskState.PENDING, 0, "poll://any@g", timeoutAt=NOW)
        effects = Effects(
            writes=(InsertTask(task),),
            timers=(SetTimer(Timer("t", TimerKind.RETRY, NOW)), ClearTimer("x")),
        )
        self.assertTrue(scripts.runSync(rows, scripts.applyEffects(effects, NOW)))
        self.assertEqual(rows.readTask2026("t"), task)
        self.assertEqual(rows.dueTasks2026(NOW, None), [task])

    def test_unknownWrite(self):
        """
        A write L{scripts.applyEffects} does not know is a C{TypeError}.
        """
        script = scripts.applyEffects(Effects(writes=(object(),)), NOW)
        self.assertRaises(TypeError, scripts.runSync, MemoryRows(), script)


class _NoRollbackStore(MemoryStore):
    """
    A memory store that keeps whatever a failed request wrote before it
    failed (as L{MemoryStore} did before it had an undo log).
    """

    def runScript(self, script, *args):
        return maybeDeferred(scripts.runSync, self._rows, script(*args))


class _UnconditionalRows(MemoryRows):
    """
    Memory rows whose writes are not conditional: each update overwrites
    the stored row whatever it is now, and a lock insert overwrites the
    lock there is.
    """

    def updatePromise(self, promise):
        if promise.id not in self._promises:
            return False
        self._promises[promise.id] = promise
        return True

    def updateTask(self, previous, task):
        if previous.id not in self._tasks:
            return False
        self._tasks[previous.id] = task
        return True

    def updateTask2026(self, previous, task):
        if previous.id not in self._tasks2026:
            return False
        self._tasks2026[previous.id] = task
        return True

    def advanceSchedule(self, previous, advanced):
        stored = self._schedules.get(previous.id)
        if stored is None:
            return False
        self._schedules[previous.id] = replace(
            stored,
            lastRunTime=advanced.lastRunTime,
            nextRunTime=advanced.nextRunTime,
        )
        return True

    def insertLock(self, lock):
        self._locks[lock.resourceId] = lock
        return True

    def replaceLock(self, previous, lock):
        self._locks[lock.resourceId] = lock
        return True


class _UnconditionalStore(MemoryStore):
    """
    A memory store over L{_UnconditionalRows}.
    """

    def __init__(self):
        super().__init__()
        self._rows = _UnconditionalRows()


def _contractSuite(storeClass, rowsClass, reopen=None):
    """
    A contract test case class for C{storeClass}, to run single tests of by
    hand (made here, not at module level, so that trial does not collect
    it).

    @param reopen: L{None} (the store is not durable), C{"keep"} (reopening
        gives a new store over the same rows) or C{"forget"} (a new, empty
        store).
    """

    class Contract(StoreTestsMixin, unittest.TestCase):
        def makeStore(self):
            return storeClass()

        def reopenStore(self):
            if reopen is None:
                return None
            store = storeClass()
            if reopen == "keep":
                store._rows = self.store._rows
            return store

    Contract.rowsClass = rowsClass
    Contract.__name__ = f"Contract<{storeClass.__name__}, reopen={reopen}>"
    return Contract


#: The tests of the contract that only a store that rolls back passes.
ROLLBACK_TESTS = (
    "test_rollbackCreatePromiseAndTask",
    "test_rollbackCompleteTaskLockRelease",
    "test_rollbackCompleteTaskPromiseUpdate",
    "test_rollbackFireSchedulesTask",
    "test_rollbackFireSchedulesPromise",
    "test_rollbackClaimTask",
    "test_rollbackTables2026",
    "test_rollbackWriteConflict",
    "test_rollbackDeleteEverything",
    "test_rollbackOutboxDelivery",
)

#: The tests that only a store whose updates are conditional passes.
RACE_TESTS = (
    "test_raceCompletePromise",
    "test_raceTimeoutOnRead",
    "test_raceCompleteTask",
    "test_raceClaimTask",
    "test_raceClaimReoffered",
    "test_raceDispatchTask",
    "test_raceFireSchedule",
    "test_raceTakeOverLock",
    "test_raceTask2026LeaseExpiry",
)

#: The tests that only a store that keeps its data across a reopen passes.
DURABILITY_TESTS = (
    "test_durablePromises",
    "test_durableSchedules",
    "test_durableLocks",
    "test_durableTasks",
    "test_durableTables2026",
    "test_durableDeleteEverything",
    "test_durableOutboxDelivery",
)


class ContractCatchesBrokenStoresTests(unittest.SynchronousTestCase):
    """
    Each test of rollback, lost races and durability in the contract fails
    on a memory store broken in the way it is about, and passes on one that
    is not: none of them passes whatever the store does.
    """

    def run_(self, suite, methodName):
        """
        Run one test of C{suite}.

        @return: its L{TestResult}.
        """
        result = TestResult()
        suite(methodName).run(result)
        return result

    def assertFailsOn(self, suite, methodName):
        """
        Assert that C{methodName} of C{suite} records a failure, and no
        error or skip.
        """
        result = self.run_(suite, methodName)
        self.assertEqual(
            (len(result.failures), result.errors, result.skips),
            (1, [], []),
            f"{methodName} did not fail on {suite.__name__}: "
            f"{result.errors or result.skips or 'it passed'}",
        )

    def assertPassesOn(self, suite, methodName):
        """
        Assert that C{methodName} of C{suite} passes.
        """
        result = self.run_(suite, methodName)
        self.assertTrue(
            result.wasSuccessful() and not result.skips,
            f"{methodName} did not pass on {suite.__name__}: "
            f"{result.failures or result.errors or result.skips}",
        )

    def assertCaught(self, methodNames, broken, sound):
        """
        Assert that each of C{methodNames} fails on the suite C{broken} and
        passes on the suite C{sound}.
        """
        for methodName in methodNames:
            self.assertFailsOn(broken, methodName)
            self.assertPassesOn(sound, methodName)

    def test_rollback(self):
        """
        The rollback tests fail on a store that keeps what a failed request
        wrote.
        """
        self.assertCaught(
            ROLLBACK_TESTS,
            _contractSuite(_NoRollbackStore, MemoryRows),
            _contractSuite(MemoryStore, MemoryRows),
        )

    def test_races(self):
        """
        The lost-race tests fail on a store whose updates overwrite
        whatever another writer stored.
        """
        self.assertCaught(
            RACE_TESTS,
            _contractSuite(_UnconditionalStore, _UnconditionalRows),
            _contractSuite(MemoryStore, MemoryRows),
        )

    def test_durability(self):
        """
        The durability tests fail on a store that opens again empty, pass
        on one that opens again over its data, and skip on one that does
        not say how to reopen it.
        """
        self.assertCaught(
            DURABILITY_TESTS,
            _contractSuite(MemoryStore, MemoryRows, reopen="forget"),
            _contractSuite(MemoryStore, MemoryRows, reopen="keep"),
        )
        notDurable = _contractSuite(MemoryStore, MemoryRows)
        for methodName in DURABILITY_TESTS:
            result = self.run_(notDurable, methodName)
            self.assertEqual(len(result.skips), 1, methodName)

    def test_hooksMissing(self):
        """
        Without C{rowsClass} or an override of the fault hooks, the
        rollback and lost-race tests fail (they do not skip), saying what
        to define.
        """
        suite = _contractSuite(MemoryStore, None)
        for methodName in ROLLBACK_TESTS + RACE_TESTS:
            result = self.run_(suite, methodName)
            self.assertEqual(
                (len(result.failures), result.errors, result.skips),
                (1, [], []),
                methodName,
            )
            [(_, failure)] = result.failures
            self.assertIn("must set rowsClass", str(failure.value))

    def test_everyNewTestListed(self):
        """
        Every rollback, race and durability test of the contract is one of
        those checked here.
        """
        names = {
            name
            for name in dir(StoreTestsMixin)
            if name.startswith(("test_rollback", "test_race", "test_durable"))
        }
        self.assertEqual(
            names, set(ROLLBACK_TESTS + RACE_TESTS + DURABILITY_TESTS)
        )
