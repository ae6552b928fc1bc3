# -*- test-case-name: tests.processes.test_crash -*-
"""
Crash safety: a real C{twist resonate} process is killed with SIGKILL at
random moments while concurrent clients create and complete promises, and
restarted on the same database; everything it acknowledged must be there
with the state it acknowledged, and a SQLite database must pass
C{PRAGMA integrity_check}.

A request still in flight when the process died was not acknowledged: it
may or may not have happened, but if it did, the promise must be exactly
what that request asked for.  Nothing else may appear.

The kill points are drawn from a seeded C{random.Random}; a failure names
the seed and the kill delays.  PostgreSQL runs need
C{RESONATE_TEST_POSTGRES_DSN}.
"""

import base64
import itertools
import os
import random
import sqlite3

from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from tests.support.processtools import HTTPClient, sqliteFlags, startResonate, stopResonate

#: A promise timeout far in the future: 2100-01-01.
FAR = 4102444800000

STATES = ("RESOLVED", "REJECTED", "REJECTED_CANCELED")


def _b64(data):
    return base64.b64encode(data).decode("ascii")


class _Ledger:
    """
    What the clients know: the last acknowledged body of each promise, and
    the requests that were in flight when the server died.

    @ivar acknowledged: promise id to the body of the last 201.
    @ivar inFlight: promise id to C{(kind, request fields)} of a request
        sent and never answered.
    @ivar problems: answers that were neither success nor a dead server.
    """

    def __init__(self):
        self.acknowledged = {}
        self.inFlight = {}
        self.problems = []


def integrityCheck(path):
    """
    Open a SQLite database (recovering its WAL) and check it.

    @return: the rows of C{PRAGMA integrity_check} (C{[("ok",)]} when sound).
    """
    connection = sqlite3.connect(path)
    try:
        return connection.execute("PRAGMA integrity_check").fetchall()
    finally:
        connection.close()


class _CrashMixin:
    """
    Rounds of load, SIGKILL and restart on one database.

    @cvar seed: the seed of the kill delays and the requests.
    @cvar rounds: how many times the server is killed.
    @cvar clients: concurrent clients during the load.
    """

    seed = None
    rounds = 3
    clients = 16

    def serverFlags(self):
        """
        @return: the C{twist resonate} flags for the store under test.
        """
        raise NotImplementedError()

    async def checkDatabase(self):
        """
        Check the database on its own once the server is dead.
        """

    def load(self, server, ledger, round, rng):
        """
        Clients create promises, each with a key, and complete about two
        in three of them, until a request fails because the server died.
        """
        async def client(number):
            http = HTTPClient(server.url)
            for n in itertools.count():
                promiseId = f"crash/{round}/{number}/{n}"
                param = {"headers": {"n": str(n)}, "data": _b64(rng.randbytes(16))}
                ledger.inFlight[promiseId] = ("create", {"param": param})
                try:
                    response = await http.create(
                        promiseId, FAR, ikey=promiseId, param=param
                    )
                except Exception:
                    return
                del ledger.inFlight[promiseId]
                if response.code != 201:
                    ledger.problems.append((promiseId, "create", response))
                    continue
                ledger.acknowledged[promiseId] = response.body
                if rng.random() < 1 / 3:
                    continue
                fields = {
                    "state": rng.choice(STATES),
                    "value": {"data": _b64(rng.randbytes(8))},
                    "ikey": f"done-{promiseId}",
                }
                ledger.inFlight[promiseId] = ("complete", fields)
                try:
                    response = await http.complete(
                        promiseId, fields["state"], ikey=fields["ikey"],
                        value=fields["value"],
                    )
                except Exception:
                    return
                del ledger.inFlight[promiseId]
                if response.code != 201:
                    ledger.problems.append((promiseId, "complete", response))
                    continue
                ledger.acknowledged[promiseId] = response.body

        return gatherResults(
            [ensureDeferred(client(n)) for n in range(self.clients)],
            consumeErrors=True,
        )

    def legalUnacknowledged(self, promiseId, ledger, found):
        """
        Whether C{found} (a body, or L{None} if the promise does not exist)
        is a legal outcome of the request in flight for C{promiseId}.
        """
        kind, fields = ledger.inFlight[promiseId]
        if kind == "create":
            return found is None or (
                found["state"] == "PENDING"
                and found["id"] == promiseId
                and found["param"] == fields["param"]
                and found["timeout"] == FAR
                and found["idempotencyKeyForCreate"] == promiseId
                and "value" in found
            )
        before = ledger.acknowledged[promiseId]
        if found == before:
            return True
        expected = dict(
            before,
            state=fields["state"],
            value=fields["value"],
            idempotencyKeyForComplete=fields["ikey"],
        )
        if found is None or "completedOn" not in found:
            return False
        return dict(found, completedOn=None) == dict(expected, completedOn=None)

    async def verify(self, server, ledger, why):
        """
        After a restart: every acknowledged promise reads back exactly as
        acknowledged, every unacknowledged one is absent or legal, and the
        search lists nothing else.
        """
        http = HTTPClient(server.url)
        problems = []
        listed = {}
        cursor = None
        while True:
            path = "/promises?id=crash/*&limit=100"
            if cursor is not None:
                path = "/promises?cursor=" + cursor
            page = await http.request("GET", path)
            if page.code != 200:
                self.fail(f"{why}: search answered {page}")
            listed.update((p["id"], p) for p in page.body["promises"])
            cursor = page.body["cursor"]
            if cursor is None:
                break
        for promiseId, body in sorted(ledger.acknowledged.items()):
            if promiseId in ledger.inFlight:
                continue
            if listed.get(promiseId) != body:
                problems.append(
                    f"acknowledged {promiseId}: {body}, found {listed.get(promiseId)}"
                )
        for promiseId in sorted(ledger.inFlight):
            found = listed.get(promiseId)
            if not self.legalUnacknowledged(promiseId, ledger, found):
                problems.append(
                    f"in flight {ledger.inFlight[promiseId]} on {promiseId}: "
                    f"found {found}"
                )
        unknown = sorted(set(listed) - set(ledger.acknowledged) - set(ledger.inFlight))
        if unknown:
            problems.append(f"never requested: {unknown[:10]}")
        # Reads agree with the search, for a sample.
        for promiseId in sorted(listed)[:: max(1, len(listed) // 20)]:
            read = await http.read(promiseId)
            if (read.code, read.body) != (200, listed[promiseId]):
                problems.append(f"read {promiseId}: {read}, searched {listed[promiseId]}")
        self.assertEqual(problems, [], f"{why}\n{server.output}")
        # What was in flight has settled one way or the other.
        for promiseId, (kind, _) in list(ledger.inFlight.items()):
            del ledger.inFlight[promiseId]
            if promiseId in listed:
                ledger.acknowledged[promiseId] = listed[promiseId]
            elif kind == "complete":
                self.fail(f"{why}: {promiseId} vanished")

    async def test_killDuringLoad(self):
        """
        Kill the server at seeded random moments of concurrent load; after
        each restart, nothing acknowledged is lost or changed.
        """
        rng = random.Random(self.seed)
        delays = [round(rng.uniform(0.3, 1.5), 3) for _ in range(self.rounds)]
        why = f"seed {self.seed}, kill delays {delays}"
        flags = self.serverFlags()
        ledger = _Ledger()
        server = await startResonate(self, *flags)
        for number, delay in enumerate(delays):
            before = len(ledger.acknowledged)
            loading = self.load(server, ledger, number, rng)
            await deferLater(reactor, delay)
            server.signal("KILL")
            await server.waitForEnd()
            await loading
            self.assertEqual(ledger.problems, [], why)
            self.assertGreater(len(ledger.acknowledged), before, why)
            await self.checkDatabase()
            server = await startResonate(self, *flags)
            await self.verify(
                server, ledger,
                f"{why}: after kill {number + 1} "
                f"({len(ledger.acknowledged)} acknowledged, "
                f"{len(ledger.inFlight)} in flight)",
            )
        exit = await stopResonate(server)
        self.assertTrue(exit.stoppedByTERM, f"{exit}\n{server.output}")
        await self.checkDatabase()


class SQLiteCrashTests(_CrashMixin, unittest.TestCase):
    """
    SQLite (WAL, synchronous=FULL): acknowledged writes survive SIGKILL and
    the file stays sound.
    """

    seed = 20260701

    def serverFlags(self):
        self.database = os.path.abspath(self.mktemp() + ".db")
        return sqliteFlags(self.database)

    async def checkDatabase(self):
        rows = await deferToThread(integrityCheck, self.database)
        self.assertEqual(rows, [("ok",)])


class PostgresCrashTests(_CrashMixin, unittest.TestCase):
    """
    PostgreSQL: acknowledged writes survive the server's SIGKILL.
    """

    seed = 20260702
    if not os.environ.get("RESONATE_TEST_POSTGRES_DSN"):
        skip = "RESONATE_TEST_POSTGRES_DSN is not set"

    def serverFlags(self):
        from tests.support.postgrestools import scratchDatabase

        _, _, flags = scratchDatabase(self)
        return flags + ["--aio-store-workers", "4"]
