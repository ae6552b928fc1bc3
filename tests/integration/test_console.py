# -*- test-case-name: tests.integration.test_console -*-
"""
Tests for the web console (L{resonate.console}) mounted on the HTTP API,
over real sockets on 127.0.0.1 and a SQLite store: its pages show what the
API made, escape what they show, and its actions change the store only
when they come from its own pages.  A real browser drives it in
L{tests.processes.test_console_browser}.
"""

import base64
import json
import xml.etree.ElementTree as ElementTree
from urllib.parse import quote

import treq
from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.trial import unittest
from twisted.web.client import HTTPConnectionPool
from twisted.web.http import Request
from twisted.web.test.requesthelper import DummyChannel

from resonate.api.auth import BasicCredentials, basicAuthorization
from resonate.api.http import APISite, HTTPAPI
from resonate.api.operations import Operations
from resonate.api.tokens import TokenVerifier
from resonate.console import Console
from resonate.console.session import COOKIE, Sessions
from resonate.console.reads import PAGE_SIZE
from resonate.metrics import Metrics
from resonate.status import Status
from tests.integration.test_metrics import samples
from tests.support.apicases import ROUTES
from tests.support.apitools import NOW
from tests.support.jwttools import KeyPair

#: What an action sends besides its body, as the console's script does.
ACTION_HEADERS = {"content-type": "application/json", "x-resonate-console": "1"}

#: An id and a tag that would run a script if a page did not escape them.
HOSTILE = "<script>alert('id')</script>\"&'"
HOSTILE_TAG = ("<img src=x onerror=alert(1)>", "\"><script>alert('tag')</script>")


class Answer:
    """
    What a test sees of an answer: its code, headers, body and, for a
    page, the page parsed (its markup is well-formed XML).
    """

    def __init__(self, code, headers, body):
        self.code = code
        self.headers = headers
        self.body = body
        self.text = body.decode("utf-8")

    def header(self, name):
        values = self.headers.getRawHeaders(name)
        return None if values is None else values[-1]

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def tree(self):
        text = self.text
        if text.startswith("<!DOCTYPE html>"):
            text = text[len("<!DOCTYPE html>"):]
        return ElementTree.fromstring(text)

    def texts(self, path):
        """
        The text of every element at C{path} (ElementTree's subset of
        XPath), its descendants' text included.
        """
        return ["".join(e.itertext()) for e in self.tree.iterfind(path)]

    def __repr__(self):
        return f"<Answer {self.code} {self.body[:300]!r}>"


class LiveConsole:
    """
    The HTTP API with the console, on an ephemeral port of 127.0.0.1, over
    a SQLite store in a temporary file, its clock at L{NOW}.
    """

    def __init__(self, testCase, credentials=None, routes=(), tokens=None, metrics=None):
        from resonate.config import StoreConfig
        from resonate.store.sqlite.store import SQLiteStore

        self.clock = Clock()
        self.clock.advance(NOW / 1000)
        self.store = SQLiteStore(StoreConfig(options={"path": testCase.mktemp()}), reactor)
        testCase.addCleanup(self.store.close)
        self.operations = Operations(self.store, self.clock, 100, routes=routes)
        site = APISite(
            HTTPAPI(
                self.operations, metrics,
                console=Console(self.operations, tokens=tokens),
            ).resource(),
            maxBodySize=1024 * 1024,
            credentials=credentials,
            metrics=metrics,
        )
        self.port = reactor.listenTCP(0, site, interface="127.0.0.1")
        testCase.addCleanup(self.port.stopListening)
        self.url = f"http://127.0.0.1:{self.port.getHost().port}"
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.headers = {}

    def advance(self, ms):
        self.clock.advance(ms / 1000)

    async def request(self, method, path, body=None, headers=None, raw=None):
        """
        Send a request (C{body} as JSON), with L{headers} and C{headers}.

        @return: an L{Answer}.
        """
        data = raw if body is None else json.dumps(body).encode("utf-8")
        response = await treq.request(
            method,
            (self.url + path).encode("utf-8"),
            headers={**self.headers, **(headers or {})},
            data=data,
            pool=self.pool,
            allow_redirects=False,
        )
        return Answer(response.code, response.headers, await treq.content(response))

    def page(self, path):
        return self.request("GET", "/console/" + path)

    def action(self, name, body, headers=ACTION_HEADERS):
        return self.request("POST", "/console/api/" + name, body, headers=headers)

    async def create(self, promiseId, timeout=NOW + 60_000, **fields):
        answer = await self.request(
            "POST", "/promises", dict(id=promiseId, timeout=timeout, **fields)
        )
        assert answer.code == 201, answer
        return answer.json

    async def createSchedule(self, scheduleId, cron, promiseId):
        answer = await self.request(
            "POST", "/schedules",
            {"id": scheduleId, "cron": cron, "promiseId": promiseId, "promiseTimeout": 60_000},
        )
        assert answer.code == 201, answer

    async def rpc(self, kind, data):
        """
        One 2026 request; its answer's C{data}.
        """
        answer = await self.request(
            "POST", "/", {"kind": kind, "head": {"corrId": "c", "version": "2026-04-01"}, "data": data}
        )
        return answer.json


def _data(obj):
    return base64.b64encode(json.dumps(obj).encode()).decode()


class ConsolePagesTests(unittest.TestCase):
    """
    The pages show what the API made.
    """

    async def test_promiseList(self):
        """
        The list shows promises newest first, each linked to its page, and
        filters them by state, id pattern and tag.
        """
        console = LiveConsole(self)
        await console.create("old", tags={"team": "a"})
        console.advance(1000)
        await console.create("new", tags={"team": "b"})
        await console.request("PATCH", "/promises/old", {"state": "RESOLVED"})
        answer = await console.page("promises")
        self.assertEqual(answer.code, 200)
        self.assertEqual(answer.texts(".//tbody/tr/td[1]/a"), ["new", "old"])
        self.assertEqual(
            [a.get("href") for a in answer.tree.iterfind(".//tbody/tr/td[1]/a")],
            ["/console/promise?id=new", "/console/promise?id=old"],
        )
        self.assertEqual(answer.texts(".//tbody/tr/td[2]"), ["pending", "resolved"])
        for query, ids in [
            ("state=pending", ["new"]),
            ("state=resolved", ["old"]),
            ("state=rejected_canceled", []),
            ("id=ne*", ["new"]),
            ("tag=team%3Da", ["old"]),
        ]:
            answer = await console.page("promises?" + query)
            self.assertEqual(answer.texts(".//tbody/tr/td[1]/a"), ids, query)

    async def test_home(self):
        """
        C{/console} leads to the console's first page, which lists the
        promises.
        """
        console = LiveConsole(self)
        answer = await console.request("GET", "/console")
        self.assertEqual((answer.code, answer.header("location")), (302, "/console/"))
        answer = await console.page("")
        self.assertEqual(answer.code, 200)
        self.assertEqual(answer.texts(".//h1"), ["Promises"])

    async def test_badFilter(self):
        """
        A state that is not one, or a tag that is not C{key=value}, is
        answered 400 saying which.
        """
        console = LiveConsole(self)
        answer = await console.page("promises?state=done")
        self.assertEqual(answer.code, 400)
        self.assertIn("state", answer.text)
        answer = await console.page("promises?tag=nope")
        self.assertEqual(answer.code, 400)
        self.assertIn("key=value", answer.text)

    async def test_paging(self):
        """
        A full page links to the older promises, which the next page
        shows, and back to the newest.
        """
        console = LiveConsole(self)
        for i in range(PAGE_SIZE + 3):
            await console.create(f"p{i:03d}")
            console.advance(1)
        first = await console.page("promises")
        ids = first.texts(".//tbody/tr/td[1]/a")
        self.assertEqual(len(ids), PAGE_SIZE)
        self.assertEqual(ids[0], f"p{PAGE_SIZE + 2:03d}")
        [older] = [a.get("href") for a in first.tree.iterfind(".//p[@class='pager']/a[@rel='next']")]
        second = await console.request("GET", older)
        self.assertEqual(second.texts(".//tbody/tr/td[1]/a"), ["p002", "p001", "p000"])
        self.assertEqual(second.texts(".//p[@class='pager']/a"), ["Newest"])

    async def test_promiseDetail(self):
        """
        A promise's page shows its param decoded from base64 JSON, a value
        that is not JSON as text, its tags, and its times in UTC.
        """
        console = LiveConsole(self)
        await console.create(
            "p", param={"data": _data({"func": "greet", "args": ["ada"]})},
            tags={"team": "a"},
        )
        console.advance(1500)
        await console.request(
            "PATCH", "/promises/p",
            {"state": "REJECTED", "value": {"data": base64.b64encode(b"no luck").decode()}},
        )
        answer = await console.page("promise?id=p")
        self.assertEqual(answer.code, 200)
        [param, value] = answer.texts(".//pre")
        self.assertEqual(json.loads(param), {"func": "greet", "args": ["ada"]})
        self.assertEqual(value, "no luck")
        facts = dict(zip(answer.texts(".//dl/dt"), answer.texts(".//dl/dd")))
        self.assertTrue(facts["created"].startswith("2023-11-14 22:13:20 UTC"), facts)
        self.assertTrue(facts["settled"].startswith("2023-11-14 22:13:21 UTC"), facts)
        self.assertEqual(facts["state"], "rejected")
        self.assertEqual(facts["func"], "greet")
        self.assertIn(["team", "a"], [[*r.itertext()] for r in answer.tree.iterfind(".//table[@class='map']//tr")])
        # Settled: no actions.
        self.assertEqual(list(answer.tree.iterfind(".//form[@data-action='settle']")), [])

    async def test_promiseNotFound(self):
        """
        A promise that does not exist is answered 404, saying so.
        """
        console = LiveConsole(self)
        answer = await console.page("promise?id=nope")
        self.assertEqual(answer.code, 404)
        self.assertIn("No promise 'nope'", answer.text)
        answer = await console.page("promise")
        self.assertEqual(answer.code, 404)
        self.assertIn("No promise ''", answer.text)

    async def test_relations(self):
        """
        A promise's page shows its 2026 task, the promises that await it,
        those its task awaits, and its listeners.
        """
        console = LiveConsole(self)
        target = {"resonate:target": "poll://any@workers"}
        timeout = NOW + 60_000
        await console.rpc("promise.create", {"id": "wf", "timeoutAt": timeout, "tags": target})
        await console.rpc("promise.create", {"id": "wf:child", "timeoutAt": timeout})
        acquired = await console.rpc(
            "task.acquire", {"id": "wf", "version": 0, "pid": "worker-1", "ttl": 30_000}
        )
        self.assertEqual(acquired["head"]["status"], 200, acquired)
        suspended = await console.rpc(
            "task.suspend",
            {"id": "wf", "version": 1, "actions": [
                {"kind": "promise.register_callback", "head": {},
                 "data": {"awaited": "wf:child", "awaiter": "wf"}}]},
        )
        self.assertEqual(suspended["head"]["status"], 200, suspended)
        await console.rpc(
            "promise.register_listener", {"awaited": "wf:child", "address": "poll://uni@g/1"}
        )
        child = await console.page("promise?id=wf%3Achild")
        self.assertEqual(child.texts(".//ul[@class='ids']/li"), ["wf", "poll://uni@g/1"])
        self.assertIn("no task", child.text)
        parent = await console.page("promise?id=wf")
        [row] = parent.tree.iterfind(".//table[caption='2026 tasks']/tbody/tr")
        cells = ["".join(td.itertext()) for td in row.iterfind("td")]
        self.assertEqual(cells[:3], ["wf", "suspended", "1"])
        self.assertEqual(cells[-1], "poll://any@workers")
        self.assertEqual(parent.texts(".//ul[@class='ids']/li"), ["wf:child"])

    async def test_workflow(self):
        """
        A workflow's page shows the call tree of its root: each promise
        under its caller, with its state and duration.
        """
        console = LiveConsole(self)

        def tags(parent):
            return {"resonate:origin": "wf", "resonate:parent": parent}

        await console.create("wf", tags=tags("wf"), param={"data": _data({"func": "main"})})
        console.advance(10)
        await console.create("wf:1", tags=tags("wf"))
        await console.create("wf:1.1", tags=tags("wf:1"))
        await console.create("wf:2", tags=tags("wf"))
        console.advance(2000)
        await console.request("PATCH", "/promises/wf:1.1", {"state": "RESOLVED"})
        await console.create("other", tags={"resonate:origin": "other"})
        answer = await console.page("workflow?id=wf")
        self.assertEqual(answer.code, 200)
        tree = answer.tree.find(".//ul[@class='tree']")
        [root] = tree.findall("li")
        self.assertEqual(root.find("div/a").text, "wf")
        self.assertEqual(root.find("div/span[@class='func']").text, "main")
        self.assertEqual(
            [li.find("div/a").text for li in root.findall("ul/li")], ["wf:1", "wf:2"]
        )
        [grandchild] = root.findall("ul/li/ul/li")
        self.assertEqual(
            ["".join(grandchild.find("div").itertext())], ["resolved wf:1.1  2.0 s"]
        )
        self.assertEqual(answer.texts(".//p[@class='muted']"), ["4 promises"])
        missing = await console.page("workflow?id=nope")
        self.assertIn("No promise nope was found.", missing.texts(".//p[@class='empty']"))

    async def test_workflowIndex(self):
        """
        Without a root, the workflow page lists the workflows started
        lately (the roots of their own lineage among the remote calls),
        newest first, each linked to its tree.
        """
        console = LiveConsole(self)
        for promiseId in ["first", "second"]:
            answer = await console.action(
                "invoke", {"id": promiseId, "func": "f", "target": "workers"}
            )
            self.assertEqual(answer.code, 200, answer)
            console.advance(1)
        await console.create(
            "second:1", tags={"resonate:scope": "global", "resonate:origin": "second"}
        )
        await console.create("plain")
        answer = await console.page("workflow")
        self.assertEqual(answer.code, 200)
        self.assertEqual(answer.texts(".//tbody/tr/td[1]/a"), ["second", "first"])
        self.assertEqual(
            [a.get("href") for a in answer.tree.iterfind(".//tbody/tr/td[1]/a")],
            ["/console/workflow?id=second", "/console/workflow?id=first"],
        )

    async def test_schedules(self):
        """
        The schedules page shows each schedule's cron, promise template
        and next run.
        """
        console = LiveConsole(self)
        await console.createSchedule("nightly", "0 3 * * *", "n.{{.timestamp}}")
        answer = await console.page("schedules")
        [row] = answer.tree.iterfind(".//tbody/tr")
        cells = ["".join(td.itertext()) for td in row.iterfind("td")]
        self.assertEqual(cells[:3], ["nightly", "0 3 * * *", "n.{{.timestamp}}"])
        self.assertIn("UTC", cells[3])
        self.assertEqual(cells[4], "-")

    async def test_tasks(self):
        """
        The tasks page shows 2026 tasks with state, version and owner, and
        v0.5 tasks with their counter; each is filtered by state.
        """
        console = LiveConsole(self, routes=ROUTES)
        await console.rpc(
            "promise.create",
            {"id": "t1", "timeoutAt": NOW + 60_000, "tags": {"resonate:target": "poll://any@w"}},
        )
        await console.rpc("task.acquire", {"id": "t1", "version": 0, "pid": "proc-9", "ttl": 30_000})
        await console.create("/jobs/1")
        answer = await console.page("tasks")
        [rows2026, rows05] = [
            [["".join(td.itertext()) for td in tr.iterfind("td")] for tr in table.iterfind("tbody/tr")]
            for table in answer.tree.iterfind(".//table")
        ]
        self.assertEqual(rows2026[0][:5], ["t1", "acquired", "1", "proc-9", "30.0 s"])
        self.assertEqual(rows05[0][:3], ["/jobs/1", "open", "0"])
        answer = await console.page("tasks?state=pending")
        self.assertIn("No 2026 tasks.", answer.texts(".//p[@class='empty']"))
        answer = await console.page("tasks?state=nope")
        self.assertEqual(answer.code, 400)

    async def test_locks(self):
        """
        The locks page shows who holds each lock, until when.
        """
        console = LiveConsole(self)
        acquired = await console.request(
            "POST", "/locks/acquire",
            {"resourceId": "r1", "processId": "p1", "executionId": "e1", "expiryInMilliseconds": 10_000},
        )
        self.assertEqual(acquired.code, 201, acquired)
        answer = await console.page("locks")
        [row] = answer.tree.iterfind(".//tbody/tr")
        cells = ["".join(td.itertext()) for td in row.iterfind("td")]
        self.assertEqual(cells[:3], ["r1", "p1", "e1"])
        self.assertTrue(cells[3].startswith("2023-11-14 22:13:30 UTC"), cells)
        self.assertEqual(cells[4], "10.0 s")

    async def test_fragment(self):
        """
        With C{fragment=1} a page answers its live section alone, which
        its document names as the URL to refresh from.
        """
        console = LiveConsole(self)
        await console.create("p")
        page = await console.page("promises?state=pending")
        [live] = page.tree.iterfind(".//section[@id='live']")
        self.assertEqual(live.get("data-src"), "/console/promises?state=pending&fragment=1")
        fragment = await console.request("GET", live.get("data-src"))
        self.assertEqual(fragment.code, 200)
        self.assertEqual(fragment.tree.get("id"), "live-fragment")
        self.assertEqual(fragment.texts(".//tbody/tr/td[1]/a"), ["p"])
        self.assertNotIn("<html", fragment.text)

    async def test_static(self):
        """
        The stylesheet, script and icon are served from the package with
        their types; other names are 404.
        """
        console = LiveConsole(self)
        for name, contentType in [
            ("console.css", "text/css; charset=utf-8"),
            ("console.js", "text/javascript; charset=utf-8"),
            ("favicon.svg", "image/svg+xml"),
        ]:
            answer = await console.page("static/" + name)
            self.assertEqual((answer.code, answer.header("content-type")), (200, contentType))
            self.assertTrue(answer.body)
        answer = await console.page("static/../app.py")
        self.assertEqual(answer.code, 404)
        answer = await console.page("static/nope.js")
        self.assertEqual(answer.code, 404)

    async def test_unknownPath(self):
        """
        A path under C{/console/} that is no page is 404, and a method no
        page takes is 405.
        """
        console = LiveConsole(self)
        answer = await console.page("nope")
        self.assertEqual(answer.code, 404)
        answer = await console.request("POST", "/console/promises")
        self.assertEqual(answer.code, 405)

    async def test_refusedOperation(self):
        """
        When the operations refuse (here: shutting down), a page and an
        action answer with their status and message, as the API does.
        """
        console = LiveConsole(self)
        await console.create("p")
        await console.operations.stop()
        answer = await console.page("promises")
        self.assertEqual(answer.code, 503)
        self.assertIn(Status.SHUTTING_DOWN.message, answer.text)
        answer = await console.action("settle", {"id": "p", "state": "resolved"})
        self.assertEqual(answer.code, 503)
        self.assertEqual(answer.json, {"ok": False, "message": Status.SHUTTING_DOWN.message})

    async def test_securityHeaders(self):
        """
        Pages forbid scripts but the console's own, framing and sniffing.
        """
        console = LiveConsole(self)
        answer = await console.page("promises")
        self.assertIn("script-src 'self'", answer.header("content-security-policy"))
        self.assertIn("frame-ancestors 'none'", answer.header("content-security-policy"))
        self.assertEqual(answer.header("x-frame-options"), "DENY")
        self.assertEqual(answer.header("x-content-type-options"), "nosniff")

    async def test_notMounted(self):
        """
        An API made without a console answers C{/console/} 404 with the
        API's error envelope.
        """
        operations = Operations(LiveConsole(self).store, Clock(), 10)
        site = APISite(HTTPAPI(operations).resource(), maxBodySize=1024)
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        response = await treq.get(
            f"http://127.0.0.1:{port.getHost().port}/console/",
            pool=HTTPConnectionPool(reactor, persistent=False),
        )
        self.assertEqual(response.code, 404)
        self.assertEqual(
            (await treq.json_content(response))["error"]["code"], Status.NOT_FOUND.value
        )


class ConsoleEscapingTests(unittest.TestCase):
    """
    Ids, tags and data are shown as text: nothing stored becomes markup.
    """

    def assertNoMarkup(self, answer):
        """
        No element or attribute the hostile texts would make is in the
        page, and the texts are there, escaped.
        """
        tree = answer.tree
        self.assertEqual(
            [e.get("src") for e in tree.iter("script")], ["/console/static/console.js"]
            if tree.tag == "html" else [],
        )
        self.assertEqual(list(tree.iter("img")), [])
        for element in tree.iter():
            self.assertFalse(
                any(name.startswith("on") for name in element.attrib), element.attrib
            )
        self.assertIn("&lt;script&gt;alert('id')&lt;/script&gt;", answer.text)

    async def test_pages(self):
        """
        A hostile id, tag and value are text on the list, detail, workflow
        and tasks pages, and in the live fragments.
        """
        console = LiveConsole(self)
        key, value = HOSTILE_TAG
        await console.rpc(
            "promise.create",
            {
                "id": HOSTILE, "timeoutAt": NOW + 60_000,
                "tags": {key: value, "resonate:target": "poll://any@w"},
                "param": {"data": base64.b64encode(b"<b onclick=alert(2)>x</b>").decode()},
            },
        )
        for path in [
            "promises",
            "promises?fragment=1",
            "promise?id=" + quote(HOSTILE),
            "promise?id=" + quote(HOSTILE) + "&fragment=1",
            "workflow?id=" + quote(HOSTILE),
            "tasks",
        ]:
            answer = await console.page(path)
            self.assertEqual(answer.code, 200, path)
            self.assertNoMarkup(answer)
        detail = await console.page("promise?id=" + quote(HOSTILE))
        self.assertIn([key, value], [[*r.itertext()] for r in detail.tree.iterfind(".//table[@class='map']//tr")])
        self.assertIn("<b onclick=alert(2)>x</b>", detail.texts(".//pre"))
        [form] = detail.tree.iterfind(".//form[@data-action='settle']")
        self.assertEqual(form.find("input[@name='id']").get("value"), HOSTILE)

    async def test_hostileQuery(self):
        """
        A hostile filter is shown back in its field as text.
        """
        console = LiveConsole(self)
        answer = await console.page("promises?id=" + quote(HOSTILE))
        self.assertEqual(answer.code, 200)
        [field] = answer.tree.iterfind(".//input[@name='id']")
        self.assertEqual(field.get("value"), HOSTILE)
        self.assertEqual([e.get("src") for e in answer.tree.iter("script")], ["/console/static/console.js"])


class ConsoleActionTests(unittest.TestCase):
    """
    Actions change the store through the operations, and only when they
    come from the console's own script.
    """

    async def test_cancel(self):
        """
        Cancelling a pending promise settles it (as the API then reads
        it); cancelling it again says it was settled already.
        """
        console = LiveConsole(self)
        await console.create("p")
        answer = await console.action("settle", {"id": "p", "state": "rejected_canceled"})
        self.assertEqual(answer.code, 200, answer)
        self.assertEqual(answer.json, {"ok": True, "message": "p is rejected_canceled"})
        read = await console.request("GET", "/promises/p")
        self.assertEqual(read.json["state"], "REJECTED_CANCELED")
        again = await console.action("settle", {"id": "p", "state": "resolved"})
        self.assertEqual(again.json["message"], "p was rejected_canceled already")

    async def test_resolveWithValue(self):
        """
        Resolving with a JSON value stores it, as the SDKs read values.
        """
        console = LiveConsole(self)
        await console.create("p")
        answer = await console.action(
            "settle", {"id": "p", "state": "resolved", "value": '{"ok": true}'}
        )
        self.assertEqual(answer.code, 200, answer)
        read = await console.request("GET", "/promises/p")
        self.assertEqual(read.json["state"], "RESOLVED")
        self.assertEqual(json.loads(base64.b64decode(read.json["value"]["data"])), {"ok": True})

    async def test_settleRefused(self):
        """
        A missing promise is 404, a state that is not a settlement or a
        value that is not JSON is 400; the message says why.
        """
        console = LiveConsole(self)
        await console.create("p")
        answer = await console.action("settle", {"id": "nope", "state": "resolved"})
        self.assertEqual((answer.code, answer.json["ok"]), (404, False))
        answer = await console.action("settle", {"id": "p", "state": "pending"})
        self.assertEqual(answer.code, 400)
        self.assertIn("state", answer.json["message"])
        answer = await console.action("settle", {"id": "p", "state": "resolved", "value": "{"})
        self.assertEqual(answer.code, 400)
        self.assertIn("value", answer.json["message"])
        answer = await console.action("settle", {"id": 7, "state": "resolved"})
        self.assertEqual(answer.code, 400)
        read = await console.request("GET", "/promises/p")
        self.assertEqual(read.json["state"], "PENDING")

    async def test_invoke(self):
        """
        Invoking creates the promise an SDK creates for a workflow's root:
        addressed to the target (so it has a pending task), its param the
        function and arguments; the answer leads to its workflow page.
        """
        console = LiveConsole(self)
        answer = await console.action(
            "invoke",
            {"id": "order-1", "func": "process", "args": "[42]", "target": "workers", "timeout": "1h"},
        )
        self.assertEqual(answer.code, 200, answer)
        self.assertEqual(
            answer.json,
            {"ok": True, "message": "invoked order-1", "location": "/console/workflow?id=order-1"},
        )
        promise = (await console.rpc("promise.get", {"id": "order-1"}))["data"]["promise"]
        self.assertEqual(promise["tags"]["resonate:target"], "poll://any@workers")
        self.assertEqual(promise["timeoutAt"], NOW + 3_600_000)
        self.assertEqual(
            json.loads(base64.b64decode(promise["param"]["data"])),
            {"func": "process", "args": [42], "kwargs": {}, "version": 1},
        )
        task = (await console.rpc("task.get", {"id": "order-1"}))["data"]["task"]
        self.assertEqual((task["state"], task["version"]), ("pending", 0))
        again = await console.action(
            "invoke", {"id": "order-1", "func": "other", "target": "workers"}
        )
        self.assertEqual(again.json["message"], "order-1 exists already (pending)")

    async def test_invokeRefused(self):
        """
        Arguments that are not a JSON array, a target that is not an
        address, or an id the 2026 rules refuse, are 400 with the reason,
        and nothing is created.
        """
        console = LiveConsole(self)
        for body, reason in [
            ({"id": "i", "func": "f", "args": "{}", "target": "w"}, "args"),
            ({"id": "i", "func": "f", "target": "ftp://x"}, "Invalid"),
            ({"id": "a:b", "func": "f", "target": "w"}, "resonate:origin"),
        ]:
            answer = await console.action("invoke", body)
            self.assertEqual(answer.code, 400, (body, answer))
            self.assertIn(reason, answer.json["message"])
        found = await console.rpc("promise.search", {})
        self.assertEqual(found["data"]["promises"], [])

    async def test_deleteSchedule(self):
        """
        Deleting a schedule removes it (the API no longer finds it); one
        that does not exist is 404.
        """
        console = LiveConsole(self)
        await console.createSchedule("s", "* * * * *", "s.{{.timestamp}}")
        answer = await console.action("schedule/delete", {"id": "s"})
        self.assertEqual(answer.json, {"ok": True, "message": "deleted schedule s"})
        self.assertEqual((await console.request("GET", "/schedules/s")).code, 404)
        answer = await console.action("schedule/delete", {"id": "s"})
        self.assertEqual(answer.code, 404)

    async def test_forgeryRefused(self):
        """
        An action without the console's header, not sent as JSON, from
        another origin, or marked cross-site by the browser, is refused 403
        and changes nothing: what another site's page could send with the
        browser's credentials.
        """
        console = LiveConsole(self)
        await console.create("p")
        body = {"id": "p", "state": "rejected_canceled"}
        for headers in [
            {"content-type": "application/json"},
            {"content-type": "application/x-www-form-urlencoded", "x-resonate-console": "1"},
            {"content-type": "text/plain", "x-resonate-console": "1"},
            {**ACTION_HEADERS, "origin": "http://evil.example"},
            {**ACTION_HEADERS, "origin": "null"},
            {**ACTION_HEADERS, "origin": console.url + ".evil.example"},
            {**ACTION_HEADERS, "sec-fetch-site": "cross-site"},
        ]:
            answer = await console.action("settle", body, headers=headers)
            self.assertEqual(answer.code, 403, headers)
            self.assertFalse(answer.json["ok"])
        read = await console.request("GET", "/promises/p")
        self.assertEqual(read.json["state"], "PENDING")
        # The console's own page, which sends its origin, is let through,
        # also as https (behind a proxy that ends TLS).
        answer = await console.action(
            "settle", body,
            headers={**ACTION_HEADERS, "origin": console.url, "sec-fetch-site": "same-origin"},
        )
        self.assertEqual(answer.code, 200, answer)
        proxied = console.url.replace("http://", "https://")
        answer = await console.action("settle", body, headers={**ACTION_HEADERS, "origin": proxied})
        self.assertEqual(answer.code, 200, answer)

    async def test_getRefused(self):
        """
        An action is never taken by a C{GET} (a link or an image).
        """
        console = LiveConsole(self)
        answer = await console.request("GET", "/console/api/settle?id=p&state=resolved")
        self.assertEqual(answer.code, 405)


class ConsoleAuthTests(unittest.TestCase):
    """
    The console is behind the API's basic auth: every page, static file,
    fragment and action.
    """

    async def test_refusedWithout(self):
        """
        Without the credentials everything is 401 with the challenge;
        with them it is served.
        """
        console = LiveConsole(self, credentials=BasicCredentials("ada", "pw"))
        good = {"authorization": basicAuthorization("ada", "pw").decode()}
        paths = [
            ("GET", "/console/", None),
            ("GET", "/console/promises?fragment=1", None),
            ("GET", "/console/static/console.js", None),
            ("GET", "/console/locks", None),
            ("POST", "/console/api/invoke", {"id": "x", "func": "f", "target": "w"}),
        ]
        for method, path, body in paths:
            headers = dict(ACTION_HEADERS) if body is not None else {}
            answer = await console.request(method, path, body, headers=headers)
            self.assertEqual(answer.code, 401, path)
            self.assertEqual(answer.header("www-authenticate"), 'Basic realm="resonate"')
            bad = {**headers, "authorization": basicAuthorization("ada", "no").decode()}
            answer = await console.request(method, path, body, headers=bad)
            self.assertEqual(answer.code, 401, path)
        for method, path, body in paths:
            headers = {**(ACTION_HEADERS if body is not None else {}), **good}
            answer = await console.request(method, path, body, headers=headers)
            self.assertEqual(answer.code, 200, (path, answer))


class ConsoleMetricsTests(unittest.TestCase):
    """
    Console requests are counted apart from the API's
    (C{resonate_console_requests_total{route,status}}), each under its
    route (page, fragment, static, action) and HTTP status.
    """

    def setUp(self):
        self.metrics = Metrics()

    def counts(self):
        return samples(self.metrics.exposition(), "resonate_console_requests_total")

    async def test_counted(self):
        """
        Pages, live sections, static files and actions are counted with
        the status they answered, unknown console paths too, and none of
        them in C{api_total_requests}; nothing is left in flight.
        """
        console = LiveConsole(self, metrics=self.metrics)
        await console.create("p")
        for path, code in [
            ("promises", 200), ("promises?fragment=1", 200), ("nope", 404),
            ("static/console.css", 200), ("static/nope", 404),
        ]:
            self.assertEqual((await console.page(path)).code, code, path)
        settle = {"id": "p", "state": "resolved"}
        self.assertEqual((await console.action("settle", settle)).code, 200)
        self.assertEqual(
            (await console.action("settle", settle, headers={})).code, 403
        )
        text = self.metrics.exposition()
        self.assertEqual(
            self.counts(),
            {
                '{route="action",status="200"}': "1.0",
                '{route="action",status="403"}': "1.0",
                '{route="fragment",status="200"}': "1.0",
                '{route="page",status="200"}': "1.0",
                '{route="page",status="404"}': "1.0",
                '{route="static",status="200"}': "1.0",
                '{route="static",status="404"}': "1.0",
            },
        )
        self.assertEqual(
            set(samples(text, "resonate_console_requests_in_flight").values()),
            {"0.0"},
        )
        self.assertEqual(
            samples(text, "resonate_console_request_duration_seconds_count"),
            {
                '{route="action"}': "2.0",
                '{route="fragment"}': "1.0",
                '{route="page"}': "2.0",
                '{route="static"}': "2.0",
            },
        )
        self.assertEqual(
            samples(text, "api_total_requests"),
            {'{status="2010",type="http"}': "1.0"},
        )

    async def test_clientGone(self):
        """
        A page whose client goes away before it is answered is counted as
        499, and leaves nothing in flight.
        """
        from twisted.internet.defer import Deferred
        from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
        from twisted.internet.protocol import Protocol
        from twisted.internet.task import deferLater

        from resonate.store.memory import MemoryStore
        from tests.integration.test_metrics import HeldStore

        store = HeldStore(MemoryStore())
        clock = Clock()
        clock.advance(NOW / 1000)
        operations = Operations(store, clock, 100)
        site = APISite(
            HTTPAPI(operations, self.metrics, console=Console(operations)).resource(),
            maxBodySize=1024 * 1024,
            metrics=self.metrics,
        )
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client = Protocol()
        await connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port), client
        )
        client.transport.write(b"GET /console/promise?id=x HTTP/1.1\r\nHost: h\r\n\r\n")
        await store.arrived
        self.assertEqual(
            samples(self.metrics.exposition(), "resonate_console_requests_in_flight"),
            {'{route="page"}': "1.0"},
        )
        lost = Deferred()
        client.connectionLost = lambda reason: lost.callback(None)
        client.transport.loseConnection()
        await lost
        await deferLater(reactor, 0.05, lambda: None)
        store.held.pop().callback(None)
        await deferLater(reactor, 0, lambda: None)
        text = self.metrics.exposition()
        self.assertEqual(self.counts(), {'{route="page",status="499"}': "1.0"})
        self.assertEqual(
            samples(text, "resonate_console_requests_in_flight"),
            {'{route="page"}': "0.0"},
        )

    async def test_signedOut(self):
        """
        With JWT auth, the console's own refusals (the login page, a live
        section's and an action's 401) are console requests too.
        """
        keys = KeyPair("rsa")
        console = LiveConsole(
            self, routes=ROUTES, tokens=TokenVerifier(keys.publicPEM),
            metrics=self.metrics,
        )
        self.assertEqual((await console.page("promises")).code, 401)
        self.assertEqual((await console.page("promises?fragment=1")).code, 401)
        self.assertEqual((await console.action("invoke", {"id": "x"})).code, 401)
        self.assertEqual((await console.page("login")).code, 200)
        self.assertEqual(
            self.counts(),
            {
                '{route="action",status="401"}': "1.0",
                '{route="fragment",status="401"}': "1.0",
                '{route="page",status="200"}': "1.0",
                '{route="page",status="401"}': "1.0",
            },
        )
        self.assertEqual(samples(self.metrics.exposition(), "api_total_requests"), {})

    async def test_basicAuthRefusal(self):
        """
        The site's basic-auth 401 comes before any route: it is the API's
        (C{api_total_requests}, 4010), as for every path, not the
        console's.
        """
        console = LiveConsole(
            self, credentials=BasicCredentials("ada", "pw"), metrics=self.metrics
        )
        self.assertEqual((await console.page("promises")).code, 401)
        self.assertEqual(self.counts(), {})
        self.assertEqual(
            samples(self.metrics.exposition(), "api_total_requests"),
            {'{status="4010",type="http"}': "1.0"},
        )


class ConsoleJWTTests(unittest.TestCase):
    """
    With JWT auth the console asks who is using it (a Bearer header, or
    the cookie its login page sets), and shows and does only what the
    token's principal may (issue 19).
    """

    def setUp(self):
        self.keys = KeyPair("rsa")
        self.console = LiveConsole(
            self, routes=ROUTES, tokens=TokenVerifier(self.keys.publicPEM)
        )
        self.admin = self.keys.token(role="admin")

    def signedIn(self, token):
        """
        Send the console's cookie holding C{token} with every request.
        """
        self.console.headers = {"cookie": f"{COOKIE.decode()}={token}"}

    async def signIn(self, token, next=None):
        body = {"token": token}
        if next is not None:
            body["next"] = next
        return await self.console.action("login", body)

    async def test_loginPageWithout(self):
        """
        Without a token, a page is the login page (401) whose form comes
        back to it; a live section and an action are 401, the action
        naming the login page; the static files and the login page itself
        are served.
        """
        console = self.console
        answer = await console.page("tasks?state=pending")
        self.assertEqual(answer.code, 401, answer)
        [form] = answer.tree.iterfind(".//form[@data-action='login']")
        [nextPage] = form.iterfind("input[@name='next']")
        self.assertEqual(nextPage.get("value"), "/console/tasks?state=pending")
        self.assertEqual(len(list(form.iterfind(".//textarea[@name='token']"))), 1)
        answer = await console.page("promises?fragment=1")
        self.assertEqual(answer.code, 401)
        self.assertNotIn("<html", answer.text)
        answer = await console.action("invoke", {"id": "x", "func": "f"})
        self.assertEqual(answer.code, 401)
        self.assertEqual(answer.json["location"], "/console/login")
        self.assertFalse(answer.json["ok"])
        for path in ("static/console.js", "login"):
            self.assertEqual((await console.page(path)).code, 200, path)
        for cookie in (b"resonate_console=\xff\xfe", b"resonate_console=" + b"a" * 8000,
                       b"resonate_console", b"=;;=resonate_console=;"):
            console.headers = {b"cookie": cookie}
            self.assertEqual((await console.page("promises")).code, 401, cookie)
        for bad in ("x.y.z", self.keys.token(expiresIn=-5, role="admin"),
                    KeyPair("rsa").token(role="admin")):
            self.signedIn(bad)
            self.assertEqual((await console.page("promises")).code, 401)
            console.headers = {"authorization": "Bearer " + bad}
            self.assertEqual((await console.page("promises")).code, 401)

    async def test_signIn(self):
        """
        The login action verifies the token and sets an HttpOnly,
        SameSite=Strict cookie for /console that expires with the token
        (not Secure over plain HTTP), then goes to the page asked for, if
        it is one of the console's; with the cookie, pages are served.
        """
        token = self.keys.token(expiresIn=600, prefix="team-a/")
        answer = await self.signIn(token, next="/console/tasks")
        self.assertEqual(answer.code, 200, answer)
        self.assertEqual(answer.json["location"], "/console/tasks")
        self.assertEqual(answer.json["message"], "signed in: ids team-a/*")
        [cookie] = answer.headers.getRawHeaders("set-cookie")
        parts = [p.strip() for p in cookie.split(";")]
        self.assertEqual(parts[0], f"resonate_console={token}")
        self.assertIn("HttpOnly", parts)
        self.assertIn("SameSite=strict", parts)
        self.assertIn("Path=/console", parts)
        self.assertNotIn("Secure", parts)
        [maxAge] = [int(p.split("=")[1]) for p in parts if p.startswith("Max-Age=")]
        self.assertTrue(590 <= maxAge <= 600, maxAge)
        for next, location in [(None, "/console/"), ("https://evil.example/", "/console/"),
                                ("//evil.example/console/", "/console/"),
                                ("/console/login", "/console/"),
                                ("/console/promise?id=a", "/console/promise?id=a")]:
            answer = await self.signIn(token, next=next)
            self.assertEqual(answer.json["location"], location, next)
        self.signedIn(token)
        answer = await self.console.page("promises")
        self.assertEqual(answer.code, 200, answer)
        self.assertIn("ids team-a/*", answer.texts(".//span[@class='who']"))

    async def test_headerOrCookie(self):
        """
        A Bearer header that verifies is who the request is, whatever its
        cookie; an C{Authorization} header that does not (a proxy's own
        credentials) leaves the cookie to say.
        """
        teamA = self.keys.token(prefix="team-a/")
        self.signedIn(teamA)
        answer = await self.console.page("promises")
        self.assertEqual(answer.texts(".//span[@class='who']"), ["ids team-a/*"])
        self.console.headers["authorization"] = "Bearer " + self.admin
        answer = await self.console.page("promises")
        self.assertEqual(answer.texts(".//span[@class='who']"), ["admin"])
        self.console.headers["authorization"] = "Basic cHJveHk6cHc="
        answer = await self.console.page("promises")
        self.assertEqual(answer.texts(".//span[@class='who']"), ["ids team-a/*"])
        del self.console.headers["cookie"]
        self.assertEqual((await self.console.page("promises")).code, 401)

    async def test_signInRefused(self):
        """
        A token that does not verify sets no cookie (401); a login that
        does not come from the console's script is refused (403) whatever
        its token, so another site cannot sign a browser in.
        """
        for bad in ("", "x.y.z", self.keys.token(expiresIn=None, role="admin")):
            answer = await self.signIn(bad)
            self.assertEqual(answer.code, 401, bad)
            self.assertIsNone(answer.header("set-cookie"))
        answer = await self.console.action(
            "login", {"token": self.admin}, headers={"content-type": "application/json"}
        )
        self.assertEqual(answer.code, 403)
        self.assertIsNone(answer.header("set-cookie"))

    async def test_signOut(self):
        """
        Signing out replaces the cookie with an expired one and goes to the
        login page.
        """
        self.signedIn(self.admin)
        answer = await self.console.action("logout", {})
        self.assertEqual((answer.code, answer.json["location"]), (200, "/console/login"))
        [cookie] = answer.headers.getRawHeaders("set-cookie")
        self.assertTrue(cookie.startswith("resonate_console=;"), cookie)
        self.assertIn("Max-Age=0", cookie)

    async def test_secureOverTLS(self):
        """
        Served over TLS, the cookie is Secure.
        """
        request = Request(DummyChannel(), False)
        request.channel.transport = DummyChannel.SSL()
        Sessions(TokenVerifier(self.keys.publicPEM)).signIn(request, self.admin)
        [cookie] = request.cookies
        self.assertIn(b"; Secure;", cookie)

    async def makeBoth(self):
        """
        Promises, a 2026 task, a v0.5 task, a schedule and a lock under
        C{team-a/} and under C{team-b/}.
        """
        console = self.console
        console.headers = {"authorization": "Bearer " + self.admin}
        for team in ("team-a", "team-b"):
            await console.create(f"{team}/1")
            await console.rpc("promise.create", {
                "id": f"{team}/t", "timeoutAt": NOW + 60_000,
                "tags": {"resonate:target": "poll://any@w"}})
            await console.createSchedule(f"{team}/s", "* * * * *", f"{team}/s.{{{{.timestamp}}}}")
            acquired = await console.request("POST", "/locks/acquire", {
                "resourceId": f"{team}/r", "processId": "p", "executionId": "e",
                "expiryInMilliseconds": 10_000})
            self.assertEqual(acquired.code, 201, acquired)
        console.headers = {}

    def ids(self, answer):
        return sorted(answer.texts(".//tbody//a[@class='id']"))

    async def test_prefixSeesItsOwn(self):
        """
        A prefix token's lists hold only its ids (the promise filter
        defaults to C{prefix*} and says so); a pattern, a page or an
        action outside its prefix is 403 with a message naming it.
        """
        await self.makeBoth()
        self.signedIn(self.keys.token(prefix="team-a/"))
        console = self.console
        answer = await console.page("promises")
        self.assertEqual(self.ids(answer), ["team-a/1", "team-a/t"])
        [idFilter] = answer.tree.iterfind(".//form//input[@name='id']")
        self.assertEqual(idFilter.get("value"), "team-a/*")
        self.assertEqual(self.ids(await console.page("promises?id=team-a/t*")), ["team-a/t"])
        for pattern in ("*", "team-*", "team-b/*"):
            answer = await console.page("promises?id=" + quote(pattern))
            self.assertEqual(answer.code, 403, pattern)
            self.assertIn("'team-a/'", answer.text)
        answer = await console.page("tasks")
        self.assertEqual(self.ids(answer), ["team-a/t"])
        answer = await console.page("schedules")
        self.assertNotIn("team-b/s", answer.text)
        self.assertIn("team-a/s", answer.text)
        answer = await console.page("locks")
        self.assertNotIn("team-b/r", answer.text)
        self.assertIn("team-a/r", answer.text)
        for path in ("promise?id=team-b/1", "workflow?id=team-b/1"):
            self.assertEqual((await console.page(path)).code, 403, path)
        for path in ("promise?id=team-a/1", "workflow?id=team-a/1"):
            self.assertEqual((await console.page(path)).code, 200, path)
        for name, body in [
            ("settle", {"id": "team-b/1", "state": "resolved"}),
            ("invoke", {"id": "team-b/x", "func": "f", "target": "poll://any@w"}),
            ("schedule/delete", {"id": "team-b/s"}),
        ]:
            answer = await console.action(name, body)
            self.assertEqual(answer.code, 403, (name, answer))
            self.assertIn("'team-a/'", answer.json["message"])
        answer = await console.action("settle", {"id": "team-a/1", "state": "resolved"})
        self.assertEqual(answer.code, 200, answer)
        console.headers = {"authorization": "Bearer " + self.admin}
        answer = await console.page("promises?id=team-b/1")
        self.assertEqual(answer.texts(".//tbody//td/span"), ["pending"])

    async def test_adminSeesAll(self):
        """
        An admin token (here as a Bearer header) sees every prefix; a
        token without a prefix sees nothing.
        """
        await self.makeBoth()
        self.console.headers = {"authorization": "Bearer " + self.admin}
        answer = await self.console.page("promises")
        self.assertEqual(self.ids(answer), ["team-a/1", "team-a/t", "team-b/1", "team-b/t"])
        self.assertEqual(self.ids(await self.console.page("tasks")), ["team-a/t", "team-b/t"])
        self.signedIn(self.keys.token(sub="nobody"))
        self.assertEqual((await self.console.page("promises")).code, 403)
