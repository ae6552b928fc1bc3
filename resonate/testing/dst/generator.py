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

The 2026 protocol's kinds (L{R.Rpc}) work on families of ids
(L{model2026}): a root C{w/G.n} and its children C{w/G.n:k}, one origin,
so that tasks can await each other's promises; v0.5 requests read, create
and complete the same ids now and then.  Versions are those the model
thinks a task may have, or now and then a wrong one.
"""

import base64

from resonate.testing.dst import model2026 as M26
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

#: Families of the 2026 protocol in each generation, and the children
#: of each root.
FAMILIES_PER_GENERATION = 2
CHILDREN = 3

#: The chance that a v0.5 promise request names a family's id.
FAMILY_IN_V05 = 0.12

#: Valid addresses (section 6): targets and listeners.
ADDRESSES = ("poll://any@dst", "poll://uni@dst/w0", "http://worker.test/tasks")

#: Worker processes of the 2026 protocol, and their leases (ms).
WORKERS = ("W0", "W1")
TTLS = (1000, 5000, 20_000, 60_000)

#: 2026 promise timeouts relative to now: mostly long enough for a
#: worker to acquire, suspend and be woken before them.
TIMEOUTS_2026 = (-1000, 0, 1, 1000, 10_000, 60_000, 120_000, 600_000)
TIMEOUT_WEIGHTS_2026 = (1, 1, 1, 2, 3, 4, 4, 4)

#: 2026 values: the data is canonical base64, which the server keeps as
#: its bytes (and would not give back verbatim otherwise).
VALUES_2026 = (
    {},
    {"data": "eA=="},
    {"headers": {"h": "v"}, "data": base64.b64encode(bytes(range(256))).decode()},
    {"headers": {"a": "\u00fc"}},
    {"headers": {}},
)

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

#: Values for a family's ids: empty data is omitted by v0.5 and sent as
#: C{""} by the 2026 protocol, a difference no contract settles.
FAMILY_VALUES = tuple(v for v in VALUES if v != _value(data=b""))

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
             "sweepLocks", "dispatch", "heartbeat2026", "expireTasks"),
            weights=(16, 50, 8, 5, 2, 3, 2, 4, 2, 8, 3, 4),
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
        if kind == "heartbeat2026":
            return self.heartbeat2026()
        if kind == "expireTasks":
            return R.ExpireTasks2026()
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
                if isinstance(e, M26.Family):
                    times |= {p.timeout for _, p in e.promises
                              if p.state == PENDING}
                    times |= {t.timerAt for _, t in e.tasks
                              if t.timerAt is not None}
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
            key = M26.modelKey(request.key)
            if key not in keys:
                keys.add(key)
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
             "invalid", "rpc"),
            weights=(22, 10, 18, 4, 2, 2, 8, 5, 10, 8, 2, 55),
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
        if self._chance(FAMILY_IN_V05):
            return self._awaited() or self._member(self._familyKey())
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
            # Sorted: the order of a set of states differs between
            # processes, and one seed must make one run.
            slots = sorted({
                e.schedule.slotPromiseId(e.schedule.nextRunTime)
                for e in self._model.possible(key) if e.schedule is not None
            })
            if slots:
                return slots[0]
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
            param=self._pick(FAMILY_VALUES if M26.isFamilyKey(key) else VALUES),
            tags=self._pick(TAGS),
            ikey=ikey,
            strict=self._strict(),
        )

    def _read(self):
        return R.ReadPromise(self._promiseId())

    def _complete(self):
        state = self._pick(COMPLETIONS)
        key = self._promiseId()
        return R.CompletePromise(
            key=key,
            state=state,
            value=self._pick(FAMILY_VALUES if M26.isFamilyKey(key) else VALUES),
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

    # The 2026 protocol.

    def _familyKey(self):
        focused = self._focused((M26.FAMILY_PREFIX,))
        if focused is not None:
            return focused
        n = self._rng.randrange(FAMILIES_PER_GENERATION)
        return f"{M26.FAMILY_PREFIX}{self._generationOf()}.{n}"

    def _member(self, key, besides=None):
        """
        The root or a child of family C{key}, other than C{besides}.
        """
        members = [key] + [f"{key}:{k}" for k in range(CHILDREN)]
        return self._pick([m for m in members if m != besides])

    def _tasks(self, key, states):
        """
        The ids of family C{key} (of every family when L{None}) whose task
        the model thinks may be in one of C{states}.
        """
        keys = [key] if key is not None else [
            k for k in self._model.keys() if M26.isFamilyKey(k)
        ]
        return sorted({
            taskId for k in keys for f in self._model.possible(k)
            for taskId, t in f.tasks if t.state in states
        })

    def _taskMember(self, key, states):
        """
        Mostly an id of family C{key} whose task may be in one of
        C{states}.
        """
        found = self._tasks(key, states)
        if found and self._chance(0.85):
            return self._pick(found)
        return self._member(key)

    def _version(self, key, taskId):
        """
        A version the task may have, or now and then a wrong one.
        """
        versions = sorted({
            t.version for f in self._model.possible(key)
            for i, t in f.tasks if i == taskId
        })
        if not versions or self._chance(0.08):
            return self._rng.randint(0, 3)
        version = self._pick(versions)
        if self._chance(0.1):
            version += self._pick((1, -1))
        return max(0, version)

    def _corrId(self):
        self._corrIds = getattr(self, "_corrIds", 0) + 1
        return f"c{self._corrIds}"

    #: The task states each kind is mostly sent for.
    _WANTED = {
        "task.acquire": (M26.T_PENDING,),
        "task.release": (M26.ACQUIRED,),
        "task.fulfill": (M26.ACQUIRED,),
        "task.suspend": (M26.ACQUIRED,),
        "promise.settle": (M26.SUSPENDED,),
        "task.fence": (M26.ACQUIRED,),
        "task.continue": (M26.HALTED,),
        "task.halt": (M26.T_PENDING, M26.ACQUIRED, M26.SUSPENDED),
        "task.create": (M26.T_PENDING,),
        "promise.register_callback": (M26.T_PENDING, M26.ACQUIRED, M26.SUSPENDED),
    }

    def _rpcKey(self, kind):
        """
        The family a request of C{kind} goes to: mostly one with a task in
        a state the kind needs, else one the model knows, else any.
        """
        wanted = self._WANTED.get(kind)
        if wanted is not None and self._chance(0.8):
            found = self._tasks(None, wanted)
            if found:
                return M26.modelKey(self._pick(found))
        known = [k for k in self._model.keys() if M26.isFamilyKey(k)
                 and k.startswith(f"{M26.FAMILY_PREFIX}{self._generation}.")]
        if known and self._focusLeft <= 0 and self._chance(0.5):
            return self._pick(known)
        return self._familyKey()

    def _rpc(self):
        """
        One request of the 2026 protocol on one family.
        """
        kind = self._rng.choices(
            ("promise.create", "promise.get", "promise.settle",
             "promise.register_listener", "promise.register_callback",
             "task.create", "task.acquire", "task.release", "task.fulfill",
             "task.suspend", "task.fence", "task.halt", "task.continue",
             "task.get"),
            weights=(12, 4, 7, 3, 5, 14, 10, 4, 7, 12, 8, 2, 3, 5),
        )[0]
        key = self._rpcKey(kind)
        data = getattr(self, "_data_" + kind.replace(".", "_"))(key)
        return R.Rpc(key, kind, canonicalJSON(data), self._corrId())

    def _createData(self, key, promiseId, target=None):
        """
        C{promise.create}'s data (section 7.2) for C{promiseId}.

        @param target: L{True} for a target always, L{None} for one now and
            then.
        """
        now = self._model.now
        timeoutAt = max(0, now + self._rng.choices(
            TIMEOUTS_2026, TIMEOUT_WEIGHTS_2026)[0])
        if self._chance(0.02):
            timeoutAt = FOREVER
        tags = {}
        if target or (target is None and self._chance(0.5)):
            tags[M26.TARGET] = self._pick(ADDRESSES)
            if target is None and self._chance(0.15):
                delay = now + self._pick((0, 500, 5000))
                if delay < timeoutAt:
                    tags[M26.DELAY] = str(delay)
        if self._chance(0.15):
            tags[M26.TIMER] = self._pick(("true", "true", "false"))
        if self._chance(0.5):
            tags[M26.BRANCH] = key
        if self._chance(0.2):
            tags["g"] = "a"
        data = {"id": promiseId, "timeoutAt": timeoutAt, "tags": tags}
        if self._chance(0.7):
            data["param"] = self._pick(VALUES_2026)
        return data

    def _settleData(self, promiseId):
        data = {"id": promiseId,
                "state": self._pick(tuple(M26.SETTLE_STATES))}
        if self._chance(0.7):
            data["value"] = self._pick(VALUES_2026)
        return data

    def _data_promise_create(self, key):
        return self._createData(key, self._member(key))

    def _data_promise_get(self, key):
        return {"id": self._member(key)}

    def _awaited(self, key=None):
        """
        Now and then, an id a task may be suspended on (of family C{key},
        or of any): settling it must wake the task, whichever protocol
        settles it (DECISIONS 23).
        """
        keys = [key] if key is not None else [
            k for k in self._model.keys() if M26.isFamilyKey(k)
        ]
        awaited = sorted({
            a for k in keys for f in self._model.possible(k)
            for a, _, ready in f.callbacks if not ready
        })
        if awaited and self._chance(0.5):
            return self._pick(awaited)
        return None

    def _data_promise_settle(self, key):
        return self._settleData(self._awaited(key) or self._member(key))

    def _data_promise_register_listener(self, key):
        return {"awaited": self._member(key), "address": self._pick(ADDRESSES)}

    def _data_promise_register_callback(self, key):
        awaiter = self._taskMember(key, (M26.T_PENDING, M26.ACQUIRED, M26.SUSPENDED))
        return {"awaited": self._awaitable(key, awaiter), "awaiter": awaiter}

    def _data_task_create(self, key):
        promiseId = self._taskMember(key, (M26.T_PENDING,))
        data = self._createData(key, promiseId, target=True)
        return {
            "pid": self._pick(WORKERS),
            "ttl": self._pick(TTLS),
            "action": {"kind": "promise.create", "head": {}, "data": data},
        }

    def _data_task_acquire(self, key):
        taskId = self._taskMember(key, (M26.T_PENDING,))
        return {"id": taskId, "version": self._version(key, taskId),
                "pid": self._pick(WORKERS), "ttl": self._pick(TTLS)}

    def _held(self, key):
        taskId = self._taskMember(key, (M26.ACQUIRED,))
        return taskId, self._version(key, taskId)

    def _data_task_release(self, key):
        taskId, version = self._held(key)
        return {"id": taskId, "version": version}

    def _data_task_fulfill(self, key):
        taskId, version = self._held(key)
        return {"id": taskId, "version": version, "action": {
            "kind": "promise.settle", "head": {}, "data": self._settleData(taskId),
        }}

    def _data_task_suspend(self, key):
        taskId, version = self._held(key)
        awaited = [self._awaitable(key, taskId)
                   for _ in range(self._pick((1, 1, 2, 3)))]
        return {"id": taskId, "version": version, "actions": [
            {"kind": "promise.register_callback", "head": {},
             "data": {"awaited": a, "awaiter": taskId}}
            for a in awaited
        ]}

    def _awaitable(self, key, taskId):
        """
        Mostly a promise of family C{key} the model thinks may be pending,
        other than C{taskId}.
        """
        now = self._model.now
        pending = sorted({
            i for f in self._model.possible(key) for i, p in f.promises
            if i != taskId and p.state == PENDING and p.timeout > now
        })
        if pending and self._chance(0.75):
            return self._pick(pending)
        return self._member(key, besides=taskId)

    def _data_task_fence(self, key):
        taskId, version = self._held(key)
        other = self._member(key, besides=taskId)
        if self._chance(0.6):
            action = {"kind": "promise.create",
                      "data": self._createData(key, other)}
        else:
            action = {"kind": "promise.settle", "data": self._settleData(other)}
        if self._chance(0.5):
            action["head"] = {}
        return {"id": taskId, "version": version, "action": action}

    def _data_task_halt(self, key):
        return {"id": self._taskMember(key, (M26.T_PENDING, M26.ACQUIRED,
                                             M26.SUSPENDED))}

    def _data_task_continue(self, key):
        return {"id": self._taskMember(key, (M26.HALTED,))}

    def _data_task_get(self, key):
        return {"id": self._taskMember(key, (M26.T_PENDING, M26.ACQUIRED,
                                             M26.SUSPENDED, M26.HALTED,
                                             M26.FULFILLED))}

    def heartbeat2026(self):
        """
        C{task.heartbeat} of one worker for tasks of any families (the SDK
        sends all of a process's tasks at once: DECISIONS 25), mostly
        those it may hold, at the versions it may hold them.
        """
        pid = self._pick(WORKERS)
        acquired = sorted({
            (taskId, t.version, t.pid)
            for key in self._model.keys() if M26.isFamilyKey(key)
            for f in self._model.possible(key)
            for taskId, t in f.tasks
            if t.state == M26.ACQUIRED
        })
        held = [(i, v) for i, v, holder in acquired
                if holder == pid or self._chance(0.1)]
        entries = []
        for _ in range(self._rng.randint(1, 3)):
            if held and self._chance(0.8):
                entries.append(self._pick(held))
            else:
                key = self._familyKey()
                taskId = self._member(key)
                entries.append((taskId, self._version(key, taskId)))
        return R.HeartbeatTasks2026(pid, tuple(entries), self._corrId())
