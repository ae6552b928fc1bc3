# -*- test-case-name: tests.integration.test_dst -*-
"""
The seeded generator: random steps over a small id space.

Every choice comes from one C{random.Random}, so a seed names one run.  The
generator reads what the model knows (deadlines to jump the clock to, the
ids those deadlines belong to, promise ids schedules made, tasks whose
claim window or lease is open and the counters they may have), so that
requests often land on the interesting edges: just before, at and just
after a timeout, with the idempotency key a promise was made with, with
the counter a task was offered with.  Ids move on to a new generation now
and then, so there are always new promises to create and complete.
"""

import base64

from resonate.testing.dst import requests as R
from resonate.testing.dst.model import (
    COMPLETIONS,
    PENDING,
    RESOLVED,
    REJECTED,
    TIMER_TAG,
)
from resonate.testing.dst.requests import canonicalJSON

#: Plain promises of each generation (ids move on to a new generation
#: now and then, so that there are always pending promises to complete).
PROMISES_PER_GENERATION = 4

#: Promise ids of every generation: C{_} and C{%} must match only
#: themselves in searches, and an id may hold spaces and any UTF-8.
ODD_PROMISE_IDS = ("p/_", "p/%", "p/ü x")

#: Routed promises (the route is C{/t/*}) of each generation.
TASKS_PER_GENERATION = 3

#: Lock resources of their own; the routed promises' ids are lock
#: resources too (a claim locks its promise's id).
LOCK_IDS = ("r/0", "r/1")

#: The chance that a request step starts a new generation.
NEW_GENERATION = 1 / 80

SCHEDULE_IDS = ("s/0", "s/1")

PROCESSES = ("P0", "P1")
EXECUTIONS = ("e0", "e1", "e2")

#: Crons whose slots do not depend on the time zone.
CRONS = ("* * * * * *", "*/5 * * * * *", "*/7 * * * * *", "*/20 * * * * *",
         "@every 3s", "@every 2500ms")

TEMPLATES = ("sp/{{.id}}/{{.timestamp}}", "sp/{{ .id }}.{{ .timestamp }}")

#: Promise timeouts relative to now: in the past, exactly now, just after.
TIMEOUTS = (-1000, 0, 1, 100, 1000, 3000, 10_000, 30_000, 120_000)

#: The largest timeout there is: it must survive every store.
FOREVER = 2**63 - 1

LEASES = (1000, 5000, 20_000)

#: Clock steps (ms), and how often each is taken: mostly short, so that
#: windows and leases are often still open.
DELTAS = (0, 1, 10, 100, 500, 1000, 2500, 5000, 10_000, 30_000)
DELTA_WEIGHTS = (3, 4, 2, 3, 2, 3, 2, 1, 1, 0.2)


def _value(headers=None, data=None):
    value = {}
    if headers is not None:
        value["headers"] = headers
    if data is not None:
        value["data"] = base64.b64encode(data).decode("ascii")
    return canonicalJSON(value)


#: Params and values: empty ones in every spelling, text, binary.
VALUES = (
    _value(),
    _value(data=b"x"),
    _value(headers={"h": "v"}, data=bytes(range(256))),
    _value(headers={"a": "ü"}),
    _value(data=b""),
    _value(headers={}),
)

TAGS = ((), (("g", "a"),), (("g", "b"),), ((TIMER_TAG, "true"),),
        (("g", "a"), (TIMER_TAG, "true")))

#: Malformed requests: each must be refused (400) before any store call.
INVALID = (
    ("no timeout", "POST", "/promises", (), {"id": "p/0"}),
    ("negative timeout", "POST", "/promises", (), {"id": "p/0", "timeout": -1}),
    ("bad strict", "POST", "/promises", (("strict", "maybe"),),
     {"id": "p/1", "timeout": 0}),
    ("not JSON", "POST", "/promises", (), b"{"),
    ("complete PENDING", "PATCH", "/promises/p/0", (), {"state": "PENDING"}),
    ("complete timed out", "PATCH", "/promises/p/1", (),
     {"state": "REJECTED_TIMEDOUT"}),
    ("bad base64", "PATCH", "/promises/p/2", (),
     {"state": "RESOLVED", "value": {"data": "!"}}),
    ("lease 0", "POST", "/locks/acquire", (),
     {"resourceId": "r/0", "processId": "P0", "executionId": "e0",
      "expiryInMilliseconds": 0}),
    ("counter 0", "POST", "/tasks/claim", (),
     {"taskId": "t/0", "counter": 0, "processId": "P0", "executionId": "e0",
      "expiryInMilliseconds": 1000}),
    ("search limit 0", "GET", "/promises?limit=0", (), None),
    ("bad cron", "POST", "/schedules", (),
     {"id": "s/0", "cron": "61 * * * *", "promiseId": "x", "promiseTimeout": 1}),
)


class Generator:
    """
    Makes the steps of one run.

    """

    def __init__(self, rng, model):
        self._rng = rng
        self._model = model
        self._invalidCount = 0
        self._generation = 0
        self._focus = ()
        self._focusLeft = 0

    def _pick(self, choices):
        return self._rng.choice(choices)

    def _chance(self, p):
        return self._rng.random() < p

    def step(self):
        """
        The next step: a request, a L{R.Batch} of requests on distinct ids,
        a search, a heartbeat, a background sweep or a clock step.
        """
        kind = self._rng.choices(
            ("advance", "request", "batch", "searchPromises",
             "searchSchedules", "heartbeat", "sweepPromises", "fire",
             "sweepLocks", "dispatch"),
            weights=(16, 50, 8, 5, 2, 3, 2, 4, 2, 8),
        )[0]
        if kind == "advance":
            return self.advance()
        if kind == "request":
            return self.request()
        if kind == "batch":
            return self.batch()
        if kind == "searchPromises":
            return self.searchPromises()
        if kind == "searchSchedules":
            return R.SearchSchedules(
                self._pick(("*", "s/*", "s/0")),
                self._pick(((), (("g", "a"),))),
                self._pick((None, 1, 100)),
            )
        if kind == "heartbeat":
            return R.HeartbeatLocks(self._pick(PROCESSES))
        if kind == "sweepPromises":
            return R.SweepPromises(self._pick((1, 100)))
        if kind == "fire":
            return R.FireSchedules()
        if kind == "sweepLocks":
            return R.SweepLocks()
        return R.DispatchTasks(self._pick((1000, 10_000)))

    def advance(self):
        """
        A clock step: a random amount, or to just before, at or after a
        deadline the model knows of.
        """
        now = self._model.now
        if self._chance(0.5):
            deadlines = self._deadlines()
            near = sorted(d for d in deadlines if now < d <= now + 30_000)
            if near:
                deadline = self._pick(near[:6])
                # The next few requests often go to the ids whose deadline
                # it is, to catch it just before, at and just after.
                self._focus = tuple(sorted(deadlines[deadline]))
                self._focusLeft = 4
                target = deadline + self._pick((-1, 0, 0, 1))
                return R.Advance(max(0, target - now))
        return R.Advance(self._rng.choices(DELTAS, DELTA_WEIGHTS)[0])

    def _deadlines(self):
        """
        @return: a C{dict} from each deadline the model knows of to the ids
            it belongs to.
        """
        found = {}
        for key in self._model.keys():
            for e in self._model.possible(key):
                times = set()
                if e.promise is not None and e.promise.state == PENDING:
                    times.add(e.promise.timeout)
                if e.lock is not None:
                    times.add(e.lock.expiresAt)
                if e.schedule is not None:
                    times.add(e.schedule.nextRunTime)
                if e.task is not None:
                    times |= {e.task.claimTimeout, e.task.completeTimeout,
                              e.task.promiseTimeout}
                for time in times:
                    if time < FOREVER:
                        found.setdefault(time, set()).add(key)
        return found

    def _focused(self, prefixes):
        """
        Now and then, an id whose deadline the clock just jumped to.
        """
        if self._focusLeft <= 0:
            return None
        candidates = [k for k in self._focus if k.startswith(prefixes)]
        if candidates and self._chance(0.6):
            return self._pick(candidates)
        return None

    def batch(self):
        """
        Two to four requests on distinct ids.
        """
        requests, keys = [], set()
        for _ in range(self._rng.randint(2, 4)):
            request = self.request()
            if request.key not in keys:
                keys.add(request.key)
                requests.append(request)
        return R.Batch(tuple(requests))

    def request(self):
        """
        One request on one id.
        """
        if self._chance(NEW_GENERATION):
            self._generation += 1
        self._focusLeft -= 1
        kind = self._rng.choices(
            ("create", "read", "complete", "createSchedule", "readSchedule",
             "deleteSchedule", "acquire", "release", "claim", "completeTask",
             "invalid"),
            weights=(22, 10, 18, 4, 2, 2, 8, 5, 10, 8, 2),
        )[0]
        return getattr(self, "_" + kind)()

    def _generationOf(self):
        """
        Mostly this generation; sometimes the one before.
        """
        if self._generation and self._chance(0.1):
            return self._generation - 1
        return self._generation

    def _plainId(self):
        if self._chance(0.15):
            return self._pick(ODD_PROMISE_IDS)
        n = self._rng.randrange(PROMISES_PER_GENERATION)
        return f"p/{self._generationOf()}.{n}"

    def _taskId(self, window=None):
        """
        A routed promise id: often one whose task the model thinks may be
        inside C{window} (C{"claimTimeout"} or C{"completeTimeout"}) now.
        """
        focused = self._focused(("t/",))
        if focused is not None:
            return focused
        if window is not None and self._chance(0.7):
            now = self._model.now
            open_ = [
                key for key in self._model.keys()
                if any(
                    e.task is not None and not e.task.isCompleted
                    and getattr(e.task, window) >= now
                    for e in self._model.possible(key)
                )
            ]
            if open_:
                return self._pick(open_)
        n = self._rng.randrange(TASKS_PER_GENERATION)
        return f"t/{self._generationOf()}.{n}"

    def _lockId(self):
        focused = self._focused(("r/", "t/"))
        if focused is not None:
            return focused
        return self._pick(LOCK_IDS) if self._chance(0.6) else self._taskId()

    def _promiseId(self):
        focused = self._focused(("p/", "t/", "sp/"))
        if focused is not None:
            return focused
        fired = [k for k in self._model.keys() if k.startswith("sp/")]
        roll = self._rng.random()
        if roll < 0.55:
            return self._plainId()
        if roll < 0.9 or not fired:
            return self._taskId()
        return self._pick(fired[-8:])

    def _nextSlotId(self):
        """
        The promise id a schedule's next slot will create, if the model
        knows one.
        """
        for key in SCHEDULE_IDS:
            for e in self._model.possible(key):
                if e.schedule is not None:
                    return e.schedule.slotPromiseId(e.schedule.nextRunTime)
        return None

    def _strict(self):
        return self._pick((None, None, False, True))

    def _create(self):
        key = self._promiseId()
        if self._chance(0.05):
            key = self._nextSlotId() or key
        if key.startswith("sp/") and self._chance(0.5):
            ikey = key
        else:
            ikey = self._pick((None, "k0", "k0", "k1"))
        now = self._model.now
        timeout = FOREVER if self._chance(0.02) else now + self._pick(TIMEOUTS)
        return R.CreatePromise(
            key=key,
            timeout=max(0, timeout),
            param=self._pick(VALUES),
            tags=self._pick(TAGS),
            ikey=ikey,
            strict=self._strict(),
        )

    def _read(self):
        return R.ReadPromise(self._promiseId())

    def _complete(self):
        state = self._pick(COMPLETIONS)
        return R.CompletePromise(
            key=self._promiseId(),
            state=state,
            value=self._pick(VALUES),
            ikey=self._pick((None, "c0", "c0", "c1")),
            strict=self._strict(),
            spelling=state.lower() if self._chance(0.2) else None,
        )

    def _createSchedule(self):
        return R.CreateSchedule(
            key=self._pick(SCHEDULE_IDS),
            cron=self._pick(CRONS),
            promiseId=self._pick(TEMPLATES),
            promiseTimeout=self._pick((1000, 5000, 60_000)),
            description=self._pick((None, "", "every now and then")),
            tags=self._pick(((), (("g", "a"),))),
            promiseParam=self._pick(VALUES),
            promiseTags=self._pick(((), (("x", "y"),))),
            ikey=self._pick((None, "sk0", "sk1")),
        )

    def _readSchedule(self):
        return R.ReadSchedule(self._pick(SCHEDULE_IDS))

    def _deleteSchedule(self):
        return R.DeleteSchedule(self._pick(SCHEDULE_IDS))

    def _acquire(self):
        return R.AcquireLock(
            key=self._lockId(),
            processId=self._pick(PROCESSES),
            executionId=self._pick(EXECUTIONS),
            expiry=self._pick(LEASES),
        )

    def _release(self):
        return R.ReleaseLock(self._lockId(), self._pick(EXECUTIONS))

    def _counter(self, key):
        """
        A counter the task may have now (the model may know several), or
        now and then a wrong one.
        """
        counters = sorted({
            e.task.counter for e in self._model.possible(key)
            if e.task is not None and e.task.counter > 0
        })
        if not counters or self._chance(0.1):
            return self._rng.randint(1, 3)
        return max(1, self._pick(counters) + self._pick((0, 0, 0, 0, -1, 1)))

    def _claim(self):
        key = self._taskId("claimTimeout")
        return R.ClaimTask(
            key=key,
            counter=self._counter(key),
            processId=self._pick(PROCESSES),
            executionId=self._pick(EXECUTIONS),
            expiry=self._pick(LEASES),
        )

    def _completeTask(self):
        key = self._taskId("completeTimeout")
        state = self._pick((RESOLVED, REJECTED))
        return R.CompleteTask(
            key=key,
            counter=self._counter(key),
            executionId=self._pick(EXECUTIONS),
            state=state,
            value=self._pick(VALUES),
            spelling=self._pick((state.lower(), state, state.capitalize())),
        )

    def _invalid(self):
        what, method, path, headers, body = self._pick(INVALID)
        self._invalidCount += 1
        raw = body if isinstance(body, bytes) else None
        return R.Invalid(
            key=f"invalid/{self._invalidCount}",
            what=what,
            method=method,
            path=path,
            headers=headers,
            body=None if raw is not None else body,
            raw=raw,
        )

    def searchPromises(self):
        """
        A promise search; small pages only where few promises match.
        """
        pattern = self._pick((
            "*", "p/*", f"p/{self._generation}.*", f"t/{self._generation}.*",
            "t/*", "sp/*", "p/_", "p/%", "*.1", "p/ü x", "s*",
        ))
        few = pattern not in ("*", "sp/*", "s*", "p/*", "t/*")
        return R.SearchPromises(
            pattern=pattern,
            state=self._pick((None, "pending", "resolved", "rejected", "RESOLVED")),
            tags=self._pick(((), (), (("g", "a"),), ((TIMER_TAG, "true"),))),
            limit=self._pick((None, 1, 2, 100) if few else (None, 50, 100)),
        )
