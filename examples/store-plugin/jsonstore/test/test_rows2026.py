"""
Tests for L{jsonstore.rows2026}: the 2026 tables over the rows' JSON
documents and undo log, their JSON form, and the store contract (with its
2026 tests) kept by rows that mix them in.
"""

import json
from dataclasses import replace

from twisted.trial import unittest
from twisted.trial.unittest import SkipTest
from zope.interface import implementer

import jsonstore.store
from jsonstore.rows import FORMAT, VERSION, CorruptDocument, JSONRows
from jsonstore.rows2026 import (
    LAST_OUTBOX_ID,
    TABLE_KEYS,
    Task2026RowsMixin,
    decodeCallback,
    decodeListener,
    decodeMessage,
    decodeOutboxEntry,
    decodeTask2026,
    dump2026,
    encodeCallback,
    encodeListener,
    encodeMessage,
    encodeOutboxEntry,
    encodeTask2026,
    load2026,
)
from jsonstore.test.test_store import openStore
from resonate.interfaces import ITask2026Rows
from resonate.model.outbox import OutboxEntry
from resonate.model.tasks2026 import (
    Callback,
    Execute,
    Listener,
    Task,
    TaskState,
    Unblock,
)
from resonate.testing.store import StoreTestsMixin

NOW = 1_700_000_000_000
ADDRESS = "poll://any@workers"

# Once jsonstore.rows mixes the tables in itself, mixing them in again
# would make no consistent method order.
_BASES = (
    (JSONRows,)
    if issubclass(JSONRows, Task2026RowsMixin)
    else (Task2026RowsMixin, JSONRows)
)


@implementer(ITask2026Rows)
class Rows2026(*_BASES):
    """
    The example's rows with the 2026 tables mixed in, and kept in the
    file's document, as L{jsonstore.rows} is to wire them.  (Loading and
    dumping them twice, once wired, changes nothing.)
    """

    def toDocument(self):
        return dump2026(self, super().toDocument())

    @classmethod
    def fromDocument(cls, document):
        return load2026(super().fromDocument(document), document)


def pending(taskId, timeoutAt=None, version=0):
    return Task(taskId, TaskState.PENDING, version, ADDRESS, timeoutAt=timeoutAt)


def acquired(taskId, timeoutAt):
    return Task(taskId, TaskState.ACQUIRED, 1, ADDRESS, "pid", 10_000, timeoutAt)


def roundTrip(rows):
    """
    Rows read back from what C{rows} would write to the file.
    """
    return Rows2026.fromDocument(json.loads(json.dumps(rows.toDocument())))


def fill(rows):
    """
    Put something in every 2026 table of C{rows}: outbox ids 1 and 2.
    """
    rows.insertTask2026(pending("t", NOW))
    rows.insertTask2026(Task("s", TaskState.SUSPENDED, 2, ADDRESS))
    rows.insertCallback(Callback("p", "s"))
    rows.insertCallback(Callback("q", "s", ready=True))
    rows.insertListener(Listener("p", "poll://c"))
    rows.insertOutbox(Execute("t", 0, ADDRESS), NOW)
    rows.insertOutbox(Unblock("q", "poll://c"), NOW)


def canonical(document):
    """
    C{document} through JSON, its tables' rows in a fixed order.
    """
    document = json.loads(json.dumps(document))
    for key in ("promises", "schedules", "locks", "tasks", *TABLE_KEYS):
        document[key].sort(key=lambda row: json.dumps(row, sort_keys=True))
    return document


def tables(rows):
    """
    What the 2026 tables of C{rows} hold for the ids L{fill} and the
    tests use.
    """
    return (
        [rows.readTask2026(t) for t in ("t", "s", "n")],
        rows.callbacksOf("p"),
        rows.callbacksOf("q"),
        rows.callbacksOf("n"),
        rows.callbacksOfAwaiter("s"),
        rows.listenersOf("p"),
        rows.listenersOf("n"),
        rows.dueOutbox(NOW + 10, None),
    )


class EncodingTests(unittest.TestCase):
    """
    The JSON form of the 2026 values: each field by name, a task's state
    by value, a message with its kind; each read back equal.
    """

    def test_task(self):
        """
        A task's state is its value; absent values are null.
        """
        task = acquired("t", NOW)
        self.assertEqual(
            encodeTask2026(task),
            {
                "id": "t",
                "state": "acquired",
                "version": 1,
                "address": ADDRESS,
                "pid": "pid",
                "ttl": 10_000,
                "timeoutAt": NOW,
            },
        )
        for each in [task, *(Task("t", s, 2, ADDRESS) for s in TaskState)]:
            document = json.loads(json.dumps(encodeTask2026(each)))
            self.assertEqual(decodeTask2026(document), each)

    def test_callbackAndListener(self):
        callback = Callback("p", "t", ready=True)
        listener = Listener("p", "http://client.example/ü")
        self.assertEqual(
            encodeCallback(callback), {"awaited": "p", "awaiter": "t", "ready": True}
        )
        self.assertEqual(
            encodeListener(listener),
            {"promiseId": "p", "address": "http://client.example/ü"},
        )
        self.assertEqual(decodeCallback(encodeCallback(callback)), callback)
        self.assertEqual(decodeListener(encodeListener(listener)), listener)

    def test_messages(self):
        execute = Execute("t", 3, ADDRESS)
        unblock = Unblock("p", ADDRESS)
        self.assertEqual(
            encodeMessage(execute),
            {"kind": "execute", "taskId": "t", "version": 3, "address": ADDRESS},
        )
        self.assertEqual(
            encodeMessage(unblock),
            {"kind": "unblock", "promiseId": "p", "address": ADDRESS},
        )
        for message in (execute, unblock):
            self.assertEqual(decodeMessage(encodeMessage(message)), message)
            entry = OutboxEntry(7, message, NOW, 2, NOW + 5)
            document = json.loads(json.dumps(encodeOutboxEntry(entry)))
            self.assertEqual(decodeOutboxEntry(document), entry)

    def test_refused(self):
        """
        A document that is not one of a value (a field missing, unknown or
        of the wrong type, an unknown state or kind) raises an exception
        that L{load2026} turns into L{CorruptDocument}.
        """
        task = encodeTask2026(pending("t", NOW))
        entry = encodeOutboxEntry(OutboxEntry(1, Execute("t", 0, ADDRESS), NOW, 0, NOW))
        bad = [
            (decodeTask2026, dict(task, state="PENDING")),
            (decodeTask2026, dict(task, version=True)),
            (decodeTask2026, dict(task, version="1")),
            (decodeTask2026, dict(task, timeoutAt=1.5)),
            (decodeTask2026, dict(task, extra=1)),
            (decodeTask2026, {k: v for k, v in task.items() if k != "address"}),
            (decodeTask2026, []),
            (decodeCallback, {"awaited": "p", "awaiter": ["t"], "ready": False}),
            (decodeCallback, {"awaited": "p", "awaiter": "t", "ready": 1}),
            (decodeListener, {"promiseId": "p"}),
            (decodeMessage, {"kind": "resume", "taskId": "t"}),
            (decodeMessage, {"kind": "execute", "taskId": "t", "version": "0", "address": "a"}),
            (decodeMessage, {"kind": "unblock", "promiseId": 1, "address": "a"}),
            (decodeOutboxEntry, dict(entry, id="1")),
            (decodeOutboxEntry, dict(entry, nextAttemptAt=None)),
        ]
        for decode, document in bad:
            with self.assertRaises((KeyError, TypeError, ValueError, AttributeError)):
                decode(document)


class Task2026RowsTests(unittest.TestCase):
    """
    The nineteen table operations over the rows' documents and undo log.
    """

    def setUp(self):
        self.rows = Rows2026()

    def test_interface(self):
        """
        The mixin has every table operation of L{ITask2026Rows} but the
        searches and debug operations.
        """
        others = {
            "promisesById",
            "tasksById",
            "schedulesById",
            "branchPromises",
            "allCallbacks",
            "allListeners",
            "deleteEverything",
        }
        names = set(ITask2026Rows.names()) - others
        self.assertEqual(len(names), 19)
        for name in names:
            self.assertTrue(callable(getattr(Task2026RowsMixin, name, None)), name)

    def test_empty(self):
        rows = self.rows
        self.assertIsNone(rows.readTask2026("t"))
        self.assertEqual(rows.dueTasks2026(NOW, None), [])
        self.assertEqual(rows.callbacksOf("p"), [])
        self.assertEqual(rows.callbacksOfAwaiter("t"), [])
        self.assertEqual(rows.listenersOf("p"), [])
        self.assertEqual(rows.dueOutbox(NOW, None), [])
        self.assertEqual(
            (rows.readyCallbacks("p"), rows.deleteReadyCallbacks("t")), (0, 0)
        )
        self.assertEqual(
            (rows.deleteCallbacks("t"), rows.deleteListeners("p")), (0, 0)
        )

    def test_tasks(self):
        rows = self.rows
        task = pending("t", NOW + 5)
        self.assertTrue(rows.insertTask2026(task))
        self.assertFalse(rows.insertTask2026(acquired("t", NOW)))
        self.assertEqual(rows.readTask2026("t"), task)
        self.assertIsNot(rows.readTask2026("t"), rows.readTask2026("t"))
        held = acquired("t", NOW + 1)
        self.assertFalse(rows.updateTask2026(replace(task, timeoutAt=None), held))
        self.assertFalse(rows.updateTask2026(pending("u", NOW + 5), held))
        self.assertTrue(rows.updateTask2026(task, held))
        self.assertFalse(rows.updateTask2026(task, held))
        self.assertEqual(rows.readTask2026("t"), held)
        self.assertFalse(rows.updateTask2026(replace(held, pid=None), task))
        rows.insertTask2026(pending("s", NOW + 1))
        rows.insertTask2026(Task("z", TaskState.SUSPENDED, 0, ADDRESS))
        self.assertEqual([t.id for t in rows.dueTasks2026(NOW + 1, None)], ["s", "t"])
        self.assertEqual([t.id for t in rows.dueTasks2026(NOW + 1, 1)], ["s"])
        self.assertEqual(rows.dueTasks2026(NOW, None), [])

    def test_callbacks(self):
        rows = self.rows
        a = Callback("p", "a")
        b = Callback("p", "b")
        q = Callback("q", "a")
        self.assertEqual(
            [rows.insertCallback(c) for c in (b, a, q, replace(a, ready=True))],
            [True, True, True, False],
        )
        self.assertEqual(rows.callbacksOf("p"), [a, b])
        self.assertEqual(rows.callbacksOfAwaiter("a"), [a, q])
        self.assertEqual(rows.readyCallbacks("p"), 2)
        self.assertEqual(
            rows.callbacksOfAwaiter("a"), [replace(a, ready=True), q]
        )
        self.assertEqual(rows.deleteReadyCallbacks("a"), 1)
        self.assertEqual(rows.callbacksOfAwaiter("a"), [q])
        self.assertEqual(rows.deleteCallbacks("a"), 1)
        self.assertEqual(rows.callbacksOf("p"), [replace(b, ready=True)])

    def test_listeners(self):
        rows = self.rows
        one = Listener("p", "poll://b")
        two = Listener("p", "http://a")
        self.assertEqual(
            [rows.insertListener(l) for l in (one, two, Listener("q", "x"), one)],
            [True, True, True, False],
        )
        self.assertEqual(rows.listenersOf("p"), [two, one])
        self.assertEqual(rows.deleteListeners("p"), 2)
        self.assertEqual(rows.listenersOf("p"), [])
        self.assertEqual(rows.listenersOf("q"), [Listener("q", "x")])

    def test_outbox(self):
        """
        An execute replaces its task's older one under a new id; an
        unblock is not added twice for one promise and address; entries
        are due by C{(nextAttemptAt, id)}.
        """
        rows = self.rows
        first = Execute("t", 0, ADDRESS)
        unblock = Unblock("p", "poll://c")
        self.assertTrue(rows.insertOutbox(first, NOW))
        self.assertTrue(rows.insertOutbox(unblock, NOW + 1))
        self.assertFalse(rows.insertOutbox(unblock, NOW + 2))
        self.assertTrue(rows.insertOutbox(Unblock("p", "poll://d"), NOW))
        self.assertTrue(rows.insertOutbox(Execute("u", 0, ADDRESS), NOW))
        self.assertEqual(
            rows.dueOutbox(NOW + 1, None),
            [
                OutboxEntry(1, first, NOW, 0, NOW),
                OutboxEntry(3, Unblock("p", "poll://d"), NOW, 0, NOW),
                OutboxEntry(4, Execute("u", 0, ADDRESS), NOW, 0, NOW),
                OutboxEntry(2, unblock, NOW + 1, 0, NOW + 1),
            ],
        )
        self.assertEqual([e.id for e in rows.dueOutbox(NOW, 2)], [1, 3])
        newer = Execute("t", 1, ADDRESS)
        self.assertTrue(rows.insertOutbox(newer, NOW + 3))
        self.assertEqual(
            [(e.id, e.message) for e in rows.dueOutbox(NOW + 3, None)][-1],
            (5, newer),
        )
        self.assertNotIn(1, [e.id for e in rows.dueOutbox(NOW + 3, None)])

    def test_rollback(self):
        """
        A transaction's 2026 writes, every kind of them, are undone by its
        rollback; the outbox ids it took are not
        given back.  C{changed} says a 2026 write needs the file written.
        """
        rows = self.rows
        rows.begin()
        fill(rows)
        self.assertTrue(rows.changed)
        rows.commit()
        before = tables(rows)
        document = canonical(rows.toDocument())
        rows.begin()
        self.assertFalse(rows.changed)
        self.assertTrue(rows.updateTask2026(pending("t", NOW), acquired("t", NOW + 9)))
        self.assertTrue(rows.insertTask2026(pending("n", NOW)))
        self.assertEqual(rows.readyCallbacks("p"), 1)
        self.assertEqual(rows.deleteReadyCallbacks("s"), 2)
        self.assertTrue(rows.insertCallback(Callback("n", "s")))
        self.assertEqual(rows.deleteCallbacks("s"), 1)
        self.assertEqual(rows.deleteListeners("p"), 1)
        self.assertTrue(rows.insertListener(Listener("n", "poll://c")))
        self.assertTrue(rows.insertOutbox(Execute("t", 1, ADDRESS), NOW + 1))
        self.assertTrue(rows.insertOutbox(Unblock("p", "poll://c"), NOW + 1))
        self.assertNotEqual(tables(rows), before)
        rows.rollback()
        self.assertEqual(tables(rows), before)
        # The same rows (a restored row may be listed elsewhere); the ids
        # taken are not given back.
        self.assertEqual(canonical(rows.toDocument()), dict(document, lastOutboxId=4))
        rows.begin()
        rows.insertOutbox(Execute("t", 2, ADDRESS), NOW + 2)
        rows.commit()
        self.assertEqual(rows.dueOutbox(NOW + 2, None)[-1].id, 5)

    def test_storedDocumentsNotShared(self):
        """
        A write puts a new document; one that a dump handed out (the file
        being written) is not changed by later writes.
        """
        rows = self.rows
        fill(rows)
        dumped = json.dumps(rows.toDocument(), sort_keys=True)
        document = rows.toDocument()
        rows.readyCallbacks("p")
        rows.updateTask2026(pending("t", NOW), acquired("t", NOW))
        self.assertEqual(json.dumps(document, sort_keys=True), dumped)


class DocumentTests(unittest.TestCase):
    """
    L{dump2026} and L{load2026}: the 2026 tables in the file's document.
    """

    def test_emptyDocument(self):
        document = dump2026(Rows2026(), {})
        self.assertEqual(
            document,
            {"lastOutboxId": 0, "tasks2026": [], "callbacks": [], "listeners": [], "outbox": []},
        )
        self.assertEqual(set(document), {LAST_OUTBOX_ID, *TABLE_KEYS})

    def test_roundTrip(self):
        """
        Everything in the 2026 tables, and the outbox counter, are read
        back from the document; ids given after it go on from the counter,
        even past ids a rollback took.
        """
        rows = Rows2026()
        fill(rows)
        rows.begin()
        rows.insertOutbox(Execute("x", 0, ADDRESS), NOW)
        rows.rollback()
        document = json.loads(json.dumps(rows.toDocument()))
        self.assertEqual(document[LAST_OUTBOX_ID], 3)
        self.assertEqual(
            [e["id"] for e in document["outbox"]], [1, 2]
        )
        again = Rows2026.fromDocument(document)
        self.assertEqual(
            tables(again), tables(rows)
        )
        again.insertOutbox(Unblock("z", ADDRESS), NOW)
        self.assertEqual(again.dueOutbox(NOW, None)[-1].id, 4)

    def test_olderFile(self):
        """
        A document without the 2026 tables (a file written before them)
        has them empty, with the outbox counter at 0; one without the
        counter has it at its largest outbox id.
        """
        document = json.loads(json.dumps(JSONRows().toDocument()))
        for key in (LAST_OUTBOX_ID, *TABLE_KEYS):
            document.pop(key, None)
        # Format version 1 is the one without them.
        document["version"] = 1
        rows = Rows2026.fromDocument(document)
        self.assertEqual(tables(rows)[-1], [])
        self.assertEqual(rows._lastOutboxId, 0)
        full = Rows2026()
        fill(full)
        document = json.loads(json.dumps(full.toDocument()))
        del document[LAST_OUTBOX_ID]
        self.assertEqual(load2026(Rows2026(), document)._lastOutboxId, 2)

    def test_filledIn(self):
        """
        A row written without its optional members is stored as written
        now, so every operation can read it.
        """
        document = dump2026(Rows2026(), {})
        document["tasks2026"] = [{"id": "t", "state": "suspended", "version": 0, "address": "a"}]
        document["callbacks"] = [{"awaited": "p", "awaiter": "t"}]
        rows = load2026(Rows2026(), document)
        self.assertEqual(rows.dueTasks2026(NOW, None), [])
        self.assertEqual(rows.deleteReadyCallbacks("t"), 0)
        self.assertTrue(
            rows.updateTask2026(Task("t", TaskState.SUSPENDED, 0, "a"), pending("t", NOW))
        )

    def test_corrupt(self):
        """
        A damaged 2026 table is refused with L{CorruptDocument}, naming it.
        """
        rows = Rows2026()
        fill(rows)
        good = json.dumps(rows.toDocument())

        def damaged(change):
            document = json.loads(good)
            change(document)
            return document

        cases = [
            (lambda d: d.update(tasks2026={}), "tasks2026 are not a list"),
            (lambda d: d["tasks2026"][1].update(state="Suspended"), "tasks2026[1]"),
            (lambda d: d["tasks2026"].append(d["tasks2026"][0]), "tasks2026[2] repeats"),
            (lambda d: d["callbacks"][0].pop("awaiter"), "callbacks[0]"),
            (lambda d: d["callbacks"].append(dict(d["callbacks"][0], ready=True)), "callbacks[2] repeats"),
            (lambda d: d["listeners"][0].update(address=None), "listeners[0]"),
            (lambda d: d["outbox"][1]["message"].update(kind="resume"), "outbox[1]"),
            (lambda d: d["outbox"].append(d["outbox"][0]), "outbox[2] repeats"),
            (lambda d: d.update(lastOutboxId=1), "lastOutboxId"),
            (lambda d: d.update(lastOutboxId="2"), "lastOutboxId"),
        ]
        for change, message in cases:
            with self.assertRaises(CorruptDocument) as caught:
                Rows2026.fromDocument(damaged(change))
            self.assertIn(message, str(caught.exception))
        self.assertIsInstance(Rows2026.fromDocument(json.loads(good)), Rows2026)
        self.assertEqual(json.loads(good)["format"], FORMAT)
        self.assertEqual(json.loads(good)["version"], VERSION)


class JSONFile2026ContractTests(StoreTestsMixin, unittest.TestCase):
    """
    The whole store contract, with its 2026 tests, over a C{jsonfile}
    store whose rows are L{Rows2026}, opened as the server opens it, and
    reopened from its file.

    The searches and debug operations of C{ITask2026Rows} are not the
    mixin's: a test that needs one the rows do not have yet is skipped.
    """

    rowsClass = Rows2026

    def makeStore(self):
        self.patch(jsonstore.store, "JSONRows", Rows2026)
        self.path = self.mktemp()
        return openStore(self, self.path)

    async def reopenStore(self):
        await self.store.close()
        return openStore(self, self.path)

    async def rowCalls(self, *calls):
        missing = sorted(
            {m for m, *_ in calls if not callable(getattr(self.rowsClass, m, None))}
        )
        if missing:
            raise SkipTest(f"{self.rowsClass.__name__} has no {', '.join(missing)} yet")
        return await super().rowCalls(*calls)
