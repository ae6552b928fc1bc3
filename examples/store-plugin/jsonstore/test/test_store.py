# -*- test-case-name: jsonstore.test.test_store -*-
"""
Tests for L{jsonstore}: the store contract every resonate store keeps, and
what is particular to this one (its file, its options, its plugin).
"""

import base64
import errno
import json
import os

from twisted.plugin import getPlugins
from twisted.python.filepath import FilePath
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from jsonstore.options import JSONFILE_OPTIONS, KIND
from jsonstore.rows import FORMAT, VERSION, JSONRows
from jsonstore.store import JSONFileStoreProvider
from resonate.config.stores import StoreConfig, optionValues
from resonate.errors import ResonateError, StoreFailure
from resonate.interfaces import IStore, IStoreProvider
from resonate.model.lock import AcquireLock, ReleaseLock
from resonate.model.promise import CreatePromise, PromiseQuery, Value
from resonate.status import Status
from resonate.store.providers import findStoreProvider
from resonate.testing.store import StoreTestsMixin

NOW = 1_700_000_000_000
LATER = NOW + 60_000


def openStore(testCase, path, **options):
    """
    Open a C{jsonfile} store on C{path} the way the server does, through
    the provider with typed options, closed when C{testCase} ends.

    The file is not fsynced unless C{fsync=True} is given: the tests do
    not crash the machine, and fsync would make them slow.
    """
    options.setdefault("fsync", False)
    config = StoreConfig(kind=KIND, options={"path": path, **options})
    store = JSONFileStoreProvider().makeStore(config, reactor=None)
    testCase.addCleanup(store.close)
    return store


class JSONFileStoreContractTests(StoreTestsMixin, unittest.TestCase):
    """
    The C{jsonfile} store keeps the store contract: its rows are what the
    suite patches to fail or race a row operation, and it is durable, so
    every test of what survives a reopen runs too.
    """

    rowsClass = JSONRows

    def makeStore(self):
        self.path = self.mktemp()
        return openStore(self, self.path)

    async def reopenStore(self):
        await self.store.close()
        return openStore(self, self.path)


def createRequest(promiseId, data=None):
    return CreatePromise(
        id=promiseId, timeout=LATER, param=Value({"h": "1"}, data)
    )


class JSONFileTests(unittest.TestCase):
    """
    The file: written before a request that wrote is answered, and only
    then; checked when the store opens.
    """

    def setUp(self):
        self.path = self.mktemp()
        self.file = FilePath(self.path)

    def document(self):
        """
        What the file holds now.
        """
        return json.loads(self.file.getContent())

    def test_created(self):
        """
        A store opened on a file that does not exist creates it, empty.
        """
        openStore(self, self.path)
        self.assertEqual(
            self.document(),
            {
                "format": FORMAT,
                "version": VERSION,
                "lastSortId": 0,
                "promises": [],
                "schedules": [],
                "locks": [],
                "tasks": [],
                "lastOutboxId": 0,
                "tasks2026": [],
                "callbacks": [],
                "listeners": [],
                "outbox": [],
            },
        )

    def test_writtenBeforeTheAnswer(self):
        """
        By the time a request that wrote is answered, the file holds what
        it wrote, fsynced, and its directory is fsynced after the rename;
        binary data is kept in base64.
        """
        store = openStore(self, self.path, fsync=True)
        synced = []
        realFsync = os.fsync
        self.patch(os, "fsync", lambda fd: synced.append(fd) or realFsync(fd))
        seen = []

        def answered(decision):
            seen.append((self.document(), len(synced)))
            return decision

        data = bytes(range(256))
        d = store.createPromise(createRequest("file.a", data), NOW)
        decision = self.successResultOf(d.addCallback(answered))
        self.assertEqual(decision.status, Status.CREATED)
        [(document, fsyncs)] = seen
        self.assertEqual(fsyncs, 2)
        [promise] = document["promises"]
        self.assertEqual(promise["id"], "file.a")
        self.assertEqual(promise["state"], "PENDING")
        self.assertEqual(
            promise["param"],
            {"headers": {"h": "1"}, "data": base64.b64encode(data).decode()},
        )

    def test_noFsync(self):
        """
        With C{fsync: false} the file is written but never fsynced.
        """
        synced = []
        self.patch(os, "fsync", synced.append)
        store = openStore(self, self.path, fsync=False)
        self.successResultOf(store.createPromise(createRequest("file.b"), NOW))
        self.assertEqual(synced, [])
        self.assertEqual(len(self.document()["promises"]), 1)

    def test_readsDoNotWrite(self):
        """
        A request that writes nothing leaves the file alone.
        """
        store = openStore(self, self.path)
        self.successResultOf(store.createPromise(createRequest("file.c"), NOW))
        before = os.stat(self.path)
        self.successResultOf(store.readPromise("file.c", NOW))
        self.successResultOf(store.searchPromises(PromiseQuery(), NOW))
        self.successResultOf(store.ping())
        self.assertEqual(self.successResultOf(store.timeoutPromises(NOW, 10)), 0)
        after = os.stat(self.path)
        self.assertEqual(
            (after.st_ino, after.st_mtime_ns), (before.st_ino, before.st_mtime_ns)
        )

    def test_failedRequestNotWritten(self):
        """
        A request that fails part way is rolled back and the file is not
        written: a store opened on the file does not have what it wrote
        before failing.
        """
        store = openStore(self, self.path)
        before = self.file.getContent()

        def failing(rows, task):
            raise StoreFailure("injected")

        self.patch(JSONRows, "insertTask", failing)
        request = createRequest("file.d")
        self.failureResultOf(store.createPromiseAndTask(request, NOW), StoreFailure)
        self.assertEqual(self.file.getContent(), before)
        decision = self.successResultOf(store.readPromise("file.d", NOW))
        self.assertEqual(decision.status, Status.PROMISE_NOT_FOUND)
        self.successResultOf(store.close())
        reopened = openStore(self, self.path)
        decision = self.successResultOf(reopened.readPromise("file.d", NOW))
        self.assertEqual(decision.status, Status.PROMISE_NOT_FOUND)

    def test_unwritableFileRollsBack(self):
        """
        A request whose file cannot be written fails with L{StoreFailure}
        and is rolled back, so that memory keeps what the file holds; it
        succeeds once the file can be written.
        """
        store = openStore(self, self.path)
        realReplace = os.replace

        def noSpace(source, destination):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        self.patch(os, "replace", noSpace)
        d = store.createPromise(createRequest("file.e"), NOW)
        self.failureResultOf(d, StoreFailure)
        decision = self.successResultOf(store.readPromise("file.e", NOW))
        self.assertEqual(decision.status, Status.PROMISE_NOT_FOUND)
        self.patch(os, "replace", realReplace)
        decision = self.successResultOf(
            store.createPromise(createRequest("file.e"), NOW)
        )
        self.assertEqual(decision.status, Status.CREATED)
        self.assertEqual(
            [p["id"] for p in self.document()["promises"]], ["file.e"]
        )

    def test_maxFileSize(self):
        """
        A request that would grow the file past C{maxFileSize} fails with
        L{StoreFailure} and is rolled back; one that shrinks it is
        accepted, even when the file is past the limit.
        """
        store = openStore(self, self.path, maxFileSize=1024)
        request = AcquireLock("file.lock", "process", "execution", 10_000)
        self.successResultOf(store.acquireLock(request, NOW))
        d = store.createPromise(createRequest("file.f", b"x" * 1024), NOW)
        self.assertIn("maxFileSize", str(self.failureResultOf(d, StoreFailure).value))
        decision = self.successResultOf(store.readPromise("file.f", NOW))
        self.assertEqual(decision.status, Status.PROMISE_NOT_FOUND)
        self.assertLessEqual(self.file.getsize(), 1024)

        self.successResultOf(store.close())
        store = openStore(self, self.path, maxFileSize=1)
        released = store.releaseLock(ReleaseLock("file.lock", "execution"), NOW)
        self.assertTrue(self.successResultOf(released))
        self.assertEqual(self.document()["locks"], [])
        d = store.acquireLock(request, NOW)
        self.failureResultOf(d, StoreFailure)

    def test_closedStoreRefuses(self):
        """
        A closed store answers 5030 and writes nothing: the file may belong
        to the store that replaced it.
        """
        store = openStore(self, self.path)
        before = self.file.getContent()
        self.successResultOf(store.close())
        d = store.createPromise(createRequest("file.g"), NOW)
        error = self.failureResultOf(d, ResonateError).value
        self.assertEqual(error.status, Status.SHUTTING_DOWN)
        self.assertEqual(self.file.getContent(), before)

    def assertRefused(self, content, expected):
        """
        Assert that a store opened on a file holding C{content} is refused
        with a one-line L{StoreFailure} that names the file and contains
        C{expected}.
        """
        self.file.setContent(content)
        with self.assertRaises(StoreFailure) as caught:
            openStore(self, self.path)
        message = str(caught.exception)
        self.assertTrue(message.startswith(f"{self.path}: "), message)
        self.assertIn(expected, message)
        self.assertNotIn("\n", message)

    def test_notJSONRefused(self):
        """
        A file that is not JSON (an empty one included) is refused.
        """
        self.assertRefused(b"", "not a JSON file")
        self.assertRefused(b'{"format": ', "not a JSON file")
        self.assertRefused(b"\xff\xfe", "not a JSON file")

    def test_notAStoreRefused(self):
        """
        JSON that is not a store's file, or a store's file with a damaged
        row, is refused, saying what is wrong.
        """
        store = openStore(self, self.path)
        self.successResultOf(store.createPromise(createRequest("a", b"1"), NOW))
        self.successResultOf(store.close())
        good = self.document()

        def damaged(change):
            document = json.loads(json.dumps(good))
            change(document)
            return json.dumps(document).encode()

        self.assertRefused(b"[]", "format")
        self.assertRefused(b'{"promises": []}', "format")
        self.assertRefused(damaged(lambda d: d.update(version=2)), "version 2")
        self.assertRefused(damaged(lambda d: d.pop("locks")), "locks")
        self.assertRefused(
            damaged(lambda d: d["promises"][0]["param"].update(data="!")),
            "promises[0]",
        )
        self.assertRefused(
            damaged(lambda d: d["promises"][0].update(state="DONE")),
            "promises[0]",
        )
        self.assertRefused(
            damaged(lambda d: d["promises"][0].pop("timeout")), "promises[0]"
        )
        self.assertRefused(
            damaged(lambda d: d["promises"].append(d["promises"][0])),
            "repeats the id 'a'",
        )
        self.assertRefused(damaged(lambda d: d.update(lastSortId=0)), "lastSortId")

    def test_missingDirectoryRefused(self):
        """
        A file in a directory that does not exist is refused: the store
        does not make directories.
        """
        path = os.path.join(self.mktemp(), "store.json")
        with self.assertRaises(StoreFailure) as caught:
            openStore(self, path)
        self.assertIn("does not exist", str(caught.exception))


class ProviderTests(unittest.TestCase):
    """
    The provider and its options, and the plugin that makes the server
    find them.
    """

    def test_defaults(self):
        """
        The options' defaults, as the store receives them.
        """
        self.assertEqual(
            optionValues(KIND, JSONFILE_OPTIONS, {}),
            {"path": "resonate.json", "fsync": True, "maxFileSize": 64 * 2**20},
        )

    def test_unknownOptionRefused(self):
        """
        An option no declaration names stops the store from opening.
        """
        config = StoreConfig(kind=KIND, options={"path": self.mktemp(), "nope": 1})
        with self.assertRaises(StoreFailure) as caught:
            JSONFileStoreProvider().makeStore(config, reactor=None)
        self.assertIn("'nope'", str(caught.exception))

    def test_plugin(self):
        """
        Installed, the dropin is found among Twisted's plugins, and the
        server's lookup of the kind C{jsonfile} finds it, with its options,
        and makes a store through it.
        """
        found = [p for p in getPlugins(IStoreProvider) if p.name == KIND]
        if not found:
            self.fail(
                "no jsonfile plugin: the dropin twisted/plugins/"
                "jsonstore_dropin.py is not on the plugin path; install the "
                "package (pip install ./examples/store-plugin)"
            )
        provider = findStoreProvider(KIND)
        self.assertIn(provider, found)
        verifyObject(IStoreProvider, provider)
        self.assertEqual(provider.options, JSONFILE_OPTIONS)
        config = StoreConfig(kind=KIND, options={"path": self.mktemp()})
        store = provider.makeStore(config, reactor=None)
        self.addCleanup(store.close)
        verifyObject(IStore, store)
