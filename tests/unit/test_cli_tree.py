"""
Tests for L{resonate.cli.tree}: how C{resonate tree} reads the search
API's promises and draws their tree.
"""

import base64
import json

from twisted.trial.unittest import SynchronousTestCase

from resonate.cli.tree import (
    describe,
    functionName,
    kindOf,
    promiseFromJSON,
    treeJSON,
    treeLines,
)
from resonate.model.promise import State, Value
from resonate.model.tree import buildTree


def b64json(value):
    return base64.b64encode(json.dumps(value).encode()).decode()


def record(promiseId, createdOn, completedOn=None, func=None, **tags):
    """
    A promise as C{GET /promises} answers it.
    """
    promise = {
        "id": promiseId,
        "state": "PENDING" if completedOn is None else "RESOLVED",
        "timeout": 10**13,
        "param": {},
        "value": {},
        "createdOn": createdOn,
        "tags": {key.replace("_", ":"): value for key, value in tags.items()},
    }
    if completedOn is not None:
        promise["completedOn"] = completedOn
    if func is not None:
        promise["param"] = {"data": b64json({"args": [], "func": func})}
    return promise


#: A 2026 workflow: the root, two rpcs (one with a child of its own), a
#: sleep and a local step (whose param, as the SDK makes it, names no
#: function).
WORKFLOW = [
    record("wf", 0, func="fanout", resonate_origin="wf",
           resonate_scope="global"),
    record("wf:1", 10, 30, func="child", resonate_origin="wf",
           resonate_parent="wf", resonate_scope="global"),
    record("wf:2", 20, 2500, func="child", resonate_origin="wf",
           resonate_parent="wf", resonate_scope="global"),
    record("wf:2.1", 25, 40, func="leaf", resonate_origin="wf",
           resonate_parent="wf:2", resonate_scope="global"),
    record("wf:3", 50, 2050, resonate_origin="wf", resonate_parent="wf",
           resonate_scope="global", resonate_timer="true"),
    record("wf:4", 2060, resonate_origin="wf",
           resonate_parent="wf", resonate_scope="local"),
]


def workflowTree(now=3000):
    return buildTree("wf", [promiseFromJSON(p) for p in WORKFLOW], now)


class PromiseFromJSONTests(SynchronousTestCase):
    """
    L{promiseFromJSON} makes the model's promise of the API's JSON.
    """

    def test_fields(self):
        """
        State, times, tags and the decoded param and value are kept.
        """
        promise = promiseFromJSON({
            "id": "p", "state": "REJECTED_TIMEDOUT", "timeout": 9,
            "param": {"headers": {"h": "1"}, "data": "aGk="},
            "value": {}, "createdOn": 1, "completedOn": 9,
            "tags": {"t": "v"},
        })
        self.assertEqual(
            (promise.id, promise.state, promise.timeout, promise.createdOn,
             promise.completedOn, promise.tags),
            ("p", State.REJECTED_TIMEDOUT, 9, 1, 9, {"t": "v"}),
        )
        self.assertEqual(promise.param, Value(headers={"h": "1"}, data=b"hi"))
        self.assertEqual(promise.value, Value())

    def test_badData(self):
        """
        Data that is not base64 is no data (the tree shows no function),
        not a crash.
        """
        promise = promiseFromJSON(
            {"id": "p", "state": "PENDING", "param": {"data": "%%"}}
        )
        self.assertIsNone(promise.param.data)


class DescribeTests(SynchronousTestCase):
    """
    What a member is, from its tags and param.
    """

    def test_kinds(self):
        """
        A timer (either protocol's tag) is a sleep, a global scope an rpc,
        a local scope a run, anything else nothing.
        """
        def kind(**tags):
            return kindOf(promiseFromJSON(record("p", 0, **tags)))

        self.assertEqual(kind(resonate_timer="true", resonate_scope="global"),
                         "sleep")
        self.assertEqual(kind(resonate_timeout="true"), "sleep")
        self.assertEqual(kind(resonate_scope="global"), "rpc")
        self.assertEqual(kind(resonate_scope="local"), "run")
        self.assertIsNone(kind())

    def test_functionName(self):
        """
        The function is the param's C{func}; a param that is not an SDK
        invocation has none.
        """
        self.assertEqual(functionName(promiseFromJSON(record("p", 0, func="f"))),
                         "f")
        for data in ["plain text", json.dumps([1]), json.dumps({"func": 3})]:
            promise = promiseFromJSON({
                "id": "p", "state": "PENDING",
                "param": {"data": base64.b64encode(data.encode()).decode()},
            })
            self.assertIsNone(functionName(promise), data)
        self.assertEqual(describe(promiseFromJSON(record("p", 0))), "")


class RenderTreeTests(SynchronousTestCase):
    """
    L{treeLines} and L{treeJSON}.
    """

    def test_lines(self):
        """
        Each member is drawn under its caller, oldest first, with its
        state, its duration (to now while pending) and what it is.
        """
        self.assertEqual(treeLines(workflowTree()), [
            "ID              STATE     DURATION  WHAT",
            "wf              PENDING   3s        rpc fanout",
            "├── wf:1        RESOLVED  20ms      rpc child",
            "├── wf:2        RESOLVED  2s480ms   rpc child",
            "│   └── wf:2.1  RESOLVED  15ms      rpc leaf",
            "├── wf:3        RESOLVED  2s        sleep",
            "└── wf:4        PENDING   940ms     run",
        ])

    def test_json(self):
        """
        The JSON is the model's nested tree, each node with its kind,
        function and tags.
        """
        rendered = treeJSON(workflowTree())
        self.assertEqual(
            (rendered["id"], rendered["kind"], rendered["func"],
             rendered["duration"]),
            ("wf", "rpc", "fanout", 3000),
        )
        self.assertEqual([c["id"] for c in rendered["children"]],
                         ["wf:1", "wf:2", "wf:3", "wf:4"])
        grandchild = rendered["children"][1]["children"][0]
        self.assertEqual(
            (grandchild["id"], grandchild["state"], grandchild["func"],
             grandchild["tags"]["resonate:parent"], grandchild["children"]),
            ("wf:2.1", "RESOLVED", "leaf", "wf:2", []),
        )
        self.assertEqual(rendered["children"][2]["kind"], "sleep")
        json.dumps(rendered)
