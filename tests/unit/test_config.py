# -*- test-case-name: tests.unit.test_config -*-
"""
Tests for L{resonate.config}: the key table, loading, checking, the shipped
C{etc/resonate.yml}, and the flags of C{twist resonate}.
"""

import copy
import operator
import os

import yaml
from twisted.python import usage
from twisted.python.filepath import FilePath
from twisted.trial import unittest

from resonate.config import (
    IGNORED_KEYS,
    Address,
    AddressKind,
    BoolKind,
    Config,
    ConfigError,
    DurationKind,
    EnumKind,
    HostKind,
    IntKind,
    InvalidValue,
    Key,
    MapKind,
    SizeKind,
    StoreOption,
    configKeys,
    StoreConfig,
    StrKind,
    flagsFromOptions,
    listenAddress,
    loadConfig,
    parseDuration,
    splitAddress,
    usageFlags,
    usageParameters,
    WorkersKind,
)
from resonate.store.providers import storeProviders

SHIPPED = FilePath(__file__).parent().parent().parent().child("etc").child("resonate.yml")

#: The store providers that ship with resonate (a third-party store installed
#: beside them adds keys these tests do not expect).
BUILTIN_PROVIDERS = {
    kind: provider
    for kind, provider in storeProviders().items()
    if kind in ("memory", "sqlite", "postgres")
}

#: Every key: the server's, then the built-in store kinds' options.
KEYS = configKeys(BUILTIN_PROVIDERS)[0]
KEYS_BY_FLAG = {key.flag: key for key in KEYS}
KEYS_BY_PATH = {key.path: key for key in KEYS}

CONNECTION = {
    "kind": "http",
    "name": "workers",
    "metadata": {"properties": {"url": "http://localhost:5001"}},
}
ROUTE = {
    "kind": "pattern",
    "name": "summarize",
    "target": {"connection": "workers", "queue": "{{.kind}}"},
    "metadata": {"properties": {"pattern": "/gpu/{kind}/*"}},
}


class ConfigTestMixin:
    """
    Helpers to write YAML files and load them.
    """

    def writeYaml(self, text):
        """
        Write C{text} to a fresh file and return its path.
        """
        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def loadYaml(self, document, flags=None):
        """
        Load a configuration from C{document} dumped as YAML.
        """
        return loadConfig(
            self.writeYaml(yaml.safe_dump(document, sort_keys=False)),
            flags,
            BUILTIN_PROVIDERS,
        )

    def assertErrors(self, expected, path=None, flags=None, document=None):
        """
        Loading fails with exactly the C{(path, message)} problems
        C{expected}; return the L{ConfigError}.
        """
        if document is not None:
            path = self.writeYaml(yaml.safe_dump(document, sort_keys=False))
        error = self.assertRaises(
            ConfigError, loadConfig, path, flags, BUILTIN_PROVIDERS
        )
        self.assertEqual(error.errors, expected)
        return error

    def assertFileValueRejected(self, path, value, message):
        """
        Setting key C{path} to C{value} in a file fails with C{message}.
        """
        document = value
        for part in reversed(path.split(".")):
            document = {part: document}
        self.assertErrors([(path, message)], document=document)

    def assertFlagRejected(self, flag, text, message):
        """
        Giving C{--flag text} fails with C{message} at the flag's key.
        """
        self.assertErrors(
            [(KEYS_BY_FLAG[flag].path, f"{message} (from flag --{flag})")],
            flags={flag: text},
        )


class KeyTableTests(unittest.SynchronousTestCase):
    """
    Tests for L{KEYS}.
    """

    def test_unique(self):
        """
        No two keys share a path or a flag.
        """
        self.assertEqual(len(KEYS_BY_PATH), len(KEYS))
        self.assertEqual(len(KEYS_BY_FLAG), len(KEYS))

    def test_defaultsParse(self):
        """
        Every default is a valid value of its key's kind.
        """
        for key in KEYS:
            key.parsedDefault()

    def test_keysAreFrozen(self):
        """
        A L{Key} cannot be changed.
        """
        from dataclasses import FrozenInstanceError

        self.assertRaises(FrozenInstanceError, setattr, KEYS[0], "default", 1)

    def test_noKeyIsASection(self):
        """
        No key's path is a prefix of another's, so the YAML layout is a tree
        of sections with keys at the leaves.
        """
        for key in KEYS:
            for other in KEYS:
                self.assertFalse(other.path.startswith(key.path + "."), other.path)

    def test_contractKeys(self):
        """
        The table has the flags and defaults of the contract, section 2.11.
        """
        expected = {
            "api-size": 100,
            "api-workers": 1,
            "api-base-url": "http://localhost:8001",
            "api-http-addr": "0.0.0.0:8001",
            "api-http-timeout": "10s",
            "api-http-max-body-size": 10485760,
            "api-http-idle-timeout": "60s",
            "api-http-auth-username": "",
            "api-http-auth-password": "",
            "api-auth-jwt-public-key": "",
            "api-auth-jwt-issuer": "",
            "api-auth-jwt-audience": "",
            "api-grpc-addr": "0.0.0.0:50051",
            "aio-size": 100,
            "aio-store": "sqlite",
            "aio-store-size": 100,
            "aio-store-workers": 1,
            "aio-store-batch-size": 100,
            "aio-store-retention": "0",
            "aio-store-sqlite-path": "resonate.db",
            "aio-store-sqlite-tx-timeout": "10s",
            "aio-store-sqlite-synchronous": "full",
            "aio-store-sqlite-reset": False,
            "aio-store-sqlite-cache-size": 10000,
            "aio-store-postgres-host": "localhost",
            "aio-store-postgres-port": 5432,
            "aio-store-postgres-username": "",
            "aio-store-postgres-password": "",
            "aio-store-postgres-database": "resonate",
            "aio-store-postgres-query": {},
            "aio-store-postgres-tx-timeout": "10s",
            "aio-store-postgres-reset": False,
            "aio-network-size": 100,
            "aio-network-workers": 3,
            "aio-network-batch-size": 100,
            "aio-network-timeout": "10s",
            "aio-queuing-size": 100,
            "aio-queuing-workers": 1,
            "aio-queuing-batch-size": 100,
            "aio-queuing-connections": [],
            "aio-queuing-routes": [],
            "system-notification-cache-size": 100,
            "system-submission-batch-size": 100,
            "system-completion-batch-size": 100,
            "system-schedule-batch-size": 10000,
            "system-timeout-interval": "1s",
            "system-timeout-batch-size": 1000,
            "tasks-retry-timeout": "30s",
            "messages-poll-interval": "100ms",
            "messages-batch-size": 100,
            "messages-max-age": "10m",
            "transports-http-push-concurrency": 256,
            "transports-http-push-connect-timeout": "10s",
            "transports-http-push-request-timeout": "180s",
            "transports-http-poll-max-connections": 1000,
            "transports-http-poll-buffer-size": 100,
            "metrics-addr": "",
            "metrics-port": 9090,
            "log-level": "info",
            "debug": False,
        }
        self.assertEqual({key.flag: key.default for key in KEYS}, expected)
        self.assertEqual(
            KEYS_BY_FLAG["aio-store"].path, "aio.subsystems.store.config.kind"
        )


class DefaultsTests(unittest.SynchronousTestCase):
    """
    Tests for L{loadConfig} with neither file nor flags.
    """

    def test_typedDefaults(self):
        """
        Every key has its default, typed.
        """
        config = loadConfig()
        self.assertEqual(config.get("api.size"), 100)
        self.assertEqual(config.get("api.subsystems.http.timeout"), 10.0)
        self.assertEqual(
            config.get("aio.subsystems.store.config.sqlite.txTimeout"), 10.0
        )
        self.assertIs(config.get("aio.subsystems.store.config.sqlite.reset"), False)
        self.assertEqual(config.get("aio.subsystems.store.config.postgres.query"), {})
        self.assertEqual(config.get("aio.subsystems.queuing.config.routes"), [])
        self.assertEqual(config.get("system.timeoutInterval"), 1.0)
        self.assertEqual(config.get("log.level"), "info")
        address = config.get("api.subsystems.http.addr")
        self.assertIsInstance(address, Address)
        self.assertEqual((address.host, address.port), ("0.0.0.0", 8001))
        for key in KEYS:
            self.assertEqual(config.get(key.path), key.parsedDefault())
            self.assertEqual(config.source(key.path), "default")

    def test_emptyFlags(self):
        """
        An empty flags mapping changes nothing.
        """
        self.assertEqual(loadConfig(None, {}), loadConfig())

    def test_unknownPath(self):
        """
        C{get} and C{source} raise L{KeyError} for a path that is no key.
        """
        config = loadConfig()
        self.assertRaises(KeyError, config.get, "api")
        self.assertRaises(KeyError, config.source, "api.nope")

    def test_frozen(self):
        """
        The L{Config} cannot be changed, not even through a list it returned.
        """
        from dataclasses import FrozenInstanceError

        config = loadConfig()
        self.assertRaises(FrozenInstanceError, setattr, config, "filePath", "x")
        self.assertRaises(TypeError, operator.setitem, config.values, "api.size", 1)
        config.get("aio.subsystems.queuing.config.routes").append(1)
        config.get("aio.subsystems.store.config.postgres.query")["a"] = "b"
        self.assertEqual(config.get("aio.subsystems.queuing.config.routes"), [])
        self.assertEqual(config.get("aio.subsystems.store.config.postgres.query"), {})


class FileTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for L{loadConfig} reading a YAML file.
    """

    def test_overridesDefaults(self):
        """
        Values in the file replace the defaults; other keys keep theirs.
        """
        config = self.loadYaml(
            {
                "api": {"size": 7, "subsystems": {"http": {"addr": ":9000"}}},
                "system": {"timeoutInterval": "1m30s"},
            }
        )
        self.assertEqual(config.get("api.size"), 7)
        self.assertEqual(config.source("api.size"), "file")
        self.assertEqual(config.get("api.subsystems.http.addr").port, 9000)
        self.assertEqual(config.get("system.timeoutInterval"), 90.0)
        self.assertEqual(config.get("aio.size"), 100)
        self.assertEqual(config.source("aio.size"), "default")

    def test_filePath(self):
        """
        The L{Config} remembers which file it read.
        """
        path = self.writeYaml("")
        self.assertEqual(loadConfig(path).filePath, path)
        self.assertIsNone(loadConfig().filePath)

    def test_emptyFile(self):
        """
        An empty file, or one with only comments, means every default.
        """
        self.assertEqual(
            loadConfig(self.writeYaml("# nothing\n")).values, loadConfig().values
        )

    def test_nullSection(self):
        """
        A section whose keys are all commented out (so YAML reads null) is
        empty.
        """
        config = loadConfig(self.writeYaml("api:\n  # size: 5\nmetrics:\n"))
        self.assertEqual(config.get("api.size"), 100)

    def test_missingFile(self):
        """
        A file that does not exist is an error naming it.
        """
        path = self.mktemp()
        error = self.assertRaises(ConfigError, loadConfig, path)
        self.assertEqual(len(error.errors), 1)
        self.assertIsNone(error.errors[0][0])
        self.assertIn(repr(path), str(error))
        self.assertTrue(
            str(error).startswith("error in configuration: cannot read file")
        )

    def test_unreadableFile(self):
        """
        A path that cannot be read (here, a directory) is an error naming
        it.
        """
        path = self.mktemp()
        os.mkdir(path)
        error = self.assertRaises(ConfigError, loadConfig, path)
        self.assertIn(f"cannot read file {path!r}", str(error))

    def test_syntaxError(self):
        """
        Invalid YAML is one error, on one line, naming the file and where.
        """
        path = self.writeYaml("api:\n  size: 1\n   bad: [\n")
        error = self.assertRaises(ConfigError, loadConfig, path)
        self.assertEqual(len(error.errors), 1)
        self.assertNotIn("\n", str(error))
        self.assertIn(f"file {path!r} is not valid YAML", str(error))
        self.assertIn("line 3", str(error))

    def test_syntaxErrorAndFlagErrors(self):
        """
        A broken file does not hide the problems with the flags.
        """
        path = self.writeYaml("a: [\n")
        error = self.assertRaises(ConfigError, loadConfig, path, {"api-size": "x"})
        self.assertEqual([p for p, _ in error.errors], [None, "api.size"])

    def test_notAMapping(self):
        """
        A file holding a list is an error.
        """
        path = self.writeYaml("- 1\n")
        self.assertErrors(
            [(None, f"file {path!r} must hold a mapping, got a list")], path
        )

    def test_duplicateKey(self):
        """
        A key written twice in one mapping is an error, not silently the
        last.
        """
        path = self.writeYaml("api:\n  size: 1\n  size: 2\n")
        self.assertErrors(
            [(None, f"file {path!r} repeats the key 'size' (line 3, column 3)")], path
        )

    def test_mergeKeys(self):
        """
        YAML merge keys work, and a key may override what it merges.
        """
        path = self.writeYaml(
            "aio:\n"
            "  subsystems:\n"
            "    store:\n"
            "      subsystem: &d {size: 1, workers: 2, batchSize: 3}\n"
            "    network:\n"
            "      subsystem:\n"
            "        <<: *d\n"
            "        size: 5\n"
        )
        config = loadConfig(path)
        self.assertEqual(config.get("aio.subsystems.network.subsystem.size"), 5)
        self.assertEqual(config.get("aio.subsystems.network.subsystem.workers"), 2)


class FlagTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for L{loadConfig} given flags.
    """

    def test_overrideFile(self):
        """
        A flag wins over the file, which wins over the default.
        """
        config = self.loadYaml(
            {"api": {"size": 7}, "aio": {"size": 8}},
            {"api-size": "9", "log-level": "DEBUG"},
        )
        self.assertEqual(config.get("api.size"), 9)
        self.assertEqual(config.source("api.size"), "flag")
        self.assertEqual(config.get("aio.size"), 8)
        self.assertEqual(config.source("aio.size"), "file")
        self.assertEqual(config.get("log.level"), "debug")
        self.assertEqual(config.source("log.level"), "flag")

    def test_dashes(self):
        """
        Flag names may be given with their leading dashes.
        """
        self.assertEqual(
            loadConfig(None, {"--metrics-port": "0"}).get("metrics.port"), 0
        )

    def test_typedValue(self):
        """
        A flag value that is not a string is checked as a YAML value.
        """
        config = loadConfig(None, {"api-size": 5, "aio-store-sqlite-reset": True})
        self.assertEqual(config.get("api.size"), 5)
        self.assertIs(config.get("aio.subsystems.store.config.sqlite.reset"), True)

    def test_unknownFlag(self):
        """
        A flag that names no key is an error.
        """
        error = self.assertErrors([(None, "unknown flag --nope")], flags={"nope": "1"})
        self.assertEqual(str(error), "error in configuration: unknown flag --nope")

    def test_errorNamesFlag(self):
        """
        A bad flag value is reported at its key path, naming the flag.
        """
        error = self.assertRaises(ConfigError, loadConfig, None, {"api-size": "abc"})
        self.assertEqual(
            str(error),
            "error in configuration at 'api.size': must be an integer >= 1, "
            "got 'abc' (from flag --api-size)",
        )

    def test_badFileValueOverridden(self):
        """
        A bad value in the file is reported even when a flag overrides it.
        """
        self.assertErrors(
            [("api.size", "must be an integer >= 1, got 'x'")],
            document={"api": {"size": "x"}},
            flags={"api-size": "5"},
        )


class ProtocolKeysTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for the keys of the 2026 protocol: C{tasks.retryTimeout},
    C{debug}, and C{api.baseUrl} as its C{serverUrl}.
    """

    def test_retryTimeout(self):
        """
        C{tasks.retryTimeout} is a duration, 30s unless set by file or
        flag; zero is refused (a task would be re-sent without pause).
        """
        self.assertEqual(loadConfig().get("tasks.retryTimeout"), 30.0)
        config = self.loadYaml({"tasks": {"retryTimeout": "1m"}})
        self.assertEqual(config.get("tasks.retryTimeout"), 60.0)
        config = loadConfig(None, {"tasks-retry-timeout": "250ms"})
        self.assertEqual(config.get("tasks.retryTimeout"), 0.25)
        self.assertFlagRejected(
            "tasks-retry-timeout",
            "0s",
            "must be a duration > 0 such as '250ms', '10s' or '1m30s', got '0s'",
        )
        self.assertFileValueRejected(
            "tasks.retryTimeout",
            30000,
            "must be a duration > 0 such as '250ms', '10s' or '1m30s', got "
            "30000 (a bare number has no unit; write e.g. '30000ms' or "
            "'30000s')",
        )

    def test_debug(self):
        """
        C{debug} is off unless the file or C{--debug} turns it on; the
        file takes a boolean.
        """
        self.assertIs(loadConfig().get("debug"), False)
        self.assertIs(self.loadYaml({"debug": True}).get("debug"), True)
        self.assertIs(loadConfig(None, {"debug": "true"}).get("debug"), True)
        self.assertFileValueRejected(
            "debug", "on", "must be a boolean (true or false), got 'on'"
        )

    def test_switchesAreBooleansOffByDefault(self):
        """
        Only a boolean key that is off by default can be a switch: a bare
        flag can only turn it on.
        """
        switches = [key for key in KEYS if key.switch]
        self.assertEqual([key.path for key in switches], ["debug"])
        for key in switches:
            self.assertIsInstance(key.kind, BoolKind)
            self.assertIs(key.default, False)

    def test_baseUrlIsServerUrl(self):
        """
        One key says where workers reach this server, for v0.5 task links
        and 2026 execute messages alike; its default is the reference
        server's C{server.url}.
        """
        key = KEYS_BY_PATH["api.baseUrl"]
        self.assertEqual(key.default, "http://localhost:8001")
        self.assertIn("serverUrl", key.help)
        self.assertNotIn("server.url", KEYS_BY_PATH)


class ErrorTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for how L{loadConfig} reports problems.
    """

    def test_allAtOnce(self):
        """
        Every problem in the file and the flags is reported, each with its
        path, one line each.
        """
        error = self.assertErrors(
            [
                ("api.sise", "unknown key; did you mean 'api.size'?"),
                ("aio.subsystems", "must be a mapping, got 3"),
                ("nonsense", "unknown key"),
                (None, "unknown flag --bogus"),
                (
                    "api.subsystems.http.timeout",
                    "must be a duration >= 0 such as "
                    "'250ms', '10s' or '1m30s', got 'soon'",
                ),
                ("metrics.port", "must be an integer from 0 to 65535, got 70000"),
                (
                    "log.level",
                    "must be one of 'debug', 'info', 'warn', 'error', "
                    "got 'loud' (from flag --log-level)",
                ),
            ],
            document={
                "api": {"sise": 1, "subsystems": {"http": {"timeout": "soon"}}},
                "aio": {"subsystems": 3},
                "nonsense": True,
                "metrics": {"port": 70000},
            },
            flags={"log-level": "loud", "bogus": "1"},
        )
        lines = str(error).split("\n")
        self.assertEqual(len(lines), 7)
        self.assertEqual(
            lines[0],
            "error in configuration at 'api.sise': unknown key; did you mean 'api.size'?",
        )

    def test_sectionIsScalar(self):
        """
        A scalar where a section belongs is an error, not a traceback.
        """
        self.assertErrors([("api", "must be a mapping, got 3")], document={"api": 3})

    def test_sectionIsList(self):
        """
        A list where a section belongs is an error.
        """
        self.assertErrors(
            [("aio.subsystems.store", "must be a mapping, got a list")],
            document={"aio": {"subsystems": {"store": [1]}}},
        )

    def test_keyIsSection(self):
        """
        A mapping where a key's value belongs is an error.
        """
        self.assertFileValueRejected(
            "api.size", {"a": 1}, "must be an integer >= 1, got a mapping"
        )

    def test_unknownKey(self):
        """
        An unknown key, at any depth, is an error with its path.
        """
        self.assertErrors(
            [("aio.subsystems.store.subsystem.threads", "unknown key")],
            document={"aio": {"subsystems": {"store": {"subsystem": {"threads": 2}}}}},
        )

    def test_unknownKeyInBuiltinStoreSection(self):
        """
        The sections of the built-in stores are checked like the rest.
        """
        self.assertErrors(
            [("aio.subsystems.store.config.sqlite.file", "unknown key")],
            document={
                "aio": {"subsystems": {"store": {"config": {"sqlite": {"file": "x"}}}}}
            },
        )

    def test_nonStringKey(self):
        """
        A key YAML does not read as a string (C{on} is a boolean) is an
        unknown key.
        """
        path = self.writeYaml("log:\n  on: 1\n")
        self.assertErrors(
            [("log.true", "unknown key (YAML does not read it as a string; quote it)")],
            path,
        )

    def test_null(self):
        """
        An empty value is not the default but an error.
        """
        path = self.writeYaml("api:\n  size:\n")
        self.assertErrors([("api.size", "must be an integer >= 1, got null")], path)

    def test_errorsArePairs(self):
        """
        C{errors} is a list of C{(path, message)} pairs.
        """
        error = ConfigError([("a.b", "bad"), (None, "worse")])
        self.assertEqual(error.errors, [("a.b", "bad"), (None, "worse")])
        self.assertEqual(
            str(error),
            "error in configuration at 'a.b': bad\nerror in configuration: worse",
        )


class IntKindTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for L{IntKind}.
    """

    def test_yaml(self):
        """
        YAML integers and digit strings are accepted.
        """
        kind = IntKind(minimum=1)
        self.assertEqual(kind.parseYaml(5), 5)
        self.assertEqual(kind.parseYaml("5432"), 5432)
        self.assertEqual(kind.parseFlag("+7"), 7)

    def test_bad(self):
        """
        Booleans, floats, words and out-of-range numbers are refused.
        """
        self.assertFileValueRejected(
            "api.size", True, "must be an integer >= 1, got true"
        )
        self.assertFileValueRejected(
            "api.size", 1.5, "must be an integer >= 1, got 1.5"
        )
        self.assertFileValueRejected("api.size", 0, "must be an integer >= 1, got 0")
        self.assertFileValueRejected(
            "api.size", "1_000", "must be an integer >= 1, got '1_000'"
        )
        self.assertFlagRejected("api-size", "-1", "must be an integer >= 1, got '-1'")
        self.assertFlagRejected("api-size", "", "must be an integer >= 1, got ''")
        self.assertFlagRejected("api-size", " 5", "must be an integer >= 1, got ' 5'")

    def test_ports(self):
        """
        The metrics port is 0 to 65535; the Postgres port 1 to 65535.
        """
        self.assertEqual(
            loadConfig(None, {"metrics-port": "65535"}).get("metrics.port"), 65535
        )
        self.assertFlagRejected(
            "metrics-port", "65536", "must be an integer from 0 to 65535, got '65536'"
        )
        self.assertFlagRejected(
            "aio-store-postgres-port",
            "0",
            "must be an integer from 1 to 65535, got '0'",
        )

    def test_queuingWorkers(self):
        """
        The queuing subsystem has exactly one worker.
        """
        self.assertFlagRejected("aio-queuing-workers", "2", "must be 1, got '2'")


class JsonFlagHelpTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    The help of the task connections and routes flags shows what they take.
    """

    def test_examplesLoad(self):
        """
        The JSON examples in their help, given as their flags, load.
        """
        flags = {}
        for flag in ["aio-queuing-connections", "aio-queuing-routes"]:
            example = KEYS_BY_FLAG[flag].help.split("e.g. '")[1].split("'")[0]
            flags[flag] = example
        config = loadConfig(None, flags, BUILTIN_PROVIDERS)
        self.assertEqual(
            config.get("aio.subsystems.queuing.config.routes")[0]["target"],
            {"connection": "workers", "queue": "work"},
        )


class WorkersKindTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for L{WorkersKind} (C{api.workers}).
    """

    def test_numbers(self):
        """
        Integers of at least 1 are accepted from the file and from flags.
        """
        self.assertEqual(loadConfig(None, {"api-workers": "4"}).get("api.workers"), 4)
        self.assertEqual(WorkersKind().parseYaml(2), 2)

    def test_auto(self):
        """
        C{auto} is the CPU count, by default the CPUs this process may run
        on.
        """
        self.assertEqual(WorkersKind(cpuCount=lambda: 16).parseFlag("auto"), 16)
        self.assertEqual(WorkersKind(cpuCount=lambda: 3).parseYaml("auto"), 3)
        self.assertEqual(
            loadConfig(None, {"api-workers": "auto"}).get("api.workers"),
            len(os.sched_getaffinity(0)),
        )

    def test_bad(self):
        """
        0, negative numbers, words and booleans are refused, saying that
        C{auto} is allowed.
        """
        self.assertFlagRejected(
            "api-workers", "0", "must be an integer >= 1 or auto, got '0'"
        )
        self.assertFlagRejected(
            "api-workers", "many", "must be an integer >= 1 or auto, got 'many'"
        )
        self.assertFileValueRejected(
            "api.workers", True, "must be an integer >= 1 or auto, got true"
        )
        self.assertFileValueRejected(
            "api.workers", -2, "must be an integer >= 1 or auto, got -2"
        )


class SizeKindTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for L{SizeKind}, through C{api.subsystems.http.maxBodySize}.
    """

    def test_forms(self):
        """
        A size is a number of bytes, or a number with a unit.
        """
        for written, size in [
            (1024, 1024),
            ("1024", 1024),
            ("512KiB", 512 * 1024),
            ("10MiB", 10 * 1024 * 1024),
            ("2 MB", 2_000_000),
            ("1GiB", 1024**3),
            ("7B", 7),
        ]:
            config = self.loadYaml(
                {"api": {"subsystems": {"http": {"maxBodySize": written}}}}
            )
            self.assertEqual(config.get("api.subsystems.http.maxBodySize"), size)
        self.assertEqual(
            loadConfig(None, {"api-http-max-body-size": "1KB"}).get(
                "api.subsystems.http.maxBodySize"
            ),
            1000,
        )

    def test_bad(self):
        """
        Anything else, and less than the minimum, is refused.
        """
        for text in ["", "0", "1.5MiB", "10 M", "-1", "ten"]:
            self.assertFlagRejected(
                "api-http-max-body-size",
                text,
                "must be a size >= 1 bytes, as a number of bytes or with a unit "
                f"such as '512KiB' or '10MiB', got {text!r}",
            )
        self.assertRaises(InvalidValue, SizeKind().parseYaml, True)
        self.assertRaises(InvalidValue, SizeKind().parseYaml, 1.5)


class BoolKindTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for L{BoolKind}.
    """

    def test_parseBool(self):
        """
        Flags accept exactly the words of Go's C{strconv.ParseBool}.
        """
        kind = BoolKind()
        for text in ["1", "t", "T", "TRUE", "true", "True"]:
            self.assertIs(kind.parseFlag(text), True)
        for text in ["0", "f", "F", "FALSE", "false", "False"]:
            self.assertIs(kind.parseFlag(text), False)

    def test_yaml(self):
        """
        YAML booleans are accepted.
        """
        config = self.loadYaml(
            {"aio": {"subsystems": {"store": {"config": {"sqlite": {"reset": True}}}}}}
        )
        self.assertIs(config.get("aio.subsystems.store.config.sqlite.reset"), True)

    def test_bad(self):
        """
        Other words and numbers are refused.
        """
        self.assertFlagRejected(
            "aio-store-sqlite-reset",
            "yes",
            "must be a boolean (true or false), got 'yes'",
        )
        self.assertFileValueRejected(
            "aio.subsystems.store.config.postgres.reset",
            1,
            "must be a boolean (true or false), got 1",
        )


class DurationKindTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for L{DurationKind} and L{parseDuration}.
    """

    def test_parseDuration(self):
        """
        Go duration strings parse to seconds.
        """
        cases = {
            "250ms": 0.25,
            "10s": 10.0,
            "1m30s": 90.0,
            "1h": 3600.0,
            "1.5s": 1.5,
            ".5s": 0.5,
            "1h2m3.5s": 3723.5,
            "100us": 1e-4,
            "100\N{MICRO SIGN}s": 1e-4,
            "1000ns": 1e-6,
            "0": 0.0,
            "-2s": -2.0,
            "+2s": 2.0,
        }
        for text, seconds in cases.items():
            self.assertAlmostEqual(parseDuration(text), seconds, msg=text)

    def test_parseDurationBad(self):
        """
        Text that is not a Go duration is a L{ValueError}.
        """
        for text in [
            "",
            "10",
            "s",
            ".s",
            "1d",
            "1h30",
            "1.2.3s",
            " 1s",
            "1 s",
            "-",
            "1S",
        ]:
            self.assertRaises(ValueError, parseDuration, text)

    def test_yaml(self):
        """
        YAML duration strings are accepted.
        """
        config = self.loadYaml(
            {"aio": {"subsystems": {"network": {"config": {"timeout": "2m"}}}}}
        )
        self.assertEqual(config.get("aio.subsystems.network.config.timeout"), 120.0)

    def test_bareNumber(self):
        """
        A bare YAML number is refused, since its unit would be a guess.
        """
        self.assertFileValueRejected(
            "system.timeoutInterval",
            250,
            "must be a duration > 0 such as '250ms', '10s' or '1m30s', got 250 "
            "(a bare number has no unit; write e.g. '250ms' or '250s')",
        )

    def test_positive(self):
        """
        Timeouts must be more than zero; the shutdown grace may be zero.
        """
        expected = "must be a duration > 0 such as '250ms', '10s' or '1m30s'"
        self.assertFlagRejected(
            "aio-store-sqlite-tx-timeout", "0s", expected + ", got '0s'"
        )
        self.assertFlagRejected("aio-network-timeout", "-1s", expected + ", got '-1s'")
        self.assertFlagRejected(
            "system-timeout-interval", "fast", expected + ", got 'fast'"
        )
        config = loadConfig(None, {"api-http-timeout": "0"})
        self.assertEqual(config.get("api.subsystems.http.timeout"), 0.0)

    def test_expectation(self):
        """
        The expectation states the bound.
        """
        self.assertIn(">= 0", DurationKind(allowZero=True).expectation())
        self.assertIn("> 0", DurationKind().expectation())


class AddressKindTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for L{AddressKind}, L{Address} and L{splitAddress}.
    """

    def test_forms(self):
        """
        IPv4, host names, empty hosts and bracketed IPv6 hosts are split.
        """
        cases = {
            "0.0.0.0:8001": ("0.0.0.0", 8001),
            "localhost:80": ("localhost", 80),
            ":8001": ("", 8001),
            "[::1]:8001": ("::1", 8001),
            "[::]:0": ("::", 0),
        }
        for text, expected in cases.items():
            self.assertEqual(splitAddress(text), expected)
            address = AddressKind().parseFlag(text)
            self.assertEqual((address.host, address.port), expected)
            self.assertEqual(address.text, text)

    def test_isString(self):
        """
        An L{Address} is its text, so code taking address strings accepts
        it, and copies stay addresses.
        """
        address = Address("[::1]:8001")
        self.assertEqual(address, "[::1]:8001")
        self.assertEqual(str(address), "[::1]:8001")
        self.assertIs(type(address.text), str)
        self.assertEqual(address.rpartition(":")[2], "8001")
        self.assertEqual(repr(address), "Address('[::1]:8001')")
        self.assertIsInstance(copy.deepcopy(address), Address)
        self.assertRaises(AttributeError, setattr, address, "port", 1)

    def test_endpointDescription(self):
        """
        L{Address.endpointDescription} gives a server endpoint string.
        """
        self.assertEqual(Address(":8001").endpointDescription(), "tcp:8001")
        self.assertEqual(
            Address("127.0.0.1:8001").endpointDescription(),
            "tcp:8001:interface=127.0.0.1",
        )
        self.assertEqual(
            Address("[::1]:8001").endpointDescription(), "tcp6:8001:interface=\\:\\:1"
        )

    def test_endpointDescriptionParses(self):
        """
        Twisted's C{serverFromString} understands the descriptions.
        """
        from twisted.internet.endpoints import (
            TCP4ServerEndpoint,
            TCP6ServerEndpoint,
            serverFromString,
        )
        from twisted.internet.task import Clock

        endpoint = serverFromString(
            Clock(), Address("[::1]:8001").endpointDescription()
        )
        self.assertIsInstance(endpoint, TCP6ServerEndpoint)
        self.assertEqual(endpoint._interface, "::1")
        endpoint = serverFromString(Clock(), Address("1.2.3.4:1").endpointDescription())
        self.assertIsInstance(endpoint, TCP4ServerEndpoint)
        self.assertEqual((endpoint._interface, endpoint._port), ("1.2.3.4", 1))

    def test_bad(self):
        """
        Missing ports, bad ports and unbracketed IPv6 hosts are refused.
        """
        for text in [
            "8001",
            "host:",
            "host:http",
            "host:65536",
            "::1:80",
            "[::1]80",
            "[::1",
            "[]:80",
            "a b:80",
            "host:-1",
        ]:
            self.assertRaises(ValueError, splitAddress, text)
            self.assertRaises(ValueError, Address, text)
        self.assertFlagRejected(
            "api-http-addr",
            "::1:80",
            "must be " + AddressKind(endpoints=True).expectation()
            + ", got '::1:80'",
        )

    def test_yamlNotString(self):
        """
        A YAML number (C{addr: 8001}) is refused, with a hint to quote.
        """
        self.assertFileValueRejected(
            "api.subsystems.grpc.addr",
            8001,
            "must be " + AddressKind().expectation() + ", got 8001 (quote it in YAML)",
        )


class HostKindTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for L{HostKind} (C{metrics.addr}) and L{listenAddress}.
    """

    def test_forms(self):
        """
        IPv4, names, IPv6 with or without brackets, and the empty host
        (every interface) are hosts; brackets are dropped.
        """
        cases = {
            "": "",
            "127.0.0.1": "127.0.0.1",
            "0.0.0.0": "0.0.0.0",
            "localhost": "localhost",
            "metrics.internal": "metrics.internal",
            "::1": "::1",
            "[::1]": "::1",
            "fe80::1": "fe80::1",
        }
        for text, expected in cases.items():
            self.assertEqual(HostKind().parseFlag(text), expected, text)
            self.assertEqual(HostKind().parseYaml(text), expected, text)

    def test_refused(self):
        """
        A host with a port, or anything else that is not a host, is refused
        with what a host must be.
        """
        for text in ["127.0.0.1:9090", ":9090", "[::1]:9090", "localhost:9090",
                     "[127.0.0.1]", "a b", "a/b", "[::1", "::1]"]:
            error = self.assertRaises(InvalidValue, HostKind().parseFlag, text)
            self.assertIn("a host without a port", str(error), text)
        self.assertRaises(InvalidValue, HostKind().parseYaml, 9090)

    def test_key(self):
        """
        C{metrics.addr} and C{--metrics-addr} load as a host; a port there
        is a configuration error that names the key.
        """
        config = self.loadYaml({"metrics": {"addr": "[::1]", "port": 9100}})
        self.assertEqual(config.get("metrics.addr"), "::1")
        config = loadConfig(None, {"metrics-addr": "127.0.0.1"})
        self.assertEqual(config.get("metrics.addr"), "127.0.0.1")
        self.assertEqual(loadConfig(None, {}).get("metrics.addr"), "")
        error = self.assertRaises(
            ConfigError, loadConfig, None, {"metrics-addr": "127.0.0.1:9090"}
        )
        self.assertIn("metrics", str(error))

    def test_listenAddress(self):
        """
        L{listenAddress} writes a host and a port as L{splitAddress} reads
        them: IPv6 in brackets, the empty host as every interface.
        """
        for host, port in [("", 9090), ("127.0.0.1", 0), ("::1", 9100)]:
            self.assertEqual(splitAddress(listenAddress(host, port)), (host, port))
        self.assertEqual(listenAddress("::1", 9090), "[::1]:9090")
        self.assertEqual(listenAddress("", 9090), ":9090")


class StrKindTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for L{StrKind}.
    """

    def test_numbersRefused(self):
        """
        A YAML number is refused rather than turned into text.
        """
        self.assertFileValueRejected(
            "aio.subsystems.store.config.postgres.password",
            1234,
            "must be a string, got 1234 (quote it in YAML)",
        )

    def test_empty(self):
        """
        Some strings may be empty, some may not.
        """
        self.assertEqual(StrKind().parseFlag(""), "")
        self.assertFlagRejected(
            "aio-store-sqlite-path", "", "must be a file name, got ''"
        )
        self.assertFlagRejected("aio-store", "", "must be a non-empty string, got ''")

    def test_longValue(self):
        """
        Long values are shortened in messages.
        """
        error = self.assertRaises(
            ConfigError, loadConfig, None, {"api-size": "9" * 30 + "x" * 100}
        )
        self.assertIn("...", str(error))
        self.assertLess(len(str(error)), 200)


class EnumKindTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for L{EnumKind}.
    """

    def test_caseInsensitive(self):
        """
        Case is ignored and the result is lower case.
        """
        kind = EnumKind(("debug", "info"))
        self.assertEqual(kind.parseFlag("INFO"), "info")
        self.assertEqual(kind.parseYaml("Debug"), "debug")

    def test_bad(self):
        """
        Other words, and non-strings, are refused.
        """
        self.assertFileValueRejected(
            "log.level",
            "warning",
            "must be one of 'debug', 'info', 'warn', 'error', got 'warning'",
        )
        self.assertFileValueRejected(
            "log.level",
            3,
            "must be one of 'debug', 'info', 'warn', 'error', got 3 (quote it in YAML)",
        )


class MapKindTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for L{MapKind}.
    """

    def test_flag(self):
        """
        The flag form is C{k=v[,k=v...]}; values may hold C{=}.
        """
        kind = MapKind()
        self.assertEqual(kind.parseFlag(""), {})
        self.assertEqual(kind.parseFlag("sslmode=disable"), {"sslmode": "disable"})
        self.assertEqual(
            kind.parseFlag("a=1,b=x=y,c="), {"a": "1", "b": "x=y", "c": ""}
        )

    def test_flagBad(self):
        """
        Pairs without C{=}, empty keys and repeated keys are refused.
        """
        for text in ["a", "a=1,", "=1", "a=1,a=2"]:
            self.assertFlagRejected(
                "aio-store-postgres-query",
                text,
                f"must be distinct k=v pairs separated by commas, got {text!r}",
            )

    def test_yaml(self):
        """
        A YAML mapping of strings is accepted.
        """
        config = self.loadYaml(
            {
                "aio": {
                    "subsystems": {
                        "store": {
                            "config": {"postgres": {"query": {"sslmode": "disable"}}}
                        }
                    }
                }
            }
        )
        self.assertEqual(
            config.get("aio.subsystems.store.config.postgres.query"),
            {"sslmode": "disable"},
        )

    def test_yamlBad(self):
        """
        Each non-string value is reported at its own path.
        """
        path = "aio.subsystems.store.config.postgres.query"
        self.assertErrors(
            [
                (
                    path + ".connect_timeout",
                    "must be a string, got 10 (quote it in YAML)",
                ),
                (path + ".x", "must be a string, got null"),
            ],
            document={
                "aio": {
                    "subsystems": {
                        "store": {
                            "config": {
                                "postgres": {
                                    "query": {
                                        "sslmode": "disable",
                                        "connect_timeout": 10,
                                        "x": None,
                                    }
                                }
                            }
                        }
                    }
                }
            },
        )
        self.assertFileValueRejected(
            path, ["a"], "must be a mapping of strings to strings, got a list"
        )


class JsonListKindTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for L{JsonListKind} and the checks of connections and routes.
    """

    def test_flag(self):
        """
        The flags take JSON arrays.
        """
        import json

        config = loadConfig(
            None,
            {
                "aio-queuing-connections": json.dumps([CONNECTION]),
                "aio-queuing-routes": json.dumps([ROUTE]),
            },
        )
        self.assertEqual(
            config.get("aio.subsystems.queuing.config.connections"), [CONNECTION]
        )
        self.assertEqual(config.get("aio.subsystems.queuing.config.routes"), [ROUTE])

    def test_yaml(self):
        """
        The file takes YAML lists.
        """
        config = self.loadYaml(
            {
                "aio": {
                    "subsystems": {
                        "queuing": {
                            "config": {"connections": [CONNECTION], "routes": [ROUTE]}
                        }
                    }
                }
            }
        )
        self.assertEqual(config.get("aio.subsystems.queuing.config.routes"), [ROUTE])

    def test_flagBad(self):
        """
        Invalid JSON, or JSON that is not an array, is refused.
        """
        error = self.assertRaises(
            ConfigError, loadConfig, None, {"aio-queuing-routes": "[1,"}
        )
        self.assertIn("must be a JSON array, got '[1,'", str(error))
        self.assertFlagRejected(
            "aio-queuing-routes", "{}", "must be a JSON array, got '{}'"
        )
        self.assertFileValueRejected(
            "aio.subsystems.queuing.config.routes",
            {"a": 1},
            "must be a list, got a mapping",
        )

    def test_shapes(self):
        """
        Connections and routes missing fields, of unknown kinds, or naming
        no connection are reported with their paths.
        """
        connections = "aio.subsystems.queuing.config.connections"
        routes = "aio.subsystems.queuing.config.routes"
        badRoute = copy.deepcopy(ROUTE)
        badRoute["target"]["connection"] = "nobody"
        del badRoute["metadata"]
        self.assertErrors(
            [
                (connections + "[0].kind", "must be 'http', got 'sqs'"),
                (
                    connections + "[1].metadata.properties.url",
                    "must be a non-empty string, got null",
                ),
                (connections + "[3].name", "repeats the connection name 'workers'"),
                (connections + "[4]", "must be a mapping, got 'x'"),
                (
                    routes + "[0].target.connection",
                    f"names no connection in {connections}: 'nobody'",
                ),
                (
                    routes + "[0].metadata.properties.pattern",
                    "must be a non-empty string, got null",
                ),
                (routes + "[1].kind", "must be a non-empty string, got ''"),
            ],
            document={
                "aio": {
                    "subsystems": {
                        "queuing": {
                            "config": {
                                "connections": [
                                    dict(CONNECTION, kind="sqs", name="other"),
                                    {"kind": "http", "name": "second"},
                                    CONNECTION,
                                    CONNECTION,
                                    "x",
                                ],
                                "routes": [badRoute, dict(ROUTE, kind="")],
                            }
                        }
                    }
                }
            },
        )

    def test_badPattern(self):
        """
        A route pattern that cannot match (no leading slash, C{*} before
        the end) is reported with its path at startup, not at the first
        create.
        """
        routes = "aio.subsystems.queuing.config.routes"
        bad = copy.deepcopy(ROUTE)
        bad["metadata"]["properties"]["pattern"] = "jobs/*/x"
        self.assertErrors(
            [
                (
                    routes + "[0].metadata.properties.pattern",
                    "pattern must start with '/': 'jobs/*/x'",
                )
            ],
            document={
                "aio": {
                    "subsystems": {
                        "queuing": {
                            "config": {"connections": [CONNECTION], "routes": [bad]}
                        }
                    }
                }
            },
        )

    def test_shapesFromFlag(self):
        """
        A problem inside a list given as a flag names the flag.
        """
        self.assertErrors(
            [
                (
                    "aio.subsystems.queuing.config.routes[0]",
                    "must be a mapping, got 1 (from flag --aio-queuing-routes)",
                )
            ],
            flags={"aio-queuing-routes": "[1]"},
        )


class StoreConfigTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for L{Config.storeConfig}.
    """

    def test_sqlite(self):
        """
        By default the store is SQLite with its typed options.
        """
        self.assertEqual(
            loadConfig().storeConfig(),
            StoreConfig(
                kind="sqlite",
                size=100,
                workers=1,
                batchSize=100,
                options={
                    "path": "resonate.db",
                    "txTimeout": 10.0,
                    "synchronous": "full",
                    "reset": False,
                    "cacheSize": 10000,
                },
            ),
        )

    def test_postgres(self):
        """
        For Postgres the options are its typed keys, from file and flags.
        """
        config = self.loadYaml(
            {
                "aio": {
                    "subsystems": {
                        "store": {
                            "subsystem": {"workers": 4},
                            "config": {
                                "kind": "postgres",
                                "postgres": {"host": "db", "port": "6543"},
                            },
                        }
                    }
                }
            },
            {
                "aio-store-postgres-query": "sslmode=disable",
                "aio-store-postgres-tx-timeout": "10s",
            },
        )
        self.assertEqual(
            config.storeConfig(),
            StoreConfig(
                kind="postgres",
                size=100,
                workers=4,
                batchSize=100,
                options={
                    "host": "db",
                    "port": 6543,
                    "username": "",
                    "password": "",
                    "database": "resonate",
                    "query": {"sslmode": "disable"},
                    "txTimeout": 10.0,
                    "reset": False,
                },
            ),
        )

    def providers(self, *options):
        """
        The built-in providers and a third-party C{mystore} declaring
        C{options}.
        """
        return dict(BUILTIN_PROVIDERS, mystore=_ThirdPartyProvider(options))

    def test_thirdPartyOptions(self):
        """
        A third-party kind's declared options are typed and checked like
        the built-in stores' keys, from the file and from flags, with their
        defaults filled in.
        """
        providers = self.providers(
            StoreOption("endpoint", StrKind(nonEmpty=True), "https://x", "url"),
            StoreOption("timeout", DurationKind(), "10s", "how long"),
            StoreOption("maxValue", SizeKind(), "1MiB", "largest value"),
            StoreOption("retries", IntKind(minimum=0), 3, "retries"),
        )
        path = self.writeYaml(
            "aio:\n  subsystems:\n    store:\n      config:\n"
            "        kind: mystore\n        mystore:\n          timeout: 250ms\n"
        )
        config = loadConfig(
            path, {"aio-store-mystore-max-value": "2KiB"}, providers=providers
        )
        self.assertEqual(
            config.storeConfig(),
            StoreConfig(
                kind="mystore",
                options={
                    "endpoint": "https://x",
                    "timeout": 0.25,
                    "maxValue": 2048,
                    "retries": 3,
                },
            ),
        )
        self.assertEqual(
            config.source("aio.subsystems.store.config.mystore.maxValue"), "flag"
        )

    def test_thirdPartyErrors(self):
        """
        A third-party kind's values are refused with their key path, and
        the flag named, like every other key's; so is a key it does not
        declare.
        """
        providers = self.providers(
            StoreOption("timeout", DurationKind(), "10s", "how long"),
        )
        path = self.writeYaml(
            "aio:\n  subsystems:\n    store:\n      config:\n"
            "        mystore:\n          timeout: 10\n          timout: 1s\n"
        )
        error = self.assertRaises(
            ConfigError,
            loadConfig,
            path,
            {"aio-store-mystore-timeout": "soon"},
            providers,
        )
        self.assertEqual(
            error.errors,
            [
                (
                    "aio.subsystems.store.config.mystore.timout",
                    "unknown key; did you mean "
                    "'aio.subsystems.store.config.mystore.timeout'?",
                ),
                (
                    "aio.subsystems.store.config.mystore.timeout",
                    "must be a duration > 0 such as '250ms', '10s' or '1m30s', "
                    "got 10 (a bare number has no unit; write e.g. '10ms' or "
                    "'10s')",
                ),
                (
                    "aio.subsystems.store.config.mystore.timeout",
                    "must be a duration > 0 such as '250ms', '10s' or '1m30s', "
                    "got 'soon' (from flag --aio-store-mystore-timeout)",
                ),
            ],
        )

    def test_unknownKindSection(self):
        """
        A section for a kind no installed plugin makes is refused, with the
        closest installed kind suggested: a misspelt section would otherwise
        leave its store on defaults.
        """
        self.assertErrors(
            [
                (
                    "aio.subsystems.store.config.sqlit",
                    "unknown store kind 'sqlit': no installed store plugin "
                    "makes it (installed: memory, postgres, sqlite); did you "
                    "mean 'aio.subsystems.store.config.sqlite'?",
                )
            ],
            document={
                "aio": {"subsystems": {"store": {"config": {"sqlit": {"path": "x"}}}}}
            },
        )

    def test_unknownKind(self):
        """
        A kind no installed plugin makes is refused, naming the installed
        ones.
        """
        error = self.assertRaises(
            ConfigError, loadConfig, None, {"aio-store": "mystore"}, BUILTIN_PROVIDERS
        )
        self.assertEqual(
            error.errors,
            [
                (
                    "aio.subsystems.store.config.kind",
                    "unknown store kind 'mystore': no installed store plugin "
                    "makes it (installed: memory, postgres, sqlite) (from flag "
                    "--aio-store)",
                )
            ],
        )

    def test_kindWithoutOptions(self):
        """
        A kind that declares no options gets none, and its section may be
        empty.
        """
        config = loadConfig(None, {"aio-store": "memory"})
        self.assertEqual(config.storeConfig(), StoreConfig(kind="memory", options={}))
        path = self.writeYaml(
            "aio:\n  subsystems:\n    store:\n      config:\n        memory:\n"
        )
        self.assertEqual(
            loadConfig(path, {"aio-store": "memory"}).storeConfig().options, {}
        )

    def test_kindSectionNotMapping(self):
        """
        A store kind's section must be a mapping.
        """
        self.assertErrors(
            [("aio.subsystems.store.config.memory", "must be a mapping, got 3")],
            document={"aio": {"subsystems": {"store": {"config": {"memory": 3}}}}},
        )

    def test_badDeclarations(self):
        """
        A provider whose declarations are wrong (a key that is not a
        camelCase word, a default its own kind refuses, a flag another key
        has) is reported by key path, naming the plugin.
        """
        providers = dict(
            BUILTIN_PROVIDERS,
            mystore=_ThirdPartyProvider(
                [
                    StoreOption("max-size", IntKind(), 1, "bad key"),
                    StoreOption("timeout", DurationKind(), 10, "bad default"),
                ]
            ),
            sqlite_tx=_ThirdPartyProvider(
                [StoreOption("timeout", DurationKind(), "1s", "same flag")]
            ),
        )
        error = self.assertRaises(ConfigError, loadConfig, None, None, providers)
        paths = [path for path, message in error.errors]
        self.assertEqual(
            paths,
            [
                "aio.subsystems.store.config.mystore.max-size",
                "aio.subsystems.store.config.mystore.timeout",
                "aio.subsystems.store.config.sqlite_tx.timeout",
            ],
        )
        self.assertIn("store plugin 'mystore'", error.errors[0][1])
        self.assertIn("default its own kind refuses", error.errors[1][1])
        self.assertIn(
            "--aio-store-sqlite-tx-timeout is also the flag of "
            "aio.subsystems.store.config.sqlite.txTimeout",
            error.errors[2][1],
        )


class IgnoredKeysTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for the keys accepted for the Go server's compatibility and
    ignored.
    """

    def test_listed(self):
        """
        The ignored keys are those nothing reads; their help says so.
        """
        self.assertEqual(
            IGNORED_KEYS,
            (
                "aio.size",
                "aio.subsystems.network.subsystem.size",
                "aio.subsystems.network.subsystem.workers",
                "aio.subsystems.network.subsystem.batchSize",
                "aio.subsystems.queuing.subsystem.size",
                "aio.subsystems.queuing.subsystem.workers",
                "aio.subsystems.queuing.subsystem.batchSize",
                "system.notificationCacheSize",
                "system.completionBatchSize",
            ),
        )
        for path in IGNORED_KEYS:
            self.assertIn(
                "accepted for the Go server's compatibility and ignored",
                KEYS_BY_PATH[path].helpText(),
            )
        self.assertNotIn("ignored", KEYS_BY_PATH["api.size"].helpText())

    def test_given(self):
        """
        L{Config.ignoredKeysGiven} names the ignored keys set in the file or
        by flag, for the warning at startup, and not those at their default.
        """
        self.assertEqual(loadConfig().ignoredKeysGiven(), [])
        path = self.writeYaml("aio:\n  size: 7\n")
        config = loadConfig(path, {"system-completion-batch-size": "5"})
        self.assertEqual(
            config.ignoredKeysGiven(), ["aio.size", "system.completionBatchSize"]
        )


class _ThirdPartyProvider:
    """
    A store provider as a third party declares one, for configuration
    tests: only its name, description and options matter here.
    """

    name = "mystore"
    description = "a third party's store"

    def __init__(self, options):
        self.options = tuple(options)

    def makeStore(self, config, reactor):
        raise NotImplementedError("configuration tests make no store")


class ShippedFileTests(unittest.SynchronousTestCase):
    """
    Tests for the shipped C{etc/resonate.yml}.
    """

    def test_everyKeyAtItsDefault(self):
        """
        The file holds every key of the table at its default, and nothing
        else.
        """
        document = yaml.safe_load(SHIPPED.getContent())
        leaves = set()

        def walk(node, prefix):
            for name, value in node.items():
                path = f"{prefix}.{name}" if prefix else name
                if path in KEYS_BY_PATH:
                    leaves.add(path)
                else:
                    self.assertIsInstance(value, dict, path)
                    walk(value, path)

        walk(document, "")
        self.assertEqual(leaves, set(KEYS_BY_PATH))
        for key in KEYS:
            value = document
            for part in key.path.split("."):
                value = value[part]
            self.assertEqual(value, key.default, key.path)
            self.assertEqual(type(value), type(key.default), key.path)

    def test_loads(self):
        """
        Loading the file gives the defaults, every one from the file.
        """
        config = loadConfig(SHIPPED.path, None, BUILTIN_PROVIDERS)
        self.assertEqual(
            config.values, loadConfig(None, None, BUILTIN_PROVIDERS).values
        )
        self.assertEqual(set(config.sources.values()), {"file"})

    def test_sectionsInTableOrder(self):
        """
        The top-level sections are api, aio, system, tasks, messages,
        transports, metrics, log, then the one top-level key, debug.
        """
        document = yaml.safe_load(SHIPPED.getContent())
        self.assertEqual(
            list(document),
            [
                "api", "aio", "system", "tasks", "messages", "transports",
                "metrics", "log", "debug",
            ],
        )


class _Options(usage.Options):
    """
    The options of C{twist resonate}, as L{resonate.tap} declares them.
    """

    optParameters = [["config", "c", None, "YAML config file"]] + usageParameters(
        KEYS
    )
    optFlags = usageFlags(KEYS)

    def postOptions(self):
        """
        Load the configuration, turning problems into a usage error.
        """
        try:
            self.config = loadConfig(
                self["config"], flagsFromOptions(self, KEYS), BUILTIN_PROVIDERS
            )
        except ConfigError as e:
            raise usage.UsageError(str(e))


class OptionsTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    Tests for L{usageParameters} and L{flagsFromOptions} in a
    C{usage.Options}.
    """

    def test_parameters(self):
        """
        There is one parameter per key but the switches, without a default,
        whose help shows the key path and default.
        """
        parameters = usageParameters(KEYS)
        valued = [key for key in KEYS if not key.switch]
        self.assertEqual([p[0] for p in parameters], [key.flag for key in valued])
        for (flag, short, default, help), key in zip(parameters, valued):
            self.assertIsNone(short)
            self.assertIsNone(default)
            self.assertIn(key.path, help)
        self.assertIn(
            "default: 10s",
            parameters[[p[0] for p in parameters].index("aio-store-sqlite-tx-timeout")][
                3
            ],
        )
        self.assertIn(
            'default: ""',
            parameters[[p[0] for p in parameters].index("aio-store-postgres-password")][
                3
            ],
        )
        self.assertIsNot(usageParameters(KEYS), parameters)

    def test_noFlags(self):
        """
        Without arguments the configuration is the defaults and no flag is
        reported as given.
        """
        options = _Options()
        options.parseOptions([])
        self.assertEqual(flagsFromOptions(options, KEYS), {})
        self.assertEqual(options.config, loadConfig(None, None, BUILTIN_PROVIDERS))

    def test_flagsAndFile(self):
        """
        Flags given on the command line override the file.
        """
        path = self.writeYaml("api:\n  size: 7\naio:\n  size: 8\n")
        options = _Options()
        options.parseOptions(
            [
                "--config",
                path,
                "--api-size",
                "9",
                "--api-http-addr=[::1]:80",
                "--aio-store-sqlite-reset",
                "true",
                "--aio-store-postgres-query",
                "a=b,c=d",
            ]
        )
        self.assertEqual(
            flagsFromOptions(options, KEYS),
            {
                "api-size": "9",
                "api-http-addr": "[::1]:80",
                "aio-store-sqlite-reset": "true",
                "aio-store-postgres-query": "a=b,c=d",
            },
        )
        config = options.config
        self.assertEqual((config.get("api.size"), config.get("aio.size")), (9, 8))
        self.assertEqual(config.get("api.subsystems.http.addr").host, "::1")
        self.assertIs(config.get("aio.subsystems.store.config.sqlite.reset"), True)
        self.assertEqual(config.filePath, path)

    def test_usageError(self):
        """
        Problems become one L{usage.UsageError} listing them all.
        """
        options = _Options()
        error = self.assertRaises(
            usage.UsageError,
            options.parseOptions,
            ["--api-size", "0", "--log-level", "loud"],
        )
        self.assertEqual(
            str(error).split("\n"),
            [
                "error in configuration at 'api.size': must be an integer >= 1, "
                "got '0' (from flag --api-size)",
                "error in configuration at 'log.level': must be one of 'debug', "
                "'info', 'warn', 'error', got 'loud' (from flag --log-level)",
            ],
        )

    def test_help(self):
        """
        The usage text lists every flag, a switch without a value.
        """
        text = str(_Options())
        for key in KEYS:
            if key.switch:
                self.assertIn(f"--{key.flag} ", text)
                self.assertNotIn(f"--{key.flag}=", text)
            else:
                self.assertIn(f"--{key.flag}=", text)

    def test_flags(self):
        """
        There is one flag per switch key, whose help shows the key path and
        default.
        """
        flags = usageFlags(KEYS)
        self.assertEqual(
            [flag[0] for flag in flags], [key.flag for key in KEYS if key.switch]
        )
        self.assertIn("debug", [flag[0] for flag in flags])
        for flag, short, help in flags:
            self.assertIsNone(short)
            self.assertIn(f"file key: {KEYS_BY_FLAG[flag].path}", help)
            self.assertIn("default: false", help)
        self.assertIsNot(usageFlags(KEYS), flags)

    def test_switch(self):
        """
        A switch is given bare and means true; left out, it is not given,
        so the file decides.
        """
        options = _Options()
        options.parseOptions(["--debug"])
        self.assertEqual(flagsFromOptions(options, KEYS), {"debug": "true"})
        self.assertIs(options.config.get("debug"), True)
        self.assertEqual(options.config.source("debug"), "flag")
        path = self.writeYaml("debug: true\n")
        options = _Options()
        options.parseOptions(["--config", path])
        self.assertEqual(flagsFromOptions(options, KEYS), {})
        self.assertIs(options.config.get("debug"), True)
        self.assertEqual(options.config.source("debug"), "file")

    def test_switchTakesNoValue(self):
        """
        A switch given a value is a usage error, not a silent false.
        """
        options = _Options()
        self.assertRaises(
            usage.UsageError, options.parseOptions, ["--debug=false"]
        )

    def test_tapOptions(self):
        """
        The real C{twist resonate} options load the configuration.
        """
        from resonate import tap

        options = tap.makeOptions()
        options.parseOptions(["--aio-store", "memory", "--api-size", "3"])
        self.assertEqual(options.config.get("api.size"), 3)
        self.assertEqual(options.config.storeConfig().kind, "memory")


class KeyTests(unittest.SynchronousTestCase):
    """
    Tests for L{Key}.
    """

    def test_parsedDefault(self):
        """
        L{Key.parsedDefault} parses the YAML default with the kind.
        """
        key = Key("a.b", "a-b", DurationKind(), "2s", "help")
        self.assertEqual(key.parsedDefault(), 2.0)


class ConfigObjectTests(unittest.SynchronousTestCase):
    """
    Tests for L{Config} built by hand.
    """

    def test_equality(self):
        """
        Two loads of the same inputs are equal.
        """
        self.assertEqual(
            loadConfig(None, {"api-size": "3"}), loadConfig(None, {"api-size": "3"})
        )
        self.assertNotEqual(loadConfig(None, {"api-size": "3"}), loadConfig())
        self.assertIsInstance(loadConfig(), Config)


class JWTKeysTests(ConfigTestMixin, unittest.SynchronousTestCase):
    """
    C{api.auth.jwt.*}: a usable public key, not beside basic auth; issuer
    and audience only with a key.
    """

    def test_usableKey(self):
        from resonate.tap import tokensFromConfig
        from tests.support.jwttools import KeyPair

        path = KeyPair("ed25519").writePublic(self.mktemp())
        config = loadConfig(None, {
            "api-auth-jwt-public-key": path,
            "api-auth-jwt-issuer": "me",
        }, BUILTIN_PROVIDERS)
        verifier = tokensFromConfig(config)
        self.assertEqual((verifier.algorithms, verifier.issuer, verifier.audience),
                         (["EdDSA"], "me", None))
        self.assertIsNone(tokensFromConfig(loadConfig(None, {}, BUILTIN_PROVIDERS)))

    def test_missingKey(self):
        path = self.mktemp()
        error = self.assertRaises(
            ConfigError, loadConfig, None, {"api-auth-jwt-public-key": path},
            BUILTIN_PROVIDERS,
        )
        [(key, message)] = error.errors
        self.assertEqual(key, "api.auth.jwt.publicKey")
        self.assertIn(path, message)
        self.assertIn("(from flag --api-auth-jwt-public-key)", message)

    def test_notWithBasicAuth(self):
        from tests.support.jwttools import KeyPair

        path = KeyPair("ec").writePublic(self.mktemp())
        self.assertErrors(
            [("api.auth.jwt.publicKey",
              "cannot be set with api.subsystems.http.auth.username/password "
              "(choose JWT or basic auth)")],
            document={"api": {
                "auth": {"jwt": {"publicKey": path}},
                "subsystems": {"http": {"auth": {"username": "u", "password": "p"}}},
            }},
        )

    def test_claimsNeedKey(self):
        self.assertErrors(
            [("api.auth.jwt.issuer", "needs api.auth.jwt.publicKey"),
             ("api.auth.jwt.audience", "needs api.auth.jwt.publicKey")],
            document={"api": {"auth": {"jwt": {"issuer": "i", "audience": "a"}}}},
        )
