# -*- test-case-name: tests.processes.test_locks_processes -*-
"""
Locks across real processes: two C{twist resonate} servers on one
PostgreSQL database grant a lock to one execution at a time, however the
clients are spread over the two, and agree on re-entrant acquires,
heartbeats and expiry.

Each test runs on a scratch database of its own, created on the server
named by C{RESONATE_TEST_POSTGRES_DSN} and dropped once the processes have
stopped.
"""

from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.internet.task import deferLater
from twisted.trial import unittest

from tests.support.postgrestools import (
    NO_POSTGRES,
    attempt,
    isEnvelope,
    scratchDatabase,
)
from tests.support.processtools import HTTPClient, startResonate, stopCleanly

if NO_POSTGRES:
    skip = NO_POSTGRES

#: How many executions race for the shared resources, each with a process
#: id of its own, alternating between the two servers.
EXECUTIONS = 12

#: The resources they race for.
RESOURCES = ["lock.a", "lock.b", "lock.c"]

#: How long the executions race, in seconds.
RUN_FOR = 3.0

#: The lease each racing acquire asks for, in milliseconds: far longer than
#: a holder holds, so that no lease runs out while held.
EXPIRY = 2000

#: How long a racing holder holds a lock before releasing it, in seconds.
HOLD = 0.005

#: The short lease of the lock left to expire, in milliseconds.
SHORT_EXPIRY = 300


async def startTwoServers(testCase):
    """
    Start two servers on one new scratch database.

    @return: C{(servers, clients)}: the two L{ResonateProcess}es and an
        L{HTTPClient} for each.
    """
    _, _, flags = scratchDatabase(testCase)
    servers = await gatherResults(
        [ensureDeferred(startResonate(testCase, *flags)) for _ in range(2)],
        consumeErrors=True,
    )
    return servers, [HTTPClient(server.url) for server in servers]


def acquire(client, resourceId, processId, executionId, expiry=EXPIRY):
    """
    C{POST /locks/acquire}.
    """
    return client.request(
        "POST",
        "/locks/acquire",
        {
            "resourceId": resourceId,
            "processId": processId,
            "executionId": executionId,
            "expiryInMilliseconds": expiry,
        },
    )


def release(client, resourceId, executionId):
    """
    C{POST /locks/release}.
    """
    return client.request(
        "POST",
        "/locks/release",
        {"resourceId": resourceId, "executionId": executionId},
    )


def heartbeat(client, processId):
    """
    C{POST /locks/heartbeat}.
    """
    return client.request(
        "POST", "/locks/heartbeat", {"processId": processId}
    )


class LocksAcrossProcessesTests(unittest.TestCase):
    """
    Two servers on one database keep locks as one server would.
    """

    timeout = 180

    async def stopBoth(self, servers):
        """
        Stop both servers and check that each stopped cleanly.
        """
        for server in servers:
            await stopCleanly(self, server)

    def assertGranted(self, response, resourceId, processId, executionId):
        """
        C{response} is a 201 granting C{resourceId} to C{executionId} of
        C{processId}.
        """
        self.assertEqual(response.code, 201, response)
        self.assertEqual(
            (
                response.body["resourceId"],
                response.body["processId"],
                response.body["executionId"],
            ),
            (resourceId, processId, executionId),
            response,
        )

    async def test_mutualExclusion(self):
        """
        Executions racing through both servers for a few resources are
        granted each resource one at a time: no 201 while another
        execution holds it, every release of a held lock answers 204,
        every refusal is the 4034 envelope, and no request fails or hangs.
        """
        servers, clients = await startTwoServers(self)
        holders = {}
        violations = []
        problems = []
        counts = {"acquired": 0, "refused": 0}
        deadline = reactor.seconds() + RUN_FOR

        async def execution(number):
            client = clients[number % 2]
            processId = f"process.{number}"
            executionId = f"execution.{number}"
            turn = 0
            while reactor.seconds() < deadline:
                resourceId = RESOURCES[(number + turn) % len(RESOURCES)]
                turn += 1
                sent = reactor.seconds()
                response, problem, _ = await attempt(
                    lambda: acquire(client, resourceId, processId, executionId)
                )
                if response is None:
                    problems.append(f"acquire {resourceId}: {problem}")
                    continue
                if response.code == 403:
                    counts["refused"] += 1
                    if not isEnvelope(response, 4034):
                        problems.append(f"acquire {resourceId}: {response}")
                    continue
                if response.code != 201:
                    problems.append(f"acquire {resourceId}: {response}")
                    continue
                counts["acquired"] += 1
                other = holders.get(resourceId)
                if other is not None:
                    otherExecution, otherSent = other
                    # The other holder cannot have released yet (it forgets
                    # its hold before releasing); its lease can only have
                    # run out if it was asked for more than EXPIRY ago.
                    if (reactor.seconds() - otherSent) * 1000 < EXPIRY:
                        violations.append(
                            f"{executionId} granted {resourceId} held by "
                            f"{otherExecution}"
                        )
                holders[resourceId] = (executionId, sent)
                await deferLater(reactor, HOLD, lambda: None)
                if holders.get(resourceId, (None,))[0] == executionId:
                    del holders[resourceId]
                held = (reactor.seconds() - sent) * 1000
                response, problem, _ = await attempt(
                    lambda: release(client, resourceId, executionId)
                )
                if response is None:
                    problems.append(f"release {resourceId}: {problem}")
                elif response.code != 204 and held < EXPIRY:
                    problems.append(f"release {resourceId}: {response}")

        await gatherResults(
            [ensureDeferred(execution(n)) for n in range(EXECUTIONS)],
            consumeErrors=True,
        )
        self.assertEqual(violations, [])
        self.assertEqual(problems, [])
        self.assertGreater(counts["acquired"], len(RESOURCES), counts)
        self.assertGreater(counts["refused"], 0, counts)

        # Every lock was released: each resource is free for a newcomer.
        for n, resourceId in enumerate(RESOURCES):
            response = await acquire(
                clients[n % 2], resourceId, "process.last", "execution.last"
            )
            self.assertGranted(
                response, resourceId, "process.last", "execution.last"
            )

        await self.stopBoth(servers)

    async def test_reentrantThroughOtherServer(self):
        """
        The holder re-acquires its lock through the other server (201),
        while another execution is refused there with the 4034 envelope;
        after the holder releases through the other server, the other
        execution acquires it through the first.
        """
        servers, clients = await startTwoServers(self)
        first = await acquire(clients[0], "r", "p1", "e1")
        self.assertGranted(first, "r", "p1", "e1")
        again = await acquire(clients[1], "r", "p1", "e1")
        self.assertGranted(again, "r", "p1", "e1")
        refused = await acquire(clients[1], "r", "p2", "e2")
        self.assertTrue(isEnvelope(refused, 4034), refused)
        released = await release(clients[1], "r", "e1")
        self.assertEqual(released.code, 204, released)
        taken = await acquire(clients[0], "r", "p2", "e2")
        self.assertGranted(taken, "r", "p2", "e2")
        await self.stopBoth(servers)

    async def test_heartbeatThroughOtherServer(self):
        """
        A heartbeat through the other server extends every lock the process
        holds, whichever server granted it, and counts them.
        """
        servers, clients = await startTwoServers(self)
        for n, resourceId in enumerate(["h.1", "h.2", "h.3"]):
            response = await acquire(
                clients[n % 2], resourceId, "hp", f"he.{n}"
            )
            self.assertGranted(response, resourceId, "hp", f"he.{n}")
        other = await acquire(clients[0], "h.other", "op", "oe")
        self.assertGranted(other, "h.other", "op", "oe")

        beat = await heartbeat(clients[1], "hp")
        self.assertEqual(beat.code, 200, beat)
        self.assertEqual(beat.body, {"locksAffected": 3})
        beat = await heartbeat(clients[0], "hp")
        self.assertEqual(beat.body, {"locksAffected": 3})
        beat = await heartbeat(clients[0], "nobody")
        self.assertEqual(beat.code, 200, beat)
        self.assertEqual(beat.body, {"locksAffected": 0})
        await self.stopBoth(servers)

    async def test_expiredTakenOverThroughOtherServer(self):
        """
        A lock left to expire is refused to another execution through the
        other server until its lease runs out, then granted to it (201);
        the first execution's late release answers the 4043 envelope.
        """
        servers, clients = await startTwoServers(self)
        first = await acquire(clients[0], "x", "p1", "e1", SHORT_EXPIRY)
        self.assertGranted(first, "x", "p1", "e1")
        refused = await acquire(clients[1], "x", "p2", "e2")
        self.assertTrue(isEnvelope(refused, 4034), refused)
        await deferLater(reactor, SHORT_EXPIRY * 2 / 1000, lambda: None)
        taken = await acquire(clients[1], "x", "p2", "e2")
        self.assertGranted(taken, "x", "p2", "e2")
        late = await release(clients[0], "x", "e1")
        self.assertTrue(isEnvelope(late, 4043), late)
        held = await release(clients[0], "x", "e2")
        self.assertEqual(held.code, 204, held)
        await self.stopBoth(servers)
