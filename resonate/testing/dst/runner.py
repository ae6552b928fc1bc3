# -*- test-case-name: tests.integration.test_dst -*-
"""
The simulation loop: generate a step, carry it out against the real API
and store, check the answer with the model, log it.

Requests go through L{resonate.api.operations.Operations} and the HTTP site
in memory (L{resonate.testing.dst.wire}): v0.5's REST routes and the 2026
protocol's C{POST /} on the same ids; background work (timeout and lock
sweeps, firing schedules, dispatching tasks, 2026 task timers) is called on
the store the way the services call it, as steps of their own, so it races
with requests.
Time is a L{task.Clock} that only the generator moves.  Requests are sent
one step at a time; a batch's requests, on distinct ids, are all started
before any answer is awaited, so a threaded store runs them concurrently.
The log holds nothing that depends on thread timing, so one seed gives one
log.
"""

import json
import shlex
import traceback
from dataclasses import dataclass, field
from random import Random

from twisted.internet import task
from twisted.internet.defer import gatherResults

from resonate.api.http import APISite, HTTPAPI
from resonate.api.operations import Operations
from resonate.errors import StoreFailure
from resonate.model.routing import Route, matchRoute
from resonate.testing.dst import model2026
from resonate.testing.dst import requests as R
from resonate.testing.dst.faults import NONE, FaultyStore
from resonate.testing.dst.generator import Generator
from resonate.testing.dst.model import (
    FAILURES,
    STORE_FAILURE,
    Answer,
    Model,
    Violation,
)
from resonate.testing.dst.requests import canonicalJSON, describe
from resonate.testing.dst.wire import Wire, toAnswer, toAnswer2026

#: Where simulated time starts (epoch ms): 2023-11-14T22:13:20Z.
START = 1_700_000_000_000

#: The fault rate the command uses unless told otherwise.
DEFAULT_FAULT_RATE = 0.05

#: The route that makes C{t/...} promises tasks.
ROUTES = (Route(name="dst", pattern="/t/*", connection="dst", queue="dst"),)


@dataclass(frozen=True)
class RunOptions:
    """
    What names a run: the same options give the same log.
    """

    seed: int
    steps: int
    store: str = "memory"
    faultRate: float = DEFAULT_FAULT_RATE
    #: C{(key, value)} store options, as given on the command line.
    storeOptions: tuple = ()

    def command(self):
        """
        The command that runs this simulation again.
        """
        command = (
            f"python -m resonate.testing.dst --seed {self.seed} "
            f"--steps {self.steps} --store {shlex.quote(self.store)}"
        )
        if self.faultRate != DEFAULT_FAULT_RATE:
            command += f" --fault-rate {self.faultRate}"
        for key, value in self.storeOptions:
            command += f" --store-option {shlex.quote(f'{key}={value}')}"
        return command


@dataclass
class Result:
    """
    How a run went.

    @ivar lines: the log, one line per step (the same for the same options).
    @ivar failure: L{None}, or what went wrong and at which step.
    @ivar uncertainty: the most states the model ever had to keep open for
        one id (store failures leave it unsure what happened).
    """

    options: RunOptions
    lines: list = field(default_factory=list)
    failure: str = None
    requests: int = 0
    faults: int = 0
    uncertainty: int = 1

    @property
    def ok(self):
        return self.failure is None

    def verdict(self):
        """
        One line: passed or failed, and the counts.
        """
        o = self.options
        counts = (
            f"seed={o.seed} steps={o.steps} store={o.store} "
            f"fault-rate={o.faultRate}: {len(self.lines)} steps, "
            f"{self.requests} requests, {self.faults} faults injected, "
            f"at most {self.uncertainty} possible states per id"
        )
        if self.ok:
            return f"dst: PASS {counts}"
        return f"dst: FAIL {counts}: {self.failure}"

    def reproduce(self):
        return "reproduce: " + self.options.command()


class SimulatedClock(task.Clock):
    """
    A L{task.Clock} set in whole milliseconds, read back exactly as set.
    """

    def __init__(self, now):
        super().__init__()
        self.setMilliseconds(now)

    def setMilliseconds(self, now):
        # Half a millisecond in, so that int(seconds() * 1000), as
        # Operations reads it, is `now` despite float rounding.
        self.advance((now + 0.5) / 1000 - self.seconds())
        if int(self.seconds() * 1000) != now:
            raise AssertionError(f"the clock cannot show {now}")


class Simulation:
    """
    One run over one store.
    """

    def __init__(self, options, store):
        """
        @param store: an empty L{resonate.interfaces.IStore}.
        """
        self.options = options
        self.model = Model(START)
        self.clock = SimulatedClock(START)
        self.store = FaultyStore(
            store, Random(f"faults {options.seed}"), options.faultRate
        )
        operations = Operations(
            self.store, self.clock, size=1000, routes=ROUTES,
            retryTimeout=model2026.RETRY,
        )
        self.wire = Wire(APISite(HTTPAPI(operations).resource(), 1 << 20))
        self.generator = Generator(Random(options.seed), self.model)
        self.result = Result(options)

    async def run(self):
        """
        Run every step, stopping at the first violation.

        @return: the L{Result}.
        """
        for step in range(1, self.options.steps + 1):
            action = self.generator.step()
            try:
                text = await self._perform(step, action)
            except Violation as e:
                self.result.failure = f"step {step}: {e}"
                text = f"{_describe(action)} -> VIOLATION {e}"
            except Exception:
                self.result.failure = (
                    f"step {step}: the simulation broke:\n{traceback.format_exc()}"
                )
                text = f"{_describe(action)} -> ERROR"
            self.result.lines.append(
                f"{step:05d} {self.model.now - START:+10d}ms {text}"
            )
            self.result.uncertainty = max(
                self.result.uncertainty, self.model.uncertainty()
            )
            if self.result.failure is not None:
                break
        self.result.faults = self.store.injected
        return self.result

    async def _perform(self, step, action):
        if isinstance(action, R.Advance):
            now = self.model.now + action.milliseconds
            self.clock.setMilliseconds(now)
            self.model.advance(now)
            return f"advance {action.milliseconds}ms"
        if isinstance(action, R.Batch):
            return await self._batch(step, action.requests)
        if isinstance(action, R.SearchPromises):
            return await self._search(action, "promises", self.model.judgePromiseSearch)
        if isinstance(action, R.SearchSchedules):
            return await self._search(action, "schedules", self.model.judgeScheduleSearch)
        if isinstance(action, R.HeartbeatLocks):
            return await self._heartbeat(action)
        if isinstance(action, R.HeartbeatTasks2026):
            return await self._heartbeat2026(action)
        if isinstance(action, (R.SweepPromises, R.FireSchedules, R.SweepLocks,
                               R.DispatchTasks, R.ExpireTasks2026)):
            return await self._background(step, action)
        return await self._batch(step, (action,))

    def _send(self, method, path, headers, body):
        """
        Send a request; its store call happens before this returns.

        @return: the C{Deferred} response and the fault decisions its store
            calls met.
        """
        self.result.requests += 1
        d = self.wire.send(method, path, headers, body)
        return d, self.store.takeDecisions()

    def _checkFaults(self, what, decisions, failed):
        """
        A request whose store call failed must answer 5002, and only such a
        request; a malformed one must not reach the store at all.
        """
        injected = [name for name, fault in decisions if fault != NONE]
        if injected and not failed:
            raise Violation(f"{what}: the store failed ({injected}) but the "
                            "server did not answer 5002")
        if failed and not injected:
            raise Violation(f"{what}: store failure without an injected fault")

    async def _batch(self, step, requests):
        started = [(r, *self._send(*r.http())) for r in requests]
        responses = await gatherResults([d for _, d, _ in started], consumeErrors=True)
        texts = []
        for (request, _, decisions), response in zip(started, responses):
            if isinstance(request, R.Rpc):
                answer = toAnswer2026(response, request)
            else:
                answer = toAnswer(response)
            if isinstance(request, R.Invalid):
                if decisions:
                    raise Violation(f"{request.what}: a malformed request "
                                    f"reached the store: {decisions}")
            else:
                self._checkFaults(
                    getattr(request, "kind", type(request).__name__),
                    decisions, answer.code in FAILURES,
                )
            texts.append(f"{describe(request)} -> {answer}")
            self.model.judge(request, answer, step)
        prefix = "batch: " if len(requests) > 1 else ""
        return prefix + " | ".join(texts)

    async def _search(self, search, kind, judge):
        listing, cursor, pages = [], None, 0
        limit = search.limit or 100
        while True:
            d, decisions = self._send(*search.http(cursor))
            answer = toAnswer(await d)
            pages += 1
            self._checkFaults(f"search {kind}", decisions,
                              answer.code == STORE_FAILURE)
            if answer.code == STORE_FAILURE:
                # A search writes nothing the model does not already show.
                return f"{describe(search)} -> 5002 on page {pages}"
            if answer.code != 2000:
                raise Violation(f"search {kind} answered {answer}")
            page = json.loads(answer.body)
            items = page[kind]
            if len(items) > limit:
                raise Violation(f"a page of {len(items)} {kind}, limit {limit}")
            if (len(items) == limit) != (page["cursor"] is not None):
                raise Violation(f"a page of {len(items)} {kind} (limit {limit}) "
                                f"with cursor {page['cursor']!r}")
            listing += items
            cursor = page["cursor"]
            if cursor is None:
                break
        judge(search, listing)
        found = sorted(
            f"{item['id']}:{item['state']}" if "state" in item else item["id"]
            for item in listing
        )
        return f"{describe(search)} -> {len(listing)} in {pages} pages {found}"

    async def _heartbeat(self, heartbeat):
        d, decisions = self._send(*heartbeat.http())
        answer = toAnswer(await d)
        failed = answer.code == STORE_FAILURE
        self._checkFaults("heartbeat", decisions, failed)
        if failed:
            self.model.judgeHeartbeat(heartbeat.processId, None)
        else:
            body = json.loads(answer.body) if answer.code == 2000 else None
            if not (isinstance(body, dict) and isinstance(body.get("locksAffected"), int)):
                raise Violation(f"heartbeat answered {answer}")
            self.model.judgeHeartbeat(heartbeat.processId, body["locksAffected"])
        return f"{describe(heartbeat)} -> {answer}"

    async def _heartbeat2026(self, heartbeat):
        d, decisions = self._send(*heartbeat.http())
        answer = toAnswer2026(await d, heartbeat)
        failed = answer.code in FAILURES
        self._checkFaults("task.heartbeat", decisions, failed)
        if not failed and answer != Answer(200, "{}"):
            raise Violation(f"task.heartbeat answered {answer}")
        self.model.judgeHeartbeat2026(heartbeat, failed)
        return f"{describe(heartbeat)} -> {answer}"

    async def _background(self, step, action):
        now = self.model.now
        store = self.store
        if isinstance(action, R.SweepPromises):
            call = store.timeoutPromises(
                now, action.limit, retryTimeout=model2026.RETRY
            )
        elif isinstance(action, R.ExpireTasks2026):
            call = store.expireTasks2026(
                now, action.limit, retryTimeout=model2026.RETRY
            )
        elif isinstance(action, R.FireSchedules):
            call = store.fireSchedules(
                now, action.limit, lambda p: matchRoute(ROUTES, p) is not None
            )
        elif isinstance(action, R.SweepLocks):
            call = store.timeoutLocks(now, action.limit)
        else:
            call = store.dispatchTasks(now, action.limit, action.claimWindow)
        decisions = store.takeDecisions()
        try:
            result = await call
        except StoreFailure:
            result = None
        self._checkFaults(type(action).__name__, decisions, result is None)
        if isinstance(action, R.SweepPromises):
            self.model.judgePromiseSweep(result, action.limit)
        elif isinstance(action, R.FireSchedules):
            self.model.judgeFire(result, step)
        elif isinstance(action, R.SweepLocks):
            self.model.judgeLockSweep(result)
        elif isinstance(action, R.ExpireTasks2026):
            self.model.judgeTaskExpiry(result)
        else:
            offered = None if result is None else [
                {
                    "id": t.id, "counter": t.counter,
                    "claimTimeout": t.claimTimeout,
                    "completeTimeout": t.completeTimeout,
                    "promiseTimeout": t.promiseTimeout,
                    "createdOn": t.createdOn,
                }
                for t in result
            ]
            self.model.judgeDispatch(offered, action.claimWindow)
            if offered is not None:
                result = [canonicalJSON(item) for item in offered]
        shown = "5002" if result is None else result
        return f"{_describe(action)} -> {shown}"


def _describe(action):
    if isinstance(action, R.Batch):
        return "batch: " + " | ".join(describe(r) for r in action.requests)
    if hasattr(action, "http"):
        return describe(action)
    return repr(action)


async def simulate(options, store):
    """
    Run one simulation on C{store}.

    @param options: the L{RunOptions}.
    @param store: an empty L{resonate.interfaces.IStore}; the caller
        closes it.
    @return: a coroutine producing the L{Result}.
    """
    return await Simulation(options, store).run()
