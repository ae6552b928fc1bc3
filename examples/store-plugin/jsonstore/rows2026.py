# -*- test-case-name: jsonstore.test.test_rows2026 -*-
"""
The 2026 tables of the C{jsonfile} store (the nineteen table operations of
L{resonate.interfaces.ITask2026Rows}), as JSON documents beside the rows of
L{jsonstore.rows}, under the same undo log.

L{Task2026RowsMixin} is mixed into the rows class.  It uses only the host
class's C{_put(table, key, document)} and C{_remove(table, key)}, which
note what they replace in the open transaction's undo log, so a rollback
undoes the 2026 writes with the others.  Its tables, in memory, are:

  - C{_tasks2026}: task id (C{str}) -> document of L{encodeTask2026};
  - C{_callbacks}: C{(awaited, awaiter)} -> document of L{encodeCallback};
  - C{_listeners}: C{(promiseId, address)} -> document of
    L{encodeListener};
  - C{_outbox}: entry id (C{int}) -> document of L{encodeOutboxEntry};
  - C{_lastOutboxId}: the last outbox id given (an C{int}).  As the
    C{sortId} counter, it only increases: a rollback does not give ids
    back, and the file keeps it.

In the file's document (L{dump2026}, L{load2026}) they are the keys
C{"tasks2026"}, C{"callbacks"}, C{"listeners"} and C{"outbox"} (lists of
those documents) and C{"lastOutboxId"}.  A file without them (written
before the 2026 tables) is read as having them empty.

Documents are never changed in place: every write puts a new document, so
the undo log can put the replaced one back.  Reads decode fresh model
values.

The searches and debug operations of C{ITask2026Rows} (C{promisesById},
C{tasksById}, C{schedulesById}, C{branchPromises}, C{allCallbacks},
C{allListeners}, C{deleteEverything}) are not here; they may read the
tables above (decoding with L{decodeTask2026}, L{decodeCallback},
L{decodeListener}) and must write through C{_put}/C{_remove}.
"""

from dataclasses import fields

from resonate.model.outbox import OutboxEntry
from resonate.model.tasks2026 import (
    Callback,
    Execute,
    Listener,
    Task,
    TaskState,
    Unblock,
)

#: The document keys of the 2026 tables, in the order L{dump2026} writes
#: them.
TABLE_KEYS = ("tasks2026", "callbacks", "listeners", "outbox")
LAST_OUTBOX_ID = "lastOutboxId"

#: The prefixes of the addresses a push delivers to (C{dueOutboxFor} with
#: C{push}).
PUSH_PREFIXES = ("http://", "https://")

# Encoding: each model value as a JSON object with one member per field;
# a task's state is its value ("pending"), an outbox message is an object
# with its "kind" ("execute" or "unblock") and its fields.

_MESSAGE_KINDS = {"execute": Execute, "unblock": Unblock}
_KIND_OF = {cls: kind for kind, cls in _MESSAGE_KINDS.items()}


def _fieldsOf(value):
    return {each.name: getattr(value, each.name) for each in fields(value)}


def _check(condition, what):
    if not condition:
        raise ValueError(what)


def _isInt(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _optional(value, test):
    return value is None or test(value)


def _isStr(value):
    return isinstance(value, str)


def encodeTask2026(task):
    """
    The JSON document of a 2026 L{Task}: its fields, its state by value.
    """
    return dict(_fieldsOf(task), state=task.state.value)


def decodeTask2026(document):
    """
    The 2026 L{Task} of a document of L{encodeTask2026}.

    @raise ValueError: a field is missing, unknown or of the wrong type.
    """
    task = Task(**dict(document, state=TaskState(document["state"])))
    _check(_isStr(task.id) and _isStr(task.address), "id and address are strings")
    _check(_isInt(task.version), "version is an integer")
    _check(_optional(task.pid, _isStr), "pid is a string or null")
    _check(_optional(task.ttl, _isInt), "ttl is an integer or null")
    _check(_optional(task.timeoutAt, _isInt), "timeoutAt is an integer or null")
    return task


def encodeCallback(callback):
    """
    The JSON document of a L{Callback}.
    """
    return _fieldsOf(callback)


def decodeCallback(document):
    """
    The L{Callback} of a document of L{encodeCallback}.

    @raise ValueError: a field is missing, unknown or of the wrong type.
    """
    callback = Callback(**document)
    _check(
        _isStr(callback.awaited) and _isStr(callback.awaiter),
        "awaited and awaiter are strings",
    )
    _check(isinstance(callback.ready, bool), "ready is a boolean")
    return callback


def encodeListener(listener):
    """
    The JSON document of a L{Listener}.
    """
    return _fieldsOf(listener)


def decodeListener(document):
    """
    The L{Listener} of a document of L{encodeListener}.

    @raise ValueError: a field is missing, unknown or of the wrong type.
    """
    listener = Listener(**document)
    _check(
        _isStr(listener.promiseId) and _isStr(listener.address),
        "promiseId and address are strings",
    )
    return listener


def encodeMessage(message):
    """
    The JSON document of an outbox message (an L{Execute} or an
    L{Unblock}): its fields and its C{"kind"}.
    """
    return dict(_fieldsOf(message), kind=_KIND_OF[type(message)])


def decodeMessage(document):
    """
    The L{Execute} or L{Unblock} of a document of L{encodeMessage}.

    @raise ValueError: the kind is unknown, or a field is missing, unknown
        or of the wrong type.
    """
    values = dict(document)
    kind = values.pop("kind")
    _check(kind in _MESSAGE_KINDS, f"kind {kind!r} is execute or unblock")
    message = _MESSAGE_KINDS[kind](**values)
    _check(
        all(_isInt(v) if n == "version" else _isStr(v) for n, v in values.items()),
        f"the fields of an {kind} have their types",
    )
    return message


def encodeOutboxEntry(entry):
    """
    The JSON document of an L{OutboxEntry}.
    """
    return dict(_fieldsOf(entry), message=encodeMessage(entry.message))


def decodeOutboxEntry(document):
    """
    The L{OutboxEntry} of a document of L{encodeOutboxEntry}.

    @raise ValueError: a field is missing, unknown or of the wrong type.
    """
    entry = OutboxEntry(
        **dict(document, message=decodeMessage(document["message"]))
    )
    _check(
        all(
            _isInt(v)
            for v in (entry.id, entry.createdOn, entry.attempts, entry.nextAttemptAt)
        ),
        "id, createdOn, attempts and nextAttemptAt are integers",
    )
    return entry


def _sameSlot(stored, message):
    """
    Whether the outbox holds at most one of C{stored} and C{message} (both
    decoded messages): the C{execute}s of one task, or the C{unblock}s of
    one promise and address.
    """
    if type(stored) is not type(message):
        return False
    if isinstance(message, Execute):
        return stored.taskId == message.taskId
    return (stored.promiseId, stored.address) == (
        message.promiseId,
        message.address,
    )


class Task2026RowsMixin:
    """
    The table operations of L{resonate.interfaces.ITask2026Rows} over JSON
    documents (see the module's docstring for the tables).

    The host class provides C{_put(table, key, document)} and
    C{_remove(table, key)} (L{jsonstore.rows.JSONRows} does) and either
    lets this C{__init__} run (list this class first among the bases) or
    calls L{init2026} from its own.  The class that also has the
    searches declares C{ITask2026Rows}; this mixin alone is not all of it.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        init2026(self)

    # Tasks.

    def readTask2026(self, taskId):
        document = self._tasks2026.get(taskId)
        return None if document is None else decodeTask2026(document)

    def insertTask2026(self, task):
        if task.id in self._tasks2026:
            return False
        self._put(self._tasks2026, task.id, encodeTask2026(task))
        return True

    def updateTask2026(self, previous, task):
        # The whole stored row must still be previous, an absent value
        # (None) matching only an absent one.
        stored = self._tasks2026.get(previous.id)
        if stored is None or decodeTask2026(stored) != previous:
            return False
        self._put(self._tasks2026, previous.id, encodeTask2026(task))
        return True

    def dueTasks2026(self, now, limit):
        due = [
            d
            for d in self._tasks2026.values()
            if d["timeoutAt"] is not None and d["timeoutAt"] <= now
        ]
        due.sort(key=lambda d: (d["timeoutAt"], d["id"]))
        if limit is not None:
            due = due[:limit]
        return [decodeTask2026(d) for d in due]

    # Callbacks.

    def insertCallback(self, callback):
        key = (callback.awaited, callback.awaiter)
        if key in self._callbacks:
            return False
        self._put(self._callbacks, key, encodeCallback(callback))
        return True

    def _chosenCallbacks(self, chosen):
        return [k for k, d in self._callbacks.items() if chosen(d)]

    def readyCallbacks(self, awaited):
        keys = self._chosenCallbacks(lambda d: d["awaited"] == awaited)
        for key in keys:
            self._put(self._callbacks, key, dict(self._callbacks[key], ready=True))
        return len(keys)

    def deleteReadyCallbacks(self, awaiter):
        keys = self._chosenCallbacks(
            lambda d: d["awaiter"] == awaiter and d["ready"]
        )
        for key in keys:
            self._remove(self._callbacks, key)
        return len(keys)

    def deleteCallbacks(self, awaiter):
        keys = self._chosenCallbacks(lambda d: d["awaiter"] == awaiter)
        for key in keys:
            self._remove(self._callbacks, key)
        return len(keys)

    def callbacksOf(self, awaited):
        chosen = [d for d in self._callbacks.values() if d["awaited"] == awaited]
        chosen.sort(key=lambda d: d["awaiter"])
        return [decodeCallback(d) for d in chosen]

    def callbacksOfAwaiter(self, awaiter):
        chosen = [d for d in self._callbacks.values() if d["awaiter"] == awaiter]
        chosen.sort(key=lambda d: d["awaited"])
        return [decodeCallback(d) for d in chosen]

    # Listeners.

    def insertListener(self, listener):
        key = (listener.promiseId, listener.address)
        if key in self._listeners:
            return False
        self._put(self._listeners, key, encodeListener(listener))
        return True

    def listenersOf(self, promiseId):
        chosen = [d for d in self._listeners.values() if d["promiseId"] == promiseId]
        chosen.sort(key=lambda d: d["address"])
        return [decodeListener(d) for d in chosen]

    def deleteListeners(self, promiseId):
        keys = [key for key in self._listeners if key[0] == promiseId]
        for key in keys:
            self._remove(self._listeners, key)
        return len(keys)

    # The outbox.

    def insertOutbox(self, message, now):
        for entryId, document in list(self._outbox.items()):
            if _sameSlot(decodeMessage(document["message"]), message):
                if not isinstance(message, Execute):
                    return False
                # A newer execute replaces the undelivered older one.
                self._remove(self._outbox, entryId)
        self._lastOutboxId += 1
        entry = OutboxEntry(self._lastOutboxId, message, now, 0, now)
        self._put(self._outbox, entry.id, encodeOutboxEntry(entry))
        return True

    def dueOutbox(self, now, limit):
        due = [d for d in self._outbox.values() if d["nextAttemptAt"] <= now]
        due.sort(key=lambda d: (d["nextAttemptAt"], d["id"]))
        if limit is not None:
            due = due[:limit]
        return [decodeOutboxEntry(d) for d in due]

    def dueOutboxFor(self, now, limit, addresses, prefixes, push):
        starts = (*prefixes, *(PUSH_PREFIXES if push else ()))
        addresses = frozenset(addresses)
        due = [
            d
            for d in self._outbox.values()
            if d["nextAttemptAt"] <= now
            and (
                d["message"]["address"] in addresses
                or d["message"]["address"].startswith(starts)
            )
        ]
        due.sort(key=lambda d: (d["nextAttemptAt"], d["id"]))
        return [decodeOutboxEntry(d) for d in due[:limit]]

    def deleteOutbox(self, entryId):
        if entryId not in self._outbox:
            return False
        self._remove(self._outbox, entryId)
        return True

    def deferOutbox(self, entryId, attempts, nextAttemptAt):
        document = self._outbox.get(entryId)
        if document is None:
            return False
        self._put(
            self._outbox,
            entryId,
            dict(document, attempts=attempts, nextAttemptAt=nextAttemptAt),
        )
        return True

    def expiredOutbox(self, createdBefore, limit):
        expired = [
            d for d in self._outbox.values() if d["createdOn"] <= createdBefore
        ]
        expired.sort(key=lambda d: (d["createdOn"], d["id"]))
        return [decodeOutboxEntry(d) for d in expired[:limit]]


def init2026(rows):
    """
    Give C{rows} empty 2026 tables and an outbox counter at 0.
    """
    rows._tasks2026 = {}
    rows._callbacks = {}
    rows._listeners = {}
    rows._outbox = {}
    rows._lastOutboxId = 0


def dump2026(rows, document):
    """
    Add the 2026 tables of C{rows} to C{document}, the file's document
    (L{jsonstore.rows.JSONRows.toDocument}), sharing the stored documents
    as it does.

    @return: C{document}.
    """
    document[LAST_OUTBOX_ID] = rows._lastOutboxId
    for key, table in zip(TABLE_KEYS, _tables(rows)):
        document[key] = list(table.values())
    return document


def _tables(rows):
    return (rows._tasks2026, rows._callbacks, rows._listeners, rows._outbox)


#: Each table's document key, decoder, key of a decoded row, and encoder.
_LOADERS = (
    ("tasks2026", decodeTask2026, lambda t: t.id, encodeTask2026),
    ("callbacks", decodeCallback, lambda c: (c.awaited, c.awaiter), encodeCallback),
    ("listeners", decodeListener, lambda l: (l.promiseId, l.address), encodeListener),
    ("outbox", decodeOutboxEntry, lambda e: e.id, encodeOutboxEntry),
)


def load2026(rows, document):
    """
    Fill the 2026 tables of C{rows} from the file's C{document} (as
    L{dump2026} wrote it), each row decoded once to check it.  A document
    without them (a file written before them) gives empty tables.

    @raise jsonstore.rows.CorruptDocument: a table is not a list, one of
        its rows does not decode, two have the same key, or the outbox ids
        are not up to C{lastOutboxId}.
    @return: C{rows}.
    """
    # Here, not at the top: jsonstore.rows imports this module.
    from jsonstore.rows import CorruptDocument

    tables = []
    for name, decode, keyOf, encode in _LOADERS:
        rowDocuments = document.get(name, [])
        if not isinstance(rowDocuments, list):
            raise CorruptDocument(f"its {name} are not a list")
        table = {}
        for index, row in enumerate(rowDocuments):
            try:
                value = decode(row)
            except (AttributeError, KeyError, TypeError, ValueError) as e:
                raise CorruptDocument(
                    f"{name}[{index}] is not one of its {name} "
                    f"({type(e).__name__}: {e})"
                ) from None
            key = keyOf(value)
            if key in table:
                raise CorruptDocument(f"{name}[{index}] repeats the key {key!r}")
            # Stored as written now (optional fields filled in), so that
            # the operations may read every member.
            table[key] = encode(value)
        tables.append(table)
    outbox = tables[-1]
    lastOutboxId = document.get(LAST_OUTBOX_ID, max(outbox, default=0))
    if not _isInt(lastOutboxId) or not all(i <= lastOutboxId for i in outbox):
        raise CorruptDocument(
            f"its outbox ids are not integers up to its {LAST_OUTBOX_ID}"
        )
    rows._tasks2026, rows._callbacks, rows._listeners, rows._outbox = tables
    rows._lastOutboxId = lastOutboxId
    return rows
