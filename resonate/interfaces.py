# -*- test-case-name: tests.unit.test_plugins -*-
"""
Every interface of the server, and nothing else.

A store is a provider of L{IStore}, made by an L{IStoreProvider} plugin that
lives in a C{twisted/plugins/} dropin.  A third party ships its own store by
shipping one dropin; nothing in C{resonate} changes.  Its transactions call
the pure state machine in L{resonate.model}, and its tests subclass the
shared suite in L{resonate.testing.store}.

Times are Unix epoch milliseconds.  Stores never read a clock: every method
that needs the time takes C{now}.

C{docs/store-plugins.md} is the whole contract a store keeps, summed up on
L{IStore}; C{examples/store-plugin/} is a package built from it.
"""

from twisted.plugin import IPlugin
from zope.interface import Attribute, Interface

from resonate.model.tasks2026 import RETRY_TIMEOUT


class IPromiseStore(Interface):
    """
    Durable promises.  Each method is one transaction and returns a
    C{Deferred}.
    """

    def readPromise(promiseId, now, retryTimeout=RETRY_TIMEOUT):
        """
        Read a promise, timing it out first if it is overdue.

        @return: a C{Deferred} firing with a
            L{resonate.model.promise.Decision}.
        """

    def createPromise(request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Create a promise, or deduplicate, per
        L{resonate.model.promise.decideCreate}.

        @param request: a L{resonate.model.promise.CreatePromise}.
        @return: a C{Deferred} firing with a C{Decision}.
        """

    def completePromise(request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Complete a promise, or deduplicate, per
        L{resonate.model.promise.decideComplete}; a completion runs the
        2026 settlement chain (L{resonate.store.scripts.settle}) in the same
        transaction.

        @param request: a L{resonate.model.promise.CompletePromise}.
        @param retryTimeout: how long (ms) a 2026 task the chain wakes
            waits before its C{execute} is sent again.
        @return: a C{Deferred} firing with a C{Decision}.
        """

    def searchPromises(query, now):
        """
        Search, newest first, with every promise as it is at C{now}
        (L{resonate.model.promise.asOf}): an overdue promise is found by,
        and answered in, the state its timeout gives it, and is not written.

        @param query: a L{resonate.model.promise.PromiseQuery}.
        @return: a C{Deferred} firing with a
            L{resonate.model.promise.SearchPage}.
        """

    def timeoutPromises(now, limit, retryTimeout=RETRY_TIMEOUT):
        """
        Time out at most C{limit} overdue promises, each with its 2026
        settlement chain.

        @return: a C{Deferred} firing with the number timed out.
        """


class IScheduleStore(Interface):
    """
    Schedules: cron expressions that create promises.  Each method is one
    transaction and returns a C{Deferred}.
    """

    def createSchedule(request, now):
        """
        Create a schedule, or deduplicate, per
        L{resonate.model.schedule.decideCreateSchedule}.

        @param request: a L{resonate.model.schedule.CreateSchedule}.
        @return: a C{Deferred} firing with a C{ScheduleDecision}.
        """

    def readSchedule(scheduleId, now):
        """
        @return: a C{Deferred} firing with the
            L{resonate.model.schedule.Schedule} or L{None}.
        """

    def deleteSchedule(scheduleId, now):
        """
        @return: a C{Deferred} firing with C{True} if it was deleted.
        """

    def searchSchedules(query, now):
        """
        @param query: a L{resonate.model.schedule.ScheduleQuery}.
        @return: a C{Deferred} firing with a
            L{resonate.model.schedule.SchedulePage}.
        """

    def fireSchedules(now, limit, isRouted=None, retryTimeout=RETRY_TIMEOUT):
        """
        Fire at most C{limit} due slots (C{nextRunTime <= now}), oldest
        first, missed slots one by one: each creates its promise (unless it
        exists) and advances its schedule, in one transaction, so a slot
        fires at most once even when several processes share the store.
        A new promise for which C{isRouted(promiseId)} is true gets its
        task in the same transaction; one whose tags carry a
        C{resonate:target} gets its 2026 task instead.

        @return: a C{Deferred} firing with the number of slots fired.
        """

    def nextRunTime():
        """
        @return: a C{Deferred} firing with the earliest C{nextRunTime} of
            any schedule, or L{None} when there are none: when the
            scheduler should next wake.
        """


class ILockStore(Interface):
    """
    Distributed locks with a per-process heartbeat.  Each method is one
    transaction and returns a C{Deferred}.
    """

    def acquireLock(request, now):
        """
        Acquire a lock per L{resonate.model.lock.decideAcquire}.

        @param request: a L{resonate.model.lock.AcquireLock}.
        @return: a C{Deferred} firing with a
            L{resonate.model.lock.LockDecision}.
        """

    def releaseLock(request, now):
        """
        Release a lock held by C{request.executionId}.

        @param request: a L{resonate.model.lock.ReleaseLock}.
        @return: a C{Deferred} firing with C{True} if it was released,
            C{False} if no such lock is held.
        """

    def heartbeatLocks(processId, now):
        """
        Extend every lock of C{processId} per
        L{resonate.model.lock.heartbeat}.

        @return: a C{Deferred} firing with the number of locks extended.
        """

    def timeoutLocks(now, limit):
        """
        Delete at most C{limit} expired locks.

        @return: a C{Deferred} firing with the number deleted.
        """


class ITaskStore(Interface):
    """
    Tasks: promises routed to workers (L{resonate.model.task}).  Each
    method is one transaction and returns a C{Deferred}.
    """

    def createPromiseAndTask(request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Create a promise as C{createPromise} does and, when it is created
        (201), its task (L{resonate.model.task.newTask}) in the same
        transaction: for promises whose id matches a route.

        @return: a C{Deferred} firing with the promise C{Decision}.
        """

    def claimTask(request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Claim a task per L{resonate.model.task.checkClaim}, taking the lock
        on its promise for the claiming execution (per
        L{resonate.model.lock.decideAcquire}) and leasing the task.

        @param request: a L{resonate.model.task.ClaimTask}.
        @return: a C{Deferred} firing with C{(status, promise)}: C{OK} and
            the promise, or an error status and L{None}.
        """

    def completeTask(request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Complete a task per L{resonate.model.task.checkComplete}: complete
        its promise (a promise already completed or timed out answers
        C{TASK_ALREADY_COMPLETED}), release the execution's lock on it and
        mark the task completed, in one transaction.

        @param request: a L{resonate.model.task.CompleteTask}.
        @return: a C{Deferred} firing with the L{resonate.status.Status}.
        """

    def dispatchTasks(now, limit, claimWindow):
        """
        Take at most C{limit} dispatchable tasks
        (L{resonate.model.task.isDispatchable}) and mark them offered
        (L{resonate.model.task.dispatched}); a task another process is
        offering at the same time is skipped.

        @return: a C{Deferred} firing with the list of offered tasks, to
            push to their workers.
        """


class IProtocol2026Store(Interface):
    """
    The 2026 protocol (C{protocol-2026.md}): every C{POST /} request and
    the background work of its task timers, on the same rows as v0.5.  A
    store built on rows that provide L{ITask2026Rows} runs
    L{resonate.store.scripts2026}'s scripts.
    """

    def handle2026(request, now, retryTimeout=RETRY_TIMEOUT):
        """
        Answer one request in one transaction, per
        L{resonate.store.scripts2026.handle}.

        @param request: a request value of L{resonate.model.requests2026}
            (or the shared ones it names).
        @param retryTimeout: how long (ms) a task this request offers waits
            before its C{execute} is sent again.
        @return: a C{Deferred} firing with a
            L{resonate.model.requests2026.Reply}.
        """

    def expireTasks2026(now, limit, retryTimeout=RETRY_TIMEOUT):
        """
        Act on at most C{limit} due task timers (a retry re-sends the
        C{execute}; a lease's end makes the task pending again), skipping
        timers another process holds.

        @return: a C{Deferred} firing with the number acted on.
        """


class IOutboxStore(Interface):
    """
    Delivery of the 2026 outbox (DECISIONS 29), per
    L{resonate.store.scripts2026}'s delivery scripts: a message leaves the
    outbox only when delivered or expired.
    """

    def takeMessages(now, limit, route, lease):
        """
        Take at most C{limit} due messages this process can deliver, each
        put off by C{lease} ms so that no other process takes it meanwhile.

        @param route: a L{resonate.model.outbox.Route}.
        @return: a C{Deferred} firing with a list of C{(OutboxEntry,
            promise or None)}: an C{unblock} comes with its promise as of
            C{now}.
        """

    def settleMessages(delivered, failed):
        """
        In one transaction: the messages C{delivered} (entry ids) leave
        the outbox; each of C{failed} (C{(entryId, attempts,
        nextAttemptAt)}) is put off until C{nextAttemptAt} with its
        attempts counted.  The delivery loop settles a whole look, or one
        push, with one store request.

        @return: a C{Deferred} firing once all are settled.
        """

    def dropExpiredMessages(createdBefore, limit):
        """
        Drop at most C{limit} messages created at or before C{createdBefore}.

        @return: a C{Deferred} firing with the entries dropped.
        """


class IStore(
    IPromiseStore,
    IScheduleStore,
    ILockStore,
    ITaskStore,
    IProtocol2026Store,
    IOutboxStore,
):
    """
    Everything the server keeps.

    The server calls every method on the reactor thread, many at once, and
    a store keeps these rules for each (C{docs/store-plugins.md} says more;
    the suite of L{resonate.testing.store} checks them):

      - B{atomic}: one method is one transaction; a request that fails part
        way (a row operation raises, the commit fails) leaves nothing
        behind;
      - B{durable before the answer}: its C{Deferred} fires with a result
        only once what it wrote survives a crash;
      - B{on the reactor thread}: results are delivered there (work may run
        in threads of the store's own); nothing blocks the reactor;
      - B{isolated and conditional}: concurrent requests, from this process
        or others sharing the data, do not see each other's partial
        effects; where several writers share the data every update is
        conditional on the row read, so a transition that lost a race is
        not applied twice, and sweeps skip rows another transaction holds;
      - B{errors}: outcomes of the state machine are results, not errors;
        a store fails with L{resonate.errors.StoreFailure} (5002) when it
        cannot reach its data or a transaction fails or times out, and
        with C{ResonateError(Status.AIO_SUBMISSION_QUEUE_FULL)} (5032) at
        once when more than C{StoreConfig.size} transactions would wait;
        anything else answers 5000 and is logged as a bug;
      - B{time passed in}: C{now} decides what is overdue; stores never
        read a clock;
      - B{one settlement chain}: every method that may settle a promise (a
        completion, a timeout, even a read that finds one overdue) runs the
        2026 settlement chain in its transaction, and takes
        C{retryTimeout} (ms, C{tasks.retryTimeout}) for the tasks it wakes.
    """

    def ping():
        """
        Check that the store answers, with the cheapest read it can make
        through the same path its requests take (for C{GET /readyz}).  It
        takes no more than the store's own transaction timeout.

        @return: a C{Deferred} that fires with L{None} when the store
            answers, or fails (with L{resonate.errors.StoreFailure} when
            the store cannot reach its data).
        """

    def close():
        """
        Finish the transactions already accepted, then release every
        resource.  Called last on shutdown.

        @return: a C{Deferred} that fires once the store is closed.
        """


class IGroupCommitStore(Interface):
    """
    A store that commits several write requests in one transaction (SQLite's
    writer), and can tell how many each commit carried.  Optional: the
    server records the batch sizes of stores that provide it.
    """

    def observeCommits(observer):
        """
        Call C{observer(size)} on the reactor thread after every committed
        transaction, with the number of write requests it carried.
        """


class IStoreProvider(IPlugin):
    """
    A plugin that makes stores of one kind.

    Instances live in C{twisted/plugins/} dropins and are found with
    C{twisted.plugin.getPlugins(IStoreProvider)}.
    """

    name = Attribute(
        "The store kind this provider makes: the value of "
        "aio.subsystems.store.config.kind that selects it."
    )

    description = Attribute("One line describing the store, for --help.")

    options = Attribute(
        "The options the store takes: a sequence of "
        "L{resonate.config.stores.StoreOption} (key, kind, default, help), "
        "each configured as aio.subsystems.store.config.<name>.<key> or "
        "the flag --aio-store-<name>-<key>, and handed to makeStore typed, "
        "checked and with its default filled in.  Empty for none."
    )

    def makeStore(config, reactor):
        """
        Open (and create or migrate) a store, synchronously, before the
        reactor runs, so that a bad path or address stops startup.

        @param config: a L{resonate.config.stores.StoreConfig}: the store
            section of the configuration, whose C{options} hold the typed
            value of every declared option.
        @param reactor: the reactor the store delivers results on.
        @return: a provider of L{IStore}.
        @raise resonate.errors.StoreFailure: the store cannot be opened.
        """


class ISharedStoreProvider(IStoreProvider):
    """
    A store provider whose stores several processes may open on the same
    database at once, each seeing the others' writes: what C{twist
    resonate --api-workers N} needs (it refuses a store kind whose provider
    does not declare this).

    With more than one worker the supervisor first opens the store once
    with C{config.shared} false (so that it is created, migrated or reset
    there, once), closes it, and then each worker calls C{makeStore} with
    C{config.shared} true.  A store opened shared must:

      - never delete or reset existing data at open (the supervisor did
        what the options asked);
      - keep no cached copy of anything another process may change (a
        settled promise may be kept: it changes no more);
      - make every write a serializable transaction against the database
        itself, as every request's script expects: two processes running
        the same script at once see each other's writes (a row lock, a
        write lock), never a stale read.

    It is declared by the provider (C{alsoProvides} or
    C{@implementer(ISharedStoreProvider)}), not checked: the shared store
    suite and the multi-worker process tests are how a store shows it.
    """


class IPromiseRows(Interface):
    """
    Promise rows inside one transaction (or, where every write is
    conditional, one connection).

    Stores provide this and drive the shared transaction scripts of
    L{resonate.store.scripts} over it, so the read-decide-write sequence is
    written once: synchronously (C{runSync}: in memory, or in a thread of
    the store's own) or, where every method returns a C{Deferred},
    asynchronously (C{runAsync}).
    """

    def ping():
        """
        The cheapest read that reaches the stored data (for
        L{resonate.store.scripts.ping}).

        @return: L{None}.
        """

    def readPromise(promiseId):
        """
        @return: the stored L{resonate.model.promise.Promise} or L{None}.
        """

    def insertPromise(promise):
        """
        Insert a new promise unless one with its id exists, giving it the
        next C{sortId}: the rows assign it, larger than every C{sortId}
        given before (searches order by it, newest first), never reused,
        and kept by every later update.

        @return: C{True} if inserted.
        """

    def updatePromise(promise):
        """
        Replace a stored promise, on condition that it is still pending.

        @return: C{True} if a row was updated.
        """

    def overduePromises(now, limit):
        """
        @param limit: the most to return, or L{None} for all.
        @return: a list of pending promises whose timeout is C{<= now},
            earliest timeout first (then by C{sortId}), so that a sweep
            that stops at C{limit} times out the oldest.
        """

    def searchPromises(query, now):
        """
        @param query: a L{resonate.model.promise.PromiseQuery}.
        @param now: the time the query's states are as of: a stored pending
            row whose timeout is C{<= now} is in the state its timeout gives
            it (L{resonate.model.promise.stateFilter} says which rows match).
        @return: a list of at most C{query.limit} C{(sortId, promise)} pairs,
            as stored, newest (largest C{sortId}) first, older than
            C{query.sortId} when that is set.
        """


class ILockRows(Interface):
    """
    Lock rows, as L{IPromiseRows} are promise rows: what the lock scripts
    of L{resonate.store.scripts} drive.
    """

    def readLock(resourceId):
        """
        @return: the stored L{resonate.model.lock.Lock} or L{None}.
        """

    def insertLock(lock):
        """
        Insert C{lock} unless its resource has a lock row.

        @return: C{True} if inserted.
        """

    def replaceLock(previous, lock):
        """
        Replace the lock row of C{previous}'s resource with C{lock}, on
        condition that the row is still exactly C{previous}.

        @return: C{True} if replaced.
        """

    def deleteLock(resourceId, executionId):
        """
        Delete the lock on C{resourceId} if C{executionId} holds it.

        @return: C{True} if deleted.
        """

    def heartbeatLocks(processId, now):
        """
        Set every lock of C{processId} to expire one lease
        (C{expiryInMilliseconds}) after C{now}.

        @return: how many locks that was.
        """

    def deleteExpiredLocks(now, limit):
        """
        Delete at most C{limit} locks with C{expiresAt <= now}.

        @return: how many were deleted.
        """


class IScheduleRows(Interface):
    """
    Schedule rows, driven by the schedule scripts of
    L{resonate.store.scripts} (with the promise rows, for firing).
    """

    def readSchedule(scheduleId):
        """
        @return: the stored L{resonate.model.schedule.Schedule} or L{None}.
        """

    def insertSchedule(schedule):
        """
        Insert C{schedule} unless its id is taken, giving it the next
        C{sortId} as L{IPromiseRows.insertPromise} does (kept by
        C{advanceSchedule}).

        @return: C{True} if inserted.
        """

    def deleteSchedule(scheduleId):
        """
        @return: C{True} if a schedule was deleted.
        """

    def searchSchedules(query):
        """
        @param query: a L{resonate.model.schedule.ScheduleQuery}.
        @return: a list of at most C{query.limit} C{(sortId, schedule)}
            pairs, newest first, older than C{query.sortId} when set.
        """

    def dueSchedules(now, limit):
        """
        Schedules with C{nextRunTime <= now}, by C{(nextRunTime, sortId)};
        where several processes share the store, rows another transaction
        is firing are skipped (C{FOR UPDATE SKIP LOCKED}).

        @return: a list of at most C{limit} schedules.
        """

    def advanceSchedule(previous, advanced):
        """
        Set C{advanced}'s C{lastRunTime} and C{nextRunTime} on condition
        that the stored C{nextRunTime} is still C{previous.nextRunTime}.

        @return: C{True} if advanced (this transaction fires the slot).
        """

    def earliestRunTime():
        """
        @return: the smallest C{nextRunTime} of any schedule, or L{None}.
        """


class ITaskRows(Interface):
    """
    Task rows, driven by the task scripts of L{resonate.store.scripts}
    (with the promise and lock rows).
    """

    def readTask(taskId):
        """
        @return: the stored L{resonate.model.task.Task} or L{None}.
        """

    def insertTask(task):
        """
        Insert C{task} unless its id is taken.

        @return: C{True} if inserted.
        """

    def updateTask(previous, task):
        """
        Replace a task on condition that its stored C{counter},
        C{claimTimeout}, C{completeTimeout} and C{isCompleted} are still
        C{previous}'s.

        @return: C{True} if replaced.
        """

    def dispatchableTasks(now, limit):
        """
        At most C{limit} tasks that are not completed, whose
        C{claimTimeout} and C{completeTimeout} are before C{now} and whose
        C{promiseTimeout} is after it, by C{(createdOn, id)}; rows another
        transaction is dispatching are skipped (C{FOR UPDATE SKIP LOCKED}).
        """


class ITask2026Rows(Interface):
    """
    The rows of the 2026 protocol (L{resonate.model.tasks2026}): its tasks,
    callbacks, listeners and outbox, written by
    L{resonate.store.scripts.applyEffects} from a decision's
    L{Effects <resonate.model.tasks2026.Effects>}, with the promise rows,
    in one transaction.

    A task's one timer is its C{timeoutAt}, stored on its row: the
    L{Effects}' timer changes need no write of their own.
    """

    def readTask2026(taskId):
        """
        Read one task by id; where several processes share the store and
        the read runs in a transaction, the row is locked until it ends
        (C{SELECT ... FOR UPDATE}).

        @return: the stored L{resonate.model.tasks2026.Task} or L{None}.
        """

    def insertTask2026(task):
        """
        Insert C{task} unless its id is taken.

        @return: C{True} if inserted.
        """

    def updateTask2026(previous, task):
        """
        Replace the task of C{previous}'s id with C{task} (of the same id),
        on condition that the stored row is still exactly C{previous}:
        state, version, address, pid, ttl and C{timeoutAt} alike, an
        absent value matching only an absent one.

        @return: C{True} if replaced.
        """

    def dueTasks2026(now, limit):
        """
        Tasks whose timer is due (C{timeoutAt <= now}), by C{(timeoutAt,
        id)}; where several processes share the store, rows another
        transaction holds are skipped and those returned are locked
        (C{FOR UPDATE SKIP LOCKED}).

        @param limit: the most to return, or L{None} for all.
        @return: a list of L{resonate.model.tasks2026.Task}s.
        """

    def insertCallback(callback):
        """
        Insert C{callback} unless its C{(awaited, awaiter)} pair exists
        (the stored one, ready or not, is kept).

        @return: C{True} if inserted.
        """

    def readyCallbacks(awaited):
        """
        Mark every callback on the promise C{awaited} ready.

        @return: how many callbacks that was.
        """

    def deleteReadyCallbacks(awaiter):
        """
        Delete the ready callbacks of the task C{awaiter} (its resumes).

        @return: how many were deleted.
        """

    def deleteCallbacks(awaiter):
        """
        Delete every callback of the task C{awaiter}.

        @return: how many were deleted.
        """

    def callbacksOf(awaited):
        """
        @return: the L{resonate.model.tasks2026.Callback}s on the promise
            C{awaited}, by awaiter.
        """

    def callbacksOfAwaiter(awaiter):
        """
        @return: the L{resonate.model.tasks2026.Callback}s of the task
            C{awaiter} (as awaiter), by awaited promise: its ready ones are
            its C{resumes}.
        """

    def insertListener(listener):
        """
        Insert C{listener} unless it exists.

        @return: C{True} if inserted.
        """

    def listenersOf(promiseId):
        """
        @return: the L{resonate.model.tasks2026.Listener}s of the promise
            C{promiseId}, by address.
        """

    def deleteListeners(promiseId):
        """
        Delete every listener of the promise C{promiseId}.

        @return: how many were deleted.
        """

    def insertOutbox(message, now):
        """
        Add C{message} to the outbox, created at C{now}, due at once, not
        yet attempted.  An L{Execute <resonate.model.tasks2026.Execute>}
        replaces the undelivered C{execute} of its task, if any (with a new
        entry id); an L{Unblock <resonate.model.tasks2026.Unblock>} is not
        added twice for one promise and address.

        @return: C{True} if added (or replaced an older C{execute}).
        """

    def dueOutbox(now, limit):
        """
        Outbox entries due (C{nextAttemptAt <= now}), by C{(nextAttemptAt,
        id)}; where several processes share the store, rows another
        transaction holds are skipped and those returned are locked
        (C{FOR UPDATE SKIP LOCKED}).

        @param limit: the most to return, or L{None} for all.
        @return: a list of L{resonate.model.outbox.OutboxEntry}s.
        """

    def dueOutboxFor(now, limit, addresses, prefixes, push):
        """
        The outbox entries due (C{nextAttemptAt <= now}) that one process
        can deliver, by C{(nextAttemptAt, id)}: those whose address is one
        of C{addresses} (exact strings), or starts with one of
        C{prefixes}, or, when C{push} is true, is an C{http://} or
        C{https://} address.  Where several processes share the store,
        rows another transaction holds are skipped and those returned are
        locked (C{FOR UPDATE SKIP LOCKED}).

        @param limit: the most to return.
        @return: a list of L{resonate.model.outbox.OutboxEntry}s.
        """

    def deleteOutbox(entryId):
        """
        Delete the outbox entry C{entryId} (delivered, or dropped).  An
        C{execute} that replaced it has another id and is kept.

        @return: C{True} if it was there.
        """

    def deferOutbox(entryId, attempts, nextAttemptAt):
        """
        Set the entry's C{attempts} and C{nextAttemptAt} (a delivery taken,
        or a failed one to retry later).

        @return: C{True} if it was there.
        """

    def expiredOutbox(createdBefore, limit):
        """
        Outbox entries created at or before C{createdBefore} (too old to
        deliver), by C{(createdOn, id)}, at most C{limit}; where several
        processes share the store, rows another transaction holds are
        skipped and those returned are locked.

        @return: a list of L{resonate.model.outbox.OutboxEntry}s.
        """

    def promisesById(state, tags, afterId, limit, now):
        """
        The promises of a C{promise.search}: those whose state as of C{now}
        is C{state} (any when L{None}; an overdue pending promise counts as
        the state its timeout gives it, as
        L{resonate.model.promise.stateFilter} says) and whose tags include
        every pair of C{tags}, with an id greater than C{afterId} (any when
        L{None}), by id ascending (code-point order), at most C{limit}.

        @return: a list of L{resonate.model.promise.Promise}s as stored.
        """

    def tasksById(state, afterId, limit):
        """
        The tasks of a C{task.search}: those in C{state} (a
        L{resonate.model.tasks2026.TaskState}, any when L{None}) with an id
        greater than C{afterId} (any when L{None}), by id ascending, at
        most C{limit}.

        @return: a list of L{resonate.model.tasks2026.Task}s.
        """

    def schedulesById(promiseTags, afterId, limit):
        """
        The schedules of a C{schedule.search}: those whose C{promiseTags}
        include every pair of C{promiseTags}, with an id greater than
        C{afterId} (any when L{None}), by id ascending, at most C{limit}.

        @return: a list of L{resonate.model.schedule.Schedule}s.
        """

    def branchPromises(branch, limit):
        """
        The promises whose C{resonate:branch} tag is C{branch}, by id
        ascending, at most C{limit} (all when L{None}): a task's preload.
        Stores index this: every acquire reads it.

        @return: a list of L{resonate.model.promise.Promise}s as stored.
        """

    def allCallbacks():
        """
        @return: every L{resonate.model.tasks2026.Callback}, by C{(awaited,
            awaiter)} (C{debug.snap}).
        """

    def allListeners():
        """
        @return: every L{resonate.model.tasks2026.Listener}, by
            C{(promiseId, address)} (C{debug.snap}).
        """

    def deleteEverything():
        """
        Delete every row of every table: promises, schedules, locks, v0.5
        and 2026 tasks, callbacks, listeners, outbox (C{debug.reset}).

        @return: L{None}.
        """


class IAdminRows(Interface):
    """
    The rows of the server's own requests (L{resonate.model.requestsadmin},
    run by L{resonate.store.scriptsadmin}): the console's reads and the
    collection of old settled promises (retention).  Every store provides
    them beside L{ITask2026Rows}; the store suite checks them.
    """

    def locksById(afterId, limit):
        """
        The locks with a resource id greater than C{afterId} (any when
        L{None}), by resource id ascending (code-point order), at most
        C{limit}.

        @return: a list of L{resonate.model.lock.Lock}s, expired or not.
        """

    def tasks05ById(afterId, limit):
        """
        The v0.5 tasks with an id greater than C{afterId} (any when
        L{None}), by id ascending, at most C{limit}.

        @return: a list of L{resonate.model.task.Task}s.
        """

    def tasks05Of(promiseId):
        """
        @return: the v0.5 L{resonate.model.task.Task}s whose C{promiseId}
            is C{promiseId}, by id (index it: every collected promise
            reads it).
        """

    def settledPromises(settledBefore, after, limit):
        """
        The candidates of a collection: settled (not pending) promises
        whose C{completedOn} is before C{settledBefore}, by
        C{(completedOn, id)} ascending, after the pair C{after} (from the
        first when L{None}), at most C{limit}.  Index it.  Where several
        processes share the store and this runs in a transaction, rows
        another transaction holds are skipped and those returned are locked
        (C{FOR UPDATE SKIP LOCKED}).

        @return: a list of L{resonate.model.promise.Promise}s as stored.
        """

    def unfinishedAmong(promiseIds):
        """
        Which of C{promiseIds} have a task that is not done: a 2026 task
        not fulfilled, or a v0.5 task (whose C{promiseId} it is) not
        completed.

        @return: a list of ids, in any order.
        """

    def callbacksOnEach(promiseIds):
        """
        @return: the L{resonate.model.tasks2026.Callback}s on any of the
            promises C{promiseIds} (as awaited), in any order.
        """

    def pendingAmong(promiseIds):
        """
        Which of C{promiseIds} name a stored pending promise (not locked).

        @return: a list of ids, in any order.
        """

    def deleteSettledPromises(promises):
        """
        Delete each promise of C{promises} (as read by C{settledPromises}),
        on condition that it is stored settled with its C{completedOn}:
        never a pending one, nor one created again since it was read.

        @return: the ids deleted, in any order.
        """

    def countGarbageOf(promiseIds):
        """
        What L{deleteGarbageOf} would delete, without deleting it (a dry
        collection).

        @return: C{(tasks, callbacks, listeners)}, as L{deleteGarbageOf}
            counts them.
        """

    def deleteGarbageOf(promiseIds):
        """
        Delete what refers to the (deleted) promises C{promiseIds}: their
        fulfilled 2026 tasks, their completed v0.5 tasks, the callbacks
        that name one of them as awaited or as awaiter, their listeners and
        the outbox messages about them (an C{execute} of their task, an
        C{unblock} of their listeners).

        @return: C{(tasks, callbacks, listeners)}: how many tasks (2026 and
            v0.5), callbacks (each row once) and listeners were deleted.
        """
