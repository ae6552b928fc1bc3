# -*- test-case-name: tests.processes.test_cli -*-
"""
The server from the command line: C{resonate serve}, which runs it exactly
as C{twist resonate} does, and C{resonate dev}, the same server on a
throw-away SQLite database with the debug operations on, for local
development.
"""

import json
import os
import shutil
import sys
import tempfile

#: The usage line of C{resonate serve --help} (and C{dev}), in place of
#: the one twist would make from its own options and the plugin's.
SERVE_USAGE = "Usage: resonate {command} [options]"

#: What C{resonate serve} (and C{dev}) prints after an error in its flags
#: or configuration, instead of every flag.
SERVE_HELP_HINT = "Run 'resonate {command} --help' for the options."

#: The listeners C{resonate dev} reports, by service name.
LISTENERS = ("http", "grpc", "metrics")

#: The database file in C{resonate dev}'s directory.
DEV_DATABASE = "resonate.db"


def _withServeUsage(makeOptions, command):
    """
    C{makeOptions}, whose options say C{resonate COMMAND} on their usage
    line.
    """
    def make():
        options = makeOptions()
        options.getSynopsis = lambda: SERVE_USAGE.format(command=command)
        return options
    return make


def _twist(stderr, command):
    """
    C{twist} as C{resonate COMMAND} runs it: an error in the flags or the
    configuration prints C{error: ...} and L{SERVE_HELP_HINT} on
    C{stderr} and exits 2, as the client's usage errors do.

    @return: a subclass of twist's C{Twist}.
    """
    from twisted.application.twist._options import TwistOptions
    from twisted.application.twist._twist import Twist
    from twisted.python.usage import UsageError

    class ServeOptions(TwistOptions):
        @property
        def subCommands(self):
            for name, short, makeOptions, description in super().subCommands:
                yield (name, short, _withServeUsage(makeOptions, command),
                       description)

    class Serve(Twist):
        @staticmethod
        def options(argv):
            options = ServeOptions()
            try:
                options.parseOptions(argv[1:])
            except UsageError as e:
                hint = SERVE_HELP_HINT.format(command=command)
                stderr.write(f"error: {e}\n{hint}\n")
                raise SystemExit(2)
            return options

    return Serve


def serve(args, stderr=None, output="table"):
    """
    Run C{twist --log-format=text resonate ARGS}: the same plugin, flags and
    service as C{twist resonate}, in this process.  Log lines are text,
    for the person running the command, or with C{output="json"} JSON
    lines, for programs.
    """
    stderr = sys.stderr if stderr is None else stderr
    logFormat = "json" if output == "json" else "text"
    argv = ["resonate serve", f"--log-format={logFormat}", "resonate", *args]
    # With api.workers above 1 the supervisor starts each worker as the
    # twist command line it was run with (sys.argv): this one, not
    # "resonate serve ...", which twist cannot run.
    sys.argv = argv
    _twist(stderr, "serve").main(argv)
    return 0


def _isDebugWarning(event):
    """
    Whether C{event} is the server's startup warning that C{--debug} is on,
    which C{resonate dev}'s own line says instead.
    """
    return event.get("log_namespace") == "resonate.tap" and str(
        event.get("log_format", "")
    ).startswith("debug operations are enabled")


def _withoutDebugWarning(makeObserver):
    """
    A twist log observer factory like C{makeObserver}, whose observers drop
    L{_isDebugWarning}.
    """
    from twisted.logger import FilteringLogObserver, PredicateResult

    def make(logFile):
        return FilteringLogObserver(
            makeObserver(logFile),
            [lambda event: PredicateResult.no if _isDebugWarning(event)
             else PredicateResult.maybe],
        )
    return make


def _resonateService(application):
    """
    The L{resonate.services.server.ResonateService} under twist's
    application service.
    """
    for service in application:
        if getattr(service, "namedServices", {}).keys() >= set(LISTENERS):
            return service
    return None


def devLine(addresses, database, output):
    """
    What C{resonate dev} prints once it listens.

    @param addresses: service name (L{LISTENERS}) to C{host:port}.
    """
    if output == "json":
        return json.dumps({**addresses, "database": database, "debug": True})
    return (
        f"resonate dev: http://{addresses['http']} (HTTP and the 2026 protocol),"
        f" gRPC {addresses['grpc']},"
        f" metrics http://{addresses['metrics']}/metrics;"
        f" throw-away database {database}, debug operations on; Ctrl-C stops it"
    )


def dev(args, stdout=None, stderr=None, output="table"):
    """
    Run the server as L{serve} does, with C{--debug} and a SQLite database
    in a new temporary directory, which is deleted when the server stops
    (or fails to start).  Prints one line once every listener listens
    (L{devLine}); of the server's log, only warnings and errors.

    @param args: more flags for C{twist resonate}; they win over the
        ones this adds.
    """
    from twisted.internet.defer import gatherResults

    from resonate.services.listen import formatAddress

    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    directory = tempfile.mkdtemp(prefix="resonate-dev-")
    database = os.path.join(directory, DEV_DATABASE)

    def removeDirectory():
        shutil.rmtree(directory, ignore_errors=True)

    Serve = _twist(stderr, "dev")

    class Dev(Serve):
        @staticmethod
        def options(argv):
            options = Serve.options(argv)
            options["fileLogObserverFactory"] = _withoutDebugWarning(
                options["fileLogObserverFactory"]
            )
            return options

        @staticmethod
        def startService(reactor, service):
            Serve.startService(reactor, service)
            # After the store is closed: twist may end the process by
            # raising the signal that stopped it, past any finally.
            reactor.addSystemEventTrigger("after", "shutdown", removeDirectory)
            server = _resonateService(service)
            listening = gatherResults([
                server.getServiceNamed(name).whenListening()
                for name in LISTENERS
            ])

            def announce(ports):
                addresses = {
                    name: formatAddress(port.getHost())
                    for name, port in zip(LISTENERS, ports)
                }
                stdout.write(devLine(addresses, database, output) + "\n")
                stdout.flush()

            # Once the reactor runs, when ^C and SIGTERM stop it (and delete
            # the database) rather than kill the process at once.  A
            # listener that fails has logged why and stops the server.
            listening.addCallbacks(
                lambda ports: reactor.callWhenRunning(announce, ports),
                lambda failure: None,
            )

    logFormat = "json" if output == "json" else "text"
    argv = [
        # Warnings and errors on stderr: stdout is the one line.
        "resonate dev", f"--log-format={logFormat}", "--log-level=warn",
        "--log-file=+",
        "resonate", "--debug", "--aio-store", "sqlite",
        "--aio-store-sqlite-path", database,
        # Loopback unless told otherwise: the debug operations reset and
        # replay the store, not for other machines to call (nor its
        # metrics to read).
        "--api-http-addr", "127.0.0.1:8001", "--api-grpc-addr", "127.0.0.1:50051",
        "--metrics-addr", "127.0.0.1",
        *args,
    ]
    try:
        Dev.main(argv)
    finally:
        removeDirectory()
    return 0
