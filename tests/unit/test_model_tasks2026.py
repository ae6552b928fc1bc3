# -*- test-case-name: tests.unit.test_model_tasks2026 -*-
"""
Tests for L{resonate.model.tasks2026}.
"""

from dataclasses import replace
from http import HTTPStatus

from twisted.trial import unittest

from resonate.model.promise import CreatePromise, Insert, Promise, State, Update, Value
from resonate.model.tasks2026 import (
    RETRY_TIMEOUT,
    AcquireTask,
    Callback,
    ClearTimer,
    Concern,
    CreateTask,
    DeleteCallbacks,
    DeleteListeners,
    DeleteReadyCallbacks,
    Effects,
    Execute,
    FulfillTask,
    HeartbeatTasks,
    InsertCallback,
    InsertListener,
    InsertTask,
    Listener,
    ReadyCallbacks,
    SetTimer,
    SuspendTask,
    Task,
    TaskAtVersion,
    TaskState,
    Timer,
    TimerKind,
    Unblock,
    UpdateTask,
    decideAcquire,
    decideContinue,
    decideCreateTask,
    decideFence,
    decideFulfill,
    decideHalt,
    decideHeartbeat,
    decideRegisterCallback,
    decideRegisterListener,
    decideRelease,
    decideSuspend,
    decideTimeout,
    decideTimerExpiry,
    newPromise,
    newTask,
    resumes,
    selectPreload,
    settlementChain,
)

NOW = 1_700_000_000_000
HOUR = 3_600_000
TARGET = "poll://any@workers"
OTHER_STATES = (TaskState.ACQUIRED, TaskState.SUSPENDED, TaskState.HALTED, TaskState.FULFILLED)


def promise(id="root", state=State.PENDING, timeout=NOW + HOUR, **tags):
    """
    A stored promise with a target, plus C{tags} (underscores in keys read
    as C{resonate:} prefixes: C{resonate_branch="x"}).
    """
    allTags = {"resonate:target": TARGET}
    allTags.update({k.replace("resonate_", "resonate:"): v for k, v in tags.items()})
    return Promise(id=id, state=state, timeout=timeout, createdOn=NOW - 1000, tags=allTags)


def task(id="root", state=TaskState.PENDING, version=1, pid=None, ttl=None, timeoutAt=None):
    """
    A stored task with sensible timers for its state.
    """
    if state is TaskState.ACQUIRED:
        pid = pid or "p1"
        ttl = ttl or 60_000
        timeoutAt = timeoutAt or NOW + ttl
    elif state is TaskState.PENDING:
        timeoutAt = timeoutAt or NOW + RETRY_TIMEOUT
    return Task(id, state, version, TARGET, pid, ttl, timeoutAt)


def create(id="root", timeout=NOW + HOUR, **tags):
    """
    A C{CreatePromise} with a target, plus C{tags}.
    """
    allTags = {"resonate:target": TARGET}
    allTags.update({k.replace("resonate_", "resonate:"): v for k, v in tags.items()})
    return CreatePromise(id=id, timeout=timeout, tags=allTags)


class CreationTests(unittest.SynchronousTestCase):
    """
    L{newPromise} and L{newTask}: what a create of a new id stores (7.2).
    """

    def test_pendingPromise(self):
        """
        A create before the timeout stores a pending promise created now.
        """
        p = newPromise(create(), NOW)
        self.assertEqual((p.state, p.createdOn, p.completedOn), (State.PENDING, NOW, None))

    def test_createdTimedOut(self):
        """
        A create at or past the timeout stores a promise timed out, created
        and settled at its timeout; a timer (either protocol's tag) resolves.
        """
        cases = [
            ({}, State.REJECTED_TIMEDOUT),
            ({"resonate_timer": "true"}, State.RESOLVED),
            ({"resonate_timeout": "true"}, State.RESOLVED),
            ({"resonate_timer": "yes"}, State.REJECTED_TIMEDOUT),
        ]
        for tags, state in cases:
            p = newPromise(create(timeout=NOW, **tags), NOW)
            self.assertEqual((p.state, p.createdOn, p.completedOn), (state, NOW, NOW), tags)

    def test_noTargetNoTask(self):
        """
        A promise without C{resonate:target} has no task.
        """
        p = replace(promise(), tags={})
        self.assertEqual(newTask(p, NOW), (None, Effects()))

    def test_pendingTask(self):
        """
        A pending promise with a target gets a pending v0 task, a retry
        timer and an C{execute} to its target.
        """
        t, effects = newTask(promise(), NOW)
        self.assertEqual(t, Task("root", TaskState.PENDING, 0, TARGET, timeoutAt=NOW + RETRY_TIMEOUT))
        self.assertEqual(effects.writes, (InsertTask(t),))
        self.assertEqual(effects.timers, (SetTimer(Timer("root", TimerKind.RETRY, NOW + RETRY_TIMEOUT)),))
        self.assertEqual(effects.messages, (Execute("root", 0, TARGET),))

    def test_timedOutTask(self):
        """
        A promise created already timed out gets a fulfilled v0 task, no
        timer and no message.
        """
        t, effects = newTask(promise(state=State.REJECTED_TIMEDOUT), NOW)
        self.assertEqual((t.state, t.version, t.timer), (TaskState.FULFILLED, 0, None))
        self.assertEqual(effects, Effects(writes=(InsertTask(t),)))

    def test_delayDefersExecute(self):
        """
        A future C{resonate:delay} arms the retry timer at the delay and
        sends nothing yet (DECISIONS 26); a delay already past (or now) does
        not defer.
        """
        t, effects = newTask(promise(resonate_delay=str(NOW + 5000)), NOW)
        self.assertEqual((t.state, t.timeoutAt), (TaskState.PENDING, NOW + 5000))
        self.assertEqual(effects.messages, ())
        for delay in (NOW, NOW - 1):
            t, effects = newTask(promise(resonate_delay=str(delay)), NOW)
            self.assertEqual(t.timeoutAt, NOW + RETRY_TIMEOUT)
            self.assertEqual(effects.messages, (Execute("root", 0, TARGET),))

    def test_delayThenRetryExpirySends(self):
        """
        When the deferred retry timer fires the first C{execute} goes out.
        """
        t, _ = newTask(promise(resonate_delay=str(NOW + 5000)), NOW)
        decision = decideTimerExpiry(t, NOW + 5000)
        self.assertEqual(decision.effects.messages, (Execute("root", 0, TARGET),))
        self.assertEqual(decision.task.timeoutAt, NOW + 5000 + RETRY_TIMEOUT)


class CreateTaskTests(unittest.SynchronousTestCase):
    """
    C{task.create} (7.8).
    """

    def request(self, **tags):
        return CreateTask(pid="p1", ttl=60_000, promise=create(**tags))

    def test_newPending(self):
        """
        A new id stores the promise and its task acquired at v1 by the
        caller, with a lease, no C{execute}, and a preload.
        """
        d = decideCreateTask(None, None, self.request(), NOW)
        self.assertEqual(d.status, HTTPStatus.OK)
        self.assertEqual(d.task, Task("root", TaskState.ACQUIRED, 1, TARGET, "p1", 60_000, NOW + 60_000))
        self.assertEqual(d.promise.state, State.PENDING)
        self.assertEqual(d.preloadFor, d.promise)
        self.assertEqual(d.effects.writes, (Insert(d.promise), InsertTask(d.task)))
        self.assertEqual(
            d.effects.timers, (SetTimer(Timer("root", TimerKind.LEASE, NOW + 60_000, "p1", 60_000)),)
        )
        self.assertEqual(d.effects.messages, ())

    def test_newTimedOut(self):
        """
        A new id already past its timeout is stored timed out with a
        fulfilled v0 task and no preload.
        """
        request = CreateTask("p1", 60_000, create(timeout=NOW))
        d = decideCreateTask(None, None, request, NOW)
        self.assertEqual((d.status, d.task.state, d.task.version), (HTTPStatus.OK, TaskState.FULFILLED, 0))
        self.assertEqual(d.promise.state, State.REJECTED_TIMEDOUT)
        self.assertIsNone(d.preloadFor)
        self.assertEqual(d.effects.messages, ())

    def test_existing(self):
        """
        An existing id: pending is acquired at version + 1 (ready callbacks
        cleared); fulfilled answers 200 with no preload; acquired, suspended
        or halted is 409; a promise without a task is 422.
        """
        p = promise()
        d = decideCreateTask(p, task(version=3), self.request(), NOW)
        self.assertEqual((d.status, d.task.state, d.task.version, d.task.pid), (HTTPStatus.OK, TaskState.ACQUIRED, 4, "p1"))
        self.assertIn(DeleteReadyCallbacks("root"), d.effects.writes)
        self.assertEqual(d.preloadFor, p)

        fulfilled = task(state=TaskState.FULFILLED, version=2)
        d = decideCreateTask(p, fulfilled, self.request(), NOW)
        self.assertEqual((d.status, d.task, d.preloadFor, d.effects), (HTTPStatus.OK, fulfilled, None, Effects()))

        for state in (TaskState.ACQUIRED, TaskState.SUSPENDED, TaskState.HALTED):
            d = decideCreateTask(p, task(state=state), self.request(), NOW)
            self.assertEqual((d.status, d.message, d.effects), (HTTPStatus.CONFLICT, "Already exists", Effects()))

        d = decideCreateTask(replace(p, tags={}), None, self.request(), NOW)
        self.assertEqual(d.status, HTTPStatus.UNPROCESSABLE_ENTITY)

    def test_badTags(self):
        """
        The action must carry C{resonate:target} and no C{resonate:delay}
        (400), whatever is stored.
        """
        noTarget = CreateTask("p1", 60_000, CreatePromise("root", NOW + HOUR))
        self.assertEqual(decideCreateTask(None, None, noTarget, NOW).status, HTTPStatus.BAD_REQUEST)
        delayed = self.request(resonate_delay=str(NOW + 10))
        self.assertEqual(decideCreateTask(None, None, delayed, NOW).status, HTTPStatus.BAD_REQUEST)


class AcquireTests(unittest.SynchronousTestCase):
    """
    C{task.acquire} (7.9).
    """

    def test_errors(self):
        """
        No task is 404; any state but pending is 409 "not pending"; another
        version is 409 "Version mismatch"; nothing is written.
        """
        request = AcquireTask("root", 1, "p1", 10_000)
        cases = [(None, HTTPStatus.NOT_FOUND, "Task not found")]
        cases += [(task(state=s), HTTPStatus.CONFLICT, "Task is not pending") for s in OTHER_STATES]
        cases += [(task(version=v), HTTPStatus.CONFLICT, "Version mismatch") for v in (0, 2)]
        for t, status, message in cases:
            d = decideAcquire(t, promise(), request, NOW)
            self.assertEqual((d.status, d.message, d.effects), (status, message, Effects()), t)

    def test_acquire(self):
        """
        A pending task at the offered version is acquired at version + 1,
        leased until C{now + ttl}, its ready callbacks cleared, and answered
        with its promise and preload.
        """
        p = promise()
        d = decideAcquire(task(version=1), p, AcquireTask("root", 1, "p9", 10_000), NOW)
        expected = Task("root", TaskState.ACQUIRED, 2, TARGET, "p9", 10_000, NOW + 10_000)
        self.assertEqual((d.status, d.task, d.promise, d.preloadFor), (HTTPStatus.OK, expected, p, p))
        self.assertEqual(
            d.effects.writes, (UpdateTask(task(version=1), expected), DeleteReadyCallbacks("root"))
        )
        self.assertEqual(d.effects.timers, (SetTimer(expected.timer),))
        self.assertEqual(d.effects.messages, ())


class ReleaseFenceTests(unittest.SynchronousTestCase):
    """
    C{task.release} (7.10) and the C{task.fence} guard (7.13): both need the
    task acquired at the caller's version.
    """

    def heldCases(self):
        return [
            (None, 1, HTTPStatus.NOT_FOUND),
            (task(state=TaskState.PENDING), 1, HTTPStatus.CONFLICT),
            (task(state=TaskState.SUSPENDED), 1, HTTPStatus.CONFLICT),
            (task(state=TaskState.HALTED), 1, HTTPStatus.CONFLICT),
            (task(state=TaskState.FULFILLED), 1, HTTPStatus.CONFLICT),
            (task(state=TaskState.ACQUIRED), 0, HTTPStatus.CONFLICT),
            (task(state=TaskState.ACQUIRED), 2, HTTPStatus.CONFLICT),
        ]

    def test_releaseErrors(self):
        """
        Release of a missing task is 404; of one not acquired at that
        version 409; nothing is written.
        """
        for t, version, status in self.heldCases():
            d = decideRelease(t, TaskAtVersion("root", version), NOW)
            self.assertEqual((d.status, d.effects), (status, Effects()), (t, version))

    def test_release(self):
        """
        Release makes the task pending at the same version with a retry
        timer and an C{execute}.
        """
        held = task(state=TaskState.ACQUIRED, version=3)
        d = decideRelease(held, TaskAtVersion("root", 3), NOW)
        pending = Task("root", TaskState.PENDING, 3, TARGET, timeoutAt=NOW + RETRY_TIMEOUT)
        self.assertEqual(d.status, HTTPStatus.OK)
        self.assertEqual(d.effects.writes, (UpdateTask(held, pending),))
        self.assertEqual(d.effects.timers, (SetTimer(Timer("root", TimerKind.RETRY, NOW + RETRY_TIMEOUT)),))
        self.assertEqual(d.effects.messages, (Execute("root", 3, TARGET),))

    def test_fence(self):
        """
        The fence guard answers 404/409 as release does ("Version mismatch"
        for every 409), else 200 with the task's preload and no effects of
        its own.
        """
        p = promise()
        for t, version, status in self.heldCases():
            d = decideFence(t, p, TaskAtVersion("root", version))
            self.assertEqual(d.status, status)
            if status == HTTPStatus.CONFLICT:
                self.assertEqual(d.message, "Version mismatch")
        d = decideFence(task(state=TaskState.ACQUIRED), p, TaskAtVersion("root", 1))
        self.assertEqual((d.status, d.preloadFor, d.effects), (HTTPStatus.OK, p, Effects()))


class FulfillTests(unittest.SynchronousTestCase):
    """
    C{task.fulfill} (7.11).
    """

    def test_errors(self):
        """
        A non-completion state is 400; no task 404; not acquired at that
        version (including already fulfilled) 409.
        """
        held = task(state=TaskState.ACQUIRED)
        cases = [
            (held, FulfillTask("root", 1, State.PENDING), HTTPStatus.BAD_REQUEST),
            (held, FulfillTask("root", 1, State.REJECTED_TIMEDOUT), HTTPStatus.BAD_REQUEST),
            (None, FulfillTask("root", 1, State.RESOLVED), HTTPStatus.NOT_FOUND),
            (held, FulfillTask("root", 2, State.RESOLVED), HTTPStatus.CONFLICT),
            (task(state=TaskState.FULFILLED), FulfillTask("root", 1, State.RESOLVED), HTTPStatus.CONFLICT),
            (task(state=TaskState.PENDING), FulfillTask("root", 1, State.RESOLVED), HTTPStatus.CONFLICT),
        ]
        for t, request, status in cases:
            d = decideFulfill(t, promise(), Concern(), request, NOW)
            self.assertEqual((d.status, d.effects), (status, Effects()), (t, request))

    def test_fulfill(self):
        """
        Fulfil settles the promise now with the value, fulfils the task
        (timer and awaiter callbacks deleted), wakes a suspended awaiter and
        unblocks the listeners.
        """
        held = task(state=TaskState.ACQUIRED, version=2)
        waiting = task("root:1", TaskState.SUSPENDED, version=5)
        concern = Concern(
            callbacks=(Callback("root", "root:1"),),
            awaiters=(waiting,),
            listeners=(Listener("root", "poll://uni@g/p1"),),
        )
        value = Value(data=b"42")
        d = decideFulfill(held, promise(), concern, FulfillTask("root", 2, State.RESOLVED, value), NOW)
        self.assertEqual(d.status, HTTPStatus.OK)
        settled = replace(promise(), state=State.RESOLVED, value=value, completedOn=NOW)
        self.assertEqual(d.promise, settled)
        fulfilled = Task("root", TaskState.FULFILLED, 2, TARGET)
        woken = replace(waiting, state=TaskState.PENDING, timeoutAt=NOW + RETRY_TIMEOUT)
        self.assertEqual(
            d.effects.writes,
            (
                Update(settled),
                UpdateTask(held, fulfilled),
                DeleteCallbacks("root"),
                ReadyCallbacks("root"),
                UpdateTask(waiting, woken),
                DeleteListeners("root"),
            ),
        )
        self.assertEqual(d.effects.timers, (ClearTimer("root"), SetTimer(woken.timer)))
        self.assertEqual(
            d.effects.messages, (Execute("root:1", 5, TARGET), Unblock("root", "poll://uni@g/p1"))
        )

    def test_promiseAlreadySettled(self):
        """
        Should the promise be settled already, fulfil leaves it as it is
        and only fulfils the task.
        """
        held = task(state=TaskState.ACQUIRED)
        done = promise(state=State.REJECTED)
        d = decideFulfill(held, done, Concern(), FulfillTask("root", 1, State.RESOLVED), NOW)
        self.assertEqual(d.promise, done)
        self.assertEqual(d.effects.writes[0], UpdateTask(held, replace(held, state=TaskState.FULFILLED, pid=None, ttl=None, timeoutAt=None)))
        self.assertNotIn(Update(done), d.effects.writes)


class SuspendTests(unittest.SynchronousTestCase):
    """
    C{task.suspend} (7.12).
    """

    held = task(state=TaskState.ACQUIRED, version=2)

    def decide(self, awaited, promises, t=held, version=2):
        return decideSuspend(t, promise(), promises, SuspendTask("root", version, awaited), NOW)

    def test_badRequests(self):
        """
        No awaited id, the task awaiting itself, or an awaited id of another
        origin is 400 before anything is read.
        """
        for awaited in [(), ("root",), ("root:1", "root"), ("other:1",), ("other",)]:
            self.assertEqual(self.decide(awaited, {}).status, HTTPStatus.BAD_REQUEST, awaited)

    def test_errors(self):
        """
        No task is 404; not acquired at that version 409; a missing awaited
        promise 422; none writes anything.
        """
        one = {"root:1": promise("root:1")}
        cases = [
            (None, 2, one, HTTPStatus.NOT_FOUND),
            (self.held, 1, one, HTTPStatus.CONFLICT),
            (task(state=TaskState.PENDING, version=2), 2, one, HTTPStatus.CONFLICT),
            (task(state=TaskState.SUSPENDED, version=2), 2, one, HTTPStatus.CONFLICT),
            (self.held, 2, {"root:1": None}, HTTPStatus.UNPROCESSABLE_ENTITY),
            (self.held, 2, {}, HTTPStatus.UNPROCESSABLE_ENTITY),
        ]
        for t, version, promises, status in cases:
            d = self.decide(("root:1",), promises, t, version)
            self.assertEqual((d.status, d.effects), (status, Effects()), (t, version, promises))

    def test_missingBeatsSettled(self):
        """
        A missing awaited promise is 422 even when another is settled.
        """
        promises = {"root:1": promise("root:1", State.RESOLVED), "root:2": None}
        self.assertEqual(self.decide(("root:1", "root:2"), promises).status, HTTPStatus.UNPROCESSABLE_ENTITY)

    def test_redirect(self):
        """
        An awaited promise already settled answers 300 with the preload:
        nothing registered, the task still acquired at its version with its
        lease, its ready callbacks cleared.
        """
        promises = {"root:1": promise("root:1"), "root:2": promise("root:2", State.RESOLVED)}
        d = self.decide(("root:1", "root:2"), promises)
        self.assertEqual(d.status, HTTPStatus.MULTIPLE_CHOICES)
        self.assertEqual((d.task, d.preloadFor), (self.held, promise()))
        self.assertEqual(d.effects, Effects(writes=(DeleteReadyCallbacks("root"),)))

    def test_suspend(self):
        """
        All awaited pending: a callback each (duplicates folded), the old
        ready callbacks cleared, the task suspended with no holder and no
        timer.
        """
        promises = {"root:1": promise("root:1"), "root:2": promise("root:2")}
        d = self.decide(("root:1", "root:2", "root:1"), promises)
        suspended = Task("root", TaskState.SUSPENDED, 2, TARGET)
        self.assertEqual((d.status, d.task), (HTTPStatus.OK, suspended))
        self.assertEqual(
            d.effects.writes,
            (
                DeleteReadyCallbacks("root"),
                InsertCallback(Callback("root:1", "root")),
                InsertCallback(Callback("root:2", "root")),
                UpdateTask(self.held, suspended),
            ),
        )
        self.assertEqual((d.effects.timers, d.effects.messages), ((ClearTimer("root"),), ()))


class HeartbeatTests(unittest.SynchronousTestCase):
    """
    C{task.heartbeat} (7.14, DECISIONS 25).
    """

    def test_badRequests(self):
        """
        Only an empty pid or an empty task list is 400.
        """
        self.assertEqual(decideHeartbeat({}, HeartbeatTasks("", (TaskAtVersion("a", 1),)), NOW).status, HTTPStatus.BAD_REQUEST)
        self.assertEqual(decideHeartbeat({}, HeartbeatTasks("p1", ()), NOW).status, HTTPStatus.BAD_REQUEST)

    def test_renewsHeldIgnoresRest(self):
        """
        Entries held by the pid at their version are renewed to now + their
        ttl, across origins; other holders, versions, states and missing
        tasks are ignored; the answer is 200.
        """
        mine = task("a", TaskState.ACQUIRED, 1, "p1", 10_000, NOW)
        otherOrigin = task("b:1", TaskState.ACQUIRED, 4, "p1", 20_000, NOW)
        stored = {
            "a": mine,
            "b:1": otherOrigin,
            "c": task("c", TaskState.ACQUIRED, 1, "p2", 10_000, NOW),
            "d": task("d", TaskState.ACQUIRED, 7, "p1", 10_000, NOW),
            "e": task("e", TaskState.PENDING, 1),
        }
        entries = tuple(
            TaskAtVersion(i, v) for i, v in [("a", 1), ("b:1", 4), ("c", 1), ("d", 6), ("e", 1), ("zz", 1), ("a", 1)]
        )
        later = NOW + 5000
        d = decideHeartbeat(stored, HeartbeatTasks("p1", entries), later)
        self.assertEqual(d.status, HTTPStatus.OK)
        renewedA = replace(mine, timeoutAt=later + 10_000)
        renewedB = replace(otherOrigin, timeoutAt=later + 20_000)
        self.assertEqual(d.effects.writes, (UpdateTask(mine, renewedA), UpdateTask(otherOrigin, renewedB)))
        self.assertEqual(d.effects.timers, (SetTimer(renewedA.timer), SetTimer(renewedB.timer)))

    def test_nothingHeld(self):
        """
        A heartbeat that holds nothing still answers 200, with no effects.
        """
        d = decideHeartbeat({}, HeartbeatTasks("p1", (TaskAtVersion("x", 1),)), NOW)
        self.assertEqual((d.status, d.effects), (HTTPStatus.OK, Effects()))


class HaltContinueTests(unittest.SynchronousTestCase):
    """
    C{task.halt} and C{task.continue} (7.15).
    """

    def test_halt(self):
        """
        Halt: 404 without a task, 409 when fulfilled, 200 unchanged when
        halted; any other state becomes halted with no timer (callbacks
        kept: nothing deletes them).
        """
        self.assertEqual(decideHalt(None).status, HTTPStatus.NOT_FOUND)
        self.assertEqual(decideHalt(task(state=TaskState.FULFILLED)).status, HTTPStatus.CONFLICT)
        halted = Task("root", TaskState.HALTED, 1, TARGET)
        self.assertEqual(decideHalt(halted).effects, Effects())
        for state in (TaskState.PENDING, TaskState.ACQUIRED):
            t = task(state=state)
            d = decideHalt(t)
            self.assertEqual((d.status, d.task), (HTTPStatus.OK, halted))
            self.assertEqual(d.effects, Effects(writes=(UpdateTask(t, halted),), timers=(ClearTimer("root"),)))
        suspended = task(state=TaskState.SUSPENDED)
        self.assertEqual(decideHalt(suspended).effects, Effects(writes=(UpdateTask(suspended, halted),)))

    def test_continue(self):
        """
        Continue: 404 without a task, 409 unless halted; a halted task
        becomes pending at its version with a retry timer and an C{execute}.
        """
        self.assertEqual(decideContinue(None, NOW).status, HTTPStatus.NOT_FOUND)
        for state in (TaskState.PENDING, TaskState.ACQUIRED, TaskState.SUSPENDED, TaskState.FULFILLED):
            self.assertEqual(decideContinue(task(state=state), NOW).status, HTTPStatus.CONFLICT)
        halted = Task("root", TaskState.HALTED, 4, TARGET)
        d = decideContinue(halted, NOW)
        self.assertEqual((d.status, d.task.state, d.task.version), (HTTPStatus.OK, TaskState.PENDING, 4))
        self.assertEqual(d.effects.messages, (Execute("root", 4, TARGET),))
        self.assertEqual(d.effects.timers, (SetTimer(Timer("root", TimerKind.RETRY, NOW + RETRY_TIMEOUT)),))


class TimerExpiryTests(unittest.SynchronousTestCase):
    """
    The retry and lease timers (9.2).
    """

    def test_retry(self):
        """
        A due retry timer re-sends the C{execute} at the current version
        and re-arms; due is inclusive.
        """
        t = task(version=3, timeoutAt=NOW)
        d = decideTimerExpiry(t, NOW)
        self.assertEqual((d.status, d.task), (HTTPStatus.OK, replace(t, timeoutAt=NOW + RETRY_TIMEOUT)))
        self.assertEqual(d.effects.messages, (Execute("root", 3, TARGET),))

    def test_leaseExpiry(self):
        """
        An acquired task whose lease ends returns to pending at its version,
        loses its holder, gets a retry timer and an C{execute}; a heartbeat
        before the end postpones it.
        """
        acquired = decideAcquire(task(version=1), promise(), AcquireTask("root", 1, "p1", 10_000), NOW).task
        self.assertEqual(decideTimerExpiry(acquired, NOW + 9_999).status, HTTPStatus.CONFLICT)
        d = decideTimerExpiry(acquired, NOW + 10_000)
        self.assertEqual(d.task, Task("root", TaskState.PENDING, 2, TARGET, timeoutAt=NOW + 10_000 + RETRY_TIMEOUT))
        self.assertEqual(d.effects.messages, (Execute("root", 2, TARGET),))

        beat = decideHeartbeat({"root": acquired}, HeartbeatTasks("p1", (TaskAtVersion("root", 2),)), NOW + 9_000)
        renewed = beat.effects.writes[0].task
        self.assertEqual(decideTimerExpiry(renewed, NOW + 10_000).status, HTTPStatus.CONFLICT)
        self.assertEqual(decideTimerExpiry(renewed, NOW + 19_000).status, HTTPStatus.OK)

    def test_noTimer(self):
        """
        A missing task is 404; suspended, halted and fulfilled tasks have
        no timer and never expire (409).
        """
        self.assertEqual(decideTimerExpiry(None, NOW).status, HTTPStatus.NOT_FOUND)
        for state in (TaskState.SUSPENDED, TaskState.HALTED, TaskState.FULFILLED):
            t = Task("root", state, 1, TARGET, timeoutAt=NOW - 1)
            self.assertEqual(decideTimerExpiry(t, NOW).status, HTTPStatus.CONFLICT)


class SettlementChainTests(unittest.SynchronousTestCase):
    """
    The settlement chain (9.4).
    """

    def test_severalAwaiters(self):
        """
        Every callback on the settled promise becomes ready; suspended
        awaiters are woken once each with an C{execute} at their version;
        pending, acquired and halted awaiters only count a resume.
        """
        awaiters = (
            task("root:1", TaskState.SUSPENDED, 2),
            task("root:2", TaskState.SUSPENDED, 7),
            task("root:3", TaskState.PENDING, 1),
            task("root:4", TaskState.ACQUIRED, 3),
            Task("root:5", TaskState.HALTED, 1, TARGET),
        )
        concern = Concern(
            callbacks=tuple(Callback("root:9", t.id) for t in awaiters), awaiters=awaiters
        )
        effects = settlementChain(promise("root:9", State.RESOLVED), concern, NOW)
        self.assertEqual(effects.writes[0], ReadyCallbacks("root:9"))
        woken = [w.task for w in effects.writes[1:]]
        self.assertEqual([(t.id, t.state, t.version) for t in woken], [("root:1", TaskState.PENDING, 2), ("root:2", TaskState.PENDING, 7)])
        self.assertEqual(effects.messages, (Execute("root:1", 2, TARGET), Execute("root:2", 7, TARGET)))
        self.assertEqual(len(effects.timers), 2)

    def test_ownTaskAndListeners(self):
        """
        The promise's own task is fulfilled (timer and its callbacks
        deleted) and every listener gets one C{unblock}, then the listeners
        are deleted.
        """
        own = task("root", TaskState.SUSPENDED, 2)
        listeners = (Listener("root", "poll://uni@g/a"), Listener("root", "http://h/x"))
        effects = settlementChain(promise(state=State.REJECTED), Concern(task=own, listeners=listeners), NOW)
        self.assertEqual(
            effects.writes,
            (
                UpdateTask(own, replace(own, state=TaskState.FULFILLED)),
                DeleteCallbacks("root"),
                DeleteListeners("root"),
            ),
        )
        self.assertEqual(effects.messages, (Unblock("root", "poll://uni@g/a"), Unblock("root", "http://h/x")))

    def test_nothingConcerned(self):
        """
        A promise with no task, callbacks or listeners causes nothing; a
        task already fulfilled is left alone.
        """
        settled = promise(state=State.RESOLVED)
        self.assertEqual(settlementChain(settled, Concern(), NOW), Effects())
        done = task(state=TaskState.FULFILLED)
        self.assertEqual(settlementChain(settled, Concern(task=done), NOW), Effects())

    def test_wokenOnce(self):
        """
        An awaiter woken by a first settlement is not offered again by a
        second: it only counts another ready callback.
        """
        sleeper = task("root", TaskState.SUSPENDED, 2)
        first = settlementChain(
            promise("root:1", State.RESOLVED), Concern(callbacks=(Callback("root:1", "root"),), awaiters=(sleeper,)), NOW
        )
        woken = first.writes[-1].task
        second = settlementChain(
            promise("root:2", State.RESOLVED), Concern(callbacks=(Callback("root:2", "root"),), awaiters=(woken,)), NOW
        )
        self.assertEqual(second, Effects(writes=(ReadyCallbacks("root:2"),)))
        self.assertEqual(resumes([Callback("root:1", "root", True), Callback("root:2", "root", True), Callback("root:3", "root")]), 2)


class TimeoutTests(unittest.SynchronousTestCase):
    """
    Promise timeouts (8) drive the same chain (DECISIONS 27).
    """

    def test_notOverdue(self):
        """
        A promise before its timeout, or settled, is not timed out (409, no
        effects).
        """
        for p in (promise(timeout=NOW + 1), promise(state=State.RESOLVED, timeout=NOW - 1)):
            d = decideTimeout(p, Concern(), NOW)
            self.assertEqual((d.status, d.effects), (HTTPStatus.CONFLICT, Effects()))

    def test_ordinary(self):
        """
        An overdue promise is rejected as timed out at its timeout, and its
        listeners hear of it, with or without a target.
        """
        p = replace(promise(timeout=NOW), tags={})
        d = decideTimeout(p, Concern(listeners=(Listener(p.id, "poll://uni@g/a"),)), NOW)
        self.assertEqual((d.promise.state, d.promise.completedOn), (State.REJECTED_TIMEDOUT, NOW))
        self.assertEqual(d.effects.writes, (Update(d.promise), DeleteListeners(p.id)))
        self.assertEqual(d.effects.messages, (Unblock(p.id, "poll://uni@g/a"),))

    def test_sleep(self):
        """
        A durable sleep: the timer promise's task was acquired and dropped;
        its timeout resolves it, fulfils its task and wakes the suspended
        sleeper.  v0.5's timer tag resolves as well.
        """
        for tag in ("resonate_timer", "resonate_timeout"):
            sleep = promise("root:1", timeout=NOW - 5, **{tag: "true"})
            dropped = task("root:1", TaskState.ACQUIRED, 1)
            sleeper = task("root", TaskState.SUSPENDED, 2)
            concern = Concern(task=dropped, callbacks=(Callback("root:1", "root"),), awaiters=(sleeper,))
            d = decideTimeout(sleep, concern, NOW)
            self.assertEqual((d.promise.state, d.promise.completedOn), (State.RESOLVED, NOW - 5))
            self.assertIn(UpdateTask(dropped, Task("root:1", TaskState.FULFILLED, 1, TARGET)), d.effects.writes)
            self.assertEqual(d.effects.messages, (Execute("root", 2, TARGET),))

    def test_timeoutThenAcquire(self):
        """
        try_timeout before acting: a task whose promise timed out is
        fulfilled by the chain, so an acquire then answers 409.
        """
        t = task(version=1)
        d = decideTimeout(promise(timeout=NOW), Concern(task=t), NOW)
        fulfilled = d.effects.writes[1].task
        self.assertEqual(decideAcquire(fulfilled, d.promise, AcquireTask("root", 1, "p", 1), NOW).status, HTTPStatus.CONFLICT)


class RegisterTests(unittest.SynchronousTestCase):
    """
    C{promise.register_callback} (7.4) and C{promise.register_listener}
    (7.5).
    """

    def test_callbackErrors(self):
        """
        A missing awaited promise is 404; a missing awaiter, or one without
        a target or task, 422.
        """
        a = promise("root:1")
        self.assertEqual(decideRegisterCallback(None, promise(), task(), NOW).status, HTTPStatus.NOT_FOUND)
        self.assertEqual(decideRegisterCallback(a, None, None, NOW).status, HTTPStatus.UNPROCESSABLE_ENTITY)
        self.assertEqual(decideRegisterCallback(a, replace(promise(), tags={}), None, NOW).status, HTTPStatus.UNPROCESSABLE_ENTITY)

    def test_callbackPending(self):
        """
        Both pending: a callback that is not ready; 200 with the awaited.
        """
        a = promise("root:1")
        d = decideRegisterCallback(a, promise(), task(), NOW)
        self.assertEqual((d.status, d.promise), (HTTPStatus.OK, a))
        self.assertEqual(d.effects, Effects(writes=(InsertCallback(Callback("root:1", "root")),)))

    def test_callbackSettled(self):
        """
        Awaited settled: a suspended awaiter is woken and gets a ready
        callback; a pending or acquired one a ready callback only; a halted
        one nothing; a settled awaiter nothing.
        """
        a = promise("root:1", State.RESOLVED)
        ready = InsertCallback(Callback("root:1", "root", True))
        suspended = task(state=TaskState.SUSPENDED, version=2)
        d = decideRegisterCallback(a, promise(), suspended, NOW)
        self.assertEqual(d.effects.messages, (Execute("root", 2, TARGET),))
        self.assertEqual(d.effects.writes[-1], ready)
        for state in (TaskState.PENDING, TaskState.ACQUIRED):
            d = decideRegisterCallback(a, promise(), task(state=state), NOW)
            self.assertEqual(d.effects, Effects(writes=(ready,)))
        d = decideRegisterCallback(a, promise(), Task("root", TaskState.HALTED, 1, TARGET), NOW)
        self.assertEqual((d.status, d.effects), (HTTPStatus.OK, Effects()))
        d = decideRegisterCallback(a, promise(state=State.RESOLVED), task(state=TaskState.FULFILLED), NOW)
        self.assertEqual((d.status, d.effects), (HTTPStatus.OK, Effects()))

    def test_listener(self):
        """
        A listener on a pending promise is stored; on a settled one nothing
        is stored; a missing promise is 404.
        """
        self.assertEqual(decideRegisterListener(None, "x").status, HTTPStatus.NOT_FOUND)
        d = decideRegisterListener(promise(), "poll://uni@g/a")
        self.assertEqual(d.effects, Effects(writes=(InsertListener(Listener("root", "poll://uni@g/a")),)))
        d = decideRegisterListener(promise(state=State.RESOLVED), "poll://uni@g/a")
        self.assertEqual((d.status, d.effects), (HTTPStatus.OK, Effects()))


class PreloadMessageTests(unittest.SynchronousTestCase):
    """
    Preload (9.5) and the outbox messages' shapes (10).
    """

    def test_preload(self):
        """
        The preload lists the branch's other promises by id, each as of now;
        a promise without a branch preloads nothing.
        """
        me = promise("root", resonate_branch="root")
        candidates = [
            promise("root:2", resonate_branch="root", timeout=NOW),
            me,
            promise("root:1", State.RESOLVED, resonate_branch="root"),
            promise("root:3", resonate_branch="root:3"),
        ]
        chosen = selectPreload(me, candidates, NOW)
        self.assertEqual([(p.id, p.state) for p in chosen], [("root:1", State.RESOLVED), ("root:2", State.REJECTED_TIMEDOUT)])
        self.assertEqual(selectPreload(promise(), candidates, NOW), ())
        self.assertEqual(selectPreload(None, candidates, NOW), ())

    def test_messages(self):
        """
        C{execute} carries the server URL and the task's id and version;
        C{unblock} an empty head and the promise record.
        """
        self.assertEqual(
            Execute("a", 3, TARGET).message("http://localhost:8001"),
            {"kind": "execute", "head": {"serverUrl": "http://localhost:8001"}, "data": {"task": {"id": "a", "version": 3}}},
        )
        self.assertEqual(
            Unblock("a", TARGET).message({"id": "a"}),
            {"kind": "unblock", "head": {}, "data": {"promise": {"id": "a"}}},
        )
