# -*- test-case-name: tests.processes.test_sdk -*-
"""
A durable fan-out workflow run by the real Resonate Python SDK
(C{resonate-sdk==0.1.31}) against a server; run by L{tests.processes.test_sdk} with the
SDK's own interpreter, never imported by trial.

    python sdk_workflow.py --url http://127.0.0.1:8001 --id ID --n 5 --log FILE

C{fanout(n)} starts C{n} children with C{ctx.lfi} (each a durable promise),
collects their results, and adds them up in one C{ctx.lfc} step.  Every
child and the step append one line to C{FILE}, so the caller can count
executions.  Prints a JSON summary on stdout; exits 0 when the result is
right, 1 when it is wrong or the SDK failed, 3 when it did not finish in
C{--timeout} seconds.
"""

import argparse
import json
import sys
import traceback
from concurrent.futures import TimeoutError as FutureTimeout
from importlib.metadata import version

from resonate.scheduler import Scheduler
from resonate.storage import RemotePromiseStore
from resonate.tracing import IAdapter

#: The file every execution appends a line to (set from the command line).
executionLog = None


def _logExecution(line):
    with open(executionLog, "a") as f:
        f.write(line + "\n")


def square(ctx, i):
    """
    A child: a durable promise of its own, executed by the SDK's threads.
    """
    _logExecution(f"square {ctx.ctx_id} {i}")
    return i * i


def addAll(ctx, values):
    """
    The local step that adds the children's results.
    """
    _logExecution(f"addAll {ctx.ctx_id}")
    return sum(values)


def fanout(ctx, n):
    """
    Start C{n} children at once, wait for all of them, add the results.
    """
    promises = []
    for i in range(n):
        promise = yield ctx.lfi(square, i)
        promises.append(promise)
    squares = []
    for promise in promises:
        squares.append((yield promise))
    total = yield ctx.lfc(addAll, squares)
    return {"squares": squares, "total": total}


class _QuietAdapter(IAdapter):
    """
    Drop the scheduler's tracing events.
    """

    def process_event(self, event):
        pass


def main(argv):
    global executionLog
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--url", required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--log", required=True)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args(argv)
    executionLog = args.log

    expected = {
        "squares": [i * i for i in range(args.n)],
        "total": sum(i * i for i in range(args.n)),
    }
    summary = {
        "sdkVersion": version("resonate-sdk"),
        "id": args.id,
        "n": args.n,
        "expected": expected,
    }
    status = 1
    try:
        store = RemotePromiseStore(url=args.url)
        scheduler = Scheduler(store, tracing_adapter=_QuietAdapter())
        promise = scheduler.run(args.id, fanout, args.n)
        try:
            summary["result"] = promise.result(timeout=args.timeout)
        except FutureTimeout:
            summary["error"] = f"no result within {args.timeout}s"
            status = 3
        else:
            root = store.get(promise_id=args.id)
            summary["rootState"] = root.state
            summary["rootValue"] = (
                json.loads(root.value.data) if root.value.data is not None else None
            )
            if summary["result"] != expected:
                summary["error"] = "wrong result"
            elif root.state != "RESOLVED" or summary["rootValue"] != expected:
                summary["error"] = "the root promise does not hold the result"
            else:
                status = 0
    except Exception as e:
        summary["error"] = f"{type(e).__name__}: {e}"
        traceback.print_exc()
    summary["ok"] = status == 0
    print(json.dumps(summary), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
