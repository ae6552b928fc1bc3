# -*- test-case-name: tests.unit.test_model_lock -*-
"""
Tests for L{resonate.model.lock}: the rules of distributed locks, as pure
functions of the stored lock, the request and C{now}.
"""

from twisted.trial import unittest

from resonate.model.lock import (
    AcquireLock,
    InsertLock,
    Lock,
    LockDecision,
    ReplaceLock,
    decideAcquire,
    heartbeat,
    isExpired,
)
from resonate.status import Status

#: A fixed C{now}, in Unix epoch milliseconds.
NOW = 1_700_000_000_000

#: A lock held by C{execution.1} of C{process.1}, expiring at C{NOW + 1000}.
HELD = Lock(
    resourceId="resource",
    processId="process.1",
    executionId="execution.1",
    expiryInMilliseconds=1000,
    expiresAt=NOW + 1000,
)


def request(executionId="execution.1", processId="process.1", expiry=500):
    """
    A request to acquire C{resource}.
    """
    return AcquireLock(
        resourceId="resource",
        processId=processId,
        executionId=executionId,
        expiryInMilliseconds=expiry,
    )


class IsExpiredTests(unittest.SynchronousTestCase):
    """
    Tests for L{isExpired}.
    """

    def test_beforeExpiry(self):
        """
        A lock has not expired before C{expiresAt}.
        """
        self.assertFalse(isExpired(HELD, NOW))
        self.assertFalse(isExpired(HELD, HELD.expiresAt - 1))

    def test_atExpiry(self):
        """
        A lock has expired at C{expiresAt}: expiry is inclusive.
        """
        self.assertTrue(isExpired(HELD, HELD.expiresAt))

    def test_afterExpiry(self):
        """
        A lock has expired after C{expiresAt}.
        """
        self.assertTrue(isExpired(HELD, HELD.expiresAt + 1))


class DecideAcquireTests(unittest.SynchronousTestCase):
    """
    Tests for L{decideAcquire}.
    """

    def test_free(self):
        """
        A free resource is granted (201): a new lock expiring one lease from
        C{now}, to be inserted.
        """
        decision = decideAcquire(None, request(), NOW)
        lock = Lock("resource", "process.1", "execution.1", 500, NOW + 500)
        self.assertEqual(
            decision, LockDecision(Status.CREATED, lock, InsertLock(lock))
        )

    def test_reentrant(self):
        """
        The holding execution is granted its lock again, with the process
        and lease of its request, replacing the stored lock.
        """
        decision = decideAcquire(
            HELD, request(processId="process.2", expiry=7), NOW + 10
        )
        lock = Lock("resource", "process.2", "execution.1", 7, NOW + 17)
        self.assertEqual(
            decision,
            LockDecision(Status.CREATED, lock, ReplaceLock(HELD, lock)),
        )

    def test_reentrantAfterExpiry(self):
        """
        The holding execution is granted its expired lock again.
        """
        decision = decideAcquire(HELD, request(), HELD.expiresAt + 5)
        self.assertIs(decision.status, Status.CREATED)
        self.assertEqual(decision.lock.expiresAt, HELD.expiresAt + 505)
        self.assertEqual(decision.write, ReplaceLock(HELD, decision.lock))

    def test_heldByAnother(self):
        """
        Another execution is refused (403, 4034) while the lock has not
        expired, whatever its process; nothing is written.
        """
        for processId in ["process.1", "process.2"]:
            for now in [NOW, HELD.expiresAt - 1]:
                decision = decideAcquire(
                    HELD, request("execution.2", processId), now
                )
                self.assertEqual(
                    decision, LockDecision(Status.LOCK_ALREADY_ACQUIRED)
                )
                self.assertIsNone(decision.lock)
                self.assertIsNone(decision.write)

    def test_expiredTakenOver(self):
        """
        Another execution takes over a lock from its C{expiresAt} on, even
        though no sweep has deleted it, replacing exactly the stored lock.
        """
        for now in [HELD.expiresAt, HELD.expiresAt + 60_000]:
            decision = decideAcquire(
                HELD, request("execution.2", "process.2"), now
            )
            lock = Lock("resource", "process.2", "execution.2", 500, now + 500)
            self.assertEqual(
                decision,
                LockDecision(Status.CREATED, lock, ReplaceLock(HELD, lock)),
            )

    def test_requestUnchanged(self):
        """
        Deciding changes neither the stored lock nor the request (they are
        values).
        """
        acquire = request("execution.2")
        decideAcquire(HELD, acquire, HELD.expiresAt)
        self.assertEqual(acquire, request("execution.2"))
        self.assertEqual(HELD.expiresAt, NOW + 1000)


class HeartbeatTests(unittest.SynchronousTestCase):
    """
    Tests for L{heartbeat}.
    """

    def test_oneLeaseFromNow(self):
        """
        A heartbeat sets the lock to expire one lease after C{now},
        changing nothing else.
        """
        beaten = heartbeat(HELD, NOW + 300)
        self.assertEqual(
            beaten,
            Lock("resource", "process.1", "execution.1", 1000, NOW + 1300),
        )

    def test_noRunaway(self):
        """
        Repeated heartbeats at one time give one expiry: the lease counts
        from C{now}, not from the previous expiry.
        """
        once = heartbeat(HELD, NOW + 300)
        self.assertEqual(heartbeat(once, NOW + 300), once)

    def test_expired(self):
        """
        A heartbeat extends an expired lock from C{now} too.
        """
        later = HELD.expiresAt + 5000
        self.assertEqual(heartbeat(HELD, later).expiresAt, later + 1000)

    def test_original(self):
        """
        A heartbeat gives a new lock; the original is unchanged.
        """
        heartbeat(HELD, NOW + 300)
        self.assertEqual(HELD.expiresAt, NOW + 1000)
