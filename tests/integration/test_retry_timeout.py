"""
A v0.5 read or create that writes an overdue promise's timeout runs the
2026 settlement chain with the server's C{tasks.retryTimeout}, as the 2026
reads do: the tasks it wakes are offered again after that long, not after
the default 30 s.
"""

import json

from twisted.trial import unittest

from resonate.api.http import APISite, HTTPAPI
from resonate.api.operations import Operations
from resonate.store.memory import MemoryStore
from resonate.testing.dst.runner import START, SimulatedClock
from resonate.testing.dst.wire import Wire

RETRY = 5000


def rpc(kind, data):
    return {"kind": kind, "head": {"corrId": "c", "version": "2026-04-01"}, "data": data}


class V05ReadRetryTimeoutTests(unittest.TestCase):
    """
    Every path that times a promise out passes C{tasks.retryTimeout} on.
    """

    async def wakeBy(self, how):
        store = MemoryStore()
        clock = SimulatedClock(START)
        operations = Operations(store, clock, 100, retryTimeout=RETRY)
        wire = Wire(APISite(HTTPAPI(operations).resource(), 1 << 20))

        async def send(*args):
            response = await wire.send(*args)
            self.assertLess(response.status, 400, response.body)
            return json.loads(response.body) if response.body else None

        await send("POST", "/", {}, rpc("promise.create", {"id": "w:1", "timeoutAt": START + 1000}))
        await send("POST", "/", {}, rpc("task.create", {"pid": "p", "ttl": 60_000, "action": {
            "kind": "promise.create", "head": {}, "data": {
                "id": "w", "timeoutAt": START + 600_000,
                "tags": {"resonate:target": "poll://any@g"}}}}))
        await send("POST", "/", {}, rpc("task.suspend", {"id": "w", "version": 1, "actions": [
            {"kind": "promise.register_callback", "head": {},
             "data": {"awaited": "w:1", "awaiter": "w"}}]}))
        now = START + 1000
        clock.setMilliseconds(now)
        await how(send)
        task = (await send("POST", "/", {}, rpc("task.get", {"id": "w"})))["data"]["task"]
        self.assertEqual(task["state"], "pending")
        # The retry timer is due tasks.retryTimeout after the wake-up.
        self.assertEqual(await store.expireTasks2026(now + RETRY, 100, retryTimeout=RETRY), 1)

    async def test_v05Read(self):
        """
        GET /promises/{id} of an overdue awaited promise wakes the awaiter
        with a retry timer at now + tasks.retryTimeout.
        """
        await self.wakeBy(lambda send: send("GET", "/promises/w:1", {}, None))

    async def test_v05CreateExisting(self):
        """
        POST /promises of an existing overdue awaited promise: the same.
        """
        await self.wakeBy(lambda send: _createExisting(send))

    async def test_2026Get(self):
        """
        promise.get (the 2026 read) arms it at now + tasks.retryTimeout.
        """
        await self.wakeBy(lambda send: send("POST", "/", {}, rpc("promise.get", {"id": "w:1"})))


async def _createExisting(send):
    # 409 (the id exists), after the overdue promise's timeout is written.
    try:
        await send("POST", "/promises", {}, {"id": "w:1", "timeout": START + 1})
    except unittest.FailTest:
        pass
