# -*- test-case-name: tests.unit.test_cli_tree -*-
"""
C{resonate tree}: a workflow's call tree in the terminal, each promise with
its state, how long it took (or has been pending) and what it is (an rpc,
a local run, a sleep, and the function's name).

The members are found with the v0.5 search API (C{GET /promises}), every
page of each search L{resonate.model.tree.treeSearches} names, and hung
together by L{resonate.model.tree.buildTree}.
"""

import base64
import binascii
import json

from resonate.cli import render
from resonate.cli.client import CommandFailed
from resonate.model.promise import TIMER_TAGS, Promise, State, Value
from resonate.model.tree import buildTree, treeSearches

#: Results per search page: the most the v0.5 API gives.
PAGE_SIZE = 100


class RootNotFound(CommandFailed):
    """
    The tree's root promise does not exist.
    """

    def __str__(self):
        return f"promise {self.args[0]} not found"


def _value(record):
    record = record or {}
    data = record.get("data")
    try:
        data = base64.b64decode(data, validate=True) if data else None
    except (binascii.Error, ValueError):
        data = None
    return Value(headers=dict(record.get("headers") or {}), data=data)


def promiseFromJSON(record):
    """
    A promise of the v0.5 API's JSON as a
    L{resonate.model.promise.Promise}.
    """
    return Promise(
        id=record["id"],
        state=State(record["state"]),
        timeout=record.get("timeout"),
        createdOn=record.get("createdOn") or 0,
        param=_value(record.get("param")),
        value=_value(record.get("value")),
        completedOn=record.get("completedOn"),
        tags=dict(record.get("tags") or {}),
    )


def searchAll(client, search):
    """
    Every promise one L{resonate.model.tree.TreeSearch} finds, page after
    page.

    @return: a list of L{Promise}s.
    """
    found = []
    cursor = None
    while True:
        query = [("id", search.idPattern)]
        query += [(f"tags[{k}]", v) for k, v in sorted(search.tags.items())]
        query.append(("limit", str(PAGE_SIZE)))
        if cursor:
            query.append(("cursor", cursor))
        page = client.request("GET", "/promises", query=query).body or {}
        found += [promiseFromJSON(p) for p in page.get("promises") or ()]
        cursor = page.get("cursor")
        if not cursor:
            return found


def fetchTree(client, rootId, now):
    """
    The call tree of C{rootId}, from the server.

    @return: its L{resonate.model.tree.TreeNode}.
    @raise RootNotFound: there is no promise C{rootId}.
    """
    promises = []
    for search in treeSearches(rootId):
        promises += searchAll(client, search)
    root = buildTree(rootId, promises, now)
    if root is None:
        raise RootNotFound(rootId)
    return root


def functionName(promise):
    """
    The function an SDK invocation runs: the C{func} of its param's JSON,
    or L{None}.
    """
    try:
        payload = json.loads(promise.param.data)
    except (TypeError, ValueError, UnicodeDecodeError):
        return None
    func = payload.get("func") if isinstance(payload, dict) else None
    return func if isinstance(func, str) else None


def kindOf(promise):
    """
    What a member is, from its tags: C{"sleep"} (a timer), C{"rpc"} (a
    global invocation, run by a worker), C{"run"} (a local step), or
    L{None} (a plain promise).
    """
    if any(promise.tags.get(tag) == "true" for tag in TIMER_TAGS):
        return "sleep"
    return {"global": "rpc", "local": "run"}.get(promise.tags.get("resonate:scope"))


def describe(promise):
    """
    The last column of a member's line: its kind and function
    (C{rpc child}), or nothing.
    """
    return " ".join(
        part for part in (kindOf(promise), functionName(promise)) if part
    )


def treeLines(root):
    """
    The tree as lines of text: each member under its caller, drawn with
    box-drawing branches, then its state, duration and description in
    aligned columns.
    """
    rows = []

    def visit(node, prefix, childPrefix):
        rows.append((prefix + node.promise.id, node))
        for index, child in enumerate(node.children):
            last = index == len(node.children) - 1
            visit(
                child,
                childPrefix + ("└── " if last else "├── "),
                childPrefix + ("    " if last else "│   "),
            )

    visit(root, "", "")
    return render.table(
        ["ID", "STATE", "DURATION", "WHAT"],
        [
            [label, node.promise.state.value,
             render.formatDuration(node.duration), describe(node.promise)]
            for label, node in rows
        ],
    ).splitlines()


def treeJSON(root):
    """
    The tree as nested JSON-ready dicts: the model's
    (L{resonate.model.tree.TreeNode.toJSON}), each node with its C{kind},
    C{func} and C{tags} too.
    """
    def decorate(rendered, node):
        rendered["kind"] = kindOf(node.promise)
        rendered["func"] = functionName(node.promise)
        rendered["tags"] = node.promise.tags
        for renderedChild, child in zip(rendered["children"], node.children):
            decorate(renderedChild, child)
        return rendered

    return decorate(root.toJSON(), root)


def tree(args, client, out):
    """
    Fetch and print the call tree of C{args.id}.
    """
    root = fetchTree(client, args.id, args.now())
    if args.output == "json":
        out.write(render.formatJSON(treeJSON(root)) + "\n")
    else:
        out.write("\n".join(treeLines(root)) + "\n")


def addTreeCommand(commands, addOutput):
    """
    Add C{resonate tree} to C{commands} (a L{resonate.cli.main._Commands}).
    """
    parser = commands.add(
        "tree", tree,
        "show a workflow's call tree: each promise's state and duration",
    )
    parser.add_argument("id", help="the root promise's id")
    addOutput(parser)
