# -*- test-case-name: tests.unit.test_model_promise -*-
"""
Tests for L{resonate.model.promise}: the promise state machine as pure
functions.

The C{decide*} functions are tested with case tables, one test per row: each
row names the stored promise (or L{None}), the request, C{now} and the whole
L{Decision} expected back, write included.
"""

from dataclasses import dataclass, replace
from itertools import combinations

from twisted.trial.unittest import SynchronousTestCase

from resonate.model.promise import (
    ALL_STATES,
    COMPLETION_STATES,
    SEARCH_STATES,
    TIMER_TAG,
    CompletePromise,
    CreatePromise,
    Decision,
    Insert,
    Promise,
    PromiseQuery,
    SearchPage,
    State,
    Update,
    Value,
    asOf,
    decideComplete,
    decideCreate,
    decideRead,
    isOverdue,
    matchesPattern,
    matchesQuery,
    pageOf,
    stateFilter,
    timedOut,
    timedOutState,
)
from resonate.status import Status

NOW = 1_700_000_000_000
TIMEOUT = NOW + 60_000
PARAM = Value({"content-type": "application/json"}, b'{"a": 1}')
VALUE = Value({"x": "y"}, b"done")
TAGS = {"k": "v"}

#: The statuses that say a promise is already completed, as the contract
#: numbers them.
ALREADY_RESOLVED = Status(4030)
ALREADY_REJECTED = Status(4031)
ALREADY_CANCELED = Status(4032)
ALREADY_TIMEDOUT = Status(4033)
ALREADY = {
    State.RESOLVED: ALREADY_RESOLVED,
    State.REJECTED: ALREADY_REJECTED,
    State.REJECTED_CANCELED: ALREADY_CANCELED,
    State.REJECTED_TIMEDOUT: ALREADY_TIMEDOUT,
}

#: The states a client completes with, in a fixed order.
CLIENT_STATES = [State.RESOLVED, State.REJECTED, State.REJECTED_CANCELED]


def pendingPromise(**changes):
    """
    A pending promise C{p}, created with key C{create-key}, due at
    L{TIMEOUT}, with C{changes} applied.
    """
    promise = Promise(
        id="p",
        state=State.PENDING,
        timeout=TIMEOUT,
        createdOn=NOW - 1000,
        param=PARAM,
        idempotencyKeyForCreate="create-key",
        tags=TAGS,
    )
    return replace(promise, **changes)


def timerPromise(**changes):
    """
    A pending timer: it resolves when it times out.
    """
    return pendingPromise(tags={TIMER_TAG: "true"}, **changes)


def completedPromise(state, **changes):
    """
    L{pendingPromise} completed before its timeout with C{state}, L{VALUE}
    and key C{complete-key}.
    """
    completion = dict(
        state=state,
        value=VALUE,
        idempotencyKeyForComplete="complete-key",
        completedOn=NOW - 500,
    )
    completion.update(changes)
    return pendingPromise(**completion)


def expiredPromise(state=State.REJECTED_TIMEDOUT, **changes):
    """
    L{pendingPromise} (with C{changes}) as it is once timed out into
    C{state}: completed at its timeout, no value, no completion key.
    """
    return pendingPromise(state=state, completedOn=TIMEOUT, **changes)


def expiredTimer():
    """
    L{timerPromise} as it is once timed out: resolved at its timeout.
    """
    return expiredPromise(State.RESOLVED, tags={TIMER_TAG: "true"})


def createRequest(**changes):
    """
    A request to create C{p} with the key C{create-key}.
    """
    request = CreatePromise(
        id="p",
        timeout=TIMEOUT,
        param=PARAM,
        tags=TAGS,
        idempotencyKey="create-key",
    )
    return replace(request, **changes)


def completeRequest(**changes):
    """
    A request to resolve C{p} with L{VALUE} and the key C{complete-key}.
    """
    request = CompletePromise(
        id="p",
        state=State.RESOLVED,
        value=VALUE,
        idempotencyKey="complete-key",
    )
    return replace(request, **changes)


def newPromise(createdOn=NOW, **changes):
    """
    The promise L{createRequest} inserts at C{createdOn}.
    """
    promise = Promise(
        id="p",
        state=State.PENDING,
        timeout=TIMEOUT,
        createdOn=createdOn,
        param=PARAM,
        tags=TAGS,
        idempotencyKeyForCreate="create-key",
    )
    return replace(promise, **changes)


@dataclass(frozen=True)
class Case:
    """
    One row of a decision table.

    @ivar name: the test's name, without C{test_}.
    @ivar intent: the test's docstring.
    @ivar existing: the stored promise, or L{None}.
    @ivar request: the request, or L{None} for a read.
    @ivar now: the time of the request.
    @ivar expected: the L{Decision} expected.
    """

    name: str
    intent: str
    existing: Promise
    request: object
    now: int
    expected: Decision


def tabulate(decide, cases):
    """
    A class decorator adding one test per case, which asserts that
    C{decide(case)} returns C{case.expected}.
    """

    def addTests(cls):
        for case in cases:
            name = "test_" + case.name
            if hasattr(cls, name):
                raise ValueError(f"two cases are named {case.name!r}")

            def test(self, case=case):
                self.assertEqual(decide(case), case.expected)

            test.__name__ = name
            test.__doc__ = case.intent
            setattr(cls, name, test)
        return cls

    return addTests


def _decideRead(case):
    return decideRead(case.existing, case.now)


def _decideCreate(case):
    return decideCreate(case.existing, case.request, case.now)


def _decideComplete(case):
    return decideComplete(case.existing, case.request, case.now)


READ_CASES = [
    Case(
        "missing",
        "Reading an unknown id answers 404 with nothing.",
        None,
        None,
        NOW,
        Decision(Status.PROMISE_NOT_FOUND),
    ),
    Case(
        "pending",
        "A promise before its timeout is read as stored.",
        pendingPromise(),
        None,
        NOW,
        Decision(Status.OK, pendingPromise()),
    ),
    Case(
        "pendingJustBeforeTimeout",
        "A promise one millisecond before its timeout is still pending.",
        pendingPromise(),
        None,
        TIMEOUT - 1,
        Decision(Status.OK, pendingPromise()),
    ),
    Case(
        "atTimeout",
        "A promise read at its timeout is timed out, and the timeout written.",
        pendingPromise(),
        None,
        TIMEOUT,
        Decision(Status.OK, expiredPromise(), Update(expiredPromise())),
    ),
    Case(
        "afterTimeout",
        "A promise read after its timeout completes at its timeout.",
        pendingPromise(),
        None,
        TIMEOUT + 3_600_000,
        Decision(Status.OK, expiredPromise(), Update(expiredPromise())),
    ),
    Case(
        "timerAtTimeout",
        "A timer read at its timeout is resolved.",
        timerPromise(),
        None,
        TIMEOUT,
        Decision(Status.OK, expiredTimer(), Update(expiredTimer())),
    ),
    Case(
        "completedAfterTimeout",
        "A completed promise read after its timeout is unchanged.",
        completedPromise(State.REJECTED),
        None,
        TIMEOUT + 1,
        Decision(Status.OK, completedPromise(State.REJECTED)),
    ),
    Case(
        "timedOut",
        "A timed-out promise is read as stored.",
        expiredPromise(),
        None,
        TIMEOUT + 1,
        Decision(Status.OK, expiredPromise()),
    ),
]


@tabulate(_decideRead, READ_CASES)
class DecideReadTests(SynchronousTestCase):
    """
    L{decideRead} answers with the promise, timing it out when it is due.
    """


def _createCases():
    conflict = Decision(Status.PROMISE_ALREADY_EXISTS)
    cases = [
        Case(
            "new",
            "An unknown id is inserted pending, created now, with the key.",
            None,
            createRequest(),
            NOW,
            Decision(Status.CREATED, newPromise(), Insert(newPromise())),
        ),
        Case(
            "newWithoutKey",
            "An unknown id created without a key stores no key.",
            None,
            createRequest(idempotencyKey=None),
            NOW,
            Decision(
                Status.CREATED,
                newPromise(idempotencyKeyForCreate=None),
                Insert(newPromise(idempotencyKeyForCreate=None)),
            ),
        ),
        Case(
            "newStrict",
            "C{strict} changes nothing for an unknown id.",
            None,
            createRequest(strict=True),
            NOW,
            Decision(Status.CREATED, newPromise(), Insert(newPromise())),
        ),
        Case(
            "newEmpty",
            "An unknown id with no param and no tags stores empty ones.",
            None,
            createRequest(param=Value(), tags={}),
            NOW,
            Decision(
                Status.CREATED,
                newPromise(param=Value(), tags={}),
                Insert(newPromise(param=Value(), tags={})),
            ),
        ),
        Case(
            "newTimeoutPast",
            "A promise whose timeout has passed is still inserted pending.",
            None,
            createRequest(timeout=NOW - 1),
            NOW,
            Decision(
                Status.CREATED,
                newPromise(timeout=NOW - 1),
                Insert(newPromise(timeout=NOW - 1)),
            ),
        ),
        Case(
            "newTimeoutNow",
            "A promise due at the time of its creation is inserted pending.",
            None,
            createRequest(timeout=NOW),
            NOW,
            Decision(
                Status.CREATED,
                newPromise(timeout=NOW),
                Insert(newPromise(timeout=NOW)),
            ),
        ),
        Case(
            "pendingSameKey",
            "A repeat with the same key answers 200 with the stored promise.",
            pendingPromise(),
            createRequest(),
            NOW,
            Decision(Status.OK, pendingPromise()),
        ),
        Case(
            "pendingSameKeyStrict",
            "A strict repeat with the same key on a pending promise is 200.",
            pendingPromise(),
            createRequest(strict=True),
            NOW,
            Decision(Status.OK, pendingPromise()),
        ),
        Case(
            "pendingSameKeyOtherBody",
            "The body of a repeat is never compared, only its key.",
            pendingPromise(),
            createRequest(
                timeout=TIMEOUT + 1, param=Value(), tags={"other": "tag"}
            ),
            NOW,
            Decision(Status.OK, pendingPromise()),
        ),
        Case(
            "pendingJustBeforeTimeout",
            "One millisecond before its timeout a repeat sees it pending.",
            pendingPromise(),
            createRequest(),
            TIMEOUT - 1,
            Decision(Status.OK, pendingPromise()),
        ),
        Case(
            "pendingOtherKey",
            "A repeat with another key is 409.",
            pendingPromise(),
            createRequest(idempotencyKey="other"),
            NOW,
            conflict,
        ),
        Case(
            "pendingRequestKeyMissing",
            "A repeat without a key on a promise created with one is 409.",
            pendingPromise(),
            createRequest(idempotencyKey=None),
            NOW,
            conflict,
        ),
        Case(
            "pendingStoredKeyMissing",
            "A repeat with a key on a promise created without one is 409.",
            pendingPromise(idempotencyKeyForCreate=None),
            createRequest(),
            NOW,
            conflict,
        ),
        Case(
            "pendingBothKeysMissing",
            "Missing keys never match each other: 409.",
            pendingPromise(idempotencyKeyForCreate=None),
            createRequest(idempotencyKey=None),
            NOW,
            conflict,
        ),
        Case(
            "overdueSameKey",
            "A repeat at the timeout times the promise out and answers 200.",
            pendingPromise(),
            createRequest(),
            TIMEOUT,
            Decision(Status.OK, expiredPromise(), Update(expiredPromise())),
        ),
        Case(
            "overdueLateSameKey",
            "A late repeat completes the promise at its timeout, not now.",
            pendingPromise(),
            createRequest(),
            TIMEOUT + 1000,
            Decision(Status.OK, expiredPromise(), Update(expiredPromise())),
        ),
        Case(
            "overdueSameKeyStrict",
            "A strict repeat on an overdue promise is 409; the timeout is "
            "written.",
            pendingPromise(),
            createRequest(strict=True),
            TIMEOUT,
            Decision(
                Status.PROMISE_ALREADY_EXISTS, None, Update(expiredPromise())
            ),
        ),
        Case(
            "overdueOtherKey",
            "A repeat with another key on an overdue promise is 409; the "
            "timeout is written.",
            pendingPromise(),
            createRequest(idempotencyKey="other"),
            TIMEOUT,
            Decision(
                Status.PROMISE_ALREADY_EXISTS, None, Update(expiredPromise())
            ),
        ),
        Case(
            "overdueKeyMissing",
            "A repeat without a key on an overdue promise is 409; the "
            "timeout is written.",
            pendingPromise(),
            createRequest(idempotencyKey=None),
            TIMEOUT,
            Decision(
                Status.PROMISE_ALREADY_EXISTS, None, Update(expiredPromise())
            ),
        ),
        Case(
            "overdueTimerSameKey",
            "A repeat on an overdue timer answers 200 with it resolved.",
            timerPromise(),
            createRequest(),
            TIMEOUT,
            Decision(Status.OK, expiredTimer(), Update(expiredTimer())),
        ),
        Case(
            "overdueTimerSameKeyStrict",
            "A strict repeat on an overdue timer is 409; the timeout is "
            "written.",
            timerPromise(),
            createRequest(strict=True),
            TIMEOUT,
            Decision(
                Status.PROMISE_ALREADY_EXISTS, None, Update(expiredTimer())
            ),
        ),
    ]
    for state in CLIENT_STATES + [State.REJECTED_TIMEDOUT]:
        stored = completedPromise(state)
        name = state.name.title().replace("_", "")
        name = name[0].lower() + name[1:]
        cases += [
            Case(
                f"{name}SameKey",
                f"A repeat with the same key on a {state.name} promise is "
                "200.",
                stored,
                createRequest(),
                NOW,
                Decision(Status.OK, stored),
            ),
            Case(
                f"{name}SameKeyStrict",
                f"A strict repeat on a {state.name} promise is 409.",
                stored,
                createRequest(strict=True),
                NOW,
                conflict,
            ),
            Case(
                f"{name}OtherKey",
                f"A repeat with another key on a {state.name} promise is 409.",
                stored,
                createRequest(idempotencyKey="other"),
                NOW,
                conflict,
            ),
            Case(
                f"{name}KeyMissing",
                f"A repeat without a key on a {state.name} promise is 409.",
                stored,
                createRequest(idempotencyKey=None),
                NOW,
                conflict,
            ),
        ]
    return cases


@tabulate(_decideCreate, _createCases())
class DecideCreateTests(SynchronousTestCase):
    """
    L{decideCreate} creates, deduplicates (200) or refuses (409), timing the
    stored promise out first when it is due.
    """


def _completeCases():
    cases = [
        Case(
            "missing",
            "Completing an unknown id answers 404 with nothing.",
            None,
            completeRequest(),
            NOW,
            Decision(Status.PROMISE_NOT_FOUND),
        ),
        Case(
            "pendingWithoutKey",
            "A promise completed without a key stores no completion key.",
            pendingPromise(),
            completeRequest(idempotencyKey=None),
            NOW,
            Decision(
                Status.CREATED,
                completedPromise(
                    State.RESOLVED,
                    idempotencyKeyForComplete=None,
                    completedOn=NOW,
                ),
                Update(
                    completedPromise(
                        State.RESOLVED,
                        idempotencyKeyForComplete=None,
                        completedOn=NOW,
                    )
                ),
            ),
        ),
        Case(
            "pendingStrict",
            "C{strict} changes nothing when completing a pending promise.",
            pendingPromise(),
            completeRequest(strict=True),
            NOW,
            Decision(
                Status.CREATED,
                completedPromise(State.RESOLVED, completedOn=NOW),
                Update(completedPromise(State.RESOLVED, completedOn=NOW)),
            ),
        ),
        Case(
            "pendingEmptyValue",
            "A promise completed with no value stores an empty one.",
            pendingPromise(),
            completeRequest(value=Value()),
            NOW,
            Decision(
                Status.CREATED,
                completedPromise(
                    State.RESOLVED, value=Value(), completedOn=NOW
                ),
                Update(
                    completedPromise(
                        State.RESOLVED, value=Value(), completedOn=NOW
                    )
                ),
            ),
        ),
        Case(
            "pendingJustBeforeTimeout",
            "One millisecond before its timeout a promise can be completed.",
            pendingPromise(),
            completeRequest(),
            TIMEOUT - 1,
            Decision(
                Status.CREATED,
                completedPromise(State.RESOLVED, completedOn=TIMEOUT - 1),
                Update(
                    completedPromise(State.RESOLVED, completedOn=TIMEOUT - 1)
                ),
            ),
        ),
        Case(
            "overdue",
            "Completing at the timeout times out instead, answering 200.",
            pendingPromise(),
            completeRequest(),
            TIMEOUT,
            Decision(Status.OK, expiredPromise(), Update(expiredPromise())),
        ),
        Case(
            "overdueLate",
            "Completing after the timeout times out at the timeout: 200.",
            pendingPromise(),
            completeRequest(state=State.REJECTED_CANCELED),
            TIMEOUT + 1000,
            Decision(Status.OK, expiredPromise(), Update(expiredPromise())),
        ),
        Case(
            "overdueWithoutKey",
            "Completing an overdue promise without a key is 200 too.",
            pendingPromise(),
            completeRequest(idempotencyKey=None),
            TIMEOUT,
            Decision(Status.OK, expiredPromise(), Update(expiredPromise())),
        ),
        Case(
            "overdueStrict",
            "A strict completion at the timeout is 403 (4033); the timeout "
            "is written.",
            pendingPromise(),
            completeRequest(strict=True),
            TIMEOUT,
            Decision(ALREADY_TIMEDOUT, None, Update(expiredPromise())),
        ),
        Case(
            "overdueTimer",
            "Completing an overdue timer is 403 (4030); it is written "
            "resolved.",
            timerPromise(),
            completeRequest(state=State.REJECTED),
            TIMEOUT,
            Decision(ALREADY_RESOLVED, None, Update(expiredTimer())),
        ),
        Case(
            "overdueTimerResolve",
            "Resolving an overdue timer is 403 (4030) as well.",
            timerPromise(),
            completeRequest(),
            TIMEOUT + 1,
            Decision(ALREADY_RESOLVED, None, Update(expiredTimer())),
        ),
        Case(
            "overdueTimerStrict",
            "A strict completion of an overdue timer is 403 (4030).",
            timerPromise(),
            completeRequest(strict=True),
            TIMEOUT,
            Decision(ALREADY_RESOLVED, None, Update(expiredTimer())),
        ),
        Case(
            "timedOutOtherKey",
            "A timed-out promise answers 200 to any key when not strict.",
            expiredPromise(),
            completeRequest(idempotencyKey="any"),
            TIMEOUT + 1,
            Decision(Status.OK, expiredPromise()),
        ),
        Case(
            "timedOutWithoutKey",
            "A timed-out promise answers 200 to no key when not strict.",
            expiredPromise(),
            completeRequest(idempotencyKey=None),
            TIMEOUT + 1,
            Decision(Status.OK, expiredPromise()),
        ),
        Case(
            "timedOutStrict",
            "A timed-out promise answers 403 (4033) when strict.",
            expiredPromise(),
            completeRequest(strict=True),
            TIMEOUT + 1,
            Decision(ALREADY_TIMEDOUT),
        ),
        Case(
            "timedOutStrictWithoutKey",
            "A timed-out promise answers 403 (4033) when strict, without a "
            "key too.",
            expiredPromise(),
            completeRequest(strict=True, idempotencyKey=None),
            TIMEOUT + 1,
            Decision(ALREADY_TIMEDOUT),
        ),
        Case(
            "timedOutTimer",
            "A timer resolved by its timeout has no completion key: 403 "
            "(4030) to any key.",
            expiredTimer(),
            completeRequest(idempotencyKey="any"),
            TIMEOUT + 1,
            Decision(ALREADY_RESOLVED),
        ),
        Case(
            "completedAfterTimeout",
            "A repeat after the timeout of a completed promise is still "
            "deduplicated.",
            completedPromise(State.REJECTED),
            completeRequest(state=State.REJECTED),
            TIMEOUT + 1,
            Decision(Status.OK, completedPromise(State.REJECTED)),
        ),
    ]
    for state in CLIENT_STATES:
        name = state.name.title().replace("_", "")
        cases.append(
            Case(
                f"pending{name}",
                f"Completing a pending promise as {state.name} is 201.",
                pendingPromise(),
                completeRequest(state=state),
                NOW,
                Decision(
                    Status.CREATED,
                    completedPromise(state, completedOn=NOW),
                    Update(completedPromise(state, completedOn=NOW)),
                ),
            )
        )
        stored = completedPromise(state)
        for requested in CLIENT_STATES:
            what = "same" if requested is state else requested.name
            label = name + (
                "Same"
                if requested is state
                else "To" + (requested.name.title().replace("_", ""))
            )
            cases += [
                Case(
                    f"completed{label}SameKey",
                    f"{state.name}, same key, {what} state, not strict: 200.",
                    stored,
                    completeRequest(state=requested),
                    NOW,
                    Decision(Status.OK, stored),
                ),
                Case(
                    f"completed{label}SameKeyStrict",
                    f"{state.name}, same key, {what} state, strict: "
                    + ("200." if requested is state else "403."),
                    stored,
                    completeRequest(state=requested, strict=True),
                    NOW,
                    (
                        Decision(Status.OK, stored)
                        if requested is state
                        else Decision(ALREADY[state])
                    ),
                ),
            ]
        for strict in [False, True]:
            mode = "Strict" if strict else ""
            cases += [
                Case(
                    f"completed{name}OtherKey{mode}",
                    f"{state.name} with another key (strict={strict}): 403.",
                    stored,
                    completeRequest(
                        state=state, idempotencyKey="other", strict=strict
                    ),
                    NOW,
                    Decision(ALREADY[state]),
                ),
                Case(
                    f"completed{name}RequestKeyMissing{mode}",
                    f"{state.name} and no key asked (strict={strict}): 403.",
                    stored,
                    completeRequest(
                        state=state, idempotencyKey=None, strict=strict
                    ),
                    NOW,
                    Decision(ALREADY[state]),
                ),
                Case(
                    f"completed{name}StoredKeyMissing{mode}",
                    f"{state.name} without a stored key (strict={strict}): "
                    "403.",
                    completedPromise(state, idempotencyKeyForComplete=None),
                    completeRequest(state=state, strict=strict),
                    NOW,
                    Decision(ALREADY[state]),
                ),
                Case(
                    f"completed{name}BothKeysMissing{mode}",
                    f"{state.name}, keys missing on both sides "
                    f"(strict={strict}): 403.",
                    completedPromise(state, idempotencyKeyForComplete=None),
                    completeRequest(
                        state=state, idempotencyKey=None, strict=strict
                    ),
                    NOW,
                    Decision(ALREADY[state]),
                ),
            ]
    return cases


@tabulate(_decideComplete, _completeCases())
class DecideCompleteTests(SynchronousTestCase):
    """
    L{decideComplete} completes (201), deduplicates (200) or refuses (403),
    timing the stored promise out first when it is due.
    """


class StateTests(SynchronousTestCase):
    """
    L{State} and the state groups.
    """

    def test_terminal(self):
        """
        Every state but C{PENDING} is terminal.
        """
        self.assertEqual(
            {state for state in State if state.isTerminal},
            {
                State.RESOLVED,
                State.REJECTED,
                State.REJECTED_CANCELED,
                State.REJECTED_TIMEDOUT,
            },
        )

    def test_alreadyStatus(self):
        """
        Each terminal state names its own 403 status, 4030 to 4033.
        """
        self.assertEqual(
            {state: state.alreadyStatus for state in ALREADY},
            {
                State.RESOLVED: 4030,
                State.REJECTED: 4031,
                State.REJECTED_CANCELED: 4032,
                State.REJECTED_TIMEDOUT: 4033,
            },
        )

    def test_completionStates(self):
        """
        Clients may resolve, reject or cancel, and nothing else.
        """
        self.assertEqual(COMPLETION_STATES, frozenset(CLIENT_STATES))

    def test_searchStates(self):
        """
        The search group C{rejected} covers the three rejected states; the
        others one state each; all states are five.
        """
        self.assertEqual(
            SEARCH_STATES,
            {
                "pending": {State.PENDING},
                "resolved": {State.RESOLVED},
                "rejected": {
                    State.REJECTED,
                    State.REJECTED_CANCELED,
                    State.REJECTED_TIMEDOUT,
                },
            },
        )
        self.assertEqual(len(ALL_STATES), 5)
        self.assertEqual(ALL_STATES, frozenset(State))

    def test_isTimer(self):
        """
        The tag C{resonate:timeout} (v0.5) or C{resonate:timer} (2026) with
        the value C{true} makes a timer, whichever protocol reads it
        (DECISIONS 27); nothing else does.
        """
        cases = [
            ({TIMER_TAG: "true"}, True),
            ({"resonate:timer": "true"}, True),
            ({TIMER_TAG: "false", "resonate:timer": "true"}, True),
            ({}, False),
            ({TIMER_TAG: "false"}, False),
            ({TIMER_TAG: ""}, False),
            ({"resonate:timer": "false"}, False),
            ({"resonate:timer": "True"}, False),
            ({"timer": "true"}, False),
        ]
        for tags, expected in cases:
            self.assertEqual(pendingPromise(tags=tags).isTimer, expected, tags)


class IsOverdueTests(SynchronousTestCase):
    """
    L{isOverdue}: pending at or past the timeout.
    """

    def test_table(self):
        """
        A promise is overdue from its timeout on (inclusive), and only while
        pending.
        """
        cases = [
            (pendingPromise(), TIMEOUT - 1, False),
            (pendingPromise(), TIMEOUT, True),
            (pendingPromise(), TIMEOUT + 1, True),
            (pendingPromise(timeout=0), 0, True),
            (completedPromise(State.RESOLVED), TIMEOUT + 1, False),
            (expiredPromise(), TIMEOUT + 1, False),
        ]
        for promise, now, expected in cases:
            self.assertEqual(
                isOverdue(promise, now), expected, (promise.state, now)
            )


class TimedOutTests(SynchronousTestCase):
    """
    L{timedOut}: the promise once its timeout has passed.
    """

    def test_rejects(self):
        """
        A promise that is not a timer times out as C{REJECTED_TIMEDOUT},
        completed at its timeout; everything else is kept.
        """
        self.assertEqual(timedOut(pendingPromise()), expiredPromise())

    def test_timerResolves(self):
        """
        A timer times out as C{RESOLVED}.
        """
        self.assertEqual(timedOut(timerPromise()), expiredTimer())

    def test_notTimer(self):
        """
        A C{resonate:timeout} tag other than C{true} times out rejected.
        """
        promise = pendingPromise(tags={TIMER_TAG: "false"})
        self.assertIs(timedOut(promise).state, State.REJECTED_TIMEDOUT)

    def test_clearsValueAndKey(self):
        """
        A timed-out promise has an empty value and no completion key, and
        completes at its timeout, whatever it held before.
        """
        promise = pendingPromise(
            value=VALUE, idempotencyKeyForComplete="k", completedOn=NOW
        )
        expired = timedOut(promise)
        self.assertEqual(expired.value, Value())
        self.assertIsNone(expired.idempotencyKeyForComplete)
        self.assertEqual(expired.completedOn, TIMEOUT)


class TimedOutStateTests(SynchronousTestCase):
    """
    L{timedOutState}: the state a timeout gives.
    """

    def test_table(self):
        """
        A timer resolves, anything else is rejected as timed out, as
        L{timedOut} says.
        """
        self.assertIs(timedOutState(True), State.RESOLVED)
        self.assertIs(timedOutState(False), State.REJECTED_TIMEDOUT)
        self.assertIs(timedOutState(True), timedOut(timerPromise()).state)
        self.assertIs(timedOutState(False), timedOut(pendingPromise()).state)


class AsOfTests(SynchronousTestCase):
    """
    L{asOf}: a promise as it is at some time, with nothing written.
    """

    def test_notDue(self):
        """
        Before its timeout a pending promise is itself.
        """
        promise = pendingPromise()
        self.assertIs(asOf(promise, TIMEOUT - 1), promise)

    def test_due(self):
        """
        From its timeout on (inclusive) a pending promise is timed out, as a
        read would answer it.
        """
        for promise in [pendingPromise(), timerPromise()]:
            for now in [TIMEOUT, TIMEOUT + 1]:
                self.assertEqual(asOf(promise, now), timedOut(promise))
                self.assertEqual(
                    asOf(promise, now), decideRead(promise, now).promise
                )

    def test_completed(self):
        """
        A completed promise is itself, however late.
        """
        for promise in [completedPromise(State.REJECTED), expiredTimer()]:
            self.assertIs(asOf(promise, TIMEOUT + 1), promise)


class StateFilterTests(SynchronousTestCase):
    """
    L{stateFilter}: which stored rows are in some states at C{now}.
    """

    def rowsMatching(self, wanted, promise, now):
        """
        Whether the stored C{promise} matches C{wanted}, read the way stores
        translate a L{StateFilter} into SQL.
        """
        if promise.state is not State.PENDING:
            return promise.state in wanted.stored
        if now < promise.timeout:
            return wanted.pending
        return wanted.dueTimers if promise.isTimer else wanted.dueOthers

    def test_agreesWithAsOf(self):
        """
        For every set of states, a stored row matches exactly when the
        promise L{asOf} C{now} is in one of them.
        """
        promises = [
            pendingPromise(),
            timerPromise(),
            pendingPromise(tags={TIMER_TAG: "false"}),
            expiredPromise(),
            expiredTimer(),
        ] + [completedPromise(state) for state in CLIENT_STATES]
        failures = []
        for size in range(len(State) + 1):
            for states in combinations(State, size):
                wanted = stateFilter(frozenset(states))
                for promise in promises:
                    for now in [TIMEOUT - 1, TIMEOUT, TIMEOUT + 1]:
                        expected = asOf(promise, now).state in states
                        if self.rowsMatching(wanted, promise, now) != expected:
                            failures.append((states, promise, now))
        self.assertEqual(failures, [])

    def test_searchGroups(self):
        """
        C{pending} finds only pending rows not yet due; C{resolved} also due
        timers; C{rejected} also due promises that are not timers; every
        state finds every row.
        """
        self.assertEqual(
            stateFilter(SEARCH_STATES["pending"]),
            stateFilter(frozenset([State.PENDING])),
        )
        pending = stateFilter(SEARCH_STATES["pending"])
        self.assertEqual(
            (pending.stored, pending.pending, pending.dueTimers,
             pending.dueOthers),
            (frozenset(), True, False, False),
        )
        resolved = stateFilter(SEARCH_STATES["resolved"])
        self.assertEqual(
            (resolved.stored, resolved.pending, resolved.dueTimers,
             resolved.dueOthers),
            (frozenset([State.RESOLVED]), False, True, False),
        )
        rejected = stateFilter(SEARCH_STATES["rejected"])
        self.assertEqual(
            (rejected.stored, rejected.pending, rejected.dueTimers,
             rejected.dueOthers),
            (SEARCH_STATES["rejected"], False, False, True),
        )
        every = stateFilter(ALL_STATES)
        self.assertTrue(every.allPending)
        self.assertEqual(every.stored, ALL_STATES - {State.PENDING})
        self.assertFalse(stateFilter(frozenset()).anyPending)


class MatchesPatternTests(SynchronousTestCase):
    """
    L{matchesPattern}: C{*} is the only wildcard.
    """

    def test_table(self):
        """
        Each pattern matches exactly the ids the table says.
        """
        cases = [
            ("*", "", True),
            ("*", "anything at all", True),
            ("**", "x", True),
            ("foo", "foo", True),
            ("foo", "foobar", False),
            ("foo", "xfoo", False),
            ("foo", "Foo", False),
            ("foo*", "foo", True),
            ("foo*", "foobar", True),
            ("foo*", "fo", False),
            ("*bar", "foobar", True),
            ("*bar", "barfoo", False),
            ("f*r", "foobar", True),
            ("f*r", "fr", True),
            ("a*b*c", "abc", True),
            ("a*b*c", "a123b456c", True),
            ("a*b*c", "acb", False),
            ("a*b*c", "abcb", False),
            ("a*a", "a", False),
            ("a*a", "aa", True),
            ("ab*bc", "abc", False),
            ("ab*bc", "abbc", True),
            ("a*ab", "aab", True),
            ("*a*", "bab", True),
            ("*a*", "bbb", False),
            ("x*y*z", "xzyz", True),
            ("a_c", "abc", False),
            ("a_c", "a_c", True),
            ("a%", "abc", False),
            ("a%", "a%", True),
            ("%", "", False),
            ("a.c", "abc", False),
            ("a?c", "abc", False),
            ("[ab]", "a", False),
            ("a\\*", "a\\b", True),
            ("a\\*", "a*", False),
            ("a/b/*", "a/b/c/d", True),
            ("ü*", "über", True),
            ("* *", "with space", True),
        ]
        failures = [
            f"{pattern!r} on {promiseId!r}: expected {expected}"
            for pattern, promiseId, expected in cases
            if matchesPattern(pattern, promiseId) is not expected
        ]
        self.assertEqual(failures, [])


class MatchesQueryTests(SynchronousTestCase):
    """
    L{matchesQuery}: pattern, states and tags together.
    """

    def test_default(self):
        """
        The default query matches a promise in any state.
        """
        for state in State:
            self.assertTrue(
                matchesQuery(PromiseQuery(), pendingPromise(state=state))
            )

    def test_states(self):
        """
        A promise matches only if its state is one asked for.
        """
        rejected = PromiseQuery(states=SEARCH_STATES["rejected"])
        self.assertTrue(matchesQuery(rejected, expiredPromise()))
        self.assertTrue(
            matchesQuery(rejected, completedPromise(State.REJECTED_CANCELED))
        )
        self.assertFalse(matchesQuery(rejected, pendingPromise()))
        self.assertFalse(matchesQuery(rejected, expiredTimer()))

    def test_tags(self):
        """
        Every tag asked for must be present with that exact value; other
        tags on the promise do not matter.
        """
        promise = pendingPromise(tags={"a": "1", "b": "2"})
        cases = [
            ({}, True),
            ({"a": "1"}, True),
            ({"a": "1", "b": "2"}, True),
            ({"a": "2"}, False),
            ({"a": "1", "c": "3"}, False),
            ({"a": "*"}, False),
            ({"c": ""}, False),
        ]
        for tags, expected in cases:
            self.assertEqual(
                matchesQuery(PromiseQuery(tags=tags), promise), expected, tags
            )

    def test_pattern(self):
        """
        The id must match the pattern.
        """
        promise = pendingPromise(id="orders/1")
        self.assertTrue(matchesQuery(PromiseQuery(id="orders/*"), promise))
        self.assertFalse(matchesQuery(PromiseQuery(id="order_/*"), promise))

    def test_allFilters(self):
        """
        A promise must pass every filter at once.
        """
        query = PromiseQuery(
            id="p*", states=SEARCH_STATES["pending"], tags={"k": "v"}
        )
        self.assertTrue(matchesQuery(query, pendingPromise()))
        self.assertFalse(matchesQuery(query, pendingPromise(id="q")))
        self.assertFalse(matchesQuery(query, pendingPromise(tags={})))
        self.assertFalse(matchesQuery(query, completedPromise(State.RESOLVED)))

    def test_ignoresPaging(self):
        """
        Limit and position do not filter.
        """
        query = PromiseQuery(limit=1, sortId=1)
        self.assertTrue(matchesQuery(query, pendingPromise()))


class PageOfTests(SynchronousTestCase):
    """
    L{pageOf}: a page, with a next page only when it is full.
    """

    def rows(self, *sortIds):
        """
        Rows, newest first, of promises named after their sort ids.
        """
        return [(n, pendingPromise(id=f"p{n}")) for n in sortIds]

    def test_empty(self):
        """
        No rows make an empty last page.
        """
        self.assertEqual(
            pageOf(PromiseQuery(limit=2), [], NOW), SearchPage([])
        )

    def test_short(self):
        """
        A page with fewer promises than the limit is the last.
        """
        page = pageOf(PromiseQuery(limit=3), self.rows(9, 4), NOW)
        self.assertEqual(
            page,
            SearchPage([pendingPromise(id="p9"), pendingPromise(id="p4")]),
        )

    def test_full(self):
        """
        A full page offers the same query, positioned after its last row.
        """
        query = PromiseQuery(
            id="p*", states=SEARCH_STATES["rejected"], tags={"k": "v"}, limit=2
        )
        page = pageOf(query, self.rows(9, 4), NOW)
        self.assertEqual([p.id for p in page.promises], ["p9", "p4"])
        self.assertEqual(page.next, replace(query, sortId=4))

    def test_fullAgain(self):
        """
        The page after a full page moves its position on.
        """
        query = PromiseQuery(limit=1, sortId=9)
        page = pageOf(query, self.rows(4), NOW)
        self.assertEqual(page.next, PromiseQuery(limit=1, sortId=4))

    def test_asOfNow(self):
        """
        Each promise on the page is as it is at C{now}: an overdue one timed
        out, the rest as stored; paging still follows the stored rows.
        """
        rows = [
            (9, pendingPromise(id="p9")),
            (7, timerPromise(id="p7")),
            (4, completedPromise(State.REJECTED, id="p4")),
        ]
        page = pageOf(PromiseQuery(limit=3), rows, TIMEOUT)
        self.assertEqual(
            page.promises,
            [
                timedOut(pendingPromise(id="p9")),
                timedOut(timerPromise(id="p7")),
                completedPromise(State.REJECTED, id="p4"),
            ],
        )
        self.assertEqual(page.next, PromiseQuery(limit=3, sortId=4))
        before = pageOf(PromiseQuery(limit=3), rows, TIMEOUT - 1)
        self.assertEqual(before.promises, [promise for _, promise in rows])
