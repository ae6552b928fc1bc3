# -*- test-case-name: tests.integration.test_tap -*-
"""
Tests for L{resonate.tap}: options, and the service they build.
"""

import json
import sys

import treq
from twisted.internet import reactor
from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.python import usage
from twisted.trial import unittest
from twisted.web.client import HTTPConnectionPool
from twisted.web.resource import Resource
from twisted.web.server import Site

from resonate import tap
from resonate.config import KEYS
from resonate.config.stores import optionFlag
from resonate.services.server import ResonateService
from resonate.store.memory import MemoryStore
from resonate.store.providers import DuplicateStoreKind, storeProviders
from resonate.tap import buildService, makeOptions, makeService


def parse(*argv):
    options = makeOptions()
    options.parseOptions(list(argv))
    return options


class OptionsTests(unittest.SynchronousTestCase):
    """
    Tests for L{Options}.
    """

    def test_everyKeyIsAFlag(self):
        """
        Every configuration key can be given as a flag.
        """
        options = makeOptions()
        flags = set(options.longOpt)
        for key in KEYS:
            # A switch (--debug) is given bare; every other flag takes a value.
            self.assertIn(key.flag if key.switch else key.flag + "=", flags)
        self.assertIn("debug", flags)
        self.assertIn("tasks-retry-timeout=", flags)
        for kind in ["sqlite", "postgres"]:
            for option in options.providers[kind].options:
                self.assertIn(optionFlag(kind, option.key) + "=", flags)

    def test_flagOverridesDefault(self):
        """
        A flag's value reaches the configuration.
        """
        options = parse("--api-size", "7", "--aio-store", "memory")
        self.assertEqual(options.config.get("api.size"), 7)
        self.assertEqual(options.storeProvider.name, "memory")

    def test_debugSwitch(self):
        """
        C{--debug} is given bare and turns debug operations on; they are
        off without it.
        """
        self.assertIs(parse("--debug").config.get("debug"), True)
        self.assertIs(parse().config.get("debug"), False)

    def test_badValueIsUsageError(self):
        """
        A bad value is a usage error naming the key.
        """
        error = self.assertRaises(usage.UsageError, parse, "--api-size", "x")
        self.assertIn("api.size", str(error))

    def test_unknownStoreKind(self):
        """
        An unknown store kind is a usage error listing the kinds.
        """
        error = self.assertRaises(usage.UsageError, parse, "--aio-store", "nope")
        self.assertIn("unknown store kind 'nope'", str(error))
        # Every installed kind is named (a store plugin may add more).
        installed = str(error).split("installed: ")[1].split(")")[0].split(", ")
        self.assertTrue({"memory", "postgres", "sqlite"} <= set(installed))

    def test_shortUsageAfterError(self):
        """
        After a configuration error the usage printed with it is one line
        saying where help is, not every flag.
        """
        options = makeOptions()
        self.assertRaises(
            usage.UsageError, options.parseOptions, ["--api-size", "x"]
        )
        self.assertEqual(
            options.getUsage(), "Run 'twist resonate --help' for the options."
        )
        self.assertIn("--api-size=", makeOptions().getUsage())

    def test_unknownFlagSuggested(self):
        """
        A misspelt flag is refused with the closest flag suggested, a store
        option's included.
        """
        error = self.assertRaises(
            usage.UsageError, parse, "--aio-store-sqlite-pth", "x.db"
        )
        self.assertEqual(
            str(error),
            "option --aio-store-sqlite-pth not recognized; did you mean "
            "--aio-store-sqlite-path?",
        )
        error = self.assertRaises(usage.UsageError, parse, "--zzzzzz")
        self.assertEqual(str(error), "option --zzzzzz not recognized")

    def test_version(self):
        """
        C{--version} prints the server's version, not Twisted's.
        """
        import resonate

        output = []
        self.patch(sys, "stdout", _Lines(output))
        error = self.assertRaises(SystemExit, parse, "--version")
        self.assertEqual(error.code, 0)
        self.assertEqual("".join(output), f"resonate {resonate.__version__}\n")

    def test_duplicateStoreKind(self):
        """
        Two plugins claiming one store kind are a usage error naming both.
        """
        providers = storeProviders()

        def duplicate():
            raise DuplicateStoreKind(
                "sqlite", ["twisted.plugins.a.sqlite", "twisted.plugins.b.x"],
                providers,
            )

        self.patch(tap, "storeProviders", duplicate)
        error = self.assertRaises(usage.UsageError, parse, "--aio-store", "memory")
        self.assertIn(
            "twisted.plugins.a.sqlite and twisted.plugins.b.x", str(error)
        )


class _Lines:
    """
    A file that appends what is written to a list.
    """

    def __init__(self, lines):
        self._lines = lines

    def write(self, text):
        self._lines.append(text)

    def flush(self):
        pass


class BuildServiceTests(unittest.TestCase):
    """
    Tests for L{buildService} and L{makeService}.
    """

    async def test_serves(self):
        """
        The built service listens where configured and serves the API over
        its store; stopping it closes the store.
        """
        options = parse(
            "--api-http-addr", "127.0.0.1:0", "--api-grpc-addr", "127.0.0.1:0",
            "--metrics-port", "0",
            "--aio-store", "memory",
        )
        store = MemoryStore()
        closed = []
        store.close = lambda: closed.append(True) or succeed(None)
        service = buildService(options.config, store, reactor)
        self.assertIsInstance(service, ResonateService)
        service.startService()
        http = service.getServiceNamed("http")
        url = f"http://127.0.0.1:{http.port.getHost().port}/promises"
        pool = HTTPConnectionPool(reactor, persistent=False)
        response = await treq.post(
            url, json.dumps({"id": "x", "timeout": 2**62}).encode(), pool=pool
        )
        self.assertEqual(response.code, 201)
        await treq.content(response)
        await service.stopService()
        self.assertEqual(closed, [True])

    async def test_metricsAddr(self):
        """
        The metrics listener binds C{metrics.addr} (every interface when it
        is empty, the default), and logs the host as configured.
        """
        for flags, host in [((), "0.0.0.0"), (("--metrics-addr", "127.0.0.1"), "127.0.0.1")]:
            options = parse(
                "--api-http-addr", "127.0.0.1:0", "--api-grpc-addr", "127.0.0.1:0",
                "--metrics-port", "0", "--aio-store", "memory", *flags,
            )
            service = buildService(options.config, MemoryStore(), reactor)
            service.startService()
            try:
                listener = service.getServiceNamed("metrics")
                self.assertEqual(listener.port.getHost().host, host, flags)
            finally:
                await service.stopService()

    def test_metricsAddrIPv6(self):
        """
        An IPv6 C{metrics.addr} binds that interface (the supervisor's
        listener is made the same way).
        """
        from resonate.tap import _metricsListener

        options = parse("--metrics-addr", "::1", "--metrics-port", "0")
        listener = _metricsListener(reactor, options.config, Site(Resource()))
        try:
            listener.startService()
        except Exception as e:
            raise unittest.SkipTest(f"no IPv6 loopback: {e}")
        self.addCleanup(listener.stopService)
        self.assertEqual(listener.port.getHost().host, "::1")

    def test_makeServiceOpensStore(self):
        """
        C{makeService} opens the configured store before anything runs; a
        store that cannot open stops startup with one line.
        """
        path = self.mktemp()
        options = parse("--aio-store-sqlite-path", path + "/missing/dir/x.db")
        error = self.assertRaises(SystemExit, makeService, options, reactor)
        self.assertIn("cannot open the sqlite store", str(error))

    def test_makeServiceWarnsOfIgnoredKeys(self):
        """
        C{makeService} logs a warning for each key set that is accepted for
        the Go server's compatibility and ignored, before anything opens.
        """
        from twisted.logger import LogLevel, formatEvent, globalLogPublisher

        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        path = self.mktemp()
        options = parse(
            "--aio-size", "5", "--system-notification-cache-size", "7",
            "--aio-store-sqlite-path", path + "/missing/dir/x.db",
        )
        self.assertRaises(SystemExit, makeService, options, reactor)
        warnings = [
            formatEvent(event) for event in events
            if event.get("log_level") == LogLevel.warn
        ]
        self.assertEqual(
            warnings,
            [
                "configuration key aio.size is accepted for the Go server's "
                "compatibility and ignored",
                "configuration key system.notificationCacheSize is accepted "
                "for the Go server's compatibility and ignored",
            ],
        )

    def test_makeServiceRaisesFileLimit(self):
        """
        C{makeService} raises the soft limit on open files to the hard
        limit, so that a thousand connections fit under it.
        """
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard <= 256:
            raise unittest.SkipTest(f"the hard file limit ({hard}) leaves no room")
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        path = self.mktemp()
        options = parse("--aio-store-sqlite-path", path + "/missing/dir/x.db")
        self.assertRaises(SystemExit, makeService, options, reactor)
        self.assertEqual(resource.getrlimit(resource.RLIMIT_NOFILE), (hard, hard))

    def test_makeServiceWarnsOfDebug(self):
        """
        With C{--debug}, C{makeService} logs a warning that debug
        operations are enabled, before anything opens; without it, nothing
        is said.
        """
        from twisted.logger import LogLevel, formatEvent, globalLogPublisher

        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)

        def warnings(*argv):
            del events[:]
            path = self.mktemp()
            options = parse(
                *argv, "--aio-store-sqlite-path", path + "/missing/dir/x.db"
            )
            self.assertRaises(SystemExit, makeService, options, reactor)
            return [
                formatEvent(event) for event in events
                if event.get("log_level") == LogLevel.warn
            ]

        [warning] = warnings("--debug")
        self.assertIn("debug operations are enabled (--debug)", warning)
        self.assertEqual(warnings(), [])


class _RecordingStore:
    """
    A L{MemoryStore} wrapper that records the keyword arguments of the
    background sweeps.

    @ivar calls: C{(method, kwargs)} per sweep call.
    """

    def __init__(self):
        self._store = MemoryStore()
        self.calls = []

    def __getattr__(self, name):
        return getattr(self._store, name)

    def _record(self, method, args, kwargs):
        self.calls.append((method, kwargs))
        return getattr(self._store, method)(*args, **kwargs)

    def timeoutPromises(self, *args, **kwargs):
        return self._record("timeoutPromises", args, kwargs)

    def expireTasks2026(self, *args, **kwargs):
        return self._record("expireTasks2026", args, kwargs)

    def fireSchedules(self, *args, **kwargs):
        return self._record("fireSchedules", args, kwargs)


class BackgroundWiringTests(unittest.TestCase):
    """
    How L{buildService} wires the background loops, the retry timeout and
    debug control, on a L{Clock} (the service is built, never started).
    """

    def build(self, *argv):
        """
        Build the service over a L{_RecordingStore}, recording what
        L{Operations} and L{HTTPAPI} were given.

        @return: C{(service, store, built)}: C{built} maps C{"operations"}
            and C{"http"} to the keyword arguments each was made with.
        """
        from resonate.api import http, operations

        built = {}

        class RecordingOperations(operations.Operations):
            def __init__(self, *args, **kwargs):
                built["operations"] = kwargs
                super().__init__(*args, **kwargs)

        class RecordingHTTPAPI(http.HTTPAPI):
            def __init__(self, *args, **kwargs):
                built["http"] = kwargs
                super().__init__(*args, **kwargs)

        self.patch(operations, "Operations", RecordingOperations)
        self.patch(http, "HTTPAPI", RecordingHTTPAPI)
        options = parse("--aio-store", "memory", *argv)
        store = _RecordingStore()
        clock = Clock()
        clock.advance(1000)
        service = buildService(options.config, store, clock)
        return service, store, clock, built

    def test_loops(self):
        """
        The background loops are the promise and 2026 task timeout sweeps,
        the lock sweep, the scheduler and the dispatcher.
        """
        service, _, _, _ = self.build()
        for name in [
            "timeout-promises",
            "timeout-tasks",
            "timeout-locks",
            "schedule-promises",
            "enqueue-tasks",
        ]:
            self.assertIsNotNone(service.getServiceNamed(name))

    def test_retryTimeout(self):
        """
        C{tasks.retryTimeout}, in milliseconds, reaches the operations, the
        promise and task timeout sweeps and the scheduler.
        """
        service, store, clock, built = self.build("--tasks-retry-timeout", "5s")
        self.assertEqual(built["operations"]["retryTimeout"], 5000)
        for name in ["timeout-promises", "timeout-tasks", "schedule-promises"]:
            loop = service.getServiceNamed(name)
            loop.startService()
            self.addCleanup(loop.stopService)
        self.assertEqual(
            store.calls,
            [
                ("timeoutPromises", {"retryTimeout": 5000}),
                ("expireTasks2026", {"retryTimeout": 5000}),
                ("fireSchedules", {"retryTimeout": 5000}),
            ],
        )

    def test_noDebug(self):
        """
        Without C{--debug}, the HTTP API gets no debug control.
        """
        _, _, _, built = self.build()
        self.assertIsNone(built["http"]["debug"])

    def test_debug(self):
        """
        With C{--debug}, the HTTP API gets a L{DebugControl} that pauses
        every background loop.
        """
        from resonate.services.debug import DebugControl

        service, store, clock, built = self.build("--debug")
        debug = built["http"]["debug"]
        self.assertIsInstance(debug, DebugControl)
        names = [
            "timeout-promises",
            "timeout-tasks",
            "timeout-locks",
            "schedule-promises",
            "enqueue-tasks",
        ]
        loops = [service.getServiceNamed(name) for name in names]
        self.successResultOf(debug.pause())
        self.assertEqual([loop.paused for loop in loops], [True] * len(loops))
        debug.resume()
        self.assertEqual([loop.paused for loop in loops], [False] * len(loops))
