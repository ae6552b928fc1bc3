# -*- test-case-name: tests.integration.test_store_postgres -*-
"""
L{PostgresStore}, an L{IStore} in a PostgreSQL database that any number of
server processes may share, with its batching of creates, and
L{PostgresStoreProvider}.
"""

import dataclasses

from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from resonate.errors import ResonateError, StoreFailure
from resonate.interfaces import IStore, IStoreProvider
from resonate.model.promise import CreatePromise, decideCreate, decideRead
from resonate.model.requests2026 import (
    ContinueTask,
    FenceTask,
    GetPromise,
    GetTask,
    HaltTask,
    RegisterCallback,
    RegisterListener,
    ReleaseTask,
    SettlePromise,
)
from resonate.model.tasks2026 import (
    RETRY_TIMEOUT,
    AcquireTask,
    CreateTask,
    FulfillTask,
    HeartbeatTasks,
    SuspendTask,
)
from resonate.status import Status
from resonate.store import scripts, scripts2026
from resonate.store.postgres.options import POSTGRES_OPTIONS, PostgresOptions
from resonate.store.postgres.batch import BatchConflict, together
from resonate.store.postgres.pool import (
    StatementFailed,
    _ConnectionPool,
    _Transaction,
)
from resonate.store.postgres.schema import prepareDatabase


class _Batch:
    """
    Requests of one kind waiting together for one connection, run with
    one statement or one transaction when it comes: creates
    (L{PostgresStore.createPromise}), reads (L{PostgresStore.readPromise})
    and writes (L{PostgresStore.completePromise},
    L{PostgresStore.handle2026}).

    @ivar kind: which of the store's open batches this is.
    @ivar entries: the requests' arguments, each ending with its
        C{Deferred}, in arrival order.
    @ivar ids: for writes, the ids the requests name, so that a request
        naming one already in the batch waits for the next.
    """

    def __init__(self, kind):
        self.kind = kind
        self.entries = []
        self.ids = set()
        self._taken = None

    def take(self, store):
        """
        Stop taking entries (the next request starts another batch) and
        return them; a retried transaction gets the same ones again.
        """
        if self._taken is None:
            self._taken = self.entries
            store._batchTaken(self)
        return self._taken


def _readDecisions(batch, store):
    """
    The read half of L{scripts.readPromise} for a whole batch of reads:
    one autocommit C{= ANY} statement, and a decision per read, writing
    nothing; a decision that must write (a timeout, with its settlement
    chain) is made again in a transaction.
    """
    entries = batch.take(store)
    found = yield scripts.RowOp(
        "readPromises", ({promiseId for promiseId, *_ in entries},)
    )
    return [
        decideRead(found.get(promiseId), now) for promiseId, now, *_ in entries
    ]


def _writeTogether(batch, store):
    """
    The scripts of a batch of writes in one transaction
    (L{batch.together}); a batch of one runs its script as it is.
    """
    entries = batch.take(store)
    if len(entries) == 1:
        [(script, args, _)] = entries
        return [(True, (yield from script(*args)))]
    return (yield from together([script(*args) for script, args, _ in entries]))


#: The 2026 requests a batch may run together: those whose scripts use
#: only row operations of known reach (L{batch.footprint}), with the ids
#: each names.  Searches, snapshots and resets run on their own.
_NAMED_2026 = {
    GetPromise: lambda r: (r.id,),
    CreatePromise: lambda r: (r.id,),
    SettlePromise: lambda r: (r.id,),
    RegisterCallback: lambda r: (r.awaited, r.awaiter),
    RegisterListener: lambda r: (r.awaited,),
    GetTask: lambda r: (r.id,),
    CreateTask: lambda r: (r.promise.id,),
    AcquireTask: lambda r: (r.id,),
    ReleaseTask: lambda r: (r.id,),
    FulfillTask: lambda r: (r.id,),
    SuspendTask: lambda r: (r.id, *r.awaited),
    FenceTask: lambda r: (r.id, r.action.id),
    HaltTask: lambda r: (r.id,),
    ContinueTask: lambda r: (r.id,),
    HeartbeatTasks: lambda r: tuple(entry.id for entry in r.tasks),
}


def _insertNewPromises(batch, store):
    """
    The first step of L{scripts.createPromise} for a whole batch: each
    promise as L{decideCreate} makes it when its id is new, all inserted
    with one statement.

    @return: per entry, its decision if its promise was inserted, or
        L{None} when the id was taken (or came earlier in the batch): that
        request is decided again by L{scripts.createPromise}.
    """
    entries = batch.take(store)
    decisions = [decideCreate(None, request, now) for request, now, _ in entries]
    inserted = yield scripts.RowOp(
        "insertPromises", ([decision.promise for decision in decisions],)
    )
    answers = []
    for decision in decisions:
        if decision.promise.id in inserted:
            # Only the first of a repeated id was inserted.
            inserted.discard(decision.promise.id)
            answers.append(decision)
        else:
            answers.append(None)
    return answers


@implementer(IStore)
class PostgresStore:
    """
    An L{IStore} in a PostgreSQL database that any number of server
    processes may share.

    @ivar pool: the connections (tests look at C{pool.open}).
    """

    _log = Logger()

    def __init__(self, config, reactor=None):
        """
        Create or migrate the schema, synchronously, then start opening
        C{config.workers} connections on C{reactor}.

        @param config: a L{resonate.config.StoreConfig}.
        @param reactor: the reactor the connections run on; the global one
            when L{None}.
        @raise StoreFailure: the options are wrong or the database cannot be
            opened.
        """
        if reactor is None:
            from twisted.internet import reactor
        self._reactor = reactor
        self._options = PostgresOptions.fromConfig(config.options)
        for name in ("size", "workers"):
            value = getattr(config, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < 1
            ):
                raise StoreFailure(
                    f"store {name} must be at least 1, not {value!r}"
                )
        options = self._options
        if getattr(config, "shared", False) and options.reset:
            # A worker of api.workers: the supervisor reset the schema
            # once, before the workers opened it; dropping it here would
            # delete what the other workers wrote.
            options = dataclasses.replace(options, reset=False)
        prepareDatabase(options)
        timeoutMilliseconds = max(1, int(self._options.txTimeout * 1000))
        self.pool = _ConnectionPool(
            reactor,
            self._options.dsn(application_name="resonate"),
            (
                "SELECT set_config('statement_timeout', %s, false), "
                "set_config('idle_in_transaction_session_timeout', %s, "
                "false)",
                (str(timeoutMilliseconds), str(timeoutMilliseconds * 4)),
            ),
            config.workers,
            config.size,
            max(self._options.txTimeout, 2.0),
        )
        self._running = 0
        self._closing = False
        self._closeWaiters = []
        self._size = config.size
        self._batchSize = config.batchSize
        #: By kind, the batch new requests join, until a connection takes
        #: it.
        self._openBatches = {}
        #: By kind, the requests in batches no connection has taken yet.
        self._waiting = {}
        self.pool.start()

    def _run(self, script, *args, inTransaction=False, accepted=False):
        """
        Run a shared script as one request.

        @param accepted: the request was accepted before close() (a create
            decided again after its batch), so shutting down does not
            refuse it.
        """
        if self._closing and not accepted:
            return fail(ResonateError(Status.SHUTTING_DOWN))
        self._running += 1
        d = _Transaction(
            self.pool, self._reactor, self._options.txTimeout, self._log
        ).run(script, args, inTransaction)
        d.addBoth(self._finished)
        return d

    def _finished(self, result):
        """
        A request is answered; the last one lets a pending close() go on.
        """
        self._running -= 1
        if self._closing and self._running == 0:
            self._closeNow()
        return result

    def ping(self):
        """
        C{SELECT 1} on a pooled connection, within C{txTimeout}; fails at
        once with L{StoreFailure} while no connection is open.
        """
        return self._run(scripts.ping)

    def readPromise(self, promiseId, now, retryTimeout=RETRY_TIMEOUT):
        """
        Read a promise; time it out, with its settlement chain, in a
        transaction if it is overdue.  Reads that arrive while every
        connection is busy wait together, and the first connection free
        reads them with one autocommit statement (C{= ANY}); an overdue
        one is then timed out on its own, as L{scripts.readPromise} does.
        """
        return self._submit(
            "read", (promiseId, now), _readDecisions, False
        ).addCallback(self._readDecided, promiseId, now, retryTimeout)

    def _readDecided(self, decision, promiseId, now, retryTimeout):
        if decision.write is None:
            return decision
        return self._run(
            scripts.readPromise,
            promiseId,
            now,
            retryTimeout,
            inTransaction=True,
            accepted=True,
        )

    def createPromise(self, request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Create or deduplicate.  Creates that arrive while every connection
        is busy wait together, and the first connection free inserts them
        with one statement and one commit (one round trip for many); a
        request whose id was taken is then decided on its own, as
        L{scripts.createPromise} decides it.  At most C{size} creates wait
        so (more answer 503, as a full queue does).
        """
        return self._submit(
            "create", (request, now), _insertNewPromises, False
        ).addCallback(self._createDecided, request, now, retryTimeout)

    def _createDecided(self, decision, request, now, retryTimeout):
        if decision is not None:
            return decision
        # A transaction: deciding again may time the existing promise out,
        # with its settlement chain.
        return self._run(
            scripts.createPromise,
            request,
            now,
            retryTimeout,
            accepted=True,
            inTransaction=True,
        )

    def _submit(self, kind, entry, script, inTransaction, ids=None):
        """
        Add a request to the open batch of C{kind}, opening one if there is
        none (or it is full, or, for writes, already names one of C{ids}):
        a new batch asks for a connection at once, and runs C{script} over
        every request that has joined it by the time one is free.  At most
        C{size} requests of a kind wait so (more answer 503, as a full
        queue does).

        @param entry: the request's arguments, as C{script} takes them.
        @return: a C{Deferred} firing with the request's share of what
            C{script} returns.
        """
        if self._closing:
            return fail(ResonateError(Status.SHUTTING_DOWN))
        if self._waiting.get(kind, 0) >= self._size:
            return fail(ResonateError(Status.AIO_SUBMISSION_QUEUE_FULL))
        batch = self._openBatches.get(kind)
        opened = (
            batch is None
            or len(batch.entries) >= self._batchSize
            or (ids is not None and not batch.ids.isdisjoint(ids))
        )
        if opened:
            batch = self._openBatches[kind] = _Batch(kind)
        d = Deferred()
        batch.entries.append((*entry, d))
        if ids is not None:
            batch.ids.update(ids)
        self._waiting[kind] = self._waiting.get(kind, 0) + 1
        if opened:
            # Held until the batch's requests run again on their own are
            # under way, so that close() waits for them too.
            self._running += 1
            self._run(script, batch, self, inTransaction=inTransaction).addBoth(
                self._batchAnswered, batch
            )
        return d

    def _batchTaken(self, batch):
        """
        A connection has taken C{batch}: new requests start another.
        """
        if self._openBatches.get(batch.kind) is batch:
            del self._openBatches[batch.kind]
        self._waiting[batch.kind] -= len(batch.entries)

    def _batchAnswered(self, result, batch):
        """
        Answer each request of C{batch}: with its share of the result, or
        the batch's failure; a batch of writes that could not run together
        runs each request on its own.
        """
        entries = batch.take(self)
        try:
            if isinstance(result, Failure):
                if batch.kind == "write" and (
                    result.check(BatchConflict)
                    or (len(entries) > 1 and result.check(StatementFailed))
                ):
                    for script, args, d in entries:
                        self._alone(script, args).chainDeferred(d)
                    return None
                for *_, d in entries:
                    d.errback(result)
                return None
            for entry, answer in zip(entries, result):
                d = entry[-1]
                if batch.kind != "write":
                    d.callback(answer)
                elif answer[0]:
                    d.callback(answer[1])
                else:
                    # It failed before writing: alone, it fails as it
                    # would have, with the store's errors.
                    self._alone(*entry[:2]).chainDeferred(d)
            return None
        finally:
            self._finished(None)

    def _alone(self, script, args):
        """
        Run a write of a batch in a transaction of its own.
        """
        return self._run(script, *args, inTransaction=True, accepted=True)

    def _write(self, script, args, ids):
        """
        Run a write in a transaction: with the writes waiting for a
        connection at the same time when it names none of their ids.
        """
        return self._submit("write", (script, args), _writeTogether, True, ids)

    def completePromise(self, request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Complete or deduplicate, with the settlement chain, in a
        transaction, with the other writes waiting for a connection at the
        same time (L{batch.together}).
        """
        return self._write(
            scripts.completePromise, (request, now, retryTimeout), (request.id,)
        )

    def searchPromises(self, query, now):
        """
        Search with one read-only statement: overdue promises are answered
        timed out, and left to the sweep to write.
        """
        return self._run(scripts.searchPromises, query, now)

    def timeoutPromises(self, now, limit, retryTimeout=RETRY_TIMEOUT):
        """
        Time out at most C{limit} overdue promises that no other process is
        timing out now, each with its settlement chain, in one transaction.
        """
        return self._run(
            scripts.timeoutPromises, now, limit, retryTimeout, inTransaction=True
        )

    def createSchedule(self, request, now):
        """
        Create or deduplicate a schedule (the insert is conditional).
        """
        return self._run(scripts.createSchedule, request, now)

    def readSchedule(self, scheduleId, now):
        """
        Read a schedule.
        """
        return self._run(scripts.readSchedule, scheduleId, now)

    def deleteSchedule(self, scheduleId, now):
        """
        Delete a schedule.
        """
        return self._run(scripts.deleteSchedule, scheduleId, now)

    def searchSchedules(self, query, now):
        """
        Search schedules, newest first.
        """
        return self._run(scripts.searchSchedules, query, now)

    def fireSchedules(self, now, limit, isRouted=None, retryTimeout=RETRY_TIMEOUT):
        """
        Fire at most C{limit} due slots that no other process is firing
        now, in one transaction: each advance commits with its promise or
        not at all, so a slot fires at most once across processes.
        """
        return self._run(
            scripts.fireSchedules,
            now,
            limit,
            isRouted,
            retryTimeout,
            inTransaction=True,
        )

    def nextRunTime(self):
        """
        The earliest next slot of any schedule.
        """
        return self._run(scripts.nextRunTime)

    def acquireLock(self, request, now):
        """
        Acquire, re-acquire or take over a lock.
        """
        return self._run(scripts.acquireLock, request, now)

    def releaseLock(self, request, now):
        """
        Release a lock held by the requesting execution.
        """
        return self._run(scripts.releaseLock, request, now)

    def heartbeatLocks(self, processId, now):
        """
        Extend every lock of a process.
        """
        return self._run(scripts.heartbeatLocks, processId, now)

    def timeoutLocks(self, now, limit):
        """
        Delete at most C{limit} expired locks.
        """
        return self._run(scripts.timeoutLocks, now, limit)

    def createPromiseAndTask(self, request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Create or deduplicate a routed promise and, when it is created, its
        task, in one transaction.
        """
        return self._run(
            scripts.createPromiseAndTask, request, now, retryTimeout, inTransaction=True
        )

    def claimTask(self, request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Claim a task, in one transaction: the task row is locked while its
        promise's lock is taken, so claims of one task serialise.
        """
        return self._run(
            scripts.claimTask, request, now, retryTimeout, inTransaction=True
        )

    def completeTask(self, request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Complete a task, its promise and release the lock, in one
        transaction, with the task row (and the promise row) locked.
        """
        return self._run(
            scripts.completeTask, request, now, retryTimeout, inTransaction=True
        )

    def dispatchTasks(self, now, limit, claimWindow):
        """
        Offer at most C{limit} dispatchable tasks that no other process is
        offering now, in one transaction.
        """
        return self._run(
            scripts.dispatchTasks,
            now,
            limit,
            claimWindow,
            inTransaction=True,
        )

    def handle2026(self, request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Answer a 2026 request in one transaction: the tasks it reads are
        locked (C{FOR UPDATE}) until it ends, and its conditional writes
        keep several processes on one database correct.  The requests of
        L{_NAMED_2026} share their transaction with the writes waiting for
        a connection at the same time (L{batch.together}).
        """
        named = _NAMED_2026.get(type(request))
        if named is None:
            return self._run(
                scripts2026.handle, request, now, retryTimeout, inTransaction=True
            )
        return self._write(
            scripts2026.handle, (request, now, retryTimeout), named(request)
        )

    def expireTasks2026(self, now, limit, retryTimeout=RETRY_TIMEOUT):
        """
        Act on at most C{limit} due task timers that no other process holds
        (C{FOR UPDATE SKIP LOCKED}), in one transaction.
        """
        return self._run(
            scripts2026.expireTasks, now, limit, retryTimeout, inTransaction=True
        )

    def takeMessages(self, now, limit, route, lease):
        """
        Take due outbox messages no other process holds (C{FOR UPDATE SKIP
        LOCKED}) and put them off by C{lease}, in one transaction.
        """
        return self._run(
            scripts2026.takeMessages, now, limit, route, lease, inTransaction=True
        )

    def settleMessages(self, delivered, failed):
        """
        Settle a look's messages in one transaction.
        """
        return self._run(
            scripts2026.settleMessages, list(delivered), list(failed),
            inTransaction=True,
        )

    def dropExpiredMessages(self, createdBefore, limit):
        """
        Drop expired messages no other process holds, in one transaction.
        """
        return self._run(
            scripts2026.dropExpiredMessages, createdBefore, limit, inTransaction=True
        )

    def close(self):
        """
        Refuse new requests, let the running ones finish, then close every
        connection.

        @return: a C{Deferred} firing once the connections are closed.
        """
        if self._closing and self._running == 0:
            return succeed(None)
        d = Deferred()
        self._closeWaiters.append(d)
        self._closing = True
        if self._running == 0:
            self._closeNow()
        return d

    def _closeNow(self):
        """
        Nothing is running: close the connections and fire close()'s
        C{Deferred}s.
        """
        self.pool.close()
        waiters, self._closeWaiters = self._closeWaiters, []
        for d in waiters:
            d.callback(None)


@implementer(IStoreProvider)
class PostgresStoreProvider:
    """
    Makes L{PostgresStore}s: C{kind: postgres}.
    """

    name = "postgres"
    description = (
        "PostgreSQL: several server processes may share one database"
    )
    options = POSTGRES_OPTIONS

    def makeStore(self, config, reactor):
        """
        Open the PostgreSQL store C{config} describes, creating or migrating
        its schema before the reactor runs.

        @raise StoreFailure: it cannot be opened.
        """
        return PostgresStore(config, reactor)
