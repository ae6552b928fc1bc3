# -*- test-case-name: tests.processes.test_sdk2026 -*-
"""
A durable fan-out workflow for the real Resonate Python SDK
(C{resonate-sdk==0.8.1}, the "2026-04-01" protocol), run against a server by
L{tests.processes.test_sdk2026} with the SDK's own interpreter (Python 3.12
or later, a virtualenv made by L{tests.support.sdkenv}); never imported by
trial.

    python workflow.py worker --url URL --group workers --log FILE
    python workflow.py run --url URL --group starters --id ID --n 3 \\
        --sleep 2 --workers workers --log FILE --timeout 120

C{worker} serves the group C{--group} until SIGTERM: it runs C{child}
whenever the server delivers one (and C{fanout} if its task is delivered
there).  C{run} starts C{fanout(n, sleep, workers, delay)} under C{--id}
with C{Resonate.run}, so the root runs in that process: it fans out C{n}
children to the group C{workers} with C{ctx.rpc}, awaits them, sleeps
durably with C{ctx.sleep}, adds the squares in a local C{ctx.run} step and
returns C{{"squares": [...], "total": ..., "slept": sleep}}.  A second
C{run} of a finished id gets the stored result and executes nothing.

Every execution of a function body appends one JSON line to C{FILE}
(C{{"event", "id", "pid", "sdk", ...}}): C{fanout} once per replay of the
root, C{sleeping} each time the root reaches its sleep, C{child-start} and
C{child} around a child's body, C{step} for the local step.  C{run} prints
one JSON summary line and exits 0 when the result is right, 1 when it is
wrong or the SDK failed, 3 when it did not finish within C{--timeout}.
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import traceback
from datetime import timedelta
from importlib.metadata import version

from resonate.resonate import Resonate

SDK = "py-" + version("resonate-sdk")

#: The file every execution appends a line to (set from the command line).
executionLog = None

#: This process's pid as the SDK knows it (set from the command line).
processId = None


def logExecution(event, promiseId, **fields):
    line = {"event": event, "id": promiseId, "pid": processId, "sdk": SDK,
            "at": time.time(), **fields}
    with open(executionLog, "a") as f:
        f.write(json.dumps(line) + "\n")


async def child(ctx, i, delay):
    """
    A remote child: its square, after C{delay} seconds of work.
    """
    logExecution("child-start", ctx.info.id, i=i)
    if delay:
        await asyncio.sleep(delay)
    logExecution("child", ctx.info.id, i=i, value=i * i)
    return i * i


def addAll(ctx, values):
    """
    The local step.
    """
    logExecution("step", ctx.info.id, values=values)
    return sum(values)


async def fanout(ctx, n, sleep, workers, delay):
    """
    Fan out to C{n} remote children, await them, sleep durably, add up.
    """
    logExecution("fanout", ctx.info.id)
    futures = [
        ctx.options(target=workers).rpc("child", i, delay) for i in range(n)
    ]
    squares = []
    for future in futures:
        squares.append(await future)
    logExecution("sleeping", ctx.info.id, squares=squares)
    await ctx.sleep(timedelta(seconds=sleep))
    total = await ctx.run(addAll, squares)
    return {"squares": squares, "total": total, "slept": sleep}


def expected(n, sleep):
    squares = [i * i for i in range(n)]
    return {"squares": squares, "total": sum(squares), "slept": sleep}


def makeResonate(args):
    resonate = Resonate(
        url=None if args.url == "local" else args.url,
        group=args.group, pid=args.pid,
        ttl=timedelta(seconds=args.ttl),
    )
    resonate.register(fanout)
    resonate.register(child)
    return resonate


async def serve(args):
    resonate = makeResonate(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for name in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(name, stop.set)
    print(json.dumps({"ready": True, "sdk": SDK, "group": args.group,
                      "pid": args.pid}), flush=True)
    await stop.wait()
    await asyncio.wait_for(resonate.stop(), 10)


async def runWorkflow(args):
    summary = {"sdk": SDK, "id": args.id, "n": args.n, "sleep": args.sleep,
               "expected": expected(args.n, args.sleep)}
    status = 1
    started = time.monotonic()
    resonate = makeResonate(args)
    try:
        handle = resonate.run(
            args.id, fanout, args.n, args.sleep, args.workers, args.delay
        )
        try:
            summary["result"] = await asyncio.wait_for(handle.result(), args.timeout)
        except TimeoutError:
            summary["error"] = f"no result within {args.timeout}s"
            status = 3
        else:
            if summary["result"] != summary["expected"]:
                summary["error"] = "wrong result"
            else:
                status = 0
    except Exception as e:
        summary["error"] = f"{type(e).__name__}: {e}"
        traceback.print_exc()
    summary["seconds"] = round(time.monotonic() - started, 3)
    summary["ok"] = status == 0
    print(json.dumps(summary), flush=True)
    try:
        await asyncio.wait_for(resonate.stop(), 10)
    except Exception:
        pass
    return status


def main(argv):
    global executionLog, processId
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("mode", choices=["worker", "run"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--pid", default=None)
    parser.add_argument("--log", required=True)
    parser.add_argument("--ttl", type=float, default=60,
                        help="task lease in seconds")
    parser.add_argument("--id")
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=2)
    parser.add_argument("--delay", type=float, default=0,
                        help="seconds each child works")
    parser.add_argument("--workers", default="workers")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args(argv)
    args.pid = args.pid or f"{args.mode}-{os.getpid()}"
    executionLog = args.log
    processId = args.pid
    if args.mode == "worker":
        asyncio.run(serve(args))
        return 0
    if not args.id:
        parser.error("run needs --id")
    return asyncio.run(runWorkflow(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
