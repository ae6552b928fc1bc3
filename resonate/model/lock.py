# -*- test-case-name: tests.unit.test_model_lock -*-
"""
Distributed locks: their values and rules.

A lock on a resource is held by one execution (of one process) until it
expires.  Acquiring is re-entrant for the holding execution; a lock that
has expired is free to acquire even before the background sweep deletes it.
A process's heartbeat extends every lock it holds.
"""

from dataclasses import dataclass, replace

from resonate.status import Status


@dataclass(frozen=True)
class Lock:
    """
    A held lock.  C{expiresAt} is absolute (epoch milliseconds);
    C{expiryInMilliseconds} is the lease each acquire or heartbeat grants.
    """

    resourceId: str
    processId: str
    executionId: str
    expiryInMilliseconds: int
    expiresAt: int


@dataclass(frozen=True)
class AcquireLock:
    """
    A request to acquire (or re-acquire) a lock.
    """

    resourceId: str
    processId: str
    executionId: str
    expiryInMilliseconds: int


@dataclass(frozen=True)
class ReleaseLock:
    """
    A request to release a lock held by C{executionId}.
    """

    resourceId: str
    executionId: str


@dataclass(frozen=True)
class InsertLock:
    """
    Write: insert C{lock}; its resource must have no lock row.
    """

    lock: Lock


@dataclass(frozen=True)
class ReplaceLock:
    """
    Write: replace C{previous}, on condition that the stored row is still
    exactly C{previous} (same holder, same expiry).
    """

    previous: Lock
    lock: Lock


@dataclass(frozen=True)
class LockDecision:
    """
    The outcome of a lock request: the status, the lock to answer with, and
    the write to make (or L{None}).
    """

    status: Status
    lock: Lock = None
    write: object = None


def isExpired(lock, now):
    """
    Whether C{lock} has expired.  Expiry is inclusive, as for promises.
    """
    return now >= lock.expiresAt


def decideAcquire(existing, request, now):
    """
    Acquire a lock: granted (201) when the resource is free, its lock has
    expired, or the requesting execution already holds it; otherwise 403.
    """
    lock = Lock(
        resourceId=request.resourceId,
        processId=request.processId,
        executionId=request.executionId,
        expiryInMilliseconds=request.expiryInMilliseconds,
        expiresAt=now + request.expiryInMilliseconds,
    )
    if existing is None:
        return LockDecision(Status.CREATED, lock, InsertLock(lock))
    if existing.executionId == request.executionId or isExpired(existing, now):
        return LockDecision(Status.CREATED, lock, ReplaceLock(existing, lock))
    return LockDecision(Status.LOCK_ALREADY_ACQUIRED)


def heartbeat(lock, now):
    """
    The lock as a heartbeat leaves it: expiring one lease from C{now} (not
    from its previous expiry, which would run away).
    """
    return replace(lock, expiresAt=now + lock.expiryInMilliseconds)
