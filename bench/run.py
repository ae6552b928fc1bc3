"""
The benchmark: the server against a storeless baseline, in one run.

    python bench/run.py                      # SQLite (synchronous=FULL), 64 connections
    python bench/run.py --store postgres     # PostgreSQL (RESONATE_BENCH_POSTGRES or the local one)
    python bench/run.py --smoke              # a few hundred requests: does it all still work?

For each workload (create, get, complete, search by id prefix, mixed) wrk
drives the baseline (bench/baseline.py: a minimal Klein app that parses
the same JSON and answers the same shapes without storing anything), then
the server, over keep-alive connections on 127.0.0.1, and the table gives
req/s and p50/p99/max latency of both and their ratio.  This machine is
shared and noisy: only ratios between figures taken in the same run mean
anything.  gRPC creates (bench/grpcload.py) are compared with HTTP creates.

Needs wrk (Debian: apt-get install wrk).
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKLOADS = ["create", "get", "complete", "search", "mixed"]


class Server:
    """
    A server child process whose output is drained by a thread (a full pipe
    would stall it), with the addresses it logs.
    """

    def __init__(self, args, env=None, cwd=ROOT):
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            cwd=cwd, env=env,
        )
        self.lines = []
        self._found = {}
        self._ready = threading.Condition()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.process.stdout:
            with self._ready:
                self.lines.append(line)
                found = re.search(r"starting (\w+) server addr=(\S*):(\d+)", line)
                if found:
                    self._found[found.group(1)] = (found.group(2) or "127.0.0.1", found.group(3))
                self._ready.notify_all()
        with self._ready:
            self._ready.notify_all()

    def address(self, name, timeout=60):
        """
        The C{(host, port)} the server logged for C{name} (C{http}, C{grpc}).
        """
        deadline = time.monotonic() + timeout
        with self._ready:
            while name not in self._found:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start:\n{''.join(self.lines)}")
                self._ready.wait(0.1)
            return self._found[name]

    def rssPeakMB(self):
        """
        The process's peak resident set size so far, in MB.
        """
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wrk(url, workload, prefix, pool, connections, duration, threads):
    """
    Run one wrk workload.

    @return: the summary C{dict} (bench/wrk/common.lua).
    """
    env = dict(os.environ, BENCH_WRK_DIR=os.path.join(HERE, "wrk"))
    result = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
         "-s", os.path.join(HERE, "wrk", f"{workload}.lua"), url, "--", prefix, str(pool)],
        capture_output=True, text=True, env=env, check=True,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"wrk printed no summary:\n{result.stdout}\n{result.stderr}")
    return json.loads(lines[-1])


def rate(summary):
    return summary["requests"] / (summary["duration_us"] / 1e6)


def idleWaiter(metricsURL, timeout=30):
    """
    A function that waits until the server at C{metricsURL} answers no
    request: when wrk ends a phase it closes connections whose requests may
    still be queued in the store (up to one per connection), and the next
    phase would find the queue full of them (fast 5032s, counted as errors
    of a phase they do not belong to).
    """

    def wait():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with urllib.request.urlopen(metricsURL) as page:
                text = page.read().decode("utf-8")
            found = re.search(r'^api_in_flight_requests\{type="http"\} (\S+)$', text, re.M)
            if found is None or float(found.group(1)) == 0:
                return
            time.sleep(0.05)

    return wait


def runWorkloads(url, args, settle=lambda: None):
    """
    Every HTTP workload against the server at C{url}, in order: a short
    warm-up, creates (whose ids the next three use), reads, completions,
    searches, the mix; C{settle} is called before each.
    """
    results = {}

    def phase(*args):
        settle()
        return wrk(*args)

    duration = args.duration
    # Each completion takes the next created id: complete for a third of
    # the time creates ran (completions are at most about twice as fast),
    # so they never run out.
    completing = max(1, duration // 3)
    creating = max(duration, 3 * completing)
    phase(url, "create", "warm", 1, args.connections, max(1, duration // 5), args.threads)
    results["create"] = phase(url, "create", "c", 1, args.connections, creating, args.threads)
    # The last requests of a phase may be cut off unanswered: leave a
    # margin below the count that was answered.
    created = results["create"]["requests"] // args.threads - 2 * args.connections
    pool = max(1, min(1000, created))
    results["get"] = phase(url, "get", "c", pool, args.connections, duration, args.threads)
    results["complete"] = phase(
        url, "complete", "c", 1, args.connections, completing, args.threads
    )
    results["search"] = phase(url, "search", "c", pool, args.connections, duration, args.threads)
    results["mixed"] = phase(
        url, "mixed", "m", 4 * args.connections, args.connections, duration, args.threads
    )
    return results


def postgresFlags(dsn, database="resonate_bench"):
    """
    A fresh scratch database for the run, and the flags that point the
    server at it.
    """
    import psycopg2

    params = dict(part.split("=", 1) for part in dsn.split())
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {database}")
        cursor.execute(f"CREATE DATABASE {database}")
    connection.close()
    return [
        "--aio-store", "postgres",
        "--aio-store-postgres-host", params.get("host", "127.0.0.1"),
        "--aio-store-postgres-port", params.get("port", "5432"),
        "--aio-store-postgres-username", params.get("user", "postgres"),
        "--aio-store-postgres-database", database,
    ]


def table(baseline, server, grpcResult):
    rows = [
        "| workload | baseline req/s | server req/s | ratio | baseline p50/p99/max ms "
        "| server p50/p99/max ms | p99 ratio | server errors |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def ms(summary):
        return "/".join(f"{summary[k] / 1000:.1f}" for k in ("p50_us", "p99_us", "max_us"))

    for name in WORKLOADS:
        b, s = baseline[name], server[name]
        errors = ", ".join(f"{k} {v}" for k, v in s["errors"].items() if v) or "0"
        rows.append(
            f"| {name} | {rate(b):.0f} | {rate(s):.0f} | {rate(s) / rate(b):.2f} | {ms(b)} "
            f"| {ms(s)} | {s['p99_us'] / max(1, b['p99_us']):.2f} | {errors} |"
        )
    if grpcResult is not None:
        httpRate = rate(server["create"])
        rows.append(
            f"| grpc create | (http create) {httpRate:.0f} | {rate(grpcResult):.0f} "
            f"| {rate(grpcResult) / httpRate:.2f} | - | {ms(grpcResult)} | - "
            f"| {sum(grpcResult['errors'].values())} |"
        )
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10, help="seconds per workload")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--no-grpc", action="store_true", help="skip gRPC creates")
    parser.add_argument("--smoke", action="store_true",
                        help="4 connections, 1 s per workload (3 s of creates): "
                        "a check that it runs")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--src", help="run the server from this checkout (to compare "
                        "two builds in one session; `python -m` puts its directory "
                        "first on sys.path)")
    parser.add_argument("--klein-baseline", action="store_true",
                        help="serve the baseline's routes with Klein's own resource, "
                        "not the server's AppResource (the baseline is then slower: "
                        "Klein leaves a reference cycle and a chunked answer per request)")
    parser.add_argument("server_flags", nargs="*", help="extra twist resonate flags (after --)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.connections, args.duration = 4, 1
    if shutil.which("wrk") is None:
        raise SystemExit("error: wrk is not installed (Debian: apt-get install wrk)")

    baselineServer = Server([sys.executable, os.path.join(HERE, "baseline.py"),
                             *(["--klein-resource"] if args.klein_baseline else [])])
    host, port = baselineServer.address("http")
    try:
        baseline = runWorkloads(f"http://{host}:{port}", args)
    finally:
        baselineServer.stop()

    scratch = tempfile.mkdtemp(prefix="resonate-bench-")
    if args.store == "postgres":
        dsn = os.environ.get(
            "RESONATE_BENCH_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=test"
        )
        storeFlags = postgresFlags(dsn)
    else:
        storeFlags = ["--aio-store", "sqlite",
                      "--aio-store-sqlite-path", os.path.join(scratch, "bench.db")]
    env = None
    if args.src:
        env = dict(os.environ, PYTHONPATH=os.path.abspath(args.src))
    server = Server(
        [sys.executable, "-m", "twisted", "--log-format=text", "resonate",
         "--api-http-addr", "127.0.0.1:0", "--api-grpc-addr", "127.0.0.1:0",
         "--metrics-port", "0", "--api-size", "1000", *storeFlags, *args.server_flags],
        env=env, cwd=os.path.abspath(args.src) if args.src else ROOT,
    )
    grpcResult = None
    try:
        host, port = server.address("http")
        metricsHost, metricsPort = server.address("metrics")
        results = runWorkloads(
            f"http://{host}:{port}", args,
            idleWaiter(f"http://{metricsHost}:{metricsPort}/metrics"),
        )
        if not args.no_grpc:
            grpcHost, grpcPort = server.address("grpc")
            out = subprocess.run(
                [sys.executable, os.path.join(HERE, "grpcload.py"), f"{grpcHost}:{grpcPort}",
                 "--duration", str(args.duration), "--concurrency", str(args.connections)],
                capture_output=True, text=True, check=True, cwd=ROOT,
            )
            grpcResult = json.loads(out.stdout.strip().splitlines()[-1])
        rss = server.rssPeakMB()
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"store: {args.store}, connections: {args.connections}, "
          f"{args.duration} s per workload, wrk threads: {args.threads}, "
          f"baseline resource: {'Klein' if args.klein_baseline else 'AppResource'}, "
          f"server peak RSS: {rss:.0f} MB")
    print(table(baseline, results, grpcResult))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"baseline": baseline, "server": results, "grpc": grpcResult,
                       "rssPeakMB": rss, "store": args.store,
                       "kleinBaseline": args.klein_baseline}, f, indent=2)
    failed = [name for name in WORKLOADS if sum(results[name]["errors"].values())]
    if failed:
        warnings = [line for line in server.lines if "warn" in line or "error" in line]
        print("".join(warnings[-10:]), file=sys.stderr, end="")
        print(f"errors in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
