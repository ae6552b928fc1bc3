# -*- test-case-name: tests.unit.test_model_task -*-
"""
Tests for L{resonate.model.task}.
"""

from twisted.trial import unittest

from resonate.model.promise import Promise, State
from resonate.model.task import (
    CLAIM_WINDOW,
    ClaimTask,
    CompleteTask,
    checkClaim,
    checkComplete,
    claimed,
    completed,
    dispatched,
    isDispatchable,
    newTask,
)
from resonate.status import Status

NOW = 1_700_000_000_000
PROMISE = Promise(id="jobs/1", state=State.PENDING, timeout=NOW + 60_000, createdOn=NOW)


class LifecycleTests(unittest.SynchronousTestCase):
    """
    A task from creation through dispatch, claim and completion.
    """

    def test_newTaskOfferedAtOnce(self):
        """
        A new task is dispatchable as soon as time moves on from its
        creation, with counter 0 and no lease.
        """
        task = newTask(PROMISE)
        self.assertEqual((task.id, task.promiseId, task.counter), ("jobs/1", "jobs/1", 0))
        self.assertFalse(isDispatchable(task, NOW))
        self.assertTrue(isDispatchable(task, NOW + 1))

    def test_dispatchOpensClaimWindow(self):
        """
        Offering bumps the counter and opens the claim window from now; the
        task is offered again only once the window has passed.
        """
        task = dispatched(newTask(PROMISE), NOW + 5)
        self.assertEqual(task.counter, 1)
        self.assertEqual(task.claimTimeout, NOW + 5 + CLAIM_WINDOW)
        self.assertFalse(isDispatchable(task, NOW + 5 + CLAIM_WINDOW))
        self.assertTrue(isDispatchable(task, NOW + 6 + CLAIM_WINDOW))

    def test_notOfferedOncePromiseDue(self):
        """
        A task whose promise has timed out is never offered.
        """
        self.assertFalse(isDispatchable(newTask(PROMISE), PROMISE.timeout))

    def test_claimThenComplete(self):
        """
        A claim with the offered counter leases the task; a completion with
        it inside the lease marks it completed.
        """
        task = dispatched(newTask(PROMISE), NOW)
        claim = ClaimTask("jobs/1", 1, "p", "e", 5000)
        self.assertIsNone(checkClaim(task, claim, NOW + 10))
        task = claimed(task, claim, NOW + 10)
        self.assertEqual(task.completeTimeout, NOW + 5010)
        self.assertFalse(isDispatchable(task, NOW + 5010))
        complete = CompleteTask("jobs/1", 1, "e", State.RESOLVED, None)
        self.assertIsNone(checkComplete(task, complete, NOW + 5000))
        task = completed(task, NOW + 5000)
        self.assertTrue(task.isCompleted)
        self.assertFalse(isDispatchable(task, NOW + 99_000))


class CheckTests(unittest.SynchronousTestCase):
    """
    The contract's claim and complete checks, first failing check first.
    """

    def test_claimChecks(self):
        """
        Missing 4044; promise or claim window timed out 4035; wrong counter
        4037; completed 4036.
        """
        task = dispatched(newTask(PROMISE), NOW)
        claim = ClaimTask("jobs/1", 1, "p", "e", 1000)
        self.assertEqual(checkClaim(None, claim, NOW), Status.TASK_NOT_FOUND)
        self.assertEqual(checkClaim(task, claim, NOW + CLAIM_WINDOW + 1),
                         Status.TASK_ALREADY_TIMEDOUT)
        self.assertEqual(checkClaim(task, ClaimTask("jobs/1", 2, "p", "e", 1), NOW),
                         Status.TASK_INVALID_COUNTER)
        self.assertEqual(checkClaim(completed(task, NOW), claim, NOW),
                         Status.TASK_ALREADY_COMPLETED)
        # Timed out beats a wrong counter.
        self.assertEqual(
            checkClaim(task, ClaimTask("jobs/1", 9, "p", "e", 1), PROMISE.timeout + 1),
            Status.TASK_ALREADY_TIMEDOUT)

    def test_completeChecks(self):
        """
        Missing 4044; lease or promise timed out 4035; wrong counter 4037;
        completed 4036.
        """
        task = claimed(dispatched(newTask(PROMISE), NOW),
                       ClaimTask("jobs/1", 1, "p", "e", 1000), NOW)
        complete = CompleteTask("jobs/1", 1, "e", State.RESOLVED, None)
        self.assertEqual(checkComplete(None, complete, NOW), Status.TASK_NOT_FOUND)
        self.assertEqual(checkComplete(task, complete, NOW + 1001),
                         Status.TASK_ALREADY_TIMEDOUT)
        self.assertEqual(
            checkComplete(task, CompleteTask("jobs/1", 3, "e", State.RESOLVED, None), NOW),
            Status.TASK_INVALID_COUNTER)
        self.assertEqual(checkComplete(completed(task, NOW), complete, NOW),
                         Status.TASK_ALREADY_COMPLETED)
