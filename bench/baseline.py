"""
The baseline for bench/run.py: a storeless app that parses the same JSON
and answers the same shapes as the server, so that what the server does
beyond it is the cost of durability and of the contract.

    python bench/baseline.py [--addr 127.0.0.1:0] [--variant stock|shared|shared-klein]

Variants:

  - C{stock} (the default): a tuned stock Klein app, the independent
    yardstick of issue #17.  Klein's own resource (C{Klein.resource()}) on
    a plain L{twisted.web.server.Site} tuned as anyone serving JSON would:
    no access log, plain HTTP/1.1 channels
    (L{twisted.web.http.HTTPChannel}, not Twisted's HTTP/2-negotiating
    wrapper, which only matters over TLS), POST bodies not parsed as forms,
    and the collector frozen after startup.  Nothing of the server's own
    code is used.
  - C{shared}: the server's site and resource
    (L{resonate.api.http.APISite}, L{resonate.api.resource.AppResource}),
    the baseline before round 2: it measures the server's work with less
    around it, but shares the server's HTTP costs, so it hides them.
  - C{shared-klein}: the server's site with Klein's own resource.

Routes: the v0.5 promises API (create, read, complete, search) and the
2026 protocol's C{POST /} for C{promise.create} and C{promise.get}
envelopes (answered as the server answers them, without storing).

It logs "starting http server addr=HOST:PORT" and serves until SIGTERM.
"""

import argparse
import gc
import json
import signal
import sys

from klein import Klein
from twisted.internet import reactor
from twisted.web import http, server

TIMEOUT = 4102444800000
NOW = 1_700_000_000_000
VERSION = "2026-04-01"
VARIANTS = ["stock", "shared", "shared-klein"]


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


def _promise2026(promiseId, param=None, tags=None, timeoutAt=TIMEOUT):
    """
    A pending promise record as the 2026 protocol shows it (§3).
    """
    return {
        "id": promiseId,
        "state": "pending",
        "param": param or {},
        "value": {},
        "tags": tags or {},
        "timeoutAt": timeoutAt,
        "createdAt": NOW,
    }


def _envelope(request, kind, corrId, status, data):
    return _json(request, status, {
        "kind": kind,
        "head": {"corrId": corrId, "status": status, "version": VERSION},
        "data": data,
    })


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

    @app.route("/", methods=["POST"])
    def envelope(self, request):
        """
        The 2026 protocol's RPC endpoint: the envelope checked as the server
        checks it (a kind, a head with corrId and version, an object of
        data), then C{promise.create} answers the promise it would create
        and C{promise.get} a stored-looking one; other kinds are unknown.
        """
        body = json.loads(request.content.read())
        kind, head, data = body.get("kind"), body.get("head"), body.get("data")
        corrId = head.get("corrId") if isinstance(head, dict) else None
        if (not isinstance(kind, str) or not isinstance(corrId, str)
                or head.get("version") != VERSION or not isinstance(data, dict)):
            return _envelope(request, str(kind), str(corrId), 400, "Invalid request")
        if kind == "promise.create":
            promise = _promise2026(
                data["id"], param=data.get("param"), tags=data.get("tags"),
                timeoutAt=data["timeoutAt"],
            )
        elif kind == "promise.get":
            promise = _promise2026(
                data["id"], param={"headers": {"k": "v"}, "data": "aGVsbG8gd29ybGQ="},
                tags={"bench": "1"},
            )
        else:
            return _envelope(request, kind, corrId, 400, f"Unknown operation: {kind}")
        return _envelope(request, kind, corrId, 200, {"promise": promise})


class StockSite(server.Site):
    """
    A plain Twisted site as tuned for a JSON API: HTTP/1.1 channels, no
    access log, bodies not parsed as forms (L{server.Site}'s
    C{parsePOSTFormSubmission}, Twisted 25.5 and later).
    """

    protocol = http.HTTPChannel
    noisy = False

    def __init__(self, resource):
        super().__init__(resource, parsePOSTFormSubmission=False)

    def log(self, request):
        """
        No access log.
        """


def site(variant):
    """
    The site serving L{Baseline}'s routes as C{variant} says.
    """
    app = Baseline().app
    if variant == "stock":
        return StockSite(app.resource())
    # Imported only here: the stock baseline uses none of the server's code.
    from resonate.api.http import APISite
    from resonate.api.resource import AppResource

    resource = AppResource(app) if variant == "shared" else app.resource()
    return APISite(resource, maxBodySize=4 * 1024 * 1024)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--addr", default="127.0.0.1:0")
    parser.add_argument("--variant", choices=VARIANTS, default="stock",
                        help="stock: tuned stock Klein (default); shared: the server's "
                        "APISite and AppResource; shared-klein: APISite and Klein's resource")
    parser.add_argument("--klein-resource", action="store_true",
                        help="the same as --variant shared-klein (the old flag)")
    args = parser.parse_args(argv)
    variant = "shared-klein" if args.klein_resource else args.variant
    host, _, port = args.addr.rpartition(":")
    listening = reactor.listenTCP(int(port), site(variant), backlog=1024, interface=host)
    address = listening.getHost()
    print(f"starting http server addr={address.host}:{address.port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(reactor.stop))
    # Everything allocated at startup is never garbage: keep the collector
    # from walking it again and again.
    reactor.callWhenRunning(gc.freeze)
    reactor.run(installSignalHandlers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
