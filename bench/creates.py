"""
Creates per second against a real `twist resonate`, for comparing two
builds or configurations in the same run (this machine is noisy: only the
ratio between runs made together means anything).

    python bench/creates.py --requests 4000 --concurrency 32 -- --aio-store memory
    python bench/creates.py --src /path/to/other/checkout -- --aio-store postgres ...

Everything after `--` is passed to `twist resonate`.  The server listens on
an ephemeral port of 127.0.0.1 and is stopped with SIGTERM at the end.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid

from twisted.internet import defer, task
from twisted.web.client import HTTPConnectionPool


def startServer(src, flags):
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src] + [p for p in [env.get("PYTHONPATH")] if p])
    # `python -m` puts the working directory first on sys.path: run in the
    # checkout being measured, or another checkout's code would shadow it.
    process = subprocess.Popen(
        [sys.executable, "-m", "twisted", "--log-format=text", "resonate",
         "--api-http-addr", "127.0.0.1:0", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
        cwd=src or None,
    )
    for line in process.stdout:
        found = re.search(r"starting http server addr=([\d.]+):(\d+)", line)
        if found:
            return process, f"http://{found.group(1)}:{found.group(2)}"
    raise SystemExit("server did not start:\n" + process.stdout.read())


async def load(reactor, url, requests, concurrency):
    import treq

    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = concurrency
    prefix = uuid.uuid4().hex
    counter = iter(range(requests))
    codes = {}

    async def worker():
        for i in counter:
            body = json.dumps({"id": f"{prefix}/{i}", "timeout": 2**62}).encode()
            response = await treq.post(url + "/promises", body, pool=pool)
            await treq.content(response)
            codes[response.code] = codes.get(response.code, 0) + 1

    started = time.perf_counter()
    await defer.gatherResults(
        [defer.ensureDeferred(worker()) for _ in range(concurrency)]
    )
    elapsed = time.perf_counter() - started
    await pool.closeCachedConnections()
    return requests / elapsed, codes


def main(reactor, options):
    process, url = startServer(options.src, options.flags)

    async def run():
        try:
            rate, codes = await load(reactor, url, options.requests, options.concurrency)
            print(json.dumps({"creates_per_s": round(rate), "codes": codes}))
        finally:
            process.terminate()
            process.wait()

    return defer.ensureDeferred(run())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--src", default=None, help="a checkout to run instead")
    parser.add_argument("flags", nargs="*")
    task.react(main, [parser.parse_args()])
