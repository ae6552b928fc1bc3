# -*- test-case-name: tests.integration.test_dst -*-
"""
Tests for L{resonate.testing.dst}: the deterministic simulation runs a few
seeds on every store and passes, on a third-party store kind too; one seed gives one log; it catches a
server that breaks a transition (of v0.5 or of the 2026 protocol) and says
how to reproduce the run; its model narrows what a 5002 (a 2026 503) left
uncertain; its runs reach every 2026 kind; its fault proxy and its clock do
what they say.

PostgreSQL runs need C{RESONATE_TEST_POSTGRES_DSN}, as the store tests do.
"""

import io
import json
import os
import re
import sys
from dataclasses import replace

import twisted.plugins
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred
from twisted.plugin import IPlugin
from twisted.trial import unittest
from zope.interface import implementer

from resonate.config.kinds import IntKind, StrKind
from resonate.config.stores import StoreOption
from resonate.errors import StoreFailure
from resonate.interfaces import IStoreProvider
from resonate.model.promise import CreatePromise
from resonate.model.tasks2026 import TaskState
from resonate.status import Status
from resonate.store.memory import MemoryRows, MemoryStore
from resonate.testing.dst import model2026 as M26
from resonate.testing.dst import requests as R
from resonate.testing.dst.__main__ import parseArguments, report, run
from resonate.testing.dst.faults import AFTER, BEFORE, NONE, FaultyStore
from resonate.testing.dst.model import Answer, Model, Violation
from resonate.testing.dst.runner import START, RunOptions, SimulatedClock, simulate
from resonate.testing.dst.stores import DSN_VARIABLE, openStore


class _SimulationMixin:
    """
    Runs simulations on one kind of store, each on a store of its own.

    @cvar kind: the store kind.
    @cvar seeds: the seeds L{test_seeds} runs.
    @cvar steps: the steps of each run.
    """

    kind = None
    seeds = ()
    steps = 300

    async def simulate(self, seed, steps=None, faultRate=0.05):
        directory = self.mktemp()
        os.makedirs(directory)
        opened = openStore(self.kind, reactor, directory)
        try:
            return await simulate(
                RunOptions(seed, steps or self.steps, self.kind, faultRate),
                opened.store,
            )
        finally:
            await opened.close()

    def assertPassed(self, result):
        self.assertTrue(
            result.ok,
            "\n".join(result.lines[-15:] + [result.verdict(), result.reproduce()]),
        )

    async def test_seeds(self):
        """
        A few seeds, with store faults, pass: every answer is one the
        contract allows.
        """
        for seed in self.seeds:
            result = await self.simulate(seed)
            self.assertPassed(result)
            self.assertEqual(len(result.lines), self.steps)
            self.assertGreater(result.faults, 0)

    async def test_sameSeedSameLog(self):
        """
        Two runs of one seed log exactly the same steps and answers.
        """
        first = await self.simulate(self.seeds[0])
        second = await self.simulate(self.seeds[0])
        self.assertPassed(first)
        self.assertEqual(first.lines, second.lines)
        other = await self.simulate(self.seeds[0] + 1)
        self.assertNotEqual(first.lines, other.lines)


class MemorySimulationTests(_SimulationMixin, unittest.TestCase):
    """
    The simulation on the memory store.
    """

    kind = "memory"
    seeds = (1, 2, 3)
    steps = 600


class SQLiteSimulationTests(_SimulationMixin, unittest.TestCase):
    """
    The simulation on a SQLite file: a writer thread and reader threads.
    """

    kind = "sqlite"
    seeds = (11, 12)
    steps = 300


class PostgresSimulationTests(_SimulationMixin, unittest.TestCase):
    """
    The simulation on a scratch PostgreSQL database.
    """

    kind = "postgres"
    seeds = (21, 22)
    steps = 250
    if not os.environ.get(DSN_VARIABLE):
        skip = f"{DSN_VARIABLE} is not set"


@implementer(IPlugin, IStoreProvider)
class _PluginStoreProvider:
    """
    A third-party store kind, as far as the simulation can tell: memory
    stores, made by a provider that records the configuration it was given.

    @ivar configs: the L{resonate.config.StoreConfig} of each store made.
    """

    name = "dsttest"
    description = "memory, from a plugin only the tests install"
    options = (
        StoreOption("label", StrKind(), "", "recorded, nothing else"),
        StoreOption("limit", IntKind(minimum=0), 0, "recorded, nothing else"),
    )

    def __init__(self):
        self.configs = []

    def makeStore(self, config, reactor):
        self.configs.append(config)
        return MemoryStore()


#: The provider the test-only dropin (L{PluginSimulationTests}) installs.
PLUGIN_PROVIDER = _PluginStoreProvider()

_DROPIN = """\
from tests.integration.test_dst import PLUGIN_PROVIDER as dsttest
"""


class PluginSimulationTests(unittest.TestCase):
    """
    The simulation runs on any installed store kind, opened through its
    provider with the options the command gives it.
    """

    def installPlugin(self):
        """
        Install L{PLUGIN_PROVIDER} for this test: a dropin in a
        C{twisted/plugins} directory of its own, added to where Twisted
        looks for plugins.
        """
        plugins = os.path.join(self.mktemp(), "twisted", "plugins")
        os.makedirs(plugins)
        with open(os.path.join(plugins, "resonate_dsttest.py"), "w") as f:
            f.write(_DROPIN)
        self.patch(
            twisted.plugins, "__path__", [plugins] + list(twisted.plugins.__path__)
        )
        self.addCleanup(sys.modules.pop, "twisted.plugins.resonate_dsttest", None)
        del PLUGIN_PROVIDER.configs[:]

    async def test_installedKind(self):
        """
        C{--store} names an installed third-party kind: the run opens it
        through its provider, hands it each C{--store-option} parsed by the
        option's declared kind, passes, and its reproducing command gives
        the same options.
        """
        self.installPlugin()
        arguments = parseArguments([
            "--seed", "7", "--steps", "60", "--store", "dsttest",
            "--store-option", "label=a b=c", "--store-option", "limit=3",
        ])
        out = io.StringIO()
        result = await run(reactor, arguments, out)
        self.assertTrue(result.ok, out.getvalue()[-2000:])
        self.assertEqual(len(result.lines), 60)
        [config] = PLUGIN_PROVIDER.configs
        self.assertEqual(config.kind, "dsttest")
        self.assertEqual(config.options, {"label": "a b=c", "limit": 3})
        lines = out.getvalue().splitlines()
        self.assertTrue(
            lines[-1].startswith("dst: PASS seed=7 steps=60 store=dsttest "),
            lines[-1],
        )
        self.assertEqual(
            result.options.command(),
            "python -m resonate.testing.dst --seed 7 --steps 60 --store "
            "dsttest --store-option 'label=a b=c' --store-option limit=3",
        )

    async def test_sameSeedSameLog(self):
        """
        Two runs of one seed on a plugin's store log the same steps.
        """
        self.installPlugin()
        arguments = parseArguments(
            ["--seed", "8", "--steps", "80", "--store", "dsttest"]
        )
        first = await run(reactor, arguments, io.StringIO())
        second = await run(reactor, arguments, io.StringIO())
        self.assertTrue(first.ok)
        self.assertEqual(first.lines, second.lines)
        self.assertEqual(
            [config.options for config in PLUGIN_PROVIDER.configs], [{}, {}]
        )

    async def test_providerGiven(self):
        """
        L{openStore} takes a provider object as well: the store it makes
        runs a simulation.
        """
        provider = _PluginStoreProvider()
        opened = openStore("dsttest", reactor, provider=provider, options=[("limit", "5")])
        try:
            result = await simulate(RunOptions(9, 80, "dsttest"), opened.store)
        finally:
            await opened.close()
        self.assertTrue(result.ok, result.verdict())
        self.assertEqual([c.options for c in provider.configs], [{"limit": 5}])
        self.assertEqual(opened.where, f"dsttest: {provider.description}")

    def test_badOptions(self):
        """
        An option the provider does not declare, or a value its kind
        refuses, is a L{ValueError} naming it; so is a kind that is not
        installed.
        """
        provider = _PluginStoreProvider()
        with self.assertRaises(ValueError) as caught:
            openStore("dsttest", reactor, provider=provider, options=[("colour", "red")])
        self.assertIn("'colour'", str(caught.exception))
        self.assertIn("label, limit", str(caught.exception))
        with self.assertRaises(ValueError) as caught:
            openStore("dsttest", reactor, provider=provider, options=[("limit", "-1")])
        self.assertIn("limit='-1'", str(caught.exception))
        self.assertEqual(provider.configs, [])
        with self.assertRaises(ValueError) as caught:
            openStore("no_such_kind", reactor)
        self.assertIn("'no_such_kind'", str(caught.exception))
        self.assertIn("memory", str(caught.exception))

    def test_optionWithoutValue(self):
        """
        A C{--store-option} without C{=} is refused by the parser.
        """
        self.patch(sys, "stderr", io.StringIO())
        with self.assertRaises(SystemExit):
            parseArguments(["--store-option", "label"])
        self.assertIn("KEY=VALUE", sys.stderr.getvalue())


class _BrokenStore(MemoryStore):
    """
    A memory store with one transition broken on purpose, to show that the
    simulation notices.
    """


class _DedupsEveryComplete(_BrokenStore):
    """
    Completing an already completed promise answers 200, as if every
    request carried the completion's idempotency key.
    """

    def completePromise(self, request, now, **kwargs):
        return ensureDeferred(self._completePromise(request, now, **kwargs))

    async def _completePromise(self, request, now, **kwargs):
        decision = await super().completePromise(request, now, **kwargs)
        if decision.status.httpCode == 403:
            stored = await self.readPromise(request.id, now)
            return replace(decision, status=Status.OK, promise=stored.promise)
        return decision


class _TimeoutNotInclusive(_BrokenStore):
    """
    A read sees a promise pending at exactly its timeout (the contract says
    it is timed out then).
    """

    def readPromise(self, promiseId, now, **kwargs):
        return super().readPromise(promiseId, now - 1, **kwargs)


class _LocksNotExclusive(_BrokenStore):
    """
    Acquiring a lock held by another execution takes it over.
    """

    def acquireLock(self, request, now):
        return ensureDeferred(self._acquireLock(request, now))

    async def _acquireLock(self, request, now):
        decision = await super().acquireLock(request, now)
        if decision.status.isError:
            held = self._rows.readLock(request.resourceId)
            self._rows.deleteLock(held.resourceId, held.executionId)
            decision = await super().acquireLock(request, now)
        return decision


class _KeepsVersionRows(MemoryRows):
    """
    Acquiring a task does not bump its version (the SDK's local model does
    this; the fencing token then fences nothing).
    """

    def updateTask2026(self, previous, task):
        if previous.state is TaskState.PENDING and task.state is TaskState.ACQUIRED:
            task = replace(task, version=previous.version)
        return super().updateTask2026(previous, task)


class _WakesNoAwaiterRows(MemoryRows):
    """
    A settling promise finds no callbacks: its awaiters are never woken
    and count no resumes.
    """

    def callbacksOf(self, awaited):
        return []


class _BlindRows(MemoryRows):
    """
    Rows that, while C{blind}, show no 2026 task and no callback.
    """

    blind = False

    def readTask2026(self, taskId):
        return None if self.blind else super().readTask2026(taskId)

    def callbacksOf(self, awaited):
        return [] if self.blind else super().callbacksOf(awaited)


class _V05CompleteSkipsChain(_BrokenStore):
    """
    A v0.5 C{PATCH} settles the promise but not as the 2026 protocol's
    settlement chain says (DECISIONS 23): its task is not fulfilled, its
    awaiters not woken.
    """

    def __init__(self):
        super().__init__()
        self._rows = _BlindRows()

    def completePromise(self, request, now, **kwargs):
        self._rows.blind = True
        try:
            return super().completePromise(request, now, **kwargs)
        finally:
            self._rows.blind = False


def _withRows(rows):
    store = MemoryStore()
    store._rows = rows
    return store


class BrokenServerTests(unittest.TestCase):
    """
    The simulation fails on a server that breaks a transition, and says how
    to run the failing seed again.
    """

    async def assertCaught(self, store, what, seed=1, steps=600):
        options = RunOptions(seed, steps, "memory")
        result = await simulate(options, store)
        self.assertFalse(result.ok, f"not caught: {result.verdict()}")
        self.assertIn(what, result.failure)
        self.assertNotIn("answered 5000", result.failure)
        self.assertNotIn("answered 500 ", result.failure)
        out = io.StringIO()
        report(result, out)
        lines = out.getvalue().splitlines()
        self.assertTrue(
            lines[-2].startswith(f"dst: FAIL seed={seed} "), lines[-2]
        )
        self.assertEqual(
            lines[-1],
            f"reproduce: python -m resonate.testing.dst --seed {seed} "
            f"--steps {steps} --store memory",
        )
        self.assertIn("VIOLATION", lines[-3])
        return result

    async def test_dedupEveryComplete(self):
        """
        A complete answered 200 where the contract says 403 is caught.
        """
        await self.assertCaught(_DedupsEveryComplete(), "CompletePromise")

    async def test_timeoutNotInclusive(self):
        """
        A promise read as pending at exactly its timeout is caught.
        """
        await self.assertCaught(_TimeoutNotInclusive(), "ReadPromise")

    async def test_locksNotExclusive(self):
        """
        A lock taken from the execution holding it is caught.
        """
        await self.assertCaught(_LocksNotExclusive(), "AcquireLock")

    async def test_acquireKeepsVersion(self):
        """
        A 2026 acquire that does not bump the task's version (section 7.9)
        is caught: the holder's version no longer fences.
        """
        await self.assertCaught(
            _withRows(_KeepsVersionRows()), "answered 409", seed=4
        )

    async def test_settleWakesNoAwaiter(self):
        """
        A settlement that does not wake the task suspended on the promise
        (section 9.4) is caught.
        """
        result = await self.assertCaught(
            _withRows(_WakesNoAwaiterRows()), "task.get", seed=2, steps=700
        )
        self.assertIn('"state":"suspended"', result.failure)

    async def test_v05CompleteSkipsChain(self):
        """
        A v0.5 completion of a promise a 2026 task awaits, or of a 2026
        task's own promise, that does not run the settlement chain
        (DECISIONS 23) is caught.
        """
        await self.assertCaught(
            _V05CompleteSkipsChain(), "task.get", seed=2, steps=700
        )


class ModelTests(unittest.TestCase):
    """
    The model judges answers by the contract and tracks what a store
    failure left uncertain.
    """

    def create(self, key="p", ikey="k"):
        return R.CreatePromise(key=key, timeout=START + 1000, ikey=ikey)

    def test_wrongAnswer(self):
        """
        An answer no state allows is a violation that names the legal ones.
        """
        model = Model(START)
        with self.assertRaises(Violation) as caught:
            model.judge(R.ReadPromise("p"), Answer(2000, "{}"), 1)
        self.assertIn("legal: ['4040']", str(caught.exception))

    def test_uncertainAfterStoreFailure(self):
        """
        After a create answered 5002 the promise may or may not exist; a
        read that finds it narrows that down, and then a create with another
        key must be refused.
        """
        model = Model(START)
        model.judge(self.create(), Answer(5002), 1)
        self.assertEqual(len(model.possible("p")), 2)
        (created,) = [e.promise for e in model.possible("p") if e.promise]
        body = created.render()
        model.judge(R.ReadPromise("p"), Answer(2000, body), 2)
        self.assertEqual(len(model.possible("p")), 1)
        model.judge(self.create(ikey="other"), Answer(4090), 3)
        with self.assertRaises(Violation):
            model.judge(self.create(ikey="other"), Answer(2010, body), 4)

    def test_timeoutIsInclusive(self):
        """
        At exactly its timeout a promise is timed out: a non-strict
        complete answers 200 with the timed-out promise.
        """
        model = Model(START)
        model.judge(self.create(), Answer(2010, _created(START + 1000)), 1)
        model.advance(START + 1000)
        (entity,) = model.possible("p")
        self.assertEqual(entity.promise.state, "REJECTED_TIMEDOUT")
        self.assertEqual(entity.promise.completedOn, START + 1000)
        complete = R.CompletePromise("p", "RESOLVED")
        model.judge(complete, Answer(2000, entity.promise.render()), 2)
        with self.assertRaises(Violation):
            model.judge(replace(complete, strict=True), Answer(2000, entity.promise.render()), 3)

    def test_heartbeatCountNarrows(self):
        """
        A heartbeat's count tells which uncertain lock acquisitions
        happened.
        """
        model = Model(START)
        for key in ("a", "b"):
            model.judge(R.AcquireLock(key, "P", "e", 1000), Answer(5002), 1)
        with self.assertRaises(Violation):
            model.judgeHeartbeat("P", 3)
        model.judgeHeartbeat("P", 2)
        for key in ("a", "b"):
            (entity,) = model.possible(key)
            self.assertEqual(entity.lock.expiresAt, START + 1000)


#: A 2026 request and its answer in a log line.
_RPC = re.compile(r"POST / (\{.*?\}) -> (\d+)(?: |$)")


def kindsAnswered(lines):
    """
    The C{(kind, status)} of every 2026 request in a run's log.
    """
    found = set()
    for line in lines:
        for part in line.split(" | "):
            match = _RPC.search(part)
            if match:
                found.add((json.loads(match.group(1))["kind"], int(match.group(2))))
    return found


class Protocol2026CoverageTests(unittest.TestCase):
    """
    The runs the store tests make reach every 2026 kind, and not only its
    refusals; v0.5 requests reach the 2026 protocol's ids.
    """

    async def test_everyKind(self):
        """
        Over the memory seeds of L{MemorySimulationTests}, every 2026 kind
        the simulation sends succeeds at least once (and C{task.suspend}
        redirects too), and a v0.5 request completes a family's promise.
        """
        lines = []
        for seed in MemorySimulationTests.seeds:
            result = await simulate(
                RunOptions(seed, MemorySimulationTests.steps), MemoryStore()
            )
            self.assertTrue(result.ok, result.verdict())
            lines += result.lines
        answered = kindsAnswered(lines)
        for kind in sorted(M26.KINDS) + ["task.heartbeat"]:
            self.assertIn((kind, 200), answered)
        self.assertIn(("task.suspend", 300), answered)
        self.assertTrue(any(
            re.search(r"PATCH /promises/w/\S+ .* -> 2010", line) for line in lines
        ))
        self.assertTrue(any("ExpireTasks2026(" in line for line in lines))


class Model2026Tests(unittest.TestCase):
    """
    The model of the 2026 protocol follows the contract: a settlement wakes
    the task suspended on the promise, whichever protocol settles it; an
    overdue promise's chain waits for something to write its timeout; a
    503 leaves both outcomes open.
    """

    def setUp(self):
        self.model = Model(START)
        self.step = 0

    def rpc(self, kind, data, answer=None):
        """
        Judge a 2026 request answered as the model says it must be (or
        with C{answer}).

        @return: the L{Answer} judged.
        """
        self.step += 1
        request = R.Rpc("w/0.0", kind, R.canonicalJSON(data), f"c{self.step}")
        if answer is None:
            (answer,) = {
                a for f in self.model.possible("w/0.0")
                for a, _ in M26.judgeRpc(f, request, self.model.now, self.step)
            }
        self.model.judge(request, answer, self.step)
        return answer

    def family(self):
        (f,) = self.model.possible("w/0.0")
        return f

    def suspendedOnChild(self):
        """
        The root task acquired by W0 at version 1, suspended on its child
        C{w/0.0:0}.
        """
        self.rpc("promise.create", {"id": "w/0.0:0", "timeoutAt": START + 5000})
        self.rpc("task.create", {"pid": "W0", "ttl": 1000, "action": {
            "kind": "promise.create", "head": {}, "data": {
                "id": "w/0.0", "timeoutAt": START + 60_000,
                "tags": {M26.TARGET: "poll://any@dst"},
            },
        }})
        self.assertEqual(self.family().getTask("w/0.0").version, 1)
        self.rpc("task.suspend", {"id": "w/0.0", "version": 1, "actions": [
            {"kind": "promise.register_callback", "head": {},
             "data": {"awaited": "w/0.0:0", "awaiter": "w/0.0"}},
        ]})
        self.assertEqual(self.family().getTask("w/0.0").state, M26.SUSPENDED)

    def test_settleWakes(self):
        """
        Settling the awaited promise makes the suspended task pending at
        its version with one resume (section 9.4); acquiring it bumps the
        version and clears the resume.
        """
        self.suspendedOnChild()
        self.rpc("promise.settle", {"id": "w/0.0:0", "state": "resolved"})
        task = self.family().getTask("w/0.0")
        self.assertEqual((task.state, task.version), (M26.T_PENDING, 1))
        self.assertEqual(self.family().resumes("w/0.0"), 1)
        answer = self.rpc("task.acquire", {"id": "w/0.0", "version": 1,
                                           "pid": "W1", "ttl": 1000})
        self.assertEqual(json.loads(answer.body)["task"]["version"], 2)
        self.assertEqual(self.family().resumes("w/0.0"), 0)

    def test_v05CompleteWakes(self):
        """
        A v0.5 C{PATCH} of the awaited promise wakes the task too
        (DECISIONS 23).
        """
        self.suspendedOnChild()
        complete = R.CompletePromise("w/0.0:0", "REJECTED")
        (answer,) = {a for f in self.model.possible("w/0.0")
                     for a, _ in M26.completePromise(f, complete, START, 9)}
        self.assertEqual(answer.code, 2010)
        self.model.judge(complete, answer, 9)
        self.assertEqual(self.family().getTask("w/0.0").state, M26.T_PENDING)

    def test_overdueWaitsForItsWrite(self):
        """
        Once the awaited promise is overdue, clients see it timed out, but
        the task stays suspended until something writes the timeout: here
        a read of the promise.
        """
        self.suspendedOnChild()
        self.model.advance(START + 5000)
        self.assertEqual(self.family().getTask("w/0.0").state, M26.SUSPENDED)
        answer = self.rpc("promise.get", {"id": "w/0.0:0"})
        self.assertEqual(
            json.loads(answer.body)["promise"]["state"], "rejected_timedout"
        )
        self.assertEqual(self.family().getTask("w/0.0").state, M26.T_PENDING)

    def test_sweepBelowLimitWritesEverything(self):
        """
        A promise sweep that times out fewer than its limit wrote every
        overdue promise, so the awaiter is woken; one that hit its limit
        may not have.
        """
        self.suspendedOnChild()
        self.model.advance(START + 5000)
        self.model.judgePromiseSweep(1, 1)
        self.assertEqual(len(self.model.possible("w/0.0")), 2)
        self.model.judgePromiseSweep(1, 100)
        self.assertEqual(self.family().getTask("w/0.0").state, M26.T_PENDING)

    def test_unavailableLeavesBoth(self):
        """
        An acquire answered 503 may have happened; the task timer sweep's
        count then tells (the lease ends, or the retry fires).
        """
        self.rpc("promise.create", {"id": "w/0.0", "timeoutAt": START + 60_000,
                                    "tags": {M26.TARGET: "poll://any@dst"}})
        self.rpc("task.acquire", {"id": "w/0.0", "version": 0, "pid": "W0",
                                  "ttl": 1000}, Answer(503))
        self.assertEqual(len(self.model.possible("w/0.0")), 2)
        self.model.advance(START + 1000)
        with self.assertRaises(Violation):
            self.model.judgeTaskExpiry(2)
        self.model.judgeTaskExpiry(1)
        task = self.family().getTask("w/0.0")
        self.assertEqual((task.state, task.version), (M26.T_PENDING, 1))


def _created(timeout):
    return (
        '{"createdOn":%d,"id":"p","idempotencyKeyForCreate":"k","param":{},'
        '"state":"PENDING","timeout":%d,"value":{}}' % (START, timeout)
    )


class FaultyStoreTests(unittest.TestCase):
    """
    The fault proxy fails calls before or after the real store ran them.
    """

    async def test_faults(self):
        """
        With rate 1 every call fails with L{StoreFailure}; a failure
        "after" left the write done, one "before" did not.
        """
        from random import Random

        memory = MemoryStore()
        faulty = FaultyStore(memory, Random(0), 1.0)
        seen = {}
        for n in range(20):
            request = CreatePromise(id=f"p{n}", timeout=START + 1000)
            with self.assertRaises(StoreFailure):
                await faulty.createPromise(request, START)
            ((name, fault),) = faulty.takeDecisions()
            self.assertEqual(name, "createPromise")
            stored = await memory.readPromise(f"p{n}", START)
            seen[fault] = stored.status
        self.assertEqual(
            seen, {BEFORE: Status.PROMISE_NOT_FOUND, AFTER: Status.OK}
        )
        self.assertEqual(faulty.injected, 20)

    async def test_noFaults(self):
        """
        With rate 0 calls pass through.
        """
        from random import Random

        faulty = FaultyStore(MemoryStore(), Random(0), 0)
        decision = await faulty.createPromise(CreatePromise("p", START + 1), START)
        self.assertEqual(decision.status, Status.CREATED)
        self.assertEqual(faulty.takeDecisions(), [("createPromise", NONE)])


class SimulatedClockTests(unittest.TestCase):
    """
    The simulated clock reads back in exactly the milliseconds it was set
    to, as L{resonate.api.operations.Operations} reads it.
    """

    def test_exact(self):
        clock = SimulatedClock(START)
        now = START
        for step in (0, 1, 1, 3, 999, 1000, 1001, 12345, 2**33):
            now += step
            clock.setMilliseconds(now)
            self.assertEqual(int(clock.seconds() * 1000), now)


class CommandTests(unittest.TestCase):
    """
    The arguments of C{python -m resonate.testing.dst}; the command itself
    runs in L{tests.processes.test_dst_processes}.
    """

    def test_arguments(self):
        """
        The options have defaults; a missing seed is drawn at random.
        """
        arguments = parseArguments(["--steps", "10"])
        self.assertEqual(
            (arguments.steps, arguments.store, arguments.fault_rate),
            (10, "memory", 0.05),
        )
        self.assertEqual(arguments.store_options, [])
        self.assertIsInstance(arguments.seed, int)
        self.assertEqual(
            RunOptions(3, 10, "sqlite", 0.2).command(),
            "python -m resonate.testing.dst --seed 3 --steps 10 --store sqlite "
            "--fault-rate 0.2",
        )
