"""
The baseline for bench/run.py: a minimal Klein app on the same reactor and
site settings as the server (resonate.api.http.APISite: no access log,
bounded bodies; the collector frozen after startup; its routes served by
resonate.api.resource.AppResource, as the server's), which parses the same
JSON bodies and answers the same shapes without storing anything.  What the
server does beyond this is the cost of durability and of the contract.

    python bench/baseline.py [--addr 127.0.0.1:0] [--klein-resource]

With --klein-resource the routes are served by Klein's own resource
(C{Klein.resource()}), as a stock Klein app would be.

It logs "starting http server addr=HOST:PORT" and serves until SIGTERM.
"""

import argparse
import gc
import json
import signal
import sys

from klein import Klein
from twisted.internet import reactor

from resonate.api.http import APISite
from resonate.api.resource import AppResource

TIMEOUT = 4102444800000
NOW = 1_700_000_000_000


def _json(request, code, body):
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json")
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def _promise(promiseId, state="PENDING", param=None, value=None, tags=None):
    promise = {
        "id": promiseId,
        "state": state,
        "param": param or {},
        "value": value or {},
        "timeout": TIMEOUT,
        "createdOn": NOW,
    }
    if tags:
        promise["tags"] = tags
    return promise


class Baseline:
    """
    The same routes and answer shapes as the promises API, with no store.
    """

    app = Klein()

    @app.route("/promises", methods=["POST"])
    def create(self, request):
        body = json.loads(request.content.read())
        return _json(request, 201, _promise(
            body["id"], param=body.get("param"), tags=body.get("tags")
        ))

    @app.route("/promises/<path:promiseId>", methods=["GET"])
    def read(self, request, promiseId):
        return _json(request, 200, _promise(
            promiseId, param={"headers": {"k": "v"}, "data": "aGVsbG8gd29ybGQ="},
            tags={"bench": "1"},
        ))

    @app.route("/promises/<path:promiseId>", methods=["PATCH"])
    def complete(self, request, promiseId):
        body = json.loads(request.content.read())
        promise = _promise(promiseId, state=body["state"], value=body.get("value"))
        promise["completedOn"] = NOW
        return _json(request, 201, promise)

    @app.route("/promises", methods=["GET"])
    def search(self, request):
        pattern = request.args.get(b"id", [b"*"])[0].decode("utf-8")
        limit = int(request.args.get(b"limit", [b"100"])[0])
        prefix = pattern.rstrip("*")
        promises = [_promise(f"{prefix}{i}") for i in range(min(limit, 10))]
        return _json(request, 200, {"cursor": None, "promises": promises})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--addr", default="127.0.0.1:0")
    parser.add_argument("--klein-resource", action="store_true",
                        help="serve the routes with Klein's own resource")
    args = parser.parse_args(argv)
    host, _, port = args.addr.rpartition(":")
    app = Baseline().app
    resource = app.resource() if args.klein_resource else AppResource(app)
    site = APISite(resource, maxBodySize=4 * 1024 * 1024)
    listening = reactor.listenTCP(int(port), site, backlog=1024, interface=host)
    address = listening.getHost()
    print(f"starting http server addr={address.host}:{address.port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(reactor.stop))
    reactor.callWhenRunning(gc.freeze)
    reactor.run(installSignalHandlers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
