# -*- test-case-name: tests.processes.test_bench -*-
"""
A smoke run of the benchmark, so that it keeps working: a few hundred
requests per workload against the baseline and a real server, and the task
loop; and the bench's own parts (the baseline's variants, the process-tree
CPU reader, the metrics parser) checked on their own.  Nothing here looks
at a timing.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

from twisted.trial import unittest

from tests.support.processtools import ChildProcess, HTTPClient, runProcess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench")
WORKLOADS = ["create", "get", "complete", "search", "mixed", "create2026", "get2026"]


def loadBench(name):
    """
    The module C{bench/<name>.py} (bench/ is not a package: its scripts
    import each other by putting their folder on C{sys.path}).
    """
    if BENCH not in sys.path:
        sys.path.insert(0, BENCH)
    spec = importlib.util.spec_from_file_location(f"bench_{name}", os.path.join(BENCH, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def section(text, title):
    """
    The part of C{text} from the line starting with C{title} to the next
    such title (a line ending with ":").
    """
    rest = text.split(title, 1)[1]
    lines = rest.splitlines()[1:]
    for index, line in enumerate(lines):
        if line.endswith(":") and not line.startswith("|"):
            return "\n".join(lines[:index])
    return "\n".join(lines)


class BenchSmokeTests(unittest.TestCase):
    """
    C{bench/run.py --smoke} runs to its end and prints its tables.
    """

    if shutil.which("wrk") is None:
        skip = "wrk is not installed (Debian: apt-get install wrk)"

    async def test_smoke(self):
        """
        Every workload runs against both servers without an error; the
        throughput table names each with its ratio, the CPU table each with
        both processes' CPU time per request and their ratio, and the task
        loop reports tasks/s and every step; the JSON has the same figures.
        """
        path = self.mktemp()
        process = await runProcess(
            self,
            [sys.executable, os.path.join(BENCH, "run.py"), "--smoke", "--json", path],
            timeout=240,
        )
        self.assertEqual((process.exit.code, process.exit.signal), (0, None), process.output)
        out = process.stdout
        throughput = section(out, "Throughput:")
        cpu = section(out, "CPU time per request")
        loop = section(out, "2026 task loop")
        for workload in WORKLOADS + ["grpc create"]:
            self.assertRegex(throughput, rf"\| {workload} \| [^|]+ \| \d+ \| \d+\.\d\d \|")
        for workload in WORKLOADS:
            self.assertRegex(
                cpu, rf"\| {workload} \| \d+ \| \d+ \| \d+\.\d\d \| \d+\.\d\d \| \d+\.\d\d \|"
            )
        self.assertRegex(cpu, r"\| grpc create \| \(http create\) \d+ \| \d+ \| \d+\.\d\d \|")
        self.assertRegex(
            loop, r"\| 4 in flight \| [1-9]\d* \| \d+\.\d\d \(of \d+\) \| \d+\.\d\d \(of \d+\) "
            r"\| \d+ \| \d+ \| \d+\.\d\d \|"
        )
        for step in ["promise.create", "task.acquire", "task.fulfill"]:
            self.assertRegex(loop, rf"\| {step} \| [1-9]\d* \| [\d./]+ \| [\d./]+ \| \d+\.\d\d \| 0 \|")
        for step in ["execute", "task"]:
            self.assertRegex(loop, rf"\| {step} \| [1-9]\d* \| [\d./]+ \| - \| - \| 0 \|")
        self.assertRegex(
            loop, r"Targets \(#17\): tasks/s >= 0\.20 x baseline create req/s: \d+\.\d\d, "
            r"(not )?met; p99 of each request <= 3 x the baseline's \(create2026\): "
            r"worst \d+\.\d\d, (not )?met\."
        )

        with open(path) as f:
            results = json.load(f)
        self.assertEqual(results["baselineVariant"], "stock")
        self.assertEqual(results["threads"], 2)
        for workload in WORKLOADS:
            for side in ("baseline", "server"):
                summary = results[side][workload]
                self.assertGreater(summary["cpu_s"], 0, (side, workload))
                self.assertAlmostEqual(
                    summary["cpu_us_per_request"],
                    summary["cpu_s"] * 1e6 / summary["requests"],
                )
            self.assertGreater(results["cpuRatio"][workload], 0)
            self.assertGreater(results["ratio"][workload], 0)
        taskloop = results["taskloop"]
        self.assertGreater(taskloop["tasks"], 0)
        self.assertEqual(taskloop["errors"], 0)
        self.assertGreater(taskloop["server_cpu_s"], 0)
        for kind in ["promise.create", "execute", "task.acquire", "task.fulfill", "task"]:
            self.assertGreater(taskloop["kinds"][kind]["count"], 0, kind)
        self.assertGreater(results["grpc"]["cpu_us_per_request"], 0)

    async def test_smokeCompareJWT(self):
        """
        C{--compare-jwt} drives a server without JWT and one with it side
        by side, and every load sends the second a token it accepts (an
        error would fail the run): the JWT table names each workload, gRPC
        and the task loop with on/off ratios and no error on either side;
        the JSON has the ratios.  With C{--jwt-fresh}, each wrk request's
        token is a new one, and those verify too.
        """
        path = self.mktemp()
        process = await runProcess(
            self,
            [sys.executable, os.path.join(BENCH, "run.py"), "--smoke", "--compare-jwt",
             "--jwt-fresh", "--json", path],
            timeout=240,
        )
        self.assertEqual((process.exit.code, process.exit.signal), (0, None), process.output)
        self.assertIn("JWT: off and on, side by side (EdDSA, a fresh token per wrk request)",
                      process.stdout)
        table = section(process.stdout, "JWT authentication, on against off")
        for workload in WORKLOADS + ["grpc create", r"task loop \(tasks\)"]:
            self.assertRegex(
                table, rf"\| {workload} \| \d+ \| [1-9]\d* \| \d+\.\d\d \| [\d.]+ \| [\d.]+ "
                r"\| \d+\.\d\d \| \d+ \| \d+ \| \d+\.\d\d \| -?\d+ \| 0, 0 \|"
            )
        with open(path) as f:
            results = json.load(f)
        self.assertEqual(results["jwt"]["mode"], "compare")
        self.assertTrue(results["jwt"]["fresh"])
        for workload in WORKLOADS:
            self.assertGreater(results["jwt"]["ratio"][workload], 0)
            self.assertGreater(results["jwt"]["cpuRatio"][workload], 0)
            self.assertGreater(results["jwt"]["on"]["server"][workload]["requests"], 0)
        self.assertGreater(results["jwt"]["on"]["taskloop"]["tasks"], 0)


class BaselineTests(unittest.TestCase):
    """
    C{bench/baseline.py} answers the same whichever variant serves it, and
    its default is the stock Klein app, independent of the server's code.
    """

    async def answers(self, flags):
        child = ChildProcess(
            [sys.executable, os.path.join(BENCH, "baseline.py"), *flags]
        ).spawn()
        self.addCleanup(child.kill)
        match = await child.waitForOutput(r"starting http server addr=(\S+)", 30)
        client = HTTPClient("http://" + match.group(1))
        created = await client.create("b.1", 10, param={"data": "eA=="})
        read = await client.read("b.1")
        envelopes = []
        for kind, data in [
            ("promise.create", {"id": "n.1", "timeoutAt": 5, "param": {"data": "eA=="},
                                "tags": {"resonate:target": "poll://any@g"}}),
            ("promise.get", {"id": "n.1"}),
            ("task.acquire", {"id": "n.1", "version": 0, "pid": "p", "ttl": 1}),
        ]:
            response = await client.request(
                "POST", "/", {"kind": kind, "head": {"corrId": "c" + kind, "version": "2026-04-01"},
                      "data": data},
            )
            envelopes.append((response.code, response.body))
        return [(r.code, r.body) for r in (created, read)] + envelopes

    async def test_sameAnswers(self):
        """
        The stock Klein app (the default), the server's site with its
        C{AppResource}, and the server's site with Klein's resource give
        the same codes and bodies.
        """
        stock = await self.answers([])
        shared = await self.answers(["--variant", "shared"])
        sharedKlein = await self.answers(["--variant", "shared-klein"])
        self.assertEqual(stock, shared)
        self.assertEqual(stock, sharedKlein)
        self.assertEqual([code for code, _ in stock], [201, 200, 200, 200, 400])

    async def test_envelopes(self):
        """
        C{POST /} answers C{promise.create} with the promise it would
        create and C{promise.get} with a pending promise, in the server's
        envelope (corrId echoed, status in the head), and an unknown kind
        with a 400 envelope.
        """
        answers = await self.answers([])
        created, got, unknown = [body for _, body in answers[2:]]
        self.assertEqual(created["kind"], "promise.create")
        self.assertEqual(
            created["head"], {"corrId": "cpromise.create", "status": 200, "version": "2026-04-01"}
        )
        promise = created["data"]["promise"]
        self.assertEqual(
            {k: promise[k] for k in ("id", "state", "param", "value", "tags", "timeoutAt")},
            {"id": "n.1", "state": "pending", "param": {"data": "eA=="}, "value": {},
             "tags": {"resonate:target": "poll://any@g"}, "timeoutAt": 5},
        )
        self.assertEqual(
            sorted(promise), ["createdAt", "id", "param", "state", "tags", "timeoutAt", "value"]
        )
        self.assertEqual(got["data"]["promise"]["id"], "n.1")
        self.assertEqual(got["head"]["status"], 200)
        self.assertEqual(unknown["head"]["status"], 400)
        self.assertEqual(unknown["data"], "Unknown operation: task.acquire")

    def test_stockIsIndependent(self):
        """
        The stock site serves Klein's own resource over plain HTTP/1.1
        channels, with form parsing and the access log off, and building it
        imports nothing of the server.
        """
        script = (
            "import sys; sys.path.insert(0, %r)\n"
            "import baseline, klein.resource\n"
            "from twisted.web import http\n"
            "site = baseline.site('stock')\n"
            "assert site.protocol is http.HTTPChannel, site.protocol\n"
            "assert site._parsePOSTFormSubmission is False\n"
            "assert isinstance(site.resource, klein.resource.KleinResource), site.resource\n"
            "assert type(site).log is not http.HTTPFactory.log\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'resonate'))\n"
        ) % BENCH
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "[]")


class MetricsParsingTests(unittest.TestCase):
    """
    The idle waiter's reading of C{api_in_flight_requests}.
    """

    def setUp(self):
        self.run = loadBench("run")

    def test_single(self):
        """
        One process: the one C{type="http"} sample.
        """
        text = (
            "# TYPE api_in_flight_requests gauge\n"
            'api_in_flight_requests{type="http"} 3.0\n'
            'api_in_flight_requests{type="grpc"} 5.0\n'
        )
        self.assertEqual(self.run.inFlightHTTP(text), 3.0)

    def test_workers(self):
        """
        With workers every C{type="http"} sample counts, whatever other
        labels it carries and in whichever order.
        """
        text = (
            'api_in_flight_requests{type="http",worker="0"} 3\n'
            'api_in_flight_requests{worker="1",type="http"} 2\n'
            'api_in_flight_requests{type="grpc",worker="0"} 7\n'
            'api_in_flight_requests{type="https",worker="0"} 11\n'
            'other_in_flight_requests{type="http"} 13\n'
        )
        self.assertEqual(self.run.inFlightHTTP(text), 5.0)

    def test_none(self):
        """
        No sample (a gauge not yet set): nothing in flight.
        """
        self.assertEqual(self.run.inFlightHTTP("# TYPE api_in_flight_requests gauge\n"), 0)


class ProcessTreeCPUTests(unittest.TestCase):
    """
    C{bench/proctree.py} counts the CPU time of a whole process tree.
    """

    if not os.path.exists("/proc/self/stat"):
        skip = "no /proc"

    def script(self, name, text):
        """
        A Python script file in this test's scratch folder.
        """
        folder = self.mktemp()
        os.makedirs(folder)
        path = os.path.join(folder, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def burner(self):
        """
        A script that burns 0.6 s of CPU, says "done" and sleeps.
        """
        return self.script("burn.py", (
            "import sys, time\n"
            "end = time.process_time() + 0.6\n"
            "while time.process_time() < end:\n"
            "    pass\n"
            "print('done', flush=True)\n"
            "time.sleep(60)\n"
        ))

    def spawnTree(self):
        """
        A parent that starts a child, which starts a grandchild burning
        CPU; parent and child only wait.
        """
        child = self.script("child.py", (
            "import subprocess, sys\n"
            f"subprocess.Popen([sys.executable, {self.burner()!r}]).wait()\n"
        ))
        process = subprocess.Popen(
            [sys.executable, "-c",
             f"import subprocess, sys; subprocess.Popen([sys.executable, {child!r}]).wait()"],
            stdout=subprocess.PIPE, text=True,
        )
        self.addCleanup(self.stopTree, process)
        return process

    def stopTree(self, process):
        proctree = loadBench("proctree")
        for pid in reversed(proctree.descendants(process.pid)):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        process.wait()
        process.stdout.close()

    def test_descendants(self):
        """
        Grandchildren count as part of the tree.
        """
        proctree = loadBench("proctree")
        process = self.spawnTree()
        self.assertEqual(process.stdout.readline(), "done\n")
        tree = proctree.descendants(process.pid)
        self.assertEqual(tree[0], process.pid)
        self.assertEqual(len(tree), 3, tree)

    def test_grandchildCPU(self):
        """
        The CPU a grandchild burns is in the tree's time, though the
        process read is its idle grandparent.
        """
        proctree = loadBench("proctree")
        process = self.spawnTree()
        self.assertEqual(process.stdout.readline(), "done\n")
        self.assertGreaterEqual(proctree.treeCPU(process.pid), 0.5)

    def test_reapedChildren(self):
        """
        A child that has exited and been waited for still counts (its
        parent's cutime and cstime).
        """
        proctree = loadBench("proctree")
        burner = self.burner()
        script = (
            "import subprocess, sys, time\n"
            # The burner's "done" goes nowhere; it is killed once it said it.
            f"p = subprocess.Popen([sys.executable, {burner!r}], stdout=subprocess.PIPE)\n"
            "p.stdout.readline(); p.kill(); p.wait()\n"
            "print('done', flush=True); time.sleep(60)\n"
        )
        process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                   text=True)
        self.addCleanup(self.stopTree, process)
        self.assertEqual(process.stdout.readline(), "done\n")
        self.assertEqual(proctree.descendants(process.pid), [process.pid])
        self.assertGreaterEqual(proctree.treeCPU(process.pid), 0.5)


class ReadPoolTests(unittest.TestCase):
    """
    A read phase's pool stays below the ids the slowest wrk thread created.
    """

    def test_slowestThread(self):
        """
        The pool follows C{min_counter}, not the mean of the requests.
        """
        run = loadBench("run")
        self.assertEqual(run.readPool({"requests": 4000, "min_counter": 500}, 64), 435)
        self.assertEqual(run.readPool({"requests": 40000, "min_counter": 5000}, 64), 1000)
        self.assertEqual(run.readPool({"requests": 10, "min_counter": 3}, 64), 1)


class StarvedTests(unittest.TestCase):
    """
    The bench says when the baseline was held back.
    """

    def test_starved(self):
        """
        A workload in which the baseline kept less than 0.8 of a core busy
        is named; one where it was busy, or not measured, is not.
        """
        run = loadBench("run")
        baseline = {name: {"cpu_s": 0.9, "wall_s": 1.0} for name in run.WORKLOADS}
        baseline["get"] = {"cpu_s": 0.5, "wall_s": 1.0}
        baseline["search"] = {"cpu_s": None, "wall_s": 1.0}
        self.assertEqual(run.starvedPhases(baseline), ["get"])
