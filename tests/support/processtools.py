# -*- test-case-name: tests.processes.test_process -*-
"""
Helpers for tests that run a real C{twist resonate} child process.

The child is spawned with C{reactor.spawnProcess}, so nothing blocks the
reactor while it starts, serves and stops; its output is collected, and the
address it listens on is read from its log line
C{starting http server addr=HOST:PORT}, so tests can listen on port 0.

The server and the C{resonate} command run from the install the tests
check: when C{RESONATE_TEST_PLAIN_VENV} names a virtualenv made with the
README's first command (C{python3 -m venv DIR && DIR/bin/pip install -e .},
no test extra), from that virtualenv, so that a dependency only the test
extra brings fails these tests as it would fail users; without it, from
the interpreter running the tests.  C{.ci/run} sets it.
"""

import json
import os
import re
import signal
import sys
import time
from collections import namedtuple

import treq
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.web.client import HTTPConnectionPool

from tests.support.apitools import Response

#: How long a child may take to start listening, in seconds.
START_TIMEOUT = 60.0

#: How long a child may take to end once asked to, in seconds.
END_TIMEOUT = 30.0

#: The variable naming the plain install's virtualenv (see the module
#: docstring); a relative path is taken from the project root.
PLAIN_VENV_VARIABLE = "RESONATE_TEST_PLAIN_VENV"

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_LISTENING = re.compile(r"starting http server addr=(\S+)")
_LISTENING_GRPC = re.compile(r"starting grpc server addr=(\S+)")
_METRICS_LISTENING = re.compile(r"starting metrics server addr=(\S*):(\d+)")


def plainVenv():
    """
    The plain install's virtualenv, from C{$RESONATE_TEST_PLAIN_VENV}.

    @return: its absolute path, or L{None} when the variable is not set.
    """
    directory = os.environ.get(PLAIN_VENV_VARIABLE)
    if not directory:
        return None
    return os.path.join(_ROOT, directory)


def installedExecutable(name):
    """
    The path of the executable C{name} (C{python}, C{twist}, C{resonate})
    of the install the process tests run: the plain virtualenv's
    C{bin/NAME} when there is one, else the one beside the interpreter
    running the tests (L{sys.executable} itself for C{python}).

    @raise RuntimeError: if C{$RESONATE_TEST_PLAIN_VENV} is set but has no
        such executable, so that a broken setting fails loudly instead of
        testing something else.
    """
    venv = plainVenv()
    if venv is None:
        if name == "python":
            return sys.executable
        return os.path.join(os.path.dirname(sys.executable), name)
    path = os.path.join(venv, "bin", name)
    if not os.access(path, os.X_OK):
        raise RuntimeError(
            f"{PLAIN_VENV_VARIABLE}={os.environ[PLAIN_VENV_VARIABLE]}: "
            f"{path} is not an executable (make the virtualenv with "
            f"'python3 -m venv DIR && DIR/bin/pip install -e .')"
        )
    return path


def twistCommand():
    """
    The argument vector that runs C{twist}: C{PYTHON -m twisted}, with the
    install's interpreter.
    """
    return [installedExecutable("python"), "-m", "twisted"]


def resonateCommand():
    """
    The argument vector that runs the C{resonate} command line: the plain
    install's C{resonate} script when there is one (as users run it), else
    C{python -m resonate.cli.main} with the interpreter running the tests
    (whose script may not be installed).
    """
    if plainVenv() is None:
        return [sys.executable, "-m", "resonate.cli.main"]
    return [installedExecutable("resonate")]


class ProcessExit(namedtuple("ProcessExit", ["code", "signal"])):
    """
    How a child process ended: C{code} is its exit status (L{None} if a
    signal killed it), C{signal} the number of the signal that killed it
    (L{None} if it exited).
    """

    __slots__ = ()

    @property
    def stoppedByTERM(self):
        """
        Whether this is how C{twist} ends after a clean SIGTERM shutdown: it
        re-raises the signal, so the process dies of SIGTERM (status 143 as
        a shell reports it).
        """
        return self.signal == signal.SIGTERM or self.code == 128 + signal.SIGTERM

    def __str__(self):
        if self.signal is not None:
            return f"killed by signal {self.signal}"
        return f"exit status {self.code}"


class ProcessFailed(Exception):
    """
    A child did not do what a test waited for: it ended first, or did not
    do it in time.  The message holds everything the child printed.
    """


class ChildProcess(ProcessProtocol):
    """
    A child process whose output is collected and whose end can be awaited.

    @ivar args: the full argument vector.
    @ivar env: its environment.
    @ivar exit: the L{ProcessExit} once the child has ended, else L{None}.
    """

    def __init__(self, args, env=None, reactor=None):
        """
        @param args: the argument vector; C{args[0]} is the executable.
        @param env: variables to set (or, with value L{None}, unset) on top
            of C{os.environ}.
        """
        if reactor is None:
            from twisted.internet import reactor
        self._reactor = reactor
        self.args = list(args)
        self.env = dict(os.environ)
        for name, value in (env or {}).items():
            if value is None:
                self.env.pop(name, None)
            else:
                self.env[name] = value
        self._stdout = []
        self._stderr = []
        self._outputWaiters = []
        self._endWaiters = []
        self.exit = None

    # Starting and stopping

    def spawn(self, path=None):
        """
        Start the child.

        @param path: its working directory (the test's by default).
        @return: C{self}.
        """
        self._reactor.spawnProcess(
            self, self.args[0], self.args, env=self.env, path=path
        )
        return self

    @property
    def pid(self):
        """
        The child's process id, or L{None} once it has ended.
        """
        return self.transport.pid if self.transport is not None else None

    @property
    def running(self):
        """
        Whether the child has not ended yet.
        """
        return self.transport is not None and self.exit is None

    def signal(self, name):
        """
        Send the signal named C{name} (C{"TERM"}, C{"KILL"}, C{"INT"}).
        """
        self.transport.signalProcess(name)

    @property
    def ended(self):
        """
        A new C{Deferred} that fires with the L{ProcessExit} once the child
        has ended.
        """
        if self.exit is not None:
            return succeed(self.exit)
        d = Deferred()
        self._endWaiters.append(d)
        return d

    def waitForEnd(self, timeout=END_TIMEOUT):
        """
        Like L{ended}, but fail with L{ProcessFailed} after C{timeout}
        seconds, naming what the child printed.
        """
        d = self.ended
        return _withTimeout(
            d, timeout, self._reactor,
            lambda: ProcessFailed(
                f"the child did not end within {timeout}s; output:\n"
                f"{self.output}"
            ),
        )

    def kill(self):
        """
        Kill the child (SIGKILL) if it is still running.

        @return: a C{Deferred} that fires once it has ended.
        """
        if not self.running:
            return succeed(self.exit)
        self.signal("KILL")
        return self.waitForEnd()

    def descendants(self):
        """
        The process ids of every process descended from the child, now
        (read from C{/proc/<pid>/task/*/children}; Linux only).

        @return: a list, parents before their children; empty once the
            child has ended.
        """
        if not self.running or self.pid is None:
            return []
        return _descendants(self.pid)

    def killTree(self):
        """
        SIGKILL the child and every process descended from it, at once, as
        a power cut would: the child is stopped first (SIGSTOP), so that it
        starts no new process and sees none end, then its descendants and
        it are killed.

        @return: the process ids of the descendants that were killed (they
            are no children of the test's: see L{waitGone}).
        """
        if not self.running or self.pid is None:
            return []
        try:
            os.kill(self.pid, signal.SIGSTOP)
        except ProcessLookupError:
            return []
        found = _descendants(self.pid)
        for pid in reversed(found):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.kill(self.pid, signal.SIGKILL)
        return found

    # Output

    @property
    def stdout(self):
        """
        Everything the child wrote to its stdout so far, as text.
        """
        return b"".join(self._stdout).decode("utf-8", "replace")

    @property
    def stderr(self):
        """
        Everything the child wrote to its stderr so far, as text.
        """
        return b"".join(self._stderr).decode("utf-8", "replace")

    @property
    def output(self):
        """
        stdout, then stderr, as text.
        """
        return self.stdout + self.stderr

    def lines(self):
        """
        Every line of L{output}.
        """
        return self.output.splitlines()

    def waitForOutput(self, pattern, timeout=START_TIMEOUT):
        """
        Wait until the child's output matches C{pattern}.

        @param pattern: a regular expression (C{str} or compiled).
        @return: a C{Deferred} firing with the match, or failing with
            L{ProcessFailed} if the child ends first or C{timeout}
            seconds pass.
        """
        pattern = re.compile(pattern)
        match = pattern.search(self.output)
        if match is not None:
            return succeed(match)
        if self.exit is not None:
            return _failed(self._endedBefore(pattern))
        d = Deferred()
        self._outputWaiters.append((pattern, d))
        return _withTimeout(
            d, timeout, self._reactor,
            lambda: ProcessFailed(
                f"no output matching {pattern.pattern!r} within {timeout}s; "
                f"output:\n{self.output}"
            ),
        )

    def _endedBefore(self, pattern):
        return ProcessFailed(
            f"the child ended ({self.exit}) before printing "
            f"{pattern.pattern!r}; output:\n{self.output}"
        )

    # ProcessProtocol

    def outReceived(self, data):
        self._stdout.append(data)
        self._checkOutput()

    def errReceived(self, data):
        self._stderr.append(data)
        self._checkOutput()

    def _checkOutput(self):
        if not self._outputWaiters:
            return
        output = self.output
        waiting, self._outputWaiters = self._outputWaiters, []
        for pattern, d in waiting:
            if d.called:
                continue
            match = pattern.search(output)
            if match is None:
                self._outputWaiters.append((pattern, d))
            else:
                d.callback(match)

    def processEnded(self, reason):
        if reason.check(ProcessDone):
            self.exit = ProcessExit(0, None)
        else:
            reason.trap(ProcessTerminated)
            self.exit = ProcessExit(reason.value.exitCode, reason.value.signal)
        waiting, self._outputWaiters = self._outputWaiters, []
        for pattern, d in waiting:
            if not d.called:
                d.errback(self._endedBefore(pattern))
        waiting, self._endWaiters = self._endWaiters, []
        for d in waiting:
            if not d.called:  # it may have timed out already
                d.callback(self.exit)


class ResonateProcess(ChildProcess):
    """
    One C{twist --log-format=text resonate ...} child process, run from
    the install under test (L{twistCommand}).

    @ivar url: C{http://HOST:PORT} once listening.
    @ivar host: the host it listens on, once listening.
    @ivar port: the port it listens on, once listening.
    """

    def __init__(self, flags, env=None, reactor=None, twistArgs=()):
        """
        @param flags: the arguments after C{resonate}.
        @param env: as for L{ChildProcess}.
        @param twistArgs: arguments for C{twist} itself, before C{resonate}.
        """
        super().__init__(
            [*twistCommand(), "--log-format=text",
             *twistArgs, "resonate", *flags],
            env=env,
            reactor=reactor,
        )
        self.url = self.host = self.port = None

    async def listening(self, timeout=START_TIMEOUT):
        """
        Wait until the child logs that it listens, and read the address.

        @return: C{self}, with L{url}, L{host} and L{port} set.
        """
        match = await self.waitForOutput(_LISTENING, timeout)
        host, _, port = match.group(1).rpartition(":")
        self.host = host
        self.port = int(port)
        self.url = f"http://{host}:{self.port}"
        return self

    async def grpcAddress(self, timeout=START_TIMEOUT):
        """
        Wait until the child logs that its gRPC server listens.

        @return: the C{host:port} it listens on.
        """
        match = await self.waitForOutput(_LISTENING_GRPC, timeout)
        return match.group(1)

    async def metricsURL(self, timeout=START_TIMEOUT):
        """
        Wait until the child logs that its metrics server listens.

        @return: the URL of its C{/metrics} page on 127.0.0.1 (it listens on
            every interface).
        """
        match = await self.waitForOutput(_METRICS_LISTENING, timeout)
        return f"http://127.0.0.1:{match.group(2)}/metrics"


def _descendants(pid):
    """
    Every process descended from C{pid}, parents first.
    """
    found = []
    pending = [pid]
    while pending:
        parent = pending.pop(0)
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    children = [int(c) for c in f.read().split()]
            except OSError:
                continue
            for child in children:
                if child not in found:
                    found.append(child)
                    pending.append(child)
    return found


def isAlive(pid):
    """
    Whether process C{pid} exists and is not a zombie.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


async def waitGone(pids, timeout=END_TIMEOUT, reactor=None):
    """
    Wait until none of C{pids} is alive (they need not be the test's
    children).

    @return: the list of those still alive after C{timeout} seconds (empty
        when all are gone).
    """
    if reactor is None:
        from twisted.internet import reactor
    from twisted.internet.task import deferLater

    deadline = reactor.seconds() + timeout
    while True:
        alive = [pid for pid in pids if isAlive(pid)]
        if not alive or reactor.seconds() > deadline:
            return alive
        await deferLater(reactor, 0.05, lambda: None)


def _failed(exception):
    d = Deferred()
    d.errback(exception)
    return d


def _withTimeout(d, timeout, reactor, makeError):
    """
    Fail C{d} with C{makeError()} if it has not fired after C{timeout}
    seconds.
    """
    timer = reactor.callLater(timeout, lambda: d.called or d.errback(makeError()))

    def cancelTimer(result):
        if timer.active():
            timer.cancel()
        return result

    return d.addBoth(cancelTimer)


def _cleanUp(process):
    """
    Kill C{process} if the test left it running.
    """
    if process.transport is None:
        return None
    return process.kill()


async def runProcess(testCase, args, env=None, path=None, timeout=END_TIMEOUT):
    """
    Run a command to its end, killing it if it outlives C{timeout} seconds
    (then this fails with L{ProcessFailed}) or the test.

    @param args: the argument vector; C{args[0]} is the executable.
    @param env: as for L{ChildProcess}.
    @param path: the working directory.
    @return: the ended L{ChildProcess}; its C{exit} says how it ended.
    """
    process = ChildProcess(args, env=env)
    process.spawn(path)
    testCase.addCleanup(_cleanUp, process)
    await process.waitForEnd(timeout)
    return process


def _ephemeralFlags(flags):
    """
    C{flags}, with every listener the flags do not place put on an
    ephemeral port of 127.0.0.1, so that test servers never collide.
    """
    for flag, value in [
        ("--api-http-addr", "127.0.0.1:0"),
        ("--api-grpc-addr", "127.0.0.1:0"),
        ("--metrics-port", "0"),
    ]:
        if flag not in flags and not any(f.startswith(flag + "=") for f in flags):
            flags = (flag, value) + tuple(flags)
    return flags


def spawnResonate(testCase, *flags, env=None, twistArgs=(), reactor=None):
    """
    Start C{twist resonate FLAGS} and make sure the test kills it if the
    test does not end it.  Listeners the flags do not place listen on
    ephemeral ports of 127.0.0.1.

    @return: the L{ResonateProcess}, spawned.
    """
    flags = _ephemeralFlags(flags)
    process = ResonateProcess(flags, env=env, reactor=reactor, twistArgs=twistArgs)
    process.spawn()
    testCase.addCleanup(_cleanUp, process)
    return process


async def startResonate(testCase, *flags, env=None, timeout=START_TIMEOUT):
    """
    Start C{twist resonate} on ephemeral ports of 127.0.0.1 (unless
    C{flags} name other addresses) and wait until it listens.

    @return: the listening L{ResonateProcess}.
    """
    process = spawnResonate(testCase, *flags, env=env)
    return await process.listening(timeout)


async def runResonate(testCase, *flags, env=None, timeout=END_TIMEOUT):
    """
    Run C{twist resonate FLAGS} to its end (for C{--help} and for startups
    that must fail).

    @return: the ended L{ResonateProcess}; its C{exit} says how it ended.
    """
    process = spawnResonate(testCase, *flags, env=env)
    await process.waitForEnd(timeout)
    return process


async def stopResonate(process, timeout=END_TIMEOUT):
    """
    Stop C{process} with SIGTERM and wait for it.

    @return: the L{ProcessExit}.
    """
    process.signal("TERM")
    return await process.waitForEnd(timeout)


def sqliteFlags(path):
    """
    The flags for the SQLite store in the file C{path}.
    """
    return ("--aio-store", "sqlite", "--aio-store-sqlite-path", path)


class HTTPClient:
    """
    Plain HTTP requests to a child's API, one connection per request.
    """

    def __init__(self, url, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.url = url
        self.pool = HTTPConnectionPool(reactor, persistent=False)

    async def request(self, method, path, body=None, headers=None):
        """
        Send a request with a JSON C{body}.

        @return: an L{tests.support.apitools.Response}.
        """
        data = None if body is None else json.dumps(body).encode("utf-8")
        response = await treq.request(
            method,
            (self.url + path).encode("utf-8"),
            headers=headers or {},
            data=data,
            pool=self.pool,
        )
        content = await treq.content(response)
        return Response(response.code, response.headers, content)

    def create(self, promiseId, timeout, ikey=None, **fields):
        """
        C{POST /promises}.
        """
        headers = {} if ikey is None else {"idempotency-key": ikey}
        return self.request(
            "POST", "/promises", dict(id=promiseId, timeout=timeout, **fields),
            headers,
        )

    def complete(self, promiseId, state, ikey=None, **fields):
        """
        C{PATCH /promises/{id}}.
        """
        headers = {} if ikey is None else {"idempotency-key": ikey}
        return self.request(
            "PATCH", "/promises/" + promiseId, dict(state=state, **fields), headers
        )

    def read(self, promiseId):
        """
        C{GET /promises/{id}}.
        """
        return self.request("GET", "/promises/" + promiseId)


def wallNow():
    """
    The wall clock in epoch milliseconds, as the server reads it.
    """
    return int(time.time() * 1000)


def pause(seconds):
    """
    Wait C{seconds} on the reactor, blocking nothing.

    @return: a C{Deferred} firing with L{None} once they have passed.
    """
    from twisted.internet import reactor

    return deferLater(reactor, seconds, lambda: None)


async def waitUntil(description, probe, timeout=10.0, interval=0.05):
    """
    Call C{probe} (a function, or a coroutine function) every C{interval}
    seconds until it returns something true.

    @return: that value.
    @raise AssertionError: naming C{description}, if it has not within
        C{timeout} seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if hasattr(value, "__await__"):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{description}: not within {timeout}s")
        await pause(interval)


async def stopCleanly(testCase, server):
    """
    Stop C{server} with C{SIGTERM} and check, through C{testCase}, that it
    ended by that signal and logged no traceback.

    @return: its L{ProcessExit}.
    """
    exit = await stopResonate(server)
    testCase.assertTrue(exit.stoppedByTERM, f"{exit}\n{server.output}")
    testCase.assertNotIn("Traceback", server.output, server.output)
    return exit


class SQLiteStore:
    """
    A test case mixin (listed before the mixin whose C{storeFlags} it
    supplies): each test's server on a SQLite database file of its own in
    the test's temporary directory, at C{self.path}.
    """

    def setUp(self):
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        self.path = os.path.join(directory, "resonate.db")

    def storeFlags(self):
        return sqliteFlags(self.path)
