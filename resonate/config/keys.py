# -*- test-case-name: tests.unit.test_config -*-
"""
The server's configuration keys: each key's YAML path, flag, kind, default
and help, in one table (L{KEYS}).

The keys of a store kind are not here: each store provider declares its
own (L{resonate.config.stores.StoreOption}), and L{resonate.config.stores}
turns them into L{Key}s of the same shape when the configuration is loaded.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from resonate.config.kinds import (
    AddressKind,
    BoolKind,
    DaysDurationKind,
    DurationKind,
    EnumKind,
    HostKind,
    IntKind,
    JsonListKind,
    SizeKind,
    StrKind,
    WorkersKind,
)


@dataclass(frozen=True)
class Key:
    """
    One configuration key.

    @ivar path: the dotted YAML path, e.g. C{"api.subsystems.http.addr"}.
    @ivar flag: the long flag name without dashes, e.g. C{"api-http-addr"}
        (given as C{--api-http-addr}).
    @ivar kind: a kind (see L{resonate.config.kinds}) with
        C{parseYaml(value)}, C{parseFlag(text)} and C{expectation()}.
    @ivar default: the default as written in YAML (e.g. C{"10s"}, not
        C{10.0}); L{parsedDefault} gives the typed value.
    @ivar help: one line saying what the key does.
    @ivar ignored: whether the key is accepted only because the Go server's
        configuration has it, and changes nothing here.
    @ivar switch: whether the flag is given bare (C{--debug}) and means
        true, rather than with a value; only for a boolean key whose
        default is false.
    """

    path: str
    flag: str
    kind: Any
    default: Any
    help: str
    ignored: bool = False
    switch: bool = False

    def parsedDefault(self):
        """
        The typed default, as L{resonate.config.load.Config.get} returns it.
        """
        return self.kind.parseYaml(self.default)

    def helpText(self):
        """
        The key's C{--help} line: its help, default and file path, and
        whether it is ignored.
        """
        ignored = (
            "; accepted for the Go server's compatibility and ignored"
            if self.ignored
            else ""
        )
        return (
            f"{self.help} (default: {showDefault(self.default)}; "
            f"file key: {self.path}{ignored})"
        )


_SIZE = IntKind(minimum=1)
_PORT = IntKind(minimum=0, maximum=65535)
_TIMEOUT = DurationKind()
_S = "aio.subsystems.store"
_N = "aio.subsystems.network"
_Q = "aio.subsystems.queuing"

# fmt: off
KEYS = (
    Key("api.size", "api-size", _SIZE, 100,
        "capacity of the API submission queue; when full, requests get 503"),
    Key("api.workers", "api-workers", WorkersKind(), 1,
        "server processes sharing the HTTP, SSE and gRPC listeners (auto: one "
        "per CPU); more than 1 runs a supervisor that starts, restarts and "
        "stops them (needs a store several processes can share)"),
    Key("api.baseUrl", "api-base-url", StrKind(nonEmpty=True),
        "http://localhost:8001",
        "the URL workers reach this server at: in the links of dispatched "
        "v0.5 tasks, and the serverUrl of 2026 execute messages"),
    Key("api.subsystems.http.addr", "api-http-addr",
        AddressKind(endpoints=True), "0.0.0.0:8001",
        "address the HTTP API listens on: host:port, or a Twisted endpoint "
        "such as ssl:8443:privateKey=key.pem:certKey=cert.pem"),
    Key("api.subsystems.http.timeout", "api-http-timeout",
        DurationKind(allowZero=True), "10s",
        "grace period for in-flight HTTP requests on shutdown"),
    Key("api.subsystems.http.maxBodySize", "api-http-max-body-size",
        SizeKind(), 10485760,
        "largest HTTP request (and gRPC message) body accepted, in bytes or "
        "with a unit (10MiB)"),
    Key("api.subsystems.http.idleTimeout", "api-http-idle-timeout", _TIMEOUT,
        "60s",
        "close an HTTP connection idle this long, or whose request line and "
        "headers take longer than this to arrive"),
    Key("api.subsystems.http.auth.username", "api-http-auth-username",
        StrKind(), "",
        "HTTP basic auth user name; with the password, every request must "
        "present them (empty: no auth)"),
    Key("api.subsystems.http.auth.password", "api-http-auth-password",
        StrKind(), "", "HTTP basic auth password (empty: no auth)"),
    Key("api.auth.jwt.publicKey", "api-auth-jwt-public-key", StrKind(), "",
        "path of the PEM public key (RSA, EC or Ed25519) that signs JWTs; "
        "set, every request must present a token, on every protocol "
        "(empty: no JWT auth)"),
    Key("api.auth.jwt.issuer", "api-auth-jwt-issuer", StrKind(), "",
        "the iss tokens must carry (empty: not checked)"),
    Key("api.auth.jwt.audience", "api-auth-jwt-audience", StrKind(), "",
        "the aud tokens must carry (empty: not checked)"),
    Key("api.subsystems.grpc.addr", "api-grpc-addr", AddressKind(),
        "0.0.0.0:50051", "address the gRPC API listens on"),
    Key("aio.size", "aio-size", _SIZE, 100,
        "capacity of the Go server's AIO completion queue", ignored=True),
    Key(f"{_S}.config.kind", "aio-store", StrKind(nonEmpty=True), "sqlite",
        "store kind: sqlite, postgres, or one added by a store plugin "
        "(--help-stores lists them)"),
    Key(f"{_S}.subsystem.size", "aio-store-size", _SIZE, 100,
        "transactions that may wait for the store before requests get 503"),
    Key(f"{_S}.subsystem.workers", "aio-store-workers", _SIZE, 1,
        "store connections (SQLite: readers; there is always one writer)"),
    Key(f"{_S}.subsystem.batchSize", "aio-store-batch-size", _SIZE, 100,
        "most transactions committed together"),
    Key(f"{_S}.config.retention", "aio-store-retention", DaysDurationKind(),
        "0",
        "delete settled promises this long after they settled (e.g. 30d), "
        "with their tasks, callbacks and listeners, once nothing pending "
        "needs them; a deleted id can be created again. 0: keep everything"),
    Key(f"{_N}.subsystem.size", "aio-network-size", _SIZE, 100,
        "the Go server's queue of outgoing HTTP requests", ignored=True),
    Key(f"{_N}.subsystem.workers", "aio-network-workers", _SIZE, 3,
        "the Go server's outgoing HTTP workers", ignored=True),
    Key(f"{_N}.subsystem.batchSize", "aio-network-batch-size", _SIZE, 100,
        "the Go server's outgoing HTTP batch", ignored=True),
    Key(f"{_N}.config.timeout", "aio-network-timeout", _TIMEOUT, "10s",
        "timeout of outgoing HTTP requests (task pushes)"),
    Key(f"{_Q}.subsystem.size", "aio-queuing-size", _SIZE, 100,
        "the Go server's queue of task dispatches", ignored=True),
    Key(f"{_Q}.subsystem.workers", "aio-queuing-workers",
        IntKind(minimum=1, maximum=1), 1,
        "the Go server's task dispatch workers (must be 1)", ignored=True),
    Key(f"{_Q}.subsystem.batchSize", "aio-queuing-batch-size", _SIZE, 100,
        "the Go server's task dispatch batch", ignored=True),
    Key(f"{_Q}.config.connections", "aio-queuing-connections",
        JsonListKind(), [],
        'where tasks are pushed, as a JSON array, e.g. \'[{"kind": "http", '
        '"name": "workers", "metadata": {"properties": {"url": '
        '"http://127.0.0.1:5001"}}}]\''),
    Key(f"{_Q}.config.routes", "aio-queuing-routes", JsonListKind(), [],
        'which promise ids make tasks, as a JSON array, e.g. \'[{"kind": '
        '"pattern", "name": "work", "target": {"connection": "workers", '
        '"queue": "work"}, "metadata": {"properties": {"pattern": '
        '"/work/*"}}}]\'; a pattern matches the id with a leading /, {name} '
        'one segment, * the rest'),
    Key("system.notificationCacheSize", "system-notification-cache-size",
        _SIZE, 100, "the Go server's subscription notification cache",
        ignored=True),
    Key("system.submissionBatchSize", "system-submission-batch-size", _SIZE,
        100, "most tasks taken per dispatch sweep"),
    Key("system.completionBatchSize", "system-completion-batch-size", _SIZE,
        100, "the Go server's AIO completion batch", ignored=True),
    Key("system.scheduleBatchSize", "system-schedule-batch-size", _SIZE,
        10000, "most schedules handled per sweep"),
    Key("system.timeoutInterval", "system-timeout-interval", _TIMEOUT, "1s",
        "how often the background sweeps time out overdue promises and "
        "expire 2026 task timers"),
    Key("system.timeoutBatchSize", "system-timeout-batch-size", _SIZE, 1000,
        "most promises timed out (and 2026 task timers expired) per sweep "
        "iteration"),
    Key("tasks.retryTimeout", "tasks-retry-timeout", _TIMEOUT, "30s",
        "how long a pending 2026 task waits before its execute message is "
        "sent again"),
    Key("messages.pollInterval", "messages-poll-interval", _TIMEOUT, "100ms",
        "how often the outbox is looked at when nothing woke its delivery: "
        "how soon work caused through another server process sharing the "
        "database goes out"),
    Key("messages.batchSize", "messages-batch-size", _SIZE, 100,
        "most outbox messages taken for delivery at once"),
    Key("messages.maxAge", "messages-max-age", _TIMEOUT, "10m",
        "how long an execute or unblock message waits for its SSE "
        "connection, or retries a failing push, before it is dropped (and "
        "counted); a lost execute is sent again by the task's retry timer"),
    Key("transports.httpPush.concurrency", "transports-http-push-concurrency",
        _SIZE, 256, "most HTTP pushes of messages in flight at once"),
    Key("transports.httpPush.connectTimeout",
        "transports-http-push-connect-timeout", _TIMEOUT, "10s",
        "how long a push waits to connect to its target"),
    Key("transports.httpPush.requestTimeout",
        "transports-http-push-request-timeout", _TIMEOUT, "180s",
        "how long a push waits for its target's answer"),
    Key("transports.httpPoll.maxConnections",
        "transports-http-poll-max-connections", _SIZE, 1000,
        "most SSE connections (GET /poll/{group}/{id}) open at once; more "
        "are answered 503"),
    Key("transports.httpPoll.bufferSize", "transports-http-poll-buffer-size",
        _SIZE, 100,
        "most messages held for an SSE client that does not keep up; more "
        "are not written to it (they stay in the outbox and are retried)"),
    Key("metrics.addr", "metrics-addr", HostKind(), "",
        "host (interface) the Prometheus metrics server listens on, without "
        "a port: empty for every interface, 127.0.0.1 to keep it private"),
    Key("metrics.port", "metrics-port", _PORT, 9090,
        "port of the Prometheus metrics server (0: any free port)"),
    Key("log.level", "log-level", EnumKind(("debug", "info", "warn", "error")),
        "info", "least severe log level written"),
    Key("debug", "debug", BoolKind(), False,
        "allow the 2026 protocol's debug.* operations and resonate:debug_time "
        "(pause the background loops, run them at a given time, reset the "
        "store): for conformance tests only, never in production",
        switch=True),
)
# fmt: on
"""
The server's own keys, in the order of the shipped C{etc/resonate.yml}
(where each store kind's section follows C{aio.subsystems.store.config.kind}).
"""

KEYS_BY_PATH = MappingProxyType({key.path: key for key in KEYS})
"""
L{KEYS} by C{path}.
"""

KEYS_BY_FLAG = MappingProxyType({key.flag: key for key in KEYS})
"""
L{KEYS} by C{flag}.
"""

IGNORED_KEYS = tuple(key.path for key in KEYS if key.ignored)
"""
The keys accepted for the Go server's compatibility that change nothing.
"""


def keyTree(keys):
    """
    The YAML layout of C{keys}: nested dicts of path segments whose leaves
    are L{Key}s.  Built afresh on each call.

    @param keys: an iterable of L{Key}s.
    """
    tree = {}
    for key in keys:
        *sections, leaf = key.path.split(".")
        node = tree
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = key
    return tree


def showDefault(default):
    """
    A default as a user would write it, for help text.
    """
    if isinstance(default, bool):
        return "true" if default else "false"
    if default == "":
        return '""'
    if isinstance(default, Mapping):
        return "none"
    if isinstance(default, list):
        return "[]"
    return str(default)
