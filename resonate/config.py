# -*- test-case-name: tests.test_config -*-
"""
Configuration: every key, its default, its flag; loading and validation.

L{KEYS} is the single source of truth: it gives each key's YAML path, its
C{twist resonate} flag, its kind (how a value is parsed and checked), its
default and its help.  The shipped C{etc/resonate.yml} lists every key of
the table at its default (a test keeps the two equal), and L{usageParameters}
turns the table into C{twisted.python.usage.Options} parameters.

L{loadConfig} layers defaults, then a YAML file, then flags, checks every
value and reports every problem at once in one L{ConfigError}, each with the
key path it concerns.  The result is a frozen L{Config}.

Kinds and their written forms:

  - C{str}: a YAML string (quote numbers: C{password: "1234"}).
  - C{int}: a YAML integer, or a string of decimal digits (the Go server
    writes the Postgres port as C{"5432"}); each key has its own range.
  - C{bool}: a YAML boolean, or one of the strings Go's C{strconv.ParseBool}
    accepts: C{1 t T TRUE true True 0 f F FALSE false False}.
  - C{duration}: a Go duration string: C{"250ms"}, C{"10s"}, C{"1m30s"},
    C{"1h"}, C{"1.5s"} (units C{ns us µs ms s m h}; C{"0"} alone is zero).
    A bare YAML number is an error rather than a guess: the Resonate API
    counts milliseconds, viper would count nanoseconds and Python counts
    seconds, so every reading of C{timeout: 10} would surprise someone.
    Parsed to C{float} seconds.
  - C{addr}: C{"host:port"}; an empty host means every interface, an IPv6
    host goes in brackets (C{"[::1]:8001"}).  Parsed to an L{Address}, which
    keeps the original text.  C{api.subsystems.http.addr} also takes a
    Twisted endpoint description (C{ssl:8443:privateKey=key.pem}), kept as
    a C{str}; see L{isEndpointDescription}.
  - C{map}: a YAML mapping of strings to strings; as a flag,
    C{k=v[,k=v...]} (so values cannot contain commas).
  - C{jsonlist}: a YAML list; as a flag, a JSON array.
  - C{enum}: one of a few words (C{log.level}), case-insensitive, parsed to
    lower case.

The store kind is a free-form string because third-party store plugins add
kinds; they read their own section, C{aio.subsystems.store.config.<kind>},
which is passed through unchecked (see L{Config.storeConfig}).
"""

import copy
import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Optional

import yaml

from resonate.model.routing import InvalidPattern, checkPattern


@dataclass(frozen=True)
class StoreConfig:
    """
    The store section of the configuration, as handed to an
    L{resonate.interfaces.IStoreProvider}.

    @ivar kind: C{aio.subsystems.store.config.kind}.
    @ivar size: C{aio.subsystems.store.subsystem.size}: how many
        transactions may wait for the store before it answers 5032.
    @ivar workers: C{aio.subsystems.store.subsystem.workers}: connections
        (for SQLite: reader connections; there is always one writer).
    @ivar batchSize: C{aio.subsystems.store.subsystem.batchSize}: the most
        transactions committed together.
    @ivar options: the typed values under C{aio.subsystems.store.config.<kind>};
        durations are in seconds (C{float}).
    """

    kind: str = "sqlite"
    size: int = 100
    workers: int = 1
    batchSize: int = 100
    options: dict = field(default_factory=dict)


STORE_CONFIG_PATH = "aio.subsystems.store.config"
"""
The section holding the store kind and one subsection per store kind.
"""

BUILTIN_STORE_KINDS = ("sqlite", "postgres")
"""
The store kinds whose sections are part of L{KEYS}; a section for any other
kind belongs to a third-party plugin and is passed through raw.
"""

SOURCES = ("default", "file", "flag")
"""
Where a value can come from, in increasing precedence; see
L{Config.source}.
"""


class ConfigError(Exception):
    """
    The configuration is wrong; C{errors} lists every problem found.

    C{str()} gives one line per problem, for example::

        error in configuration at 'api.size': must be an integer >= 1, got 'abc'

    @ivar errors: a list of C{(path, message)} pairs: C{path} is the dotted
        key path (C{None} for a problem with the file as a whole or an
        unknown flag), C{message} says what is wrong and, for a value given
        as a flag, names the flag.
    """

    def __init__(self, errors):
        """
        @param errors: an iterable of C{(path, message)} pairs, at least one.
        """
        self.errors = [(path, message) for path, message in errors]
        super().__init__(self.errors)

    def __str__(self):
        """
        One line per problem, in the order found.
        """
        return "\n".join(
            (
                "error in configuration: " + message
                if path is None
                else f"error in configuration at {path!r}: {message}"
            )
            for path, message in self.errors
        )


class _InvalidValue(Exception):
    """
    A kind rejected a value.

    @ivar problems: a list of C{(suffix, message)}: C{suffix} is C{""} for
        the value as a whole, or a sub-key (of a map) to append to the path.
    """

    def __init__(self, message=None, problems=()):
        """
        @param message: the problem with the value as a whole, if any.
        @param problems: C{(suffix, message)} problems with parts of it.
        """
        self.problems = ([("", message)] if message else []) + list(problems)
        super().__init__(self.problems)


def _describe(value):
    """
    Show a value the way the user wrote it, briefly, for an error message.

    @param value: anything read from YAML or given as a flag.
    @return: a short C{str}.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if len(value) > 60:
            return repr(value[:57]) + "..."
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return repr(value)


def _notString(expectation, value):
    """
    The message for a non-string YAML value where text is expected.

    @param expectation: what the value must be, e.g. C{"a string"}.
    @param value: the value found.
    """
    hint = " (quote it in YAML)" if isinstance(value, (int, float)) else ""
    return f"must be {expectation}, got {_describe(value)}{hint}"


@dataclass(frozen=True)
class StrKind:
    """
    A string.

    @ivar nonEmpty: whether the empty string is refused.
    """

    nonEmpty: bool = False

    def expectation(self):
        """
        What a value must be, for messages and help.
        """
        return "a non-empty string" if self.nonEmpty else "a string"

    def parseYaml(self, value):
        """
        Check a value read from YAML.

        @raise _InvalidValue: it is not a string (numbers are refused rather
            than converted: YAML reads C{0123} as 83).
        """
        if not isinstance(value, str):
            raise _InvalidValue(_notString(self.expectation(), value))
        return self.parseFlag(value)

    def parseFlag(self, text):
        """
        Check a flag's text.
        """
        if self.nonEmpty and not text:
            raise _InvalidValue(f"must be {self.expectation()}, got ''")
        return text


_INTEGER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class IntKind:
    """
    An integer in a range.

    @ivar minimum: the smallest allowed, or C{None}.
    @ivar maximum: the largest allowed, or C{None}.
    """

    minimum: Optional[int] = None
    maximum: Optional[int] = None

    def expectation(self):
        """
        What a value must be, for messages and help.
        """
        if self.minimum is not None and self.minimum == self.maximum:
            return str(self.minimum)
        if self.minimum is not None and self.maximum is not None:
            return f"an integer from {self.minimum} to {self.maximum}"
        if self.minimum is not None:
            return f"an integer >= {self.minimum}"
        if self.maximum is not None:
            return f"an integer <= {self.maximum}"
        return "an integer"

    def _fail(self, value):
        """
        Refuse C{value}, saying what was expected.
        """
        raise _InvalidValue(f"must be {self.expectation()}, got {_describe(value)}")

    def parseYaml(self, value):
        """
        Check a YAML integer, or a string of decimal digits.

        @raise _InvalidValue: anything else (booleans and floats included),
            or out of range.
        """
        if isinstance(value, str):
            return self.parseFlag(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self._fail(value)
        return self._checkRange(value, value)

    def parseFlag(self, text):
        """
        Parse a string of decimal digits, with an optional sign.
        """
        if not _INTEGER.fullmatch(text):
            self._fail(text)
        return self._checkRange(int(text), text)

    def _checkRange(self, number, written):
        """
        Return C{number} if it is in range; otherwise refuse it as
        C{written}.
        """
        if (self.minimum is not None and number < self.minimum) or (
            self.maximum is not None and number > self.maximum
        ):
            self._fail(written)
        return number


_TRUE = frozenset(["1", "t", "T", "TRUE", "true", "True"])
_FALSE = frozenset(["0", "f", "F", "FALSE", "false", "False"])


@dataclass(frozen=True)
class BoolKind:
    """
    A boolean.
    """

    def expectation(self):
        """
        What a value must be, for messages and help.
        """
        return "a boolean (true or false)"

    def parseYaml(self, value):
        """
        Check a YAML boolean, or a string as for L{parseFlag}.
        """
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return self.parseFlag(value)
        raise _InvalidValue(f"must be {self.expectation()}, got {_describe(value)}")

    def parseFlag(self, text):
        """
        Parse the way Go's C{strconv.ParseBool} does.
        """
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise _InvalidValue(f"must be {self.expectation()}, got {_describe(text)}")


_DURATION_UNITS = MappingProxyType(
    {
        "ns": 1e-9,
        "us": 1e-6,
        "\N{MICRO SIGN}s": 1e-6,
        "\N{GREEK SMALL LETTER MU}s": 1e-6,
        "ms": 1e-3,
        "s": 1.0,
        "m": 60.0,
        "h": 3600.0,
    }
)
_DURATION_PART = re.compile(
    r"([0-9]*(?:\.[0-9]*)?)(ns|us|\N{MICRO SIGN}s|\N{GREEK SMALL LETTER MU}s|ms|s|m|h)"
)


def parseDuration(text):
    """
    Parse a duration the way Go's C{time.ParseDuration} does.

    @param text: e.g. C{"250ms"}, C{"1m30s"}, C{"-1.5h"}, C{"0"}.
    @return: the duration in seconds, a C{float} (negative if signed so).
    @raise ValueError: C{text} is not a duration.
    """
    rest = text
    sign = 1.0
    if rest[:1] in ("+", "-"):
        sign = -1.0 if rest[0] == "-" else 1.0
        rest = rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f"invalid duration {text!r}")
    total = 0.0
    position = 0
    while position < len(rest):
        match = _DURATION_PART.match(rest, position)
        if match is None or match.group(1) in ("", "."):
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    return sign * total


@dataclass(frozen=True)
class DurationKind:
    """
    A Go-style duration, parsed to C{float} seconds.

    @ivar allowZero: whether zero is allowed (it never is for a timeout).
    """

    allowZero: bool = False

    def expectation(self):
        """
        What a value must be, for messages and help.
        """
        bound = ">= 0" if self.allowZero else "> 0"
        return f"a duration {bound} such as '250ms', '10s' or '1m30s'"

    def parseYaml(self, value):
        """
        Check a YAML string as for L{parseFlag}.

        @raise _InvalidValue: a bare number (its unit would be a guess), or
            anything else that is not a string.
        """
        if isinstance(value, str):
            return self.parseFlag(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise _InvalidValue(
                f"must be {self.expectation()}, got {_describe(value)} "
                f"(a bare number has no unit; write e.g. '{value}ms' or "
                f"'{value}s')"
            )
        raise _InvalidValue(f"must be {self.expectation()}, got {_describe(value)}")

    def parseFlag(self, text):
        """
        Parse with L{parseDuration} and check the bound.
        """
        try:
            seconds = parseDuration(text)
        except ValueError:
            seconds = None
        if seconds is None or seconds < 0 or (seconds == 0 and not self.allowZero):
            raise _InvalidValue(f"must be {self.expectation()}, got {_describe(text)}")
        return seconds


def splitAddress(text):
    """
    Split C{host:port} the way Go's C{net.SplitHostPort} does, and check the
    port.

    @param text: e.g. C{"0.0.0.0:8001"}, C{":8001"}, C{"[::1]:8001"}.
    @return: C{(host, port)}: C{host} without brackets (C{""} for every
        interface), C{port} an C{int} from 0 to 65535.
    @raise ValueError: C{text} is not such an address.
    """
    if text.startswith("["):
        end = text.find("]")
        host = text[1:end] if end > 0 else ""
        ok = bool(host) and text[end + 1 : end + 2] == ":"
        portText = text[end + 2 :]
    else:
        host, separator, portText = text.rpartition(":")
        ok = bool(separator) and ":" not in host
    ok = (
        ok
        and not any(c.isspace() or c in "[]/" for c in host)
        and re.fullmatch(r"[0-9]{1,5}", portText) is not None
        and int(portText) <= 65535
    )
    if not ok:
        raise ValueError(f"not an address 'host:port': {text!r}")
    return host, int(portText)


class Address(str):
    """
    A listening address, C{host:port}: the text as written (it I{is} that
    string, so code taking an address string accepts it), with its parts.

    @ivar host: the host without brackets; C{""} means every interface.
    @ivar port: the port number, 0 to 65535 (0: any free port).
    @ivar text: the address as written, as a plain C{str}.
    """

    __slots__ = ()

    def __new__(cls, text):
        """
        @param text: the address, as for L{splitAddress}.
        @raise ValueError: C{text} is not an address.
        """
        splitAddress(text)
        return super().__new__(cls, text)

    @property
    def host(self):
        """
        The host without brackets; C{""} means every interface.
        """
        return splitAddress(self)[0]

    @property
    def port(self):
        """
        The port number.
        """
        return splitAddress(self)[1]

    @property
    def text(self):
        """
        The address as written, as a plain C{str}.
        """
        return str.__str__(self)

    def __repr__(self):
        """
        Show the type, so an L{Address} is told from a plain string.
        """
        return f"Address({self.text!r})"

    def endpointDescription(self):
        """
        A C{twisted.internet.endpoints.serverFromString} description that
        listens on this address.

        @return: e.g. C{"tcp:8001:interface=0.0.0.0"}, C{"tcp:8001"} for an
            empty host, C{"tcp6:8001:interface=\\:\\:1"} for an IPv6 host.
        """
        host, port = splitAddress(self)
        if not host:
            return f"tcp:{port}"
        if ":" in host:
            escaped = host.replace(":", "\\:")
            return f"tcp6:{port}:interface={escaped}"
        return f"tcp:{port}:interface={host}"


class _TextKind:
    """
    A kind whose YAML value must be a string, parsed as its flag would be.
    """

    def parseYaml(self, value):
        """
        Check a YAML string as for C{parseFlag}.
        """
        if not isinstance(value, str):
            raise _InvalidValue(_notString(self.expectation(), value))
        return self.parseFlag(value)


#: The endpoint types C{twisted.internet.endpoints.serverFromString} knows
#: without plugins.
_BUILTIN_ENDPOINT_TYPES = ("tcp", "unix", "ssl")


def isEndpointDescription(text):
    """
    Whether C{text} is a Twisted server endpoint description rather than a
    C{host:port} address: whether what precedes its first colon names an
    endpoint type (C{tcp}, C{ssl}, C{unix}, or one a plugin adds, such as
    C{tcp6} and C{systemd}).  So C{"ssl:8443:privateKey=key.pem"} and
    C{"tcp:8001"} are descriptions, C{"localhost:8001"} is an address.

    @param text: a listening address as configured.
    """
    prefix, colon, _ = text.partition(":")
    # Endpoint types are words: an IP address or a bracket is a host.
    if not colon or not prefix.isidentifier():
        return False
    if prefix in _BUILTIN_ENDPOINT_TYPES:
        return True
    from twisted.internet.interfaces import IStreamServerEndpointStringParser
    from twisted.plugin import getPlugins

    return any(
        getattr(parser, "prefix", None) == prefix
        for parser in getPlugins(IStreamServerEndpointStringParser)
    )


@dataclass(frozen=True)
class AddressKind(_TextKind):
    """
    A C{host:port} address, parsed to an L{Address}.

    @ivar endpoints: whether a Twisted server endpoint description (see
        L{isEndpointDescription}) is accepted too, for a listener served by
        Twisted (TLS: C{ssl:8443:privateKey=key.pem:certKey=cert.pem}).  It
        is checked by building the endpoint (so a missing key file is a
        configuration error) and kept as a plain C{str}.
    """

    endpoints: bool = False

    def expectation(self):
        """
        What a value must be, for messages and help.
        """
        address = (
            "an address 'host:port' (port 0-65535, IPv6 hosts in brackets, "
            "an empty host means every interface)"
        )
        if self.endpoints:
            address += (
                " or a Twisted endpoint description such as "
                "'ssl:8443:privateKey=key.pem:certKey=cert.pem'"
            )
        return address

    def parseFlag(self, text):
        """
        Check C{text} with L{splitAddress}, or, for a description, with
        C{serverFromString}.
        """
        if self.endpoints and isEndpointDescription(text):
            return self._parseDescription(text)
        try:
            return Address(text)
        except ValueError:
            raise _InvalidValue(
                f"must be {self.expectation()}, got {_describe(text)}"
            ) from None

    def _parseDescription(self, text):
        """
        Build (without listening) the endpoint C{text} describes.
        """
        from twisted.internet.endpoints import serverFromString

        try:
            # No reactor is needed to build an endpoint, only to listen.
            serverFromString(None, text)
        except Exception as e:
            raise _InvalidValue(
                f"must be a valid Twisted endpoint description, got "
                f"{_describe(text)} ({type(e).__name__}: {e})"
            ) from None
        return str(text)


@dataclass(frozen=True)
class MapKind:
    """
    A mapping of strings to strings.
    """

    def expectation(self):
        """
        What a value must be, for messages and help.
        """
        return "a mapping of strings to strings (as a flag: k=v[,k=v...])"

    def parseYaml(self, value):
        """
        Check a YAML mapping; a problem with one entry names its key.
        """
        if not isinstance(value, Mapping):
            raise _InvalidValue(
                f"must be a mapping of strings to strings, got {_describe(value)}"
            )
        result = {}
        problems = []
        for name, item in value.items():
            if not isinstance(name, str) or not name:
                problems.append(
                    ("", f"keys must be non-empty strings, got {_describe(name)}")
                )
            elif not isinstance(item, str):
                problems.append((name, _notString("a string", item)))
            else:
                result[name] = item
        if problems:
            raise _InvalidValue(problems=problems)
        return result

    def parseFlag(self, text):
        """
        Parse C{k=v[,k=v...]}; the empty string is the empty mapping.
        """
        result = {}
        if not text:
            return result
        for pair in text.split(","):
            name, equals, item = pair.partition("=")
            if not equals or not name or name in result:
                raise _InvalidValue(
                    "must be distinct k=v pairs separated by commas, "
                    f"got {_describe(text)}"
                )
            result[name] = item
        return result


@dataclass(frozen=True)
class JsonListKind:
    """
    A list (as a flag: a JSON array).
    """

    def expectation(self):
        """
        What a value must be, for messages and help.
        """
        return "a list (as a flag: a JSON array)"

    def parseYaml(self, value):
        """
        Check a YAML list.
        """
        if not isinstance(value, list):
            raise _InvalidValue(f"must be a list, got {_describe(value)}")
        return copy.deepcopy(value)

    def parseFlag(self, text):
        """
        Parse a JSON array.
        """
        try:
            value = json.loads(text)
        except ValueError as e:
            raise _InvalidValue(
                f"must be a JSON array, got {_describe(text)} ({e})"
            ) from None
        if not isinstance(value, list):
            raise _InvalidValue(f"must be a JSON array, got {_describe(text)}")
        return value


@dataclass(frozen=True)
class EnumKind(_TextKind):
    """
    One of a few words, case-insensitive, parsed to lower case.

    @ivar choices: the allowed words, in lower case.
    """

    choices: tuple

    def expectation(self):
        """
        What a value must be, for messages and help.
        """
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def parseFlag(self, text):
        """
        Look the word up, ignoring case.
        """
        if text.lower() not in self.choices:
            raise _InvalidValue(f"must be {self.expectation()}, got {_describe(text)}")
        return text.lower()


@dataclass(frozen=True)
class Key:
    """
    One configuration key.

    @ivar path: the dotted YAML path, e.g. C{"api.subsystems.http.addr"}.
    @ivar flag: the long flag name without dashes, e.g. C{"api-http-addr"}
        (given as C{--api-http-addr}).
    @ivar kind: a kind object (L{StrKind}, L{IntKind}, L{BoolKind},
        L{DurationKind}, L{AddressKind}, L{MapKind}, L{JsonListKind} or
        L{EnumKind}) with C{parseYaml(value)}, C{parseFlag(text)} and
        C{expectation()}.
    @ivar default: the default as written in YAML (e.g. C{"10s"}, not
        C{10.0}); L{parsedDefault} gives the typed value.
    @ivar help: one line saying what the key does.
    """

    path: str
    flag: str
    kind: Any
    default: Any
    help: str

    def parsedDefault(self):
        """
        The typed default, as L{Config.get} returns it.
        """
        return self.kind.parseYaml(self.default)


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
    Key("api.baseUrl", "api-base-url", StrKind(nonEmpty=True),
        "http://localhost:8001",
        "this server's public base URL, used in the links of dispatched tasks"),
    Key("api.subsystems.http.addr", "api-http-addr",
        AddressKind(endpoints=True), "0.0.0.0:8001",
        "address the HTTP API listens on: host:port, or a Twisted endpoint "
        "such as ssl:8443:privateKey=key.pem:certKey=cert.pem"),
    Key("api.subsystems.http.timeout", "api-http-timeout",
        DurationKind(allowZero=True), "10s",
        "grace period for in-flight HTTP requests on shutdown"),
    Key("api.subsystems.http.maxBodySize", "api-http-max-body-size", _SIZE,
        10485760, "largest HTTP request body accepted, in bytes"),
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
    Key("api.subsystems.grpc.addr", "api-grpc-addr", AddressKind(),
        "0.0.0.0:50051", "address the gRPC API listens on"),
    Key("aio.size", "aio-size", _SIZE, 100,
        "capacity of the AIO completion queue"),
    Key(f"{_S}.config.kind", "aio-store", StrKind(nonEmpty=True), "sqlite",
        "store kind: sqlite, postgres, or one added by a store plugin"),
    Key(f"{_S}.subsystem.size", "aio-store-size", _SIZE, 100,
        "transactions that may wait for the store before requests get 503"),
    Key(f"{_S}.subsystem.workers", "aio-store-workers", _SIZE, 1,
        "store connections (SQLite: readers; there is always one writer)"),
    Key(f"{_S}.subsystem.batchSize", "aio-store-batch-size", _SIZE, 100,
        "most transactions committed together"),
    Key(f"{_S}.config.sqlite.path", "aio-store-sqlite-path",
        StrKind(nonEmpty=True), "resonate.db", "SQLite database file"),
    Key(f"{_S}.config.sqlite.txTimeout", "aio-store-sqlite-tx-timeout",
        _TIMEOUT, "10s", "SQLite transaction timeout (how long a request may "
        "wait for the writer and the database lock)"),
    Key(f"{_S}.config.sqlite.synchronous", "aio-store-sqlite-synchronous",
        EnumKind(("off", "normal", "full", "extra")), "full",
        "SQLite synchronous mode; full syncs every commit before it is "
        "acknowledged, so a crash loses nothing acknowledged"),
    Key(f"{_S}.config.sqlite.reset", "aio-store-sqlite-reset", BoolKind(),
        False, "delete the SQLite database at startup (tests only)"),
    Key(f"{_S}.config.sqlite.cacheSize", "aio-store-sqlite-cache-size",
        IntKind(minimum=0), 10000, "promises kept in memory for reads "
        "(the server owns the file, so every write passes through it); 0 "
        "for none"),
    Key(f"{_S}.config.postgres.host", "aio-store-postgres-host", StrKind(),
        "localhost", "PostgreSQL host"),
    Key(f"{_S}.config.postgres.port", "aio-store-postgres-port",
        IntKind(minimum=1, maximum=65535), 5432, "PostgreSQL port"),
    Key(f"{_S}.config.postgres.username", "aio-store-postgres-username",
        StrKind(), "", "PostgreSQL user"),
    Key(f"{_S}.config.postgres.password", "aio-store-postgres-password",
        StrKind(), "", "PostgreSQL password"),
    Key(f"{_S}.config.postgres.database", "aio-store-postgres-database",
        StrKind(), "resonate", "PostgreSQL database"),
    Key(f"{_S}.config.postgres.query", "aio-store-postgres-query", MapKind(),
        {}, "extra connection parameters, e.g. sslmode=disable"),
    Key(f"{_S}.config.postgres.txTimeout", "aio-store-postgres-tx-timeout",
        _TIMEOUT, "10s", "PostgreSQL transaction timeout (waiting for a "
        "connection included)"),
    Key(f"{_S}.config.postgres.reset", "aio-store-postgres-reset", BoolKind(),
        False, "delete every PostgreSQL row at startup (tests only)"),
    Key(f"{_N}.subsystem.size", "aio-network-size", _SIZE, 100,
        "outgoing HTTP requests that may wait"),
    Key(f"{_N}.subsystem.workers", "aio-network-workers", _SIZE, 3,
        "outgoing HTTP requests in flight at once"),
    Key(f"{_N}.subsystem.batchSize", "aio-network-batch-size", _SIZE, 100,
        "most outgoing HTTP requests taken at once"),
    Key(f"{_N}.config.timeout", "aio-network-timeout", _TIMEOUT, "10s",
        "timeout of outgoing HTTP requests"),
    Key(f"{_Q}.subsystem.size", "aio-queuing-size", _SIZE, 100,
        "task dispatches that may wait"),
    Key(f"{_Q}.subsystem.workers", "aio-queuing-workers",
        IntKind(minimum=1, maximum=1), 1,
        "task dispatch workers (must be 1)"),
    Key(f"{_Q}.subsystem.batchSize", "aio-queuing-batch-size", _SIZE, 100,
        "most task dispatches taken at once"),
    Key(f"{_Q}.config.connections", "aio-queuing-connections",
        JsonListKind(), [],
        "task connections: {kind: http, name, metadata.properties.url}"),
    Key(f"{_Q}.config.routes", "aio-queuing-routes", JsonListKind(), [],
        "task routes: {kind: pattern, name, target: {connection, queue}, "
        "metadata.properties.pattern}"),
    Key("system.notificationCacheSize", "system-notification-cache-size",
        _SIZE, 100, "most pending subscription notifications kept"),
    Key("system.submissionBatchSize", "system-submission-batch-size", _SIZE,
        100, "most API submissions taken per tick"),
    Key("system.completionBatchSize", "system-completion-batch-size", _SIZE,
        100, "most AIO completions taken per tick"),
    Key("system.scheduleBatchSize", "system-schedule-batch-size", _SIZE,
        10000, "most schedules handled per sweep"),
    Key("system.timeoutInterval", "system-timeout-interval", _TIMEOUT, "1s",
        "how often the background sweep times out overdue promises"),
    Key("system.timeoutBatchSize", "system-timeout-batch-size", _SIZE, 1000,
        "most promises timed out per sweep iteration"),
    Key("metrics.port", "metrics-port", _PORT, 9090,
        "port of the Prometheus metrics server (0: any free port)"),
    Key("log.level", "log-level", EnumKind(("debug", "info", "warn", "error")),
        "info", "least severe log level written"),
)
# fmt: on
"""
Every configuration key, in the order of the shipped C{etc/resonate.yml}.
"""

KEYS_BY_PATH = MappingProxyType({key.path: key for key in KEYS})
"""
L{KEYS} by C{path}.
"""

KEYS_BY_FLAG = MappingProxyType({key.flag: key for key in KEYS})
"""
L{KEYS} by C{flag}.
"""


def _keyTree():
    """
    The YAML layout of L{KEYS}: nested dicts of path segments whose leaves
    are L{Key}s.  Built afresh on each call.
    """
    tree = {}
    for key in KEYS:
        *sections, leaf = key.path.split(".")
        node = tree
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = key
    return tree


def _showDefault(key):
    """
    A key's default as a user would write it, for help text.
    """
    default = key.default
    if isinstance(default, bool):
        return "true" if default else "false"
    if default == "":
        return '""'
    if isinstance(default, Mapping):
        return "none"
    if isinstance(default, list):
        return "[]"
    return str(default)


@dataclass(frozen=True)
class Config:
    """
    A checked configuration; make one with L{loadConfig}.

    @ivar values: key path to typed value, for every key of L{KEYS}
        (read-only; prefer L{get}, which copies mutable values).
    @ivar sources: key path to one of L{SOURCES}.
    @ivar storeSections: third-party store kind to its raw section from the
        YAML file, C{aio.subsystems.store.config.<kind>}.
    @ivar filePath: the YAML file read, or C{None}.
    """

    values: Mapping
    sources: Mapping
    storeSections: Mapping = field(default_factory=lambda: MappingProxyType({}))
    filePath: Optional[str] = None

    def get(self, path):
        """
        The typed value of a key.

        @param path: a key path of L{KEYS}, e.g. C{"api.size"}.
        @return: C{str}, C{int}, C{bool}, C{float} seconds (durations), an
            L{Address}, a C{dict} (maps) or a C{list} (JSON lists); lists
            and dicts are fresh copies, so this object stays unchanged.
        @raise KeyError: C{path} is not a key.
        """
        if path not in self.values:
            raise KeyError(f"no configuration key {path!r}")
        return copy.deepcopy(self.values[path])

    def source(self, path):
        """
        Where a key's value came from.

        @param path: a key path of L{KEYS}.
        @return: C{"default"}, C{"file"} or C{"flag"}.
        @raise KeyError: C{path} is not a key.
        """
        if path not in self.sources:
            raise KeyError(f"no configuration key {path!r}")
        return self.sources[path]

    def storeConfig(self):
        """
        The store section, for the L{resonate.interfaces.IStoreProvider} of
        the configured kind.

        @return: a L{StoreConfig} whose C{options} are, for C{sqlite} and
            C{postgres}, the typed values of their keys by leaf name (e.g.
            C{{"path": "resonate.db", "txTimeout": 10.0, "reset": False}}),
            and for any other kind a copy of the raw mapping under
            C{aio.subsystems.store.config.<kind>} in the file, or C{{}}.
        """
        kind = self.get(f"{STORE_CONFIG_PATH}.kind")
        if kind in BUILTIN_STORE_KINDS:
            prefix = f"{STORE_CONFIG_PATH}.{kind}."
            options = {
                path[len(prefix) :]: self.get(path)
                for path in self.values
                if path.startswith(prefix)
            }
        else:
            options = copy.deepcopy(dict(self.storeSections.get(kind, {})))
        return StoreConfig(
            kind=kind,
            size=self.get("aio.subsystems.store.subsystem.size"),
            workers=self.get("aio.subsystems.store.subsystem.workers"),
            batchSize=self.get("aio.subsystems.store.subsystem.batchSize"),
            options=options,
        )


class _StrictLoader(yaml.SafeLoader):
    """
    A safe YAML loader that records duplicate keys, which plain
    C{yaml.safe_load} silently resolves to the last one.

    @ivar duplicateKeys: C{(key, mark)} for each repeated key.
    """

    def __init__(self, stream):
        """
        @param stream: the YAML text (C{bytes} or C{str}).
        """
        super().__init__(stream)
        self.duplicateKeys = []

    def construct_mapping(self, node, deep=False):
        """
        Record repeated keys (merge keys C{<<} aside), then construct as
        usual.
        """
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for keyNode, _ in node.value:
                if keyNode.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(keyNode, deep=deep)
                try:
                    if key in seen:
                        self.duplicateKeys.append((key, keyNode.start_mark))
                    seen.add(key)
                except TypeError:
                    continue
        return super().construct_mapping(node, deep=deep)


def _readFile(path, errors):
    """
    Read and parse a YAML configuration file.

    @param path: the file name.
    @param errors: a list to append C{(None, message)} problems to.
    @return: the parsed document (C{{}} for an empty file), or C{None} if
        it could not be read or parsed.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        errors.append((None, f"cannot read file {path!r}: {e.strerror or e}"))
        return None
    loader = _StrictLoader(data)
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or " ".join(str(e).split())
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        errors.append((None, f"file {path!r} is not valid YAML: {problem}{where}"))
        return None
    finally:
        loader.dispose()
    for key, mark in loader.duplicateKeys:
        errors.append(
            (
                None,
                f"file {path!r} repeats the key {_describe(key)} "
                f"(line {mark.line + 1}, column {mark.column + 1})",
            )
        )
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        errors.append(
            (None, f"file {path!r} must hold a mapping, got {_describe(document)}")
        )
        return None
    return document


def _join(prefix, name):
    """
    Append a segment to a dotted path.
    """
    return f"{prefix}.{name}" if prefix else name


def _walk(mapping, tree, prefix, fileValues, storeSections, errors):
    """
    Match a YAML mapping against the layout of L{KEYS}.

    @param mapping: the YAML mapping at C{prefix}.
    @param tree: the part of L{_keyTree} at C{prefix}.
    @param prefix: the dotted path of C{mapping} (C{""} at the top).
    @param fileValues: a dict to fill with key path to raw YAML value.
    @param storeSections: a dict to fill with third-party store kind to its
        raw section.
    @param errors: a list to append C{(path, message)} problems to.
    """
    for name, value in mapping.items():
        if not isinstance(name, str):
            errors.append(
                (
                    _join(prefix, _describe(name)),
                    "unknown key (YAML does not read it as a string; quote it)",
                )
            )
            continue
        path = _join(prefix, name)
        node = tree.get(name)
        if node is None:
            if prefix == STORE_CONFIG_PATH:
                if value is None:
                    value = {}
                if isinstance(value, Mapping):
                    storeSections[name] = value
                else:
                    errors.append(
                        (
                            path,
                            f"must be a mapping (the settings of store "
                            f"kind {name!r}), got {_describe(value)}",
                        )
                    )
                continue
            message = "unknown key"
            close = difflib.get_close_matches(name, list(tree), n=1)
            if close:
                message += f"; did you mean {_join(prefix, close[0])!r}?"
            errors.append((path, message))
        elif isinstance(node, Key):
            fileValues[path] = value
        elif value is None:
            continue
        elif not isinstance(value, Mapping):
            errors.append((path, f"must be a mapping, got {_describe(value)}"))
        else:
            _walk(value, node, path, fileValues, storeSections, errors)


def _parseValue(key, raw, fromFlag, errors):
    """
    Parse one value with its key's kind.

    @param key: the L{Key}.
    @param raw: the YAML value, or the flag's text.
    @param fromFlag: whether C{raw} came from a flag (then messages name it).
    @param errors: a list to append C{(path, message)} problems to.
    @return: C{(True, typed)} or C{(False, None)}.
    """
    try:
        if fromFlag and isinstance(raw, str):
            return True, key.kind.parseFlag(raw)
        return True, key.kind.parseYaml(raw)
    except _InvalidValue as e:
        for suffix, message in e.problems:
            if fromFlag:
                message += f" (from flag --{key.flag})"
            errors.append((_join(key.path, suffix) if suffix else key.path, message))
        return False, None


def _checkQueuing(values, sources, errors):
    """
    Check the shapes of the queuing connections and routes, and that every
    route names a connection (contract section 2.8).

    @param values: key path to typed value.
    @param sources: key path to source, so messages can name flags.
    @param errors: a list to append C{(path, message)} problems to.
    """

    def report(keyPath, where, message):
        """
        Record a problem at C{keyPath + where}, naming the flag if the
        value came from one.
        """
        if sources.get(keyPath) == "flag":
            message += f" (from flag --{KEYS_BY_PATH[keyPath].flag})"
        errors.append((keyPath + where, message))

    def text(keyPath, where, item, *names):
        """
        The non-empty string at C{item[names[0]][names[1]]...}, or
        C{None} after recording a problem.
        """
        value = item
        for name in names:
            if not isinstance(value, Mapping):
                value = None
                break
            value = value.get(name)
        if not isinstance(value, str) or not value:
            report(
                keyPath,
                f"{where}.{'.'.join(names)}",
                f"must be a non-empty string, got {_describe(value)}",
            )
            return None
        return value

    connectionsPath = f"{_Q}.config.connections"
    routesPath = f"{_Q}.config.routes"
    names = set()
    for index, item in enumerate(values[connectionsPath]):
        where = f"[{index}]"
        if not isinstance(item, Mapping):
            report(connectionsPath, where, f"must be a mapping, got {_describe(item)}")
            continue
        kind = text(connectionsPath, where, item, "kind")
        if kind is not None and kind != "http":
            report(connectionsPath, f"{where}.kind", f"must be 'http', got {kind!r}")
        name = text(connectionsPath, where, item, "name")
        if name is not None:
            if name in names:
                report(
                    connectionsPath,
                    f"{where}.name",
                    f"repeats the connection name {name!r}",
                )
            names.add(name)
        text(connectionsPath, where, item, "metadata", "properties", "url")
    for index, item in enumerate(values[routesPath]):
        where = f"[{index}]"
        if not isinstance(item, Mapping):
            report(routesPath, where, f"must be a mapping, got {_describe(item)}")
            continue
        kind = text(routesPath, where, item, "kind")
        if kind is not None and kind != "pattern":
            report(routesPath, f"{where}.kind", f"must be 'pattern', got {kind!r}")
        text(routesPath, where, item, "name")
        connection = text(routesPath, where, item, "target", "connection")
        if connection is not None and connection not in names:
            report(
                routesPath,
                f"{where}.target.connection",
                f"names no connection in {connectionsPath}: {connection!r}",
            )
        text(routesPath, where, item, "target", "queue")
        pattern = text(routesPath, where, item, "metadata", "properties", "pattern")
        if pattern is not None:
            try:
                checkPattern(pattern)
            except InvalidPattern as e:
                report(routesPath, f"{where}.metadata.properties.pattern", str(e))


_AUTH = "api.subsystems.http.auth"


def _checkAuth(values, sources, errors):
    """
    Check that the HTTP basic auth user name and password are set together
    (an empty pair turns auth off), and that the user name has no colon.

    @param values: key path to typed value.
    @param sources: key path to source, so messages can name flags.
    @param errors: a list to append C{(path, message)} problems to.
    """

    def report(path, message):
        if sources.get(path) == "flag":
            message += f" (from flag --{KEYS_BY_PATH[path].flag})"
        errors.append((path, message))

    username = values[f"{_AUTH}.username"]
    password = values[f"{_AUTH}.password"]
    if username and not password:
        errors.append(
            (
                f"{_AUTH}.password",
                f"must be set when {_AUTH}.username is "
                "(set both to require basic auth, or neither)",
            )
        )
    if password and not username:
        errors.append(
            (
                f"{_AUTH}.username",
                f"must be set when {_AUTH}.password is "
                "(set both to require basic auth, or neither)",
            )
        )
    if ":" in username:
        report(f"{_AUTH}.username", "must not contain ':' (RFC 7617)")


def loadConfig(path=None, flags=None):
    """
    Load, check and freeze the configuration: the defaults of L{KEYS}, then
    the YAML file at C{path}, then C{flags}.

    Every value is checked, including file values that a flag overrides,
    and every problem is reported at once.  Unknown keys in the file are
    problems, except under C{aio.subsystems.store.config.<kind>} for a kind
    other than C{sqlite} and C{postgres}, which is kept raw for its plugin.

    @param path: a YAML file name, or C{None} for no file (no file is looked
        for implicitly).
    @param flags: a mapping of flag name (C{"api-size"}; leading dashes are
        allowed) to its text, holding only the flags the user gave; a value
        that is not a C{str} is checked as a YAML value would be.
    @return: a L{Config}.
    @raise ConfigError: the file cannot be read or parsed, or any key, value
        or flag is wrong.
    """
    errors = []
    fileValues = {}
    storeSections = {}
    if path is not None:
        document = _readFile(path, errors)
        if document is not None:
            _walk(document, _keyTree(), "", fileValues, storeSections, errors)
    flagValues = {}
    for name, raw in (flags or {}).items():
        key = KEYS_BY_FLAG.get(name.lstrip("-"))
        if key is None:
            errors.append((None, f"unknown flag --{name.lstrip('-')}"))
        else:
            flagValues[key.path] = raw
    values = {}
    sources = {}
    for key in KEYS:
        values[key.path] = key.parsedDefault()
        sources[key.path] = "default"
        for source, given, fromFlag in (
            ("file", fileValues, False),
            ("flag", flagValues, True),
        ):
            if key.path in given:
                ok, value = _parseValue(key, given[key.path], fromFlag, errors)
                if ok:
                    values[key.path] = value
                    sources[key.path] = source
    _checkQueuing(values, sources, errors)
    _checkAuth(values, sources, errors)
    if errors:
        raise ConfigError(errors)
    return Config(
        values=MappingProxyType(values),
        sources=MappingProxyType(sources),
        storeSections=MappingProxyType(storeSections),
        filePath=path,
    )


def usageParameters():
    """
    One C{twisted.python.usage.Options.optParameters} entry per key, with no
    default (so that L{flagsFromOptions} can tell which flags were given)
    and the real default in the help text.

    @return: a new list of C{[flag, None, None, help]} lists.
    """
    return [
        [
            key.flag,
            None,
            None,
            f"{key.help} (default: {_showDefault(key)}; file key: {key.path})",
        ]
        for key in KEYS
    ]


def flagsFromOptions(options):
    """
    The configuration flags the user gave.

    @param options: a parsed C{twisted.python.usage.Options} (or any
        mapping) whose parameters include L{usageParameters}.
    @return: a new C{dict} of flag name to text, for the flags of L{KEYS}
        whose value is not C{None}; pass it to L{loadConfig}.
    """
    return {
        key.flag: options[key.flag] for key in KEYS if options.get(key.flag) is not None
    }
