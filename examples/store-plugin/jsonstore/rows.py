# -*- test-case-name: jsonstore.test.test_store -*-
"""
The rows of the C{jsonfile} store, and their JSON form.

The shared transaction scripts of L{resonate.store.scripts} do all the
deciding (read a row, ask L{resonate.model}, write conditionally); a store
supplies only rows for them to run over, providing the row interfaces of
L{resonate.interfaces}.  These rows are kept as the very JSON documents the
file holds: a read decodes a fresh model object from its document, a write
encodes one, and saving the store is dumping the documents as they are.
So no caller ever shares a dict with what is stored, and what is in memory
is what is on disk.

A request is all or nothing: between L{JSONRows.begin} and
L{JSONRows.commit} every write notes the document it replaces in an undo
log, and L{JSONRows.rollback} puts them back, newest first.
"""

import base64
from dataclasses import fields

from zope.interface import implementer

from jsonstore.rows2026 import (
    Task2026RowsMixin,
    decodeCallback,
    decodeListener,
    decodeMessage,
    decodeTask2026,
    dump2026,
    load2026,
)
from resonate.interfaces import (
    IAdminRows,
    ILockRows,
    IPromiseRows,
    IScheduleRows,
    ITask2026Rows,
    ITaskRows,
)
from resonate.model.lock import Lock, heartbeat, isExpired
from resonate.model.promise import (
    ALL_STATES,
    Promise,
    PromiseQuery,
    State,
    Value,
    asOf,
    matchesPattern,
    matchesQuery,
)
from resonate.model.schedule import Schedule
from resonate.model.task import Task, isDispatchable
from resonate.model.tasks2026 import BRANCH_TAG, TaskState

#: What the file says it is, so that another JSON file is not taken for a
#: store (and a later format can be told from this one).
FORMAT = "resonate-jsonfile"
VERSION = 1

#: What the undo log notes for a key that had no document.
_ABSENT = object()

_PENDING = State.PENDING.value


class CorruptDocument(ValueError):
    """
    A document is not what L{JSONRows.toDocument} writes.
    """


# Each row is a JSON object with one member per field of its model class
# (so a field added to the model is kept without a change here), except
# that states are their names, values are {"headers": ..., "data": base64
# or null}, and promises and schedules carry their "sortId".


def encodeValue(value):
    """
    The JSON form of a L{Value}: its data, which is any bytes, in base64.
    """
    data = value.data
    if data is not None:
        data = base64.b64encode(data).decode("ascii")
    return {"headers": dict(value.headers), "data": data}


def decodeValue(document):
    """
    The L{Value} whose JSON form is C{document}.

    @raise ValueError: its data is not base64.
    """
    data = document["data"]
    return Value(
        headers=dict(document["headers"]),
        data=None if data is None else base64.b64decode(data, validate=True),
    )


def _encode(row, **special):
    """
    The JSON document of the model object C{row}: each field by name, its
    dicts (tags, headers) copied, and the fields in C{special} replaced by
    their JSON form.
    """
    document = {}
    for each in fields(row):
        value = getattr(row, each.name)
        document[each.name] = dict(value) if isinstance(value, dict) else value
    document.update(special)
    return document


def _decode(rowClass, document, **special):
    """
    A new C{rowClass} from its JSON C{document}, its dicts copied, with the
    fields in C{special} decoded by the caller and C{sortId} left out.
    """
    values = {
        name: dict(value) if isinstance(value, dict) else value
        for name, value in document.items()
        if name != "sortId"
    }
    values.update(special)
    return rowClass(**values)


def encodePromise(promise, sortId):
    """
    The JSON document of a L{Promise}, with its C{sortId}.
    """
    return _encode(
        promise,
        state=promise.state.value,
        param=encodeValue(promise.param),
        value=encodeValue(promise.value),
        sortId=sortId,
    )


def decodePromise(document):
    """
    The L{Promise} of a document of L{encodePromise}.
    """
    return _decode(
        Promise,
        document,
        state=State(document["state"]),
        param=decodeValue(document["param"]),
        value=decodeValue(document["value"]),
    )


def encodeSchedule(schedule, sortId):
    """
    The JSON document of a L{Schedule}, with its C{sortId}.
    """
    return _encode(
        schedule,
        promiseParam=encodeValue(schedule.promiseParam),
        sortId=sortId,
    )


def decodeSchedule(document):
    """
    The L{Schedule} of a document of L{encodeSchedule}.
    """
    return _decode(
        Schedule, document, promiseParam=decodeValue(document["promiseParam"])
    )


def encodeLock(lock):
    """
    The JSON document of a L{Lock}.
    """
    return _encode(lock)


def decodeLock(document):
    """
    The L{Lock} of a document of L{encodeLock}.
    """
    return _decode(Lock, document)


def encodeTask(task):
    """
    The JSON document of a L{Task}.
    """
    return _encode(task)


def decodeTask(document):
    """
    The L{Task} of a document of L{encodeTask}.
    """
    return _decode(Task, document)


def _table(document, name, key, decode):
    """
    The table C{name} of a store document, by C{key}, each row decoded once
    to check it.

    @raise CorruptDocument: the table is missing, or one of its rows does
        not decode, or two have the same id.
    """
    rows = document.get(name)
    if not isinstance(rows, list):
        raise CorruptDocument(f"its {name} are not a list")
    table = {}
    for index, row in enumerate(rows):
        try:
            decode(row)
            rowId = row[key]
            if not isinstance(rowId, str):
                raise TypeError(f"{key} is not a string")
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise CorruptDocument(
                f"{name}[{index}] is not one of its {name} "
                f"({type(e).__name__}: {e})"
            ) from None
        if rowId in table:
            raise CorruptDocument(f"{name}[{index}] repeats the id {rowId!r}")
        table[rowId] = row
    return table


def _bySortId(table):
    """
    The documents of C{table}, newest (largest C{sortId}) first.
    """
    return sorted(table.values(), key=lambda d: d["sortId"], reverse=True)


def _byId(table, afterId, limit, decode, chosen):
    """
    The rows of C{table} (documents by id) that C{chosen(row)} is true
    for, each decoded by C{decode}, with an id greater than C{afterId} (any
    when L{None}), by id ascending (code-point order, as C{sorted} compares
    strings), at most C{limit} (all when L{None}).
    """
    found = []
    for rowId in sorted(table):
        if limit is not None and len(found) >= limit:
            break
        if afterId is not None and rowId <= afterId:
            continue
        row = decode(table[rowId])
        if chosen(row):
            found.append(row)
    return found


def _includes(tags, wanted):
    """
    Whether C{tags} include every pair of C{wanted}.
    """
    return all(tags.get(k) == v for k, v in wanted.items())


@implementer(
    IPromiseRows, IScheduleRows, ILockRows, ITaskRows, ITask2026Rows, IAdminRows
)
class JSONRows(Task2026RowsMixin):
    """
    Promise, schedule, lock and task rows as JSON documents, in one dict
    per table, by id, and the 2026 tables (tasks, callbacks, listeners,
    outbox) of L{Task2026RowsMixin} beside them.  Promises and schedules
    get their C{sortId} from one counter, as from a database sequence: it
    only increases, and is not given back by a rollback.

    Documents are never changed in place: a write puts a new document in
    its table, so undoing it is putting the one it replaced back.
    """

    def __init__(self):
        # The mixin's __init__ gives the 2026 tables.
        super().__init__()
        self._promises = {}
        self._schedules = {}
        self._locks = {}
        self._tasks = {}
        self._lastSortId = 0
        self._undo = None

    # Transactions.

    def begin(self):
        """
        Start a transaction: note what each write replaces from now on.
        """
        self._undo = []

    @property
    def changed(self):
        """
        Whether the open transaction has written anything (and so the file
        must be written before it is answered).
        """
        return bool(self._undo)

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

    def _put(self, table, key, document):
        if self._undo is not None:
            self._undo.append((table, key, table.get(key, _ABSENT)))
        table[key] = document

    def _remove(self, table, key):
        if self._undo is not None:
            self._undo.append((table, key, table[key]))
        del table[key]

    def _nextSortId(self):
        self._lastSortId += 1
        return self._lastSortId

    # The file's document.

    def toDocument(self):
        """
        Everything stored, as one JSON-serialisable document (which shares
        the stored documents: dump it before the next write).
        """
        document = {
            "format": FORMAT,
            "version": VERSION,
            "lastSortId": self._lastSortId,
            "promises": list(self._promises.values()),
            "schedules": list(self._schedules.values()),
            "locks": list(self._locks.values()),
            "tasks": list(self._tasks.values()),
        }
        return dump2026(self, document)

    @classmethod
    def fromDocument(cls, document):
        """
        Rows holding what a document of L{toDocument} holds.  Every row is
        decoded once here, so a damaged file is refused when the store
        opens rather than at the request that reads the damaged row.

        @raise CorruptDocument: C{document} is not such a document; the
            message says what is wrong with it, in one line.
        """
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise CorruptDocument(f"it does not say \"format\": \"{FORMAT}\"")
        if document.get("version") != VERSION:
            raise CorruptDocument(
                f"format version {document.get('version')!r} is not "
                f"{VERSION}, the one this store reads"
            )
        rows = cls()
        rows._promises = _table(document, "promises", "id", decodePromise)
        rows._schedules = _table(document, "schedules", "id", decodeSchedule)
        rows._locks = _table(document, "locks", "resourceId", decodeLock)
        rows._tasks = _table(document, "tasks", "id", decodeTask)
        lastSortId = document.get("lastSortId")
        sortIds = [
            d.get("sortId")
            for d in (*rows._promises.values(), *rows._schedules.values())
        ]
        if not isinstance(lastSortId, int) or not all(
            isinstance(s, int) and s <= lastSortId for s in sortIds
        ):
            raise CorruptDocument(
                "its sortIds are not integers up to its lastSortId"
            )
        rows._lastSortId = lastSortId
        return load2026(rows, document)

    # IPromiseRows

    def ping(self):
        # The rows are in memory: they always answer.  (A disk that went
        # away shows at the next write, which fails.)
        return None

    def readPromise(self, promiseId):
        document = self._promises.get(promiseId)
        return None if document is None else decodePromise(document)

    def insertPromise(self, promise):
        if promise.id in self._promises:
            return False
        document = encodePromise(promise, self._nextSortId())
        self._put(self._promises, promise.id, document)
        return True

    def updatePromise(self, promise):
        stored = self._promises.get(promise.id)
        if stored is None or stored["state"] != _PENDING:
            return False
        document = encodePromise(promise, stored["sortId"])
        self._put(self._promises, promise.id, document)
        return True

    def overduePromises(self, now, limit):
        overdue = [
            d
            for d in self._promises.values()
            if d["state"] == _PENDING and d["timeout"] <= now
        ]
        overdue.sort(key=lambda d: (d["timeout"], d["sortId"]))
        if limit is not None:
            overdue = overdue[:limit]
        return [decodePromise(d) for d in overdue]

    def searchPromises(self, query, now):
        found = []
        for document in _bySortId(self._promises):
            if len(found) >= query.limit:
                break
            if query.sortId is not None and document["sortId"] >= query.sortId:
                continue
            promise = decodePromise(document)
            if matchesQuery(query, asOf(promise, now)):
                found.append((document["sortId"], promise))
        return found

    # IScheduleRows

    def readSchedule(self, scheduleId):
        document = self._schedules.get(scheduleId)
        return None if document is None else decodeSchedule(document)

    def insertSchedule(self, schedule):
        if schedule.id in self._schedules:
            return False
        document = encodeSchedule(schedule, self._nextSortId())
        self._put(self._schedules, schedule.id, document)
        return True

    def deleteSchedule(self, scheduleId):
        if scheduleId not in self._schedules:
            return False
        self._remove(self._schedules, scheduleId)
        return True

    def searchSchedules(self, query):
        found = []
        for document in _bySortId(self._schedules):
            if len(found) >= query.limit:
                break
            if query.sortId is not None and document["sortId"] >= query.sortId:
                continue
            if matchesPattern(query.id, document["id"]) and _includes(
                document["tags"], query.tags
            ):
                found.append((document["sortId"], decodeSchedule(document)))
        return found

    def dueSchedules(self, now, limit):
        due = [d for d in self._schedules.values() if d["nextRunTime"] <= now]
        due.sort(key=lambda d: (d["nextRunTime"], d["sortId"]))
        return [decodeSchedule(d) for d in due[:limit]]

    def advanceSchedule(self, previous, advanced):
        stored = self._schedules.get(previous.id)
        if stored is None or stored["nextRunTime"] != previous.nextRunTime:
            return False
        document = dict(
            stored,
            lastRunTime=advanced.lastRunTime,
            nextRunTime=advanced.nextRunTime,
        )
        self._put(self._schedules, previous.id, document)
        return True

    def earliestRunTime(self):
        return min(
            (d["nextRunTime"] for d in self._schedules.values()), default=None
        )

    # ITaskRows

    def readTask(self, taskId):
        document = self._tasks.get(taskId)
        return None if document is None else decodeTask(document)

    def insertTask(self, task):
        if task.id in self._tasks:
            return False
        self._put(self._tasks, task.id, encodeTask(task))
        return True

    def updateTask(self, previous, task):
        stored = self._tasks.get(previous.id)
        if stored is None or (
            stored["counter"],
            stored["claimTimeout"],
            stored["completeTimeout"],
            stored["isCompleted"],
        ) != (
            previous.counter,
            previous.claimTimeout,
            previous.completeTimeout,
            previous.isCompleted,
        ):
            return False
        self._put(self._tasks, previous.id, encodeTask(task))
        return True

    def dispatchableTasks(self, now, limit):
        tasks = [decodeTask(d) for d in self._tasks.values()]
        due = [t for t in tasks if isDispatchable(t, now)]
        due.sort(key=lambda t: (t.createdOn, t.id))
        return due[:limit]

    # ILockRows

    def readLock(self, resourceId):
        document = self._locks.get(resourceId)
        return None if document is None else decodeLock(document)

    def insertLock(self, lock):
        if lock.resourceId in self._locks:
            return False
        self._put(self._locks, lock.resourceId, encodeLock(lock))
        return True

    def replaceLock(self, previous, lock):
        if self._locks.get(previous.resourceId) != encodeLock(previous):
            return False
        self._put(self._locks, lock.resourceId, encodeLock(lock))
        return True

    def deleteLock(self, resourceId, executionId):
        stored = self._locks.get(resourceId)
        if stored is None or stored["executionId"] != executionId:
            return False
        self._remove(self._locks, resourceId)
        return True

    def heartbeatLocks(self, processId, now):
        held = [
            decodeLock(d)
            for d in self._locks.values()
            if d["processId"] == processId
        ]
        for lock in held:
            extended = encodeLock(heartbeat(lock, now))
            self._put(self._locks, lock.resourceId, extended)
        return len(held)

    def deleteExpiredLocks(self, now, limit):
        locks = [decodeLock(d) for d in self._locks.values()]
        expired = sorted(
            (l for l in locks if isExpired(l, now)), key=lambda l: l.expiresAt
        )[:limit]
        for lock in expired:
            self._remove(self._locks, lock.resourceId)
        return len(expired)

    # ITask2026Rows: its searches and debug operations (the table
    # operations are Task2026RowsMixin's).

    def promisesById(self, state, tags, afterId, limit, now):
        query = PromiseQuery(
            states=ALL_STATES if state is None else frozenset([state]),
            tags=tags,
        )
        return _byId(
            self._promises,
            afterId,
            limit,
            decodePromise,
            lambda p: matchesQuery(query, asOf(p, now)),
        )

    def tasksById(self, state, afterId, limit):
        return _byId(
            self._tasks2026,
            afterId,
            limit,
            decodeTask2026,
            lambda t: state is None or t.state is state,
        )

    def schedulesById(self, promiseTags, afterId, limit):
        return _byId(
            self._schedules,
            afterId,
            limit,
            decodeSchedule,
            lambda s: _includes(s.promiseTags, promiseTags),
        )

    def branchPromises(self, branch, limit):
        return _byId(
            self._promises,
            None,
            limit,
            decodePromise,
            lambda p: p.tags.get(BRANCH_TAG) == branch,
        )

    def allCallbacks(self):
        # Keys are (awaited, awaiter): sorted, they are the order asked.
        return [decodeCallback(self._callbacks[k]) for k in sorted(self._callbacks)]

    def allListeners(self):
        # Keys are (promiseId, address).
        return [decodeListener(self._listeners[k]) for k in sorted(self._listeners)]

    # IAdminRows: the console's reads and retention.

    def locksById(self, afterId, limit):
        return _byId(self._locks, afterId, limit, decodeLock, lambda l: True)

    def tasks05ById(self, afterId, limit):
        return _byId(self._tasks, afterId, limit, decodeTask, lambda t: True)

    def tasks05Of(self, promiseId):
        return _byId(
            self._tasks, None, None, decodeTask, lambda t: t.promiseId == promiseId
        )

    def settledPromises(self, settledBefore, after, limit):
        chosen = [
            d
            for d in self._promises.values()
            if d["state"] != _PENDING
            and d["completedOn"] < settledBefore
            and (after is None or (d["completedOn"], d["id"]) > tuple(after))
        ]
        chosen.sort(key=lambda d: (d["completedOn"], d["id"]))
        return [decodePromise(d) for d in chosen[:limit]]

    def unfinishedAmong(self, promiseIds):
        ids = set(promiseIds)
        unfinished = {
            key
            for key, d in self._tasks2026.items()
            if key in ids and d["state"] != TaskState.FULFILLED.value
        }
        unfinished.update(
            d["promiseId"]
            for d in self._tasks.values()
            if d["promiseId"] in ids and not d["isCompleted"]
        )
        return list(unfinished)

    def callbacksOnEach(self, promiseIds):
        ids = set(promiseIds)
        return [decodeCallback(d) for k, d in self._callbacks.items() if k[0] in ids]

    def pendingAmong(self, promiseIds):
        return [
            i
            for i in promiseIds
            if i in self._promises and self._promises[i]["state"] == _PENDING
        ]

    def deleteSettledPromises(self, promises):
        deleted = []
        for promise in promises:
            stored = self._promises.get(promise.id)
            if (
                stored is not None
                and stored["state"] != _PENDING
                and stored["completedOn"] == promise.completedOn
            ):
                self._remove(self._promises, promise.id)
                deleted.append(promise.id)
        return deleted

    def _garbageOf(self, promiseIds):
        """
        The C{(table, keys)} of the rows L{deleteGarbageOf} deletes: 2026
        tasks, v0.5 tasks, callbacks, listeners, outbox entries.
        """
        ids = set(promiseIds)
        fulfilled = TaskState.FULFILLED.value
        outbox = []
        for entryId, document in self._outbox.items():
            message = decodeMessage(document["message"])
            # An execute names its task, whose id is its promise's.
            about = getattr(message, "taskId", None) or message.promiseId
            if about in ids:
                outbox.append(entryId)
        return [
            (self._tasks2026, [k for k, d in self._tasks2026.items()
                               if k in ids and d["state"] == fulfilled]),
            (self._tasks, [k for k, d in self._tasks.items()
                           if d["promiseId"] in ids and d["isCompleted"]]),
            (self._callbacks, [k for k in self._callbacks if k[0] in ids or k[1] in ids]),
            (self._listeners, [k for k in self._listeners if k[0] in ids]),
            (self._outbox, outbox),
        ]

    def countGarbageOf(self, promiseIds):
        tasks, tasks05, callbacks, listeners, _ = self._garbageOf(promiseIds)
        return len(tasks[1]) + len(tasks05[1]), len(callbacks[1]), len(listeners[1])

    def deleteGarbageOf(self, promiseIds):
        counts = self.countGarbageOf(promiseIds)
        for table, keys in self._garbageOf(promiseIds):
            for key in keys:
                self._remove(table, key)
        return counts

    def deleteEverything(self):
        for table in (
            self._promises,
            self._schedules,
            self._locks,
            self._tasks,
            self._tasks2026,
            self._callbacks,
            self._listeners,
            self._outbox,
        ):
            # Each through the undo log, so a rollback puts it all back.
            for key in list(table):
                self._remove(table, key)
