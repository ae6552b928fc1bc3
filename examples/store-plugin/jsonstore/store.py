# -*- test-case-name: jsonstore.test.test_store -*-
"""
The C{jsonfile} store: everything in memory, and in one JSON file.

Each request runs at once, on the caller's thread, as one transaction of
the shared scripts (L{resonate.store.scripts.runSync}) over L{JSONRows}.
A request that wrote anything then rewrites the whole file, atomically
and durably, before its C{Deferred} fires: a client is answered only once
what it was answered is on disk.  A request that fails part way, or whose
file cannot be written, is rolled back, so memory always holds what the
file holds.

Rewriting the whole file costs time in proportion to everything stored,
on the reactor thread, for every write: this store shows how a store is
built, and suits small deployments and tests, not load.
"""

import json
import os

from twisted.internet.defer import fail, succeed
from twisted.logger import Logger
from zope.interface import implementer

from jsonstore.options import DESCRIPTION, JSONFILE_OPTIONS, KIND
from jsonstore.rows import CorruptDocument, JSONRows
from resonate.config.stores import optionValues
from resonate.errors import ResonateError, StoreFailure
from resonate.interfaces import IStore, IStoreProvider
from resonate.status import Status
from resonate.store import scripts


def writeAtomically(path, data, fsync=True):
    """
    Replace the file C{path} with C{data} so that, whatever happens, the
    file holds either its old bytes or all of C{data}: write a temporary
    file beside it, fsync it, rename it over C{path}, then fsync the
    directory so that the rename itself is on disk.

    @param fsync: whether to fsync; without it a crash of the machine (not
        of the process) may lose the write or leave the file empty.
    @raise OSError: the file could not be written.
    """
    temporary = f"{path}.tmp"
    with open(temporary, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(temporary, path)
    if fsync:
        directory = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _serialise(rows):
    """
    The bytes of the file that holds C{rows}.
    """
    return json.dumps(rows.toDocument(), separators=(",", ":")).encode("utf-8")


@implementer(IStore)
class JSONFileStore(scripts.ScriptedStore):
    """
    An L{IStore} kept in memory and saved to one JSON file after every
    request that writes.  Open one with L{openJSONFileStore}.

    L{scripts.ScriptedStore} gives every request method: each runs its
    shared script through L{runScript}, the one transaction defined here.

    It needs no reactor: every request is answered before the call that
    makes it returns, with a C{Deferred} that has already fired.
    """

    _log = Logger()

    def __init__(self, path, rows, fileSize, fsync=True, maxFileSize=None):
        """
        @param path: the file.
        @param rows: the L{JSONRows} the file holds.
        @param fileSize: the size of the file, in bytes.
        @param fsync: whether to fsync the file and its directory.
        @param maxFileSize: the size, in bytes, past which the file may
            not grow; L{None} for no limit.
        """
        self._path = path
        self._rows = rows
        self._fileSize = fileSize
        self._fsync = fsync
        self._maxFileSize = maxFileSize
        self._closed = False

    def runScript(self, script, *args):
        """
        Run C{script} over the rows as one transaction, and save the rows
        before answering if it wrote.

        @return: a C{Deferred} that has fired with what the script returns,
            or with its failure once everything it wrote is undone.
        """
        if self._closed:
            # The file may already belong to another store (a restart).
            return fail(ResonateError(Status.SHUTTING_DOWN))
        rows = self._rows
        rows.begin()
        try:
            result = scripts.runSync(rows, script(*args))
            if rows.changed:
                self._save()
        except Exception:
            rows.rollback()
            return fail()
        rows.commit()
        return succeed(result)

    def _save(self):
        """
        Write every row to the file, durably.

        @raise StoreFailure: the file would grow past C{maxFileSize}, or
            cannot be written.  (A failure after the rename, fsyncing the
            directory, leaves the new file in place while the request is
            rolled back; its client was told it failed and cannot tell
            whether it happened, as when a database's acknowledgement of a
            commit is lost.  The next write rewrites the file from memory.)
        """
        data = _serialise(self._rows)
        limit = self._maxFileSize
        # Past the limit only by growing: a file already past it (the limit
        # was lowered since) may still shrink, or it could never be emptied.
        if limit is not None and len(data) > max(limit, self._fileSize):
            raise StoreFailure(
                f"the store's file would grow to {len(data)} bytes, past its "
                f"maxFileSize of {limit} bytes"
            )
        try:
            writeAtomically(self._path, data, self._fsync)
        except OSError as e:
            self._log.error(
                "cannot write the store file {path}: {error}",
                path=self._path,
                error=e,
            )
            raise StoreFailure("the store's file cannot be written") from e
        self._fileSize = len(data)

    def close(self):
        """
        Refuse requests from now on.  There is nothing to wait for (no
        request is ever under way between calls) and nothing to release
        (the file is open only while it is written).
        """
        self._closed = True
        return succeed(None)


def openJSONFileStore(path, fsync=True, maxFileSize=None):
    """
    Open the store kept in the file C{path}, creating the file if there is
    none (so that a directory the server cannot write stops it now, not
    at its first request).

    @raise StoreFailure: the directory of C{path} does not exist, or the
        file cannot be read or written, or is not a store's file; the
        message says which, in one line.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise StoreFailure(f"{path}: the directory {directory} does not exist")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        rows = JSONRows()
        data = _serialise(rows)
        try:
            writeAtomically(path, data, fsync)
        except OSError as e:
            raise StoreFailure(f"{path}: cannot create it: {e.strerror or e}")
    except OSError as e:
        raise StoreFailure(f"{path}: cannot read it: {e.strerror or e}")
    else:
        try:
            document = json.loads(data)
        except ValueError as e:
            raise StoreFailure(f"{path}: not a JSON file ({e})") from None
        try:
            rows = JSONRows.fromDocument(document)
        except CorruptDocument as e:
            raise StoreFailure(
                f"{path}: not a jsonfile store's file: {e}"
            ) from None
    # Absolute, so that the file stays the same if the process changes its
    # working directory.
    path = os.path.abspath(path)
    return JSONFileStore(path, rows, len(data), fsync, maxFileSize)


@implementer(IStoreProvider)
class JSONFileStoreProvider:
    """
    Makes L{JSONFileStore}s (C{kind: jsonfile}).  The dropin names this
    class; it is imported only when the server opens a store.
    """

    name = KIND
    description = DESCRIPTION
    options = JSONFILE_OPTIONS

    def makeStore(self, config, reactor):
        """
        Open the store the options of C{config} name.

        C{config.size} is how many requests may wait for the store before
        it answers 5032 (C{AIO_SUBMISSION_QUEUE_FULL}).  Here no request
        ever waits: each one runs to its end, file written, inside the
        call that makes it, so there is never a queue to be full and
        C{size} refuses nothing.  C{workers} and C{batchSize} have nothing
        to count either.  The reactor is not needed (see L{JSONFileStore}).

        @raise StoreFailure: the store cannot be opened.
        """
        values = optionValues(KIND, JSONFILE_OPTIONS, config.options)
        return openJSONFileStore(
            values["path"],
            fsync=values["fsync"],
            maxFileSize=values["maxFileSize"],
        )
