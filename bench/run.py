"""
The benchmark: the server against a storeless baseline, in one run.

    python bench/run.py                      # SQLite (synchronous=FULL), 64 connections
    python bench/run.py --store postgres     # PostgreSQL (RESONATE_BENCH_POSTGRES or the local one)
    python bench/run.py --smoke              # a few hundred requests: does it all still work?
    python bench/run.py -- --api-workers 2   # flags after -- go to `twist resonate`
    python bench/run.py --compare-jwt        # the server with JWT auth off and on (issue #19)

For each workload (v0.5: create, get, complete, search by id prefix,
mixed; 2026 protocol over POST /: create2026, get2026) wrk drives the
baseline (bench/baseline.py: by default a tuned stock Klein app that
parses the same JSON and answers the same shapes without storing
anything), then the server, over keep-alive connections on 127.0.0.1.
Two views of each workload, both against the baseline:

  - throughput: req/s and p50/p99/max latency of both, and their ratios;
  - CPU per request: user+system CPU time of each one's whole process tree
    (bench/proctree.py: every descendant, so --api-workers counts), read
    from /proc just before and after the wrk run, divided by the requests
    answered.  A run where wrk, not the server, is the bottleneck can
    flatter the first view; it cannot flatter this one.

Then the 2026 task loop (bench/taskloop.py: create with a target, execute
over SSE, task.acquire, task.fulfill) reports tasks/s against the
baseline's create rate and its CPU per task, and gRPC creates
(bench/grpcload.py) are compared with HTTP creates.  This machine is shared
and noisy: only ratios between figures taken in the same run mean anything.

JWT authentication (issue #19): C{--jwt} makes a key pair (C{--jwt-key-type},
Ed25519 by default) in a scratch directory, starts the server with
C{--api-auth-jwt-public-key} and has every load send an admin token: v0.5
requests in C{Authorization: Bearer} (bench/wrk/common.lua's authorize()),
2026 envelopes in C{head.auth}, the task loop in both, gRPC as
C{authorization} metadata.  The baseline gets the same requests and ignores
the tokens.  C{--compare-jwt} runs two servers side by side, one without
JWT and one with, both sent the same requests (tokens included: the one
without JWT ignores them), and drives each workload against one then the
other (the order alternating from one workload to the next), so that the
machine's drift falls on both alike; it reports each workload's req/s and
CPU per request with JWT on against off (the tables against the baseline
are of the server without JWT).  C{--jwt-fresh} (wrk workloads
only) gives each wrk thread 2 x VERIFIED_CACHE_SIZE distinct tokens to
cycle through, so that every request's token is one the server has not
verified, or has forgotten: the cost of checking a signature each time.

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
WORKLOADS = ["create", "get", "complete", "search", "mixed", "create2026", "get2026"]

sys.path.insert(0, HERE)

from proctree import descendants, treeCPU  # noqa: E402


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
        The peak resident set sizes so far of the process and its living
        descendants (workers), summed, in MB: an upper bound of the tree's
        peak, as the peaks need not have been at the same time.
        """
        total = 0
        for pid in descendants(self.process.pid):
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            total += int(line.split()[1])
            except FileNotFoundError:
                pass
        return total / 1024

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


#: Environment for wrk's scripts: BENCH_TOKEN or BENCH_TOKENS with --jwt
#: (bench/wrk/common.lua's authorize()).
WRK_ENV = {}


def wrk(url, workload, prefix, pool, connections, duration, threads, pid=None):
    """
    Run one wrk workload; with C{pid}, also measure the CPU time that
    process's tree spent during it.

    @return: the summary C{dict} (bench/wrk/common.lua), with C{cpu_s}
        (L{None} without C{pid}) and C{wall_s}, the seconds between the two
        reads.
    """
    env = dict(os.environ, BENCH_WRK_DIR=os.path.join(HERE, "wrk"), **WRK_ENV)
    cpuBefore = treeCPU(pid) if pid else None
    wallBefore = time.monotonic()
    result = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
         "-s", os.path.join(HERE, "wrk", f"{workload}.lua"), url, "--", prefix, str(pool)],
        capture_output=True, text=True, env=env, check=True,
    )
    cpuAfter = treeCPU(pid) if pid else None
    wall = time.monotonic() - wallBefore
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"wrk printed no summary:\n{result.stdout}\n{result.stderr}")
    summary = json.loads(lines[-1])
    summary["cpu_s"] = None if pid is None else cpuAfter - cpuBefore
    summary["wall_s"] = wall
    summary["cpu_us_per_request"] = cpuPerRequest(summary)
    return summary


def rate(summary):
    return summary["requests"] / (summary["duration_us"] / 1e6)


def cpuPerRequest(summary):
    """
    Microseconds of the process tree's CPU time per answered request, or
    L{None} when not measured.
    """
    if summary.get("cpu_s") is None or not summary["requests"]:
        return None
    return summary["cpu_s"] * 1e6 / summary["requests"]


def ratio(a, b, digits=2):
    """
    C{a / b} printed, or "-" when either is missing.
    """
    if a is None or not b:
        return "-"
    return f"{a / b:.{digits}f}"


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
            if inFlightHTTP(text) == 0:
                return
            time.sleep(0.05)

    return wait


def inFlightHTTP(text):
    """
    The HTTP requests in flight on a metrics page: the sum of every
    C{api_in_flight_requests} sample with C{type="http"}, whatever other
    labels it has (with --api-workers, one line per worker).
    """
    total = 0.0
    for labels, value in re.findall(
        r"^api_in_flight_requests\{([^}]*)\} (\S+)$", text, re.M
    ):
        if re.search(r'(^|,)type="http"(,|$)', labels):
            total += float(value)
    return total


def readPool(created, connections):
    """
    How many of a create phase's ids (from the first, per wrk thread) a
    later phase may read: below the fewest any thread sent (wrk's threads
    are not equally fast), less one per connection for the last requests,
    which may have been cut off unanswered; at most 1000.
    """
    return max(1, min(1000, created["min_counter"] - 1 - connections))


def runWorkloads(url, args, pid, settle=lambda: None):
    """
    Every HTTP workload against the server at C{url} (process C{pid}), in
    order: a short warm-up, creates (whose ids the next three use), reads,
    completions, searches, the mix, then 2026 creates and reads of them;
    C{settle} is called before each.
    """
    return runWorkloadsOn([(url, pid, settle)], args)[0]


def runWorkloadsOn(targets, args):
    """
    L{runWorkloads} against several servers at once, each a C{(url, pid,
    settle)}: each phase runs against every one in turn before the next
    phase starts, first to last, then last to first for the next phase, and
    so on, so that a slow spell of the machine falls on all alike.

    @return: a C{list}, per target, of a C{dict} of each workload's summary.
    """
    results = [{} for _ in targets]
    turns = iter(range(1 << 30))

    def phase(name, workload, prefix, pool, duration):
        """
        Run C{workload} on every target; C{pool} is a number, or a function
        of a target's results so far (each target's creates ran at their
        own speed).
        """
        order = list(range(len(targets)))
        if next(turns) % 2:
            order.reverse()
        for index in order:
            url, pid, settle = targets[index]
            settle()
            summary = wrk(url, workload, prefix,
                          pool(results[index]) if callable(pool) else pool,
                          args.connections, duration, args.threads, pid=pid)
            if name is not None:
                results[index][name] = summary

    duration = args.duration
    # Each completion takes the next created id: complete for a third of
    # the time creates ran (completions are at most about twice as fast),
    # so they never run out.
    completing = max(1, duration // 3)
    creating = max(duration, 3 * completing)

    def pool(created):
        return lambda own: readPool(own[created], args.connections)

    phase(None, "create", "warm", 1, max(1, duration // 5))
    phase("create", "create", "c", 1, creating)
    phase("get", "get", "c", pool("create"), duration)
    phase("complete", "complete", "c", 1, completing)
    phase("search", "search", "c", pool("create"), duration)
    phase("mixed", "mixed", "m", 4 * args.connections, duration)
    phase("create2026", "create2026", "n", 1, duration)
    phase("get2026", "get2026", "n", pool("create2026"), duration)
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


def ms(summary):
    return "/".join(f"{summary[k] / 1000:.1f}" for k in ("p50_us", "p99_us", "max_us"))


#: The share of a core below which a single-process baseline was held
#: back by something other than its own work.
STARVED = 0.8


def starvedPhases(baseline):
    """
    The workloads in which the baseline (one process, one thread of Python)
    kept less than L{STARVED} of a core busy.
    """
    return [
        name for name in WORKLOADS
        if baseline[name].get("cpu_s") is not None
        and baseline[name]["cpu_s"] / baseline[name]["wall_s"] < STARVED
    ]


def table(baseline, server, grpcResult):
    """
    The throughput view: req/s and latency of each workload, the server's
    against the baseline's.
    """
    rows = [
        "| workload | baseline req/s | server req/s | ratio | baseline p50/p99/max ms "
        "| server p50/p99/max ms | p99 ratio | server errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
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


def cpuTable(baseline, server, grpcResult):
    """
    The CPU view: CPU time per answered request of each process tree, and
    how many cores each kept busy during the run (near the machine's core
    count: that side was the bottleneck; well below: something else was).
    """
    rows = [
        "| workload | baseline CPU us/req | server CPU us/req | CPU ratio "
        "| baseline cores busy | server cores busy |",
        "|---|---|---|---|---|---|",
    ]

    def us(value):
        return "-" if value is None else f"{value:.0f}"

    def busy(summary):
        return ratio(summary.get("cpu_s"), summary.get("wall_s"))

    for name in WORKLOADS:
        b, s = baseline[name], server[name]
        rows.append(
            f"| {name} | {us(b['cpu_us_per_request'])} | {us(s['cpu_us_per_request'])} "
            f"| {ratio(s['cpu_us_per_request'], b['cpu_us_per_request'])} "
            f"| {busy(b)} | {busy(s)} |"
        )
    if grpcResult is not None:
        httpCPU = server["create"]["cpu_us_per_request"]
        rows.append(
            f"| grpc create | (http create) {us(httpCPU)} "
            f"| {us(grpcResult['cpu_us_per_request'])} "
            f"| {ratio(grpcResult['cpu_us_per_request'], httpCPU)} | - | {busy(grpcResult)} |"
        )
    return "\n".join(rows)


#: The requests of one task of the task loop, each against which
#: baseline workload its latency is set.
TASK_REQUESTS = ["promise.create", "task.acquire", "task.fulfill"]


def taskLoopTables(baseline, loop):
    """
    The task loop against the baseline: tasks/s against the baseline's
    create rates, CPU per task against three of the baseline's 2026
    requests (a task is three POST / requests and an SSE message), and
    each request kind's latency against the baseline's create2026.
    """
    b, b26 = baseline["create"], baseline["create2026"]
    perTask = None if loop["server_cpu_s"] is None or not loop["tasks"] else (
        loop["server_cpu_s"] * 1e6 / loop["tasks"])
    baselinePerTask = (None if b26["cpu_us_per_request"] is None
                       else 3 * b26["cpu_us_per_request"])
    workerPerTask = loop["worker_cpu_s"] * 1e6 / loop["tasks"] if loop["tasks"] else None
    fmt = lambda value: "-" if value is None else f"{value:.0f}"
    rows = [
        "| task loop | tasks/s | / baseline create req/s | / baseline create2026 req/s "
        "| server CPU us/task | 3 x baseline create2026 CPU us/req | CPU ratio "
        "| server cores busy | worker CPU us/task | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {loop['in_flight']} in flight | {loop['tasks_per_s']:.0f} "
        f"| {ratio(loop['tasks_per_s'], rate(b))} (of {rate(b):.0f}) "
        f"| {ratio(loop['tasks_per_s'], rate(b26))} (of {rate(b26):.0f}) "
        f"| {fmt(perTask)} | {fmt(baselinePerTask)} | {ratio(perTask, baselinePerTask)} "
        f"| {ratio(loop['server_cpu_s'], loop['duration_s'])} | {fmt(workerPerTask)} "
        f"| {loop['errors']} |",
        "",
        "| task loop step | count | p50/p99/max ms | baseline create2026 p50/p99/max ms "
        "| p99 ratio | errors |",
        "|---|---|---|---|---|---|",
    ]
    for kind in ["promise.create", "execute", "task.acquire", "task.fulfill", "task"]:
        k = loop["kinds"][kind]
        comparable = kind in TASK_REQUESTS
        rows.append(
            f"| {kind} | {k['count']} | {ms(k)} | {ms(b26) if comparable else '-'} "
            f"| {ratio(k['p99_us'], b26['p99_us']) if comparable else '-'} | {k['errors']} |"
        )
    # Issue #17's targets, said against this run's figures.
    share = loop["tasks_per_s"] / rate(b)
    worst = max(loop["kinds"][kind]["p99_us"] for kind in TASK_REQUESTS) / max(1, b26["p99_us"])
    rows += [
        "",
        f"Targets (#17): tasks/s >= 0.20 x baseline create req/s: {share:.2f}, "
        f"{'met' if share >= 0.2 else 'not met'}; p99 of each request <= 3 x the "
        f"baseline's (create2026): worst {worst:.2f}, {'met' if worst <= 3 else 'not met'}.",
    ]
    return "\n".join(rows)


def runTaskLoop(url, args, pid, token=None):
    """
    bench/taskloop.py against the server at C{url} (process C{pid}), with
    C{token} in every request when given.
    """
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "taskloop.py"), url,
         "--duration", str(args.duration), "--warmup", "0.5" if args.smoke else "1",
         "--in-flight", str(args.in_flight), "--server-pid", str(pid),
         *(["--token", token] if token else [])],
        capture_output=True, text=True, cwd=ROOT,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"the task loop failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(lines[-1])


def runGRPC(address, args, pid, token=None):
    """
    bench/grpcload.py against the server's gRPC C{address}, with the
    server's CPU time over the run; with C{token} in every call when given.
    """
    cpuBefore, wallBefore = treeCPU(pid), time.monotonic()
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "grpcload.py"), address,
         "--duration", str(args.duration), "--concurrency", str(args.connections),
         *(["--token", token] if token else [])],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    # The client's start-up is inside this window; the server idles then.
    summary["cpu_s"] = treeCPU(pid) - cpuBefore
    summary["wall_s"] = time.monotonic() - wallBefore
    summary["cpu_us_per_request"] = cpuPerRequest(summary)
    return summary


#: Each key type --jwt-key-type makes, and the algorithm its tokens use.
JWT_ALGORITHMS = {"ed25519": "EdDSA", "ec": "ES256", "rsa": "RS256"}


def makeJWT(directory, keyType, threads=0):
    """
    A key pair of C{keyType} in C{directory} and admin tokens signed with
    it, valid for an hour.

    @param threads: with more than 0, also write C{tokens-<n>} (n from 1 to
        C{threads}), one per wrk thread, each of twice as many distinct
        tokens as the server's verifier remembers
        (L{resonate.api.tokens.VERIFIED_CACHE_SIZE}).
    @return: C{(path of the public key's PEM, one token, path prefix of the
        token files or None)}.
    """
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    from resonate.api.tokens import VERIFIED_CACHE_SIZE

    if keyType == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif keyType == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    publicPath = os.path.join(directory, "jwt.pub")
    with open(publicPath, "wb") as f:
        f.write(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    algorithm = JWT_ALGORITHMS[keyType]
    expires = int(time.time()) + 3600

    def token(jti):
        return jwt.encode({"sub": "bench", "role": "admin", "exp": expires, "jti": jti},
                          key, algorithm=algorithm)

    tokensPrefix = None
    if threads:
        tokensPrefix = os.path.join(directory, "tokens")
        for thread in range(1, threads + 1):
            with open(f"{tokensPrefix}-{thread}", "w") as f:
                for i in range(2 * VERIFIED_CACHE_SIZE):
                    f.write(token(f"{thread}-{i}") + "\n")
    return publicPath, token("bench"), tokensPrefix


def startServer(args, storeFlags, extraFlags=()):
    """
    The server, started with C{storeFlags} and C{extraFlags}, then the
    run's own flags; and the function that waits until it is idle.
    """
    env = None
    if args.src:
        env = dict(os.environ, PYTHONPATH=os.path.abspath(args.src))
    server = Server(
        [sys.executable, "-m", "twisted", "--log-format=text", "resonate",
         "--api-http-addr", "127.0.0.1:0", "--api-grpc-addr", "127.0.0.1:0",
         "--metrics-port", "0", "--api-size", "1000", *storeFlags, *extraFlags,
         *args.server_flags],
        env=env, cwd=os.path.abspath(args.src) if args.src else ROOT,
    )
    metricsHost, metricsPort = server.address("metrics")
    return server, idleWaiter(f"http://{metricsHost}:{metricsPort}/metrics")


def jwtTable(off, on, grpcOff, grpcOn, loopOff, loopOn):
    """
    JWT on against off: each workload's req/s, p99 and CPU per request of
    the server with JWT authentication, over the same of the server
    without, run side by side.
    """
    rows = [
        "| workload | off req/s | on req/s | req/s on/off | off p99 ms | on p99 ms "
        "| p99 on/off | off CPU us/req | on CPU us/req | CPU on/off | on - off CPU us/req "
        "| errors off, on |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def us(value):
        return "-" if value is None else f"{value:.0f}"

    def errors(summary):
        return sum(summary["errors"].values())

    def row(name, a, b):
        cpuA, cpuB = a["cpu_us_per_request"], b["cpu_us_per_request"]
        rows.append(
            f"| {name} | {rate(a):.0f} | {rate(b):.0f} | {rate(b) / rate(a):.2f} "
            f"| {a['p99_us'] / 1000:.1f} | {b['p99_us'] / 1000:.1f} "
            f"| {b['p99_us'] / max(1, a['p99_us']):.2f} | {us(cpuA)} | {us(cpuB)} "
            f"| {ratio(cpuB, cpuA)} | {us(None if cpuA is None or cpuB is None else cpuB - cpuA)} "
            f"| {errors(a)}, {errors(b)} |"
        )

    for name in WORKLOADS:
        row(name, off[name], on[name])
    if grpcOff is not None and grpcOn is not None:
        row("grpc create", grpcOff, grpcOn)
    if loopOff is not None and loopOn is not None:
        def perTask(loop):
            return None if not loop["tasks"] else loop["server_cpu_s"] * 1e6 / loop["tasks"]

        a, b = perTask(loopOff), perTask(loopOn)
        rows.append(
            f"| task loop (tasks) | {loopOff['tasks_per_s']:.0f} | {loopOn['tasks_per_s']:.0f} "
            f"| {ratio(loopOn['tasks_per_s'], loopOff['tasks_per_s'])} "
            f"| {loopOff['kinds']['task']['p99_us'] / 1000:.1f} "
            f"| {loopOn['kinds']['task']['p99_us'] / 1000:.1f} "
            f"| {ratio(loopOn['kinds']['task']['p99_us'], loopOff['kinds']['task']['p99_us'])} "
            f"| {us(a)} | {us(b)} | {ratio(b, a)} "
            f"| {us(None if a is None or b is None else b - a)} "
            f"| {loopOff['errors']}, {loopOn['errors']} |"
        )
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10, help="seconds per workload")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--no-grpc", action="store_true", help="skip gRPC creates")
    parser.add_argument("--no-taskloop", action="store_true", help="skip the 2026 task loop")
    parser.add_argument("--in-flight", type=int, default=64,
                        help="tasks the task loop keeps going at once")
    parser.add_argument("--smoke", action="store_true",
                        help="4 connections, 1 s per workload (3 s of creates), 4 tasks "
                        "in flight: a check that it runs")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--src", help="run the server from this checkout (to compare "
                        "two builds in one session; `python -m` puts its directory "
                        "first on sys.path)")
    parser.add_argument("--baseline", choices=["stock", "shared", "shared-klein"],
                        default="stock",
                        help="the baseline (bench/baseline.py --variant): stock, a tuned "
                        "stock Klein app (default); shared, the server's APISite and "
                        "AppResource (the baseline before round 2); shared-klein, APISite "
                        "and Klein's resource")
    parser.add_argument("--klein-baseline", action="store_true",
                        help="the same as --baseline shared-klein (the old flag)")
    parser.add_argument("--jwt", action="store_true",
                        help="the server requires a JWT (--api-auth-jwt-public-key) and every "
                        "load sends an admin token")
    parser.add_argument("--compare-jwt", action="store_true",
                        help="run the server with JWT off and on side by side, each workload "
                        "against both in turn, and report on/off ratios")
    parser.add_argument("--jwt-key-type", choices=sorted(JWT_ALGORITHMS), default="ed25519",
                        help="the key type of --jwt and --compare-jwt (ed25519: EdDSA; ec: "
                        "ES256 on P-256; rsa: RS256, 3072 bits)")
    parser.add_argument("--jwt-fresh", action="store_true",
                        help="with --jwt or --compare-jwt: each wrk request sends a token the "
                        "server has not verified lately (the cost of a signature check per "
                        "request; the task loop and gRPC still send one token)")
    parser.add_argument("server_flags", nargs="*", help="extra twist resonate flags (after --)")
    args = parser.parse_args(argv)
    if args.jwt_fresh and not (args.jwt or args.compare_jwt):
        parser.error("--jwt-fresh needs --jwt or --compare-jwt")
    if args.klein_baseline:
        args.baseline = "shared-klein"
    if args.smoke:
        args.connections, args.duration, args.in_flight = 4, 1, 4
        args.threads = min(args.threads, args.connections)
    if shutil.which("wrk") is None:
        raise SystemExit("error: wrk is not installed (Debian: apt-get install wrk)")
    loadAtStart = os.getloadavg()

    scratch = tempfile.mkdtemp(prefix="resonate-bench-")
    token = publicKey = None
    if args.jwt or args.compare_jwt:
        publicKey, token, tokensPrefix = makeJWT(
            scratch, args.jwt_key_type, args.threads if args.jwt_fresh else 0)
        WRK_ENV.update({"BENCH_TOKENS": tokensPrefix} if tokensPrefix
                       else {"BENCH_TOKEN": token})
    jwtFlags = [] if publicKey is None else ["--api-auth-jwt-public-key", publicKey]

    baselineServer = Server([sys.executable, os.path.join(HERE, "baseline.py"),
                             "--variant", args.baseline])
    host, port = baselineServer.address("http")
    try:
        baseline = runWorkloads(f"http://{host}:{port}", args, baselineServer.process.pid)
    finally:
        baselineServer.stop()

    def storeFlags(name):
        if args.store == "postgres":
            dsn = os.environ.get(
                "RESONATE_BENCH_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=test"
            )
            return postgresFlags(dsn, f"resonate_{name}")
        return ["--aio-store", "sqlite",
                "--aio-store-sqlite-path", os.path.join(scratch, f"{name}.db")]

    # One server, or with --compare-jwt two: JWT off (the one the tables
    # against the baseline are of), then on.
    if args.compare_jwt:
        sides = [("bench", []), ("bench_jwt", jwtFlags)]
    else:
        sides = [("bench", jwtFlags)]
    servers = []
    grpcResults, loopResults = [None] * len(sides), [None] * len(sides)
    try:
        for name, flags in sides:
            servers.append(startServer(args, storeFlags(name), flags))
        targets = []
        for server, settle in servers:
            host, port = server.address("http")
            targets.append((f"http://{host}:{port}", server.process.pid, settle))
        allResults = runWorkloadsOn(targets, args)
        sideTokens = [token if flags else None for _, flags in sides]
        if not args.no_grpc:
            for index, (server, settle) in enumerate(servers):
                settle()
                grpcHost, grpcPort = server.address("grpc")
                grpcResults[index] = runGRPC(f"{grpcHost}:{grpcPort}", args,
                                             server.process.pid, sideTokens[index])
        if not args.no_taskloop:
            for index, (server, settle) in enumerate(servers):
                settle()
                loopResults[index] = runTaskLoop(targets[index][0], args,
                                                 server.process.pid, sideTokens[index])
        rss = servers[0][0].rssPeakMB()
    finally:
        for server, _ in servers:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    results, grpcResult, loopResult = allResults[0], grpcResults[0], loopResults[0]
    server = servers[0][0]

    jwtMode = "-"
    if args.jwt or args.compare_jwt:
        jwtMode = (f"{'off and on, side by side' if args.compare_jwt else 'on'} "
                   f"({JWT_ALGORITHMS[args.jwt_key_type]}"
                   f"{', a fresh token per wrk request' if args.jwt_fresh else ''})")
    print(f"store: {args.store}, connections: {args.connections}, "
          f"{args.duration} s per workload, wrk threads: {args.threads}, JWT: {jwtMode}, "
          f"baseline: {args.baseline}, server flags: {' '.join(args.server_flags) or '-'}, "
          f"server peak RSS (summed over its processes): {rss:.0f} MB, cores: {os.cpu_count()}, "
          f"load average at start: {loadAtStart[0]:.2f}")
    print()
    print("Throughput:")
    print()
    print(table(baseline, results, grpcResult))
    print()
    print("CPU time per request (user+system of each process tree, from /proc):")
    print()
    print(cpuTable(baseline, results, grpcResult))
    starved = starvedPhases(baseline)
    if starved:
        print()
        print(f"Warning: the baseline kept less than {STARVED} of a core busy in "
              f"{', '.join(starved)}: something else (other processes, the client) held it "
              "back, so its req/s (and every ratio to it, the task loop's too) flatter the "
              "server there; the CPU view does not depend on it.")
    if loopResult is not None:
        print()
        print("2026 task loop (create with a target, execute over SSE, acquire, fulfill):")
        print()
        print(taskLoopTables(baseline, loopResult))
    if args.compare_jwt:
        print()
        print("JWT authentication, on against off (two servers side by side, the same "
              "requests):")
        print()
        print(jwtTable(allResults[0], allResults[1], grpcResults[0], grpcResults[1],
                       loopResults[0], loopResults[1]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({
                "jwt": None if not (args.jwt or args.compare_jwt) else {
                    "mode": "compare" if args.compare_jwt else "on",
                    "keyType": args.jwt_key_type, "fresh": args.jwt_fresh,
                    "on": None if not args.compare_jwt else {
                        "server": allResults[1], "grpc": grpcResults[1],
                        "taskloop": loopResults[1],
                    },
                    "ratio": None if not args.compare_jwt else {
                        name: rate(allResults[1][name]) / rate(allResults[0][name])
                        for name in WORKLOADS
                    },
                    "cpuRatio": None if not args.compare_jwt else {
                        name: (allResults[1][name]["cpu_us_per_request"]
                               / allResults[0][name]["cpu_us_per_request"])
                        if allResults[1][name]["cpu_us_per_request"]
                        and allResults[0][name]["cpu_us_per_request"] else None
                        for name in WORKLOADS
                    },
                },
                "baseline": baseline, "server": results, "grpc": grpcResult,
                "taskloop": loopResult, "rssPeakMB": rss, "store": args.store,
                "baselineVariant": args.baseline, "threads": args.threads,
                "connections": args.connections, "duration": args.duration,
                "serverFlags": args.server_flags, "loadAtStart": loadAtStart,
                "baselineStarved": starved,
                "ratio": {name: rate(results[name]) / rate(baseline[name])
                          for name in WORKLOADS},
                "cpuRatio": {
                    name: (results[name]["cpu_us_per_request"]
                           / baseline[name]["cpu_us_per_request"])
                    if results[name]["cpu_us_per_request"]
                    and baseline[name]["cpu_us_per_request"] else None
                    for name in WORKLOADS
                },
            }, f, indent=2)
    failed = []
    for index, (name, _) in enumerate(sides):
        side = "" if len(sides) == 1 else f" ({name})"
        failed += [workload + side for workload in WORKLOADS
                   if sum(allResults[index][workload]["errors"].values())]
        loop = loopResults[index]
        if loop is not None and (loop["errors"] or not loop["tasks"]):
            failed.append("taskloop" + side)
            print("\n".join(loop["first_errors"]), file=sys.stderr)
        if grpcResults[index] is not None and sum(grpcResults[index]["errors"].values()):
            failed.append("grpc create" + side)
    if failed:
        for server, _ in servers:
            warnings = [line for line in server.lines if "warn" in line or "error" in line]
            print("".join(warnings[-10:]), file=sys.stderr, end="")
        print(f"errors in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
