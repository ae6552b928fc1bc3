# -*- test-case-name: tests.unit.test_store_memory -*-
"""
The store contract: one suite that every L{IStore} provider runs.

Subclass L{StoreTestsMixin} together with
L{twisted.trial.unittest.TestCase} and define C{makeStore}::

    class MyStoreContractTests(StoreTestsMixin, unittest.TestCase):
        def makeStore(self):
            store = MyStore(path=self.mktemp())
            self.addCleanup(store.close)
            return store

C{makeStore} must return a new, empty store for every test (tests count
what C{timeoutPromises}, C{searchPromises}, C{timeoutLocks},
C{searchSchedules} and C{fireSchedules} find).  The tests only use
L{IStore}: they create, read, complete, search and time out promises,
create, read, delete, search and fire schedules, acquire, release,
heartbeat and sweep locks, create, dispatch, claim and complete tasks,
and look at the
L{resonate.model.promise.Decision}s, L{resonate.model.promise.SearchPage}s,
L{resonate.model.schedule.ScheduleDecision}s,
L{resonate.model.schedule.SchedulePage}s and
L{resonate.model.lock.LockDecision}s that come back.  A stored lock is
seen only through what later requests answer.
Every test passes its own fixed C{now}; stores never read a clock.  Tests
are coroutines, so stores may answer from other threads through the real
reactor.

Three more things a store is tested for need hooks into it:

  - B{rollback}: a request whose row operation fails part way leaves
    nothing behind.  A store built on the shared transaction scripts of
    L{resonate.store.scripts} sets C{rowsClass} to the class whose
    instances its scripts run over; the suite then patches the row
    operations of that class (L{StoreTestsMixin.failRowOperation}).  A
    store with scripts of its own overrides C{failRowOperation} instead.
    With neither, the rollback tests fail, saying so: a suite that skipped
    them could not catch a store that does not roll back;
  - B{lost races}: a conditional write that another writer got in before
    is refused, and the request answers as the winner left things.  The
    same C{rowsClass} serves (L{StoreTestsMixin.raceRowOperation}), or an
    override of C{raceRowOperation};
  - B{durability}: a durable store defines C{reopenStore}, which closes
    the store and opens another over the same data; the durability tests
    skip for a store that does not (L{StoreTestsMixin.reopenStore})::

        class MyStoreContractTests(StoreTestsMixin, unittest.TestCase):
            rowsClass = MyRows

            def makeStore(self):
                self.path = self.mktemp()
                return self.openMyStore(self.path)

            async def reopenStore(self):
                await self.store.close()
                return self.openMyStore(self.path)

The 2026 tables (L{resonate.interfaces.ITask2026Rows}: tasks, callbacks,
listeners, outbox) are tested through the rows directly too, in the store's
own transactions: C{runRowScript(script, *args)} runs a script of row
operations as one write transaction (by default C{self.store.runScript},
which a L{resonate.store.scripts.ScriptedStore} has).  Every store needs
them (every settlement runs the 2026 chain), so those tests fail while
C{rowsClass} does not provide C{ITask2026Rows}.
"""

import threading
from dataclasses import replace
from http import HTTPStatus
from inspect import isawaitable
from itertools import combinations

from twisted.internet.defer import Deferred, gatherResults
from twisted.trial.unittest import SkipTest
from zope.interface.verify import verifyObject

from resonate.errors import ResonateError, StoreFailure
from resonate.interfaces import IStore, ITask2026Rows
from resonate.model.lock import AcquireLock, Lock, ReleaseLock
from resonate.model.promise import (
    ALL_STATES,
    SEARCH_STATES,
    TIMER_TAG,
    TIMER_TAG_2026,
    CompletePromise,
    CreatePromise,
    Insert,
    PromiseQuery,
    State,
    Update,
    Value,
    timedOut,
)
from resonate.model.schedule import (
    INVOCATION_TAG,
    SCHEDULE_TAG,
    CreateSchedule,
    ScheduleQuery,
    fire,
    nextRunTime,
)
from resonate.model.task import CLAIM_WINDOW, ClaimTask, CompleteTask
from resonate.model.tasks2026 import (
    BRANCH_TAG,
    RETRY_TIMEOUT,
    TARGET_TAG,
    AcquireTask,
    Callback,
    Concern,
    DeleteListeners,
    Effects,
    Execute,
    InsertCallback,
    InsertListener,
    InsertTask,
    Listener,
    ReadyCallbacks,
    SuspendTask,
    Task as Task2026,
    TaskState,
    Unblock,
    UpdateTask,
    decideAcquire,
    decideRegisterListener,
    decideSuspend,
    decideTimerExpiry,
    newPromise,
    newTask,
    settlementChain,
)
from resonate.status import Status
from resonate.store.scripts import MAX_ATTEMPTS, RowOp, applyEffects
from resonate.testing.store2026 import Protocol2026StoreTestsMixin
from resonate.testing.storeadmin import AdminStoreTestsMixin

#: The C{now} most tests run at, in Unix epoch milliseconds.
NOW = 1_700_000_000_000

#: A timeout comfortably after L{NOW}.
LATER = NOW + 60_000

#: The C{now} of the searches over overdue promises: after the timeouts of
#: L{StoreTestsMixin._createBacklog}'s overdue promises, before the rest.
SEARCH_NOW = NOW + 1_000

#: The largest timeout a store must keep (a signed 64-bit integer).
MAX_TIMEOUT = 2**63 - 1

#: The status that says a promise is already in each terminal state.
ALREADY = {
    State.RESOLVED: Status.PROMISE_ALREADY_RESOLVED,
    State.REJECTED: Status.PROMISE_ALREADY_REJECTED,
    State.REJECTED_CANCELED: Status.PROMISE_ALREADY_CANCELED,
    State.REJECTED_TIMEDOUT: Status.PROMISE_ALREADY_TIMEDOUT,
}

#: Every byte value, NUL and invalid UTF-8 included.
BINARY = bytes(range(256))

#: The lease most lock tests acquire for, in milliseconds.
EXPIRY = 10_000

#: The cron expression most schedule tests use: every second, so the slots
#: after L{NOW} are C{NOW + 1000}, C{NOW + 2000}, ...
EVERY_SECOND = "* * * * * *"


#: Where the 2026 tests' tasks are offered.
ADDRESS = "poll://any@workers"

#: Ids whose code-point order (Python's C{sorted}) no common collation
#: keeps: upper case before lower, C{":"} after C{"."} and C{"/"}, accents
#: after C{"~"}, and a character past U+FFFF after U+FF5E (UTF-16 puts it
#: before).  Not in order, so that the order found is the store's.
BY_ID = [
    "é",
    "a.1",
    "B",
    "a",
    "a:1",
    "\uff5e",
    "Z",
    "a/b",
    "a b",
    "\U0001f600",
    "ab",
    "中",
    "A",
    "~",
]


def rowOperations(*calls):
    """
    A script of row operations: each of C{calls}, a C{(method, *args)}
    tuple, in order.

    @return: (through the driver) the list of their results.
    """
    results = []
    for method, *args in calls:
        results.append((yield RowOp(method, tuple(args))))
    return results


def _applyEffects(effects, now):
    """
    A script that only carries out C{effects}
    (L{resonate.store.scripts.applyEffects}).
    """
    return (yield from applyEffects(effects, now))


def _expireTimer(taskId, now):
    """
    A 2026 timer expiry as a store script will run it: read the task,
    decide (L{decideTimerExpiry}), write; read and decide again when the
    task changed in between.

    @return: the L{resonate.model.tasks2026.TaskDecision}.
    """
    for _ in range(MAX_ATTEMPTS):
        task = yield RowOp("readTask2026", (taskId,))
        decision = decideTimerExpiry(task, now)
        if decision.status is not HTTPStatus.OK:
            return decision
        if (yield from applyEffects(decision.effects, now)):
            return decision
    raise StoreFailure(f"task {taskId!r} kept changing; gave up")


class InjectedFault(StoreFailure):
    """
    A row operation failed because a test made it fail
    (L{StoreTestsMixin.failRowOperation}).  A L{StoreFailure}, so a store
    answers it as it answers a database that went away, without logging
    it as a bug of its own.
    """


class StoreTestsMixin(Protocol2026StoreTestsMixin, AdminStoreTestsMixin):
    """
    The contract of L{IStore}, for any store.

    Mix into a L{twisted.trial.unittest.TestCase} whose C{makeStore} returns
    a new, empty L{IStore} provider synchronously and arranges its own
    cleanup (for example C{self.addCleanup(store.close)}).  A subclass that
    defines C{setUp} must call this one.

    @ivar store: the store under test, made afresh for each test (and
        replaced by the one L{reopenStore} opens).
    @cvar rowsClass: the class whose instances the store's shared
        transaction scripts (L{resonate.store.scripts}) run over, whose
        methods L{failRowOperation} and L{raceRowOperation} patch; L{None}
        for a store that overrides both instead.
    """

    rowsClass = None

    def makeStore(self):
        """
        Make the store under test.

        @return: a new, empty provider of L{IStore}.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must define makeStore()"
        )

    def reopenStore(self):
        """
        For a durable store: close C{self.store} and open another over the
        same data, arranging its cleanup as C{makeStore} does.  The
        durability tests skip when this returns L{None}, as it does unless
        overridden.

        @return: the new store, a C{Deferred} or coroutine of it, or
            L{None} when the store keeps nothing across a reopen.
        """
        return None

    def _rowsClassFor(self, hook, methodName):
        """
        The class L{failRowOperation} and L{raceRowOperation} patch: its
        C{methodName} must exist.  Fails the test when there is none.
        """
        if self.rowsClass is None:
            self.fail(
                f"{type(self).__name__} must set rowsClass (the class whose "
                "instances its store's shared transaction scripts run "
                f"over) or override {hook}(methodName, ...): without one "
                "the suite cannot show that the store rolls back a failed "
                "request or refuses a write that lost a race"
            )
        if not callable(getattr(self.rowsClass, methodName, None)):
            self.fail(
                f"{self.rowsClass.__name__} has no row operation "
                f"{methodName}(); {type(self).__name__} must override "
                f"{hook}() for it"
            )
        return self.rowsClass

    def failRowOperation(self, methodName):
        """
        Make every call of the store's row operation C{methodName} (a
        method of the row interfaces in L{resonate.interfaces}, as the
        scripts of L{resonate.store.scripts} call it) raise
        L{InjectedFault}, until the callable returned is called or the test
        ends.  Every call, not only the next: a store may run a failed
        transaction again (SQLite's group commit does), and the request
        must still fail.

        By default this patches C{rowsClass.<methodName>}.  A store not
        built on the shared scripts overrides it to make the equivalent
        step of its own transactions fail.

        @return: a callable of no arguments that stops the failures.
        """
        rowsClass = self._rowsClassFor("failRowOperation", methodName)

        def failing(rows, *args):
            raise InjectedFault(f"{methodName} failed (injected by the test)")

        return self.patch(rowsClass, methodName, failing).restore

    def raceRowOperation(self, methodName, rival):
        """
        Let another writer get in first, once: the next call of the store's
        row operation C{methodName} first makes the same call with the
        arguments C{rival(*args)} (the other writer's write, through the
        same rows and so in the same transaction), then its own.  A store
        whose writes are conditional sees its own refused; one that writes
        unconditionally overwrites the winner.

        By default this patches C{rowsClass.<methodName>}; it works with
        rows whose methods return plain values and with rows whose methods
        return C{Deferred}s.  A store not built on the shared scripts
        overrides it to make the same write just before its own.

        @param rival: called with the arguments of the store's own call;
            returns the arguments of the other writer's.
        """
        rowsClass = self._rowsClassFor("raceRowOperation", methodName)
        original = getattr(rowsClass, methodName)
        raced = []

        def racing(rows, *args):
            if raced:
                return original(rows, *args)
            raced.append(methodName)
            # Through the instance, so that a subclass's own bookkeeping
            # around the method (a cache of what was written) sees the
            # winner's write too; the nested call finds raced set.
            first = getattr(rows, methodName)(*rival(*args))
            if isinstance(first, Deferred):
                return first.addCallback(lambda _: original(rows, *args))
            return original(rows, *args)

        self.patch(rowsClass, methodName, racing)

    def runRowScript(self, script, *args):
        """
        Run the generator C{script(*args)} of row operations (the
        L{resonate.store.scripts.RowOp}s of the row interfaces, as the
        shared scripts yield them) as one write transaction of the store
        under test, the way it runs its shared scripts: for the tests of
        the 2026 tables (L{resonate.interfaces.ITask2026Rows}) through
        their rows.

        By default this is C{self.store.runScript}, which a store built on
        L{resonate.store.scripts.ScriptedStore} has; a store that runs its
        scripts otherwise overrides it.

        @return: a C{Deferred} (or awaitable) firing with what the script
            returns, or failing once the transaction is rolled back.
        """
        runScript = getattr(self.store, "runScript", None)
        if runScript is None:
            self.fail(
                f"{type(self).__name__} must define runRowScript(script, "
                "*args), running a script of row operations as one "
                "transaction of its store, to test the 2026 tables"
            )
        return runScript(script, *args)

    def _require2026Rows(self):
        """
        Fail the test, saying why, unless the store's rows declare the 2026
        tables: every store needs them, since every settlement (v0.5's
        too) runs the 2026 settlement chain over them.
        """
        rowsClass = self._rowsClassFor("runRowScript", "readPromise")
        if not ITask2026Rows.implementedBy(rowsClass):
            self.fail(
                f"{rowsClass.__name__} does not provide ITask2026Rows: every "
                "store needs the 2026 tables (docs/store-plugins.md)"
            )

    async def rowCalls(self, *calls):
        """
        Make the row operations C{calls} (C{(method, *args)} tuples) in one
        transaction (L{runRowScript}).

        @return: the list of their results.
        """
        self._require2026Rows()
        return await self.runRowScript(rowOperations, *calls)

    async def rowCall(self, method, *args):
        """
        Make one row operation in a transaction of its own.

        @return: its result.
        """
        [result] = await self.rowCalls((method, *args))
        return result

    async def applied(self, effects, now=NOW):
        """
        Carry out a 2026 decision's C{effects} in one transaction
        (L{resonate.store.scripts.applyEffects}).

        @return: what C{applyEffects} returns.
        """
        self._require2026Rows()
        return await self.runRowScript(_applyEffects, effects, now)

    async def tables2026(self, promiseIds, taskIds):
        """
        What the 2026 tables hold for C{promiseIds} (callbacks on them and
        listeners of them) and C{taskIds} (the tasks and their callbacks),
        and the whole outbox, read in one transaction.
        """
        calls = [("readTask2026", t) for t in taskIds]
        calls += [("callbacksOfAwaiter", t) for t in taskIds]
        calls += [("callbacksOf", p) for p in promiseIds]
        calls += [("listenersOf", p) for p in promiseIds]
        calls.append(("dueOutbox", MAX_TIMEOUT, None))
        return await self.rowCalls(*calls)

    async def reopened(self):
        """
        Close the store and open it again (L{reopenStore}); it replaces
        C{self.store}.

        @raise SkipTest: the store is not durable.
        """
        store = self.reopenStore()
        if isawaitable(store):
            store = await store
        if store is None:
            raise SkipTest(
                f"{type(self).__name__}'s store is not durable: it defines "
                "no reopenStore()"
            )
        self.store = store
        return store

    def setUp(self):
        self.store = self.makeStore()

    # Helpers: one request each, with defaults that tests override.

    def createPromise(
        self,
        promiseId,
        timeout=LATER,
        ikey=None,
        strict=False,
        param=None,
        tags=None,
        now=NOW,
    ):
        """
        Ask the store to create a promise.

        @return: a C{Deferred} firing with the store's C{Decision}.
        """
        request = CreatePromise(
            id=promiseId,
            timeout=timeout,
            param=Value() if param is None else param,
            tags={} if tags is None else tags,
            idempotencyKey=ikey,
            strict=strict,
        )
        return self.store.createPromise(request, now)

    def completePromise(
        self,
        promiseId,
        state=State.RESOLVED,
        ikey=None,
        strict=False,
        value=None,
        now=NOW,
    ):
        """
        Ask the store to resolve, reject or cancel a promise.

        @return: a C{Deferred} firing with the store's C{Decision}.
        """
        request = CompletePromise(
            id=promiseId,
            state=state,
            value=Value() if value is None else value,
            idempotencyKey=ikey,
            strict=strict,
        )
        return self.store.completePromise(request, now)

    def readPromise(self, promiseId, now=NOW):
        """
        Ask the store for a promise.

        @return: a C{Deferred} firing with the store's C{Decision}.
        """
        return self.store.readPromise(promiseId, now)

    def acquireLock(
        self,
        resourceId,
        executionId,
        processId="process",
        expiry=EXPIRY,
        now=NOW,
    ):
        """
        Ask the store to acquire a lock.

        @return: a C{Deferred} firing with the store's C{LockDecision}.
        """
        request = AcquireLock(
            resourceId=resourceId,
            processId=processId,
            executionId=executionId,
            expiryInMilliseconds=expiry,
        )
        return self.store.acquireLock(request, now)

    def releaseLock(self, resourceId, executionId, now=NOW):
        """
        Ask the store to release a lock.

        @return: a C{Deferred} firing with whether it was released.
        """
        return self.store.releaseLock(
            ReleaseLock(resourceId=resourceId, executionId=executionId), now
        )

    async def acquiredLock(self, resourceId, executionId, **kwargs):
        """
        Acquire a lock that must be granted.

        @return: the granted C{Lock}.
        """
        decision = await self.acquireLock(resourceId, executionId, **kwargs)
        self.assertEqual(decision.status, Status.CREATED, resourceId)
        return decision.lock

    async def assertHeldUntil(self, resourceId, expiresAt):
        """
        Assert that the lock on C{resourceId} is stored to expire at
        C{expiresAt}: another execution is refused just before and granted
        at that time.  (This takes the lock over.)
        """
        refused = await self.acquireLock(
            resourceId, "someone.else", now=expiresAt - 1
        )
        self.assertEqual(
            refused.status, Status.LOCK_ALREADY_ACQUIRED, resourceId
        )
        self.assertIsNone(refused.lock)
        granted = await self.acquireLock(
            resourceId, "someone.else", now=expiresAt
        )
        self.assertEqual(granted.status, Status.CREATED, resourceId)

    async def readStored(self, promiseId, now=0):
        """
        Read what is stored for C{promiseId} without timing it out: by
        default at C{now} 0, before any timeout a test uses, so a timeout
        shows only if it was written.

        @return: the stored C{Promise}.
        """
        decision = await self.readPromise(promiseId, now)
        self.assertEqual(decision.status, Status.OK)
        return decision.promise

    async def searchAll(self, query, now=NOW):
        """
        Search page after page, following each C{SearchPage.next}, until a
        page offers no next one.

        @return: a list of the pages, each a list of promise ids.
        """
        pages = []
        while query is not None:
            page = await self.store.searchPromises(query, now)
            self.assertLessEqual(len(page.promises), query.limit)
            pages.append([promise.id for promise in page.promises])
            query = page.next
            self.assertLessEqual(len(pages), 1000, "paging does not end")
        return pages

    async def searchIds(self, now=NOW, **query):
        """
        Search with one page large enough for every test here.

        @return: the ids found, in the order the store gave them.
        """
        page = await self.store.searchPromises(PromiseQuery(**query), now)
        return [promise.id for promise in page.promises]

    async def createMany(self, promiseIds, **kwargs):
        """
        Create promises one after the other (so in this order, oldest
        first), each of which must be new.
        """
        for promiseId in promiseIds:
            decision = await self.createPromise(promiseId, **kwargs)
            self.assertEqual(decision.status, Status.CREATED, promiseId)

    async def completedPromise(self, promiseId, state, ikey="complete"):
        """
        Create a promise and complete it with C{state} at L{NOW}.

        @return: the completed C{Promise}.
        """
        await self.createPromise(promiseId, ikey="create")
        decision = await self.completePromise(
            promiseId, state, ikey=ikey, value=Value({"v": "1"}, b"stored")
        )
        self.assertEqual(decision.status, Status.CREATED)
        return decision.promise

    async def timedOutPromise(self, promiseId, tags=None):
        """
        Create a promise and let it time out on a read.

        @return: the timed-out C{Promise}.
        """
        await self.createPromise(promiseId, ikey="create", tags=tags)
        decision = await self.readPromise(promiseId, now=LATER)
        self.assertIsNot(decision.promise.state, State.PENDING)
        return decision.promise

    def assertTimedOut(
        self, promise, promiseId, state=State.REJECTED_TIMEDOUT
    ):
        """
        Assert that C{promise} is C{promiseId}, timed out at L{LATER}: in
        C{state}, completed at its timeout, with no value and no key.
        """
        self.assertEqual(promise.id, promiseId)
        self.assertIs(promise.state, state)
        self.assertEqual(promise.completedOn, promise.timeout)
        self.assertEqual(promise.value, Value())
        self.assertIsNone(promise.idempotencyKeyForComplete)

    # The interface.

    def test_interface(self):
        """
        The store provides L{IStore}.
        """
        self.assertTrue(verifyObject(IStore, self.store))

    async def test_ping(self):
        """
        An open store answers a ping with L{None}, and the ping changes
        nothing stored.
        """
        await self.createPromise("ping.kept")
        self.assertIsNone(await self.store.ping())
        self.assertIsNone(await self.store.ping())
        decision = await self.store.readPromise("ping.kept", NOW)
        self.assertEqual(decision.status, Status.OK)
        self.assertIs(decision.promise.state, State.PENDING)
        page = await self.store.searchPromises(
            PromiseQuery(id="*", states=ALL_STATES, limit=10), NOW
        )
        self.assertEqual([p.id for p in page.promises], ["ping.kept"])

    # Create.

    async def test_answersOnReactorThread(self):
        """
        Results are delivered on the reactor thread (the one tests run on),
        whatever thread did the work: the server's code after a store call
        is not thread-safe.
        """
        reactorThread = threading.current_thread()
        threads = []

        def record(result):
            threads.append(threading.current_thread() is reactorThread)
            return result

        await self.createPromise("thread.p").addCallback(record)
        await self.readPromise("thread.p").addCallback(record)
        await self.completePromise("thread.p").addCallback(record)
        await self.store.searchPromises(PromiseQuery(), NOW).addCallback(record)
        await self.store.ping().addCallback(record)
        self.assertEqual(threads, [True] * 5)

    async def test_closeTwice(self):
        """
        Closing a closed store is harmless: cleanups and L{reopenStore} may
        both close one store.
        """
        await self.store.close()
        await self.store.close()

    async def test_requestAfterClose(self):
        """
        A request after C{close} fails with 5030
        (L{Status.SHUTTING_DOWN}) rather than reaching released resources.
        """
        await self.createPromise("closed.p")
        await self.store.close()
        error = await self.assertFailure(self.readPromise("closed.p"), ResonateError)
        self.assertIs(error.status, Status.SHUTTING_DOWN)
        error = await self.assertFailure(self.createPromise("closed.q"), ResonateError)
        self.assertIs(error.status, Status.SHUTTING_DOWN)

    async def test_createNew(self):
        """
        Creating an unknown id inserts a pending promise, answers 201 with
        it, and a read gives back exactly that promise.
        """
        param = Value({"content-type": "text/plain"}, b"hello")
        decision = await self.createPromise(
            "create.new", ikey="ck", param=param, tags={"a": "1"}
        )
        self.assertEqual(decision.status, Status.CREATED)
        promise = decision.promise
        self.assertEqual(promise.id, "create.new")
        self.assertIs(promise.state, State.PENDING)
        self.assertEqual(promise.timeout, LATER)
        self.assertEqual(promise.createdOn, NOW)
        self.assertEqual(promise.param, param)
        self.assertEqual(promise.value, Value())
        self.assertEqual(promise.tags, {"a": "1"})
        self.assertEqual(promise.idempotencyKeyForCreate, "ck")
        self.assertIsNone(promise.idempotencyKeyForComplete)
        self.assertIsNone(promise.completedOn)
        self.assertEqual(await self.readStored("create.new"), promise)

    async def test_createWithoutKey(self):
        """
        A promise created without an idempotency key stores none.
        """
        decision = await self.createPromise("create.nokey")
        self.assertEqual(decision.status, Status.CREATED)
        self.assertIsNone(decision.promise.idempotencyKeyForCreate)
        stored = await self.readStored("create.nokey")
        self.assertIsNone(stored.idempotencyKeyForCreate)

    async def test_createStrictNew(self):
        """
        C{strict} does not matter when the id is new.
        """
        decision = await self.createPromise("create.strict", strict=True)
        self.assertEqual(decision.status, Status.CREATED)

    async def test_createPendingSameKey(self):
        """
        Repeating a create with the same key answers 200 with the stored
        promise, whatever the repeat's body says, and changes nothing.
        """
        first = await self.createPromise(
            "create.dup", ikey="ck", param=Value({}, b"first"), tags={"t": "1"}
        )
        again = await self.createPromise(
            "create.dup",
            ikey="ck",
            timeout=LATER + 1,
            param=Value({}, b"second"),
            tags={"t": "2"},
            now=NOW + 1,
        )
        self.assertEqual(again.status, Status.OK)
        self.assertEqual(again.promise, first.promise)
        self.assertEqual(await self.readStored("create.dup"), first.promise)

    async def test_createPendingSameKeyStrict(self):
        """
        A strict repeat with the same key on a pending promise answers 200.
        """
        first = await self.createPromise("create.dupStrict", ikey="ck")
        again = await self.createPromise(
            "create.dupStrict", ikey="ck", strict=True
        )
        self.assertEqual(again.status, Status.OK)
        self.assertEqual(again.promise, first.promise)

    async def test_createPendingKeyMismatch(self):
        """
        A repeat whose key is different, missing on either side or on both
        sides answers 409 with no promise and changes nothing.
        """
        for stored, requested in [
            ("ck", "other"),
            ("ck", None),
            (None, "ck"),
            (None, None),
        ]:
            for strict in [False, True]:
                promiseId = f"create.mismatch {stored} {requested} {strict}"
                first = await self.createPromise(promiseId, ikey=stored)
                again = await self.createPromise(
                    promiseId, ikey=requested, strict=strict
                )
                self.assertEqual(
                    again.status, Status.PROMISE_ALREADY_EXISTS, promiseId
                )
                self.assertIsNone(again.promise, promiseId)
                self.assertEqual(
                    await self.readStored(promiseId), first.promise
                )

    async def test_createCompletedSameKey(self):
        """
        A non-strict repeat with the same key on a completed promise answers
        200 with the completed promise.
        """
        for state in State:
            if state is State.PENDING:
                continue
            promiseId = f"create.completed.{state.name}"
            if state is State.REJECTED_TIMEDOUT:
                completed = await self.timedOutPromise(promiseId)
            else:
                completed = await self.completedPromise(promiseId, state)
            again = await self.createPromise(promiseId, ikey="create")
            self.assertEqual(again.status, Status.OK, promiseId)
            self.assertEqual(again.promise, completed)

    async def test_createCompletedStrict(self):
        """
        A strict repeat on a completed promise answers 409, even with the
        same key.
        """
        for state in State:
            if state is State.PENDING:
                continue
            promiseId = f"create.completedStrict.{state.name}"
            if state is State.REJECTED_TIMEDOUT:
                await self.timedOutPromise(promiseId)
            else:
                await self.completedPromise(promiseId, state)
            again = await self.createPromise(
                promiseId, ikey="create", strict=True
            )
            self.assertEqual(
                again.status, Status.PROMISE_ALREADY_EXISTS, promiseId
            )
            self.assertIsNone(again.promise)

    async def test_createCompletedKeyMismatch(self):
        """
        A non-strict repeat with another key, or none, on a completed
        promise answers 409.
        """
        await self.completedPromise("create.completedOther", State.RESOLVED)
        for ikey in ["other", None]:
            again = await self.createPromise(
                "create.completedOther", ikey=ikey
            )
            self.assertEqual(again.status, Status.PROMISE_ALREADY_EXISTS)
            self.assertIsNone(again.promise)

    async def test_createOverdueSameKey(self):
        """
        A non-strict repeat with the same key on an overdue promise times it
        out first (timeouts are inclusive) and answers 200 with the
        timed-out promise, which is stored.
        """
        await self.createPromise("create.overdue", ikey="ck")
        again = await self.createPromise(
            "create.overdue", ikey="ck", now=LATER
        )
        self.assertEqual(again.status, Status.OK)
        self.assertTimedOut(again.promise, "create.overdue")
        self.assertEqual(
            await self.readStored("create.overdue"), again.promise
        )

    async def test_createOverdueTimerSameKey(self):
        """
        A repeat with the same key on an overdue timer answers 200 with the
        timer resolved.
        """
        await self.createPromise(
            "create.overdueTimer", ikey="ck", tags={TIMER_TAG: "true"}
        )
        again = await self.createPromise(
            "create.overdueTimer", ikey="ck", now=LATER + 1
        )
        self.assertEqual(again.status, Status.OK)
        self.assertTimedOut(
            again.promise, "create.overdueTimer", State.RESOLVED
        )

    async def test_createOverdueConflict(self):
        """
        A strict or mismatched repeat on an overdue promise answers 409, and
        the timeout it found is stored all the same.
        """
        for ikey, strict in [("ck", True), ("other", False), (None, False)]:
            promiseId = f"create.overdueConflict {ikey} {strict}"
            await self.createPromise(promiseId, ikey="ck")
            again = await self.createPromise(
                promiseId, ikey=ikey, strict=strict, now=LATER
            )
            self.assertEqual(
                again.status, Status.PROMISE_ALREADY_EXISTS, promiseId
            )
            self.assertIsNone(again.promise)
            self.assertTimedOut(await self.readStored(promiseId), promiseId)

    async def test_createJustBeforeTimeout(self):
        """
        One millisecond before its timeout a promise is still pending to a
        repeated create.
        """
        first = await self.createPromise("create.justBefore", ikey="ck")
        again = await self.createPromise(
            "create.justBefore", ikey="ck", now=LATER - 1
        )
        self.assertEqual(again.status, Status.OK)
        self.assertEqual(again.promise, first.promise)

    async def test_createInThePast(self):
        """
        A promise created with a timeout already passed is inserted pending;
        the next read times it out at its timeout.
        """
        decision = await self.createPromise("create.past", timeout=NOW - 10)
        self.assertEqual(decision.status, Status.CREATED)
        self.assertIs(decision.promise.state, State.PENDING)
        read = await self.readPromise("create.past")
        self.assertEqual(read.status, Status.OK)
        self.assertTimedOut(read.promise, "create.past")
        self.assertEqual(read.promise.completedOn, NOW - 10)

    # Read.

    async def test_readMissing(self):
        """
        Reading an unknown id answers 404 with no promise.
        """
        decision = await self.readPromise("read.missing")
        self.assertEqual(decision.status, Status.PROMISE_NOT_FOUND)
        self.assertIsNone(decision.promise)

    async def test_readPending(self):
        """
        Before its timeout a promise reads as pending, up to the last
        millisecond.
        """
        created = await self.createPromise("read.pending")
        for now in [NOW, LATER - 1]:
            decision = await self.readPromise("read.pending", now)
            self.assertEqual(decision.status, Status.OK)
            self.assertEqual(decision.promise, created.promise)

    async def test_readAtTimeout(self):
        """
        A read at exactly the timeout times the promise out (timeouts are
        inclusive) and stores that.
        """
        await self.createPromise("read.timeout", ikey="ck")
        decision = await self.readPromise("read.timeout", LATER)
        self.assertEqual(decision.status, Status.OK)
        self.assertTimedOut(decision.promise, "read.timeout")
        self.assertEqual(decision.promise.idempotencyKeyForCreate, "ck")
        self.assertEqual(decision.promise.createdOn, NOW)
        self.assertEqual(
            await self.readStored("read.timeout"), decision.promise
        )

    async def test_readAfterTimeout(self):
        """
        A read long after the timeout completes the promise at its timeout,
        not at the time of the read.
        """
        await self.createPromise("read.late")
        decision = await self.readPromise("read.late", LATER + 3_600_000)
        self.assertTimedOut(decision.promise, "read.late")
        self.assertEqual(decision.promise.completedOn, LATER)

    async def test_readTimer(self):
        """
        A timer (tag C{resonate:timeout=true}) resolves when it times out.
        """
        await self.createPromise("read.timer", tags={TIMER_TAG: "true"})
        decision = await self.readPromise("read.timer", LATER)
        self.assertTimedOut(decision.promise, "read.timer", State.RESOLVED)
        self.assertEqual(decision.promise.tags, {TIMER_TAG: "true"})
        stored = await self.readStored("read.timer")
        self.assertIs(stored.state, State.RESOLVED)

    async def test_readTimerTagNotTrue(self):
        """
        Only the tag value C{true} makes a timer: any other value times out
        as rejected.
        """
        await self.createPromise("read.notTimer", tags={TIMER_TAG: "false"})
        decision = await self.readPromise("read.notTimer", LATER)
        self.assertTimedOut(decision.promise, "read.notTimer")

    async def test_readCompletedAfterTimeout(self):
        """
        A promise completed before its timeout stays as it was when read
        after the timeout.
        """
        completed = await self.completedPromise("read.done", State.REJECTED)
        decision = await self.readPromise("read.done", LATER + 1)
        self.assertEqual(decision.status, Status.OK)
        self.assertEqual(decision.promise, completed)

    # Complete.

    async def test_completeMissing(self):
        """
        Completing an unknown id answers 404 with no promise.
        """
        decision = await self.completePromise("complete.missing")
        self.assertEqual(decision.status, Status.PROMISE_NOT_FOUND)
        self.assertIsNone(decision.promise)

    async def test_completePending(self):
        """
        Resolving, rejecting or canceling a pending promise answers 201 with
        it completed now, with the value and key given, and stores that.
        """
        value = Value({"h": "v"}, b"result")
        for state in [State.RESOLVED, State.REJECTED, State.REJECTED_CANCELED]:
            promiseId = f"complete.pending.{state.name}"
            created = await self.createPromise(promiseId, ikey="create")
            decision = await self.completePromise(
                promiseId, state, ikey="done", value=value, now=NOW + 5
            )
            self.assertEqual(decision.status, Status.CREATED, promiseId)
            promise = decision.promise
            self.assertIs(promise.state, state)
            self.assertEqual(promise.value, value)
            self.assertEqual(promise.idempotencyKeyForComplete, "done")
            self.assertEqual(promise.completedOn, NOW + 5)
            self.assertEqual(promise.param, created.promise.param)
            self.assertEqual(promise.timeout, LATER)
            self.assertEqual(promise.createdOn, NOW)
            self.assertEqual(promise.idempotencyKeyForCreate, "create")
            self.assertEqual(await self.readStored(promiseId), promise)

    async def test_completePendingWithoutKey(self):
        """
        A promise completed without an idempotency key stores none.
        """
        await self.createPromise("complete.nokey")
        decision = await self.completePromise("complete.nokey", strict=True)
        self.assertEqual(decision.status, Status.CREATED)
        self.assertIsNone(decision.promise.idempotencyKeyForComplete)
        stored = await self.readStored("complete.nokey")
        self.assertIsNone(stored.idempotencyKeyForComplete)

    async def test_completeJustBeforeTimeout(self):
        """
        One millisecond before its timeout a promise can still be completed.
        """
        await self.createPromise("complete.justBefore")
        decision = await self.completePromise(
            "complete.justBefore", State.REJECTED, now=LATER - 1
        )
        self.assertEqual(decision.status, Status.CREATED)
        self.assertIs(decision.promise.state, State.REJECTED)
        self.assertEqual(decision.promise.completedOn, LATER - 1)

    async def test_completeOverdue(self):
        """
        Completing an overdue promise without C{strict} times it out and
        answers 200 with the timed-out promise: the request's state, value
        and key are dropped.
        """
        for now in [LATER, LATER + 1000]:
            promiseId = f"complete.overdue {now}"
            await self.createPromise(promiseId)
            decision = await self.completePromise(
                promiseId, ikey="done", value=Value({}, b"late"), now=now
            )
            self.assertEqual(decision.status, Status.OK, promiseId)
            self.assertTimedOut(decision.promise, promiseId)
            self.assertEqual(
                await self.readStored(promiseId), decision.promise
            )

    async def test_completeOverdueStrict(self):
        """
        Completing an overdue promise with C{strict} answers 403 (already
        timed out) and stores the timeout.
        """
        await self.createPromise("complete.overdueStrict")
        decision = await self.completePromise(
            "complete.overdueStrict", ikey="done", strict=True, now=LATER
        )
        self.assertEqual(decision.status, Status.PROMISE_ALREADY_TIMEDOUT)
        self.assertIsNone(decision.promise)
        stored = await self.readStored("complete.overdueStrict")
        self.assertTimedOut(stored, "complete.overdueStrict")

    async def test_completeOverdueTimer(self):
        """
        Completing an overdue timer answers 403 (already resolved), strict
        or not, and stores it resolved.
        """
        for strict in [False, True]:
            promiseId = f"complete.overdueTimer {strict}"
            await self.createPromise(promiseId, tags={TIMER_TAG: "true"})
            decision = await self.completePromise(
                promiseId, State.REJECTED, ikey="k", strict=strict, now=LATER
            )
            self.assertEqual(
                decision.status, Status.PROMISE_ALREADY_RESOLVED, promiseId
            )
            self.assertIsNone(decision.promise)
            stored = await self.readStored(promiseId)
            self.assertTimedOut(stored, promiseId, State.RESOLVED)

    async def test_completeSameKey(self):
        """
        Repeating a completion with the same key answers 200 with the stored
        promise: without C{strict} even when the state differs, with
        C{strict} only when it is the same.
        """
        for state in [State.RESOLVED, State.REJECTED, State.REJECTED_CANCELED]:
            for requested in [
                State.RESOLVED,
                State.REJECTED,
                State.REJECTED_CANCELED,
            ]:
                for strict in [False, True]:
                    promiseId = (
                        f"complete.sameKey {state.name} {requested.name} "
                        f"{strict}"
                    )
                    completed = await self.completedPromise(promiseId, state)
                    decision = await self.completePromise(
                        promiseId,
                        requested,
                        ikey="complete",
                        strict=strict,
                        value=Value({}, b"other"),
                        now=NOW + 1,
                    )
                    if strict and requested is not state:
                        self.assertEqual(
                            decision.status, ALREADY[state], promiseId
                        )
                        self.assertIsNone(decision.promise)
                    else:
                        self.assertEqual(decision.status, Status.OK, promiseId)
                        self.assertEqual(decision.promise, completed)
                    self.assertEqual(
                        await self.readStored(promiseId), completed
                    )

    async def test_completeKeyMismatch(self):
        """
        A completion on a completed promise whose key is different, or
        missing on either side or both, answers 403 for the stored state.
        """
        for state in [State.RESOLVED, State.REJECTED, State.REJECTED_CANCELED]:
            for stored, requested in [
                ("complete", "other"),
                ("complete", None),
                (None, "complete"),
                (None, None),
            ]:
                for strict in [False, True]:
                    promiseId = (
                        f"complete.mismatch {state.name} {stored} "
                        f"{requested} {strict}"
                    )
                    completed = await self.completedPromise(
                        promiseId, state, ikey=stored
                    )
                    decision = await self.completePromise(
                        promiseId, state, ikey=requested, strict=strict
                    )
                    self.assertEqual(
                        decision.status, ALREADY[state], promiseId
                    )
                    self.assertIsNone(decision.promise)
                    self.assertEqual(
                        await self.readStored(promiseId), completed
                    )

    async def test_completeIsFinal(self):
        """
        A completed promise keeps its state, value, key and completion time
        when another state is asked for, when its timeout passes and when
        the store times out promises.
        """
        completed = await self.completedPromise(
            "complete.final", State.RESOLVED
        )
        decision = await self.completePromise(
            "complete.final",
            State.REJECTED,
            ikey="other",
            value=Value({}, b"nope"),
            now=NOW + 1,
        )
        self.assertEqual(decision.status, Status.PROMISE_ALREADY_RESOLVED)
        self.assertEqual(await self.store.timeoutPromises(LATER, 10), 0)
        await self.store.searchPromises(PromiseQuery(), LATER)
        self.assertEqual(await self.readStored("complete.final"), completed)
        later = await self.readPromise("complete.final", LATER)
        self.assertEqual(later.promise, completed)

    async def test_completeTimedOut(self):
        """
        Without C{strict}, completing a timed-out promise answers 200 with
        it, whatever the key; with C{strict} it answers 403 (already timed
        out).
        """
        timedOut = await self.timedOutPromise("complete.timedOut")
        for ikey in ["any", None]:
            for state in [
                State.RESOLVED,
                State.REJECTED,
                State.REJECTED_CANCELED,
            ]:
                decision = await self.completePromise(
                    "complete.timedOut", state, ikey=ikey, now=LATER + 1
                )
                self.assertEqual(decision.status, Status.OK)
                self.assertEqual(decision.promise, timedOut)
                strict = await self.completePromise(
                    "complete.timedOut",
                    state,
                    ikey=ikey,
                    strict=True,
                    now=LATER + 1,
                )
                self.assertEqual(
                    strict.status, Status.PROMISE_ALREADY_TIMEDOUT
                )
                self.assertIsNone(strict.promise)
        self.assertEqual(await self.readStored("complete.timedOut"), timedOut)

    async def test_completeTimedOutTimer(self):
        """
        Completing a timer that has resolved by timing out answers 403
        (already resolved), strict or not, whatever the key.
        """
        await self.timedOutPromise("complete.timer", tags={TIMER_TAG: "true"})
        for ikey in ["any", None]:
            for strict in [False, True]:
                decision = await self.completePromise(
                    "complete.timer",
                    State.RESOLVED,
                    ikey=ikey,
                    strict=strict,
                    now=LATER + 1,
                )
                self.assertEqual(
                    decision.status, Status.PROMISE_ALREADY_RESOLVED
                )

    # Timing out in bulk.

    async def test_timeoutPromisesNone(self):
        """
        With nothing overdue, timing out promises changes nothing and
        counts 0.
        """
        self.assertEqual(await self.store.timeoutPromises(NOW, 10), 0)
        created = await self.createPromise("sweep.none")
        self.assertEqual(await self.store.timeoutPromises(LATER - 1, 10), 0)
        self.assertEqual(await self.readStored("sweep.none"), created.promise)

    async def test_timeoutPromises(self):
        """
        Timing out promises times out every pending promise whose timeout is
        at or before C{now}, stores it, and counts them; it leaves the rest.
        """
        await self.createPromise("sweep.early", timeout=NOW + 1)
        await self.createPromise("sweep.exact", timeout=NOW + 2)
        await self.createPromise(
            "sweep.timer", timeout=NOW + 2, tags={TIMER_TAG: "true"}
        )
        await self.createPromise("sweep.notYet", timeout=NOW + 3)
        await self.completedPromise("sweep.done", State.REJECTED)
        self.assertEqual(await self.store.timeoutPromises(NOW + 2, 100), 3)
        early = await self.readStored("sweep.early")
        self.assertTimedOut(early, "sweep.early")
        self.assertEqual(early.completedOn, NOW + 1)
        self.assertTimedOut(
            await self.readStored("sweep.exact"), "sweep.exact"
        )
        timer = await self.readStored("sweep.timer")
        self.assertTimedOut(timer, "sweep.timer", State.RESOLVED)
        notYet = await self.readStored("sweep.notYet")
        self.assertIs(notYet.state, State.PENDING)
        done = await self.readStored("sweep.done")
        self.assertIs(done.state, State.REJECTED)
        self.assertEqual(await self.store.timeoutPromises(NOW + 2, 100), 0)

    async def test_timer2026(self):
        """
        A promise tagged with the 2026 protocol's C{resonate:timer} is a
        timer too (DECISIONS 27): overdue, a read and a search answer it
        resolved, the sweep stores it resolved, and a search for rejected
        promises does not find it.
        """
        await self.createPromise(
            "timer2026.read", timeout=NOW + 1, tags={TIMER_TAG_2026: "true"}
        )
        await self.createPromise(
            "timer2026.swept", timeout=NOW + 1, tags={TIMER_TAG_2026: "true"}
        )
        await self.createPromise("timer2026.other", timeout=NOW + 1)
        resolved = await self.store.searchPromises(
            PromiseQuery(id="timer2026.*", states=SEARCH_STATES["resolved"]),
            NOW + 1,
        )
        self.assertEqual(
            sorted(p.id for p in resolved.promises),
            ["timer2026.read", "timer2026.swept"],
        )
        rejected = await self.store.searchPromises(
            PromiseQuery(id="timer2026.*", states=SEARCH_STATES["rejected"]),
            NOW + 1,
        )
        self.assertEqual([p.id for p in rejected.promises], ["timer2026.other"])
        decision = await self.store.readPromise("timer2026.read", NOW + 1)
        self.assertIs(decision.promise.state, State.RESOLVED)
        self.assertEqual(await self.store.timeoutPromises(NOW + 1, 100), 2)
        self.assertTimedOut(
            await self.readStored("timer2026.swept"), "timer2026.swept", State.RESOLVED
        )

    async def test_timeoutPromisesLimit(self):
        """
        Timing out promises times out at most C{limit} of them; later calls
        time out the rest.
        """
        promiseIds = [f"sweep.limit.{n}" for n in range(5)]
        await self.createMany(promiseIds, timeout=NOW + 1)
        self.assertEqual(await self.store.timeoutPromises(NOW + 1, 2), 2)
        states = [(await self.readStored(i)).state for i in promiseIds]
        self.assertEqual(states.count(State.PENDING), 3)
        self.assertEqual(await self.store.timeoutPromises(NOW + 1, 2), 2)
        self.assertEqual(await self.store.timeoutPromises(NOW + 1, 2), 1)
        self.assertEqual(await self.store.timeoutPromises(NOW + 1, 2), 0)
        for promiseId in promiseIds:
            self.assertTimedOut(await self.readStored(promiseId), promiseId)

    async def test_timeoutPromisesAsTimedOut(self):
        """
        The sweep stores exactly what the state machine's C{timedOut} makes
        of each promise, timers and others alike: only the state, value,
        completion key and completion time change; param, tags, creation
        key and times are kept.
        """
        created = {}
        cases = [
            ("swept.plain", {}),
            ("swept.timer", {TIMER_TAG: "true", "k": "v"}),
            ("swept.timer2026", {TIMER_TAG_2026: "true"}),
            ("swept.notTimer", {TIMER_TAG: "false", TIMER_TAG_2026: "false"}),
            ("swept.tagged", {"k": "v", "ключ": "значение"}),
        ]
        for n, (promiseId, tags) in enumerate(cases):
            decision = await self.createPromise(
                promiseId,
                timeout=NOW + 1 + n,
                ikey=f"create.{promiseId}",
                param=Value({"h": promiseId}, BINARY),
                tags=tags,
            )
            created[promiseId] = decision.promise
        self.assertEqual(
            await self.store.timeoutPromises(NOW + 10, 100), len(cases)
        )
        for promiseId, promise in created.items():
            self.assertEqual(
                await self.readStored(promiseId), timedOut(promise)
            )
        self.assertIs(
            (await self.readStored("swept.timer")).state, State.RESOLVED
        )
        for promiseId in ["swept.plain", "swept.notTimer", "swept.tagged"]:
            self.assertIs(
                (await self.readStored(promiseId)).state,
                State.REJECTED_TIMEDOUT,
            )

    async def test_timeoutPromisesOldestFirst(self):
        """
        A limited sweep times out the promises with the earliest timeouts
        first, whatever their creation order.
        """
        await self.createPromise("first.late", timeout=NOW + 3)
        await self.createPromise("first.early", timeout=NOW + 1)
        await self.createPromise("first.middle", timeout=NOW + 2)
        self.assertEqual(await self.store.timeoutPromises(NOW + 3, 1), 1)
        states = {
            promiseId: (await self.readStored(promiseId)).state
            for promiseId in ["first.early", "first.middle", "first.late"]
        }
        self.assertEqual(
            states,
            {
                "first.early": State.REJECTED_TIMEDOUT,
                "first.middle": State.PENDING,
                "first.late": State.PENDING,
            },
        )
        self.assertEqual(await self.store.timeoutPromises(NOW + 3, 1), 1)
        self.assertIs(
            (await self.readStored("first.middle")).state,
            State.REJECTED_TIMEDOUT,
        )

    # Search.

    async def test_searchEmpty(self):
        """
        Searching an empty store finds nothing and offers no next page.
        """
        page = await self.store.searchPromises(PromiseQuery(), NOW)
        self.assertEqual(page.promises, [])
        self.assertIsNone(page.next)

    async def test_searchAll(self):
        """
        The pattern C{*} finds every promise, newest first, each as read.
        """
        await self.createMany(["all.a", "all.c", "all.b"])
        page = await self.store.searchPromises(PromiseQuery(id="*"), NOW)
        self.assertEqual(
            [promise.id for promise in page.promises],
            ["all.b", "all.c", "all.a"],
        )
        for promise in page.promises:
            self.assertEqual(promise, await self.readStored(promise.id))
        self.assertIsNone(page.next)

    async def test_searchNewestFirstByCreation(self):
        """
        Search order is the order promises were inserted, newest first, not
        the order of their C{createdOn} or ids.
        """
        await self.createPromise("order.b", now=NOW + 20)
        await self.createPromise("order.c", now=NOW + 10)
        await self.createPromise("order.a", now=NOW + 30)
        self.assertEqual(
            await self.searchIds(id="order.*", now=NOW + 40),
            ["order.a", "order.c", "order.b"],
        )

    async def test_searchPatterns(self):
        """
        In a pattern C{*} matches any run of characters, possibly empty, and
        every other character matches only itself.
        """
        await self.createMany(
            ["pat", "pat.a", "pat.ab", "pat/x/y", "xpat", "Pat", "pa"]
        )
        cases = [
            ("pat", ["pat"]),
            ("pat*", ["pat/x/y", "pat.ab", "pat.a", "pat"]),
            ("*pat", ["xpat", "pat"]),
            ("p*t", ["pat"]),
            ("pat.*", ["pat.ab", "pat.a"]),
            ("pat.?", []),
            ("pat/*/y", ["pat/x/y"]),
            (
                "*a*",
                ["pa", "Pat", "xpat", "pat/x/y", "pat.ab", "pat.a", "pat"],
            ),
            ("pat.a*b", ["pat.ab"]),
            ("**", ["pa", "Pat", "xpat", "pat/x/y", "pat.ab", "pat.a", "pat"]),
            ("P*", ["Pat"]),
            ("nothing*", []),
        ]
        for pattern, expected in cases:
            self.assertEqual(
                await self.searchIds(id=pattern), expected, pattern
            )

    async def test_searchUnderscoreIsLiteral(self):
        """
        C{_} in a pattern matches only C{_}, not any one character.
        """
        await self.createMany(["u_1", "ux1", "u__1"])
        self.assertEqual(await self.searchIds(id="u_1"), ["u_1"])
        self.assertEqual(await self.searchIds(id="u_*"), ["u__1", "u_1"])
        self.assertEqual(await self.searchIds(id="u__1"), ["u__1"])
        self.assertEqual(await self.searchIds(id="_*"), [])

    async def test_searchPercentIsLiteral(self):
        """
        C{%} in a pattern matches only C{%}, not any run of characters.
        """
        await self.createMany(["pc%1", "pcx1", "pc%"])
        self.assertEqual(await self.searchIds(id="pc%1"), ["pc%1"])
        self.assertEqual(await self.searchIds(id="pc%"), ["pc%"])
        self.assertEqual(await self.searchIds(id="%"), [])
        self.assertEqual(await self.searchIds(id="*%*"), ["pc%", "pc%1"])

    async def test_searchBackslashIsLiteral(self):
        """
        A backslash in a pattern matches only a backslash, also next to the
        characters a store may have to escape.
        """
        await self.createMany(["bs\\x", "bs\\_", "bs\\%", "bs\\\\", "bsx"])
        self.assertEqual(await self.searchIds(id="bs\\x"), ["bs\\x"])
        self.assertEqual(await self.searchIds(id="bs\\_"), ["bs\\_"])
        self.assertEqual(await self.searchIds(id="bs\\%"), ["bs\\%"])
        self.assertEqual(await self.searchIds(id="bs\\\\"), ["bs\\\\"])
        self.assertEqual(
            await self.searchIds(id="bs\\*"),
            ["bs\\\\", "bs\\%", "bs\\_", "bs\\x"],
        )

    async def _createOneOfEachState(self):
        """
        Create C{state.<STATE>} promises, one in each state, in the order of
        L{State}, and time out nothing else.
        """
        await self.createPromise("state.PENDING", timeout=MAX_TIMEOUT)
        await self.completedPromise("state.RESOLVED", State.RESOLVED)
        await self.completedPromise("state.REJECTED", State.REJECTED)
        await self.completedPromise(
            "state.REJECTED_CANCELED", State.REJECTED_CANCELED
        )
        await self.timedOutPromise("state.REJECTED_TIMEDOUT")

    async def test_searchStates(self):
        """
        A search finds the promises in the states it asks for: the group
        C{rejected} is rejected, canceled and timed out.
        """
        await self._createOneOfEachState()
        cases = [
            (SEARCH_STATES["pending"], ["state.PENDING"]),
            (SEARCH_STATES["resolved"], ["state.RESOLVED"]),
            (
                SEARCH_STATES["rejected"],
                [
                    "state.REJECTED_TIMEDOUT",
                    "state.REJECTED_CANCELED",
                    "state.REJECTED",
                ],
            ),
            (
                ALL_STATES,
                [
                    "state.REJECTED_TIMEDOUT",
                    "state.REJECTED_CANCELED",
                    "state.REJECTED",
                    "state.RESOLVED",
                    "state.PENDING",
                ],
            ),
            (
                frozenset([State.REJECTED_CANCELED]),
                ["state.REJECTED_CANCELED"],
            ),
        ]
        for states, expected in cases:
            found = await self.searchIds(states=states, now=LATER)
            self.assertEqual(found, expected, sorted(s.name for s in states))

    async def test_searchTags(self):
        """
        Every tag asked for must be present with exactly that value; other
        tags do not matter.
        """
        await self.createPromise("tags.ab", tags={"a": "1", "b": "2"})
        await self.createPromise("tags.a", tags={"a": "1"})
        await self.createPromise("tags.a2", tags={"a": "2"})
        await self.createPromise("tags.none")
        await self.createPromise("tags.uni", tags={"ключ": "значение ✓"})
        cases = [
            ({}, ["tags.uni", "tags.none", "tags.a2", "tags.a", "tags.ab"]),
            ({"a": "1"}, ["tags.a", "tags.ab"]),
            ({"a": "2"}, ["tags.a2"]),
            ({"a": "1", "b": "2"}, ["tags.ab"]),
            ({"a": "2", "b": "2"}, []),
            ({"b": "2"}, ["tags.ab"]),
            ({"c": "1"}, []),
            ({"a": "*"}, []),
            ({"a": ""}, []),
            ({"ключ": "значение ✓"}, ["tags.uni"]),
        ]
        for tags, expected in cases:
            self.assertEqual(
                await self.searchIds(id="tags.*", tags=tags), expected, tags
            )

    async def test_searchFilters(self):
        """
        Pattern, states and tags are all applied together.
        """
        await self.createPromise("mix.1", tags={"q": "x"})
        await self.createPromise("mix.2", tags={"q": "x"})
        await self.createPromise("other.3", tags={"q": "x"})
        await self.createPromise("mix.4", tags={"q": "y"})
        await self.completePromise("mix.2", State.REJECTED)
        found = await self.searchIds(
            id="mix.*", states=SEARCH_STATES["pending"], tags={"q": "x"}
        )
        self.assertEqual(found, ["mix.1"])

    async def test_searchLimit(self):
        """
        A search returns at most C{limit} promises, the newest, and offers a
        next page when the page is full.
        """
        await self.createMany([f"limit.{n}" for n in range(5)])
        page = await self.store.searchPromises(
            PromiseQuery(id="limit.*", limit=2), NOW
        )
        self.assertEqual(
            [promise.id for promise in page.promises], ["limit.4", "limit.3"]
        )
        self.assertIsNotNone(page.next)

    async def test_searchNextOnlyWhenFull(self):
        """
        A page offers a next page only when it holds C{limit} promises.
        """
        await self.createMany(["full.1", "full.2"])
        for limit, hasNext in [(1, True), (2, True), (3, False), (100, False)]:
            page = await self.store.searchPromises(
                PromiseQuery(id="full.*", limit=limit), NOW
            )
            self.assertEqual(page.next is not None, hasNext, limit)

    async def test_searchPaging(self):
        """
        Following next pages walks every match once, newest first; when the
        matches fill the last page exactly, a final empty page ends it.
        """
        await self.createMany([f"page.{n}" for n in range(5)])
        self.assertEqual(
            await self.searchAll(PromiseQuery(id="page.*", limit=2)),
            [["page.4", "page.3"], ["page.2", "page.1"], ["page.0"]],
        )
        self.assertEqual(
            await self.searchAll(PromiseQuery(id="page.*", limit=5)),
            [["page.4", "page.3", "page.2", "page.1", "page.0"], []],
        )
        self.assertEqual(
            await self.searchAll(PromiseQuery(id="page.*", limit=1)),
            [["page.4"], ["page.3"], ["page.2"], ["page.1"], ["page.0"], []],
        )

    async def test_searchPagingKeepsFilters(self):
        """
        Next pages apply the first page's pattern, states and tags.
        """
        for n in range(8):
            await self.createPromise(
                f"keep.{n}", tags={"even": str(n % 2 == 0)}
            )
            await self.createPromise(f"drop.{n}", tags={"even": "True"})
        await self.completePromise("keep.4", State.RESOLVED)
        query = PromiseQuery(
            id="keep.*",
            states=SEARCH_STATES["pending"],
            tags={"even": "True"},
            limit=1,
        )
        pages = await self.searchAll(query)
        self.assertEqual(pages, [["keep.6"], ["keep.2"], ["keep.0"], []])

    async def test_searchPagingIgnoresNewer(self):
        """
        Promises created while paging are newer than the pages still to
        come, so they neither appear in them nor push others out.
        """
        await self.createMany([f"newer.{n}" for n in range(4)])
        page = await self.store.searchPromises(
            PromiseQuery(id="newer.*", limit=2), NOW
        )
        await self.createMany(["newer.4", "newer.5"])
        pages = await self.searchAll(page.next)
        self.assertEqual(pages, [["newer.1", "newer.0"], []])

    async def _createBacklog(self):
        """
        Create promises for searches at L{SEARCH_NOW}: many overdue (some
        timers, one due exactly then), some not yet due and some completed
        before their timeout, interleaved.

        @return: the ids, oldest first, and a C{dict} of the state each is
            in at L{SEARCH_NOW}.
        """
        expected = {}
        for n in range(24):
            if n % 4 == 3:
                promiseId = f"backlog.notDue.{n}"
                await self.createPromise(promiseId, timeout=SEARCH_NOW + 1)
                expected[promiseId] = State.PENDING
                continue
            timer = n % 3 == 0
            promiseId = f"backlog.{'timer' if timer else 'due'}.{n}"
            tags = {"n": str(n)}
            if timer:
                tags[TIMER_TAG] = "true"
            await self.createPromise(
                promiseId,
                timeout=NOW + 1 + n,
                ikey=f"create.{n}",
                param=Value({"n": str(n)}, b"param"),
                tags=tags,
            )
            expected[promiseId] = (
                State.RESOLVED if timer else State.REJECTED_TIMEDOUT
            )
        await self.createPromise("backlog.edge", timeout=SEARCH_NOW)
        expected["backlog.edge"] = State.REJECTED_TIMEDOUT
        await self.createPromise(
            "backlog.edgeTimer",
            timeout=SEARCH_NOW,
            tags={TIMER_TAG: "true"},
        )
        expected["backlog.edgeTimer"] = State.RESOLVED
        await self.createPromise(
            "backlog.notTimer", timeout=NOW + 1, tags={TIMER_TAG: "false"}
        )
        expected["backlog.notTimer"] = State.REJECTED_TIMEDOUT
        for state in [State.RESOLVED, State.REJECTED, State.REJECTED_CANCELED]:
            promiseId = f"backlog.done.{state.name}"
            await self.createPromise(promiseId, timeout=NOW + 1)
            decision = await self.completePromise(promiseId, state)
            self.assertEqual(decision.status, Status.CREATED)
            expected[promiseId] = state
        # A timer completed before its timeout keeps its state.
        await self.createPromise(
            "backlog.done.timer", timeout=NOW + 1, tags={TIMER_TAG: "true"}
        )
        await self.completePromise("backlog.done.timer", State.REJECTED)
        expected["backlog.done.timer"] = State.REJECTED
        return list(expected), expected

    def expectedIds(self, order, expected, states):
        """
        The ids of L{_createBacklog} a search for C{states} finds, newest
        first.
        """
        return [i for i in reversed(order) if expected[i] in states]

    async def test_searchOverdueStates(self):
        """
        A search selects promises by the state they are in at its C{now}: a
        pending promise whose timeout is due (inclusive) counts as timed out
        (a timer as C{RESOLVED}, any other as C{REJECTED_TIMEDOUT}), not as
        C{PENDING}, for every set of states; and it is answered timed out.
        """
        order, expected = await self._createBacklog()
        stored = {i: await self.readStored(i) for i in order}
        cases = [
            frozenset(states)
            for size in range(1, len(State) + 1)
            for states in combinations(State, size)
        ] + list(SEARCH_STATES.values())
        for states in cases:
            page = await self.store.searchPromises(
                PromiseQuery(id="backlog.*", states=states), SEARCH_NOW
            )
            self.assertEqual(
                [promise.id for promise in page.promises],
                self.expectedIds(order, expected, states),
                sorted(state.name for state in states),
            )
        every = await self.store.searchPromises(
            PromiseQuery(id="backlog.*"), SEARCH_NOW
        )
        for promise in every.promises:
            before = stored[promise.id]
            self.assertIs(promise.state, expected[promise.id], promise.id)
            if before.state is State.PENDING and SEARCH_NOW >= before.timeout:
                self.assertTimedOut(promise, promise.id, expected[promise.id])
                self.assertEqual(promise, timedOut(before))
            else:
                self.assertEqual(promise, before)

    async def test_searchDoesNotWrite(self):
        """
        A search times nothing out in storage: the overdue promises it
        answers timed out stay pending until the sweep (or a request on
        their id), which then finds every one of them, also those the
        search did not match.
        """
        order, expected = await self._createBacklog()
        await self.createPromise("elsewhere", timeout=NOW)
        for states in [ALL_STATES] + list(SEARCH_STATES.values()):
            await self.store.searchPromises(
                PromiseQuery(id="backlog.*", states=states), SEARCH_NOW
            )
            await self.store.searchPromises(
                PromiseQuery(id="backlog.*", states=states, limit=2),
                SEARCH_NOW,
            )
        overdue = [
            i
            for i in order
            if expected[i] in (State.RESOLVED, State.REJECTED_TIMEDOUT)
            and not i.startswith("backlog.done.")
        ] + ["elsewhere"]
        for promiseId in overdue:
            self.assertIs(
                (await self.readStored(promiseId)).state,
                State.PENDING,
                promiseId,
            )
        self.assertEqual(
            await self.store.timeoutPromises(SEARCH_NOW, 1000), len(overdue)
        )
        for promiseId in overdue[:-1]:
            self.assertIs(
                (await self.readStored(promiseId)).state,
                expected[promiseId],
                promiseId,
            )

    async def test_searchPagingOverdue(self):
        """
        Paging walks overdue promises like any others, by each state
        filter, and finds the same promises when the sweep writes their
        timeouts between two pages.
        """
        order, expected = await self._createBacklog()
        for states in [ALL_STATES] + list(SEARCH_STATES.values()):
            pages = await self.searchAll(
                PromiseQuery(id="backlog.*", states=states, limit=4),
                SEARCH_NOW,
            )
            self.assertEqual(
                [i for page in pages for i in page],
                self.expectedIds(order, expected, states),
                sorted(state.name for state in states),
            )
        query = PromiseQuery(
            id="backlog.*", states=SEARCH_STATES["rejected"], limit=4
        )
        first = await self.store.searchPromises(query, SEARCH_NOW)
        self.assertGreater(
            await self.store.timeoutPromises(SEARCH_NOW, 1000), 0
        )
        rest = await self.searchAll(first.next, SEARCH_NOW)
        self.assertEqual(
            [promise.id for promise in first.promises]
            + [i for page in rest for i in page],
            self.expectedIds(order, expected, SEARCH_STATES["rejected"]),
        )

    async def test_searchFiltersAsOfNow(self):
        """
        A promise that becomes overdue is found by its new state and not by
        C{pending}.
        """
        await self.createPromise("swept.1")
        rejected = await self.searchIds(
            states=SEARCH_STATES["rejected"], now=LATER
        )
        self.assertEqual(rejected, ["swept.1"])
        self.assertEqual(
            await self.searchIds(states=SEARCH_STATES["pending"], now=LATER),
            [],
        )
        self.assertEqual(
            await self.searchIds(
                states=SEARCH_STATES["pending"], now=LATER - 1
            ),
            ["swept.1"],
        )

    # Round trips.

    async def test_roundTripData(self):
        """
        Param and value data come back byte for byte: no data, empty data
        and every byte value stay distinct.
        """
        cases = [
            ("data.none", Value()),
            ("data.empty", Value({}, b"")),
            ("data.binary", Value({}, BINARY)),
            ("data.nul", Value({}, b"\x00")),
            ("data.large", Value({}, BINARY * 4096)),
        ]
        for promiseId, data in cases:
            created = await self.createPromise(promiseId, param=data)
            self.assertEqual(created.promise.param, data, promiseId)
            stored = await self.readStored(promiseId)
            self.assertEqual(stored.param, data, promiseId)
            self.assertEqual(type(stored.param.data), type(data.data))
            completed = await self.completePromise(promiseId, value=data)
            self.assertEqual(completed.promise.value, data, promiseId)
            stored = await self.readStored(promiseId)
            self.assertEqual(stored.value, data, promiseId)
            self.assertEqual(type(stored.value.data), type(data.data))

    async def test_roundTripHeaders(self):
        """
        Param and value headers come back exactly, unicode, empty strings
        and odd keys included.
        """
        headers = {
            "Content-Type": "application/json",
            "content-type": "text/plain",
            "": "empty key",
            "empty value": "",
            "ünïcödé": "日本語 ✓",
            "quote\"'": "back\\slash",
            "newline": "a\nb",
        }
        await self.createPromise("headers", param=Value(headers, b"p"))
        await self.completePromise("headers", value=Value(headers, None))
        stored = await self.readStored("headers")
        self.assertEqual(stored.param, Value(headers, b"p"))
        self.assertEqual(stored.value, Value(headers, None))

    async def test_roundTripTags(self):
        """
        Tags come back exactly.
        """
        tags = {"a": "1", "ü": "✓", "empty": "", TIMER_TAG: "false"}
        await self.createPromise("tags.roundTrip", tags=tags)
        self.assertEqual((await self.readStored("tags.roundTrip")).tags, tags)

    async def test_roundTripIds(self):
        """
        Ids are kept exactly and told apart exactly: slashes, dots, spaces,
        any unicode, case and trailing spaces all count.
        """
        promiseIds = [
            "a/b/c",
            "/leading/slash/",
            "a.b.c",
            "with space",
            "with space ",
            " with space",
            "Case",
            "case",
            "CASE",
            "ünï/cödé 日本語 ✓",
            "emoji 🎉",
            "quote\"'",
            "semi;colon--",
            "x" * 1000,
        ]
        for n, promiseId in enumerate(promiseIds):
            decision = await self.createPromise(
                promiseId, ikey=f"ikey {promiseId}", tags={"n": str(n)}
            )
            self.assertEqual(decision.status, Status.CREATED, promiseId)
        for n, promiseId in enumerate(promiseIds):
            stored = await self.readStored(promiseId)
            self.assertEqual(stored.id, promiseId)
            self.assertEqual(stored.tags, {"n": str(n)})
            self.assertEqual(
                stored.idempotencyKeyForCreate, f"ikey {promiseId}"
            )
            self.assertEqual(await self.searchIds(id=promiseId), [promiseId])

    async def test_roundTripKeys(self):
        """
        Idempotency keys are kept exactly and compared exactly.
        """
        await self.createPromise("keys", ikey="Schlüssel ✓")
        self.assertEqual(
            (await self.createPromise("keys", ikey="schlüssel ✓")).status,
            Status.PROMISE_ALREADY_EXISTS,
        )
        self.assertEqual(
            (await self.createPromise("keys", ikey="Schlüssel ✓ ")).status,
            Status.PROMISE_ALREADY_EXISTS,
        )
        self.assertEqual(
            (await self.createPromise("keys", ikey="Schlüssel ✓")).status,
            Status.OK,
        )
        await self.completePromise("keys", ikey="")
        stored = await self.readStored("keys")
        self.assertEqual(stored.idempotencyKeyForCreate, "Schlüssel ✓")
        self.assertEqual(stored.idempotencyKeyForComplete, "")

    async def test_roundTripTimes(self):
        """
        Times are kept exactly, up to the largest signed 64-bit timeout.
        """
        await self.createPromise("times", timeout=MAX_TIMEOUT, now=NOW + 7)
        await self.completePromise("times", now=NOW + 9)
        stored = await self.readStored("times")
        self.assertEqual(stored.timeout, MAX_TIMEOUT)
        self.assertEqual(stored.createdOn, NOW + 7)
        self.assertEqual(stored.completedOn, NOW + 9)
        await self.createPromise("times.zero", timeout=0, now=0)
        zero = await self.readPromise("times.zero", now=0)
        self.assertTimedOut(zero.promise, "times.zero")
        self.assertEqual(zero.promise.completedOn, 0)

    async def test_storedValuesAreOwned(self):
        """
        The store keeps its own copy: changing the dicts of a request, or of
        a promise the store answered with, afterwards changes nothing
        stored.
        """
        headers = {"h": "1"}
        tags = {"t": "1"}
        created = await self.createPromise(
            "owned", param=Value(headers, b"p"), tags=tags
        )
        headers["h"] = "changed"
        tags["t"] = "changed"
        created.promise.param.headers["extra"] = "x"
        created.promise.tags["extra"] = "x"
        read = await self.readPromise("owned")
        read.promise.tags["more"] = "y"
        stored = await self.readStored("owned")
        self.assertEqual(stored.param, Value({"h": "1"}, b"p"))
        self.assertEqual(stored.tags, {"t": "1"})


    # Locks: acquire.

    async def test_acquireFree(self):
        """
        Acquiring a free resource answers 201 with a lock that expires one
        lease from C{now}.
        """
        decision = await self.acquireLock(
            "lock.free", "execution.1", processId="process.1", expiry=1234
        )
        self.assertEqual(decision.status, Status.CREATED)
        self.assertEqual(
            decision.lock,
            Lock(
                resourceId="lock.free",
                processId="process.1",
                executionId="execution.1",
                expiryInMilliseconds=1234,
                expiresAt=NOW + 1234,
            ),
        )
        await self.assertHeldUntil("lock.free", NOW + 1234)

    async def test_acquireReentrant(self):
        """
        The holding execution acquires its lock again: 201, with the lease
        renewed from the new C{now} and the process and expiry it gives
        stored.
        """
        await self.acquiredLock(
            "lock.again", "execution.1", processId="process.1", expiry=1000
        )
        decision = await self.acquireLock(
            "lock.again",
            "execution.1",
            processId="process.2",
            expiry=5000,
            now=NOW + 999,
        )
        self.assertEqual(decision.status, Status.CREATED)
        self.assertEqual(
            decision.lock,
            Lock("lock.again", "process.2", "execution.1", 5000, NOW + 5999),
        )
        self.assertEqual(
            await self.store.heartbeatLocks("process.1", NOW + 1000), 0
        )
        self.assertEqual(
            await self.store.heartbeatLocks("process.2", NOW + 1000), 1
        )
        await self.assertHeldUntil("lock.again", NOW + 6000)

    async def test_acquireHeld(self):
        """
        Another execution cannot acquire a lock that has not expired (403,
        no lock), not even one lease less a millisecond later; the holder
        keeps it.
        """
        held = await self.acquiredLock("lock.held", "execution.1")
        for now in [NOW, NOW + EXPIRY - 1]:
            decision = await self.acquireLock(
                "lock.held", "execution.2", processId="process.2", now=now
            )
            self.assertEqual(decision.status, Status.LOCK_ALREADY_ACQUIRED)
            self.assertIsNone(decision.lock)
        again = await self.acquiredLock(
            "lock.held", "execution.1", now=NOW + 1
        )
        self.assertEqual(again.expiresAt, held.expiresAt + 1)

    async def test_acquireExpired(self):
        """
        A lock expires at C{expiresAt}: from then on another execution
        acquires it (201) even though no sweep has deleted it, and the old
        holder no longer holds it.
        """
        await self.acquiredLock("lock.expired", "execution.1")
        decision = await self.acquireLock(
            "lock.expired",
            "execution.2",
            processId="process.2",
            expiry=50,
            now=NOW + EXPIRY,
        )
        self.assertEqual(decision.status, Status.CREATED)
        self.assertEqual(
            decision.lock,
            Lock("lock.expired", "process.2", "execution.2", 50,
                 NOW + EXPIRY + 50),
        )
        refused = await self.acquireLock(
            "lock.expired", "execution.1", now=NOW + EXPIRY
        )
        self.assertEqual(refused.status, Status.LOCK_ALREADY_ACQUIRED)
        self.assertFalse(
            await self.releaseLock("lock.expired", "execution.1")
        )

    async def test_acquireLongExpired(self):
        """
        A lock that expired long ago is acquired by another execution.
        """
        await self.acquiredLock("lock.old", "execution.1", expiry=1)
        lock = await self.acquiredLock(
            "lock.old", "execution.2", now=LATER
        )
        self.assertEqual(lock.executionId, "execution.2")
        self.assertEqual(lock.expiresAt, LATER + EXPIRY)

    async def test_acquireResourcesApart(self):
        """
        Locks on different resources do not block each other, even held by
        different executions of one process.
        """
        await self.acquiredLock("lock.a", "execution.1")
        await self.acquiredLock("lock.b", "execution.2")
        await self.acquiredLock("lock.c", "execution.1")

    # Locks: release.

    async def test_releaseHolder(self):
        """
        The holding execution releases its lock; then another execution
        acquires it at once, and a second release finds nothing.
        """
        await self.acquiredLock("lock.release", "execution.1")
        self.assertTrue(
            await self.releaseLock("lock.release", "execution.1")
        )
        self.assertFalse(
            await self.releaseLock("lock.release", "execution.1")
        )
        await self.acquiredLock("lock.release", "execution.2")

    async def test_releaseNotHolder(self):
        """
        Another execution cannot release a lock: C{False}, and the lock is
        still held.
        """
        await self.acquiredLock("lock.notMine", "execution.1")
        self.assertFalse(
            await self.releaseLock("lock.notMine", "execution.2")
        )
        await self.assertHeldUntil("lock.notMine", NOW + EXPIRY)

    async def test_releaseUnknown(self):
        """
        Releasing a resource that has no lock answers C{False}.
        """
        self.assertFalse(await self.releaseLock("lock.none", "execution.1"))

    async def test_releaseExpired(self):
        """
        The holder of an expired, unswept lock may still release it; then
        there is nothing left to sweep.
        """
        await self.acquiredLock("lock.lapsed", "execution.1")
        self.assertTrue(
            await self.releaseLock("lock.lapsed", "execution.1", now=LATER)
        )
        self.assertEqual(await self.store.timeoutLocks(LATER, 10), 0)

    # Locks: heartbeat.

    async def test_heartbeat(self):
        """
        A heartbeat extends every lock of its process to one lease (each
        lock's own) from C{now}, counts them, and leaves other processes'
        locks alone.
        """
        await self.acquiredLock(
            "lock.hb.1", "execution.1", processId="process.1", expiry=1000
        )
        await self.acquiredLock(
            "lock.hb.2", "execution.2", processId="process.1", expiry=5000
        )
        await self.acquiredLock(
            "lock.hb.other", "execution.3", processId="process.2",
            expiry=1000,
        )
        self.assertEqual(
            await self.store.heartbeatLocks("process.1", NOW + 500), 2
        )
        await self.assertHeldUntil("lock.hb.1", NOW + 1500)
        await self.assertHeldUntil("lock.hb.2", NOW + 5500)
        await self.assertHeldUntil("lock.hb.other", NOW + 1000)

    async def test_heartbeatFromNow(self):
        """
        A heartbeat extends a lock from C{now}, not from its previous
        expiry: heartbeats at one time all give the same expiry.
        """
        await self.acquiredLock(
            "lock.hb.twice", "execution.1", processId="process.1"
        )
        for _ in range(3):
            self.assertEqual(
                await self.store.heartbeatLocks("process.1", NOW + 100), 1
            )
        await self.assertHeldUntil("lock.hb.twice", NOW + 100 + EXPIRY)

    async def test_heartbeatNone(self):
        """
        A heartbeat of a process that holds no locks counts 0 and changes
        nothing.
        """
        self.assertEqual(await self.store.heartbeatLocks("process.1", NOW), 0)
        await self.acquiredLock(
            "lock.hb.none", "execution.1", processId="process.1"
        )
        self.assertEqual(
            await self.store.heartbeatLocks("process.2", NOW + 100), 0
        )
        await self.assertHeldUntil("lock.hb.none", NOW + EXPIRY)

    # Locks: the sweep.

    async def test_timeoutLocksNone(self):
        """
        With no expired lock, sweeping locks deletes nothing and counts 0.
        """
        self.assertEqual(await self.store.timeoutLocks(NOW, 10), 0)
        await self.acquiredLock("lock.sweep.none", "execution.1")
        self.assertEqual(
            await self.store.timeoutLocks(NOW + EXPIRY - 1, 10), 0
        )
        await self.assertHeldUntil("lock.sweep.none", NOW + EXPIRY)

    async def test_timeoutLocks(self):
        """
        Sweeping locks deletes every lock that has expired by C{now}
        (C{expiresAt} included) and counts them; it leaves the rest.
        """
        await self.acquiredLock("lock.sweep.early", "execution.1", expiry=1)
        await self.acquiredLock("lock.sweep.exact", "execution.2", expiry=2)
        await self.acquiredLock("lock.sweep.notYet", "execution.3", expiry=3)
        self.assertEqual(await self.store.timeoutLocks(NOW + 2, 10), 2)
        for resourceId, executionId in [
            ("lock.sweep.early", "execution.1"),
            ("lock.sweep.exact", "execution.2"),
        ]:
            self.assertFalse(
                await self.releaseLock(resourceId, executionId, now=NOW + 2)
            )
        self.assertEqual(await self.store.timeoutLocks(NOW + 2, 10), 0)
        self.assertTrue(
            await self.releaseLock(
                "lock.sweep.notYet", "execution.3", now=NOW + 2
            )
        )

    async def test_timeoutLocksLimit(self):
        """
        Sweeping locks deletes at most C{limit} of them, those that expired
        first first; later sweeps delete the rest.
        """
        for n in range(5):
            await self.acquiredLock(
                f"lock.limit.{n}", f"execution.{n}", expiry=5 - n
            )
        self.assertEqual(await self.store.timeoutLocks(NOW + 5, 2), 2)
        released = [
            await self.releaseLock(f"lock.limit.{n}", f"execution.{n}")
            for n in range(5)
        ]
        self.assertEqual(released, [True, True, True, False, False])
        for n in range(5):
            await self.acquiredLock(f"lock.limit.{n}", f"execution.{n}")
        self.assertEqual(await self.store.timeoutLocks(LATER, 2), 2)
        self.assertEqual(await self.store.timeoutLocks(LATER, 2), 2)
        self.assertEqual(await self.store.timeoutLocks(LATER, 2), 1)
        self.assertEqual(await self.store.timeoutLocks(LATER, 2), 0)

    # Locks: ids.

    async def test_lockIds(self):
        """
        Resource, process and execution ids are kept exactly: other ids
        that a store might confuse with them are other locks.
        """
        ids = ["ü.1", "a b/c?d#e%f", "a_b", "a%b", "A_B", "a\\b", "x" * 1000]
        for resourceId in ids:
            lock = await self.acquiredLock(
                resourceId, resourceId + ".e", processId=resourceId + ".p"
            )
            self.assertEqual(
                lock,
                Lock(resourceId, resourceId + ".p", resourceId + ".e",
                     EXPIRY, NOW + EXPIRY),
            )
        for resourceId in ids:
            self.assertEqual(
                await self.store.heartbeatLocks(resourceId + ".p", NOW), 1
            )
            self.assertFalse(
                await self.releaseLock(resourceId, resourceId + ".E")
            )
            self.assertTrue(
                await self.releaseLock(resourceId, resourceId + ".e")
            )

    # Schedules.

    def createSchedule(
        self,
        scheduleId,
        cron=EVERY_SECOND,
        promiseId="{{.id}}.{{.timestamp}}",
        promiseTimeout=60_000,
        ikey=None,
        tags=None,
        now=NOW,
        **kwargs,
    ):
        """
        Ask the store to create a schedule.

        @return: a C{Deferred} firing with the store's C{ScheduleDecision}.
        """
        request = CreateSchedule(
            id=scheduleId,
            cron=cron,
            promiseId=promiseId,
            promiseTimeout=promiseTimeout,
            tags={} if tags is None else tags,
            idempotencyKey=ikey,
            **kwargs,
        )
        return self.store.createSchedule(request, now)

    async def createdSchedule(self, scheduleId, **kwargs):
        """
        Create a schedule that must be new.

        @return: the created C{Schedule}.
        """
        decision = await self.createSchedule(scheduleId, **kwargs)
        self.assertEqual(decision.status, Status.CREATED, scheduleId)
        return decision.schedule

    async def searchScheduleIds(self, now=NOW, **query):
        """
        Search schedules with one page large enough for every test here.

        @return: the ids found, in the order the store gave them.
        """
        page = await self.store.searchSchedules(ScheduleQuery(**query), now)
        return [schedule.id for schedule in page.schedules]

    async def firedPromises(self, scheduleId, now=NOW):
        """
        The promises the schedule C{scheduleId} has fired, oldest first.
        """
        page = await self.store.searchPromises(
            PromiseQuery(tags={SCHEDULE_TAG: scheduleId}, limit=1000), now
        )
        return sorted(page.promises, key=lambda promise: promise.createdOn)

    async def test_createSchedule(self):
        """
        Creating a new schedule answers 201 with it as stored: its next run
        is the first slot of its cron expression after C{now}, it has not
        run yet, and it was created at C{now}.
        """
        decision = await self.createSchedule(
            "sched.new", cron="*/5 * * * * *", ikey="k", tags={"a": "1"}
        )
        self.assertEqual(decision.status, Status.CREATED)
        schedule = decision.schedule
        self.assertEqual(schedule.id, "sched.new")
        self.assertEqual(schedule.cron, "*/5 * * * * *")
        self.assertEqual(
            schedule.nextRunTime, nextRunTime("*/5 * * * * *", NOW)
        )
        self.assertGreater(schedule.nextRunTime, NOW)
        self.assertIsNone(schedule.lastRunTime)
        self.assertEqual(schedule.createdOn, NOW)
        self.assertEqual(schedule.idempotencyKey, "k")
        self.assertEqual(schedule.tags, {"a": "1"})
        self.assertEqual(
            await self.store.readSchedule("sched.new", NOW), schedule
        )

    async def test_createScheduleSameKey(self):
        """
        Creating a schedule again with its idempotency key answers 200 with
        the stored schedule, whatever the rest of the request says.
        """
        created = await self.createdSchedule("sched.same", ikey="k")
        decision = await self.createSchedule(
            "sched.same", cron="0 * * * *", ikey="k", now=NOW + 5000
        )
        self.assertEqual(decision.status, Status.OK)
        self.assertEqual(decision.schedule, created)
        self.assertEqual(
            await self.store.readSchedule("sched.same", NOW), created
        )

    async def test_createScheduleConflict(self):
        """
        Creating a schedule whose id exists, with another key or none,
        answers 409 and changes nothing.
        """
        created = await self.createdSchedule("sched.taken", ikey="k")
        unkeyed = await self.createdSchedule("sched.unkeyed")
        for scheduleId, ikey in [
            ("sched.taken", "other"),
            ("sched.taken", None),
            ("sched.unkeyed", None),
            ("sched.unkeyed", "k"),
        ]:
            decision = await self.createSchedule(scheduleId, ikey=ikey)
            self.assertEqual(
                decision.status,
                Status.SCHEDULE_ALREADY_EXISTS,
                (scheduleId, ikey),
            )
            self.assertIsNone(decision.schedule)
        self.assertEqual(
            await self.store.readSchedule("sched.taken", NOW), created
        )
        self.assertEqual(
            await self.store.readSchedule("sched.unkeyed", NOW), unkeyed
        )

    async def test_readScheduleMissing(self):
        """
        Reading a schedule that does not exist gives L{None}.
        """
        self.assertIsNone(await self.store.readSchedule("sched.none", NOW))

    async def test_deleteSchedule(self):
        """
        Deleting a schedule answers C{True} once and C{False} after; it can
        then no longer be read, fired or found, and its id is free again.
        """
        await self.createdSchedule("sched.gone")
        self.assertTrue(await self.store.deleteSchedule("sched.gone", NOW))
        self.assertFalse(await self.store.deleteSchedule("sched.gone", NOW))
        self.assertIsNone(await self.store.readSchedule("sched.gone", NOW))
        self.assertEqual(await self.searchScheduleIds(), [])
        self.assertEqual(await self.store.fireSchedules(NOW + 5000, 100), 0)
        self.assertIsNone(await self.store.nextRunTime())
        await self.createdSchedule("sched.gone")

    async def test_deleteScheduleMissing(self):
        """
        Deleting a schedule that does not exist answers C{False}.
        """
        self.assertFalse(await self.store.deleteSchedule("sched.none", NOW))

    async def test_roundTripSchedule(self):
        """
        A schedule reads back exactly as created: description, tags, the
        promise template with binary data and headers, and the key; and
        without the optional parts, as their defaults.
        """
        full = await self.createdSchedule(
            "sched.full",
            cron="@every 90s",
            promiseId="full.{{.timestamp}}",
            promiseTimeout=123_456,
            ikey="key ✓",
            tags={"t": "ü", "x.y": "z"},
            description="a description ✓",
            promiseParam=Value({"h": "1", "ü": "✓"}, BINARY),
            promiseTags={"p": "q"},
        )
        bare = await self.createdSchedule("sched.bare")
        self.assertEqual(
            await self.store.readSchedule("sched.full", NOW), full
        )
        self.assertEqual(full.description, "a description ✓")
        self.assertEqual(
            full.promiseParam, Value({"h": "1", "ü": "✓"}, BINARY)
        )
        self.assertEqual(full.promiseTags, {"p": "q"})
        stored = await self.store.readSchedule("sched.bare", NOW)
        self.assertEqual(stored, bare)
        self.assertIsNone(stored.description)
        self.assertEqual(stored.tags, {})
        self.assertEqual(stored.promiseParam, Value())
        self.assertEqual(stored.promiseTags, {})
        self.assertIsNone(stored.idempotencyKey)

    async def test_searchSchedulesNewestFirst(self):
        """
        A search with no filter finds every schedule, newest first.
        """
        for n in range(3):
            await self.createdSchedule(f"sched.{n}")
        self.assertEqual(
            await self.searchScheduleIds(),
            ["sched.2", "sched.1", "sched.0"],
        )

    async def test_searchSchedulesPatterns(self):
        """
        In an id pattern C{*} matches any run of characters and is the only
        wildcard: C{_}, C{%} and C{\\} match only themselves.
        """
        for scheduleId in ["a.1", "a.2", "b.1", "a_1", "ax1", "a%1", "a\\1"]:
            await self.createdSchedule(scheduleId)
        cases = [
            ("*", ["a\\1", "a%1", "ax1", "a_1", "b.1", "a.2", "a.1"]),
            ("a.*", ["a.2", "a.1"]),
            ("*.1", ["b.1", "a.1"]),
            ("a.1", ["a.1"]),
            ("a_1", ["a_1"]),
            ("a%1", ["a%1"]),
            ("a\\1", ["a\\1"]),
            ("a_*", ["a_1"]),
            ("A.*", []),
            ("c*", []),
        ]
        for pattern, expected in cases:
            self.assertEqual(
                await self.searchScheduleIds(id=pattern), expected, pattern
            )

    async def test_searchSchedulesTags(self):
        """
        A search by tags finds the schedules that have every tag given,
        with that value.
        """
        await self.createdSchedule("tag.1", tags={"a": "1", "b": "2"})
        await self.createdSchedule("tag.2", tags={"a": "1"})
        await self.createdSchedule("tag.3", tags={"a": "2"})
        await self.createdSchedule("tag.4", tags={"odd key ✓": "v"})
        self.assertEqual(
            await self.searchScheduleIds(tags={"a": "1"}), ["tag.2", "tag.1"]
        )
        self.assertEqual(
            await self.searchScheduleIds(tags={"a": "1", "b": "2"}),
            ["tag.1"],
        )
        self.assertEqual(await self.searchScheduleIds(tags={"b": "1"}), [])
        self.assertEqual(
            await self.searchScheduleIds(tags={"odd key ✓": "v"}), ["tag.4"]
        )
        self.assertEqual(
            await self.searchScheduleIds(id="tag.[13]", tags={"a": "1"}), []
        )
        self.assertEqual(
            await self.searchScheduleIds(id="*.1", tags={"a": "1"}),
            ["tag.1"],
        )

    async def test_searchSchedulesLimit(self):
        """
        A search returns at most C{limit} schedules, the newest, and offers
        a next page only when the page is full.
        """
        for n in range(3):
            await self.createdSchedule(f"lim.{n}")
        page = await self.store.searchSchedules(
            ScheduleQuery(id="lim.*", limit=2), NOW
        )
        self.assertEqual(
            [schedule.id for schedule in page.schedules], ["lim.2", "lim.1"]
        )
        self.assertIsNotNone(page.next)
        page = await self.store.searchSchedules(
            ScheduleQuery(id="lim.*", limit=4), NOW
        )
        self.assertEqual(len(page.schedules), 3)
        self.assertIsNone(page.next)

    async def test_searchSchedulesPaging(self):
        """
        Following next pages walks every match once, newest first, keeping
        the filters; schedules created meanwhile are not on later pages.
        """
        for n in range(5):
            await self.createdSchedule(f"pg.{n}", tags={"k": str(n % 2)})
        await self.createdSchedule("other.0", tags={"k": "0"})
        pages = []
        query = ScheduleQuery(id="pg.*", tags={"k": "0"}, limit=2)
        while query is not None:
            page = await self.store.searchSchedules(query, NOW)
            pages.append([schedule.id for schedule in page.schedules])
            query = page.next
            if len(pages) == 1:
                await self.createdSchedule("pg.9", tags={"k": "0"})
            self.assertLessEqual(len(pages), 10, "paging does not end")
        self.assertEqual(pages, [["pg.4", "pg.2"], ["pg.0"]])

    async def test_fireSchedulesNoneDue(self):
        """
        Firing before any slot is due fires nothing.
        """
        self.assertEqual(await self.store.fireSchedules(NOW, 100), 0)
        schedule = await self.createdSchedule("sched.early")
        self.assertEqual(
            await self.store.fireSchedules(schedule.nextRunTime - 1, 100), 0
        )
        self.assertEqual(
            await self.store.readSchedule("sched.early", NOW), schedule
        )
        self.assertEqual(await self.firedPromises("sched.early"), [])

    async def test_fireSchedules(self):
        """
        Firing a due slot creates the promise L{fire} describes (id from
        the template, created at the slot, timing out C{promiseTimeout}
        after it, created with its id as key, tagged as the schedule's
        invocation) and advances the schedule to its next slot.
        """
        schedule = await self.createdSchedule(
            "sched.fire",
            cron="*/10 * * * * *",
            promiseTimeout=30_000,
            promiseParam=Value({"h": "v"}, b"data"),
            promiseTags={"p": "1"},
        )
        slot = schedule.nextRunTime
        expected, advanced = fire(schedule, slot)
        self.assertEqual(await self.store.fireSchedules(slot, 100), 1)
        self.assertEqual(
            await self.store.readSchedule("sched.fire", NOW), advanced
        )
        self.assertEqual(advanced.lastRunTime, slot)
        self.assertEqual(
            advanced.nextRunTime, nextRunTime("*/10 * * * * *", slot)
        )
        promise = await self.readStored(f"sched.fire.{slot}")
        self.assertEqual(promise, expected)
        self.assertIs(promise.state, State.PENDING)
        self.assertEqual(promise.createdOn, slot)
        self.assertEqual(promise.timeout, slot + 30_000)
        self.assertEqual(promise.idempotencyKeyForCreate, promise.id)
        self.assertEqual(promise.param, Value({"h": "v"}, b"data"))
        self.assertEqual(
            promise.tags,
            {"p": "1", SCHEDULE_TAG: "sched.fire", INVOCATION_TAG: "true"},
        )

    async def test_fireSchedulesAgain(self):
        """
        Firing again at the same C{now} fires nothing more.
        """
        schedule = await self.createdSchedule("sched.twice")
        now = schedule.nextRunTime
        self.assertEqual(await self.store.fireSchedules(now, 100), 1)
        self.assertEqual(await self.store.fireSchedules(now, 100), 0)
        self.assertEqual(len(await self.firedPromises("sched.twice")), 1)

    async def test_fireSchedulesRouted(self):
        """
        A slot whose promise matches a route gets its task in the same
        transaction (DECISIONS 13a); an unrouted slot gets none.
        """
        routed = await self.createdSchedule(
            "sched.routed", promiseId="jobs/{{.id}}.{{.timestamp}}"
        )
        plain = await self.createdSchedule("sched.plain")
        now = max(routed.nextRunTime, plain.nextRunTime)

        def isRouted(promiseId):
            return promiseId.startswith("jobs/")

        self.assertEqual(await self.store.fireSchedules(now, 100, isRouted), 2)
        offered = await self.store.dispatchTasks(now + 1, 100, CLAIM_WINDOW)
        self.assertEqual(
            [task.id for task in offered],
            [f"jobs/sched.routed.{routed.nextRunTime}"],
        )

    async def test_fireSchedulesCatchesUp(self):
        """
        A schedule behind by several slots fires each missed slot, one by
        one, each with its own promise, and ends at the first slot after
        C{now}.
        """
        await self.createdSchedule("sched.behind")
        now = NOW + 5000
        self.assertEqual(await self.store.fireSchedules(now, 100), 5)
        stored = await self.store.readSchedule("sched.behind", NOW)
        self.assertEqual(stored.lastRunTime, now)
        self.assertEqual(stored.nextRunTime, nextRunTime(EVERY_SECOND, now))
        promises = await self.firedPromises("sched.behind", now)
        self.assertEqual(
            [promise.createdOn for promise in promises],
            [NOW + 1000 * n for n in range(1, 6)],
        )
        self.assertEqual(
            [promise.id for promise in promises],
            [f"sched.behind.{NOW + 1000 * n}" for n in range(1, 6)],
        )
        self.assertEqual(await self.store.fireSchedules(now, 100), 0)

    async def test_fireSchedulesLimit(self):
        """
        Firing fires at most C{limit} slots, earliest first, and answers
        how many; later calls fire the rest.
        """
        for name in ("a", "b", "c"):
            await self.createdSchedule(f"lim.{name}")
        now = NOW + 5000
        self.assertEqual(await self.store.fireSchedules(now, 4), 4)
        runs = [
            (await self.store.readSchedule(f"lim.{name}", NOW)).lastRunTime
            for name in ("a", "b", "c")
        ]
        # The three first slots, then the earliest slot left.
        self.assertEqual(sorted(runs), [NOW + 1000, NOW + 1000, NOW + 2000])
        self.assertEqual(await self.store.fireSchedules(now, 4), 4)
        self.assertEqual(await self.store.fireSchedules(now, 100), 7)
        self.assertEqual(await self.store.fireSchedules(now, 100), 0)
        for name in ("a", "b", "c"):
            self.assertEqual(
                len(await self.firedPromises(f"lim.{name}", now)), 5, name
            )

    async def test_fireSchedulesExistingPromise(self):
        """
        A slot whose promise id is taken leaves that promise as it is: the
        slot counts as fired and the schedule advances.
        """
        await self.createPromise("taken", timeout=LATER, ikey="mine")
        before = await self.readStored("taken")
        schedule = await self.createdSchedule(
            "sched.taken", promiseId="taken"
        )
        now = schedule.nextRunTime
        self.assertEqual(await self.store.fireSchedules(now, 100), 1)
        self.assertEqual(await self.readStored("taken"), before)
        stored = await self.store.readSchedule("sched.taken", NOW)
        self.assertEqual(stored.lastRunTime, now)
        self.assertEqual(await self.searchIds(id="taken"), ["taken"])

    async def test_fireSchedulesOverdue(self):
        """
        A slot whose promise would already have timed out by C{now} creates
        it rejected by timeout; later slots' promises are pending.
        """
        schedule = await self.createdSchedule(
            "sched.late", promiseTimeout=1000
        )
        now = NOW + 3000
        self.assertEqual(await self.store.fireSchedules(now, 100), 3)
        promises = [
            await self.readStored(f"sched.late.{NOW + 1000 * n}")
            for n in range(1, 4)
        ]
        current = schedule
        for promise in promises:
            expected, current = fire(current, now)
            self.assertEqual(promise, expected)
        self.assertEqual(
            [promise.state for promise in promises],
            [State.REJECTED_TIMEDOUT, State.REJECTED_TIMEDOUT, State.PENDING],
        )
        self.assertEqual(promises[0].completedOn, NOW + 2000)

    async def test_nextRunTime(self):
        """
        The store's next run time is the earliest slot of any schedule, or
        L{None} without schedules; it follows firing and deleting.
        """
        self.assertIsNone(await self.store.nextRunTime())
        hourly = await self.createdSchedule("sched.hourly", cron="0 * * * *")
        self.assertEqual(await self.store.nextRunTime(), hourly.nextRunTime)
        often = await self.createdSchedule("sched.often")
        self.assertEqual(await self.store.nextRunTime(), often.nextRunTime)
        await self.store.fireSchedules(often.nextRunTime, 100)
        self.assertEqual(
            await self.store.nextRunTime(), often.nextRunTime + 1000
        )
        await self.store.deleteSchedule("sched.often", NOW)
        self.assertEqual(await self.store.nextRunTime(), hourly.nextRunTime)

    # Requests that arrive together.

    async def test_concurrentCreates(self):
        """
        Of creates of one id that arrive together exactly one creates it;
        the others answer 200 when their key matches and 409 otherwise.
        """
        decisions = await gatherResults(
            [
                self.createPromise("race.create", ikey=f"k{n % 2}")
                for n in range(10)
            ]
        )
        statuses = [decision.status for decision in decisions]
        self.assertEqual(statuses.count(Status.CREATED), 1)
        winner = decisions[statuses.index(Status.CREATED)].promise
        self.assertEqual(statuses.count(Status.OK), 4)
        self.assertEqual(statuses.count(Status.PROMISE_ALREADY_EXISTS), 5)
        for decision in decisions:
            if decision.status is Status.OK:
                self.assertEqual(decision.promise, winner)

    async def test_concurrentCompletes(self):
        """
        Of completions of one promise that arrive together exactly one
        completes it; the others see it completed.
        """
        await self.createPromise("race.complete")
        states = [State.RESOLVED, State.REJECTED, State.REJECTED_CANCELED]
        decisions = await gatherResults(
            [
                self.completePromise(
                    "race.complete", states[n % 3], ikey=f"k{n}", strict=True
                )
                for n in range(9)
            ]
        )
        statuses = [decision.status for decision in decisions]
        self.assertEqual(statuses.count(Status.CREATED), 1)
        winner = decisions[statuses.index(Status.CREATED)].promise
        self.assertEqual(statuses.count(ALREADY[winner.state]), 8)
        self.assertEqual(await self.readStored("race.complete"), winner)

    async def test_concurrentAcquires(self):
        """
        Of acquires of one free resource by different executions that
        arrive together exactly one is granted; the others are refused.
        """
        decisions = await gatherResults(
            [
                self.acquireLock(
                    "race.lock", f"execution.{n}", processId=f"process.{n}"
                )
                for n in range(10)
            ]
        )
        statuses = [decision.status for decision in decisions]
        self.assertEqual(statuses.count(Status.CREATED), 1)
        self.assertEqual(statuses.count(Status.LOCK_ALREADY_ACQUIRED), 9)
        winner = decisions[statuses.index(Status.CREATED)].lock
        self.assertTrue(
            await self.releaseLock("race.lock", winner.executionId)
        )

    async def test_concurrentAcquiresExpired(self):
        """
        Of acquires of one expired lock by different executions that
        arrive together exactly one takes it over.
        """
        await self.acquiredLock("race.expired", "execution.old")
        decisions = await gatherResults(
            [
                self.acquireLock(
                    "race.expired", f"execution.{n}", now=NOW + EXPIRY
                )
                for n in range(10)
            ]
        )
        statuses = [decision.status for decision in decisions]
        self.assertEqual(statuses.count(Status.CREATED), 1)
        self.assertEqual(statuses.count(Status.LOCK_ALREADY_ACQUIRED), 9)

    async def test_concurrentFireSchedules(self):
        """
        Of firings that run together each due slot is fired by exactly one:
        the counts add up to the slots due and each has one promise.
        """
        for name in ("a", "b"):
            await self.createdSchedule(f"race.{name}")
        now = NOW + 5000
        counts = await gatherResults(
            [self.store.fireSchedules(now, 100) for _ in range(5)]
        )
        self.assertEqual(sum(counts), 10)
        for name in ("a", "b"):
            promises = await self.firedPromises(f"race.{name}", now)
            self.assertEqual(
                [promise.createdOn for promise in promises],
                [NOW + 1000 * n for n in range(1, 6)],
            )
            stored = await self.store.readSchedule(f"race.{name}", NOW)
            self.assertEqual(stored.lastRunTime, now)
        self.assertEqual(await self.store.fireSchedules(now, 100), 0)

    # Tasks.

    def createPromiseAndTask(self, promiseId, timeout=LATER, ikey=None, now=NOW):
        """
        Ask the store to create a routed promise and its task.

        @return: a C{Deferred} firing with the store's C{Decision}.
        """
        request = CreatePromise(
            id=promiseId,
            timeout=timeout,
            param=Value(),
            tags={},
            idempotencyKey=ikey,
            strict=False,
        )
        return self.store.createPromiseAndTask(request, now)

    def claimTask(
        self,
        taskId,
        counter,
        executionId="execution",
        processId="process",
        expiry=EXPIRY,
        now=NOW,
    ):
        """
        Ask the store to claim a task.

        @return: a C{Deferred} firing with C{(status, promise)}.
        """
        request = ClaimTask(
            taskId=taskId,
            counter=counter,
            processId=processId,
            executionId=executionId,
            expiryInMilliseconds=expiry,
        )
        return self.store.claimTask(request, now)

    def completeTask(
        self,
        taskId,
        counter,
        executionId="execution",
        state=State.RESOLVED,
        value=None,
        now=NOW,
    ):
        """
        Ask the store to complete a task.

        @return: a C{Deferred} firing with the store's L{Status}.
        """
        request = CompleteTask(
            taskId=taskId,
            counter=counter,
            executionId=executionId,
            state=state,
            value=Value() if value is None else value,
        )
        return self.store.completeTask(request, now)

    async def dispatchedTask(self, taskId, now=NOW + 1):
        """
        Create a routed promise and dispatch its task at C{now}.

        @return: the offered task.
        """
        decision = await self.createPromiseAndTask(taskId)
        self.assertEqual(decision.status, Status.CREATED)
        offered = await self.store.dispatchTasks(now, 100, CLAIM_WINDOW)
        self.assertEqual([task.id for task in offered], [taskId])
        return offered[0]

    async def claimedTask(self, taskId, executionId="execution", now=NOW + 2):
        """
        Create, dispatch and claim a task.

        @return: the offered task.
        """
        task = await self.dispatchedTask(taskId)
        status, promise = await self.claimTask(
            taskId, task.counter, executionId, now=now
        )
        self.assertEqual(status, Status.OK)
        return task

    async def test_createPromiseAndTask(self):
        """
        A routed promise is created as any promise is, and its task is
        offered once time passes its creation: counter 1, its claim window
        starting then.
        """
        decision = await self.createPromiseAndTask("task.new")
        self.assertEqual(decision.status, Status.CREATED)
        self.assertEqual(decision.promise.id, "task.new")
        self.assertIs(decision.promise.state, State.PENDING)
        self.assertEqual(await self.store.dispatchTasks(NOW, 100, 1000), [])
        offered = await self.store.dispatchTasks(NOW + 5, 100, 1000)
        self.assertEqual(len(offered), 1)
        task = offered[0]
        self.assertEqual(task.id, "task.new")
        self.assertEqual(task.promiseId, "task.new")
        self.assertEqual(task.counter, 1)
        self.assertEqual(task.claimTimeout, NOW + 5 + 1000)
        self.assertEqual(task.promiseTimeout, LATER)
        self.assertEqual(task.createdOn, NOW)
        self.assertFalse(task.isCompleted)
        stored = await self.readStored("task.new")
        self.assertEqual(stored, decision.promise)

    async def test_createPromiseAndTaskDeduplicated(self):
        """
        A deduplicated or conflicting create makes no task: a promise made
        without one stays without one.
        """
        await self.createPromise("task.plain", ikey="k")
        decision = await self.createPromiseAndTask("task.plain", ikey="k")
        self.assertEqual(decision.status, Status.OK)
        decision = await self.createPromiseAndTask("task.plain", ikey="other")
        self.assertEqual(decision.status, Status.PROMISE_ALREADY_EXISTS)
        self.assertEqual(
            await self.store.dispatchTasks(NOW + 1, 100, CLAIM_WINDOW), []
        )

    async def test_createPromiseAndTaskTwice(self):
        """
        Creating a routed promise again with its key deduplicates and makes
        no second task: the task keeps its counter.
        """
        await self.createPromiseAndTask("task.twice", ikey="k")
        await self.store.dispatchTasks(NOW + 1, 100, CLAIM_WINDOW)
        decision = await self.createPromiseAndTask("task.twice", ikey="k")
        self.assertEqual(decision.status, Status.OK)
        offered = await self.store.dispatchTasks(
            NOW + 2 + CLAIM_WINDOW, 100, CLAIM_WINDOW
        )
        self.assertEqual([(t.id, t.counter) for t in offered], [("task.twice", 2)])

    async def test_dispatchSkipsCompletedPromise(self):
        """
        A task whose promise was completed directly is not offered (again):
        it is marked completed instead.
        """
        await self.dispatchedTask("task.direct")
        done = await self.store.completePromise(
            CompletePromise(id="task.direct", state=State.RESOLVED), NOW + 2
        )
        self.assertEqual(done.status, Status.CREATED)
        later = NOW + 2 + CLAIM_WINDOW
        self.assertEqual(await self.store.dispatchTasks(later, 100, CLAIM_WINDOW), [])
        self.assertEqual(
            await self.store.dispatchTasks(later + CLAIM_WINDOW, 100, CLAIM_WINDOW), []
        )

    async def test_dispatchWithinWindow(self):
        """
        An offered task is not offered again within its claim window, and
        is again (with the next counter) after it.
        """
        await self.dispatchedTask("task.window")
        now = NOW + 1 + CLAIM_WINDOW
        self.assertEqual(
            await self.store.dispatchTasks(now, 100, CLAIM_WINDOW), []
        )
        offered = await self.store.dispatchTasks(now + 1, 100, CLAIM_WINDOW)
        self.assertEqual([t.counter for t in offered], [2])
        self.assertEqual(offered[0].claimTimeout, now + 1 + CLAIM_WINDOW)

    async def test_dispatchNotAfterPromiseTimeout(self):
        """
        A task whose promise's timeout has passed is never offered.
        """
        await self.createPromiseAndTask("task.due", timeout=NOW + 100)
        self.assertEqual(
            await self.store.dispatchTasks(NOW + 100, 100, CLAIM_WINDOW), []
        )
        self.assertEqual(
            await self.store.dispatchTasks(LATER, 100, CLAIM_WINDOW), []
        )

    async def test_dispatchLimitAndOrder(self):
        """
        At most C{limit} tasks are offered, oldest first; the rest next.
        """
        for n in range(5):
            decision = await self.createPromiseAndTask(
                f"task.limit.{n}", now=NOW + n
            )
            self.assertEqual(decision.status, Status.CREATED)
        offered = await self.store.dispatchTasks(NOW + 10, 3, CLAIM_WINDOW)
        self.assertEqual(
            [t.id for t in offered], [f"task.limit.{n}" for n in range(3)]
        )
        offered = await self.store.dispatchTasks(NOW + 11, 3, CLAIM_WINDOW)
        self.assertEqual(
            [t.id for t in offered], ["task.limit.3", "task.limit.4"]
        )

    async def test_claimUnknown(self):
        """
        Claiming a task that does not exist answers 4044.
        """
        status, promise = await self.claimTask("task.missing", 1)
        self.assertEqual(status, Status.TASK_NOT_FOUND)
        self.assertIsNone(promise)

    async def test_claim(self):
        """
        Claiming with the offered counter answers the promise, and the
        claiming execution holds the lock on it.
        """
        task = await self.dispatchedTask("task.claim")
        status, promise = await self.claimTask(
            "task.claim", task.counter, "execution.1", now=NOW + 2
        )
        self.assertEqual(status, Status.OK)
        self.assertEqual(promise.id, "task.claim")
        self.assertIs(promise.state, State.PENDING)
        refused = await self.acquireLock(
            "task.claim", "execution.2", now=NOW + 3
        )
        self.assertEqual(refused.status, Status.LOCK_ALREADY_ACQUIRED)

    async def test_claimWindowPassed(self):
        """
        A claim after the claim window answers 4035.
        """
        task = await self.dispatchedTask("task.late")
        status, promise = await self.claimTask(
            "task.late", task.counter, now=task.claimTimeout + 1
        )
        self.assertEqual(status, Status.TASK_ALREADY_TIMEDOUT)
        self.assertIsNone(promise)

    async def test_claimPromiseTimedOut(self):
        """
        A claim after the promise's timeout answers 4035.
        """
        await self.createPromiseAndTask("task.expired", timeout=NOW + 10)
        offered = await self.store.dispatchTasks(NOW + 1, 100, CLAIM_WINDOW)
        status, promise = await self.claimTask(
            "task.expired", offered[0].counter, now=NOW + 11
        )
        self.assertEqual(status, Status.TASK_ALREADY_TIMEDOUT)
        self.assertIsNone(promise)

    async def test_claimWrongCounter(self):
        """
        A claim with another counter answers 4037.
        """
        task = await self.dispatchedTask("task.counter")
        status, promise = await self.claimTask(
            "task.counter", task.counter + 1, now=NOW + 2
        )
        self.assertEqual(status, Status.TASK_INVALID_COUNTER)
        self.assertIsNone(promise)

    async def test_claimCompleted(self):
        """
        A claim of a completed task answers 4036.
        """
        task = await self.claimedTask("task.done")
        self.assertEqual(
            await self.completeTask("task.done", task.counter, now=NOW + 3),
            Status.OK,
        )
        status, promise = await self.claimTask(
            "task.done", task.counter, "execution.2", now=NOW + 4
        )
        self.assertEqual(status, Status.TASK_ALREADY_COMPLETED)
        self.assertIsNone(promise)

    async def test_claimLockHeld(self):
        """
        A claim while another execution holds the lock on the promise
        answers 4034.
        """
        task = await self.dispatchedTask("task.locked")
        await self.acquiredLock("task.locked", "execution.other", now=NOW + 1)
        status, promise = await self.claimTask(
            "task.locked", task.counter, "execution.1", now=NOW + 2
        )
        self.assertEqual(status, Status.LOCK_ALREADY_ACQUIRED)
        self.assertIsNone(promise)

    async def test_complete(self):
        """
        Completing a claimed task completes its promise with the state and
        value, releases the lock, and the task is not offered again.
        """
        task = await self.claimedTask("task.complete", "execution.1")
        status = await self.completeTask(
            "task.complete",
            task.counter,
            "execution.1",
            State.REJECTED,
            Value({"h": "v"}, BINARY),
            now=NOW + 3,
        )
        self.assertEqual(status, Status.OK)
        stored = await self.readStored("task.complete")
        self.assertIs(stored.state, State.REJECTED)
        self.assertEqual(stored.value, Value({"h": "v"}, BINARY))
        self.assertEqual(stored.completedOn, NOW + 3)
        granted = await self.acquireLock(
            "task.complete", "execution.2", now=NOW + 4
        )
        self.assertEqual(granted.status, Status.CREATED)
        self.assertEqual(
            await self.store.dispatchTasks(
                NOW + 2 * CLAIM_WINDOW + EXPIRY, 100, CLAIM_WINDOW
            ),
            [],
        )

    async def test_completeUnknown(self):
        """
        Completing a task that does not exist answers 4044.
        """
        self.assertEqual(
            await self.completeTask("task.missing", 1), Status.TASK_NOT_FOUND
        )

    async def test_completeAfterLease(self):
        """
        A completion after the claimer's lease answers 4035 and leaves the
        promise pending.
        """
        task = await self.claimedTask("task.lease")
        status = await self.completeTask(
            "task.lease", task.counter, now=NOW + 2 + EXPIRY + 1
        )
        self.assertEqual(status, Status.TASK_ALREADY_TIMEDOUT)
        stored = await self.readStored("task.lease")
        self.assertIs(stored.state, State.PENDING)

    async def test_completeWrongCounter(self):
        """
        A completion with another counter answers 4037.
        """
        task = await self.claimedTask("task.wrong")
        status = await self.completeTask(
            "task.wrong", task.counter + 1, now=NOW + 3
        )
        self.assertEqual(status, Status.TASK_INVALID_COUNTER)
        stored = await self.readStored("task.wrong")
        self.assertIs(stored.state, State.PENDING)

    async def test_completeTwice(self):
        """
        A second completion answers 4036 and changes nothing.
        """
        task = await self.claimedTask("task.twice")
        self.assertEqual(
            await self.completeTask("task.twice", task.counter, now=NOW + 3),
            Status.OK,
        )
        status = await self.completeTask(
            "task.twice",
            task.counter,
            state=State.REJECTED,
            now=NOW + 4,
        )
        self.assertEqual(status, Status.TASK_ALREADY_COMPLETED)
        stored = await self.readStored("task.twice")
        self.assertIs(stored.state, State.RESOLVED)
        self.assertEqual(stored.completedOn, NOW + 3)

    async def test_completePromiseCompletedDirectly(self):
        """
        A completion of a task whose promise was completed directly
        answers 4036, and the promise keeps its completion.
        """
        task = await self.claimedTask("task.direct")
        decision = await self.completePromise(
            "task.direct", State.REJECTED_CANCELED, now=NOW + 3
        )
        self.assertEqual(decision.status, Status.CREATED)
        status = await self.completeTask(
            "task.direct", task.counter, now=NOW + 4
        )
        self.assertEqual(status, Status.TASK_ALREADY_COMPLETED)
        stored = await self.readStored("task.direct")
        self.assertIs(stored.state, State.REJECTED_CANCELED)

    async def test_expiredLeaseOfferedAgain(self):
        """
        A task whose claimer's lease expired is offered again once its
        claim window is over too, with a new counter; the old counter is
        refused.
        """
        task = await self.claimedTask("task.again")
        lastEnd = max(task.claimTimeout, NOW + 2 + EXPIRY)
        self.assertEqual(
            await self.store.dispatchTasks(lastEnd, 100, CLAIM_WINDOW), []
        )
        offered = await self.store.dispatchTasks(
            lastEnd + 1, 100, CLAIM_WINDOW
        )
        self.assertEqual(
            [(t.id, t.counter) for t in offered], [("task.again", 2)]
        )
        status, _ = await self.claimTask(
            "task.again", 1, "execution.2", now=lastEnd + 2
        )
        self.assertEqual(status, Status.TASK_INVALID_COUNTER)
        status, promise = await self.claimTask(
            "task.again", 2, "execution.2", now=lastEnd + 2
        )
        self.assertEqual(status, Status.OK)
        self.assertEqual(promise.id, "task.again")

    async def test_concurrentClaims(self):
        """
        Of claims of one offered task by different executions with the
        right counter that arrive together exactly one succeeds.
        """
        task = await self.dispatchedTask("race.task")
        results = await gatherResults(
            [
                self.claimTask(
                    "race.task", task.counter, f"execution.{n}", now=NOW + 2
                )
                for n in range(10)
            ]
        )
        statuses = [status for status, _ in results]
        self.assertEqual(statuses.count(Status.OK), 1, statuses)
        self.assertEqual(
            statuses.count(Status.LOCK_ALREADY_ACQUIRED), 9, statuses
        )

    # A request whose row operation fails part way leaves nothing behind.

    async def assertStoreFails(self, d):
        """
        Assert that the request C{d} fails with L{StoreFailure}.
        """
        try:
            result = await d
        except StoreFailure:
            return
        self.fail(f"the request succeeded despite the failed row: {result!r}")

    async def assertStillAnswers(self, promiseId):
        """
        Assert that the store still answers normally: it pings, and creates
        and reads back a new promise C{promiseId}.
        """
        self.assertIsNone(await self.store.ping())
        decision = await self.createPromise(promiseId, ikey="after")
        self.assertEqual(decision.status, Status.CREATED, promiseId)
        stored = await self.readStored(promiseId)
        self.assertEqual(stored, decision.promise)

    async def test_rollbackCreatePromiseAndTask(self):
        """
        A create of a routed promise whose task insert fails after the
        promise insert fails as a whole: the promise does not exist, there
        is no task, and the same create succeeds later.
        """
        restore = self.failRowOperation("insertTask")
        await self.assertStoreFails(self.createPromiseAndTask("rollback.create"))
        restore()
        decision = await self.readPromise("rollback.create")
        self.assertEqual(decision.status, Status.PROMISE_NOT_FOUND)
        self.assertEqual(
            await self.searchIds(id="rollback.*", states=ALL_STATES), []
        )
        self.assertEqual(
            await self.store.dispatchTasks(NOW + 1, 100, CLAIM_WINDOW), []
        )
        await self.assertStillAnswers("rollback.create.after")
        decision = await self.createPromiseAndTask("rollback.create")
        self.assertEqual(decision.status, Status.CREATED)
        offered = await self.store.dispatchTasks(NOW + 1, 100, CLAIM_WINDOW)
        self.assertEqual(
            [(t.id, t.counter) for t in offered], [("rollback.create", 1)]
        )

    async def assertCompleteTaskRolledBack(self, methodName, taskId):
        """
        Assert that a task completion whose row operation C{methodName}
        fails part way changes nothing: the promise is still pending, the
        claiming execution still holds the lock and the task, and the same
        completion succeeds afterwards.
        """
        task = await self.claimedTask(taskId, "execution.1")
        restore = self.failRowOperation(methodName)
        await self.assertStoreFails(
            self.completeTask(taskId, task.counter, "execution.1", now=NOW + 3)
        )
        restore()
        stored = await self.readStored(taskId)
        self.assertIs(stored.state, State.PENDING)
        self.assertIsNone(stored.completedOn)
        refused = await self.acquireLock(taskId, "execution.2", now=NOW + 4)
        self.assertEqual(refused.status, Status.LOCK_ALREADY_ACQUIRED)
        await self.assertStillAnswers(taskId + ".after")
        self.assertEqual(
            await self.completeTask(taskId, task.counter, "execution.1", now=NOW + 5),
            Status.OK,
        )
        stored = await self.readStored(taskId)
        self.assertEqual(
            (stored.state, stored.completedOn), (State.RESOLVED, NOW + 5)
        )
        granted = await self.acquireLock(taskId, "execution.2", now=NOW + 6)
        self.assertEqual(granted.status, Status.CREATED)

    async def test_rollbackCompleteTaskLockRelease(self):
        """
        A task completion whose lock release fails, after the task and its
        promise were written, changes nothing.
        """
        await self.assertCompleteTaskRolledBack("deleteLock", "rollback.release")

    async def test_rollbackCompleteTaskPromiseUpdate(self):
        """
        A task completion whose promise update fails, after the task was
        marked completed, changes nothing: the task is not completed.
        """
        await self.assertCompleteTaskRolledBack(
            "updatePromise", "rollback.promise"
        )

    async def assertFireRolledBack(self, methodName, scheduleId, isRouted):
        """
        Assert that firing a slot whose row operation C{methodName} fails
        part way changes nothing: the schedule is not advanced, no promise
        exists, and the slot fires (once) later.
        """
        schedule = await self.createdSchedule(
            scheduleId, promiseId="jobs/{{.id}}.{{.timestamp}}"
        )
        slot = schedule.nextRunTime
        restore = self.failRowOperation(methodName)
        await self.assertStoreFails(self.store.fireSchedules(slot, 100, isRouted))
        restore()
        self.assertEqual(await self.store.readSchedule(scheduleId, NOW), schedule)
        self.assertEqual(await self.firedPromises(scheduleId, slot), [])
        self.assertEqual(
            await self.store.dispatchTasks(slot + 1, 100, CLAIM_WINDOW), []
        )
        self.assertEqual(await self.store.nextRunTime(), slot)
        await self.assertStillAnswers(scheduleId + ".after")
        self.assertEqual(await self.store.fireSchedules(slot, 100, isRouted), 1)
        expected, advanced = fire(schedule, slot)
        self.assertEqual(
            await self.store.readSchedule(scheduleId, NOW), advanced
        )
        self.assertEqual(await self.firedPromises(scheduleId, slot), [expected])
        self.assertEqual(await self.store.fireSchedules(slot, 100, isRouted), 0)

    async def test_rollbackFireSchedulesTask(self):
        """
        Firing a routed slot whose task insert fails, after the schedule was
        advanced and the slot's promise inserted, changes nothing: no
        promise, the slot fires later.
        """

        def isRouted(promiseId):
            return True

        await self.assertFireRolledBack("insertTask", "rollback.task", isRouted)

    async def test_rollbackFireSchedulesPromise(self):
        """
        Firing a slot whose promise insert fails, after the schedule was
        advanced, changes nothing: the slot is not lost, it fires later.
        """
        await self.assertFireRolledBack("insertPromise", "rollback.fire", None)

    async def test_rollbackClaimTask(self):
        """
        A claim whose task update fails, after the lock on the promise was
        taken, leaves no lock: another execution claims the task with the
        same counter.
        """
        task = await self.dispatchedTask("rollback.claim")
        restore = self.failRowOperation("updateTask")
        await self.assertStoreFails(
            self.claimTask("rollback.claim", task.counter, "execution.1", now=NOW + 2)
        )
        restore()
        await self.assertStillAnswers("rollback.claim.after")
        status, promise = await self.claimTask(
            "rollback.claim", task.counter, "execution.2", now=NOW + 3
        )
        self.assertEqual(status, Status.OK)
        self.assertEqual(promise.id, "rollback.claim")
        refused = await self.acquireLock(
            "rollback.claim", "execution.1", now=NOW + 4
        )
        self.assertEqual(refused.status, Status.LOCK_ALREADY_ACQUIRED)

    # A write that lost a race is not applied over the winner's.

    async def test_raceCompletePromise(self):
        """
        A completion whose conditional update finds the promise completed
        by another writer since it was read is refused: the request
        answers as for a promise already completed, and the winner's
        completion is the one stored.
        """
        await self.createPromise("race.lost", ikey="create")

        def cancelFirst(promise):
            return (
                replace(
                    promise,
                    state=State.REJECTED_CANCELED,
                    value=Value({"by": "winner"}, b"winner"),
                    idempotencyKeyForComplete="winner",
                ),
            )

        self.raceRowOperation("updatePromise", cancelFirst)
        decision = await self.completePromise(
            "race.lost", State.RESOLVED, ikey="loser", value=Value({}, b"loser")
        )
        self.assertEqual(decision.status, Status.PROMISE_ALREADY_CANCELED)
        stored = await self.readStored("race.lost")
        self.assertIs(stored.state, State.REJECTED_CANCELED)
        self.assertEqual(stored.value, Value({"by": "winner"}, b"winner"))
        self.assertEqual(stored.idempotencyKeyForComplete, "winner")
        decision = await self.completePromise("race.lost", ikey="loser")
        self.assertEqual(decision.status, Status.PROMISE_ALREADY_CANCELED)

    async def test_raceTimeoutOnRead(self):
        """
        A read that would time out an overdue promise, but finds it
        resolved by another writer since it was read, answers the
        resolution and does not overwrite it with a timeout.
        """
        await self.createPromise("race.read", timeout=NOW + 10, ikey="create")

        def resolveFirst(promise):
            return (
                replace(
                    promise,
                    state=State.RESOLVED,
                    value=Value({}, b"winner"),
                    idempotencyKeyForComplete="winner",
                    completedOn=NOW + 5,
                ),
            )

        self.raceRowOperation("updatePromise", resolveFirst)
        decision = await self.readPromise("race.read", now=LATER)
        self.assertEqual(decision.status, Status.OK)
        self.assertIs(decision.promise.state, State.RESOLVED)
        self.assertEqual(decision.promise.value, Value({}, b"winner"))
        self.assertEqual(decision.promise.completedOn, NOW + 5)
        self.assertEqual(await self.readStored("race.read"), decision.promise)

    async def test_raceCompleteTask(self):
        """
        A task completion whose conditional task update finds the task
        completed by another writer since it was read answers 4036 and
        writes nothing: its promise is not completed by it.
        """
        task = await self.claimedTask("race.task", "execution.1")

        def completeFirst(previous, task):
            return previous, task

        self.raceRowOperation("updateTask", completeFirst)
        status = await self.completeTask(
            "race.task", task.counter, "execution.1", now=NOW + 3
        )
        self.assertEqual(status, Status.TASK_ALREADY_COMPLETED)
        stored = await self.readStored("race.task")
        self.assertIs(stored.state, State.PENDING)
        status = await self.completeTask(
            "race.task", task.counter, "execution.1", now=NOW + 4
        )
        self.assertEqual(status, Status.TASK_ALREADY_COMPLETED)

    async def test_raceClaimTask(self):
        """
        A claim whose lock insert finds the lock taken by another execution
        since it was read (which claimed the task first) is refused, and
        the task stays with the other execution.
        """
        task = await self.dispatchedTask("race.claim")

        def lockFirst(lock):
            return (
                replace(lock, processId="process.other", executionId="execution.other"),
            )

        self.raceRowOperation("insertLock", lockFirst)
        status, promise = await self.claimTask(
            "race.claim", task.counter, "execution.1", now=NOW + 2
        )
        self.assertEqual(status, Status.LOCK_ALREADY_ACQUIRED)
        self.assertIsNone(promise)
        self.assertFalse(
            await self.releaseLock("race.claim", "execution.1", now=NOW + 3)
        )
        status, promise = await self.claimTask(
            "race.claim", task.counter, "execution.other", now=NOW + 3
        )
        self.assertEqual(status, Status.OK)

    async def test_raceClaimReoffered(self):
        """
        A claim whose task update finds the task offered again (with a new
        counter) since it was read answers 4037 and leaves no lock behind:
        the claim with the new counter succeeds.
        """
        task = await self.dispatchedTask("race.reoffered")

        def offerFirst(previous, task):
            return previous, replace(
                previous,
                counter=previous.counter + 1,
                claimTimeout=NOW + 2 + CLAIM_WINDOW,
            )

        self.raceRowOperation("updateTask", offerFirst)
        status, promise = await self.claimTask(
            "race.reoffered", task.counter, "execution.1", now=NOW + 2
        )
        self.assertEqual(status, Status.TASK_INVALID_COUNTER)
        self.assertIsNone(promise)
        status, promise = await self.claimTask(
            "race.reoffered", task.counter + 1, "execution.2", now=NOW + 3
        )
        self.assertEqual(status, Status.OK)
        self.assertEqual(promise.id, "race.reoffered")

    async def test_raceDispatchTask(self):
        """
        A task that another dispatcher offered since it was read is not
        offered a second time: the other offer (its counter) stands.
        """
        decision = await self.createPromiseAndTask("race.dispatch")
        self.assertEqual(decision.status, Status.CREATED)

        def offerFirst(previous, task):
            return previous, task

        self.raceRowOperation("updateTask", offerFirst)
        self.assertEqual(
            await self.store.dispatchTasks(NOW + 1, 100, CLAIM_WINDOW), []
        )
        status, promise = await self.claimTask(
            "race.dispatch", 1, "execution.1", now=NOW + 2
        )
        self.assertEqual(status, Status.OK)
        self.assertEqual(
            await self.store.dispatchTasks(NOW + 1 + CLAIM_WINDOW, 100, CLAIM_WINDOW),
            [],
        )

    async def test_raceFireSchedule(self):
        """
        A slot that another process fired since it was read (its
        conditional advance is refused) is not fired a second time: no
        promise of this request's, the schedule advanced once.
        """
        schedule = await self.createdSchedule("race.schedule")
        slot = schedule.nextRunTime
        _, advanced = fire(schedule, slot)

        def fireFirst(previous, advanced):
            return previous, advanced

        self.raceRowOperation("advanceSchedule", fireFirst)
        self.assertEqual(await self.store.fireSchedules(slot, 100), 0)
        self.assertEqual(await self.firedPromises("race.schedule", slot), [])
        self.assertEqual(
            await self.store.readSchedule("race.schedule", NOW), advanced
        )
        self.assertEqual(await self.store.fireSchedules(slot, 100), 0)

    async def test_raceTakeOverLock(self):
        """
        An expired lock that another execution took over since it was read
        is not taken over a second time: the acquire is refused and the
        other execution holds the lock.
        """
        await self.acquiredLock("race.lock", "execution.1")

        def takeOverFirst(previous, lock):
            return previous, replace(
                lock, processId="process.3", executionId="execution.3"
            )

        self.raceRowOperation("replaceLock", takeOverFirst)
        decision = await self.acquireLock(
            "race.lock", "execution.2", processId="process.2", now=NOW + EXPIRY
        )
        self.assertEqual(decision.status, Status.LOCK_ALREADY_ACQUIRED)
        self.assertFalse(
            await self.releaseLock("race.lock", "execution.2", now=NOW + EXPIRY)
        )
        self.assertTrue(
            await self.releaseLock("race.lock", "execution.3", now=NOW + EXPIRY)
        )

    # A durable store keeps everything across a close and an open.

    async def test_durablePromises(self):
        """
        Promises in every state, with headers, tags, binary data and keys,
        are read and searched after a reopen exactly as before, and a
        pending one still completes.
        """
        await self.createPromise(
            "durable.pending",
            ikey="create",
            param=Value({"h": "v", "empty": ""}, BINARY),
            tags={"t": "1", "ünï": "cödé"},
        )
        for state in (
            State.RESOLVED,
            State.REJECTED,
            State.REJECTED_CANCELED,
        ):
            await self.completedPromise(f"durable.{state.value.lower()}", state)
        await self.timedOutPromise("durable.timedout", tags={"t": "2"})
        await self.timedOutPromise("durable.timer", tags={TIMER_TAG: "true"})
        ids = await self.searchIds(id="durable.*", states=ALL_STATES)
        self.assertEqual(len(ids), 6)
        before = {promiseId: await self.readStored(promiseId) for promiseId in ids}
        tagged = await self.searchIds(tags={"t": "1"}, states=ALL_STATES)
        await self.reopened()
        self.assertEqual(
            await self.searchIds(id="durable.*", states=ALL_STATES), ids
        )
        self.assertEqual(
            await self.searchIds(tags={"t": "1"}, states=ALL_STATES), tagged
        )
        for promiseId, promise in before.items():
            self.assertEqual(await self.readStored(promiseId), promise)
        decision = await self.completePromise(
            "durable.pending", ikey="complete", value=Value({}, BINARY)
        )
        self.assertEqual(decision.status, Status.CREATED)
        decision = await self.createPromise("durable.pending", ikey="create")
        self.assertEqual(decision.status, Status.OK)
        self.assertIs(decision.promise.state, State.RESOLVED)

    async def test_durableSchedules(self):
        """
        Schedules, fired or not, are read and searched after a reopen as
        before, and fire their next slot as they would have.
        """
        fired = await self.createdSchedule(
            "durable.fired",
            tags={"s": "1"},
            promiseParam=Value({"h": "v"}, BINARY),
            promiseTags={"p": "1"},
            description="fired before",
            ikey="create",
        )
        waiting = await self.createdSchedule("durable.waiting", cron="0 0 * * * *")
        self.assertEqual(
            await self.store.fireSchedules(fired.nextRunTime, 100), 1
        )
        firedNow = await self.store.readSchedule("durable.fired", NOW)
        await self.reopened()
        self.assertEqual(
            await self.store.readSchedule("durable.fired", NOW), firedNow
        )
        self.assertEqual(
            await self.store.readSchedule("durable.waiting", NOW), waiting
        )
        self.assertEqual(
            await self.searchScheduleIds(id="durable.*"),
            ["durable.waiting", "durable.fired"],
        )
        self.assertEqual(await self.store.nextRunTime(), firedNow.nextRunTime)
        self.assertEqual(
            await self.store.fireSchedules(firedNow.nextRunTime, 100), 1
        )
        promises = await self.firedPromises("durable.fired", firedNow.nextRunTime)
        self.assertEqual(
            [p.createdOn for p in promises],
            [fired.nextRunTime, firedNow.nextRunTime],
        )
        decision = await self.createSchedule("durable.fired", ikey="create")
        self.assertEqual(decision.status, Status.OK)

    async def test_durableLocks(self):
        """
        Locks are held after a reopen as before, until the same expiry;
        heartbeats and releases find them.
        """
        await self.acquiredLock("durable.lock.1", "execution.1", processId="p.1")
        await self.acquiredLock("durable.lock.2", "execution.2", processId="p.2")
        await self.reopened()
        self.assertEqual(await self.store.heartbeatLocks("p.1", NOW + 1), 1)
        self.assertTrue(await self.releaseLock("durable.lock.1", "execution.1"))
        await self.assertHeldUntil("durable.lock.2", NOW + EXPIRY)

    async def test_durableTasks(self):
        """
        Tasks keep their counters, claims and leases across a reopen: a
        claimed task completes with its counter, an offered one is claimed
        with its own, a new one is offered first time.
        """
        claimed = await self.claimedTask("durable.claimed", "execution.1")
        await self.createPromiseAndTask("durable.offered", now=NOW + 2)
        offered = await self.store.dispatchTasks(NOW + 3, 100, CLAIM_WINDOW)
        self.assertEqual([t.id for t in offered], ["durable.offered"])
        await self.createPromiseAndTask("durable.new", now=NOW + 4)
        await self.reopened()
        status, promise = await self.claimTask(
            "durable.offered", offered[0].counter, "execution.2", now=NOW + 5
        )
        self.assertEqual(status, Status.OK)
        self.assertEqual(
            await self.completeTask(
                "durable.claimed", claimed.counter, "execution.1", now=NOW + 6
            ),
            Status.OK,
        )
        again = await self.store.dispatchTasks(NOW + 7, 100, CLAIM_WINDOW)
        self.assertEqual([(t.id, t.counter) for t in again], [("durable.new", 1)])

    # The 2026 tables (resonate.interfaces.ITask2026Rows), through
    # transactions of the store (runRowScript): no IStore method reaches
    # them yet.

    async def test_tasks2026RoundTrip(self):
        """
        A 2026 task is read back as inserted, in every state, with and
        without a holder and a timer, with ids and times at their limits;
        an id that is not stored reads as L{None}.
        """
        tasks = [
            Task2026("t2026.pending", TaskState.PENDING, 0, ADDRESS, timeoutAt=LATER),
            Task2026(
                "t2026.acquired/ü:1.2 %_\\",
                TaskState.ACQUIRED,
                2**62,
                "http://worker.example/ü?q=1",
                pid="pid/ü",
                ttl=MAX_TIMEOUT,
                timeoutAt=MAX_TIMEOUT,
            ),
            Task2026("t2026.suspended", TaskState.SUSPENDED, 3, ADDRESS),
            Task2026("t2026.halted", TaskState.HALTED, 4, ADDRESS),
            Task2026("t2026.fulfilled", TaskState.FULFILLED, 0, ADDRESS),
        ]
        self.assertEqual(
            await self.rowCalls(*[("insertTask2026", t) for t in tasks]),
            [True] * len(tasks),
        )
        for task in tasks:
            self.assertEqual(await self.rowCall("readTask2026", task.id), task)
        self.assertIsNone(await self.rowCall("readTask2026", "t2026.PENDING"))
        self.assertIsNone(await self.rowCall("readTask2026", "t2026.missing"))

    async def test_tasks2026InsertIfAbsent(self):
        """
        A 2026 task is not inserted over one of the same id: the insert
        answers C{False} and the stored task is kept.
        """
        task = Task2026("t2026.once", TaskState.PENDING, 0, ADDRESS, timeoutAt=LATER)
        other = replace(
            task, state=TaskState.ACQUIRED, version=1, pid="p", ttl=1, timeoutAt=NOW
        )
        self.assertEqual(
            await self.rowCalls(("insertTask2026", task), ("insertTask2026", other)),
            [True, False],
        )
        self.assertFalse(await self.rowCall("insertTask2026", other))
        self.assertEqual(await self.rowCall("readTask2026", task.id), task)

    async def test_tasks2026UpdateConditional(self):
        """
        A 2026 task update is made only while the stored row is exactly its
        C{previous}: one that differs in any column, or a task that does
        not exist, is refused and changes nothing; an absent pid, ttl or
        timer matches only an absent one.
        """
        stored = Task2026(
            "t2026.update", TaskState.PENDING, 2, ADDRESS, timeoutAt=NOW + RETRY_TIMEOUT
        )
        acquired = replace(
            stored,
            state=TaskState.ACQUIRED,
            version=3,
            pid="pid.1",
            ttl=EXPIRY,
            timeoutAt=NOW + EXPIRY,
        )
        await self.rowCall("insertTask2026", stored)
        stale = [
            replace(stored, state=TaskState.SUSPENDED),
            replace(stored, version=1),
            replace(stored, address="poll://any@others"),
            replace(stored, pid="pid.1"),
            replace(stored, ttl=EXPIRY),
            replace(stored, timeoutAt=NOW + RETRY_TIMEOUT - 1),
            replace(stored, timeoutAt=None),
        ]
        missing = replace(stored, id="t2026.update.missing")
        self.assertEqual(
            await self.rowCalls(
                *[("updateTask2026", previous, acquired) for previous in stale],
                ("updateTask2026", missing, replace(acquired, id=missing.id)),
            ),
            [False] * (len(stale) + 1),
        )
        self.assertEqual(await self.rowCall("readTask2026", stored.id), stored)
        self.assertIsNone(await self.rowCall("readTask2026", missing.id))
        self.assertTrue(await self.rowCall("updateTask2026", stored, acquired))
        self.assertEqual(await self.rowCall("readTask2026", stored.id), acquired)
        # The same update again: its previous is gone.
        self.assertFalse(await self.rowCall("updateTask2026", stored, acquired))
        # Held: a previous without the holder does not match.
        released = replace(stored, timeoutAt=NOW + 1 + RETRY_TIMEOUT, version=3)
        self.assertFalse(
            await self.rowCall(
                "updateTask2026", replace(acquired, pid=None), released
            )
        )
        halted = replace(released, state=TaskState.HALTED, timeoutAt=None)
        self.assertEqual(
            await self.rowCalls(
                ("updateTask2026", acquired, released),
                ("updateTask2026", released, halted),
                ("updateTask2026", replace(halted, timeoutAt=0), released),
                ("updateTask2026", halted, released),
            ),
            [True, True, False, True],
        )
        self.assertEqual(await self.rowCall("readTask2026", stored.id), released)

    async def test_tasks2026Due(self):
        """
        The tasks whose timer is due at C{now} (inclusive) come earliest
        first, then by id, at most C{limit} of them; a task without a
        timer never does.
        """
        tasks = [
            Task2026("due.a", TaskState.PENDING, 0, ADDRESS, timeoutAt=NOW + 2),
            Task2026("due.c", TaskState.PENDING, 0, ADDRESS, timeoutAt=NOW + 1),
            Task2026(
                "due.b", TaskState.ACQUIRED, 1, ADDRESS, "p", EXPIRY, timeoutAt=NOW + 1
            ),
            Task2026("due.d", TaskState.SUSPENDED, 0, ADDRESS),
            Task2026("due.e", TaskState.PENDING, 0, ADDRESS, timeoutAt=NOW + 3),
        ]
        await self.rowCalls(*[("insertTask2026", t) for t in tasks])
        byId = {t.id: t for t in tasks}

        async def due(now, limit=None):
            return [t.id for t in await self.rowCall("dueTasks2026", now, limit)]

        self.assertEqual(await due(NOW), [])
        self.assertEqual(await due(NOW + 1), ["due.b", "due.c"])
        self.assertEqual(await due(NOW + 2), ["due.b", "due.c", "due.a"])
        self.assertEqual(await due(NOW + 2, 2), ["due.b", "due.c"])
        self.assertEqual(await due(MAX_TIMEOUT), ["due.b", "due.c", "due.a", "due.e"])
        self.assertEqual(
            await self.rowCall("dueTasks2026", NOW + 1, None),
            [byId["due.b"], byId["due.c"]],
        )

    async def test_callbacks(self):
        """
        A callback is inserted once per (awaited, awaiter) pair; readying
        the callbacks on a promise marks all of them and only them;
        deleting a task's ready callbacks, or all of them, touches only
        that awaiter's.  Each write answers how many rows it changed.
        """
        a1 = Callback("cb.awaited.1", "cb.task.a")
        b1 = Callback("cb.awaited.1", "cb.task.b")
        a2 = Callback("cb.awaited.2", "cb.task.a")
        ready = lambda c: replace(c, ready=True)  # noqa: E731
        self.assertEqual(
            await self.rowCalls(
                ("insertCallback", b1),
                ("insertCallback", a1),
                ("insertCallback", a2),
                ("insertCallback", ready(a1)),
            ),
            [True, True, True, False],
        )
        self.assertFalse(await self.rowCall("insertCallback", a1))
        self.assertEqual(await self.rowCall("callbacksOf", "cb.awaited.1"), [a1, b1])
        self.assertEqual(await self.rowCall("callbacksOf", "cb.task.a"), [])
        self.assertEqual(await self.rowCall("readyCallbacks", "cb.awaited.1"), 2)
        self.assertEqual(await self.rowCall("readyCallbacks", "cb.missing"), 0)
        self.assertEqual(
            await self.rowCall("callbacksOfAwaiter", "cb.task.a"), [ready(a1), a2]
        )
        self.assertEqual(await self.rowCall("deleteReadyCallbacks", "cb.task.a"), 1)
        self.assertEqual(await self.rowCall("callbacksOfAwaiter", "cb.task.a"), [a2])
        self.assertEqual(
            await self.rowCall("callbacksOf", "cb.awaited.1"), [ready(b1)]
        )
        # An existing pair is kept as it is (here, ready) by a new insert.
        self.assertFalse(await self.rowCall("insertCallback", b1))
        self.assertEqual(await self.rowCall("deleteCallbacks", "cb.task.b"), 1)
        self.assertEqual(await self.rowCall("deleteCallbacks", "cb.task.b"), 0)
        self.assertEqual(await self.rowCall("callbacksOf", "cb.awaited.1"), [])
        self.assertEqual(await self.rowCall("callbacksOf", "cb.awaited.2"), [a2])

    async def test_listeners(self):
        """
        A listener is inserted once per promise and address, read back by
        address, and deleting a promise's listeners leaves the others'.
        """
        l1 = Listener("ls.p", "poll://uni@clients/2")
        l2 = Listener("ls.p", "http://client.example/1")
        other = Listener("ls.q", "poll://uni@clients/2")
        self.assertEqual(
            await self.rowCalls(
                ("insertListener", l1),
                ("insertListener", l2),
                ("insertListener", other),
                ("insertListener", l1),
            ),
            [True, True, True, False],
        )
        self.assertFalse(await self.rowCall("insertListener", l2))
        self.assertEqual(await self.rowCall("listenersOf", "ls.p"), [l2, l1])
        self.assertEqual(await self.rowCall("listenersOf", "ls.missing"), [])
        self.assertEqual(await self.rowCall("deleteListeners", "ls.p"), 2)
        self.assertEqual(await self.rowCall("deleteListeners", "ls.p"), 0)
        self.assertEqual(await self.rowCall("listenersOf", "ls.p"), [])
        self.assertEqual(await self.rowCall("listenersOf", "ls.q"), [other])

    async def test_outbox(self):
        """
        Outbox entries are due at once, oldest first, not yet attempted;
        an C{execute} replaces its task's undelivered one under a new,
        larger id; an C{unblock} is not added twice for one promise and
        address.
        """
        execute = Execute("ob.task", 0, ADDRESS)
        u1 = Unblock("ob.p", "poll://uni@clients/1")
        u2 = Unblock("ob.p", "poll://uni@clients/2")
        self.assertEqual(
            await self.rowCalls(
                ("insertOutbox", execute, NOW),
                ("insertOutbox", u1, NOW),
                ("insertOutbox", u2, NOW + 1),
                ("insertOutbox", u1, NOW + 2),
            ),
            [True, True, True, False],
        )
        self.assertEqual(await self.rowCall("dueOutbox", NOW - 1, None), [])
        entries = await self.rowCall("dueOutbox", NOW + 1, None)
        self.assertEqual([e.message for e in entries], [execute, u1, u2])
        self.assertEqual([e.createdOn for e in entries], [NOW, NOW, NOW + 1])
        self.assertEqual([e.nextAttemptAt for e in entries], [NOW, NOW, NOW + 1])
        self.assertEqual([e.attempts for e in entries], [0, 0, 0])
        ids = [e.id for e in entries]
        self.assertEqual(ids, sorted(set(ids)))
        self.assertEqual(await self.rowCall("dueOutbox", NOW, 1), entries[:1])
        self.assertEqual(await self.rowCall("dueOutbox", NOW, None), entries[:2])
        newer = Execute("ob.task", 1, ADDRESS)
        self.assertTrue(await self.rowCall("insertOutbox", newer, NOW + 2))
        after = await self.rowCall("dueOutbox", NOW + 2, None)
        self.assertEqual([e.message for e in after], [u1, u2, newer])
        self.assertEqual(after[:2], entries[1:])
        self.assertGreater(after[2].id, max(ids))
        self.assertEqual(
            (after[2].createdOn, after[2].attempts, after[2].nextAttemptAt),
            (NOW + 2, 0, NOW + 2),
        )

    async def insertedOutbox(self, *inserts):
        """
        Insert the outbox messages C{inserts} (C{(message, now)} pairs), in
        one transaction, each into a slot of its own.

        @return: the entries, in the order of C{inserts}.
        """
        self.assertTrue(
            all(await self.rowCalls(*[("insertOutbox", *i) for i in inserts]))
        )
        entries = await self.rowCall("dueOutbox", MAX_TIMEOUT, None)
        byMessage = {e.message: e for e in entries}
        return [byMessage[message] for message, _ in inserts]

    async def dueFor(self, now, addresses=(), prefixes=(), push=False, limit=100):
        """
        What C{dueOutboxFor} answers, as the entries' messages.
        """
        entries = await self.rowCall(
            "dueOutboxFor", now, limit, list(addresses), list(prefixes), push
        )
        return [e.message for e in entries]

    async def test_dueOutboxForAddresses(self):
        """
        C{dueOutboxFor} answers the due entries whose address is one of
        those given exactly (not one that only starts with it), or starts
        with one of the prefixes given, or, for a push, is an C{http://}
        or C{https://} address (not a C{poll://} one, nor C{httpx://});
        with none of those, nothing.
        """
        one = Unblock("of.p", "poll://uni@clients/1")
        ten = Unblock("of.p", "poll://uni@clients/10")
        group = Execute("of.group", 0, "poll://any@group/1")
        http = Execute("of.http", 0, "http://worker.example/b")
        https = Execute("of.https", 0, "https://worker.example/c")
        httpx = Execute("of.httpx", 0, "httpx://worker.example/d")
        later = Unblock("of.q", "poll://uni@clients/1")
        await self.insertedOutbox(
            (one, NOW),
            (ten, NOW),
            (group, NOW),
            (http, NOW),
            (https, NOW),
            (httpx, NOW),
            (later, NOW + 5),
        )
        self.assertEqual(
            await self.dueFor(NOW, addresses=["poll://uni@clients/1"]), [one]
        )
        self.assertEqual(
            await self.dueFor(
                NOW, addresses=["poll://uni@clients/10", "poll://any@group/1"]
            ),
            [ten, group],
        )
        self.assertEqual(
            await self.dueFor(NOW, addresses=["poll://uni@clients/"]), []
        )
        self.assertEqual(
            await self.dueFor(NOW, prefixes=["poll://uni@clients/1"]), [one, ten]
        )
        self.assertEqual(
            await self.dueFor(NOW, prefixes=["poll://any@", "https://"]),
            [group, https],
        )
        self.assertEqual(await self.dueFor(NOW, push=True), [http, https])
        self.assertEqual(
            await self.dueFor(NOW, addresses=["poll://any@group/1"], push=True),
            [group, http, https],
        )
        self.assertEqual(await self.dueFor(NOW), [])
        self.assertEqual(
            await self.dueFor(NOW, addresses=["nowhere"], prefixes=["nowhere"]),
            [],
        )
        self.assertEqual(
            await self.dueFor(NOW + 5, addresses=["poll://uni@clients/1"]),
            [one, later],
        )

    async def test_dueOutboxForLiteralPrefix(self):
        """
        A prefix of C{dueOutboxFor} is matched as it is: C{%}, C{_}, C{\\}
        and C{*} in it are the characters themselves, not wildcards.
        """
        wild = Unblock("lit", "poll://any@a%b_c/1")
        plain = Unblock("lit", "poll://any@aXbYc/1")
        slash = Unblock("lit", "poll://any@a\\b/1")
        star = Unblock("lit", "poll://any@a*/1")
        await self.insertedOutbox((wild, NOW), (plain, NOW), (slash, NOW), (star, NOW))
        self.assertEqual(
            await self.dueFor(NOW, prefixes=["poll://any@a%b_c/"]), [wild]
        )
        self.assertEqual(await self.dueFor(NOW, prefixes=["poll://any@a%"]), [wild])
        self.assertEqual(await self.dueFor(NOW, prefixes=["poll://any@a_"]), [])
        self.assertEqual(
            await self.dueFor(NOW, prefixes=["poll://any@a\\"]), [slash]
        )
        self.assertEqual(await self.dueFor(NOW, prefixes=["poll://any@a*"]), [star])
        self.assertEqual(await self.dueFor(NOW, prefixes=["poll://any@a\\%"]), [])
        self.assertEqual(
            await self.dueFor(NOW, prefixes=["poll://any@a"]),
            [wild, plain, slash, star],
        )

    async def test_dueOutboxForOrderAndLimit(self):
        """
        C{dueOutboxFor} answers by C{(nextAttemptAt, id)}, at most
        C{limit}, leaving out entries not yet due.
        """
        messages = [Execute(f"order.{i}", 0, f"http://w/{i}") for i in range(4)]
        first, second, third, fourth = await self.insertedOutbox(
            (messages[0], NOW + 2),
            (messages[1], NOW),
            (messages[2], NOW + 1),
            (messages[3], NOW + 3),
        )
        self.assertTrue(await self.rowCall("deferOutbox", second.id, 1, NOW + 2))
        self.assertEqual(
            await self.dueFor(NOW + 2, push=True),
            [messages[2], messages[0], messages[1]],
        )
        self.assertEqual(
            await self.dueFor(NOW + 2, push=True, limit=2),
            [messages[2], messages[0]],
        )
        self.assertEqual(await self.dueFor(NOW + 1, push=True), [messages[2]])
        self.assertEqual(await self.dueFor(NOW - 1, push=True), [])
        self.assertEqual(
            await self.dueFor(NOW + 3, push=True, limit=1), [messages[2]]
        )

    async def test_deleteAndDeferOutbox(self):
        """
        C{deleteOutbox} deletes one entry by id, C{True} if it was there;
        deleting the id of an C{execute} since replaced deletes nothing,
        the new one kept.  C{deferOutbox} sets an entry's attempts and next
        attempt, keeping the rest; C{False} for an id not there.
        """
        old, unblock = await self.insertedOutbox(
            (Execute("dd.task", 0, ADDRESS), NOW),
            (Unblock("dd.p", "poll://uni@clients/1"), NOW),
        )
        newer = Execute("dd.task", 1, ADDRESS)
        self.assertTrue(await self.rowCall("insertOutbox", newer, NOW + 1))
        [replacing] = [
            e
            for e in await self.rowCall("dueOutbox", MAX_TIMEOUT, None)
            if e.message == newer
        ]
        self.assertFalse(await self.rowCall("deleteOutbox", old.id))
        self.assertFalse(await self.rowCall("deferOutbox", old.id, 1, NOW + 9))
        self.assertEqual(
            await self.rowCall("dueOutbox", MAX_TIMEOUT, None), [unblock, replacing]
        )
        self.assertEqual(
            await self.rowCalls(
                ("deferOutbox", replacing.id, 3, NOW + 100),
                ("deleteOutbox", unblock.id),
                ("deleteOutbox", unblock.id),
            ),
            [True, True, False],
        )
        deferred = replace(replacing, attempts=3, nextAttemptAt=NOW + 100)
        self.assertEqual(await self.rowCall("dueOutbox", NOW + 99, None), [])
        self.assertEqual(
            await self.rowCall("dueOutbox", NOW + 100, None), [deferred]
        )
        self.assertEqual(
            await self.rowCall("dueOutboxFor", NOW + 100, 10, [ADDRESS], [], False),
            [deferred],
        )
        self.assertTrue(await self.rowCall("deferOutbox", replacing.id, 4, NOW))
        self.assertEqual(
            await self.rowCall("dueOutbox", NOW + 1, None),
            [replace(replacing, attempts=4, nextAttemptAt=NOW)],
        )
        self.assertTrue(await self.rowCall("deleteOutbox", replacing.id))
        self.assertEqual(await self.rowCall("dueOutbox", MAX_TIMEOUT, None), [])
        self.assertFalse(await self.rowCall("deferOutbox", replacing.id, 5, NOW))

    async def test_expiredOutbox(self):
        """
        C{expiredOutbox} answers the entries created at or before a time,
        by C{(createdOn, id)}, at most C{limit}, whatever their next
        attempt.
        """
        late, early, also, after = await self.insertedOutbox(
            (Execute("ex.late", 0, ADDRESS), NOW + 2),
            (Execute("ex.early", 0, ADDRESS), NOW),
            (Unblock("ex.p", ADDRESS), NOW),
            (Execute("ex.after", 0, ADDRESS), NOW + 5),
        )
        self.assertTrue(await self.rowCall("deferOutbox", early.id, 2, LATER))
        early = replace(early, attempts=2, nextAttemptAt=LATER)
        self.assertEqual(
            await self.rowCall("expiredOutbox", NOW + 2, 10), [early, also, late]
        )
        self.assertEqual(await self.rowCall("expiredOutbox", NOW + 2, 2), [early, also])
        self.assertEqual(await self.rowCall("expiredOutbox", NOW + 1, 10), [early, also])
        self.assertEqual(await self.rowCall("expiredOutbox", NOW - 1, 10), [])
        self.assertEqual(
            await self.rowCall("expiredOutbox", MAX_TIMEOUT, 10),
            [early, also, late, after],
        )

    async def test_applyEffects(self):
        """
        L{applyEffects} carries out the model's effects through the rows:
        a promise with a target and its task, an acquire, a suspend on a
        child, a listener on the child, and the child's settlement chain
        (the awaiter woken with a new C{execute} replacing the first, its
        callback ready, one C{unblock}, the listener gone).
        """
        parent = newPromise(
            CreatePromise(id="flow", timeout=LATER, tags={TARGET_TAG: ADDRESS}), NOW
        )
        child = newPromise(CreatePromise(id="flow:1", timeout=LATER), NOW)
        task, created = newTask(parent, NOW)
        self.assertTrue(
            await self.applied(
                Effects(writes=(Insert(parent), Insert(child))) + created
            )
        )
        self.assertEqual(await self.readStored("flow"), parent)
        self.assertEqual(await self.rowCall("readTask2026", "flow"), task)
        [offer] = await self.rowCall("dueOutbox", NOW, None)
        self.assertEqual(offer.message, Execute("flow", 0, ADDRESS))

        acquire = decideAcquire(task, parent, AcquireTask("flow", 0, "pid", EXPIRY), NOW + 1)
        self.assertTrue(await self.applied(acquire.effects, NOW + 1))
        suspend = decideSuspend(
            acquire.task,
            parent,
            {"flow:1": child},
            SuspendTask("flow", 1, ("flow:1",)),
            NOW + 2,
        )
        self.assertEqual(suspend.status, HTTPStatus.OK)
        self.assertTrue(await self.applied(suspend.effects, NOW + 2))
        listen = decideRegisterListener(child, "poll://uni@clients/1")
        self.assertTrue(await self.applied(listen.effects, NOW + 2))
        stored, callbacks, listeners = await self.rowCalls(
            ("readTask2026", "flow"),
            ("callbacksOf", "flow:1"),
            ("listenersOf", "flow:1"),
        )
        self.assertEqual(stored, suspend.task)
        self.assertEqual(callbacks, [Callback("flow:1", "flow")])
        self.assertEqual(listeners, [Listener("flow:1", "poll://uni@clients/1")])

        settled = replace(child, state=State.RESOLVED, completedOn=NOW + 3)
        concern = Concern(
            callbacks=tuple(callbacks), awaiters=(stored,), listeners=tuple(listeners)
        )
        effects = Effects(writes=(Update(settled),)) + settlementChain(
            settled, concern, NOW + 3
        )
        self.assertTrue(await self.applied(effects, NOW + 3))
        self.assertEqual(await self.readStored("flow:1"), settled)
        woken = replace(stored, state=TaskState.PENDING, timeoutAt=NOW + 3 + RETRY_TIMEOUT)
        task, ofAwaiter, onChild, listening, outbox = await self.tables2026(
            ["flow:1"], ["flow"]
        )
        self.assertEqual(task, woken)
        self.assertEqual(ofAwaiter, [Callback("flow:1", "flow", ready=True)])
        self.assertEqual(onChild, ofAwaiter)
        self.assertEqual(listening, [])
        self.assertEqual(
            [(e.message, e.createdOn) for e in outbox],
            [
                (Execute("flow", 1, ADDRESS), NOW + 3),
                (Unblock("flow:1", "poll://uni@clients/1"), NOW + 3),
            ],
        )
        self.assertGreater(outbox[0].id, offer.id)

    async def test_applyEffectsFirstWriteRefused(self):
        """
        When the first write of the effects is a conditional one and is
        refused, L{applyEffects} answers C{False} having written nothing
        (not even the messages): the script reads and decides again.
        """
        task = Task2026("refused", TaskState.PENDING, 0, ADDRESS, timeoutAt=NOW)
        await self.rowCall("insertTask2026", task)
        stale = replace(task, timeoutAt=NOW - 1)
        effects = Effects(
            writes=(
                UpdateTask(stale, replace(task, state=TaskState.HALTED, timeoutAt=None)),
                InsertListener(Listener("refused", "poll://uni@clients/1")),
            ),
            messages=(Execute("refused", 0, ADDRESS),),
        )
        self.assertFalse(await self.applied(effects))
        self.assertEqual(
            await self.tables2026(["refused"], ["refused"]),
            [task, [], [], [], []],
        )

    async def assert2026RolledBack(self, failing, before, promiseIds, taskIds):
        """
        Assert that the request C{failing} fails with L{StoreFailure} and
        leaves the 2026 tables as C{before} (what L{tables2026} read of
        C{promiseIds} and C{taskIds}), and that the store still answers.
        """
        await self.assertStoreFails(failing)
        self.assertEqual(await self.tables2026(promiseIds, taskIds), before)
        await self.assertStillAnswers("rollback.2026.after")

    async def test_rollbackTables2026(self):
        """
        A request that writes every 2026 table and fails at its last row
        operation (the outbox insert) leaves them all as they were: the
        task not woken, the new task not inserted, the callback not ready
        and no new one, the listeners not deleted nor added, no message.
        The same request succeeds afterwards.
        """
        suspended = Task2026("rb.task", TaskState.SUSPENDED, 1, ADDRESS)
        await self.rowCalls(
            ("insertTask2026", suspended),
            ("insertCallback", Callback("rb.child", "rb.task")),
            ("insertListener", Listener("rb.child", "poll://uni@clients/1")),
        )
        promiseIds, taskIds = ["rb.child", "rb.other"], ["rb.task", "rb.new"]
        before = await self.tables2026(promiseIds, taskIds)
        woken = replace(suspended, state=TaskState.PENDING, timeoutAt=NOW + RETRY_TIMEOUT)
        fresh = Task2026("rb.new", TaskState.PENDING, 0, ADDRESS, timeoutAt=LATER)
        effects = Effects(
            writes=(
                UpdateTask(suspended, woken),
                ReadyCallbacks("rb.child"),
                DeleteListeners("rb.child"),
                InsertTask(fresh),
                InsertCallback(Callback("rb.other", "rb.new")),
                InsertListener(Listener("rb.other", "poll://uni@clients/2")),
            ),
            messages=(
                Execute("rb.task", 1, ADDRESS),
                Unblock("rb.child", "poll://uni@clients/1"),
            ),
        )
        restore = self.failRowOperation("insertOutbox")
        await self.assert2026RolledBack(
            self.applied(effects), before, promiseIds, taskIds
        )
        restore()
        self.assertTrue(await self.applied(effects))
        task, new, _, _, onChild, onOther, _, listening, outbox = await self.tables2026(
            promiseIds, taskIds
        )
        self.assertEqual((task, new), (woken, fresh))
        self.assertEqual(onChild, [Callback("rb.child", "rb.task", ready=True)])
        self.assertEqual(onOther, [Callback("rb.other", "rb.new")])
        self.assertEqual(listening, [Listener("rb.other", "poll://uni@clients/2")])
        self.assertEqual([e.message for e in outbox], list(effects.messages))

    async def test_rollbackWriteConflict(self):
        """
        A conditional write refused after others of the same effects fails
        the request (L{resonate.store.scripts.WriteConflict}, a
        L{StoreFailure}) and rolls those others back.
        """
        task = Task2026("conflict", TaskState.ACQUIRED, 1, ADDRESS, "p", EXPIRY, NOW + EXPIRY)
        await self.rowCall("insertTask2026", task)
        promiseIds, taskIds = ["conflict.awaited"], ["conflict", "conflict.new"]
        before = await self.tables2026(promiseIds, taskIds)
        effects = Effects(
            writes=(
                InsertTask(Task2026("conflict.new", TaskState.PENDING, 0, ADDRESS, timeoutAt=LATER)),
                InsertCallback(Callback("conflict.awaited", "conflict")),
                UpdateTask(replace(task, version=0), replace(task, state=TaskState.HALTED)),
            ),
            messages=(Execute("conflict.new", 0, ADDRESS),),
        )
        await self.assert2026RolledBack(
            self.applied(effects), before, promiseIds, taskIds
        )

    async def test_rollbackOutboxDelivery(self):
        """
        A transaction that deletes an outbox entry, or defers one, and then
        fails leaves the outbox as it was.
        """
        entries = await self.insertedOutbox(
            (Execute("rb.out", 0, ADDRESS), NOW),
            (Unblock("rb.out.p", "poll://uni@clients/1"), NOW),
        )
        failing = Listener("rb.out.p", "poll://uni@clients/2")
        restore = self.failRowOperation("insertListener")
        for write in [
            ("deleteOutbox", entries[0].id),
            ("deferOutbox", entries[1].id, 1, LATER),
        ]:
            await self.assertStoreFails(
                self.rowCalls(write, ("insertListener", failing))
            )
        restore()
        self.assertEqual(await self.rowCall("dueOutbox", NOW, None), entries)

    async def test_raceTask2026LeaseExpiry(self):
        """
        A lease expiry whose conditional task update finds the lease renewed
        since it read the task (a heartbeat got in first) is refused; read
        again, the timer is not due: the task stays acquired with the
        renewed lease and no C{execute} is written.
        """
        acquired = Task2026(
            "race.lease", TaskState.ACQUIRED, 1, ADDRESS, "pid", EXPIRY, NOW + EXPIRY
        )
        await self.rowCall("insertTask2026", acquired)
        renewed = replace(acquired, timeoutAt=NOW + 2 * EXPIRY)
        self.raceRowOperation("updateTask2026", lambda previous, task: (previous, renewed))
        self._require2026Rows()
        decision = await self.runRowScript(_expireTimer, "race.lease", NOW + EXPIRY)
        self.assertEqual(decision.status, HTTPStatus.CONFLICT)
        self.assertEqual(
            await self.tables2026([], ["race.lease"]), [renewed, [], []]
        )

    async def test_durableTables2026(self):
        """
        2026 tasks, callbacks, listeners and outbox entries are read after
        a reopen as before; a task still updates from its stored row, and
        an outbox id given after the reopen is larger than every one
        before.
        """
        tasks = [
            Task2026("durable.2026.pending", TaskState.PENDING, 0, ADDRESS, timeoutAt=LATER),
            Task2026(
                "durable.2026.acquired", TaskState.ACQUIRED, 5, ADDRESS, "pid", EXPIRY, NOW
            ),
            Task2026("durable.2026.halted", TaskState.HALTED, 2, ADDRESS),
        ]
        await self.rowCalls(
            *[("insertTask2026", t) for t in tasks],
            ("insertCallback", Callback("durable.2026.p", "durable.2026.halted")),
            ("insertCallback", Callback("durable.2026.q", "durable.2026.halted", True)),
            ("insertListener", Listener("durable.2026.p", "poll://uni@clients/1")),
            ("insertOutbox", Execute("durable.2026.pending", 0, ADDRESS), NOW),
            ("insertOutbox", Unblock("durable.2026.q", "poll://uni@clients/1"), NOW),
        )
        promiseIds = ["durable.2026.p", "durable.2026.q"]
        taskIds = [t.id for t in tasks]
        before = await self.tables2026(promiseIds, taskIds)
        due = await self.rowCall("dueTasks2026", NOW, None)
        await self.reopened()
        self.assertEqual(await self.tables2026(promiseIds, taskIds), before)
        self.assertEqual(await self.rowCall("dueTasks2026", NOW, None), due)
        released = replace(tasks[1], state=TaskState.PENDING, pid=None, ttl=None)
        self.assertTrue(await self.rowCall("updateTask2026", tasks[1], released))
        self.assertTrue(
            await self.rowCall(
                "insertOutbox", Execute("durable.2026.pending", 1, ADDRESS), NOW + 1
            )
        )
        outbox = await self.rowCall("dueOutbox", NOW + 1, None)
        self.assertGreater(outbox[-1].id, max(e.id for e in before[-1]))

    async def test_settleMessages(self):
        """
        C{settleMessages} removes the delivered messages and puts the
        failed ones off, in one request.
        """
        gone, deferred, kept = await self.insertedOutbox(
            (Execute("settle.gone", 0, ADDRESS), NOW),
            (Execute("settle.deferred", 0, "http://w/1"), NOW),
            (Unblock("settle.p", "poll://uni@clients/1"), NOW + 1),
        )
        await self.store.settleMessages([gone.id], [(deferred.id, 2, LATER)])
        deferred = replace(deferred, attempts=2, nextAttemptAt=LATER)
        self.assertEqual(
            await self.rowCall("dueOutbox", MAX_TIMEOUT, None), [kept, deferred]
        )
        await self.store.settleMessages([], [])

    async def test_durableOutboxDelivery(self):
        """
        An outbox entry deleted stays deleted after a reopen, and one
        deferred keeps its attempts and next attempt.
        """
        gone, deferred, kept = await self.insertedOutbox(
            (Execute("durable.out.gone", 0, ADDRESS), NOW),
            (Execute("durable.out.deferred", 0, "http://w/1"), NOW),
            (Unblock("durable.out.p", "poll://uni@clients/1"), NOW + 1),
        )
        self.assertEqual(
            await self.rowCalls(
                ("deleteOutbox", gone.id),
                ("deferOutbox", deferred.id, 2, LATER),
            ),
            [True, True],
        )
        deferred = replace(deferred, attempts=2, nextAttemptAt=LATER)
        await self.reopened()
        self.assertEqual(
            await self.rowCall("dueOutbox", MAX_TIMEOUT, None), [kept, deferred]
        )
        self.assertEqual(await self.dueFor(LATER - 1, push=True), [])
        self.assertEqual(
            await self.rowCall("expiredOutbox", NOW + 1, 10), [deferred, kept]
        )

    # The 2026 searches and debug operations (promisesById, tasksById,
    # schedulesById, branchPromises, allCallbacks, allListeners,
    # deleteEverything).

    async def idsById(self, method, *args):
        """
        The ids of what the row operation C{method} (one of the C{*ById}
        searches or L{branchPromises}) answers, in its order.
        """
        return [row.id for row in await self.rowCall(method, *args)]

    async def test_promisesByIdOrder(self):
        """
        C{promisesById} answers promises as stored, by id in code-point
        order (Python's C{sorted}, whatever the database's collation: case
        and accents count, C{":"} before C{"."} is not assumed), only those
        after C{afterId} (stored or not), at most C{limit}; paging on the
        last id of each page finds every promise once.
        """
        await self.createMany(BY_ID)
        ordered = sorted(BY_ID)
        stored = [await self.readStored(i) for i in ordered]
        self.assertEqual(
            await self.rowCall("promisesById", None, {}, None, 100, NOW), stored
        )
        self.assertEqual(
            await self.idsById("promisesById", None, {}, None, 3, NOW), ordered[:3]
        )
        for afterId in ["a", "a.1", "a0", "é", "\U0001f600"]:
            self.assertEqual(
                await self.idsById("promisesById", None, {}, afterId, 100, NOW),
                [i for i in ordered if i > afterId],
                afterId,
            )
        pages, afterId = [], None
        while len(pages) <= len(BY_ID):
            page = await self.idsById("promisesById", None, {}, afterId, 2, NOW)
            if not page:
                break
            pages.append(page)
            afterId = page[-1]
        self.assertEqual([i for page in pages for i in page], ordered)
        self.assertEqual([len(page) for page in pages[:-1]], [2] * (len(pages) - 1))

    async def test_promisesByIdStates(self):
        """
        C{promisesById} selects by the state a promise is in at its C{now}
        (as L{resonate.model.promise.stateFilter} says): an overdue pending
        promise counts as C{REJECTED_TIMEDOUT}, or C{RESOLVED} when it is a
        timer of either protocol, and not as C{PENDING}; it is answered as
        stored, not timed out, and nothing is written.  The state, the tags
        and C{afterId} filter together.
        """
        order, expected = await self._createBacklog()
        for promiseId, tags, state in [
            ("backlog.timer2026", {TIMER_TAG_2026: "true"}, State.RESOLVED),
            ("backlog.notTimer2026", {TIMER_TAG_2026: "false"}, State.REJECTED_TIMEDOUT),
        ]:
            await self.createPromise(promiseId, timeout=NOW + 1, tags=tags)
            order.append(promiseId)
            expected[promiseId] = state
        stored = {i: await self.readStored(i) for i in order}
        ordered = sorted(order)
        for state in [None, *State]:
            found = await self.rowCall(
                "promisesById", state, {}, None, 1000, SEARCH_NOW
            )
            self.assertEqual(
                found,
                [stored[i] for i in ordered if state in (None, expected[i])],
                state,
            )
        self.assertEqual(
            await self.idsById(
                "promisesById", State.REJECTED_TIMEDOUT, {"n": "4"}, None, 10, SEARCH_NOW
            ),
            ["backlog.due.4"],
        )
        self.assertEqual(
            await self.idsById(
                "promisesById", State.RESOLVED, {}, "backlog.edgeTimer", 2, SEARCH_NOW
            ),
            [
                i
                for i in ordered
                if i > "backlog.edgeTimer" and expected[i] is State.RESOLVED
            ][:2],
        )
        # Before the timeouts, the same promises are pending.
        self.assertEqual(
            await self.idsById("promisesById", State.PENDING, {}, None, 1000, NOW),
            sorted(i for i in order if stored[i].state is State.PENDING),
        )
        self.assertEqual({i: await self.readStored(i) for i in order}, stored)

    async def test_promisesByIdTags(self):
        """
        C{promisesById} selects the promises whose tags include every
        given pair (a subset match): keys and values are compared exactly,
        a missing tag matches no value (not even C{""}), and keys that need
        escaping in JSON match too.
        """
        odd = 'k"é y\\'
        tagged = {
            "tags.both": {"a": "1", "b": "2"},
            "tags.a": {"a": "1"},
            "tags.other": {"a": "2", "b": "2"},
            "tags.empty": {"a": ""},
            "tags.none": {},
            "tags.odd": {odd: 'v"ü', "a": "1"},
        }
        for promiseId, tags in tagged.items():
            await self.createPromise(promiseId, tags=tags)
        for tags, ids in [
            ({}, sorted(tagged)),
            ({"a": "1"}, ["tags.a", "tags.both", "tags.odd"]),
            ({"a": "1", "b": "2"}, ["tags.both"]),
            ({"b": "2"}, ["tags.both", "tags.other"]),
            ({"a": ""}, ["tags.empty"]),
            ({"A": "1"}, []),
            ({"c": "1"}, []),
            ({odd: 'v"ü'}, ["tags.odd"]),
            ({odd: 'v"ü', "a": "1"}, ["tags.odd"]),
            ({odd: 'v"u'}, []),
        ]:
            self.assertEqual(
                await self.idsById("promisesById", None, tags, None, 100, NOW),
                ids,
                tags,
            )
        self.assertEqual(
            await self.idsById(
                "promisesById", State.PENDING, {"a": "1"}, "tags.a", 1, NOW
            ),
            ["tags.both"],
        )

    async def test_tasksById(self):
        """
        C{tasksById} answers 2026 tasks by id in code-point order, in one
        state or any, after C{afterId}, at most C{limit}.
        """
        states = list(TaskState)
        tasks = {
            taskId: Task2026(
                taskId, states[n % len(states)], n, ADDRESS, timeoutAt=LATER + n
            )
            for n, taskId in enumerate(BY_ID)
        }
        await self.rowCalls(*[("insertTask2026", t) for t in tasks.values()])
        ordered = sorted(tasks)
        self.assertEqual(
            await self.rowCall("tasksById", None, None, 100),
            [tasks[i] for i in ordered],
        )
        for state in TaskState:
            self.assertEqual(
                await self.rowCall("tasksById", state, None, 100),
                [tasks[i] for i in ordered if tasks[i].state is state],
                state,
            )
        self.assertEqual(await self.idsById("tasksById", None, "a", 2), ordered[
            ordered.index("a") + 1 : ordered.index("a") + 3
        ])
        pending = [i for i in ordered if tasks[i].state is TaskState.PENDING]
        self.assertEqual(
            await self.idsById("tasksById", TaskState.PENDING, pending[0], 100),
            pending[1:],
        )

    async def test_schedulesById(self):
        """
        C{schedulesById} answers schedules as stored, by id in code-point
        order, whose promise tags (not their own tags) include every given
        pair, after C{afterId}, at most C{limit}.
        """
        promiseTags = {
            "a": {TARGET_TAG: ADDRESS, "k": "1"},
            "B": {TARGET_TAG: ADDRESS, "k": "2"},
            "a:1": {TARGET_TAG: ADDRESS, "k": "1", "j": "x"},
            "a.1": {TARGET_TAG: ADDRESS},
            "é": {TARGET_TAG: "poll://any@others", "k": "1"},
        }
        schedules = {
            scheduleId: await self.createdSchedule(
                scheduleId, tags={"own": scheduleId}, promiseTags=tags
            )
            for scheduleId, tags in promiseTags.items()
        }
        ordered = sorted(schedules)
        self.assertEqual(
            await self.rowCall("schedulesById", {}, None, 100),
            [schedules[i] for i in ordered],
        )
        for tags, ids in [
            ({"k": "1"}, ["a", "a:1", "é"]),
            ({"k": "1", "j": "x"}, ["a:1"]),
            ({TARGET_TAG: ADDRESS}, ["B", "a", "a.1", "a:1"]),
            ({"own": "a"}, []),
        ]:
            self.assertEqual(
                await self.idsById("schedulesById", tags, None, 100), ids, tags
            )
        self.assertEqual(
            await self.idsById("schedulesById", {"k": "1"}, "a", 1), ["a:1"]
        )
        self.assertEqual(
            await self.idsById("schedulesById", {}, None, 2), ordered[:2]
        )

    async def test_branchPromises(self):
        """
        C{branchPromises} answers the promises whose C{resonate:branch} tag
        is exactly the branch, the branch's root included, as stored (an
        overdue one still pending), by id in code-point order, at most
        C{limit} (all when L{None}); a branch no promise is on has none.
        """
        branches = {
            "br": "br",
            "br:2": "br",
            "br:10": "br",
            "br:1.a": "br",
            "br:B": "br",
            "br:é": "br",
            "br.other:1": "br.other",
            "bra": "br ",
            "brb": "Br",
        }
        for promiseId, branch in branches.items():
            await self.createPromise(promiseId, tags={BRANCH_TAG: branch, "x": "y"})
        await self.createPromise(
            "br:overdue", timeout=NOW + 1, tags={BRANCH_TAG: "br", TARGET_TAG: ADDRESS}
        )
        await self.createPromise("br:none")
        await self.createPromise("br:other", tags={"resonate:branches": "br"})
        ids = sorted([i for i, b in branches.items() if b == "br"] + ["br:overdue"])
        stored = [await self.readStored(i) for i in ids]
        self.assertEqual(await self.rowCall("branchPromises", "br", None), stored)
        self.assertEqual(stored[ids.index("br:overdue")].state, State.PENDING)
        self.assertEqual(await self.rowCall("branchPromises", "br", 3), stored[:3])
        self.assertEqual(
            await self.idsById("branchPromises", "br.other", None), ["br.other:1"]
        )
        self.assertEqual(await self.idsById("branchPromises", "br ", None), ["bra"])
        self.assertEqual(await self.idsById("branchPromises", "missing", None), [])

    async def test_allCallbacksAndListeners(self):
        """
        C{allCallbacks} answers every callback by C{(awaited, awaiter)}
        and C{allListeners} every listener by C{(promiseId, address)}, in
        code-point order; with none, nothing.
        """
        self.assertEqual(
            await self.rowCalls(("allCallbacks",), ("allListeners",)), [[], []]
        )
        callbacks = [
            Callback(awaited, awaiter, ready=(awaited + awaiter) in ("aa:1", "Bz"))
            for awaited, awaiter in [
                ("a", "a:1"),
                ("B", "z"),
                ("a", "B"),
                ("a.1", "a"),
                ("a:1", "a"),
                ("é", "a"),
                ("a", "a.1"),
            ]
        ]
        listeners = [
            Listener(promiseId, address)
            for promiseId, address in [
                ("a", "poll://uni@clients/b"),
                ("B", "poll://uni@clients/a"),
                ("a", "poll://uni@clients/B"),
                ("a", "http://client.example/é"),
                ("a:1", "poll://uni@clients/a"),
            ]
        ]
        await self.rowCalls(
            *[("insertCallback", c) for c in callbacks],
            *[("insertListener", l) for l in listeners],
        )
        await self.rowCall("readyCallbacks", "B")
        callbacks = [
            replace(c, ready=True) if c.awaited == "B" else c for c in callbacks
        ]
        self.assertEqual(
            await self.rowCalls(("allCallbacks",), ("allListeners",)),
            [
                sorted(callbacks, key=lambda c: (c.awaited, c.awaiter)),
                sorted(listeners, key=lambda l: (l.promiseId, l.address)),
            ],
        )

    async def fillEveryTable(self):
        """
        Store something in every table: promises (pending, settled, a
        timer), a schedule, a lock, a v0.5 task, and the 2026 tables.
        """
        await self.createPromise("fill.pending", tags={BRANCH_TAG: "fill"})
        await self.completedPromise("fill.resolved", State.RESOLVED)
        await self.createPromise(
            "fill.timer", timeout=NOW + 1, tags={TIMER_TAG_2026: "true"}
        )
        await self.createdSchedule("fill.schedule", promiseTags={"k": "v"})
        await self.acquiredLock("fill.lock", "fill.execution")
        decision = await self.createPromiseAndTask("fill.task")
        self.assertEqual(decision.status, Status.CREATED)
        await self.rowCalls(
            ("insertTask2026", Task2026("fill.2026", TaskState.PENDING, 0, ADDRESS, timeoutAt=NOW)),
            ("insertCallback", Callback("fill.pending", "fill.2026")),
            ("insertListener", Listener("fill.pending", "poll://uni@clients/1")),
            ("insertOutbox", Execute("fill.2026", 0, ADDRESS), NOW),
            ("insertOutbox", Unblock("fill.resolved", "poll://uni@clients/1"), NOW),
        )

    async def everything(self):
        """
        What every table holds, as the row operations read it, in one
        transaction.
        """
        return await self.rowCalls(
            ("promisesById", None, {}, None, 1000, NOW),
            ("schedulesById", {}, None, 1000),
            ("tasksById", None, None, 1000),
            ("allCallbacks",),
            ("allListeners",),
            ("dueOutbox", MAX_TIMEOUT, None),
            ("readLock", "fill.lock"),
            ("readTask", "fill.task"),
            ("earliestRunTime",),
            ("overduePromises", MAX_TIMEOUT, None),
            ("dueTasks2026", MAX_TIMEOUT, None),
        )

    async def assertEmptied(self):
        """
        Assert that every table is empty, and that the store works on: ids
        are free again, the lock is free to another execution, no v0.5
        task is offered and no schedule found.
        """
        self.assertEqual(
            await self.everything(),
            [[], [], [], [], [], [], None, None, None, [], []],
        )
        self.assertEqual(await self.store.dispatchTasks(MAX_TIMEOUT - 1, 100, CLAIM_WINDOW), [])
        self.assertEqual(await self.searchScheduleIds(), [])
        taken = await self.acquireLock("fill.lock", "other.execution")
        self.assertEqual(taken.status, Status.CREATED)
        again = await self.createPromise("fill.pending")
        self.assertEqual(again.status, Status.CREATED)
        self.assertEqual(
            [p.id for p in await self.rowCall("promisesById", None, {}, None, 10, NOW)],
            ["fill.pending"],
        )

    async def test_deleteEverything(self):
        """
        C{deleteEverything} (C{debug.reset}) empties every table: promises,
        schedules, locks, v0.5 and 2026 tasks, callbacks, listeners and the
        outbox.  On an empty store it deletes nothing and answers L{None}
        too.
        """
        self.assertIsNone(await self.rowCall("deleteEverything"))
        await self.fillEveryTable()
        filled = await self.everything()
        self.assertNotIn([], filled)
        self.assertNotIn(None, filled)
        self.assertIsNone(await self.rowCall("deleteEverything"))
        await self.assertEmptied()

    async def test_rollbackDeleteEverything(self):
        """
        A transaction that deletes everything and then fails leaves every
        table as it was.
        """
        await self.fillEveryTable()
        before = await self.everything()
        restore = self.failRowOperation("insertListener")
        await self.assertStoreFails(
            self.rowCalls(
                ("deleteEverything",),
                ("insertListener", Listener("fill.resolved", "poll://uni@clients/2")),
            )
        )
        restore()
        self.assertEqual(await self.everything(), before)

    async def test_durableDeleteEverything(self):
        """
        What C{deleteEverything} deleted stays deleted after a reopen, and
        what was written after it is kept.
        """
        await self.fillEveryTable()
        await self.rowCall("deleteEverything")
        created = await self.createPromise("after.reset")
        await self.reopened()
        self.assertEqual(
            await self.everything(),
            [[created.promise], [], [], [], [], [], None, None, None, [created.promise], []],
        )
