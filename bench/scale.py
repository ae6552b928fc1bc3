"""
Scale: does the server stay fast with a million promises stored?

    python bench/scale.py                          # SQLite, 1,000,000 promises
    python bench/scale.py --store postgres         # PostgreSQL (RESONATE_BENCH_POSTGRES
                                                   #   or the local one), scratch database
    python bench/scale.py --quick                  # 2,000 promises, 1 s runs: does it work?
    python bench/scale.py --check                  # exit 1 if a target is missed

Each phase runs a real C{twist resonate} child (bench/run.py's Server) on a
fresh database, driven by wrk over keep-alive connections on 127.0.0.1:

 1. small: 1,000 promises created through the HTTP API; get-by-id and
    id-prefix search (bench/wrk/get.lua, search.lua; 64 connections).
 2. large: with the server stopped, the database is loaded up to
    C{--promises} rows straight into the store's own schema (a mix of
    pending, resolved, rejected and timed-out promises, each row built by
    the store's own model-to-row mapping, so exactly what the server would
    write; a server-written row and its loaded twin are compared first);
    the server restarts and get and search run again, then get and create
    over C{--connections} (1,000) concurrent keep-alive connections, both
    as fast as wrk can and paced (each connection one request every 2 s on
    average); then the sweep phase's paced load with no backlog.
 3. sweep: C{--overdue} (100,000) pending promises whose timeout has
    passed are loaded; the server restarts and its background timeout sweep
    works through them while wrk reads and creates at a modest, paced rate
    (16 + 4 connections, one request each per 40 ms on average,
    bench/wrk/paced.lua); the overdue count is polled in the database until
    it reaches 0.
 4. search backlog: as many overdue promises again, a server whose sweep
    runs only at startup, and one id-prefix search (searches used to time
    out every overdue promise before answering; now they write nothing, so
    "timed out by it" should be 0), under the same paced load.

The ids the workloads touch are the 1,000 oldest, so a search that walks
the table in sort order instead of using the id index has to pass every
row loaded after them.  The query plan of the store's own search
statement is shown for the large database.  The server's resident set size
(/proc/PID/status VmRSS) is sampled throughout.  Targets (issue #6, item 4):
get and search at the large size within 1.5x of the small (req/s ratio >=
0.67, p99 ratio <= 1.5), p99 under 50 ms during the sweep, RSS under 250
MB, no errors over 1,000 connections.

This machine is shared and noisy: only ratios between figures taken in the
same run mean anything.  Extra C{twist resonate} flags go after C{--}.
Needs wrk (Debian: apt-get install wrk).
"""

import argparse
import http.client
import io
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from run import Server, postgresFlags, rate, wrk  # noqa: E402

from resonate.model.promise import (  # noqa: E402
    Promise,
    PromiseQuery,
    State,
    Value,
    timedOut,
)
from resonate.store.sqlrows import WRITTEN_COLUMNS, rowFromPromise  # noqa: E402

#: The id prefix of the promises the workloads read (get.lua and
#: search.lua with one wrk thread: C{s-1-2} ... C{s-1-1001}).
PREFIX = "s"
SMALL = 1000
FIRST = 2
#: What create.lua sends, so the first rows are what a workload writes.
PARAM = Value({"k": "v"}, b"hello world")
TAGS = {"bench": "1"}
FAR = 4102444800000
SCRATCH_DATABASE = "resonate_scale"


def nowMs():
    return int(time.time() * 1000)


class RSSSampler:
    """
    Sample a process's VmRSS every C{interval} seconds in a thread, keeping
    the peak.
    """

    def __init__(self, pid, interval=0.05):
        self.pid = pid
        self.peakKB = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _read(self, field):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith(field):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def _run(self, interval):
        while not self._stop.wait(interval):
            kb = self._read("VmRSS:")
            if kb is None:
                return
            self.peakKB = max(self.peakKB, kb)

    def stop(self):
        """
        Stop sampling; the peak includes the kernel's own high-water mark.

        @return: the peak in MB.
        """
        hwm = self._read("VmHWM:")
        self._stop.set()
        self._thread.join()
        if hwm is not None:
            self.peakKB = max(self.peakKB, hwm)
        return self.peakKB / 1024


def startServer(storeFlags, extra):
    """
    A C{twist resonate} child on 127.0.0.1 with its RSS sampled.
    """
    server = Server(
        [sys.executable, "-m", "twisted", "--log-format=text", "resonate",
         "--api-http-addr", "127.0.0.1:0", "--api-grpc-addr", "127.0.0.1:0",
         "--metrics-port", "0", *storeFlags, *extra]
    )
    server.started = time.monotonic()
    server.sampler = RSSSampler(server.process.pid)
    host, port = server.address("http")
    server.ready = time.monotonic()
    server.url = f"http://{host}:{port}"
    server.hostPort = (host, int(port))
    return server


def stopServer(server):
    """
    Stop the server; its peak RSS in MB.
    """
    peak = server.sampler.stop()
    server.stop()
    return peak


def createSmall(server, count):
    """
    Create C{count} promises through the HTTP API, as create.lua would
    (ids C{s-1-2} ...), over one keep-alive connection.
    """
    connection = http.client.HTTPConnection(*server.hostPort, timeout=30)
    for n in range(FIRST, FIRST + count):
        body = json.dumps({
            "id": f"{PREFIX}-1-{n}", "timeout": FAR,
            "param": {"headers": {"k": "v"}, "data": "aGVsbG8gd29ybGQ="},
            "tags": TAGS,
        })
        connection.request("POST", "/promises", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 201:
            raise SystemExit(f"create {n} answered {response.status}")
    connection.close()


def bulkPromises(count, now, start=0):
    """
    C{count} promises as a server would have stored them over time: half
    pending (far timeout), a quarter resolved, an eighth rejected, an eighth
    timed out; created one millisecond apart, oldest first.
    """
    base = now - count - 1000
    for i in range(start, start + count):
        created = base + i
        pending = Promise(f"bulk-{i:08d}", State.PENDING, FAR, created, PARAM, tags=TAGS)
        kind = i % 8
        if kind < 4:
            yield pending
        elif kind < 6:
            yield Promise(pending.id, State.RESOLVED, FAR, created, PARAM,
                          Value({}, b"done"), completedOn=created + 1, tags=TAGS)
        elif kind == 6:
            yield Promise(pending.id, State.REJECTED, FAR, created, PARAM,
                          Value({"e": "1"}, b"failed"), completedOn=created + 1, tags=TAGS)
        else:
            yield timedOut(Promise(pending.id, State.PENDING, created + 5, created, PARAM,
                                   tags=TAGS))


def overduePromises(count, now, prefix="overdue"):
    """
    C{count} pending promises whose timeouts passed in the last minute.
    """
    base = now - 120000
    for i in range(count):
        yield Promise(f"{prefix}-{i:07d}", State.PENDING, now - 60000 + i % 60000,
                      base + i % 60000, PARAM, tags=TAGS)


class SQLiteTarget:
    """
    A fresh SQLite file: flags, bulk load, counts and query plans.
    """

    name = "sqlite"

    def __init__(self, scratch):
        self.path = os.path.join(scratch, "scale.db")
        self.flags = ["--aio-store", "sqlite", "--aio-store-sqlite-path", self.path]

    def _connect(self):
        # As the store's own connections: case-sensitive LIKE.
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA case_sensitive_like = ON")
        return connection

    def load(self, promises):
        """
        Insert C{promises} in one transaction (the server is stopped), with
        the store's own row mapping.
        """
        from resonate.store.sqlite.rows import _rowForSQLite

        columns = ", ".join(WRITTEN_COLUMNS)
        marks = ", ".join("?" * len(WRITTEN_COLUMNS))
        connection = self._connect()
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("BEGIN")
        connection.executemany(
            f"INSERT INTO promises ({columns}) VALUES ({marks})",
            (_rowForSQLite(p) for p in promises),
        )
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()

    def row(self, promiseId):
        connection = self._connect()
        columns = ", ".join(WRITTEN_COLUMNS)
        row = connection.execute(
            f"SELECT {columns} FROM promises WHERE id = ?", (promiseId,)
        ).fetchone()
        connection.close()
        return row

    def readPromise(self, promiseId):
        from resonate.store.sqlite.rows import SQLiteRows

        connection = self._connect()
        try:
            return SQLiteRows(connection).readPromise(promiseId)
        finally:
            connection.close()

    def count(self):
        connection = self._connect()
        (n,) = connection.execute("SELECT count(*) FROM promises").fetchone()
        connection.close()
        return n

    def overdue(self):
        """
        How many pending promises are past their timeout (the sweep's own
        partial index answers this).
        """
        if not hasattr(self, "_poll"):
            self._poll = self._connect()
        (n,) = self._poll.execute(
            "SELECT count(*) FROM promises WHERE state = 'PENDING' AND timeout <= ?",
            (nowMs(),),
        ).fetchone()
        return n

    def plan(self, pattern):
        """
        The store's own search statement for C{pattern} (captured as it
        runs), its EXPLAIN QUERY PLAN and how long it takes.
        """
        from resonate.store.sqlite.rows import SQLiteRows

        connection = self._connect()
        statements = []
        connection.set_trace_callback(statements.append)
        query = PromiseQuery(id=pattern, limit=10)
        started = time.perf_counter()
        SQLiteRows(connection).searchPromises(query, nowMs())
        elapsed = time.perf_counter() - started
        connection.set_trace_callback(None)
        statement = statements[-1]
        plan = [row[-1] for row in connection.execute("EXPLAIN QUERY PLAN " + statement)]
        connection.close()
        return statement, plan, elapsed

    def close(self):
        if hasattr(self, "_poll"):
            self._poll.close()


def _copyText(value):
    """
    One value in PostgreSQL's COPY text format.
    """
    if value is None:
        return "\\N"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    if isinstance(value, int):
        return str(value)
    return (value.replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))


class PostgresTarget:
    """
    A scratch PostgreSQL database: flags, bulk load (COPY), counts and
    query plans.
    """

    name = "postgres"

    def __init__(self, dsn):
        params = dict(part.split("=", 1) for part in dsn.split())
        self.flags = postgresFlags(dsn, SCRATCH_DATABASE)
        params["dbname"] = SCRATCH_DATABASE
        self.dsn = " ".join(f"{k}={v}" for k, v in params.items())

    def _connect(self):
        import psycopg2

        connection = psycopg2.connect(self.dsn)
        connection.autocommit = True
        return connection

    def load(self, promises, chunk=100000):
        """
        COPY C{promises} in (the server is stopped), with the store's own
        row mapping and JSON for the JSONB columns, then ANALYZE as
        autovacuum would after such a load.
        """
        columns = ", ".join(WRITTEN_COLUMNS)
        connection = self._connect()
        with connection.cursor() as cursor:
            buffer = io.StringIO()
            lines = 0

            def flush():
                buffer.seek(0)
                cursor.copy_expert(f"COPY promises ({columns}) FROM STDIN", buffer)
                buffer.seek(0)
                buffer.truncate()

            for promise in promises:
                row = rowFromPromise(promise, lambda m: json.dumps(m))
                buffer.write("\t".join(_copyText(v) for v in row) + "\n")
                lines += 1
                if lines % chunk == 0:
                    flush()
            flush()
            cursor.execute("ANALYZE promises")
        connection.close()

    def row(self, promiseId):
        connection = self._connect()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(WRITTEN_COLUMNS)} FROM promises WHERE id = %s",
                (promiseId,),
            )
            row = cursor.fetchone()
        connection.close()
        return tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)

    def readPromise(self, promiseId):
        from resonate.store.postgres.rows import _promiseFromPostgres
        from resonate.store.sqlrows import COLUMNS

        connection = self._connect()
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {COLUMNS} FROM promises WHERE id = %s", (promiseId,))
            row = cursor.fetchone()
        connection.close()
        return _promiseFromPostgres(row)[1]

    def count(self):
        connection = self._connect()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM promises")
            (n,) = cursor.fetchone()
        connection.close()
        return n

    def overdue(self):
        if not hasattr(self, "_poll"):
            self._poll = self._connect()
        with self._poll.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM promises WHERE state = 'PENDING' AND timeout <= %s",
                (nowMs(),),
            )
            (n,) = cursor.fetchone()
        return n

    def plan(self, pattern):
        from resonate.store.postgres.rows import _searchStatement

        statement, parameters = _searchStatement(
            PromiseQuery(id=pattern, limit=10), nowMs()
        )
        connection = self._connect()
        with connection.cursor() as cursor:
            statement = cursor.mogrify(statement, parameters).decode()
            started = time.perf_counter()
            cursor.execute(statement)
            cursor.fetchall()
            elapsed = time.perf_counter() - started
            cursor.execute("EXPLAIN " + statement)
            plan = [line for (line,) in cursor.fetchall()]
        connection.close()
        return statement, plan, elapsed

    def close(self):
        if hasattr(self, "_poll"):
            self._poll.close()


def checkTwin(target, promiseId):
    """
    Load a twin of a promise the server wrote and compare the two rows
    column by column: the loader writes exactly what the server does.
    """
    stored = target.readPromise(promiseId)
    twin = Promise(f"twin-{promiseId}", State.PENDING, FAR, stored.createdOn, PARAM, tags=TAGS)
    target.load([twin])
    mine, theirs = target.row(twin.id), target.row(promiseId)
    if mine[:-1] != theirs[:-1]:
        raise SystemExit(f"a loaded row differs from the server's:\n{mine}\n{theirs}")


def settle(args):
    """
    Let the requests wrk abandoned when it stopped (and closed its
    connections) finish before the next run: they may still wait for the
    store, and the next run would find its queue full.
    """
    time.sleep(args.settle)


def readPhase(server, args, label):
    """
    get then search over the first 1,000 ids, after a short warm-up.
    """
    results = {}
    for workload in ("get", "search"):
        if not args.quick:
            wrk(server.url, workload, PREFIX, SMALL, args.read_connections, 1, 1)
            settle(args)
        before = statuses(server)
        results[workload] = wrk(
            server.url, workload, PREFIX, SMALL, args.read_connections, args.duration, 1
        )
        settle(args)
        results[workload]["failedStatuses"] = failedStatuses(before, statuses(server))
        print(f"  {label} {workload}: {summarize(results[workload])} "
              f"{results[workload]['failedStatuses']}", flush=True)
    return results


def manyConnections(server, args):
    """
    get and create over C{args.connections} connections: each as fast as
    wrk can (a closed loop: every connection always has a request in
    flight), then paced (each connection one request per
    C{args.many_pace} ms: many idle keep-alive connections).
    """
    results = {}
    for workload in ("get", "create"):
        for style in ("closed", "paced"):
            # gets read the first ids; each create run writes its own.
            prefix = PREFIX if workload == "get" else f"big{style}"
            before = statuses(server)
            if style == "closed":
                summary = wrk(server.url, workload, prefix, SMALL, args.connections,
                              args.duration, 1)
            else:
                load = PacedLoad(server.url, workload, prefix, SMALL, args.connections,
                                 args.many_pace)
                # Every connection sends at least twice.
                time.sleep(max(args.duration, 2 * args.many_pace / 1000 + 0.5))
                summary = load.stop()
            settle(args)
            summary["failedStatuses"] = failedStatuses(before, statuses(server))
            results[f"{workload} {style}"] = summary
            print(f"  {args.connections} connections {workload} {style}: "
                  f"{summarize(summary)} {summary['failedStatuses']}", flush=True)
    return results


class PacedLoad:
    """
    wrk running a workload at a steady rate (bench/wrk/paced.lua) until
    stopped: latency under a modest load, not at saturation.
    """

    def __init__(self, url, workload, prefix, pool, connections, pace):
        env = dict(os.environ, BENCH_WRK_DIR=os.path.join(HERE, "wrk"),
                   BENCH_PACED_WORKLOAD=workload)
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            ["wrk", "-t1", f"-c{connections}", "-d600s", "--timeout", "10s",
             "-s", os.path.join(HERE, "wrk", "paced.lua"), url, "--", prefix, str(pool),
             str(pace)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )

    def stop(self):
        """
        Stop wrk (SIGINT: it reports what it has); its summary.
        """
        # wrk stopped within its first second reports nothing.
        time.sleep(max(0, 1.5 - (time.monotonic() - self.started)))
        self.process.send_signal(signal.SIGINT)
        out, err = self.process.communicate(timeout=30)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            raise SystemExit(f"wrk printed no summary:\n{out}\n{err}")
        return json.loads(lines[-1])


def pacedLoads(server, args, createPrefix):
    """
    The modest load of the sweep phase: paced reads and paced creates.
    """
    return {
        "get": PacedLoad(server.url, "get", PREFIX, SMALL, args.sweep_connections,
                         args.sweep_pace),
        "create": PacedLoad(server.url, "create", createPrefix, SMALL,
                            args.sweep_create_connections, args.sweep_pace),
    }


def pacedBaseline(server, args):
    """
    The sweep phase's load for C{args.duration} seconds with no backlog.
    """
    loads = pacedLoads(server, args, "pb")
    time.sleep(args.duration)
    return {name: load.stop() for name, load in loads.items()}


def sweepPhase(server, target, args, overdueCount):
    """
    Read and create at a modest rate while the timeout sweep works through
    the overdue backlog; stop once none is left.
    """
    loads = pacedLoads(server, args, "ps")
    deadline = time.monotonic() + args.sweep_timeout
    left = target.overdue()
    trace = [(time.monotonic() - server.started, left)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = target.overdue()
        trace.append((time.monotonic() - server.started, left))
    done = time.monotonic()
    results = {name: load.stop() for name, load in loads.items()}
    return {
        "wrk": results,
        "left": left,
        "sweepSeconds": done - server.started,
        "readySeconds": server.ready - server.started,
        "trace": trace[:: max(1, len(trace) // 20)],
        "overdue": overdueCount,
    }


def searchBacklogPhase(target, args, serverFlags):
    """
    One id-prefix search while C{args.overdue} overdue promises wait for a
    sweep that, this time, runs only once at startup (timeoutInterval 1h):
    a search times out every overdue promise first.  Paced reads and
    creates run meanwhile.
    """
    target.load(overduePromises(args.overdue, nowMs(), "late"))
    server = startServer(target.flags, [*serverFlags, "--system-timeout-interval", "1h"])
    try:
        # Let the startup sweep (at most 10 batches) finish.
        previous, left = None, target.overdue()
        while left != previous:
            time.sleep(0.5)
            previous, left = left, target.overdue()
        loads = pacedLoads(server, args, "sb")
        time.sleep(1)
        connection = http.client.HTTPConnection(*server.hostPort, timeout=300)
        started = time.monotonic()
        connection.request("GET", f"/promises?id={PREFIX}-1-2*&limit=10")
        response = connection.getresponse()
        response.read()
        elapsed = time.monotonic() - started
        connection.close()
        after = target.overdue()
        time.sleep(1)
        results = {name: load.stop() for name, load in loads.items()}
        statusBy = statuses(server)
    finally:
        peak = stopServer(server)
    return {"overdueBefore": left, "overdueAfter": after, "seconds": elapsed,
            "status": response.status, "wrk": results, "rssPeakMB": peak,
            "statuses": {k: int(v) for k, v in statusBy.items()}}


def statuses(server):
    """
    The server's count of answered HTTP requests by 4-digit status, from
    its metrics page.
    """
    host, port = server.address("metrics")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    counts = {}
    for line in text.splitlines():
        if line.startswith("api_total_requests{") and 'type="http"' in line:
            status = line.split('status="', 1)[1].split('"', 1)[0]
            counts[status] = counts.get(status, 0) + float(line.rsplit(" ", 1)[1])
    return counts


def failedStatuses(before, after):
    """
    The non-2xx statuses answered between two L{statuses} readings.
    """
    return {
        status: int(after[status] - before.get(status, 0))
        for status in sorted(after)
        if not status.startswith("2") and after[status] > before.get(status, 0)
    }


def summarize(s):
    errors = sum(s["errors"].values())
    return (f"{rate(s):.0f} req/s, p50 {s['p50_us'] / 1000:.1f} ms, "
            f"p99 {s['p99_us'] / 1000:.1f} ms, max {s['max_us'] / 1000:.1f} ms, "
            f"errors {errors}")


def errorText(s):
    return ", ".join(f"{k} {v}" for k, v in s["errors"].items() if v) or "0"


def errorWithStatuses(s):
    """
    wrk's errors, and the failures the server counted (which include
    requests wrk abandoned when it stopped).
    """
    failed = ", ".join(f"{k}: {v}" for k, v in s.get("failedStatuses", {}).items())
    return errorText(s) + (f" (server counted {failed})" if failed else "")


def report(args, small, large, many, paced, sweep, backlog, rss, plans, promises):
    """
    The results as a markdown table, and which targets were missed.
    """
    missed = []
    rows = [
        "| measure | at 1,000 | at {:,} | ratio | target | met |".format(promises),
        "|---|---|---|---|---|---|",
    ]
    for workload in ("get", "search"):
        a, b = small[workload], large[workload]
        rateRatio = rate(b) / rate(a)
        p99Ratio = b["p99_us"] / max(1, a["p99_us"])
        ok = rateRatio >= 1 / 1.5
        rows.append(f"| {workload} req/s | {rate(a):.0f} | {rate(b):.0f} | {rateRatio:.2f} "
                    f"| >= 0.67 | {'yes' if ok else 'NO'} |")
        if not ok:
            missed.append(f"{workload} req/s ratio {rateRatio:.2f}")
        ok = p99Ratio <= 1.5
        rows.append(f"| {workload} p99 ms | {a['p99_us'] / 1000:.1f} | {b['p99_us'] / 1000:.1f} "
                    f"| {p99Ratio:.2f} | <= 1.5 | {'yes' if ok else 'NO'} |")
        if not ok:
            missed.append(f"{workload} p99 ratio {p99Ratio:.2f}")
        errors = sum(a["errors"].values()) + sum(b["errors"].values())
        rows.append(f"| {workload} errors | {errorWithStatuses(a)} | {errorWithStatuses(b)} | - "
                    f"| 0 | {'NO' if errors else 'yes'} |")
        if errors:
            missed.append(f"{workload}: {errors} errors")
    rows += ["", "| measure | result | target | met |", "|---|---|---|---|"]
    pace = (f"{args.sweep_connections} + {args.sweep_create_connections} connections, "
            f"one request each per {args.sweep_pace} ms")
    for workload in ("get", "create"):
        before, during = paced[workload], sweep["wrk"][workload]
        target = workload == "get"
        ok = during["p99_us"] < 50000 and not sum(during["errors"].values())
        rows.append(
            f"| {workload} p99 during the sweep of {sweep['overdue']:,} overdue ({pace}) "
            f"| {during['p99_us'] / 1000:.1f} ms (p50 {during['p50_us'] / 1000:.1f}, "
            f"max {during['max_us'] / 1000:.1f}, {rate(during):.0f} req/s, errors "
            f"{errorText(during)}); with no backlog {before['p99_us'] / 1000:.1f} ms "
            f"| {'< 50 ms' if target else '-'} | {('yes' if ok else 'NO') if target else '-'} |")
        if target and not ok:
            missed.append(f"get p99 during the sweep {during['p99_us'] / 1000:.1f} ms")
    ok = sweep["left"] == 0
    rows.append(
        f"| sweep done after server start | {sweep['sweepSeconds']:.1f} s "
        f"(listening at {sweep['readySeconds']:.1f} s; {sweep['left']} left) "
        f"| all swept | {'yes' if ok else 'NO'} |")
    if not ok:
        missed.append(f"{sweep['left']} overdue left after {args.sweep_timeout:.0f} s")
    get, create = backlog["wrk"]["get"], backlog["wrk"]["create"]
    rows.append(
        f"| one id-prefix search with {backlog['overdueBefore']:,} overdue left "
        f"(sweep every 1h) | {backlog['seconds'] * 1000:.0f} ms (status {backlog['status']}), "
        f"{backlog['overdueBefore'] - backlog['overdueAfter']:,} timed out by it; meanwhile "
        f"get p99 {get['p99_us'] / 1000:.1f} ms, create p99 {create['p99_us'] / 1000:.1f} ms, "
        f"create errors {errorText(create)} | - | - |")
    for workload, s in many.items():
        ok = not sum(s["errors"].values())
        rows.append(
            f"| {workload}, {args.connections} connections | {rate(s):.0f} req/s, "
            f"p99 {s['p99_us'] / 1000:.1f} ms, errors {errorWithStatuses(s)} | 0 errors "
            f"| {'yes' if ok else 'NO'} |")
        if not ok:
            missed.append(f"{workload} over {args.connections} connections: {errorText(s)}")
    peak = max(rss.values())
    ok = peak < 250
    rows.append(
        f"| peak RSS | {peak:.0f} MB ("
        + ", ".join(f"{k} {v:.0f}" for k, v in rss.items())
        + f") | < 250 MB | {'yes' if ok else 'NO'} |")
    if not ok:
        missed.append(f"peak RSS {peak:.0f} MB")
    for pattern, (statement, lines, elapsed) in plans.items():
        rows += ["", f"Search plan for `{pattern}` at {promises:,} rows ({elapsed * 1000:.1f} ms "
                 "for one search outside the server):", "", "    " + statement, ""]
        rows += ["    " + line for line in lines]
    return "\n".join(rows), missed


#: Background loops that may each have a store transaction queued.
BACKGROUND_LOOPS = 8


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--promises", type=int, default=1000000,
                        help="promises stored for the large measurements")
    parser.add_argument("--overdue", type=int, default=100000,
                        help="overdue promises for the sweep phase")
    parser.add_argument("--duration", type=int, default=10, help="seconds per workload")
    parser.add_argument("--read-connections", type=int, default=64)
    parser.add_argument("--connections", type=int, default=1000,
                        help="connections of the many-connections phase")
    parser.add_argument("--many-pace", type=int, default=2000,
                        help="milliseconds between requests of each of the many paced "
                        "connections")
    parser.add_argument("--sweep-connections", type=int, default=16,
                        help="paced get connections during the sweep")
    parser.add_argument("--sweep-create-connections", type=int, default=4,
                        help="paced create connections during the sweep")
    parser.add_argument("--sweep-pace", type=int, default=40,
                        help="milliseconds each paced connection waits between requests")
    parser.add_argument("--sweep-timeout", type=float, default=900,
                        help="seconds to wait for the sweep to finish")
    parser.add_argument("--api-size", type=int, default=None,
                        help="server api.size (default: --connections, so that "
                        "every connection may have a request admitted)")
    parser.add_argument("--store-size", type=int, default=None,
                        help="server aio.subsystems.store.subsystem.size (default: "
                        "--connections plus room for the background loops' own "
                        "transactions, so that every admitted request may wait for "
                        "the store instead of being refused with 5032)")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds between wrk runs (0 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="2,000 promises, 1,000 overdue, 100 connections, 1 s runs")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("server_flags", nargs="*", help="extra twist resonate flags (after --)")
    args = parser.parse_args(argv)
    if args.quick:
        args.promises, args.overdue, args.duration = 2 * SMALL, SMALL, 1
        args.connections, args.sweep_timeout, args.many_pace = 100, 60, 200
        args.settle = 0
    if args.promises < SMALL:
        parser.error(f"--promises must be at least {SMALL}")
    if shutil.which("wrk") is None:
        raise SystemExit("error: wrk is not installed (Debian: apt-get install wrk)")
    # wrk (a child) needs a descriptor per connection.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < args.connections + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    serverFlags = [
        "--api-size", str(args.api_size or args.connections),
        # The sweeps, the scheduler and the dispatcher queue for the store
        # too: one transaction each at most.
        "--aio-store-size", str(args.store_size or args.connections + BACKGROUND_LOOPS),
        *args.server_flags,
    ]

    scratch = tempfile.mkdtemp(prefix="resonate-scale-")
    if args.store == "postgres":
        target = PostgresTarget(os.environ.get(
            "RESONATE_BENCH_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=test"))
    else:
        target = SQLiteTarget(scratch)
    rss = {}
    try:
        print(f"[small] {SMALL:,} promises through the API", flush=True)
        server = startServer(target.flags, serverFlags)
        try:
            createSmall(server, SMALL)
            small = readPhase(server, args, "small")
        finally:
            rss["small"] = stopServer(server)
        checkTwin(target, f"{PREFIX}-1-{FIRST}")

        bulk = args.promises - SMALL - 1
        started = time.monotonic()
        target.load(bulkPromises(bulk, nowMs()))
        stored = target.count()
        print(f"[large] loaded {bulk:,} in {time.monotonic() - started:.1f} s: "
              f"{stored:,} stored", flush=True)
        # The workload's narrow prefix, and one that matches most rows.
        plans = {pattern: target.plan(pattern) for pattern in (f"{PREFIX}-1-2*", "bulk-*")}
        server = startServer(target.flags, serverFlags)
        try:
            large = readPhase(server, args, "large")
            many = manyConnections(server, args)
            paced = pacedBaseline(server, args)
            print(f"  paced, no backlog: {summarize(paced['get'])}", flush=True)
        finally:
            rss["large"] = stopServer(server)

        started = time.monotonic()
        target.load(overduePromises(args.overdue, nowMs()))
        print(f"[sweep] loaded {args.overdue:,} overdue in {time.monotonic() - started:.1f} s",
              flush=True)
        server = startServer(target.flags, serverFlags)
        try:
            sweep = sweepPhase(server, target, args, args.overdue)
        finally:
            rss["sweep"] = stopServer(server)
        print(f"  sweep: {summarize(sweep['wrk']['get'])}; "
              f"done at {sweep['sweepSeconds']:.1f} s",
              flush=True)
        print(f"[search backlog] {args.overdue:,} more overdue, one search", flush=True)
        backlog = searchBacklogPhase(target, args, serverFlags)
        rss["search backlog"] = backlog["rssPeakMB"]
        print(f"  search: {backlog['seconds']:.2f} s, overdue {backlog['overdueBefore']} -> "
              f"{backlog['overdueAfter']}; create: {summarize(backlog['wrk']['create'])}",
              flush=True)
    finally:
        target.close()
        shutil.rmtree(scratch, ignore_errors=True)

    table, missed = report(args, small, large, many, paced, sweep, backlog, rss, plans,
                           stored)
    print()
    print(f"store: {args.store}, {stored:,} promises, {args.duration} s per workload, "
          f"{args.read_connections} connections for get/search")
    print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"small": small, "large": large, "many": many, "paced": paced,
                       "sweep": sweep, "searchBacklog": backlog, "rssPeakMB": rss, "plans": plans, "store": args.store,
                       "promises": stored}, f, indent=2)
    if missed:
        print("missed: " + "; ".join(missed))
        return 1 if args.check else 0
    print("every target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
