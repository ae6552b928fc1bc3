"""
A task worker for the process tests (not a test module).

    python tests/support/task_worker.py --port 0 --name W --log FILE \\
        [--die-after-claims N]

Listens on 127.0.0.1:PORT and prints C{worker listening port=N}.  Each
C{POST /} is a pushed task C{{queue, taskId, counter, links}}: it is
answered 200 at once, then claimed through C{links.claim}; once claimed,
the promise's param data (base64 of a JSON integer) is squared, the task
id is appended to the log file, and the task is completed through
C{links.complete} with the square (base64 of its JSON) as the value.

With C{--die-after-claims N}, the worker exits (status 1, at once, without
completing) right after its Nth successful claim.
"""

import argparse
import base64
import json
import os
import sys

import treq
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger, globalLogBeginner, textFileLogObserver
from twisted.web.client import HTTPConnectionPool
from twisted.web.resource import Resource
from twisted.web.server import Site

log = Logger()

#: The lease a claim asks for, in milliseconds.
LEASE = 2000


def encode(value):
    return base64.b64encode(json.dumps(value).encode("utf-8")).decode("ascii")


def decode(data):
    return json.loads(base64.b64decode(data).decode("utf-8"))


class Worker(Resource):
    isLeaf = True

    def __init__(self, name, logPath, dieAfterClaims):
        super().__init__()
        self.name = name
        self.logPath = logPath
        self.dieAfterClaims = dieAfterClaims
        self.claims = 0
        self.pool = HTTPConnectionPool(reactor, persistent=False)

    def render_POST(self, request):
        try:
            push = json.loads(request.content.read())
            taskId, counter, links = push["taskId"], push["counter"], push["links"]
        except (ValueError, KeyError, TypeError) as e:
            request.setResponseCode(400)
            return f"bad push: {e}\n".encode("utf-8")
        print(f"{self.name} push {taskId} counter={counter}", flush=True)
        d = ensureDeferred(self.run(taskId, counter, links))
        d.addErrback(
            lambda f: print(
                f"{self.name} task {taskId} failed: {f.getErrorMessage()}",
                flush=True,
            )
        )
        request.setResponseCode(200)
        return b"{}"

    async def post(self, url, body):
        response = await treq.post(url, json=body, pool=self.pool, timeout=10)
        content = await treq.content(response)
        return response.code, content

    async def run(self, taskId, counter, links):
        executionId = f"{self.name}/{taskId}"
        code, content = await self.post(
            links["claim"],
            {
                "taskId": taskId,
                "counter": counter,
                "processId": self.name,
                "executionId": executionId,
                "expiryInMilliseconds": LEASE,
            },
        )
        if code != 200:
            print(f"{self.name} claim {taskId} counter={counter}: {code}",
                  flush=True)
            return
        self.claims += 1
        print(f"{self.name} claimed {taskId} counter={counter}", flush=True)
        if self.dieAfterClaims is not None and self.claims >= self.dieAfterClaims:
            print(f"{self.name} dying after {self.claims} claims", flush=True)
            os._exit(1)
        promise = json.loads(content)
        result = decode(promise["param"]["data"]) ** 2
        with open(self.logPath, "a") as f:
            f.write(taskId + "\n")
        code, content = await self.post(
            links["complete"],
            {
                "taskId": taskId,
                "counter": counter,
                "executionId": executionId,
                "state": "resolved",
                "value": {"data": encode(result)},
            },
        )
        print(f"{self.name} completed {taskId} counter={counter}: {code}",
              flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--die-after-claims", type=int, default=None)
    args = parser.parse_args(argv)
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)])
    site = Site(Worker(args.name, args.log, args.die_after_claims))
    site.noisy = False
    port = reactor.listenTCP(args.port, site, interface="127.0.0.1")
    print(f"worker listening port={port.getHost().port}", flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
