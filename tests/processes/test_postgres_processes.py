# -*- test-case-name: tests.processes.test_postgres_processes -*-
"""
C{twist resonate --aio-store postgres} as real processes: two servers on one
database answer concurrent creates and completes the way one linearizable
server would, and a server rides out its database connections being cut,
answering fast and losing nothing it acknowledged.

Each test runs on a scratch database of its own, created on the server
named by C{RESONATE_TEST_POSTGRES_DSN} and dropped once the processes have
stopped.
"""

import itertools
import random
import uuid

from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.internet.task import deferLater
from twisted.trial import unittest

from tests.support.postgrestools import (
    NO_POSTGRES,
    attempt,
    isEnvelope,
    runClients,
    scratchDatabase,
)
from tests.support.processtools import HTTPClient, startResonate, stopResonate

if NO_POSTGRES:
    skip = NO_POSTGRES

#: A promise timeout far in the future: 2100-01-01.
FAR = 4102444800000


class TwoServersOneDatabaseTests(unittest.TestCase):
    """
    Two server processes on one database behave as one server would.
    """

    clients = 16
    ids = 40
    seed = 20240501

    async def test_concurrentCreatesAndCompletes(self):
        """
        Racing creates and completes through two servers settle each id once.
        """
        _, _, flags = scratchDatabase(self)
        flags += ["--aio-store-workers", "4"]
        # At the same time: both race to create the schema.
        servers = await gatherResults(
            [ensureDeferred(startResonate(self, *flags)) for _ in range(2)],
            consumeErrors=True,
        )
        http = [
            [HTTPClient(server.url) for server in servers]
            for _ in range(self.clients)
        ]
        rng = random.Random(self.seed)
        ids = [f"race/{uuid.uuid4().hex[:8]}/{n}" for n in range(self.ids)]
        problems = []

        # Creates: per id, three with the shared key, two with keys of
        # their own, one without a key; some strict.  Grouped by id so
        # that the requests for one id are in flight together.
        creates = []
        for promiseId in ids:
            keys = [f"create-{promiseId}"] * 3 + [
                f"create-{promiseId}-{n}" for n in range(2)
            ] + [None]
            rng.shuffle(keys)
            creates += [
                (promiseId, key, rng.random() < 0.3) for key in keys
            ]
        created = {promiseId: [] for promiseId in ids}
        serial = itertools.count()

        async def create(client, item):
            promiseId, key, strict = item
            side = next(serial) % 2
            headers = {} if key is None else {"idempotency-key": key}
            if strict:
                headers["strict"] = "true"
            answer = await attempt(lambda: http[client][side].request(
                "POST", "/promises",
                {"id": promiseId, "timeout": FAR, "tags": {"test": "race"},
                 "param": {"data": "cGFyYW0="}},
                headers,
            ))
            created[promiseId].append((item, side, answer))

        await runClients(self.clients, creates, create)

        createdBodies = {}
        for promiseId, answers in sorted(created.items()):
            broken = [
                (item, side, problem)
                for item, side, (response, problem, _) in answers
                if response is None
            ]
            if broken:
                problems.append(f"create {promiseId}: no answer: {broken}")
                continue
            winners = [
                (item, response)
                for item, side, (response, _, _) in answers
                if response.code == 201
            ]
            if len(winners) != 1:
                problems.append(
                    f"create {promiseId}: {len(winners)} answers 201: "
                    f"{[(i, s, r) for i, s, (r, _, _) in answers]}"
                )
                continue
            (_, winningKey, _), winner = winners[0]
            createdBodies[promiseId] = winner.body
            for item, side, (response, _, _) in answers:
                if response is winner:
                    continue
                key = item[1]
                if key is not None and key == winningKey:
                    ok = response.code == 200 and response.body == winner.body
                    expected = "200 with the created promise"
                else:
                    ok = isEnvelope(response, 4090)
                    expected = "409 (4090)"
                if not ok:
                    problems.append(
                        f"create {promiseId} key={key} strict={item[2]} via "
                        f"server {side} (winner key={winningKey}): "
                        f"expected {expected}, got {response}"
                    )

        # Completes: per id, RESOLVED and REJECTED, a shared key or one of
        # their own, strict or not, through both servers.
        completes = []
        for promiseId in sorted(createdBodies):
            attempts = [
                (promiseId, state, key, strict)
                for state in ("RESOLVED", "REJECTED")
                for key, strict in (
                    (f"complete-{promiseId}", False),
                    (f"complete-{promiseId}", True),
                    (f"complete-{promiseId}-{state}", rng.random() < 0.5),
                )
            ]
            rng.shuffle(attempts)
            completes += attempts
        completed = {promiseId: [] for promiseId in createdBodies}

        async def complete(client, item):
            promiseId, state, key, strict = item
            side = next(serial) % 2
            headers = {"idempotency-key": key}
            if strict:
                headers["strict"] = "true"
            answer = await attempt(lambda: http[client][side].request(
                "PATCH", "/promises/" + promiseId,
                {"state": state, "value": {"data": "dmFsdWU="}}, headers,
            ))
            completed[promiseId].append((item, side, answer))

        await runClients(self.clients, completes, complete)

        alreadyCode = {"RESOLVED": 4030, "REJECTED": 4031}
        for promiseId, answers in sorted(completed.items()):
            broken = [
                (item, side, problem)
                for item, side, (response, problem, _) in answers
                if response is None
            ]
            if broken:
                problems.append(f"complete {promiseId}: no answer: {broken}")
                continue
            winners = [
                (item, response)
                for item, side, (response, _, _) in answers
                if response.code == 201
            ]
            if len(winners) != 1:
                problems.append(
                    f"complete {promiseId}: {len(winners)} answers 201: "
                    f"{[(i, s, r) for i, s, (r, _, _) in answers]}"
                )
                continue
            (_, winningState, winningKey, _), winner = winners[0]
            final = winner.body
            if final.get("state") != winningState:
                problems.append(
                    f"complete {promiseId}: the 201 says {final!r}, "
                    f"not {winningState}"
                )
            for item, side, (response, _, _) in answers:
                if response is winner:
                    continue
                _, state, key, strict = item
                if strict:
                    dedup = key == winningKey and state == winningState
                else:
                    dedup = key == winningKey
                if dedup:
                    ok = response.code == 200 and response.body == final
                    expected = "200 with the completed promise"
                else:
                    ok = isEnvelope(response, alreadyCode[winningState])
                    expected = f"403 ({alreadyCode[winningState]})"
                if not ok:
                    problems.append(
                        f"complete {promiseId} {state} key={key} "
                        f"strict={strict} via server {side} (winner "
                        f"{winningState} key={winningKey}): expected "
                        f"{expected}, got {response}"
                    )
            # Read back through both servers: the same, settled promise.
            for side in (0, 1):
                response, problem, _ = await attempt(
                    lambda: http[0][side].read(promiseId)
                )
                if response is None or response.code != 200 or (
                    response.body != final
                ):
                    problems.append(
                        f"read {promiseId} via server {side}: expected 200 "
                        f"with {final!r}, got {response or problem}"
                    )

        for server in servers:
            self.assertTrue(server.running, f"{server.exit}\n{server.output}")
        logs = "\n".join(
            f"--- server {n} ---\n{server.output}"
            for n, server in enumerate(servers)
        )
        self.assertEqual(problems, [], logs)
        for server in servers:
            self.assertNotIn("Traceback", server.output, logs)
        ended = await gatherResults(
            [ensureDeferred(stopResonate(server)) for server in servers],
            consumeErrors=True,
        )
        for exit in ended:
            self.assertTrue(exit.stoppedByTERM, f"{exit}\n{logs}")


class ConnectionsCutTests(unittest.TestCase):
    """
    A server whose database connections are cut answers fast, recovers by
    itself and loses nothing it acknowledged.
    """

    clients = 8

    #: Seconds of load before the fault.
    before = 2.0

    #: When, after the fault starts, the connections are cut again.
    cuts = (0.0, 0.5, 1.0)

    #: Seconds within which the server must serve again after the last cut.
    recovery = 10.0

    #: Seconds without a failure that count as recovered.
    clean = 1.0

    #: The longest one request may take, even while the database is away.
    fast = 2.0

    def _terminate(self, admin, database):
        """
        Cut every connection to C{database}.

        @return: how many backends were terminated.
        """
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
            return len(cursor.fetchall())

    async def test_connectionsTerminated(self):
        """
        Cut connections: fast 5002/503 or success, then recovery, no loss.
        """
        database, admin, flags = scratchDatabase(self)
        server = await startResonate(
            self, *flags,
            "--aio-store-workers", "4",
            "--aio-store-postgres-tx-timeout", "250ms",
        )
        acknowledged = {}
        log = []  # (started, finished, kind, promiseId, response, problem)
        stopping = [False]

        async def load(number):
            client = HTTPClient(server.url)
            for n in itertools.count():
                if stopping[0]:
                    return
                promiseId = f"cut/{number}/{n}"
                started = reactor.seconds()
                response, problem, _ = await attempt(
                    lambda: client.create(promiseId, FAR, ikey=promiseId)
                )
                log.append((started, reactor.seconds(), "create", promiseId,
                            response, problem))
                if response is not None and response.code == 201:
                    acknowledged[promiseId] = response.body
                # Read back something acknowledged (this one, or an older one).
                if acknowledged:
                    readId = promiseId if promiseId in acknowledged else (
                        next(reversed(acknowledged))
                    )
                    started = reactor.seconds()
                    response, problem, _ = await attempt(
                        lambda: client.read(readId)
                    )
                    log.append((started, reactor.seconds(), "read", readId,
                                response, problem))

        loading = gatherResults(
            [ensureDeferred(load(n)) for n in range(self.clients)],
            consumeErrors=True,
        )
        self.addCleanup(lambda: stopping.__setitem__(0, True))
        await deferLater(reactor, self.before)
        beforeFault = len(acknowledged)

        faultStarted = reactor.seconds()
        terminated = []
        for at in self.cuts:
            delay = faultStarted + at - reactor.seconds()
            if delay > 0:
                await deferLater(reactor, delay)
            terminated.append(self._terminate(admin, database))
        lastCut = reactor.seconds()

        # Recovered: a stretch of `clean` seconds in which every request
        # succeeded, and there were some of each kind.
        recoveredAt = None
        while reactor.seconds() - lastCut < self.recovery:
            await deferLater(reactor, 0.1)
            now = reactor.seconds()
            if now - lastCut < self.clean:
                continue
            recent = [e for e in log if e[0] >= now - self.clean]
            good = [e for e in recent if _succeeded(e)]
            kinds = {e[2] for e in good}
            if len(good) == len(recent) and kinds == {"create", "read"}:
                recoveredAt = now
                break
        stopping[0] = True
        await loading

        logs = server.output
        self.assertTrue(server.running, f"{server.exit}\n{logs}")
        self.assertGreater(beforeFault, 0, logs)
        self.assertGreater(
            sum(terminated), 0, "the server held no database connection"
        )

        problems = []
        for started, finished, kind, promiseId, response, problem in log:
            when = f"{started - faultStarted:+.2f}s"
            if response is None:
                problems.append(f"{when} {kind} {promiseId}: {problem}")
                continue
            if finished - started > self.fast:
                problems.append(
                    f"{when} {kind} {promiseId}: took "
                    f"{finished - started:.2f}s: {response}"
                )
            if not (_succeeded((started, finished, kind, promiseId, response,
                                problem))
                    or isEnvelope(response, 5002, 5030, 5031, 5032)):
                problems.append(f"{when} {kind} {promiseId}: {response}")
        self.assertEqual(problems, [], logs)
        self.assertIsNotNone(
            recoveredAt,
            f"no {self.clean}s without failures within {self.recovery}s of "
            f"the last cut; failures after it: "
            f"{[(round(e[0] - lastCut, 2), e[2], e[4]) for e in log if e[0] >= lastCut and not _succeeded(e)][-20:]}"
            f"\n{logs}",
        )

        # Nothing acknowledged was lost.
        client = HTTPClient(server.url)
        lost = []

        async def readBack(number, item):
            promiseId, body = item
            response, problem, _ = await attempt(lambda: client.read(promiseId))
            if response is None or (response.code, response.body) != (200, body):
                lost.append((promiseId, body, response or problem))

        await runClients(self.clients, sorted(acknowledged.items()), readBack)
        self.assertEqual(sorted(lost), [], server.output)

        exit = await stopResonate(server)
        self.assertTrue(exit.stoppedByTERM, f"{exit}\n{server.output}")


def _succeeded(entry):
    """
    Whether a logged create got 201 or a logged read got 200.
    """
    _, _, kind, _, response, _ = entry
    if response is None:
        return False
    return response.code == (201 if kind == "create" else 200)
