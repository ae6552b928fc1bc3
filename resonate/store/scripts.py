# -*- test-case-name: tests.test_store_memory -*-
"""
Transaction scripts shared by every store with synchronous transactions.

Each script runs inside one transaction over an L{IPromiseRows} provider:
read the row, let the state machine decide, write conditionally.  A
conditional write that finds the row changed under it (possible only where
several writers share a database) restarts the script from the read.
"""

from resonate.errors import StoreFailure
from resonate.model.promise import (
    Insert,
    Update,
    decideComplete,
    decideCreate,
    decideRead,
    pageOf,
    timedOut,
)

#: How often a script may find its row changed before giving up.
MAX_ATTEMPTS = 16


def applyWrite(rows, write):
    """
    Carry out a decision's write.

    @return: C{True} when the write happened (or there was none); C{False}
        when its condition no longer held.
    """
    if write is None:
        return True
    if isinstance(write, Insert):
        return rows.insertPromise(write.promise)
    if isinstance(write, Update):
        return rows.updatePromise(write.promise)
    raise TypeError(f"unknown write {write!r}")


def _decideAndWrite(rows, promiseId, decide):
    for _ in range(MAX_ATTEMPTS):
        decision = decide(rows.readPromise(promiseId))
        if applyWrite(rows, decision.write):
            return decision
    raise StoreFailure(f"promise {promiseId!r} kept changing; gave up")


def readPromise(rows, promiseId, now):
    """
    Read a promise, timing it out if it is due.
    """
    return _decideAndWrite(rows, promiseId, lambda p: decideRead(p, now))


def createPromise(rows, request, now):
    """
    Create a promise or deduplicate the request.
    """
    return _decideAndWrite(
        rows, request.id, lambda p: decideCreate(p, request, now)
    )


def completePromise(rows, request, now):
    """
    Complete a promise or deduplicate the request.
    """
    return _decideAndWrite(
        rows, request.id, lambda p: decideComplete(p, request, now)
    )


def timeoutPromises(rows, now, limit):
    """
    Time out overdue promises, at most C{limit} of them (all when L{None}).

    @return: how many were timed out.
    """
    count = 0
    for promise in rows.overduePromises(now, limit):
        if rows.updatePromise(timedOut(promise)):
            count += 1
    return count


def searchPromises(rows, query, now):
    """
    Sweep every overdue promise, then search: no search ever returns a
    promise that is pending past its timeout.
    """
    timeoutPromises(rows, now, None)
    return pageOf(query, rows.searchPromises(query))
