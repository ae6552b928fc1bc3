# -*- test-case-name: tests.unit.test_model_promise -*-
"""
Durable promises: their values and their state machine.

The functions here decide, from what is stored (or nothing), a request and one
C{now} in milliseconds, what the answer is and what, if anything, must be
written.  Stores read a row, call one of the C{decide*} functions, carry out
the L{Decision}'s write conditionally and return the decision.

    PENDING --complete--> RESOLVED | REJECTED | REJECTED_CANCELED
    PENDING --now >= timeout--> REJECTED_TIMEDOUT (RESOLVED for timers)
    terminal states never change
"""

import enum
from dataclasses import dataclass, field, replace

from resonate.model.frozen import quickInit
from resonate.status import Status

#: The tag that makes a promise a timer in v0.5: it resolves when it times
#: out.
TIMER_TAG = "resonate:timeout"

#: The same tag in the 2026 protocol.
TIMER_TAG_2026 = "resonate:timer"

#: The tags that make a promise a timer, whichever protocol made it or reads
#: it (DECISIONS 27): either set to C{"true"}.
TIMER_TAGS = (TIMER_TAG, TIMER_TAG_2026)


class State(enum.Enum):
    """
    The state of a promise.
    """

    PENDING = "PENDING"
    RESOLVED = "RESOLVED"
    REJECTED = "REJECTED"
    REJECTED_CANCELED = "REJECTED_CANCELED"
    REJECTED_TIMEDOUT = "REJECTED_TIMEDOUT"

    @property
    def isTerminal(self):
        """
        Whether a promise in this state can never change again.
        """
        return self is not State.PENDING

    @property
    def alreadyStatus(self):
        """
        The 403 status that says a promise is already in this state.
        """
        return _ALREADY[self]


_ALREADY = {
    State.RESOLVED: Status.PROMISE_ALREADY_RESOLVED,
    State.REJECTED: Status.PROMISE_ALREADY_REJECTED,
    State.REJECTED_CANCELED: Status.PROMISE_ALREADY_CANCELED,
    State.REJECTED_TIMEDOUT: Status.PROMISE_ALREADY_TIMEDOUT,
}

#: The states a client may complete a promise with.
COMPLETION_STATES = frozenset(
    [State.RESOLVED, State.REJECTED, State.REJECTED_CANCELED]
)

#: The state groups a search may ask for.
SEARCH_STATES = {
    "pending": frozenset([State.PENDING]),
    "resolved": frozenset([State.RESOLVED]),
    "rejected": frozenset(
        [State.REJECTED, State.REJECTED_CANCELED, State.REJECTED_TIMEDOUT]
    ),
}

ALL_STATES = frozenset(State)


@quickInit
@dataclass(frozen=True)
class Value:
    """
    A promise's param or value: string headers and opaque bytes.

    @ivar headers: a C{dict} of C{str} to C{str}.
    @ivar data: C{bytes}, or L{None} when there is no data.
    """

    headers: dict = field(default_factory=dict)
    data: bytes = None


@quickInit
@dataclass(frozen=True)
class Promise:
    """
    A durable promise as stored.  Times are Unix epoch milliseconds;
    C{timeout} is absolute.
    """

    id: str
    state: State
    timeout: int
    createdOn: int
    param: Value = field(default_factory=Value)
    value: Value = field(default_factory=Value)
    idempotencyKeyForCreate: str = None
    idempotencyKeyForComplete: str = None
    completedOn: int = None
    tags: dict = field(default_factory=dict)

    @property
    def isTimer(self):
        """
        Whether this promise resolves, rather than rejects, on timeout: one
        of L{TIMER_TAGS} is C{"true"}.
        """
        return any(self.tags.get(tag) == "true" for tag in TIMER_TAGS)


@quickInit
@dataclass(frozen=True)
class CreatePromise:
    """
    A request to create a promise.
    """

    id: str
    timeout: int
    param: Value = field(default_factory=Value)
    tags: dict = field(default_factory=dict)
    idempotencyKey: str = None
    strict: bool = False


@quickInit
@dataclass(frozen=True)
class CompletePromise:
    """
    A request to resolve, reject or cancel a promise.
    """

    id: str
    state: State
    value: Value = field(default_factory=Value)
    idempotencyKey: str = None
    strict: bool = False


@quickInit
@dataclass(frozen=True)
class Insert:
    """
    Write: insert C{promise}, which must not exist yet.
    """

    promise: Promise


@quickInit
@dataclass(frozen=True)
class Update:
    """
    Write: replace the stored promise with C{promise}, on condition that the
    stored one is still C{PENDING}.
    """

    promise: Promise


@quickInit
@dataclass(frozen=True)
class Decision:
    """
    The outcome of a request.

    @ivar status: the L{Status} to answer with.
    @ivar promise: the promise to answer with (L{None} when there is none).
    @ivar write: an L{Insert}, an L{Update}, or L{None} when nothing changes.
    """

    status: Status
    promise: Promise = None
    write: object = None


def isOverdue(promise, now):
    """
    Whether C{promise} is pending past its timeout.  Timeouts are inclusive.
    """
    return promise.state is State.PENDING and now >= promise.timeout


def timedOutState(isTimer):
    """
    The state a pending promise takes when its timeout passes: a timer
    resolves, any other promise is rejected as timed out.
    """
    return State.RESOLVED if isTimer else State.REJECTED_TIMEDOUT


def timedOut(promise):
    """
    The promise as it is once its timeout has passed: a timer resolves, any
    other promise is rejected; it completes at its timeout, with no value and
    no completion key.
    """
    return replace(
        promise,
        state=timedOutState(promise.isTimer),
        value=Value(),
        idempotencyKeyForComplete=None,
        completedOn=promise.timeout,
    )


def _keysMatch(requested, stored):
    """
    Idempotency keys match only when both are present and equal.
    """
    return requested is not None and stored is not None and requested == stored


def asOf(promise, now):
    """
    C{promise} as it is at C{now}: timed out if it is overdue, else as it
    is.  Nothing is written; searches answer with this, and leave the write
    to the timeout sweep or to the next request on the id.
    """
    return timedOut(promise) if isOverdue(promise, now) else promise


def _settle(promise, now):
    """
    Apply a due timeout.  Returns the promise to answer with and the write
    the timeout needs (or L{None}).
    """
    settled = asOf(promise, now)
    return settled, (None if settled is promise else Update(settled))


def decideRead(existing, now):
    """
    Read a promise by id, timing it out if it is due.
    """
    if existing is None:
        return Decision(Status.PROMISE_NOT_FOUND)
    promise, write = _settle(existing, now)
    return Decision(Status.OK, promise, write)


def decideCreate(existing, request, now):
    """
    Create a promise, or deduplicate a repeated create.

    A repeat is answered 200 only when it carries the idempotency key the
    promise was created with and, once the promise is completed, is not
    strict.  Everything else on an existing id is 409.  The request body is
    never compared.
    """
    if existing is None:
        promise = Promise(
            id=request.id,
            state=State.PENDING,
            timeout=request.timeout,
            createdOn=now,
            param=request.param,
            tags=request.tags,
            idempotencyKeyForCreate=request.idempotencyKey,
        )
        return Decision(Status.CREATED, promise, Insert(promise))

    promise, write = _settle(existing, now)
    deduplicated = _keysMatch(
        request.idempotencyKey, promise.idempotencyKeyForCreate
    ) and not (request.strict and promise.state.isTerminal)
    if deduplicated:
        return Decision(Status.OK, promise, write)
    return Decision(Status.PROMISE_ALREADY_EXISTS, None, write)


def decideComplete(existing, request, now):
    """
    Complete a pending promise, or deduplicate a repeated completion.

    A promise that is found overdue is timed out first (the server owns its
    completion from then on): a timer answers 403 (already resolved), any
    other promise 200, or 403 (already timed out) when strict.
    """
    if request.state not in COMPLETION_STATES:
        # Adapters validate this; the guard keeps a bad request from ever
        # writing a "completed" PENDING promise.
        return Decision(Status.FIELD_VALIDATION_FAILED)
    if existing is None:
        return Decision(Status.PROMISE_NOT_FOUND)

    if existing.state is State.PENDING:
        if not isOverdue(existing, now):
            promise = replace(
                existing,
                state=request.state,
                value=request.value,
                idempotencyKeyForComplete=request.idempotencyKey,
                completedOn=now,
            )
            return Decision(Status.CREATED, promise, Update(promise))
        expired = timedOut(existing)
        if expired.isTimer:
            return Decision(
                Status.PROMISE_ALREADY_RESOLVED, None, Update(expired)
            )
        if request.strict:
            return Decision(
                Status.PROMISE_ALREADY_TIMEDOUT, None, Update(expired)
            )
        return Decision(Status.OK, expired, Update(expired))

    keysMatch = _keysMatch(
        request.idempotencyKey, existing.idempotencyKeyForComplete
    )
    if request.strict:
        deduplicated = keysMatch and existing.state is request.state
    else:
        deduplicated = keysMatch or existing.state is State.REJECTED_TIMEDOUT
    if deduplicated:
        return Decision(Status.OK, existing)
    return Decision(existing.state.alreadyStatus)


@dataclass(frozen=True)
class PromiseQuery:
    """
    A search over promises, newest first.

    @ivar id: an id pattern where C{*} matches any run of characters and
        every other character matches itself.
    @ivar states: a C{frozenset} of L{State}s to include.
    @ivar tags: a C{dict} of tags that must all be present with these values.
    @ivar limit: the largest page to return.
    @ivar sortId: when set, only promises older than this position.
    """

    id: str = "*"
    states: frozenset = ALL_STATES
    tags: dict = field(default_factory=dict)
    limit: int = 100
    sortId: int = None


@dataclass(frozen=True)
class SearchPage:
    """
    A page of search results.

    @ivar promises: the promises found, newest first.
    @ivar next: the L{PromiseQuery} for the following page, or L{None} when
        this page was not full.
    """

    promises: list
    next: PromiseQuery = None


def matchesPattern(pattern, promiseId):
    """
    Whether C{promiseId} matches C{pattern}, where C{*} is the only wildcard.
    This is the reference the stores' SQL must agree with.
    """
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern == promiseId
    first, *middle, last = parts
    if not promiseId.startswith(first):
        return False
    position = len(first)
    end = len(promiseId) - len(last)
    if end < position or not promiseId.endswith(last):
        return False
    for part in middle:
        found = promiseId.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True


@dataclass(frozen=True)
class StateFilter:
    """
    Which stored rows are in one of a search's states at its C{now}, in
    terms of what a store keeps: a row's stored state, whether its timeout
    is due (C{timeout <= now}: timeouts are inclusive, as in L{isOverdue})
    and whether it is a timer.  A row matches when

      - its stored state is one of C{stored} (terminal states never
        change), or
      - it is stored C{PENDING} and
          - not due, and C{pending} is set, or
          - due, a timer, and C{dueTimers} is set, or
          - due, not a timer, and C{dueOthers} is set.

    Stores translate this to SQL; L{stateFilter} derives it from the state
    machine, so that a search selects exactly the rows whose L{asOf} state
    it asks for, without timing anything out first.

    @ivar stored: a C{frozenset} of terminal L{State}s.
    """

    stored: frozenset
    pending: bool
    dueTimers: bool
    dueOthers: bool

    @property
    def allPending(self):
        """
        Whether every stored C{PENDING} row matches, due or not.
        """
        return self.pending and self.dueTimers and self.dueOthers

    @property
    def anyPending(self):
        """
        Whether some stored C{PENDING} rows may match.
        """
        return self.pending or self.dueTimers or self.dueOthers


def stateFilter(states):
    """
    The L{StateFilter} that selects the rows in one of C{states} at a
    search's C{now}: a due pending row counts as the state its timeout
    gives it (L{timedOutState}), not as C{PENDING}.

    @param states: a C{frozenset} of L{State}s, such as
        L{PromiseQuery.states}.
    """
    return StateFilter(
        stored=frozenset(s for s in states if s.isTerminal),
        pending=State.PENDING in states,
        dueTimers=timedOutState(True) in states,
        dueOthers=timedOutState(False) in states,
    )


def matchesQuery(query, promise):
    """
    Whether C{promise} satisfies the filters of C{query} (not its paging).
    A search applies it to each promise L{asOf} its C{now}.
    """
    return (
        promise.state in query.states
        and matchesPattern(query.id, promise.id)
        and all(promise.tags.get(k) == v for k, v in query.tags.items())
    )


def pageOf(query, rows, now):
    """
    Build the L{SearchPage} for C{query} from C{rows}, a list of stored
    C{(sortId, promise)} newest first, at most C{query.limit} long, each
    promise as it is at C{now} (L{asOf}: an overdue one timed out, though
    the store still holds it pending).  A next page is offered only when
    this one is full.
    """
    promises = [asOf(promise, now) for _, promise in rows]
    if len(rows) == query.limit and rows:
        return SearchPage(promises, replace(query, sortId=rows[-1][0]))
    return SearchPage(promises)
