"""
gRPC load for bench/run.py: CreatePromise with a new id each call, from
CONCURRENCY calls kept in flight on one channel for DURATION seconds.
Prints one JSON line like wrk's summary in bench/wrk/common.lua.

    python bench/grpcload.py HOST:PORT --duration 10 --concurrency 64 --prefix g
"""

import argparse
import asyncio
import json
import time

import grpc

from resonate.api.pb import promise_pb2, promise_pb2_grpc


async def run(address, duration, concurrency, prefix):
    latencies = []
    errors = 0
    async with grpc.aio.insecure_channel(address) as channel:
        stub = promise_pb2_grpc.PromisesStub(channel)
        deadline = time.monotonic() + duration
        counter = iter(range(1, 1 << 62))
        param = promise_pb2.Value(headers={"k": "v"}, data=b"hello world")

        async def worker():
            nonlocal errors
            while time.monotonic() < deadline:
                request = promise_pb2.CreatePromiseRequest(
                    id=f"{prefix}-{next(counter)}", timeout=4102444800000, param=param
                )
                started = time.monotonic()
                try:
                    await stub.CreatePromise(request)
                except grpc.aio.AioRpcError:
                    errors += 1
                latencies.append(time.monotonic() - started)

        began = time.monotonic()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.monotonic() - began
    latencies.sort()

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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--prefix", default="g")
    args = parser.parse_args()
    result = asyncio.run(run(args.address, args.duration, args.concurrency, args.prefix))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
