# -*- test-case-name: tests.integration.test_dst -*-
"""
The oracle: which answers are legal, written from the contract alone.

This module knows nothing of the server's code (it imports nothing from
L{resonate} but the simulation's own request values): it is the contract's
sections 2.3-2.8 and rules of section 8, and DECISIONS.md, restated as a
per-id reference.  Checking the server against its own state machine would
prove nothing.

For each id (a promise, the task and lock that share a routed promise's id,
a lock resource, a schedule) the model keeps the set of states the id may
be in.  Usually that is one state.  A request answered 5002 may or may not
have been carried out, so afterwards the id may be in either state; later
answers narrow the set down again, and an answer that fits none of the
states is a violation.

Promises are kept as clients must see them: once the model's clock reaches
a pending promise's timeout it is timed out (the contract says no client
ever observes it pending after that), whether or not the server has
written the transition yet.
"""

import base64
import json
import re
from dataclasses import dataclass, replace

from resonate.testing.dst import requests as R
from resonate.testing.dst.requests import canonicalJSON

PENDING = "PENDING"
RESOLVED = "RESOLVED"
REJECTED = "REJECTED"
CANCELED = "REJECTED_CANCELED"
TIMEDOUT = "REJECTED_TIMEDOUT"

#: States a client may complete a promise with.
COMPLETIONS = (RESOLVED, REJECTED, CANCELED)

#: The state groups of C{GET /promises?state=}.
SEARCH_GROUPS = {
    None: frozenset([PENDING, RESOLVED, REJECTED, CANCELED, TIMEDOUT]),
    "pending": frozenset([PENDING]),
    "resolved": frozenset([RESOLVED]),
    "rejected": frozenset([REJECTED, CANCELED, TIMEDOUT]),
}

#: The tags that make a promise resolve, not reject, on timeout (either
#: "true": v0.5's and the 2026 protocol's, DECISIONS 27).
TIMER_TAG = "resonate:timeout"
TIMER_TAGS = (TIMER_TAG, "resonate:timer")

# Status codes (contract 2.1).
OK, CREATED, NO_CONTENT = 2000, 2010, 2040
INVALID = 4000
ALREADY = {RESOLVED: 4030, REJECTED: 4031, CANCELED: 4032, TIMEDOUT: 4033}
LOCK_HELD = 4034
TASK_TIMED_OUT, TASK_COMPLETED, TASK_BAD_COUNTER = 4035, 4036, 4037
PROMISE_NOT_FOUND, SCHEDULE_NOT_FOUND = 4040, 4042
LOCK_NOT_FOUND, TASK_NOT_FOUND = 4043, 4044
PROMISE_EXISTS, SCHEDULE_EXISTS = 4090, 4091
STORE_FAILURE = 5002

#: The answers that say the store failed: v0.5's 5002, the 2026
#: protocol's 503 (DECISIONS 28).  The request may or may not have been
#: carried out.
FAILURES = (STORE_FAILURE, 503)

#: An empty param or value as the wire shows it.
EMPTY = "{}"

#: What the promise of a routed id starts with: it becomes a task.
ROUTED_PREFIX = "t/"


class Violation(Exception):
    """
    The server answered something the contract does not allow.
    """


@dataclass(frozen=True)
class Answer:
    """
    An answer as the model compares it: the 4-digit code (success codes are
    the HTTP status times ten) and the canonical JSON body of a success
    (L{None} for errors, whose envelope the runner checks; C{""} for no
    body).
    """

    code: int
    body: str = None

    def __str__(self):
        return f"{self.code} {self.body}" if self.body is not None else str(self.code)


def renderValue(wire):
    """
    A param or value as the server must render it: empty headers and empty
    data are omitted (contract 2.1), so an empty value is C{{}}.

    @param wire: the canonical JSON of the value as sent.
    @return: canonical JSON.
    """
    sent = json.loads(wire)
    rendered = {}
    if sent.get("headers"):
        rendered["headers"] = sent["headers"]
    data = sent.get("data")
    if data:
        rendered["data"] = base64.b64encode(base64.b64decode(data)).decode("ascii")
    return canonicalJSON(rendered)


@dataclass(frozen=True)
class PromiseFacts:
    """
    A promise as clients see it.  C{param} and C{value} are canonical JSON
    as rendered; C{tags} is a sorted tuple of pairs; C{seq} is the step
    that created it (search order is creation order).
    """

    id: str
    state: str
    timeout: int
    createdOn: int
    seq: int
    param: str = EMPTY
    value: str = EMPTY
    ikeyCreate: str = None
    ikeyComplete: str = None
    completedOn: int = None
    tags: tuple = ()

    @property
    def isTimer(self):
        tags = dict(self.tags)
        return any(tags.get(tag) == "true" for tag in TIMER_TAGS)

    def settled(self, now):
        """
        The promise at C{now}: timed out once C{now >= timeout} (inclusive),
        at its timeout, with no value and no completion key; a timer
        resolves instead of rejecting.
        """
        if self.state != PENDING or now < self.timeout:
            return self
        return replace(
            self,
            state=RESOLVED if self.isTimer else TIMEDOUT,
            value=EMPTY,
            ikeyComplete=None,
            completedOn=self.timeout,
        )

    def render(self):
        """
        The promise object (contract 2.2), as canonical JSON.
        """
        out = {
            "id": self.id,
            "state": self.state,
            "param": json.loads(self.param),
            "value": json.loads(self.value),
            "timeout": self.timeout,
            "createdOn": self.createdOn,
        }
        if self.ikeyCreate is not None:
            out["idempotencyKeyForCreate"] = self.ikeyCreate
        if self.ikeyComplete is not None:
            out["idempotencyKeyForComplete"] = self.ikeyComplete
        if self.completedOn is not None:
            out["completedOn"] = self.completedOn
        if self.tags:
            out["tags"] = dict(self.tags)
        return canonicalJSON(out)


@dataclass(frozen=True)
class TaskFacts:
    """
    A routed promise's task (contract 2.8, DECISIONS 13).
    """

    counter: int
    claimTimeout: int
    completeTimeout: int
    promiseTimeout: int
    createdOn: int
    isCompleted: bool = False
    completedOn: int = None

    def dispatchable(self, now):
        return (
            not self.isCompleted
            and self.claimTimeout < now
            and self.completeTimeout < now
            and self.promiseTimeout > now
        )


@dataclass(frozen=True)
class LockFacts:
    """
    A held lock (contract 2.6); C{expiresAt} is absolute.
    """

    processId: str
    executionId: str
    expiry: int
    expiresAt: int

    def expired(self, now):
        return now >= self.expiresAt

    def render(self, resourceId):
        return canonicalJSON({
            "resourceId": resourceId,
            "processId": self.processId,
            "executionId": self.executionId,
            "expiryInMilliseconds": self.expiry,
            "expiresAt": self.expiresAt,
        })


@dataclass(frozen=True)
class ScheduleFacts:
    """
    A schedule (contract 2.4).  C{seq} is the step that created it.
    """

    id: str
    cron: str
    promiseId: str
    promiseTimeout: int
    nextRunTime: int
    createdOn: int
    seq: int
    description: str = None
    tags: tuple = ()
    promiseParam: str = EMPTY
    promiseTags: tuple = ()
    lastRunTime: int = None
    ikey: str = None

    def render(self):
        out = {"id": self.id}
        if self.description:
            out["desc"] = self.description
        out["cron"] = self.cron
        out["tags"] = dict(self.tags)
        out["promiseId"] = self.promiseId
        out["promiseTimeout"] = self.promiseTimeout
        out["promiseParam"] = json.loads(self.promiseParam)
        if self.promiseTags:
            out["promiseTags"] = dict(self.promiseTags)
        if self.lastRunTime is not None:
            out["lastRunTime"] = self.lastRunTime
        out["nextRunTime"] = self.nextRunTime
        if self.ikey is not None:
            out["idempotencyKey"] = self.ikey
        out["createdOn"] = self.createdOn
        return canonicalJSON(out)

    def slotPromiseId(self, fireTime):
        """
        The id a slot's promise gets: Go template fields C{.id} and
        C{.timestamp} (the slot's time in ms), with or without spaces.
        """
        text = self.promiseId
        for name, value in (("id", self.id), ("timestamp", str(fireTime))):
            text = text.replace("{{." + name + "}}", value)
            text = text.replace("{{ ." + name + " }}", value)
        return text

    def fire(self, now, seq):
        """
        Fire every slot due at C{now}, missed ones one by one (contract 2.4
        and rule 8).

        @return: C{(schedule, [promise, ...])}: the schedule advanced past
            C{now} and the promises its slots create (if absent).
        """
        schedule, promises = self, []
        while schedule.nextRunTime <= now:
            slot = schedule.nextRunTime
            promiseId = schedule.slotPromiseId(slot)
            promise = PromiseFacts(
                id=promiseId,
                state=PENDING,
                timeout=slot + schedule.promiseTimeout,
                createdOn=slot,
                seq=seq,
                param=schedule.promiseParam,
                ikeyCreate=promiseId,
                tags=tuple(sorted(dict(
                    schedule.promiseTags,
                    **{"resonate:schedule": schedule.id,
                       "resonate:invocation": "true"},
                ).items())),
            )
            promises.append(promise.settled(now))
            schedule = replace(
                schedule, lastRunTime=slot, nextRunTime=cronNext(schedule.cron, slot)
            )
        return schedule, promises


@dataclass(frozen=True)
class Entity:
    """
    Everything kept under one id.
    """

    promise: PromiseFacts = None
    task: TaskFacts = None
    lock: LockFacts = None
    schedule: ScheduleFacts = None


NOTHING = Entity()


_DURATION = re.compile(r"(\d+)(ms|s|m|h)")
_UNIT = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


def cronNext(cron, after):
    """
    The first slot strictly after C{after} (ms), for the expressions the
    generator uses: C{@every <duration>} (whole seconds, at least one, from
    C{after} truncated to the second, as robfig/cron) and six-field
    expressions whose only restriction is the seconds field (C{*} or
    C{*/N}), which no time zone shifts.
    """
    if cron.startswith("@every "):
        total = sum(
            int(n) * _UNIT[unit] for n, unit in _DURATION.findall(cron[len("@every "):])
        )
        every = max(1000, total - total % 1000)
        return after - after % 1000 + every
    seconds, *rest = cron.split()
    if rest != ["*"] * 5:
        raise ValueError(f"the model does not know cron {cron!r}")
    step = 1 if seconds == "*" else int(seconds[len("*/"):])
    second = after // 1000 + 1
    while (second % 60) % step:
        second += 1
    return second * 1000


def patternMatches(pattern, text):
    """
    Search patterns: C{*} matches any run of characters, every other
    character only itself (DECISIONS 6: C{_} and C{%} too).
    """
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text, re.DOTALL) is not None


def isRouted(promiseId):
    """
    Whether a promise id matches the simulation's one route, C{/t/*}.
    """
    return promiseId.startswith(ROUTED_PREFIX)


# One request on one entity: what each may answer, and what it leaves.
# Every function returns a list of (Answer, Entity) outcomes.

def _createPromise(e, r, now, seq):
    p = e.promise
    if p is None:
        new = PromiseFacts(
            id=r.key, state=PENDING, timeout=r.timeout, createdOn=now, seq=seq,
            param=renderValue(r.param), ikeyCreate=r.ikey, tags=r.tags,
        )
        task = e.task
        if isRouted(r.key):
            task = TaskFacts(
                counter=0, claimTimeout=now, completeTimeout=0,
                promiseTimeout=r.timeout, createdOn=now,
            )
        # The answer shows the promise as inserted, pending even when its
        # timeout has passed already (contract 2.3); from then on it is
        # seen timed out.
        return [(Answer(CREATED, new.render()),
                 replace(e, promise=new.settled(now), task=task))]
    if r.ikey is not None and r.ikey == p.ikeyCreate and not (
        r.strict and p.state != PENDING
    ):
        return [(Answer(OK, p.render()), e)]
    return [(Answer(PROMISE_EXISTS), e)]


def _readPromise(e, r, now, seq):
    if e.promise is None:
        return [(Answer(PROMISE_NOT_FOUND), e)]
    return [(Answer(OK, e.promise.render()), e)]


def _completePromise(e, r, now, seq):
    p = e.promise
    if p is None:
        return [(Answer(PROMISE_NOT_FOUND), e)]
    if p.state == PENDING:
        new = replace(
            p, state=r.state, value=renderValue(r.value), ikeyComplete=r.ikey,
            completedOn=now,
        )
        return [(Answer(CREATED, new.render()), replace(e, promise=new))]
    keysMatch = r.ikey is not None and r.ikey == p.ikeyComplete
    if r.strict:
        deduplicated = keysMatch and p.state == r.state
    else:
        deduplicated = keysMatch or p.state == TIMEDOUT
    if deduplicated:
        return [(Answer(OK, p.render()), e)]
    return [(Answer(ALREADY[p.state]), e)]


def _createSchedule(e, r, now, seq):
    s = e.schedule
    if s is None:
        new = ScheduleFacts(
            id=r.key, cron=r.cron, promiseId=r.promiseId,
            promiseTimeout=r.promiseTimeout, nextRunTime=cronNext(r.cron, now),
            createdOn=now, seq=seq, description=r.description, tags=r.tags,
            promiseParam=renderValue(r.promiseParam), promiseTags=r.promiseTags,
            ikey=r.ikey,
        )
        return [(Answer(CREATED, new.render()), replace(e, schedule=new))]
    if r.ikey is not None and r.ikey == s.ikey:
        return [(Answer(OK, s.render()), e)]
    return [(Answer(SCHEDULE_EXISTS), e)]


def _readSchedule(e, r, now, seq):
    if e.schedule is None:
        return [(Answer(SCHEDULE_NOT_FOUND), e)]
    return [(Answer(OK, e.schedule.render()), e)]


def _deleteSchedule(e, r, now, seq):
    if e.schedule is None:
        return [(Answer(SCHEDULE_NOT_FOUND), e)]
    return [(Answer(NO_CONTENT, ""), replace(e, schedule=None))]


def _acquireLock(e, r, now, seq):
    held = e.lock
    if held is None or held.executionId == r.executionId or held.expired(now):
        lock = LockFacts(r.processId, r.executionId, r.expiry, now + r.expiry)
        return [(Answer(CREATED, lock.render(r.key)), replace(e, lock=lock))]
    return [(Answer(LOCK_HELD), e)]


def _releaseLock(e, r, now, seq):
    if e.lock is not None and e.lock.executionId == r.executionId:
        return [(Answer(NO_CONTENT, ""), replace(e, lock=None))]
    return [(Answer(LOCK_NOT_FOUND), e)]


def _taskCheck(task, counter, window, now):
    """
    The checks claim and complete share, in the contract's order.
    """
    if task is None:
        return TASK_NOT_FOUND
    if task.promiseTimeout < now or window < now:
        return TASK_TIMED_OUT
    if task.counter != counter:
        return TASK_BAD_COUNTER
    if task.isCompleted:
        return TASK_COMPLETED
    return None


def _claimTask(e, r, now, seq):
    t = e.task
    error = _taskCheck(t, r.counter, t and t.claimTimeout, now)
    if error is not None:
        return [(Answer(error), e)]
    held = e.lock
    if held is not None and held.executionId != r.executionId and not held.expired(now):
        return [(Answer(LOCK_HELD), e)]
    lock = LockFacts(r.processId, r.executionId, r.expiry, now + r.expiry)
    leased = replace(t, completeTimeout=now + r.expiry)
    return [(Answer(OK, e.promise.render()), replace(e, lock=lock, task=leased))]


def _completeTask(e, r, now, seq):
    t = e.task
    error = _taskCheck(t, r.counter, t and t.completeTimeout, now)
    if error is not None:
        return [(Answer(error), e)]
    if e.promise.state != PENDING:
        # Settled elsewhere, or timed out: 403, and nothing changes
        # (DECISIONS 3).
        return [(Answer(TASK_COMPLETED), e)]
    promise = replace(
        e.promise, state=r.state, value=renderValue(r.value), completedOn=now
    )
    lock = e.lock
    if lock is not None and lock.executionId == r.executionId:
        lock = None
    task = replace(t, isCompleted=True, completedOn=now)
    return [(Answer(OK, "null"), replace(e, promise=promise, task=task, lock=lock))]


def _invalid(e, r, now, seq):
    return [(Answer(INVALID), e)]


_ORACLES = {
    R.CreatePromise: _createPromise,
    R.ReadPromise: _readPromise,
    R.CompletePromise: _completePromise,
    R.CreateSchedule: _createSchedule,
    R.ReadSchedule: _readSchedule,
    R.DeleteSchedule: _deleteSchedule,
    R.AcquireLock: _acquireLock,
    R.ReleaseLock: _releaseLock,
    R.ClaimTask: _claimTask,
    R.CompleteTask: _completeTask,
    R.Invalid: _invalid,
}


def _narrowBySum(options, total):
    """
    Keep, for each entity, the options whose contribution can be part of
    a choice of one option per entity adding up to C{total}.

    @param options: per entity, a list of C{(contribution, outcome)}.
    @return: per entity, the kept outcomes.
    @raise Violation: no choice adds up to C{total}.
    """
    prefix = [{0}]
    for opts in options:
        prefix.append({a + c for a in prefix[-1] for c, _ in opts})
    suffix = [{0}]
    for opts in reversed(options):
        suffix.append({a + c for a in suffix[-1] for c, _ in opts})
    suffix.reverse()
    if total not in prefix[-1]:
        raise Violation(
            f"answered {total}; possible: {sorted(prefix[-1])}"
        )
    return [
        [
            outcome for c, outcome in opts
            if any(total - c - a in suffix[i + 1] for a in prefix[i])
        ]
        for i, opts in enumerate(options)
    ]


class Model:
    """
    What the model knows: for each id, the set of L{Entity} states it may
    be in; and the time.

    @ivar now: the model's clock, epoch ms.
    """

    def __init__(self, now):
        self.now = now
        self._entities = {}

    def possible(self, key):
        """
        The states C{key} may be in (a C{frozenset} of L{Entity}, or of
        L{model2026.Family} for a family's key).
        """
        return self._entities.get(key, frozenset([_nothing(key)]))

    def keys(self):
        return sorted(self._entities)

    def uncertainty(self):
        """
        The most states any one id may be in.
        """
        return max((len(s) for s in self._entities.values()), default=1)

    def _set(self, key, states):
        states = frozenset(states)
        if states == frozenset([_nothing(key)]):
            self._entities.pop(key, None)
        else:
            self._entities[key] = states

    def advance(self, now):
        """
        Move the clock to C{now}; promises whose timeout it reaches are
        seen timed out from then on.
        """
        if now < self.now:
            raise ValueError("time runs forward")
        self.now = now
        for key, states in list(self._entities.items()):
            self._set(key, {_settle(e, now) for e in states})

    # Requests on one id

    def judge(self, request, answer, seq):
        """
        Check the answer to a request on one id and learn from it.

        @param answer: the L{Answer} the server gave.
        @param seq: the step number (creation order).
        @raise Violation: no state the id may be in allows the answer.
        """
        key = model2026.modelKey(request.key)
        if isinstance(request, R.Rpc):
            oracle = model2026.judgeRpc
            what = request.kind
        elif model2026.isFamilyKey(key):
            oracle = model2026.V05[type(request).__name__]
            what = type(request).__name__
        else:
            oracle = _ORACLES[type(request)]
            what = type(request).__name__
        before = self.possible(key)
        outcomes = [
            outcome for e in before for outcome in oracle(e, request, self.now, seq)
        ]
        if answer.code in FAILURES:
            # Carried out or not: the client cannot tell.
            self._set(key, before | {e for _, e in outcomes})
            return
        after = {e for a, e in outcomes if a == answer}
        if not after:
            expected = sorted({str(a) for a, _ in outcomes})
            raise Violation(
                f"{what} {request.key!r}: answered {answer}; "
                f"legal: {expected}"
            )
        self._set(key, after)

    # Requests and sweeps on many ids

    def judgePromiseSearch(self, search, listing):
        """
        Check a promise search's full listing (every page, in order): every
        id the pattern matches is listed exactly when it exists in a state
        and with tags the search asks for, with the body it has; newest
        first.

        @param listing: a list of rendered promises (dicts).
        """
        states = SEARCH_GROUPS[search.state and search.state.lower()]
        tags = dict(search.tags)
        pattern = search.pattern
        what = "search promises"

        def selected(p):
            return p.state in states and all(
                dict(p.tags).get(k) == v for k, v in tags.items()
            )

        listed, order = self._listed(what, pattern, listing)
        keys = set(self._entities) | {model2026.modelKey(i) for i in listed}
        narrowed = {}
        for key in sorted(keys):

            def shown(e):
                # What the listing must show of each id of the key's
                # entity the pattern matches: its rendering, or nothing.
                seen = _promisesSeen(key, e, self.now)
                ids = {i for i in seen if patternMatches(pattern, i)}
                ids |= {i for i in listed if model2026.modelKey(i) == key}
                return {
                    i: seen[i].render() if i in seen and selected(seen[i])
                    else "(not listed)"
                    for i in ids
                }

            before = self.possible(key)
            after = set()
            for e in before:
                expected = shown(e)
                if all(listed.get(i, "(not listed)") == v for i, v in expected.items()):
                    after.add(e)
            if not after:
                legal = sorted({str(sorted(shown(e).items())) for e in before})
                shows = sorted(
                    (i, listed.get(i, "(not listed)"))
                    for i in set().union(*(shown(e) for e in before))
                )
                raise Violation(
                    f"{what} {pattern!r}: {key!r} shows {shows}; legal: {legal}"
                )
            narrowed[key] = after
        for key, after in narrowed.items():
            self._set(key, after)

        def seqs(promiseId):
            key = model2026.modelKey(promiseId)
            return [
                seen[promiseId].seq
                for e in self.possible(key)
                for seen in [_promisesSeen(key, e, self.now)]
                if promiseId in seen
            ]

        self._checkOrder(what, pattern, order, seqs)

    def judgeScheduleSearch(self, search, listing):
        """
        Check a schedule search's full listing, as for promises.
        """
        tags = dict(search.tags)

        def selected(e):
            s = e.schedule
            return s is not None and all(
                dict(s.tags).get(k) == v for k, v in tags.items()
            )

        self._judgeListing(
            "search schedules", search.pattern, listing, selected,
            lambda e: e.schedule.render(), lambda e: e.schedule.seq,
        )

    def _listed(self, what, pattern, listing):
        """
        A listing's items by id (canonical JSON) and its order, each id
        once and matching the pattern.
        """
        listed = {}
        order = []
        for item in listing:
            key = item.get("id")
            if key in listed:
                raise Violation(f"{what} {pattern!r}: {key!r} listed twice")
            listed[key] = canonicalJSON(item)
            order.append(key)
        for key in listed:
            if not patternMatches(pattern, key):
                raise Violation(f"{what} {pattern!r}: lists {key!r}")
        return listed, order

    def _checkOrder(self, what, pattern, order, seqs):
        """
        Newest first: a later creation (larger step) is never listed after
        an earlier one.  One step's creations may come in any order.

        @param seqs: the steps an id may have been created at.
        """
        for before, after in zip(order, order[1:]):
            newest = max(seqs(before))
            oldest = min(seqs(after))
            if newest < oldest:
                raise Violation(
                    f"{what} {pattern!r}: {before!r} (created at step "
                    f"{newest}) listed before {after!r} (step {oldest})"
                )

    def _judgeListing(self, what, pattern, listing, selected, render, seq):
        listed, order = self._listed(what, pattern, listing)
        narrowed = {}
        for key in set(self._entities) | set(listed):
            if not patternMatches(pattern, key):
                continue
            before = self.possible(key)
            if key in listed:
                after = {
                    e for e in before if selected(e) and render(e) == listed[key]
                }
            else:
                after = {e for e in before if not selected(e)}
            if not after:
                legal = sorted(
                    render(e) if selected(e) else "(not listed)" for e in before
                )
                shown = listed.get(key, "(not listed)")
                raise Violation(
                    f"{what} {pattern!r}: {key!r} shows {shown}; legal: {legal}"
                )
            narrowed[key] = after
        for key, after in narrowed.items():
            self._set(key, after)
        self._checkOrder(
            what, pattern, order,
            lambda key: [seq(e) for e in self.possible(key)],
        )

    def judgeHeartbeat(self, processId, answer):
        """
        A heartbeat extends every lock row of the process, expired or not,
        to C{now + expiry} and counts them (contract 2.6, rule 9).

        @param answer: the count, or L{None} after a store failure.
        """
        def beat(e):
            lock = e.lock
            if lock is not None and lock.processId == processId:
                return 1, replace(e, lock=replace(lock, expiresAt=self.now + lock.expiry))
            return 0, e

        self._judgeCount(f"heartbeat {processId!r}", answer, beat)

    def judgeLockSweep(self, answer):
        """
        The lock sweep deletes every expired lock and counts them.
        """
        def sweep(e):
            if e.lock is not None and e.lock.expired(self.now):
                return 1, replace(e, lock=None)
            return 0, e

        self._judgeCount("lock sweep", answer, sweep)

    def _judgeCount(self, what, answer, effect):
        keys = sorted(self._entities)
        options = [
            [(c, (e, new)) for e in self.possible(key) for c, new in [effect(e)]]
            for key in keys
        ]
        if answer is None:
            for key, opts in zip(keys, options):
                self._set(key, {e for _, (e, _) in opts} | {n for _, (_, n) in opts})
            return
        try:
            kept = _narrowBySum(options, answer)
        except Violation as e:
            raise Violation(f"{what}: {e}")
        for key, outcomes in zip(keys, kept):
            self._set(key, {new for _, new in outcomes})

    def judgePromiseSweep(self, answer, limit):
        """
        The promise timeout sweep writes the transitions clients already
        see; it can only count promises that are timed out by now, at most
        C{limit}.
        """
        families = [k for k in sorted(self._entities) if model2026.isFamilyKey(k)]
        if answer is not None:
            timedOut = sum(
                1 for key in self._entities
                if any(
                    e.promise is not None and e.promise.completedOn is not None
                    and e.promise.completedOn == e.promise.timeout
                    and e.promise.ikeyComplete is None
                    and e.promise.state in (TIMEDOUT, RESOLVED)
                    for e in self.possible(key)
                )
            )
            # A family's overdue promises are not written yet.
            timedOut += sum(
                max(len(f.overdue(self.now)) for f in self.possible(key))
                for key in families
            )
            if not 0 <= answer <= min(limit, timedOut):
                raise Violation(
                    f"promise sweep: timed out {answer}; at most "
                    f"{min(limit, timedOut)} can be due"
                )
        # Fewer than the limit: there were no more overdue promises, so
        # every one was written timed out, with its settlement chain.
        everything = answer is not None and answer < limit
        for key in families:
            self._set(key, {
                outcome for f in self.possible(key)
                for outcome in model2026.sweepOutcomes(
                    f, self.now, limit, everything
                )
            })

    def judgeTaskExpiry(self, answer):
        """
        The task timer sweep acts on every due timer (section 9.2) and
        counts them.

        @param answer: the count, or L{None} after a store failure.
        """
        def expire(e):
            if isinstance(e, model2026.Family):
                return model2026.expire(e, self.now)
            return 0, e

        self._judgeCount("task timer sweep", answer, expire)

    def judgeHeartbeat2026(self, heartbeat, failed):
        """
        C{task.heartbeat} answered 200 C{{}} (or 503: renewed or not).
        """
        byKey = {}
        for taskId, version in heartbeat.tasks:
            byKey.setdefault(model2026.modelKey(taskId), []).append((taskId, version))
        for key, entries in sorted(byKey.items()):
            before = self.possible(key)
            after = {
                model2026.heartbeat(f, heartbeat.pid, entries, self.now)
                for f in before
            }
            self._set(key, after | before if failed else after)

    def judgeFire(self, answer, seq):
        """
        Firing schedules fires every due slot, each creating its promise
        unless the id exists, and counts the slots.

        @param answer: the count, or L{None} after a store failure.
        """
        keys = [k for k in sorted(self._entities)
                if any(e.schedule is not None for e in self.possible(k))]
        options = []
        for key in keys:
            opts = []
            for e in self.possible(key):
                if e.schedule is None:
                    opts.append((0, (e, e, ())))
                    continue
                schedule, promises = e.schedule.fire(self.now, seq)
                opts.append((len(promises), (e, replace(e, schedule=schedule), promises)))
            options.append(opts)
        if answer is None:
            kept = [[o for _, o in opts] for opts in options]
            keepOld = True
        else:
            try:
                kept = _narrowBySum(options, answer)
            except Violation as e:
                raise Violation(f"fire schedules: {e}")
            keepOld = False
        for key, outcomes in zip(keys, kept):
            states = {new for _, new, _ in outcomes}
            if keepOld:
                states |= {old for old, _, _ in outcomes}
            self._set(key, states)
            # Each slot's promise id belongs to this schedule alone; it is
            # inserted unless it exists.
            firings = [{p.id: p for p in promises} for _, _, promises in outcomes]
            for promiseId in sorted(set().union(*firings)):
                before = self.possible(promiseId)
                states = set(before) if keepOld else set()
                for made in firings:
                    if promiseId not in made:
                        states |= before
                        continue
                    states |= {
                        e if e.promise is not None
                        else replace(e, promise=made[promiseId])
                        for e in before
                    }
                self._set(promiseId, states)

    def judgeDispatch(self, offered, claimWindow):
        """
        Dispatch offers every dispatchable task whose promise is pending,
        with the next counter and a claim window from now, oldest first;
        one whose promise is completed is marked completed instead.

        @param offered: the offered tasks as dicts (C{id}, C{counter},
            C{claimTimeout}, C{completeTimeout}, C{promiseTimeout},
            C{createdOn}), or L{None} after a store failure.
        """
        def dispatch(e):
            t = e.task
            if t is None or not t.dispatchable(self.now):
                return None, e
            if e.promise.state != PENDING:
                return None, replace(
                    e, task=replace(t, isCompleted=True, completedOn=self.now)
                )
            new = replace(t, counter=t.counter + 1, claimTimeout=self.now + claimWindow)
            return new, replace(e, task=new)

        keys = [k for k in sorted(self._entities)
                if any(e.task is not None for e in self.possible(k))]
        if offered is None:
            for key in keys:
                before = self.possible(key)
                self._set(key, before | {dispatch(e)[1] for e in before})
            return
        shown = {}
        for item in offered:
            if item["id"] in shown:
                raise Violation(f"dispatch offers {item['id']!r} twice")
            shown[item["id"]] = item
        unknown = set(shown) - set(keys)
        if unknown:
            raise Violation(f"dispatch offers unknown tasks {sorted(unknown)}")
        order = [(item["createdOn"], item["id"]) for item in offered]
        if order != sorted(order):
            raise Violation(f"dispatch offers out of order: {order}")
        for key in keys:
            outcomes = [dispatch(e) for e in self.possible(key)]
            if key in shown:
                item = shown[key]
                after = {
                    e for t, e in outcomes
                    if t is not None and _taskDict(key, t) == item
                }
            else:
                after = {e for t, e in outcomes if t is None}
            if not after:
                legal = sorted(
                    str(_taskDict(key, t)) if t else "(not offered)"
                    for t, _ in outcomes
                )
                raise Violation(
                    f"dispatch: task {key!r} shows "
                    f"{shown.get(key, '(not offered)')}; legal: {legal}"
                )
            self._set(key, after)


def _taskDict(key, task):
    return {
        "id": key,
        "counter": task.counter,
        "claimTimeout": task.claimTimeout,
        "completeTimeout": task.completeTimeout,
        "promiseTimeout": task.promiseTimeout,
        "createdOn": task.createdOn,
    }


def _settle(e, now):
    # A family keeps its promises as stored (model2026).
    if e.promise is None:
        return e
    settled = e.promise.settled(now)
    return e if settled is e.promise else replace(e, promise=settled)


def _nothing(key):
    """
    The state of a key nothing has happened to.
    """
    return model2026.EMPTY_FAMILY if model2026.isFamilyKey(key) else NOTHING


def _promisesSeen(key, e, now):
    """
    The promises under C{key} as clients see them at C{now}, by id.
    """
    if isinstance(e, model2026.Family):
        return e.seen(now)
    return {} if e.promise is None else {key: e.promise}


# At the end: model2026 builds on this module's values.
from resonate.testing.dst import model2026  # noqa: E402
