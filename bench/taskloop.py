"""
The 2026 task loop, end to end, as a lean worker speaking the raw protocol
(protocol-2026.md §7.2, §7.9, §7.11, §10, §11):

    python bench/taskloop.py http://127.0.0.1:8001 [--duration 5] [--in-flight 64]
                             [--server-pid PID] [--token JWT]

It opens one SSE stream, C{GET /poll/<group>/<worker>}, and keeps
C{--in-flight} tasks going at once, each on its own keep-alive connection:
C{promise.create} with C{resonate:target} = C{poll://any@<group>}, then,
when its C{execute} message arrives on the stream, C{task.acquire} with the
message's version and C{task.fulfill} with the next.  A slot starts its next
task as soon as one is fulfilled.

It prints one JSON line: completed fulfills per second over the measured
window (after a warm-up), p50/p99/max of each request kind, of the
C{execute} delivery (create sent to message received) and of a whole
task, errors by kind, and with C{--server-pid} the server's CPU time
(user+system of its process tree, bench/proctree.py) over the same window,
with this worker's own.

With C{--token}, every envelope carries it in C{head.auth} and the stream
asks with C{Authorization: Bearer} (a server with JWT authentication).

Plain asyncio and hand-written HTTP/1.1: the worker should cost as little
as it can, so that the figure is the server's.
"""

import argparse
import asyncio
import json
import os
import sys
import time
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from proctree import treeCPU  # noqa: E402

VERSION = "2026-04-01"
TIMEOUT_AT = 4102444800000
KINDS = ["promise.create", "execute", "task.acquire", "task.fulfill", "task"]


class ProtocolError(Exception):
    """
    The server answered something this worker cannot read.
    """


async def readBody(reader, headers):
    """
    The body of a response whose header block was C{headers}: by
    Content-Length, or chunked.
    """
    length = headers.get(b"content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    if headers.get(b"transfer-encoding", b"").lower() != b"chunked":
        raise ProtocolError(f"no body length: {headers!r}")
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def readHead(reader):
    """
    The status and lower-cased headers of the next response.
    """
    block = await reader.readuntil(b"\r\n\r\n")
    lines = block.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
    return status, headers


class Connection:
    """
    One keep-alive HTTP/1.1 connection for C{POST /} envelopes, one request
    at a time.
    """

    def __init__(self, host, port, token=None):
        self.host, self.port, self.token = host, port, token
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, kind, corrId, data):
        """
        Send one envelope; the status and the decoded answer.
        """
        head = {"corrId": corrId, "version": VERSION}
        if self.token:
            head["auth"] = self.token
        body = json.dumps(
            {"kind": kind, "head": head, "data": data},
            separators=(",", ":"),
        ).encode("utf-8")
        self.writer.write(
            b"POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (self.host.encode("ascii"), len(body), body)
        )
        status, headers = await readHead(self.reader)
        return status, json.loads(await readBody(self.reader, headers))

    def close(self):
        if self.writer is not None:
            self.writer.close()


class Stream:
    """
    The worker's SSE stream: each C{execute} message resolves the future
    registered for its task id.
    """

    def __init__(self, host, port, group, worker, token=None):
        self.host, self.port, self.group, self.worker = host, port, group, worker
        self.token = token
        self.waiting = {}
        self.unexpected = 0

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        authorization = (b"Authorization: Bearer %s\r\n" % self.token.encode("ascii")
                         if self.token else b"")
        self.writer.write(
            b"GET /poll/%s/%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n%s\r\n"
            % (self.group.encode(), self.worker.encode(), self.host.encode("ascii"),
               authorization)
        )
        status, headers = await readHead(self.reader)
        if status != 200:
            raise ProtocolError(f"GET /poll answered {status}")
        self.chunked = headers.get(b"transfer-encoding", b"").lower() == b"chunked"
        self.task = asyncio.ensure_future(self._read())

    async def _chunks(self):
        while True:
            if not self.chunked:
                data = await self.reader.read(65536)
                if not data:
                    return
                yield data
                continue
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                return
            data = await self.reader.readexactly(size)
            await self.reader.readexactly(2)
            yield data

    async def _read(self):
        buffer = b""
        async for data in self._chunks():
            buffer += data
            *events, buffer = buffer.split(b"\n\n")
            for event in events:
                for line in event.split(b"\n"):
                    if line.startswith(b"data:"):
                        self._message(json.loads(line[5:]))

    def _message(self, message):
        if message.get("kind") != "execute":
            self.unexpected += 1
            return
        task = message["data"]["task"]
        future = self.waiting.pop(task["id"], None)
        if future is None or future.done():
            # A retry of a task already done, or of another run's.
            self.unexpected += 1
            return
        future.set_result(task["version"])

    def expect(self, taskId):
        """
        A future for the version of C{taskId}'s next C{execute}.
        """
        future = asyncio.get_running_loop().create_future()
        self.waiting[taskId] = future
        return future

    def close(self):
        self.task.cancel()
        self.writer.close()


class Loop:
    """
    The measured run: slots of one task at a time, their latencies and
    errors, counted only inside the window [C{start}, C{end}).
    """

    def __init__(self, url, group, prefix, inFlight, warmup, duration, ttl, serverPid,
                 token=None):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.group, self.prefix, self.inFlight = group, prefix, inFlight
        self.warmup, self.duration, self.ttl = warmup, duration, ttl
        self.token = token
        self.serverPid = serverPid
        self.latencies = {kind: [] for kind in KINDS}
        self.errors = {kind: 0 for kind in KINDS}
        self.firstErrors = []
        self.completed = 0

    def _error(self, kind, detail):
        self.errors[kind] += 1
        if len(self.firstErrors) < 5:
            self.firstErrors.append(f"{kind}: {detail}")

    def _measured(self, sentAt):
        """
        Whether a latency that began at C{sentAt} counts: it began inside
        the window.
        """
        return self.start <= sentAt < self.end

    async def _call(self, connection, kind, corrId, data):
        before = time.monotonic()
        status, answer = await connection.post(kind, corrId, data)
        if self._measured(before):
            self.latencies[kind].append(time.monotonic() - before)
            if status != 200:
                self._error(kind, f"{status} {answer.get('data')!r}")
        return status, answer

    async def _slot(self, index):
        connection = Connection(self.host, self.port, self.token)
        await connection.open()
        target = f"poll://any@{self.group}"
        count = 0
        try:
            while time.monotonic() < self.end:
                count += 1
                taskId = f"{self.prefix}-{index}-{count}"
                sentAt = time.monotonic()
                executed = self.stream.expect(taskId)
                status, _ = await self._call(connection, "promise.create", taskId, {
                    "id": taskId, "timeoutAt": TIMEOUT_AT,
                    "param": {"headers": {"k": "v"}, "data": "aGVsbG8gd29ybGQ="},
                    "tags": {"resonate:target": target},
                })
                if status != 200:
                    self.stream.waiting.pop(taskId, None)
                    continue
                try:
                    version = await asyncio.wait_for(executed, 10)
                except asyncio.TimeoutError:
                    self.stream.waiting.pop(taskId, None)
                    if self._measured(sentAt):
                        self._error("execute", f"none within 10 s for {taskId}")
                    continue
                if self._measured(sentAt):
                    self.latencies["execute"].append(time.monotonic() - sentAt)
                status, answer = await self._call(connection, "task.acquire", taskId, {
                    "id": taskId, "version": version, "pid": self.worker, "ttl": self.ttl,
                })
                if status != 200:
                    continue
                acquired = answer["data"]["task"]["version"]
                status, _ = await self._call(connection, "task.fulfill", taskId, {
                    "id": taskId, "version": acquired,
                    "action": {
                        "kind": "promise.settle",
                        "head": {"corrId": taskId, "version": VERSION},
                        "data": {"id": taskId, "state": "resolved",
                                 "value": {"data": "ZG9uZQ=="}},
                    },
                })
                if status != 200:
                    continue
                # Throughput counts the fulfills answered inside the window.
                if self.start <= time.monotonic() < self.end:
                    self.completed += 1
                if self._measured(sentAt):
                    self.latencies["task"].append(time.monotonic() - sentAt)
        finally:
            connection.close()

    def _mark(self, name):
        setattr(self, name + "At", time.monotonic())
        setattr(self, name + "Process", time.process_time())
        setattr(self, name + "CPU", treeCPU(self.serverPid) if self.serverPid else None)

    async def run(self):
        self.worker = f"bench-{os.getpid()}"
        self.stream = Stream(self.host, self.port, self.group, self.worker, self.token)
        await self.stream.open()
        now = time.monotonic()
        self.start = now + self.warmup
        self.end = self.start + self.duration
        loop = asyncio.get_running_loop()
        loop.call_at(self.start, self._mark, "window")
        loop.call_at(self.end, self._mark, "windowEnd")
        try:
            await asyncio.gather(*(self._slot(i) for i in range(self.inFlight)))
        finally:
            self.stream.close()
        return self.summary()

    def summary(self):
        wall = self.windowEndAt - self.windowAt

        def percentiles(samples):
            samples = sorted(samples)
            if not samples:
                return {"count": 0, "p50_us": 0, "p99_us": 0, "max_us": 0}
            pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
            return {"count": len(samples), "p50_us": round(pick(0.50) * 1e6),
                    "p99_us": round(pick(0.99) * 1e6), "max_us": round(samples[-1] * 1e6)}

        result = {
            "tasks": self.completed,
            "duration_s": wall,
            "tasks_per_s": self.completed / wall,
            "in_flight": self.inFlight,
            "kinds": {kind: dict(percentiles(self.latencies[kind]), errors=self.errors[kind])
                      for kind in KINDS},
            "errors": sum(self.errors.values()),
            "first_errors": self.firstErrors,
            "unexpected_messages": self.stream.unexpected,
            "worker_cpu_s": self.windowEndProcess - self.windowProcess,
            "server_cpu_s": None,
        }
        if self.serverPid:
            result["server_cpu_s"] = self.windowEndCPU - self.windowCPU
        return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("url", help="the server's HTTP address, http://host:port")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1, help="unmeasured seconds first")
    parser.add_argument("--in-flight", type=int, default=64, help="tasks going at once")
    parser.add_argument("--group", default="bench")
    parser.add_argument("--prefix", default=f"tl{os.getpid()}")
    parser.add_argument("--ttl", type=int, default=60_000, help="lease of an acquire, ms")
    parser.add_argument("--server-pid", type=int, help="read this process tree's CPU time")
    parser.add_argument("--token", help="a JWT for head.auth and the stream's Bearer header")
    args = parser.parse_args(argv)
    loop = Loop(args.url, args.group, args.prefix, args.in_flight, args.warmup,
                args.duration, args.ttl, args.server_pid, args.token)
    print(json.dumps(asyncio.run(loop.run())), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
