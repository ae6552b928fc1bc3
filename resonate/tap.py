# -*- test-case-name: tests.integration.test_tap -*-
"""
C{twist resonate}: command-line options and the service they make.

C{makeService} is a thin wrapper over L{buildService}, which takes the
reactor and an already opened store, so tests can build the real service
tree around fakes.
"""

import dataclasses
import difflib
import gc
import os
import re
import resource
import signal
import sys
from functools import partial

from twisted.logger import Logger, globalLogPublisher
from twisted.application.service import MultiService, Service
from twisted.python import usage

import resonate
from resonate.config import (
    ConfigError,
    configKeys,
    flagsFromOptions,
    loadConfig,
    usageFlags,
    usageParameters,
)
from resonate.logs import filterLogLevel
from resonate.store.providers import (
    DuplicateStoreKind,
    InvalidStoreProvider,
    UnknownStoreKind,
    findStoreProvider,
    makeStore,
    storeProviders,
)

_log = Logger()


class Options(usage.Options):
    """
    Every configuration key is also a flag; flags override the file, which
    overrides the defaults.

    The store kinds' flags depend on which store plugins are installed, so
    instances come from L{makeOptions}, which adds them; this class holds
    what every instance shares.

    @ivar providers: store kind to its provider, as L{makeOptions} found
        them.
    @ivar keys: every configuration key, the store kinds' options included.
    """

    synopsis = "[options]"
    longdesc = (
        "Run the Resonate durable promises server.  Every key of the "
        "configuration file is also a flag; flags override the file."
    )
    optParameters = [
        ["config", "c", None, "YAML configuration file (e.g. etc/resonate.yml)."],
    ]
    providers = {}
    keys = ()
    pluginProblem = None
    # After an error, twist prints the error and then this object as usage:
    # one line on where help is, not every flag.
    _failed = False

    def opt_help_stores(self):
        """
        List the installed store kinds and exit.
        """
        for name, provider in sorted(self.providers.items()):
            print(f"{name:12} {provider.description}")
        sys.exit(0)

    def opt_version(self):
        """
        Print the server's version and exit.
        """
        print(f"resonate {resonate.__version__}")
        sys.exit(0)

    def getUsage(self, width=None):
        """
        The usage text; after a configuration error, only where to find it.
        """
        if self._failed:
            return "Run 'twist resonate --help' for the options."
        return super().getUsage(width)

    def parseOptions(self, options=None):
        """
        Parse, remembering a failure so that the usage printed with its
        error is one line.
        """
        try:
            super().parseOptions(options)
        except usage.UsageError as e:
            self._failed = True
            raise usage.UsageError(self._withSuggestion(str(e))) from None

    def _withSuggestion(self, message):
        """
        An unknown flag's message, with the closest known flag suggested
        (as a misspelt key in the file gets).
        """
        unknown = re.fullmatch(r"option (--[\w-]+) not recognized", message)
        if unknown is None:
            return message
        flags = ["--" + name.rstrip("=") for name in self.longOpt]
        close = difflib.get_close_matches(unknown.group(1), flags, n=1)
        return f"{message}; did you mean {close[0]}?" if close else message

    def postOptions(self):
        if self.pluginProblem is not None:
            raise usage.UsageError(self.pluginProblem)
        try:
            self.config = loadConfig(
                self["config"], flagsFromOptions(self, self.keys), self.providers
            )
        except ConfigError as e:
            raise usage.UsageError(str(e))
        try:
            self.storeProvider = findStoreProvider(self.config.storeConfig().kind)
        except (UnknownStoreKind, InvalidStoreProvider) as e:
            raise usage.UsageError(str(e))


def makeOptions(providers=None):
    """
    The options of C{twist resonate}: the server's keys and every installed
    store kind's options as flags (C{--aio-store-<kind>-<key>}).

    @param providers: store kind to its provider; by default the installed
        ones.
    @return: a new L{Options} instance.
    """
    problem = None
    if providers is None:
        try:
            providers = storeProviders()
        except DuplicateStoreKind as e:
            problem, providers = str(e), e.providers
    keys, _ = configKeys(providers)

    class StoreOptions(Options):
        optParameters = usageParameters(keys)
        optFlags = usageFlags(keys)

    StoreOptions.__name__ = Options.__name__
    StoreOptions.providers = providers
    StoreOptions.keys = keys
    StoreOptions.pluginProblem = problem
    return StoreOptions()


def routesFromConfig(config):
    """
    The task routes and connections of C{config} (whose shapes
    L{resonate.config.loadConfig} has checked).

    @return: C{(routes, connections)}: the L{resonate.model.routing.Route}s
        in configuration order, and connection name to URL.
    """
    from resonate.model.routing import Route

    connections = {
        item["name"]: item["metadata"]["properties"]["url"]
        for item in config.get("aio.subsystems.queuing.config.connections")
    }
    routes = [
        Route(
            name=item["name"],
            pattern=item["metadata"]["properties"]["pattern"],
            connection=item["target"]["connection"],
            queue=item["target"]["queue"],
        )
        for item in config.get("aio.subsystems.queuing.config.routes")
    ]
    return routes, connections


def credentialsFromConfig(config):
    """
    The HTTP basic auth credentials of C{config}, or L{None} when auth is
    off (both keys empty; L{resonate.config.loadConfig} has checked that
    they are set together).

    @return: a L{resonate.api.auth.BasicCredentials} or L{None}.
    """
    from resonate.api.auth import BasicCredentials

    username = config.get("api.subsystems.http.auth.username")
    password = config.get("api.subsystems.http.auth.password")
    if not username and not password:
        return None
    return BasicCredentials(username, password)


def tokensFromConfig(config):
    """
    The JWT verifier of C{config}, or L{None} when JWT auth is off (no
    public key; L{resonate.config.loadConfig} has checked that the key is
    usable and that basic auth is not set beside it).

    @return: a L{resonate.api.tokens.TokenVerifier} or L{None}.
    """
    from resonate.api.tokens import TokenVerifier

    publicKey = config.get("api.auth.jwt.publicKey")
    if not publicKey:
        return None
    return TokenVerifier.fromFile(
        publicKey,
        issuer=config.get("api.auth.jwt.issuer") or None,
        audience=config.get("api.auth.jwt.audience") or None,
    )


def _metricsListener(reactor, config, site):
    """
    The listener of the metrics page C{site}: on C{metrics.addr} (a host;
    empty for every interface) and C{metrics.port}.  The log names the host
    as configured: C{addr=:9090} on every interface, as the Go server logs
    it.
    """
    from resonate.config import listenAddress
    from resonate.services.listen import ListeningService, endpointForAddress

    host = config.get("metrics.addr")
    address = listenAddress(host, config.get("metrics.port"))
    return ListeningService(
        "metrics",
        endpointForAddress(reactor, address),
        site,
        onFailure=lambda failure: reactor.callWhenRunning(reactor.stop),
        logHost=None if host else "",
    )


def buildService(config, store, reactor, worker=None):
    """
    Assemble the server around an open store.

    @param config: a L{resonate.config.Config}.
    @param store: an L{resonate.interfaces.IStore} provider.
    @param reactor: the reactor to listen and schedule with.
    @param worker: L{None} for a server of one process, or the
        L{resonate.services.workers.WorkerSetup} of a worker: it serves
        HTTP and gRPC on the supervisor's reserved ports (with
        SO_REUSEPORT), metrics on 127.0.0.1 for the supervisor to scrape, and tells
        the supervisor (not systemd) when it is ready.
    @return: a L{resonate.services.server.ResonateService}.
    """
    from resonate.api.grpcserver import GRPCService
    from resonate.api.http import APISite, HTTPAPI
    from resonate.console import Console
    from resonate.api.operations import Operations
    from resonate.interfaces import IGroupCommitStore
    from resonate.metrics import Metrics, MetricsSite
    from resonate.model.routing import matchRoute
    from resonate.services.background import BackgroundService
    from resonate.services.debug import DebugControl
    from resonate.services.dispatcher import TaskDispatcher
    from resonate.services.listen import ListeningService, endpointForAddress
    from resonate.api.protocol2026 import renderPromise
    from resonate.api.sse import PollRegistry
    from resonate.services.notify import SystemdNotifier
    from resonate.services.outbox import OutboxDelivery, TransportsService
    from resonate.services.push import HTTPPusher
    from resonate.services.retention import retentionService
    from resonate.services.scheduler import ScheduleService
    from resonate.services.server import ResonateService
    from resonate.status import Status
    from resonate.services.timeouts import BatchedSweep

    # One registry for the whole server, handed to everything that records.
    metrics = Metrics()
    if IGroupCommitStore.providedBy(store):
        store.observeCommits(metrics.storeBatchCommitted)
    # The stores and the model count milliseconds.
    retryTimeout = round(config.get("tasks.retryTimeout") * 1000)
    routes, connections = routesFromConfig(config)

    def isRouted(promiseId):
        return matchRoute(routes, promiseId) is not None

    # Fires schedule slots on time; a schedule created here wakes it at
    # once, one created by another process is noticed within a second.
    # Slots whose promise matches a route get their task too (DECISIONS
    # 13a), so a schedule plus a route triggers a worker at every slot;
    # those whose promise tags name a resonate:target get a 2026 task.
    scheduler = ScheduleService(
        store,
        reactor,
        config.get("system.scheduleBatchSize"),
        isRouted=isRouted,
        metrics=metrics,
        retryTimeout=retryTimeout,
    )
    # Pushes tasks to their workers; a routed promise created here wakes
    # it, so its task is pushed at once.
    dispatcher = TaskDispatcher(
        store,
        reactor,
        routes,
        connections,
        config.get("api.baseUrl"),
        config.get("system.submissionBatchSize"),
        timeout=config.get("aio.subsystems.network.config.timeout"),
        metrics=metrics,
    )
    # The 2026 outbox goes out over this process's SSE connections and by
    # HTTP push; a write that adds messages, and a connection that
    # registers, wake its delivery, and it looks every pollInterval for
    # work other processes sharing the database caused.
    pusher = HTTPPusher(
        reactor,
        concurrency=config.get("transports.httpPush.concurrency"),
        connectTimeout=config.get("transports.httpPush.connectTimeout"),
        requestTimeout=config.get("transports.httpPush.requestTimeout"),
    )
    poll = PollRegistry(
        maxConnections=config.get("transports.httpPoll.maxConnections"),
        bufferSize=config.get("transports.httpPoll.bufferSize"),
        reactor=reactor,
    )
    delivery = OutboxDelivery(
        store,
        reactor,
        config.get("api.baseUrl"),
        renderPromise,
        poll=poll,
        pusher=pusher,
        batchSize=config.get("messages.batchSize"),
        interval=config.get("messages.pollInterval"),
        maxAge=round(config.get("messages.maxAge") * 1000),
        lease=round(config.get("transports.httpPush.requestTimeout") * 1000) + 5_000,
        metrics=metrics,
    )
    poll.addObserver(lambda group, id: delivery.wake())
    operations = Operations(
        store,
        reactor,
        config.get("api.size"),
        onScheduleCreated=scheduler.wake,
        routes=routes,
        onTaskCreated=dispatcher.wake,
        metrics=metrics,
        retryTimeout=retryTimeout,
        onMessages=delivery.wake,
    )
    interval = config.get("system.timeoutInterval")
    batchSize = config.get("system.timeoutBatchSize")
    # A promise's timeout runs the 2026 settlement chain, which may make
    # awaiting tasks pending: they need the retry timeout as much as the
    # expired task timers do.
    loops = [
        BackgroundService(
            name,
            interval,
            BatchedSweep(sweep, reactor, batchSize, metrics=metrics),
            reactor,
            metrics=metrics,
        )
        for name, sweep in [
            (
                "timeout-promises",
                partial(store.timeoutPromises, retryTimeout=retryTimeout),
            ),
            (
                "timeout-tasks",
                partial(store.expireTasks2026, retryTimeout=retryTimeout),
            ),
            ("timeout-locks", store.timeoutLocks),
        ]
    ]
    loops.append(scheduler)
    loops.append(dispatcher)
    loops.append(delivery)
    retention = config.get("aio.subsystems.store.config.retention")
    # With --api-workers the first worker collects: the others would find
    # nothing left (running beside it would be safe all the same).
    if retention and (worker is None or worker.index == 0):
        loops.append(
            retentionService(
                operations.collectGarbage, reactor, retention, metrics=metrics
            )
        )
    # Only with --debug may requests pause the loops and move time.
    debug = None
    if config.get("debug"):
        debug = DebugControl(
            loops, store, retryTimeout, isRouted=isRouted, metrics=metrics
        )
    credentials = credentialsFromConfig(config)
    # JWT auth (issue 19): None when off; every listener checks it.
    tokens = tokensFromConfig(config)
    site = APISite(
        HTTPAPI(
            operations, metrics, debug=debug, poll=poll,
            console=Console(operations, tokens=tokens), tokens=tokens,
        ).resource(),
        maxBodySize=config.get("api.subsystems.http.maxBodySize"),
        idleTimeout=config.get("api.subsystems.http.idleTimeout"),
        metrics=metrics,
        credentials=credentials,
        tokens=tokens,
        reactor=reactor,
    )
    if worker is None:
        httpEndpoint = endpointForAddress(
            reactor, config.get("api.subsystems.http.addr")
        )
        grpcAddress = config.get("api.subsystems.grpc.addr")
    else:
        from resonate.config import AddressKind
        from resonate.services.workers import ReusePortEndpoint

        httpEndpoint = ReusePortEndpoint(reactor, worker.http)
        grpcAddress = AddressKind().parseFlag(worker.grpc)
    http = ListeningService(
        "http",
        httpEndpoint,
        site,
        onFailure=lambda failure: reactor.callWhenRunning(reactor.stop),
    )
    # The same credentials, as "authorization" metadata, for every RPC but
    # the health service's.
    grpc = GRPCService(
        operations,
        grpcAddress,
        reactor,
        workers=config.get("api.size"),
        grace=config.get("api.subsystems.http.timeout"),
        credentials=credentials,
        unauthorizedCode=Status.UNAUTHORIZED,
        metrics=metrics,
        maxMessageSize=config.get("api.subsystems.http.maxBodySize"),
        reusePort=worker is not None,
        tokens=tokens,
    )
    # GET /metrics on metrics.addr (every interface by default), logged as
    # the contract has it: "starting metrics server addr=:9090".
    if worker is None:
        metricsListener = _metricsListener(
            reactor, config, MetricsSite(metrics, reactor=reactor)
        )
        notifier = SystemdNotifier()
    else:
        from resonate.services.workers import WorkerNotifier

        # The supervisor serves port metrics.port, gathering every
        # worker's page from here.
        metricsListener = ListeningService(
            "worker metrics",
            endpointForAddress(reactor, "127.0.0.1:0"),
            MetricsSite(metrics, reactor=reactor),
            onFailure=lambda failure: reactor.callWhenRunning(reactor.stop),
        )
        notifier = WorkerNotifier(metricsListener, reactor)
    return ResonateService(
        store,
        operations,
        # The transports stop first: open SSE streams end at once.
        listeners=[TransportsService(poll, pusher), http, grpc, metricsListener],
        loops=loops,
        grace=config.get("api.subsystems.http.timeout"),
        clock=reactor,
        sites=[site],
        notifier=notifier,
    )


def raiseFileLimit():
    """
    Raise this process's soft limit on open files to its hard limit, as Go
    programs (the Go server among them) do at startup: every client
    connection is a file, and the 1024 many shells give is less than a
    thousand keep-alive connections and the store's files need.

    @return: the soft limit in force afterwards.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
        return hard
    return soft


def makeService(options, reactor=None, environ=None):
    """
    Open the store (synchronously, before the reactor runs, so that a bad
    path stops startup with one clear line) and build the server: one
    process, or with C{api.workers} above 1 the supervisor of that many
    (L{makeSupervisor}), or one of those workers (when the supervisor's
    L{resonate.services.workers.WORKER_ENVIRONMENT} variable is set).

    @param environ: the environment; C{os.environ} when L{None}.
    """
    from resonate.services.workers import WorkerSetup

    if reactor is None:
        from twisted.internet import reactor
    if environ is None:
        environ = os.environ
    config = options.config
    worker = WorkerSetup.fromEnvironment(environ)
    if worker is None and config.get("api.workers") > 1:
        return makeSupervisor(options, reactor, environ)
    for path in config.ignoredKeysGiven():
        _log.warn(
            "configuration key {path} is accepted for the Go server's "
            "compatibility and ignored",
            path=path,
        )
    if config.get("debug"):
        _log.warn(
            "debug operations are enabled (--debug): debug.* requests may "
            "pause the background loops, move time and erase the store; "
            "never run a production server with it"
        )
    raiseFileLimit()
    storeConfig = config.storeConfig()
    if worker is not None:
        storeConfig = dataclasses.replace(storeConfig, shared=True)
    try:
        store = makeStore(options.storeProvider, storeConfig, reactor)
    except Exception as e:
        raise SystemExit(f"error: cannot open the {storeConfig.kind} store: {e}")
    service = buildService(config, store, reactor, worker=worker)
    if worker is not None:
        from resonate.services.workers import Lifeline

        # The supervisor is gone (stopped, or killed): stop gracefully,
        # rather than hold the listeners on as an orphan.
        lifeline = Lifeline(reactor, partial(_stopReactor, reactor))
        reactor.callWhenRunning(lifeline.start)
        # Ctrl-C in a terminal interrupts the whole process group, and the
        # supervisor stops the workers itself (SIGTERM): a worker that also
        # stopped on the SIGINT would stop its reactor twice (a logged
        # ReactorNotRunning, and a stop cut short).  Twisted installs no
        # SIGINT handler over an ignored one.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Everything built so far lives as long as the process: move it out of
    # the collector's sight, or every full collection rescans it (this cuts
    # Klein's p99 latency two to four times).
    reactor.callWhenRunning(gc.freeze)
    # twist starts its log file after makeService; filter once it has.
    reactor.callWhenRunning(
        filterLogLevel, globalLogPublisher, config.get("log.level")
    )
    return service


def _stopReactor(reactor):
    """
    Stop C{reactor} unless it is stopping already.
    """
    from twisted.internet.error import ReactorNotRunning

    try:
        reactor.stop()
    except ReactorNotRunning:
        pass


def makeSupervisor(options, reactor, environ):
    """
    The supervisor of C{api.workers} worker processes
    (L{resonate.services.workers}): check that the configuration can run
    on several processes, open the store once (to create, migrate or
    reset it, and to fail startup with one clear line if it cannot be
    opened), bind the listeners the workers share, and serve the metrics
    of them all.

    @raise SystemExit: the configuration cannot run on several processes,
        or a listener or the store cannot be opened.
    """
    from resonate.config import isEndpointDescription
    from resonate.interfaces import ISharedStoreProvider
    from resonate.services.notify import SystemdNotifier
    from resonate.services.workers import (
        Supervisor,
        WorkersMetricsSite,
        reservePort,
        workerCommand,
    )

    config = options.config
    count = config.get("api.workers")
    kind = config.storeConfig().kind
    if not ISharedStoreProvider.providedBy(options.storeProvider):
        raise SystemExit(
            f"error: api.workers is {count}, but the {kind} store cannot be "
            "shared by several processes; use sqlite or postgres, or 1 worker"
        )
    if config.get("debug"):
        raise SystemExit(
            f"error: api.workers is {count}, but --debug pauses and moves the "
            "background loops of one process; run it with 1 worker"
        )
    httpAddr = config.get("api.subsystems.http.addr")
    if isEndpointDescription(httpAddr):
        raise SystemExit(
            f"error: api.workers is {count}, but the HTTP address {httpAddr!r} "
            "is an endpoint description; several workers share a host:port "
            "listener (terminate TLS in front of them, or run 1 worker)"
        )
    raiseFileLimit()
    try:
        store = makeStore(options.storeProvider, config.storeConfig(), reactor)
    except Exception as e:
        raise SystemExit(f"error: cannot open the {kind} store: {e}")
    # Reserved, not listened on: each worker binds the port again with
    # SO_REUSEPORT, and the kernel spreads connections over them.
    try:
        httpSocket, httpAddress = reservePort(httpAddr)
    except OSError as e:
        raise SystemExit(f"error: cannot start http server: {e}")
    try:
        grpcSocket, grpcAddress = reservePort(config.get("api.subsystems.grpc.addr"))
    except OSError as e:
        httpSocket.close()
        raise SystemExit(f"error: cannot start grpc server: {e}")

    def fatal():
        # A worker could not start: stop, and end with status 1 once the
        # others have stopped.
        def exitFailed():
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)

        reactor.addSystemEventTrigger("after", "shutdown", exitFailed)
        reactor.callWhenRunning(reactor.stop)

    supervisor = Supervisor(
        count,
        workerCommand(),
        environ,
        reactor,
        [httpSocket, grpcSocket],
        httpAddress,
        grpcAddress,
        store=store,
        notifier=SystemdNotifier(environ),
        # Each worker's own grace period, and time to close its store.
        grace=config.get("api.subsystems.http.timeout") + 15,
        onFatal=fatal,
    )
    metricsListener = _metricsListener(
        reactor, config, WorkersMetricsSite(supervisor, reactor)
    )
    root = _SupervisorService(supervisor, metricsListener)
    reactor.callWhenRunning(
        filterLogLevel, globalLogPublisher, config.get("log.level")
    )
    return root


class _SupervisorService(MultiService):
    """
    The supervisor and its metrics listener; the workers stop first, the
    listener last.
    """

    def __init__(self, supervisor, metricsListener):
        super().__init__()
        self.supervisor = supervisor
        self.metricsListener = metricsListener
        metricsListener.setServiceParent(self)
        supervisor.setServiceParent(self)

    def stopService(self):
        from twisted.internet.defer import maybeDeferred

        Service.stopService(self)
        d = maybeDeferred(self.supervisor.stopService)
        d.addCallback(lambda _: self.metricsListener.stopService())
        return d
