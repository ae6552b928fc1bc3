# -*- test-case-name: tests.integration.test_api_http2026 -*-
"""
The 2026 protocol's routes of the HTTP API over real sockets on 127.0.0.1,
with the memory store: a few smoke cases of C{POST /} (the full case table
is in L{tests.integration.test_protocol2026}), C{GET /health} and C{GET
/ready}, the site's limits on C{POST /}, the header line the Python SDK
sends, and v0.5 beside it.
"""

import base64
import json

from twisted.internet.defer import fail
from twisted.trial import unittest

from resonate.api.auth import BasicCredentials, basicAuthorization
from resonate.errors import StoreFailure
from resonate.metrics import Metrics
from resonate.store.memory import MemoryStore
from tests.integration.test_hostile import connect
from tests.support.apitools import NOW, LiveAPI

LATER = NOW + 60_000
TARGET = "poll://any@workers"


def envelope(kind, data, corrId="c1", **head):
    """
    A request envelope, as a C{dict}.
    """
    return {
        "kind": kind,
        "head": dict({"corrId": corrId, "version": "2026-04-01"}, **head),
        "data": data,
    }


class HTTP2026Tests(unittest.TestCase):
    """
    C{POST /}, C{/health} and C{/ready} over HTTP.
    """

    async def startAPI(self, **kwargs):
        return await LiveAPI(self, **kwargs).start()

    async def rpc(self, api, kind, data, **head):
        """
        Send one envelope; check that the HTTP status is the envelope's
        and that the answer is JSON echoing kind and corrId.

        @return: the L{tests.support.apitools.Response}.
        """
        response = await api.request("POST", "/", envelope(kind, data, **head))
        self.assertEqual(
            response.headers.getRawHeaders("content-type"), ["application/json"]
        )
        self.assertEqual(response.body["kind"], kind)
        self.assertEqual(
            response.body["head"],
            {"corrId": "c1", "status": response.code, "version": "2026-04-01"},
        )
        return response

    async def test_promise(self):
        """
        A promise created with C{POST /} is read back; a missing one is 404
        with a string; bad data is 400.
        """
        api = await self.startAPI()
        created = await self.rpc(
            api,
            "promise.create",
            {"id": "p", "timeoutAt": LATER, "param": {"data": "eyJ4IjoxfQ=="}},
        )
        self.assertEqual(created.code, 200, created)
        record = {
            "id": "p",
            "state": "pending",
            "param": {"data": "eyJ4IjoxfQ=="},
            "value": {},
            "tags": {},
            "timeoutAt": LATER,
            "createdAt": NOW,
        }
        self.assertEqual(created.body["data"], {"promise": record})
        read = await self.rpc(api, "promise.get", {"id": "p"})
        self.assertEqual((read.code, read.body["data"]), (200, {"promise": record}))
        missing = await self.rpc(api, "promise.get", {"id": "q"})
        self.assertEqual((missing.code, missing.body["data"]), (404, "Promise not found"))
        bad = await self.rpc(api, "promise.create", {"id": "p", "timeoutAt": 1.0})
        self.assertEqual(bad.code, 400)
        self.assertTrue(bad.body["data"].startswith("Invalid request: "), bad)

    async def test_envelopeErrors(self):
        """
        A body that is no envelope is 400 with kind C{unknown} and corrId
        C{0}; C{GET /} is 405.
        """
        api = await self.startAPI()
        response = await api.request("POST", "/", raw=b"{")
        self.assertEqual(response.code, 400)
        self.assertEqual(response.body["kind"], "unknown")
        self.assertEqual(response.body["head"]["corrId"], "0")
        self.assertIsInstance(response.body["data"], str)
        self.assertEqual((await api.request("GET", "/")).code, 405)

    async def test_suspendRedirect(self):
        """
        A suspend on an already settled promise answers 300, over HTTP
        too, with the preload.
        """
        api = await self.startAPI()
        tags = {"resonate:target": TARGET, "resonate:branch": "r", "resonate:origin": "r"}
        created = await self.rpc(
            api,
            "task.create",
            {
                "pid": "w",
                "ttl": 60_000,
                "action": {
                    "kind": "promise.create",
                    "head": {},
                    "data": {"id": "r", "timeoutAt": LATER, "tags": tags},
                },
            },
        )
        self.assertEqual(created.code, 200, created)
        version = created.body["data"]["task"]["version"]
        child = {"id": "r:1", "timeoutAt": LATER, "tags": {"resonate:branch": "r"}}
        for kind, data in [
            ("promise.create", child),
            ("promise.settle", {"id": "r:1", "state": "resolved"}),
        ]:
            fenced = await self.rpc(
                api,
                "task.fence",
                {"id": "r", "version": version, "action": {"kind": kind, "data": data}},
            )
            self.assertEqual(fenced.code, 200, fenced)
            self.assertEqual(fenced.body["data"]["action"]["head"]["status"], 200)
        suspended = await self.rpc(
            api,
            "task.suspend",
            {
                "id": "r",
                "version": version,
                "actions": [
                    {
                        "kind": "promise.register_callback",
                        "head": {},
                        "data": {"awaited": "r:1", "awaiter": "r"},
                    }
                ],
            },
        )
        self.assertEqual(suspended.code, 300, suspended)
        [preloaded] = suspended.body["data"]["preload"]
        self.assertEqual((preloaded["id"], preloaded["state"]), ("r:1", "resolved"))

    async def test_bothProtocols(self):
        """
        A promise is one row for both protocols: created over v0.5, read
        and settled over 2026, read again over v0.5, its data intact.
        """
        api = await self.startAPI()
        data = base64.b64encode(bytes(range(256))).decode("ascii")
        created = await api.create("both", param={"data": data})
        self.assertEqual(created.code, 201, created)
        read = await self.rpc(api, "promise.get", {"id": "both"})
        self.assertEqual(read.body["data"]["promise"]["param"], {"data": data})
        settled = await self.rpc(
            api, "promise.settle", {"id": "both", "state": "resolved", "value": {"data": data}}
        )
        self.assertEqual(settled.body["data"]["promise"]["settledAt"], NOW)
        old = await api.request("GET", "/promises/both")
        self.assertEqual(
            (old.code, old.body["state"], old.body["value"]["data"]),
            (200, "RESOLVED", data),
        )

    async def test_health(self):
        """
        C{GET /health} and C{GET /ready} answer 200 with empty bodies; the
        v0.5 routes stay.
        """
        api = await self.startAPI()
        for path in ["/health", "/ready"]:
            response = await api.request("GET", path)
            self.assertEqual((response.code, response.raw), (200, b""), path)
        self.assertEqual((await api.request("GET", "/healthz")).code, 200)
        self.assertEqual((await api.request("GET", "/readyz")).code, 200)

    async def test_notReady(self):
        """
        C{GET /ready} is 503 with an empty body when the store does not
        answer; C{/health} is still 200.
        """
        store = MemoryStore()
        store.ping = lambda: fail(StoreFailure("gone"))
        api = await self.startAPI(store=store)
        ready = await api.request("GET", "/ready")
        self.assertEqual((ready.code, ready.raw), (503, b""))
        self.assertEqual((await api.request("GET", "/health")).code, 200)

    async def test_originHeader(self):
        """
        The Python SDK's header line C{resonate:origin: <origin>} (read as
        a header C{resonate}) is accepted and ignored.
        """
        api = await self.startAPI()
        payload = json.dumps(envelope("promise.get", {"id": "nope"})).encode()
        client = await connect(api.port)
        client.transport.write(
            b"POST / HTTP/1.1\r\n"
            b"Host: 127.0.0.1\r\n"
            b"resonate:origin: root\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
        )
        status, head, body = await client.response()
        client.transport.loseConnection()
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body)["data"], "Promise not found")

    async def test_limits(self):
        """
        The site's body size limit and basic auth cover C{POST /}.
        """
        credentials = BasicCredentials("u", "p")
        api = await self.startAPI(maxBodySize=1024, credentials=credentials)
        authorized = {"authorization": basicAuthorization("u", "p")}
        data = envelope("promise.get", {"id": "p"})
        refused = await api.request("POST", "/", data)
        self.assertEqual(refused.code, 401)
        answered = await api.request("POST", "/", data, headers=authorized)
        self.assertEqual(answered.code, 404)
        huge = envelope("promise.get", {"id": "p" * 2000})
        tooLarge = await api.request("POST", "/", huge, headers=authorized)
        self.assertEqual(tooLarge.code, 413)
        health = await api.request("GET", "/health")
        self.assertEqual(health.code, 401)

    async def test_metrics(self):
        """
        C{POST /} answers are counted by kind and status.
        """
        metrics = Metrics()
        api = await self.startAPI(metrics=metrics)
        await self.rpc(api, "promise.get", {"id": "p"})
        await api.request("POST", "/", envelope("made.up", {}))
        text = metrics.exposition().decode("utf-8")
        self.assertIn('resonate_request_total{kind="promise.get",status="404"} 1.0', text)
        self.assertIn('resonate_request_total{kind="unknown",status="400"} 1.0', text)
