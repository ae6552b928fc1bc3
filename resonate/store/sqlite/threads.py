# -*- test-case-name: tests.integration.test_store_sqlite -*-
"""
The threads of the SQLite store and their connections: the group-commit
writer, which owns the only write connection, and the reader pool, whose
threads have a read-only connection each.
"""

import queue
import sqlite3
import threading
import time

from twisted.python.failure import Failure

from resonate.errors import StoreFailure
from resonate.store.sqlite.rows import _ReadOnlyRows, _WriterRows


class _Submission:
    """
    A write transaction waiting for the writer.

    @ivar script: a script of L{resonate.store.scripts}, called with the
        writer's rows and C{args}.
    @ivar deferred: fires, on the reactor thread, with the script's result.
    @ivar deadline: the C{time.monotonic()} after which it is too late to
        start.
    """

    __slots__ = ("script", "args", "deferred", "deadline")

    def __init__(self, script, args, deferred, deadline):
        self.script = script
        self.args = args
        self.deferred = deferred
        self.deadline = deadline


#: Put on the writer's (or a reader's) queue by close(): finish what came
#: before, then stop.
_STOP = object()


def _takeBatch(items, batchSize):
    """
    Block for one item of the queue C{items}, then take whatever else is
    already queued (no timer: waiting would only add latency), up to
    C{batchSize}.

    @return: the batch, and whether L{_STOP} was reached.
    """
    first = items.get()
    if first is _STOP:
        return [], True
    batch = [first]
    while len(batch) < batchSize:
        try:
            item = items.get_nowait()
        except queue.Empty:
            break
        if item is _STOP:
            return batch, True
        batch.append(item)
    return batch, False


class _GroupCommitWriter:
    """
    The writer thread: it owns the only write connection and commits
    whatever submissions are queued together, one transaction per batch.

    @ivar commits: how many batches were committed.
    @ivar committedRequests: how many submissions those batches carried.
    """

    def __init__(self, connection, reactor, batchSize, deliver, finish):
        """
        @param connection: the write connection, handed over to the thread.
        @param deliver: called on the reactor thread with a batch's list of
            C{(deferred, result or Failure)}, the L{Failure} that failed
            the whole batch, or L{None}, how many requests were committed
            (0 when none was), and the promises the committed batch wrote,
            in order.
        @param finish: called in the writer thread once it has stopped and
            closed its connection.
        """
        self._connection = connection
        self._rows = _WriterRows(connection)
        self._reactor = reactor
        self._batchSize = batchSize
        self._deliver = deliver
        self._finish = finish
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name="resonate-sqlite-writer", daemon=True
        )
        self.commits = 0
        self.committedRequests = 0

    @property
    def thread(self):
        """
        The writer thread.
        """
        return self._thread

    def start(self):
        """
        Start the writer thread.
        """
        self._thread.start()

    def waiting(self):
        """
        How many submissions are queued and not yet taken.
        """
        return self._queue.qsize()

    def submit(self, submission):
        """
        Queue a L{_Submission}.
        """
        self._queue.put(submission)

    def stop(self):
        """
        Stop once everything queued so far is committed.
        """
        self._queue.put(_STOP)

    def _run(self):
        """
        The thread: take batches and commit them until told to stop, then
        close the connection and call C{finish}.
        """
        try:
            stopping = False
            while not stopping:
                batch, stopping = self._takeBatch()
                if batch:
                    self._commitBatch(batch)
        finally:
            try:
                self._connection.close()
            finally:
                self._finish()

    def _takeBatch(self):
        """
        See L{_takeBatch}.
        """
        return _takeBatch(self._queue, self._batchSize)

    def _commitBatch(self, batch):
        """
        Run a batch in one transaction and deliver its results, only once
        COMMIT has returned: nothing acknowledged can be lost.
        """
        outcomes = []
        runnable = []
        started = time.monotonic()
        for submission in batch:
            if submission.deadline < started:
                outcomes.append(
                    (
                        submission.deferred,
                        Failure(
                            StoreFailure("timed out waiting for the writer")
                        ),
                    )
                )
            else:
                runnable.append(submission)
        batchFailure = None
        written = []
        if runnable:
            try:
                outcomes.extend(self._transact(runnable))
            except Exception:
                batchFailure = Failure()
                batchFailure.cleanFailure()
                self._rollback()
                outcomes.extend(
                    (
                        submission.deferred,
                        Failure(
                            StoreFailure("the transaction was not committed")
                        ),
                    )
                    for submission in runnable
                )
            else:
                self.commits += 1
                self.committedRequests += len(runnable)
                written = self._rows.written
            self._rows.written = []
        self._reactor.callFromThread(
            self._deliver,
            outcomes,
            batchFailure,
            len(runnable) if runnable and batchFailure is None else 0,
            written,
        )

    def _transact(self, batch):
        """
        One transaction for the batch.  Scripts run one after the other
        without savepoints; if one fails, the batch is rolled back and run
        again with a savepoint per submission (L{_transactIsolated}), so a
        failing script undoes only its own writes and fails only its own
        request.  Failures are rare, and a savepoint costs two more SQLite
        calls per request, each of which gives up the GIL and must win it
        back from the busy reactor thread.

        @raise Exception: the transaction as a whole failed; nothing of it
            is committed.
        """
        connection = self._connection
        outcomes = []
        self._rows.written = []
        connection.execute("BEGIN IMMEDIATE")
        for submission in batch:
            try:
                result = submission.script(self._rows, *submission.args)
            except Exception:
                connection.execute("ROLLBACK")
                return self._transactIsolated(batch)
            outcomes.append((submission.deferred, result))
        connection.execute("COMMIT")
        return outcomes

    def _transactIsolated(self, batch):
        """
        One transaction, one savepoint per submission.  Scripts decide from
        what they read, so running one again after a rollback decides the
        same way.

        @raise Exception: the transaction as a whole failed; nothing of it
            is committed.
        """
        connection = self._connection
        outcomes = []
        written = self._rows.written = []
        connection.execute("BEGIN IMMEDIATE")
        for submission in batch:
            connection.execute("SAVEPOINT request")
            mark = len(written)
            try:
                result = submission.script(self._rows, *submission.args)
            except Exception:
                result = Failure()
                result.cleanFailure()
                connection.execute("ROLLBACK TO request")
                # Its writes are undone: the cache must not see them.
                del written[mark:]
            connection.execute("RELEASE request")
            outcomes.append((submission.deferred, result))
        connection.execute("COMMIT")
        return outcomes

    def _rollback(self):
        """
        End a failed transaction, if SQLite has not already.
        """
        try:
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
        except sqlite3.Error:
            # The connection is unusable; the next BEGIN will say so.
            pass


class _ReaderPool:
    """
    The reader threads.  Each owns a read-only connection; it takes every
    read queued (up to C{batchSize}) and runs them in one read transaction.
    Each outcome goes to the reactor thread as soon as it is known, but
    through one outbox: a wake-up of the reactor is scheduled only when the
    outbox was empty, and it delivers everything posted by then.

    This is what makes reads cheap: per read there is no thread-pool
    bookkeeping, rarely a wake-up of the reactor of its own, and two fewer
    SQLite calls (each of which gives up the GIL and must win it back from
    the busy reactor thread); and the reactor answers the first reads of a
    batch while the reader runs the rest.  One snapshot serves the batch:
    it is taken after every read in it was submitted, so each sees every
    write acknowledged before it was asked.

    @ivar threads: the reader threads.
    """

    def __init__(self, count, connect, reactor, batchSize, deliver):
        """
        @param connect: makes a read-only connection (in the thread).
        @param deliver: called on the reactor thread with a list of
            C{(deferred, result or Failure)}.
        """
        self._connect = connect
        self._reactor = reactor
        self._batchSize = batchSize
        self._deliver = deliver
        self._queue = queue.SimpleQueue()
        self._outbox = []
        self._outboxLock = threading.Lock()
        self.threads = [
            threading.Thread(
                target=self._run, name=f"resonate-sqlite-reader-{i}", daemon=True
            )
            for i in range(count)
        ]

    def start(self):
        """
        Start the reader threads.
        """
        for thread in self.threads:
            thread.start()

    def submit(self, script, args, deferred):
        """
        Queue a read: C{script(rows, *args)}, whose outcome fires
        C{deferred} on the reactor thread.
        """
        self._queue.put((script, args, deferred))

    def stop(self):
        """
        Stop every reader thread once the reads queued before are done, and
        wait for them (not on the reactor thread).
        """
        for _ in self.threads:
            self._queue.put(_STOP)
        for thread in self.threads:
            thread.join()

    def _run(self):
        connection = None
        try:
            stopping = False
            while not stopping:
                batch, stopping = self._takeBatch()
                if not batch:
                    continue
                if connection is None:
                    try:
                        connection = self._connect()
                    except Exception:
                        failure = Failure()
                        failure.cleanFailure()
                        for _, _, d in batch:
                            self._post(d, failure)
                        continue
                self._runBatch(connection, batch)
        finally:
            if connection is not None:
                connection.close()

    def _takeBatch(self):
        """
        See L{_takeBatch}.
        """
        return _takeBatch(self._queue, self._batchSize)

    def _post(self, d, result):
        """
        In a reader thread: hand an outcome to the reactor thread, waking it
        only if nothing was waiting to be delivered.
        """
        with self._outboxLock:
            self._outbox.append((d, result))
            if len(self._outbox) > 1:
                return
        self._reactor.callFromThread(self._drain)

    def _drain(self):
        """
        On the reactor thread: deliver everything posted so far.
        """
        with self._outboxLock:
            outcomes, self._outbox = self._outbox, []
        self._deliver(outcomes)

    def _runBatch(self, connection, batch):
        """
        Run a batch of reads in one read transaction, posting each outcome
        as soon as it is known.
        """
        rows = _ReadOnlyRows(connection)
        for script, args, d in batch:
            try:
                if not connection.in_transaction:
                    connection.execute("BEGIN")
                result = script(rows, *args)
            except BaseException:
                result = Failure()
                result.cleanFailure()
            self._post(d, result)
        try:
            if connection.in_transaction:
                connection.execute("COMMIT")
        except sqlite3.Error:
            # A read transaction has nothing to lose; the next BEGIN starts
            # afresh.
            try:
                connection.execute("ROLLBACK")
            except sqlite3.Error:
                pass
