"""
gRPC load for bench/run.py: CreatePromise with a new id each call, from
CONCURRENCY calls kept in flight for DURATION seconds.  Prints one JSON line
like wrk's summary in bench/wrk/common.lua.

    python bench/grpcload.py HOST:PORT --duration 10 --concurrency 64 --prefix g [--token JWT]

With C{--token}, every call carries C{authorization: Bearer <JWT>} metadata.

A Python client costs about half as much CPU per call as the server it
drives, so one process can be the bottleneck (wrk, in C, is not):
C{--processes N} splits the calls in flight over N processes, each with its
own channel, and merges their latencies.
"""

import argparse
import asyncio
import json
import subprocess
import sys
import time

import grpc

from resonate.api.pb import promise_pb2, promise_pb2_grpc


async def run(address, duration, concurrency, prefix, token=None):
    """
    Keep C{concurrency} creates in flight on one channel for C{duration}
    seconds.

    @return: C{(latencies in seconds, errors, elapsed seconds)}.
    """
    latencies = []
    errors = 0
    async with grpc.aio.insecure_channel(address) as channel:
        stub = promise_pb2_grpc.PromisesStub(channel)
        deadline = time.monotonic() + duration
        counter = iter(range(1, 1 << 62))
        param = promise_pb2.Value(headers={"k": "v"}, data=b"hello world")
        metadata = (("authorization", f"Bearer {token}"),) if token else None

        async def worker():
            nonlocal errors
            while time.monotonic() < deadline:
                request = promise_pb2.CreatePromiseRequest(
                    id=f"{prefix}-{next(counter)}", timeout=4102444800000, param=param
                )
                started = time.monotonic()
                try:
                    await stub.CreatePromise(request, metadata=metadata)
                except grpc.aio.AioRpcError:
                    errors += 1
                latencies.append(time.monotonic() - started)

        began = time.monotonic()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.monotonic() - began
    return latencies, errors, elapsed


def summary(latencies, errors, elapsed):
    """
    wrk's summary (bench/wrk/common.lua) of one run's calls.
    """
    latencies = sorted(latencies)

    def percentile(p):
        return int(latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1e6)

    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "p50_us": percentile(50),
        "p99_us": percentile(99),
        "max_us": int(latencies[-1] * 1e6),
        "errors": {"status": errors},
    }


def spread(args):
    """
    Run C{args.processes} copies of this script at once, each with its share
    of the concurrency and its own id prefix, and merge what they measured.
    """
    shares = [args.concurrency // args.processes] * args.processes
    for i in range(args.concurrency % args.processes):
        shares[i] += 1
    children = [
        subprocess.Popen(
            [sys.executable, __file__, args.address, "--duration", str(args.duration),
             "--concurrency", str(share), "--prefix", f"{args.prefix}{i}", "--raw",
             *(["--token", args.token] if args.token else [])],
            stdout=subprocess.PIPE, text=True,
        )
        for i, share in enumerate(shares)
    ]
    latencies, errors, elapsed = [], 0, 0.0
    for child in children:
        out, _ = child.communicate()
        if child.returncode:
            raise SystemExit(f"a load process failed with status {child.returncode}")
        raw = json.loads(out.strip().splitlines()[-1])
        latencies.extend(raw["latencies"])
        errors += raw["errors"]
        elapsed = max(elapsed, raw["elapsed"])
    return summary(latencies, errors, elapsed)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--prefix", default="g")
    parser.add_argument(
        "--processes", type=int, default=1,
        help="client processes to spread the calls in flight over",
    )
    parser.add_argument("--token", help="a JWT sent as authorization: Bearer metadata")
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.processes > 1:
        print(json.dumps(spread(args)))
        return
    latencies, errors, elapsed = asyncio.run(
        run(args.address, args.duration, args.concurrency, args.prefix, args.token)
    )
    if args.raw:
        print(json.dumps({"latencies": latencies, "errors": errors, "elapsed": elapsed}))
    else:
        print(json.dumps(summary(latencies, errors, elapsed)))


if __name__ == "__main__":
    main()
