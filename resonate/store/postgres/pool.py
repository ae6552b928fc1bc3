# -*- test-case-name: tests.integration.test_store_postgres -*-
"""
The connections of the PostgreSQL store: txpostgres connections in a small
pool of our own (L{_ConnectionPool}), and L{_Transaction}, one request run
on one of them under a deadline.

A transaction takes a connection for its whole length.  A lost connection is
dropped and reopened, with backoff, on the injected reactor; while no
connection is open, requests fail at once with L{StoreFailure} (5002)
instead of waiting.  Nothing here ever cancels a txpostgres C{Deferred} (its
cancel raises into the caller): a request that outlives C{txTimeout} is
answered 5002 by a timer, the server's C{statement_timeout} ends the
statement it was running, and a connection that still does not come back is
closed.
"""

from collections import deque

import psycopg2
import psycopg2.errorcodes
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    ensureDeferred,
    fail,
    succeed,
)
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.logger import Logger
from twisted.python.failure import Failure
from txpostgres import txpostgres

from resonate.errors import ResonateError, StoreFailure
from resonate.status import Status
from resonate.store import scripts
from resonate.store.postgres.batch import BatchConflict
from resonate.store.postgres.rows import PostgresRows


#: The pgcodes after which a transaction is worth running again.
RETRYABLE_PGCODES = frozenset(
    [
        psycopg2.errorcodes.SERIALIZATION_FAILURE,
        psycopg2.errorcodes.DEADLOCK_DETECTED,
    ]
)

#: How many times a transaction runs when it keeps hitting
#: L{RETRYABLE_PGCODES}.
MAX_RETRIES = 3

#: Seconds between attempts to reopen a lost connection: the first delay,
#: and the most it grows to.
RECONNECT_DELAY = 0.05
MAX_RECONNECT_DELAY = 2.0


def _oneLine(error):
    """
    A database error's message on one line.
    """
    return " ".join(str(error).split()) or type(error).__name__


class _Connection(txpostgres.Connection):
    """
    A txpostgres connection that reports its own loss instead of logging an
    unhandled error: when the server drops an idle connection, txpostgres
    raises out of C{doRead}.

    @ivar onLost: called with this connection when it is lost.
    """

    onLost = None

    def doRead(self):
        """
        Read as txpostgres does; a database error disconnects quietly.
        """
        try:
            return txpostgres.Connection.doRead(self)
        except psycopg2.Error as e:
            return e

    def connectionLost(self, reason):
        """
        Let txpostgres finish its poll cycle, then tell the pool.
        """
        txpostgres.Connection.connectionLost(self, reason)
        if self.onLost is not None:
            self.onLost(self)

    @property
    def broken(self):
        """
        Whether this connection can run nothing more.
        """
        return self._connection is None or bool(self._connection.closed)

    def abandon(self):
        """
        Close, whatever state the connection is in.
        """
        if self._connection is not None:
            self.close()


class _ConnectionPool:
    """
    C{count} connections, each reopened with backoff when lost, and a
    bounded queue of transactions waiting for one.

    While no connection is open and the last attempt to open one failed,
    L{acquire} fails at once: a database that is away is reported now, not
    after C{txTimeout}.
    """

    _log = Logger()

    def __init__(self, reactor, dsn, settings, count, size, connectTimeout):
        """
        @param settings: a statement and parameters run on every new
            connection.
        @param size: the most transactions that may wait for a connection.
        @param connectTimeout: seconds an attempt to connect may take.
        """
        self._reactor = reactor
        self._dsn = dsn
        self._settings = settings
        self._count = count
        self._size = size
        self._connectTimeout = connectTimeout
        self._idle = []
        self._busy = set()
        self._connecting = set()
        self._waiters = deque()
        self._timers = set()
        self._delay = RECONNECT_DELAY
        self._available = True
        self._lastError = None
        self._connectFailing = False
        self._closed = False

    @property
    def open(self):
        """
        How many connections are open.
        """
        return len(self._idle) + len(self._busy)

    def start(self):
        """
        Open every connection.
        """
        for _ in range(self._count):
            self._connect()

    def _connect(self):
        """
        Open one connection; on failure, try again after a growing delay.
        """
        if self._closed:
            return
        connection = _Connection(self._reactor)
        self._connecting.add(connection)
        d = connection.connect(self._dsn)
        d.addCallback(lambda _: connection.runOperation(*self._settings))
        timer = self._reactor.callLater(
            self._connectTimeout, connection.abandon
        )

        def connected(_):
            self._connecting.discard(connection)
            if timer.active():
                timer.cancel()
            if self._closed:
                connection.abandon()
                return
            connection.onLost = self._lost
            self._delay = RECONNECT_DELAY
            if not self._available:
                self._log.info("PostgreSQL connection restored")
            self._available = True
            self._connectFailing = False
            self._lastError = None
            self._release(connection)

        def failed(failure):
            self._connecting.discard(connection)
            if timer.active():
                timer.cancel()
            connection.abandon()
            if self._closed:
                return
            if not self._connectFailing:
                self._connectFailing = True
                self._log.warn(
                    "cannot connect to PostgreSQL: {reason}; retrying",
                    reason=_oneLine(failure.value),
                )
            self._lastError = _oneLine(failure.value)
            if self.open == 0:
                self._unavailable()
            self._retryLater()

        d.addCallbacks(connected, failed)

    def _retryLater(self):
        """
        Schedule the next attempt to connect.
        """
        delay = self._delay
        self._delay = min(self._delay * 2, MAX_RECONNECT_DELAY)

        def attempt():
            self._timers.discard(call)
            self._connect()

        call = self._reactor.callLater(delay, attempt)
        self._timers.add(call)

    def _unavailable(self):
        """
        No connection is left: fail every waiter now, and every request
        until one is open again.
        """
        self._available = False
        waiters, self._waiters = self._waiters, deque()
        for d in waiters:
            d.errback(self._unavailableFailure())

    def _unavailableFailure(self):
        """
        The L{StoreFailure} a request gets while no connection is open.
        """
        reason = f": {self._lastError}" if self._lastError else ""
        return Failure(StoreFailure(f"PostgreSQL is unavailable{reason}"))

    def _lost(self, connection):
        """
        An open connection was lost (C{connectionLost}): drop it and open
        another.
        """
        if connection in self._idle:
            self._idle.remove(connection)
        elif connection in self._busy:
            # Its transaction fails by itself and gives it back.
            return
        else:
            return
        self._dropped(connection, "lost while idle")

    def _dropped(self, connection, why):
        """
        C{connection}, no longer in the pool, is lost: close it and open
        another.
        """
        connection.onLost = None
        connection.abandon()
        if self._closed:
            return
        self._log.warn("PostgreSQL connection {why}; reconnecting", why=why)
        if self.open == 0:
            self._lastError = self._lastError or f"connection {why}"
            self._unavailable()
        self._retryLater()

    def acquire(self):
        """
        A connection for one transaction.

        @return: a C{Deferred} firing with a connection; cancelling it gives
            up the place in the queue.
        """
        if self._closed:
            return fail(ResonateError(Status.SHUTTING_DOWN))
        while self._idle:
            connection = self._idle.pop()
            if connection.broken:
                self._dropped(connection, "found broken")
                continue
            self._busy.add(connection)
            return succeed(connection)
        if not self._available:
            return fail(self._unavailableFailure())
        if len(self._waiters) >= self._size:
            return fail(ResonateError(Status.AIO_SUBMISSION_QUEUE_FULL))

        def cancel(d):
            self._waiters.remove(d)
            d.errback(StoreFailure("timed out waiting for a connection"))

        d = Deferred(cancel)
        self._waiters.append(d)
        return d

    def release(self, connection):
        """
        Take back a connection from L{acquire}.
        """
        self._busy.discard(connection)
        if connection.broken:
            self._dropped(connection, "lost")
        else:
            self._release(connection)

    def _release(self, connection):
        """
        Hand an open connection to the next waiter, or keep it idle.
        """
        if self._closed:
            connection.onLost = None
            connection.abandon()
            return
        if self._waiters:
            self._busy.add(connection)
            self._waiters.popleft().callback(connection)
        else:
            self._idle.append(connection)

    def close(self):
        """
        Stop reconnecting, fail the waiters and close the idle connections;
        busy ones are closed as they are released.
        """
        self._closed = True
        for call in self._timers:
            call.cancel()
        self._timers.clear()
        waiters, self._waiters = self._waiters, deque()
        for d in waiters:
            d.errback(ResonateError(Status.SHUTTING_DOWN))
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.onLost = None
            connection.abandon()
        for connection in list(self._connecting):
            connection.abandon()


#: Errors that may mean the connection, not the statement, failed.
_CONNECTION_ERRORS = (
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    ConnectionDone,
    ConnectionLost,
)


class StatementFailed(StoreFailure):
    """
    The database refused a statement of the transaction (not the
    connection, nor the deadline): a batch of requests that meets it is
    run again one request at a time.
    """


class _Expired(Exception):
    """
    The transaction ran past its deadline; it runs no further statement.
    """


class _Transaction:
    """
    One request: a script run on one connection, under a deadline.

    @ivar expired: the deadline has passed and the requester has been
        answered.
    """

    def __init__(self, pool, reactor, txTimeout, log):
        self._pool = pool
        self._reactor = reactor
        self._txTimeout = txTimeout
        self._log = log
        self.expired = False
        self.connection = None
        self._acquiring = None
        self._overdue = None
        self._beginPending = False
        self._begun = False

    def execute(self, statement, parameters):
        """
        Run one statement on this transaction's connection; the first of a
        transaction carries its C{BEGIN} (one round trip for both).

        @return: a C{Deferred} firing with the cursor.
        """
        if self.expired:
            return fail(_Expired())
        if self._beginPending:
            # Sent as one simple query, BEGIN opens the block that the
            # statement after it, and the rest, run in.
            self._beginPending = False
            self._begun = True
            statement = "BEGIN; " + statement
        return self.connection.cursor().execute(statement, parameters)

    def run(self, script, args, inTransaction):
        """
        Run C{script(*args)} over L{PostgresRows}.

        @param inTransaction: run it between C{BEGIN} and C{COMMIT}, with
            overdue rows claimed (the sweep); otherwise every statement is
            its own autocommit transaction.
        @return: a C{Deferred} firing with the script's result or failing
            with a L{ResonateError}, within C{txTimeout}.
        """
        answer = Deferred()
        work = ensureDeferred(self._run(script, args, inTransaction))
        deadline = self._reactor.callLater(
            self._txTimeout, self._expire, answer
        )

        def finished(result):
            if deadline.active():
                deadline.cancel()
            if not answer.called:
                answer.callback(result)

        work.addBoth(self._storeError).addBoth(finished)
        return answer

    def _expire(self, answer):
        """
        The deadline: answer 5002 now; stop waiting for a connection, or
        close the connection if its statement has not ended by the time
        C{statement_timeout} should have ended it.
        """
        self.expired = True
        try:
            self._abandon()
        finally:
            # Last: whoever waits for the answer may run at once and must
            # find this transaction out of the queue.
            if not answer.called:
                answer.errback(
                    StoreFailure(
                        f"the transaction timed out after {self._txTimeout}s"
                    )
                )

    def _abandon(self):
        """
        Stop waiting for a connection, or arrange to close the connection if
        its statement has not ended by the time C{statement_timeout} should
        have ended it.
        """
        if self._acquiring is not None:
            self._acquiring.cancel()
        elif self.connection is not None:
            connection = self.connection

            def overdue():
                if self.connection is connection:
                    self._log.warn(
                        "closing a PostgreSQL connection whose statement "
                        "outlived its timeout"
                    )
                    connection.abandon()

            self._overdue = self._reactor.callLater(
                self._txTimeout + 1.0, overdue
            )

    async def _run(self, script, args, inTransaction):
        """
        Take a connection, run the script (again, on a serialization failure
        or deadlock), give the connection back.
        """
        self._acquiring = self._pool.acquire()
        try:
            self.connection = await self._acquiring
        finally:
            self._acquiring = None
        if self.expired:
            self._pool.release(self.connection)
            self.connection = None
            raise _Expired()
        try:
            for attempt in range(1, MAX_RETRIES + 1):
                try:
                    return await self._attempt(script, args, inTransaction)
                except psycopg2.Error as e:
                    if (
                        e.pgcode not in RETRYABLE_PGCODES
                        or attempt == MAX_RETRIES
                        or self.connection.broken
                    ):
                        raise
        except _CONNECTION_ERRORS as e:
            if getattr(e, "pgcode", None) is None:
                # No answer from the server: the connection itself failed.
                self.connection.abandon()
            raise
        finally:
            if self._overdue is not None and self._overdue.active():
                self._overdue.cancel()
            connection, self.connection = self.connection, None
            self._pool.release(connection)

    async def _attempt(self, script, args, inTransaction):
        """
        Run the script once, in autocommit or in one transaction.
        """
        rows = PostgresRows(self.execute, claimOverdue=inTransaction)
        if not inTransaction:
            return await scripts.runAsync(rows, script(*args))
        self._beginPending, self._begun = True, False
        try:
            result = await scripts.runAsync(rows, script(*args))
            if self._begun:
                await self.connection.cursor().execute("COMMIT", None)
        except BaseException:
            if self._begun and not self.connection.broken:
                try:
                    await self.connection.cursor().execute("ROLLBACK", None)
                except psycopg2.Error:
                    pass
            raise
        finally:
            self._beginPending = False
        return result

    def _storeError(self, result):
        """
        Let a result or a L{ResonateError} through; turn a database error
        into L{StoreFailure}, logging what was not expected.
        """
        if not isinstance(result, Failure) or result.check(
            ResonateError, _Expired, BatchConflict
        ):
            return result
        if result.check(psycopg2.Error):
            self._log.warn(
                "PostgreSQL transaction failed: {reason}",
                reason=_oneLine(result.value),
            )
            return Failure(StatementFailed(_oneLine(result.value)))
        if result.check(CancelledError):
            # txpostgres's name for QueryCanceledError: statement_timeout.
            self._log.warn("PostgreSQL statement timed out")
            return Failure(StoreFailure("the statement timed out"))
        if result.check(ConnectionDone, ConnectionLost):
            return Failure(
                StoreFailure("the PostgreSQL connection was lost")
            )
        self._log.failure("PostgreSQL transaction failed", result)
        return Failure(StoreFailure())
