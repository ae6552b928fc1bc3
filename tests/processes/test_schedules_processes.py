# -*- test-case-name: tests.processes.test_schedules_processes -*-
"""
Schedules across real processes: two C{twist resonate} servers on one
PostgreSQL database fire a C{* * * * * *} schedule once a second, on time,
each slot exactly once and none skipped.

Each test runs on a scratch database of its own, created on the server
named by C{RESONATE_TEST_POSTGRES_DSN} and dropped once the processes have
stopped.
"""

import time
from urllib.parse import quote

from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.internet.task import deferLater
from twisted.trial import unittest

from tests.support.postgrestools import (
    NO_POSTGRES,
    scratchDatabase,
)
from tests.support.processtools import HTTPClient, startResonate, stopCleanly

if NO_POSTGRES:
    skip = NO_POSTGRES

#: The schedule's C{promiseTimeout}, in milliseconds.
PROMISE_TIMEOUT = 60000

#: How long the schedule is left to fire, in seconds.
RUN_FOR = 4.5

#: How many schedules race for the same slots in
#: L{ScheduleAcrossProcessesTests.test_manySchedulesBothServers}.
SCHEDULES = 20

#: How late a slot may be seen fired, in milliseconds: the scheduler wakes
#: for the slot itself, so this is slack for loaded machines only.
LATE = 1500


async def searchAll(client, pattern):
    """
    Every promise whose id matches C{pattern}, following the cursor.

    @return: a list of rendered promises.
    """
    promises = []
    path = f"/promises?id={quote(pattern)}&limit=100"
    while True:
        response = await client.request("GET", path)
        if response.code != 200:
            raise AssertionError(f"GET {path}: {response}")
        promises += response.body["promises"]
        cursor = response.body.get("cursor")
        if not cursor:
            return promises
        path = f"/promises?cursor={quote(cursor)}"


class ScheduleAcrossProcessesTests(unittest.TestCase):
    """
    Two servers on one database fire one schedule as one server would.
    """

    timeout = 180

    async def test_everySecondOnceEach(self):
        """
        A C{* * * * * *} schedule created through one of two servers on one
        database creates one promise per second slot: none twice, none
        skipped from the first slot on, each created on its slot and tagged
        with its schedule, the latest no more than a moment late.
        """
        _, _, flags = scratchDatabase(self)
        servers = await gatherResults(
            [ensureDeferred(startResonate(self, *flags)) for _ in range(2)],
            consumeErrors=True,
        )
        clients = [HTTPClient(server.url) for server in servers]

        created = await clients[0].request(
            "POST",
            "/schedules",
            {
                "id": "tick",
                "cron": "* * * * * *",
                "promiseId": "tick.{{.timestamp}}",
                "promiseTimeout": PROMISE_TIMEOUT,
            },
        )
        self.assertEqual(created.code, 201, created)
        firstSlot = created.body["nextRunTime"]
        self.assertEqual(firstSlot % 1000, 0, created)

        await deferLater(reactor, RUN_FOR, lambda: None)
        readAt = int(time.time() * 1000)
        promises = await searchAll(clients[1], "tick.*")
        # Read through the other server too: both see the same promises.
        other = await searchAll(clients[0], "tick.*")
        self.assertEqual(
            sorted(p["id"] for p in promises), sorted(p["id"] for p in other)
        )

        ids = [p["id"] for p in promises]
        self.assertEqual(len(ids), len(set(ids)), f"a slot twice: {ids}")
        slots = sorted(int(promiseId.split(".", 1)[1]) for promiseId in ids)
        self.assertTrue(slots, "no slot fired")
        self.assertEqual(slots[0], firstSlot, slots)
        self.assertEqual(
            slots, list(range(slots[0], slots[-1] + 1000, 1000)),
            f"gaps or off-second slots: {slots}",
        )
        self.assertGreaterEqual(len(slots), int(RUN_FOR) - 1, slots)
        self.assertGreaterEqual(
            slots[-1], readAt - 1000 - LATE,
            f"the latest slot {slots[-1]} is late at {readAt}",
        )
        for promise in promises:
            slot = int(promise["id"].split(".", 1)[1])
            self.assertEqual(promise["createdOn"], slot, promise)
            self.assertEqual(
                promise["timeout"], slot + PROMISE_TIMEOUT, promise
            )
            self.assertEqual(
                promise["tags"].get("resonate:schedule"), "tick", promise
            )

        # The schedule has advanced past the last slot fired, exactly once
        # per slot.
        schedule = await clients[1].request("GET", "/schedules/tick")
        self.assertEqual(schedule.code, 200, schedule)
        lastRunTime = schedule.body.get("lastRunTime")
        self.assertGreaterEqual(lastRunTime, slots[-1], schedule)
        self.assertEqual(
            schedule.body["nextRunTime"], lastRunTime + 1000, schedule
        )

        for server in servers:
            await stopCleanly(self, server)

    async def test_manySchedulesBothServers(self):
        """
        Several C{* * * * * *} schedules, created through both servers, so
        that the two race for the same due slots every second: every
        schedule creates one promise per slot from its first slot on, none
        skipped, each on its slot.
        """
        _, _, flags = scratchDatabase(self)
        servers = await gatherResults(
            [ensureDeferred(startResonate(self, *flags)) for _ in range(2)],
            consumeErrors=True,
        )
        clients = [HTTPClient(server.url) for server in servers]
        firstSlots = {}
        for n in range(SCHEDULES):
            scheduleId = f"many{n}"
            created = await clients[n % 2].request(
                "POST",
                "/schedules",
                {
                    "id": scheduleId,
                    "cron": "* * * * * *",
                    "promiseId": "many.{{.id}}.{{.timestamp}}",
                    "promiseTimeout": PROMISE_TIMEOUT,
                },
            )
            self.assertEqual(created.code, 201, created)
            firstSlots[scheduleId] = created.body["nextRunTime"]

        await deferLater(reactor, RUN_FOR, lambda: None)
        readAt = int(time.time() * 1000)
        promises = await searchAll(clients[0], "many.*")
        ids = [p["id"] for p in promises]
        self.assertEqual(len(ids), len(set(ids)), f"a slot twice: {ids}")
        bySchedule = {}
        for promise in promises:
            _, scheduleId, slot = promise["id"].split(".")
            slot = int(slot)
            self.assertEqual(promise["createdOn"], slot, promise)
            self.assertEqual(
                promise["tags"].get("resonate:schedule"), scheduleId, promise
            )
            bySchedule.setdefault(scheduleId, []).append(slot)
        self.assertEqual(sorted(bySchedule), sorted(firstSlots))
        for scheduleId, slots in sorted(bySchedule.items()):
            slots.sort()
            self.assertEqual(slots[0], firstSlots[scheduleId], scheduleId)
            self.assertEqual(
                slots, list(range(slots[0], slots[-1] + 1000, 1000)),
                f"{scheduleId}: gaps or off-second slots: {slots}",
            )
            self.assertGreaterEqual(
                slots[-1], readAt - 1000 - LATE,
                f"{scheduleId}: the latest slot {slots[-1]} is late "
                f"at {readAt}",
            )

        for server in servers:
            await stopCleanly(self, server)
