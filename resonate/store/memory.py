# -*- test-case-name: tests.unit.test_store_memory -*-
"""
The in-memory store: the executable reference for every other store.

It is little more than a dict around the shared transaction scripts, which
is the point: where a SQL store disagrees with it, the SQL store is wrong.
Nothing survives a restart; use it for tests and C{kind: memory}.

A request is all or nothing, as a database transaction is: every write
notes what it replaces in an undo log, and a script that fails part way
has its writes undone, newest first, before its request fails.
"""

from copy import deepcopy
from dataclasses import replace
from heapq import nsmallest

from twisted.internet.defer import fail, succeed
from zope.interface import implementer

from resonate.errors import ResonateError
from resonate.interfaces import (
    IAdminRows,
    ILockRows,
    IPromiseRows,
    IScheduleRows,
    IStore,
    ITask2026Rows,
    ITaskRows,
)
from resonate.model.lock import heartbeat, isExpired
from resonate.model.promise import (
    ALL_STATES,
    PromiseQuery,
    State,
    asOf,
    matchesPattern,
    matchesQuery,
)
from resonate.model.outbox import OutboxEntry
from resonate.model.task import isDispatchable
from resonate.model.tasks2026 import BRANCH_TAG, Execute, TaskState
from resonate.status import Status
from resonate.store import scripts


#: What an undo log entry holds for a key that had no row.
_ABSENT = object()

#: The addresses a push delivers to (C{dueOutboxFor} with C{push}).
PUSH_PREFIXES = ("http://", "https://")


@implementer(
    IPromiseRows, IScheduleRows, ILockRows, ITaskRows, ITask2026Rows, IAdminRows
)
class MemoryRows:
    """
    Promise rows in a dict, with a counter standing in for C{sort_id}, and
    lock rows in another; the same for schedules, tasks and the 2026
    tables.  (Locks, tasks, callbacks, listeners and outbox entries are
    immutable values: no copies needed.)

    Every write replaces a dict entry (stored rows are never changed in
    place), so undoing one is putting the entry it replaced back: between
    L{begin} and L{commit} each write first notes C{(table, key, previous
    entry)}, and L{rollback} restores them.  Sort ids are not given back,
    as a database sequence's are not: they need only keep increasing.
    """

    def __init__(self):
        self._promises = {}
        self._sortIds = {}
        self._lastSortId = 0
        self._locks = {}
        self._schedules = {}
        self._scheduleSortIds = {}
        self._tasks = {}
        self._tasks2026 = {}
        #: (awaited, awaiter) -> Callback
        self._callbacks = {}
        #: (promiseId, address) -> Listener
        self._listeners = {}
        #: entry id -> OutboxEntry; ids are not given back on rollback.
        self._outbox = {}
        self._lastOutboxId = 0
        self._undo = None

    def begin(self):
        """
        Start a transaction: note what each write replaces from now on.
        """
        self._undo = []

    def commit(self):
        """
        Keep the transaction's writes.
        """
        self._undo = None

    def rollback(self):
        """
        Undo the transaction's writes, newest first.
        """
        undo, self._undo = self._undo, None
        for table, key, previous in reversed(undo or ()):
            if previous is _ABSENT:
                del table[key]
            else:
                table[key] = previous

    def _write(self, table, key):
        """
        About to replace or delete C{table[key]}: note the entry, if a
        transaction is open.
        """
        if self._undo is not None:
            self._undo.append((table, key, table.get(key, _ABSENT)))

    def _insert(self, table, key, value):
        """
        Insert C{value} as C{table[key]} unless that key has a row.

        @return: C{True} if inserted.
        """
        if key in table:
            return False
        self._write(table, key)
        table[key] = value
        return True

    def _replace(self, table, key, previous, value):
        """
        Replace C{table[key]} with C{value} if it is still exactly
        C{previous}.

        @return: C{True} if replaced.
        """
        if table.get(key) != previous:
            return False
        self._write(table, key)
        table[key] = value
        return True

    def ping(self):
        # A dict always answers.
        return None

    def readPromise(self, promiseId):
        return deepcopy(self._promises.get(promiseId))

    def insertPromise(self, promise):
        if promise.id in self._promises:
            return False
        self._lastSortId += 1
        # Copies in and out, as a database would: no caller can change
        # what is stored through a dict it still holds.
        self._write(self._promises, promise.id)
        self._write(self._sortIds, promise.id)
        self._promises[promise.id] = deepcopy(promise)
        self._sortIds[promise.id] = self._lastSortId
        return True

    def updatePromise(self, promise):
        stored = self._promises.get(promise.id)
        if stored is None or stored.state is not State.PENDING:
            return False
        self._write(self._promises, promise.id)
        self._promises[promise.id] = deepcopy(promise)
        return True

    def overduePromises(self, now, limit):
        overdue = [
            p
            for p in self._promises.values()
            if p.state is State.PENDING and p.timeout <= now
        ]
        overdue.sort(key=lambda p: (p.timeout, self._sortIds[p.id]))
        return deepcopy(overdue if limit is None else overdue[:limit])

    def searchPromises(self, query, now):
        if query.limit < 1:
            return []
        found = []
        for promiseId, sortId in sorted(
            self._sortIds.items(), key=lambda item: item[1], reverse=True
        ):
            if query.sortId is not None and sortId >= query.sortId:
                continue
            promise = self._promises[promiseId]
            if matchesQuery(query, asOf(promise, now)):
                found.append((sortId, deepcopy(promise)))
                if len(found) == query.limit:
                    break
        return found

    def readSchedule(self, scheduleId):
        return deepcopy(self._schedules.get(scheduleId))

    def insertSchedule(self, schedule):
        if schedule.id in self._schedules:
            return False
        self._lastSortId += 1
        self._write(self._schedules, schedule.id)
        self._write(self._scheduleSortIds, schedule.id)
        self._schedules[schedule.id] = deepcopy(schedule)
        self._scheduleSortIds[schedule.id] = self._lastSortId
        return True

    def deleteSchedule(self, scheduleId):
        if scheduleId not in self._schedules:
            return False
        self._write(self._schedules, scheduleId)
        self._write(self._scheduleSortIds, scheduleId)
        del self._schedules[scheduleId]
        del self._scheduleSortIds[scheduleId]
        return True

    def searchSchedules(self, query):
        if query.limit < 1:
            return []
        found = []
        for scheduleId, sortId in sorted(
            self._scheduleSortIds.items(), key=lambda item: item[1], reverse=True
        ):
            if query.sortId is not None and sortId >= query.sortId:
                continue
            schedule = self._schedules[scheduleId]
            if matchesPattern(query.id, scheduleId) and _tagged(
                schedule.tags, query.tags
            ):
                found.append((sortId, deepcopy(schedule)))
                if len(found) == query.limit:
                    break
        return found

    def dueSchedules(self, now, limit):
        due = [s for s in self._schedules.values() if s.nextRunTime <= now]
        due.sort(key=lambda s: (s.nextRunTime, self._scheduleSortIds[s.id]))
        return deepcopy(due[:limit])

    def advanceSchedule(self, previous, advanced):
        stored = self._schedules.get(previous.id)
        if stored is None or stored.nextRunTime != previous.nextRunTime:
            return False
        self._write(self._schedules, previous.id)
        self._schedules[previous.id] = replace(
            stored,
            lastRunTime=advanced.lastRunTime,
            nextRunTime=advanced.nextRunTime,
        )
        return True

    def earliestRunTime(self):
        return min(
            (s.nextRunTime for s in self._schedules.values()), default=None
        )

    def readTask(self, taskId):
        return self._tasks.get(taskId)

    def insertTask(self, task):
        return self._insert(self._tasks, task.id, task)

    def updateTask(self, previous, task):
        stored = self._tasks.get(previous.id)
        if stored is None or (
            stored.counter,
            stored.claimTimeout,
            stored.completeTimeout,
            stored.isCompleted,
        ) != (
            previous.counter,
            previous.claimTimeout,
            previous.completeTimeout,
            previous.isCompleted,
        ):
            return False
        self._write(self._tasks, previous.id)
        self._tasks[previous.id] = task
        return True

    def dispatchableTasks(self, now, limit):
        due = [t for t in self._tasks.values() if isDispatchable(t, now)]
        due.sort(key=lambda t: (t.createdOn, t.id))
        return due[:limit]

    def readTask2026(self, taskId):
        return self._tasks2026.get(taskId)

    def insertTask2026(self, task):
        return self._insert(self._tasks2026, task.id, task)

    def updateTask2026(self, previous, task):
        return self._replace(self._tasks2026, previous.id, previous, task)

    def dueTasks2026(self, now, limit):
        due = [
            t
            for t in self._tasks2026.values()
            if t.timeoutAt is not None and t.timeoutAt <= now
        ]
        due.sort(key=lambda t: (t.timeoutAt, t.id))
        return due if limit is None else due[:limit]

    def insertCallback(self, callback):
        return self._insert(
            self._callbacks, (callback.awaited, callback.awaiter), callback
        )

    def _replaceCallbacks(self, chosen, change):
        """
        Replace (C{change} returns the new callback) or, when C{change} is
        L{None}, delete each callback C{chosen(callback)} is true for.

        @return: how many that was.
        """
        keys = [key for key, c in self._callbacks.items() if chosen(c)]
        for key in keys:
            self._write(self._callbacks, key)
            if change is None:
                del self._callbacks[key]
            else:
                self._callbacks[key] = change(self._callbacks[key])
        return len(keys)

    def readyCallbacks(self, awaited):
        return self._replaceCallbacks(
            lambda c: c.awaited == awaited, lambda c: replace(c, ready=True)
        )

    def deleteReadyCallbacks(self, awaiter):
        return self._replaceCallbacks(
            lambda c: c.awaiter == awaiter and c.ready, None
        )

    def deleteCallbacks(self, awaiter):
        return self._replaceCallbacks(lambda c: c.awaiter == awaiter, None)

    def callbacksOf(self, awaited):
        return sorted(
            (c for c in self._callbacks.values() if c.awaited == awaited),
            key=lambda c: c.awaiter,
        )

    def callbacksOfAwaiter(self, awaiter):
        return sorted(
            (c for c in self._callbacks.values() if c.awaiter == awaiter),
            key=lambda c: c.awaited,
        )

    def insertListener(self, listener):
        return self._insert(
            self._listeners, (listener.promiseId, listener.address), listener
        )

    def listenersOf(self, promiseId):
        return sorted(
            (l for l in self._listeners.values() if l.promiseId == promiseId),
            key=lambda l: l.address,
        )

    def deleteListeners(self, promiseId):
        keys = [key for key in self._listeners if key[0] == promiseId]
        for key in keys:
            self._write(self._listeners, key)
            del self._listeners[key]
        return len(keys)

    def insertOutbox(self, message, now):
        for entry in list(self._outbox.values()):
            if _sameSlot(entry.message, message):
                if not isinstance(message, Execute):
                    return False
                # A newer execute replaces the undelivered older one.
                self._write(self._outbox, entry.id)
                del self._outbox[entry.id]
        self._lastOutboxId += 1
        self._write(self._outbox, self._lastOutboxId)
        self._outbox[self._lastOutboxId] = OutboxEntry(
            self._lastOutboxId, message, now, 0, now
        )
        return True

    def dueOutbox(self, now, limit):
        due = [e for e in self._outbox.values() if e.nextAttemptAt <= now]
        due.sort(key=lambda e: (e.nextAttemptAt, e.id))
        return due if limit is None else due[:limit]

    def dueOutboxFor(self, now, limit, addresses, prefixes, push):
        starts = (*prefixes, *(PUSH_PREFIXES if push else ()))
        addresses = frozenset(addresses)
        due = [
            e
            for e in self._outbox.values()
            if e.nextAttemptAt <= now
            and (
                e.message.address in addresses
                or e.message.address.startswith(starts)
            )
        ]
        return nsmallest(limit, due, key=lambda e: (e.nextAttemptAt, e.id))

    def deleteOutbox(self, entryId):
        if entryId not in self._outbox:
            return False
        self._write(self._outbox, entryId)
        del self._outbox[entryId]
        return True

    def deferOutbox(self, entryId, attempts, nextAttemptAt):
        entry = self._outbox.get(entryId)
        if entry is None:
            return False
        self._write(self._outbox, entryId)
        self._outbox[entryId] = replace(
            entry, attempts=attempts, nextAttemptAt=nextAttemptAt
        )
        return True

    def expiredOutbox(self, createdBefore, limit):
        expired = [e for e in self._outbox.values() if e.createdOn <= createdBefore]
        return nsmallest(limit, expired, key=lambda e: (e.createdOn, e.id))

    def promisesById(self, state, tags, afterId, limit, now):
        query = PromiseQuery(
            states=ALL_STATES if state is None else frozenset([state]),
            tags=tags,
        )
        return deepcopy(
            _pageById(
                self._promises,
                afterId,
                limit,
                lambda p: matchesQuery(query, asOf(p, now)),
            )
        )

    def tasksById(self, state, afterId, limit):
        return _pageById(
            self._tasks2026,
            afterId,
            limit,
            lambda t: state is None or t.state is state,
        )

    def schedulesById(self, promiseTags, afterId, limit):
        return deepcopy(
            _pageById(
                self._schedules,
                afterId,
                limit,
                lambda s: _tagged(s.promiseTags, promiseTags),
            )
        )

    def branchPromises(self, branch, limit):
        return deepcopy(
            _pageById(
                self._promises,
                None,
                limit,
                lambda p: p.tags.get(BRANCH_TAG) == branch,
            )
        )

    def allCallbacks(self):
        return [self._callbacks[key] for key in sorted(self._callbacks)]

    def allListeners(self):
        return [self._listeners[key] for key in sorted(self._listeners)]

    def deleteEverything(self):
        for table in (
            self._promises,
            self._sortIds,
            self._locks,
            self._schedules,
            self._scheduleSortIds,
            self._tasks,
            self._tasks2026,
            self._callbacks,
            self._listeners,
            self._outbox,
        ):
            for key in list(table):
                self._write(table, key)
                del table[key]

    # IAdminRows

    def locksById(self, afterId, limit):
        return _pageById(self._locks, afterId, limit, lambda l: True)

    def tasks05ById(self, afterId, limit):
        return _pageById(self._tasks, afterId, limit, lambda t: True)

    def tasks05Of(self, promiseId):
        return _pageById(self._tasks, None, None, lambda t: t.promiseId == promiseId)

    def settledPromises(self, settledBefore, after, limit):
        chosen = [
            p
            for p in self._promises.values()
            if p.state is not State.PENDING
            and p.completedOn < settledBefore
            and (after is None or (p.completedOn, p.id) > tuple(after))
        ]
        return deepcopy(nsmallest(limit, chosen, key=lambda p: (p.completedOn, p.id)))

    def unfinishedAmong(self, promiseIds):
        ids = set(promiseIds)
        unfinished = {
            t.id
            for t in self._tasks2026.values()
            if t.id in ids and t.state is not TaskState.FULFILLED
        }
        unfinished.update(
            t.promiseId
            for t in self._tasks.values()
            if t.promiseId in ids and not t.isCompleted
        )
        return list(unfinished)

    def callbacksOnEach(self, promiseIds):
        ids = set(promiseIds)
        return [c for c in self._callbacks.values() if c.awaited in ids]

    def pendingAmong(self, promiseIds):
        return [
            i
            for i in promiseIds
            if i in self._promises and self._promises[i].state is State.PENDING
        ]

    def deleteSettledPromises(self, promises):
        deleted = []
        for promise in promises:
            stored = self._promises.get(promise.id)
            if (
                stored is not None
                and stored.state is not State.PENDING
                and stored.completedOn == promise.completedOn
            ):
                self._write(self._promises, promise.id)
                self._write(self._sortIds, promise.id)
                del self._promises[promise.id]
                del self._sortIds[promise.id]
                deleted.append(promise.id)
        return deleted

    def _garbageOf(self, promiseIds):
        """
        The keys of the rows L{deleteGarbageOf} deletes, by table.
        """
        ids = set(promiseIds)
        return {
            "tasks": (
                self._tasks2026,
                [
                    k
                    for k, t in self._tasks2026.items()
                    if k in ids and t.state is TaskState.FULFILLED
                ],
            ),
            "tasks05": (
                self._tasks,
                [k for k, t in self._tasks.items() if t.promiseId in ids and t.isCompleted],
            ),
            "callbacks": (
                self._callbacks,
                [k for k in self._callbacks if k[0] in ids or k[1] in ids],
            ),
            "listeners": (self._listeners, [k for k in self._listeners if k[0] in ids]),
            "outbox": (
                self._outbox,
                [k for k, e in self._outbox.items() if _about(e.message) in ids],
            ),
        }

    def countGarbageOf(self, promiseIds):
        garbage = self._garbageOf(promiseIds)
        return (
            len(garbage["tasks"][1]) + len(garbage["tasks05"][1]),
            len(garbage["callbacks"][1]),
            len(garbage["listeners"][1]),
        )

    def deleteGarbageOf(self, promiseIds):
        counts = self.countGarbageOf(promiseIds)
        for table, keys in self._garbageOf(promiseIds).values():
            for key in keys:
                self._write(table, key)
                del table[key]
        return counts

    def readLock(self, resourceId):
        return self._locks.get(resourceId)

    def insertLock(self, lock):
        return self._insert(self._locks, lock.resourceId, lock)

    def replaceLock(self, previous, lock):
        return self._replace(self._locks, previous.resourceId, previous, lock)

    def deleteLock(self, resourceId, executionId):
        lock = self._locks.get(resourceId)
        if lock is None or lock.executionId != executionId:
            return False
        self._write(self._locks, resourceId)
        del self._locks[resourceId]
        return True

    def heartbeatLocks(self, processId, now):
        held = [l for l in self._locks.values() if l.processId == processId]
        for lock in held:
            self._write(self._locks, lock.resourceId)
            self._locks[lock.resourceId] = heartbeat(lock, now)
        return len(held)

    def deleteExpiredLocks(self, now, limit):
        expired = [l for l in self._locks.values() if isExpired(l, now)]
        expired.sort(key=lambda l: l.expiresAt)
        for lock in expired[:limit]:
            self._write(self._locks, lock.resourceId)
            del self._locks[lock.resourceId]
        return len(expired[:limit])


def _tagged(tags, wanted):
    """
    Whether C{tags} include every pair of C{wanted}.
    """
    return all(tags.get(k) == v for k, v in wanted.items())


def _pageById(table, afterId, limit, chosen):
    """
    The rows of C{table} (a dict by id) that C{chosen(row)} is true for,
    with an id greater than C{afterId} (any when L{None}), by id ascending
    (code-point order, as C{sorted} compares strings), at most C{limit}
    (all when L{None}).
    """
    keys = [
        key
        for key, row in table.items()
        if (afterId is None or key > afterId) and chosen(row)
    ]
    # Only the page is sorted: a preload or a first page of a large table
    # need not sort all of it.
    keys = sorted(keys) if limit is None else nsmallest(limit, keys)
    return [table[key] for key in keys]


def _about(message):
    """
    The promise an outbox message is about: its task's (a task's id is its
    promise's) or the settled one.
    """
    if isinstance(message, Execute):
        return message.taskId
    return message.promiseId


def _sameSlot(stored, message):
    """
    Whether the outbox holds at most one of C{stored} and C{message}: the
    C{execute}s of one task, or the C{unblock}s of one promise and address.
    """
    if type(stored) is not type(message):
        return False
    if isinstance(message, Execute):
        return stored.taskId == message.taskId
    return (stored.promiseId, stored.address) == (message.promiseId, message.address)


@implementer(IStore)
class MemoryStore(scripts.ScriptedStore):
    """
    An L{IStore} kept in memory.  Each method runs its transaction at once
    on the caller's thread; they cannot interleave.  A transaction that
    fails part way is rolled back (L{MemoryRows.rollback}).
    """

    def __init__(self):
        self._rows = MemoryRows()
        self._closed = False

    def runScript(self, script, *args):
        if self._closed:
            return fail(ResonateError(Status.SHUTTING_DOWN))
        rows = self._rows
        rows.begin()
        try:
            result = scripts.runSync(rows, script(*args))
        except BaseException:
            rows.rollback()
            return fail()
        rows.commit()
        return succeed(result)

    def close(self):
        """
        Refuse requests from now on (5030), as a store whose resources are
        released would.
        """
        self._closed = True
        return succeed(None)


class MemoryStoreProvider:
    """
    Makes L{MemoryStore}s (C{kind: memory}).
    """

    name = "memory"
    description = "in memory; nothing survives a restart"
    options = ()

    def makeStore(self, config, reactor):
        return MemoryStore()
