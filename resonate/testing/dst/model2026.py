# -*- test-case-name: tests.integration.test_dst -*-
"""
The oracle of the 2026 protocol's kinds, written from protocol-2026.md
sections 2-9 and DECISIONS 23-32 alone (like L{resonate.testing.dst.model},
it imports nothing of the server).

Callbacks link promises of one origin (section 5: register_callback and
suspend refuse others), so the model keeps every promise of one origin
C{w/G.n} (the root C{w/G.n} and its children C{w/G.n:k}), their 2026 tasks
and the callbacks among them as one L{Family}: the unit the model keeps
possible states of, and the key requests on distinct entities are told
apart by.  v0.5 requests on those ids are judged here too, so that the
model sees one promise row whichever protocol touches it (DECISIONS 23).

A family keeps its promises as stored, not as clients see them: a pending
promise past its timeout is I{overdue}.  Every read answers it as timed out
(DECISIONS 27), but its settlement chain (section 9.4: its task fulfilled,
its awaiters woken) happens only when something writes the timeout: a
request that names it (section 7's try_timeout; a v0.5 read, create or
complete) or the background sweep.  Until then a task suspended on it is
still suspended, and the model knows that.

Listeners and the outbox are not modelled: nothing a client reads shows
them (an C{unblock} goes to a worker, not back to the caller).  Task timers
are, because the task timer sweep's count and a lease's end show them.
"""

import itertools
import json
from dataclasses import dataclass, replace

from resonate.testing.dst.model import (
    CANCELED,
    PENDING,
    REJECTED,
    RESOLVED,
    TIMEDOUT,
    Answer,
    Entity,
    PromiseFacts,
    _completePromise,
    _createPromise,
    renderValue,
)
from resonate.testing.dst.requests import VERSION_2026, canonicalJSON

#: Where the ids of families start; the origin of an id is the text
#: before its first C{:} (section 5).
FAMILY_PREFIX = "w/"

#: How long a pending task waits before its C{execute} is sent again (ms);
#: the runner gives the server the same.
RETRY = 30_000

TARGET = "resonate:target"
TIMER = "resonate:timer"
DELAY = "resonate:delay"
BRANCH = "resonate:branch"

# Task states (section 9.1).
T_PENDING = "pending"
ACQUIRED = "acquired"
SUSPENDED = "suspended"
HALTED = "halted"
FULFILLED = "fulfilled"

# Statuses (section 2).
OK = 200
REDIRECT = 300
NOT_FOUND = 404
CONFLICT = 409
UNPROCESSABLE = 422
UNAVAILABLE = 503

#: Promise states on the 2026 wire (section 3).
WIRE_STATES = {
    PENDING: "pending",
    RESOLVED: "resolved",
    REJECTED: "rejected",
    CANCELED: "rejected_canceled",
    TIMEDOUT: "rejected_timedout",
}

#: The states C{promise.settle} and C{task.fulfill} ask for.
SETTLE_STATES = {
    "resolved": RESOLVED,
    "rejected": REJECTED,
    "rejected_canceled": CANCELED,
}

#: What an inner error's message is shown as: its text is not the
#: contract's, only that it is a string.
MESSAGE = "(message)"


def isFamilyKey(key):
    return key.startswith(FAMILY_PREFIX)


def modelKey(promiseId):
    """
    The model's key of an id: its origin for a family's id, else itself.
    """
    if isFamilyKey(promiseId):
        return promiseId.split(":", 1)[0]
    return promiseId


@dataclass(frozen=True)
class Task2026:
    """
    A 2026 task (section 3, 9): C{timerAt} is its one timer, the retry
    while pending, the lease's end while acquired (section 9.2).
    """

    state: str
    version: int
    pid: str = None
    ttl: int = None
    timerAt: int = None


@dataclass(frozen=True)
class Family:
    """
    The promises of one origin, as stored, their 2026 tasks and the
    callbacks among them.

    @ivar promises: sorted C{(id, PromiseFacts)} pairs.
    @ivar tasks: sorted C{(id, Task2026)} pairs.
    @ivar callbacks: C{(awaited, awaiter, ready)} triples, one per pair.
    """

    promises: tuple = ()
    tasks: tuple = ()
    callbacks: frozenset = frozenset()

    # What the code that looks at every key reads of an Entity: a family
    # has none of them.
    promise = None
    task = None
    lock = None
    schedule = None

    def getPromise(self, promiseId):
        return dict(self.promises).get(promiseId)

    def withPromise(self, promise):
        promises = dict(self.promises)
        promises[promise.id] = promise
        return replace(self, promises=tuple(sorted(promises.items())))

    def getTask(self, taskId):
        return dict(self.tasks).get(taskId)

    def withTask(self, taskId, task):
        tasks = dict(self.tasks)
        tasks[taskId] = task
        return replace(self, tasks=tuple(sorted(tasks.items())))

    def resumes(self, taskId):
        return sum(1 for _, w, ready in self.callbacks if w == taskId and ready)

    def overdue(self, now):
        """
        The ids of the promises pending past their timeout, not yet
        written timed out.
        """
        return [
            i for i, p in self.promises if p.state == PENDING and now >= p.timeout
        ]

    def seen(self, now):
        """
        The promises as clients see them at C{now}, by id.
        """
        return {i: p.settled(now) for i, p in self.promises}


EMPTY_FAMILY = Family()


# Transitions every operation shares.


def _offered(task, now):
    """
    Pending at its version with a retry timer (and an C{execute}).
    """
    return Task2026(T_PENDING, task.version, timerAt=now + RETRY)


def _acquired(f, taskId, task, pid, ttl, now):
    """
    Acquired at version + 1 with a lease, its ready callbacks cleared.
    """
    f = _deleteReady(f, taskId)
    return f.withTask(taskId, Task2026(ACQUIRED, task.version + 1, pid, ttl, now + ttl))


def _deleteReady(f, awaiter):
    return replace(
        f,
        callbacks=frozenset(c for c in f.callbacks if not (c[1] == awaiter and c[2])),
    )


def _addCallback(f, awaited, awaiter, ready):
    if any(a == awaited and w == awaiter for a, w, _ in f.callbacks):
        return f
    return replace(f, callbacks=f.callbacks | {(awaited, awaiter, ready)})


def chain(f, promiseId, now):
    """
    The settlement chain of a promise just settled (section 9.4): its own
    task fulfilled and its callbacks as awaiter deleted; its callbacks
    ready, each suspended awaiter pending again (listeners: not modelled).
    """
    own = f.getTask(promiseId)
    callbacks = f.callbacks
    if own is not None and own.state != FULFILLED:
        f = f.withTask(promiseId, Task2026(FULFILLED, own.version))
        callbacks = frozenset(c for c in callbacks if c[1] != promiseId)
    waiting = sorted({w for a, w, ready in callbacks if a == promiseId and not ready})
    callbacks = frozenset(
        (a, w, True) if a == promiseId else (a, w, ready) for a, w, ready in callbacks
    )
    f = replace(f, callbacks=callbacks)
    for awaiter in waiting:
        task = f.getTask(awaiter)
        if task is not None and task.state == SUSPENDED:
            f = f.withTask(awaiter, _offered(task, now))
    return f


def process(f, promiseId, now):
    """
    try_timeout (section 7): write the timeout of an overdue promise, with
    its settlement chain.
    """
    p = f.getPromise(promiseId)
    if p is None or p.state != PENDING or now < p.timeout:
        return f
    return chain(f.withPromise(p.settled(now)), promiseId, now)


def sweepOutcomes(f, now, limit, everything):
    """
    What the promise timeout sweep may have left of C{f}: every overdue
    promise written timed out when C{everything}; else any C{limit} of
    them or fewer (a sweep is all or nothing, but another family may have
    taken the limit).
    """
    due = f.overdue(now)
    if everything:
        for promiseId in due:
            f = process(f, promiseId, now)
        return {f}
    outcomes = set()
    for size in range(min(limit, len(due)) + 1):
        for chosen in itertools.combinations(due, size):
            g = f
            for promiseId in chosen:
                g = process(g, promiseId, now)
            outcomes.add(g)
    return outcomes


def expire(f, now):
    """
    The task timer sweep (section 9.2): each due retry re-armed, each
    ended lease back to pending.

    @return: C{(timers acted on, family)}.
    """
    count = 0
    for taskId, task in f.tasks:
        if task.timerAt is not None and now >= task.timerAt:
            count += 1
            f = f.withTask(taskId, _offered(task, now))
    return count, f


def heartbeat(f, pid, entries, now):
    """
    C{task.heartbeat} (section 7.14, DECISIONS 25): each task acquired at
    the entry's version by C{pid} has its lease renewed by the ttl given at
    acquire; the rest are ignored.
    """
    renewed = set()
    for taskId, version in entries:
        task = f.getTask(taskId)
        if (
            task is None or taskId in renewed or task.state != ACQUIRED
            or task.version != version or task.pid != pid
        ):
            continue
        renewed.add(taskId)
        f = f.withTask(taskId, replace(task, timerAt=now + task.ttl))
    return f


# Rendering (section 3).


def renderPromise(p, now):
    """
    A promise record as of C{now}: C{settledAt} only once settled.
    """
    seen = p.settled(now)
    out = {
        "id": seen.id,
        "state": WIRE_STATES[seen.state],
        "param": json.loads(seen.param),
        "value": json.loads(seen.value),
        "tags": dict(seen.tags),
        "timeoutAt": seen.timeout,
        "createdAt": seen.createdOn,
    }
    if seen.state != PENDING:
        out["settledAt"] = seen.completedOn
    return out


def renderTask(f, taskId):
    """
    A task record: C{ttl} and C{pid} only while acquired.
    """
    task = f.getTask(taskId)
    out = {
        "id": taskId,
        "state": task.state,
        "version": task.version,
        "resumes": f.resumes(taskId),
    }
    if task.state == ACQUIRED:
        out["ttl"] = task.ttl
        out["pid"] = task.pid
    return out


def preload(f, taskId, now):
    """
    Section 9.5: the other promises of the task promise's branch, by id.
    """
    branch = dict(f.getPromise(taskId).tags).get(BRANCH)
    if branch is None:
        return []
    return [
        renderPromise(p, now) for i, p in f.promises
        if i != taskId and dict(p.tags).get(BRANCH) == branch
    ]


def _ok(f, data, status=OK):
    return [(Answer(status, canonicalJSON(data)), f)]


def _error(f, status):
    return [(Answer(status), f)]


def _heldAt(task, version):
    """
    The 404/409 of the operations that need the task acquired at the
    caller's version, or L{None}.
    """
    if task is None:
        return NOT_FOUND
    if task.state != ACQUIRED or task.version != version:
        return CONFLICT
    return None


# The 2026 kinds (section 7).  Each takes the family, the request's data,
# now, the step and the corrId, and returns (Answer, Family) outcomes.


def _newPromise(d, now, seq):
    """
    The promise a create of a new id stores (section 7.2): settled by
    timeout, created and settled at its timeout, when C{now} is past it.
    """
    timeout = d["timeoutAt"]
    p = PromiseFacts(
        id=d["id"], state=PENDING, timeout=timeout, createdOn=now, seq=seq,
        param=renderValue(canonicalJSON(d.get("param", {}))),
        tags=tuple(sorted(d.get("tags", {}).items())),
    )
    if now >= timeout:
        p = replace(p, createdOn=timeout).settled(timeout)
    return p


def _create(f, d, now, seq):
    """
    C{promise.create}'s effect: the stored promise unchanged if the id
    exists, else the new one with its task when it has a target.

    @return: C{(family, promise)}.
    """
    promiseId = d["id"]
    f = process(f, promiseId, now)
    existing = f.getPromise(promiseId)
    if existing is not None:
        return f, existing
    p = _newPromise(d, now, seq)
    f = f.withPromise(p)
    tags = dict(p.tags)
    if TARGET in tags:
        if p.state != PENDING:
            task = Task2026(FULFILLED, 0)
        else:
            delay = tags.get(DELAY)
            at = int(delay) if delay is not None and int(delay) > now else now + RETRY
            task = Task2026(T_PENDING, 0, timerAt=at)
        f = f.withTask(promiseId, task)
    return f, p


def _settle(f, d, now):
    """
    C{promise.settle}'s effect.

    @return: C{(family, promise or None)}.
    """
    promiseId = d["id"]
    f = process(f, promiseId, now)
    p = f.getPromise(promiseId)
    if p is None or p.state != PENDING:
        return f, p
    settled = replace(
        p, state=SETTLE_STATES[d["state"]],
        value=renderValue(canonicalJSON(d.get("value", {}))), completedOn=now,
    )
    return chain(f.withPromise(settled), promiseId, now), settled


def _read(f, promiseId, now):
    """
    try_timeout, then 404 or the promise: C{promise.get}, and the answer
    of C{promise.register_listener} (its listener is not modelled).
    """
    f = process(f, promiseId, now)
    p = f.getPromise(promiseId)
    if p is None:
        return _error(f, NOT_FOUND)
    return _ok(f, {"promise": renderPromise(p, now)})


def promiseGet(f, d, now, seq, corrId):
    return _read(f, d["id"], now)


def promiseCreate(f, d, now, seq, corrId):
    f, p = _create(f, d, now, seq)
    return _ok(f, {"promise": renderPromise(p, now)})


def promiseSettle(f, d, now, seq, corrId):
    f, p = _settle(f, d, now)
    if p is None:
        return _error(f, NOT_FOUND)
    return _ok(f, {"promise": renderPromise(p, now)})


def registerCallback(f, d, now, seq, corrId):
    awaited, awaiter = d["awaited"], d["awaiter"]
    f = process(process(f, awaited, now), awaiter, now)
    pa, pw, task = f.getPromise(awaited), f.getPromise(awaiter), f.getTask(awaiter)
    if pa is None:
        return _error(f, NOT_FOUND)
    if pw is None or task is None or TARGET not in dict(pw.tags):
        return _error(f, UNPROCESSABLE)
    if pw.state == PENDING:
        if pa.state == PENDING:
            f = _addCallback(f, awaited, awaiter, False)
        else:
            if task.state == SUSPENDED:
                task = _offered(task, now)
                f = f.withTask(awaiter, task)
            if task.state in (T_PENDING, ACQUIRED):
                f = _addCallback(f, awaited, awaiter, True)
    return _ok(f, {"promise": renderPromise(pa, now)})


def registerListener(f, d, now, seq, corrId):
    return _read(f, d["awaited"], now)


def taskGet(f, d, now, seq, corrId):
    f, taskId, task = _named(f, d, now)
    if task is None:
        return _error(f, NOT_FOUND)
    return _ok(f, {"task": renderTask(f, taskId)})


def _acquiredAnswer(f, taskId, now, withPreload=True):
    return _ok(f, {
        "task": renderTask(f, taskId),
        "promise": renderPromise(f.getPromise(taskId), now),
        "preload": preload(f, taskId, now) if withPreload else [],
    })


def taskCreate(f, d, now, seq, corrId):
    inner = d["action"]["data"]
    taskId = inner["id"]
    f = process(f, taskId, now)
    p = f.getPromise(taskId)
    if p is None:
        p = _newPromise(inner, now, seq)
        f = f.withPromise(p)
        if p.state != PENDING:
            f = f.withTask(taskId, Task2026(FULFILLED, 0))
            return _acquiredAnswer(f, taskId, now, withPreload=False)
        f = f.withTask(
            taskId, Task2026(ACQUIRED, 1, d["pid"], d["ttl"], now + d["ttl"])
        )
        return _acquiredAnswer(f, taskId, now)
    task = f.getTask(taskId)
    if task is None:
        return _error(f, UNPROCESSABLE)
    if task.state == FULFILLED:
        return _acquiredAnswer(f, taskId, now, withPreload=False)
    if task.state != T_PENDING:
        return _error(f, CONFLICT)
    f = _acquired(f, taskId, task, d["pid"], d["ttl"], now)
    return _acquiredAnswer(f, taskId, now)


def _named(f, d, now):
    """
    try_timeout the promise of the task C{d["id"]} names.

    @return: C{(family, task id, task or None)}.
    """
    taskId = d["id"]
    f = process(f, taskId, now)
    return f, taskId, f.getTask(taskId)


def taskAcquire(f, d, now, seq, corrId):
    f, taskId, task = _named(f, d, now)
    if task is None:
        return _error(f, NOT_FOUND)
    if task.state != T_PENDING or task.version != d["version"]:
        return _error(f, CONFLICT)
    f = _acquired(f, taskId, task, d["pid"], d["ttl"], now)
    return _acquiredAnswer(f, taskId, now)


def taskRelease(f, d, now, seq, corrId):
    f, taskId, task = _named(f, d, now)
    refused = _heldAt(task, d["version"])
    if refused is not None:
        return _error(f, refused)
    return _ok(f.withTask(taskId, _offered(task, now)), {})


def taskFulfill(f, d, now, seq, corrId):
    f, taskId, task = _named(f, d, now)
    refused = _heldAt(task, d["version"])
    if refused is not None:
        return _error(f, refused)
    inner = d["action"]["data"]
    p = f.getPromise(taskId)
    if p.state == PENDING:
        p = replace(
            p, state=SETTLE_STATES[inner["state"]],
            value=renderValue(canonicalJSON(inner.get("value", {}))), completedOn=now,
        )
        f = f.withPromise(p)
    f = chain(f, taskId, now)
    return _ok(f, {"promise": renderPromise(p, now)})


def taskSuspend(f, d, now, seq, corrId):
    taskId = d["id"]
    awaited = list(dict.fromkeys(a["data"]["awaited"] for a in d["actions"]))
    f = process(f, taskId, now)
    for promiseId in awaited:
        f = process(f, promiseId, now)
    refused = _heldAt(f.getTask(taskId), d["version"])
    if refused is not None:
        return _error(f, refused)
    promises = [f.getPromise(i) for i in awaited]
    if any(p is None for p in promises):
        return _error(f, UNPROCESSABLE)
    f = _deleteReady(f, taskId)
    if any(p.state != PENDING for p in promises):
        return _ok(f, {"preload": preload(f, taskId, now)}, REDIRECT)
    for promiseId in awaited:
        f = _addCallback(f, promiseId, taskId, False)
    task = f.getTask(taskId)
    return _ok(f.withTask(taskId, Task2026(SUSPENDED, task.version)), {})


def taskFence(f, d, now, seq, corrId):
    taskId = d["id"]
    action = d["action"]
    inner = action["data"]
    f = process(process(f, taskId, now), inner["id"], now)
    refused = _heldAt(f.getTask(taskId), d["version"])
    if refused is not None:
        return _error(f, refused)
    if action["kind"] == "promise.create":
        f, p = _create(f, inner, now, seq)
    else:
        f, p = _settle(f, inner, now)
    if p is None:
        status, data = NOT_FOUND, MESSAGE
    else:
        status, data = OK, {"promise": renderPromise(p, now)}
    return _ok(f, {
        "action": {
            "kind": action["kind"],
            "head": {"corrId": corrId, "status": status, "version": VERSION_2026},
            "data": data,
        },
        "preload": preload(f, taskId, now),
    })


def taskHalt(f, d, now, seq, corrId):
    f, taskId, task = _named(f, d, now)
    if task is None:
        return _error(f, NOT_FOUND)
    if task.state == FULFILLED:
        return _error(f, CONFLICT)
    return _ok(f.withTask(taskId, Task2026(HALTED, task.version)), {})


def taskContinue(f, d, now, seq, corrId):
    f, taskId, task = _named(f, d, now)
    if task is None:
        return _error(f, NOT_FOUND)
    if task.state != HALTED:
        return _error(f, CONFLICT)
    return _ok(f.withTask(taskId, _offered(task, now)), {})


KINDS = {
    "promise.get": promiseGet,
    "promise.create": promiseCreate,
    "promise.settle": promiseSettle,
    "promise.register_callback": registerCallback,
    "promise.register_listener": registerListener,
    "task.get": taskGet,
    "task.create": taskCreate,
    "task.acquire": taskAcquire,
    "task.release": taskRelease,
    "task.fulfill": taskFulfill,
    "task.suspend": taskSuspend,
    "task.fence": taskFence,
    "task.halt": taskHalt,
    "task.continue": taskContinue,
}


def judgeRpc(f, r, now, seq):
    """
    The outcomes of one 2026 request (an L{resonate.testing.dst.requests.Rpc})
    on its family.
    """
    return KINDS[r.kind](f, json.loads(r.data), now, seq, r.corrId)


# v0.5 requests on a family's ids: one promise row (DECISIONS 23).  A
# v0.5 read, create of an existing id or complete writes an overdue
# promise's timeout, with its settlement chain, before it answers.


def readPromise(f, r, now, seq):
    f = process(f, r.key, now)
    p = f.getPromise(r.key)
    if p is None:
        return [(Answer(4040), f)]
    return [(Answer(2000, p.settled(now).render()), f)]


def createPromise(f, r, now, seq):
    p = f.getPromise(r.key)
    if p is None:
        new = PromiseFacts(
            id=r.key, state=PENDING, timeout=r.timeout, createdOn=now, seq=seq,
            param=renderValue(r.param), ikeyCreate=r.ikey, tags=r.tags,
        )
        return [(Answer(2010, new.render()), f.withPromise(new))]
    f = process(f, r.key, now)
    [(answer, _)] = _createPromise(Entity(promise=f.getPromise(r.key)), r, now, seq)
    return [(answer, f)]


def completePromise(f, r, now, seq):
    f = process(f, r.key, now)
    p = f.getPromise(r.key)
    if p is None:
        return [(Answer(4040), f)]
    if p.state == PENDING:
        new = replace(
            p, state=r.state, value=renderValue(r.value), ikeyComplete=r.ikey,
            completedOn=now,
        )
        return [(Answer(2010, new.render()), chain(f.withPromise(new), r.key, now))]
    [(answer, _)] = _completePromise(Entity(promise=p), r, now, seq)
    return [(answer, f)]


# The v0.5 oracles for a family's ids, by request type name.
V05 = {
    "ReadPromise": readPromise,
    "CreatePromise": createPromise,
    "CompletePromise": completePromise,
}
