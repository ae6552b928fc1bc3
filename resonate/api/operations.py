# -*- test-case-name: tests.integration.test_api_http,tests.integration.test_api_grpc -*-
"""
The operations every protocol adapter calls.

This is where a request is admitted (at most C{api.size} in flight, none
while shutting down), where its one C{now} is read from the injected clock,
and where the store is called.  HTTP and gRPC share it, so they cannot
disagree about anything but the wire.
"""

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from resonate.api.authorization import refusals
from resonate.errors import ResonateError, StoreFailure
from resonate.metrics import Metrics
from resonate.model.requests2026 import READ_REQUESTS
from resonate.model.requestsadmin import GARBAGE_BATCH, CollectGarbage, GarbageCount
from resonate.model.routing import matchRoute
from resonate.model.schedule import CreateSchedule
from resonate.model.tasks2026 import RETRY_TIMEOUT
from resonate.status import Status


class Operations:
    """
    Admission control, time and the store, for the protocol adapters.

    @ivar inFlight: how many operations are running.
    """

    _log = Logger()

    def __init__(
        self, store, clock, size, onScheduleCreated=None, routes=(),
        onTaskCreated=None, metrics=None, retryTimeout=RETRY_TIMEOUT,
        onMessages=None,
    ):
        """
        @param store: an L{resonate.interfaces.IStore} provider.
        @param clock: an C{IReactorTime}; C{now} is read from it once per
            operation.
        @param size: the most operations in flight; beyond it, 503 (5031).
        @param onScheduleCreated: L{None}, or a callable without arguments
            called after each schedule is created (201), to wake the
            scheduler.  Its result is ignored and its failure is logged:
            the schedule is created either way.
        @param routes: the L{resonate.model.routing.Route}s; a promise
            whose id matches one is created with its task.
        @param onTaskCreated: L{None}, or a callable without arguments
            called after each create (201) that made a task, to wake the
            dispatcher.  Its result is ignored and its failure is logged:
            the promise and task are created either way.
        @param metrics: the L{resonate.metrics.Metrics} that counts each
            admitted operation as a coroutine of its name and each store
            call as a C{store} submission; L{None} for a private one.
        @param retryTimeout: ms a pending 2026 task waits before its
            C{execute} is sent again (C{tasks.retryTimeout}), handed to the
            store by every call that may make a 2026 task pending: the 2026
            operations, and v0.5 completions, which run the 2026 settlement
            chain (DECISIONS 23).
        @param onMessages: L{None}, or a callable without arguments called
            after each operation that may have added messages to the 2026
            outbox (a 2026 request that is not a read, a v0.5 completion),
            to wake their delivery.  Failures are logged.
        """
        self._store = store
        self._clock = clock
        self._size = size
        self._onScheduleCreated = onScheduleCreated
        self._routes = tuple(routes)
        self._onTaskCreated = onTaskCreated
        self._metrics = metrics if metrics is not None else Metrics()
        self.retryTimeout = retryTimeout
        self._onMessages = onMessages
        self._stopping = False
        self._drained = []
        self.inFlight = 0

    def now(self):
        """
        The current time in Unix epoch milliseconds.
        """
        return int(self._clock.seconds() * 1000)

    def _run(self, name, method, *args, now=None, principal=None, **kwargs):
        """
        Admit the operation C{name} (a coroutine name of the contract,
        C{"create-promise"}) and call the store C{method} with C{args},
        C{now} and C{kwargs}.

        @param now: the time to run at (epoch ms); L{None} to read it from
            the clock.
        @param principal: L{None} (the server's own work, or a caller that
            has authorized the request itself), or the
            L{resonate.api.tokens.Principal} of the request, which must be
            allowed every id the operation names
            (L{resonate.api.authorization}): else 403 (4038), before
            admission.
        @return: a C{Deferred} firing with the store's answer.  (Plain
            callbacks, not a coroutine: this is every request's path.)
        """
        if principal is not None and not principal.unrestricted:
            problems = refusals(principal, name, args[0] if args else None)
            if problems:
                return fail(ResonateError(Status.FORBIDDEN, details=problems))
        if self._stopping:
            return fail(ResonateError(Status.SHUTTING_DOWN))
        if self.inFlight >= self._size:
            return fail(ResonateError(Status.API_SUBMISSION_QUEUE_FULL))
        self.inFlight += 1
        self._metrics.operationStarted(name)
        try:
            d = method(*args, self.now() if now is None else now, **kwargs)
        except BaseException:
            d = fail()
        return d.addBoth(self._finished, name)

    def _finished(self, result, name):
        """
        The operation C{name} admitted by L{_run} is over: release its place
        and wake L{drain} once none is left.
        """
        self._metrics.operationFinished(name, not isinstance(result, Failure))
        self.inFlight -= 1
        if self.inFlight == 0 and self._drained:
            waiting, self._drained = self._drained, []
            for d in waiting:
                # A waiter may have given up (timed out) already.
                if not d.called:
                    d.callback(None)
        return result

    def readPromise(self, promiseId, principal=None):
        """
        Every v0.5 operation takes the request's C{principal} (see
        L{_run}): L{None} for no authorization.

        @return: a C{Deferred} firing with a L{resonate.model.promise.Decision}.
        """
        return self._run(
            "read-promise",
            self._store.readPromise,
            promiseId,
            retryTimeout=self.retryTimeout,
            principal=principal,
        )

    def createPromise(self, request, principal=None):
        """
        Create a promise; one whose id matches a route is created with its
        task, and the dispatcher is woken when a task was made.

        @param request: a L{resonate.model.promise.CreatePromise}.
        @return: a C{Deferred} firing with a C{Decision}.
        """
        if matchRoute(self._routes, request.id) is None:
            return self._run(
                "create-promise",
                self._store.createPromise,
                request,
                retryTimeout=self.retryTimeout,
                principal=principal,
            )
        return self._run(
            "create-promise",
            self._store.createPromiseAndTask,
            request,
            retryTimeout=self.retryTimeout,
            principal=principal,
        ).addCallback(self._taskMaybeCreated, request)

    def _taskMaybeCreated(self, decision, request):
        if decision.status is Status.CREATED and self._onTaskCreated is not None:
            try:
                self._onTaskCreated()
            except Exception:
                self._log.failure(
                    "waking the dispatcher for {promiseId} failed",
                    promiseId=request.id,
                )
        return decision

    def completePromise(self, request, principal=None):
        """
        @param request: a L{resonate.model.promise.CompletePromise}.
        @return: a C{Deferred} firing with a C{Decision}.
        """
        return self._run(
            "complete-promise",
            self._store.completePromise,
            request,
            retryTimeout=self.retryTimeout,
            principal=principal,
        ).addCallback(self._messagesMaybeAdded)

    def handle2026(self, request, now):
        """
        Run one request of the 2026 protocol, admitted like every other
        operation; a schedule created (or found) wakes the scheduler.

        @param request: a value of L{resonate.model.requests2026} (or a
            C{CreatePromise}, C{CreateSchedule}, or a task request of
            L{resonate.model.tasks2026}), its wire checks done.
        @param now: the time it runs at, epoch ms: L{now}, or the
            request's debug time.
        @return: a C{Deferred} firing with a
            L{resonate.model.requests2026.Reply}; failing with a
            L{ResonateError} (5030, 5031, store failures) or anything the
            store raised.
        """
        d = self._run(
            "handle-2026",
            self._store.handle2026,
            request,
            now=now,
            retryTimeout=self.retryTimeout,
        )
        if isinstance(request, CreateSchedule):
            d.addCallback(self._scheduleMaybeCreated, request)
        elif not isinstance(request, READ_REQUESTS):
            d.addCallback(self._messagesMaybeAdded)
        return d

    async def collectGarbage(
        self, settledBefore, dryRun=False, batchSize=GARBAGE_BATCH, principal=None
    ):
        """
        Delete (or, C{dryRun}, only count) every settled promise completed
        before C{settledBefore} (epoch ms) that nothing may need any more
        (L{resonate.store.scriptsadmin.collectGarbage} says what is kept),
        in store transactions of at most C{batchSize} candidates, each
        admitted as an operation.  After each transaction it waits as long
        as that took: a backlog goes at no more than half the store's time,
        and requests keep their latency meanwhile.  Safe beside another
        collection, here or in another process sharing the store (each
        skips or re-checks the rows the other holds).

        @return: a L{GarbageCount}; what was deleted is also counted in
            the metrics.
        """
        count = GarbageCount()
        after = None
        while True:
            started = self._clock.seconds()
            reply = await self._run(
                "collect-garbage",
                self._store.handle2026,
                CollectGarbage(settledBefore, batchSize, dryRun, after),
                retryTimeout=self.retryTimeout,
                principal=principal,
            )
            count = count.plus(reply)
            if not dryRun:
                self._metrics.retentionDeleted(
                    len(reply.promises), reply.tasks, reply.callbacks, reply.listeners
                )
            if reply.cursor is None:
                return count
            after = reply.cursor
            took = self._clock.seconds() - started
            if took > 0:
                await deferLater(self._clock, took)

    def _messagesMaybeAdded(self, result):
        """
        Wake the outbox's delivery, if any, logging its failure: an
        operation may have added messages.
        """
        if self._onMessages is not None:
            try:
                self._onMessages()
            except Exception:
                self._log.failure("waking the outbox delivery failed")
        return result

    def _scheduleMaybeCreated(self, reply, request):
        # A 2026 create answers 200 for a new schedule and an existing one
        # alike: waking the scheduler for nothing costs one read.
        if not reply.isError:
            self._wakeScheduler(request.id)
        return reply

    def searchPromises(self, query, principal=None):
        """
        @param query: a L{resonate.model.promise.PromiseQuery}.
        @return: a C{Deferred} firing with a L{resonate.model.promise.SearchPage}.
        """
        return self._run(
            "search-promises", self._store.searchPromises, query, principal=principal
        )

    async def createSchedule(self, request, principal=None):
        """
        Create a schedule, and wake the scheduler if one was created.

        @param request: a L{resonate.model.schedule.CreateSchedule}.
        @return: a coroutine producing a
            L{resonate.model.schedule.ScheduleDecision}.
        """
        decision = await self._run(
            "create-schedule", self._store.createSchedule, request, principal=principal
        )
        if decision.status is Status.CREATED:
            self._wakeScheduler(request.id)
        return decision

    def _wakeScheduler(self, scheduleId):
        """
        Call C{onScheduleCreated}, if any, logging its failure.
        """
        if self._onScheduleCreated is None:
            return
        try:
            self._onScheduleCreated()
        except Exception:
            self._log.failure(
                "waking the scheduler for {scheduleId} failed",
                scheduleId=scheduleId,
            )

    def readSchedule(self, scheduleId, principal=None):
        """
        @return: a C{Deferred} firing with the
            L{resonate.model.schedule.Schedule} or L{None}.
        """
        return self._run(
            "read-schedule", self._store.readSchedule, scheduleId, principal=principal
        )

    def deleteSchedule(self, scheduleId, principal=None):
        """
        @return: a C{Deferred} firing with whether a schedule was deleted.
        """
        return self._run(
            "delete-schedule", self._store.deleteSchedule, scheduleId,
            principal=principal,
        )

    def searchSchedules(self, query, principal=None):
        """
        @param query: a L{resonate.model.schedule.ScheduleQuery}.
        @return: a C{Deferred} firing with a
            L{resonate.model.schedule.SchedulePage}.
        """
        return self._run(
            "search-schedules", self._store.searchSchedules, query, principal=principal
        )

    def acquireLock(self, request, principal=None):
        """
        @param request: a L{resonate.model.lock.AcquireLock}.
        @return: a C{Deferred} firing with a L{resonate.model.lock.LockDecision}.
        """
        return self._run(
            "acquire-lock", self._store.acquireLock, request, principal=principal
        )

    def releaseLock(self, request, principal=None):
        """
        @param request: a L{resonate.model.lock.ReleaseLock}.
        @return: a C{Deferred} firing with whether a lock was released.
        """
        return self._run(
            "release-lock", self._store.releaseLock, request, principal=principal
        )

    def heartbeatLocks(self, processId, principal=None):
        """
        @return: a C{Deferred} firing with how many locks were extended.
        """
        return self._run(
            "heartbeat-locks", self._store.heartbeatLocks, processId,
            principal=principal,
        )

    def claimTask(self, request, principal=None):
        """
        @param request: a L{resonate.model.task.ClaimTask}.
        @return: a C{Deferred} firing with C{(status, promise or None)}.
        """
        return self._run(
            "claim-task", self._store.claimTask, request, retryTimeout=self.retryTimeout,
            principal=principal,
        )

    def completeTask(self, request, principal=None):
        """
        @param request: a L{resonate.model.task.CompleteTask}.
        @return: a C{Deferred} firing with a L{resonate.status.Status}.
        """
        return self._run(
            "complete-task",
            self._store.completeTask,
            request,
            retryTimeout=self.retryTimeout,
            principal=principal,
        )

    async def ping(self):
        """
        Check that the store answers (readiness).

        Not subject to C{api.size}: a full queue is load, which admission
        answers with 503 on its own, not a store that has gone away.

        @return: a coroutine that finishes when the store answers.
        @raise ResonateError: 5030 once stopping; L{StoreFailure} (5002),
            saying why, when the store does not answer.
        """
        if self._stopping:
            raise ResonateError(Status.SHUTTING_DOWN)
        try:
            await self._store.ping()
        except StoreFailure:
            raise
        except ResonateError as e:
            raise StoreFailure(f"the store does not answer: {e.message}")
        except Exception:
            self._log.failure("the store ping failed")
            raise StoreFailure("the store does not answer")

    def stop(self):
        """
        Refuse new operations (503, 5030) from now on.

        @return: a C{Deferred} that fires once the operations in flight have
            finished.
        """
        self._stopping = True
        if self.inFlight == 0:
            return succeed(None)
        d = Deferred()
        self._drained.append(d)
        return d
