# -*- test-case-name: tests.unit.test_cli_invoke -*-
"""
An invocation as today's SDKs start one with C{Resonate.rpc}, so that any
worker of the target runs it: what C{resonate invoke} and the console's
invoke form send, encoded once.

The SDKs (C{resonate-sdk} 0.8.1, C{@resonatehq/sdk} 0.11) create the root
promise with C{promise.create}: its C{param.data} is base64 of the JSON
C{{"args": [...], "kwargs": {...}, "func": NAME, "version": N}}, and its
tags make it the root of its own lineage (C{resonate:origin},
C{resonate:branch} and C{resonate:parent} all the id), a global invocation
(C{resonate:scope}) and a task for C{resonate:target}.  The server queues
an C{execute} to the target; a worker acquires the task, finds the
function by name and version, and settles the promise with its result.
"""

import base64
import json

#: The group the SDKs serve unless told otherwise, hence the default
#: target.
DEFAULT_GROUP = "default"

#: The version the SDKs register a function with by default.
DEFAULT_VERSION = 1


def targetAddress(target):
    """
    The address of C{target} as the SDKs resolve it: an address (it has a
    scheme, C{poll://any@workers}, C{http://host/path}) is kept as it is;
    a bare group name C{G} is C{poll://any@G}, any worker of the group.
    """
    if "://" in target:
        return target
    return f"poll://any@{target}"


def invocationParam(func, args=(), kwargs=None, version=DEFAULT_VERSION):
    """
    The C{param} of an invocation, as the SDKs encode it.

    @return: C{{"data": <base64 of the JSON>}}.
    """
    payload = {
        "args": list(args),
        "kwargs": dict(kwargs or {}),
        "func": func,
        "version": version,
    }
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return {"data": base64.b64encode(text.encode("utf-8")).decode("ascii")}


def invocationRequest(promiseId, func, now, timeout, target=DEFAULT_GROUP,
                      args=(), kwargs=None, version=DEFAULT_VERSION,
                      delay=None):
    """
    The C{data} of the C{promise.create} that invokes C{func}.

    @param now: ms since the epoch.
    @param timeout: ms from C{now} until the invocation times out.
    @param delay: L{None}, or ms from C{now} before the task is first
        dispatched (C{resonate:delay}, an absolute time).
    """
    tags = {
        "resonate:origin": promiseId,
        "resonate:branch": promiseId,
        "resonate:parent": promiseId,
        "resonate:scope": "global",
        "resonate:target": targetAddress(target),
    }
    if delay is not None:
        tags["resonate:delay"] = str(now + delay)
    return {
        "id": promiseId,
        "timeoutAt": now + timeout,
        "param": invocationParam(func, args, kwargs, version),
        "tags": tags,
    }
