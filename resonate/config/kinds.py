# -*- test-case-name: tests.unit.test_config -*-
"""
Kinds of configuration values: how a value written in YAML or given as a
flag is parsed and checked.

A kind is any object with three methods:

  - C{parseYaml(value)}: check a value read from YAML and return it typed;
  - C{parseFlag(text)}: the same for a flag's text;
  - C{expectation()}: what a value must be, for messages and C{--help}
    (C{"a duration > 0 such as '250ms', '10s' or '1m30s'"}).

Both parsers raise L{InvalidValue} for a value they refuse.  The kinds here
cover every key of the server and of its store plugins; a store plugin may
bring a kind of its own with the same three methods.

Kinds and their written forms:

  - L{StrKind}: a YAML string (quote numbers: C{password: "1234"}).
  - L{IntKind}: a YAML integer, or a string of decimal digits (the Go server
    writes the Postgres port as C{"5432"}); each key has its own range.
  - L{BoolKind}: a YAML boolean, or one of the strings Go's
    C{strconv.ParseBool} accepts: C{1 t T TRUE true True 0 f F FALSE false
    False}.
  - L{DurationKind}: a Go duration string: C{"250ms"}, C{"10s"},
    C{"1m30s"}, C{"1h"}, C{"1.5s"} (units C{ns us µs ms s m h}; C{"0"}
    alone is zero).  A bare YAML number is an error rather than a guess: the
    Resonate API counts milliseconds, viper would count nanoseconds and
    Python counts seconds, so every reading of C{timeout: 10} would surprise
    someone.  Parsed to C{float} seconds.
  - L{SizeKind}: a number of bytes: a YAML integer, or a string with a unit
    (C{"512KiB"}, C{"10MiB"}, C{"1GB"}).  Parsed to an C{int}.
  - L{AddressKind}: C{"host:port"}; an empty host means every interface, an
    IPv6 host goes in brackets (C{"[::1]:8001"}).  Parsed to an L{Address},
    which keeps the original text.  It may also take a Twisted endpoint
    description (C{ssl:8443:privateKey=key.pem}), kept as a C{str}; see
    L{isEndpointDescription}.
  - L{HostKind}: a host without a port (C{"127.0.0.1"}, C{"::1"},
    C{"[::1]"}, C{"localhost"}); an empty host means every interface.
  - L{MapKind}: a YAML mapping of strings to strings; as a flag,
    C{k=v[,k=v...]} (so values cannot contain commas).
  - L{JsonListKind}: a YAML list; as a flag, a JSON array.
  - L{EnumKind}: one of a few words, case-insensitive, parsed to lower
    case.
"""

import copy
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Optional

from resonate.model.durations import parseMilliseconds


class InvalidValue(Exception):
    """
    A kind refused a value.  Raise it from C{parseYaml} and C{parseFlag}.

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


def describeValue(value):
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
    return f"must be {expectation}, got {describeValue(value)}{hint}"


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

        @raise InvalidValue: it is not a string (numbers are refused rather
            than converted: YAML reads C{0123} as 83).
        """
        if not isinstance(value, str):
            raise InvalidValue(_notString(self.expectation(), value))
        return self.parseFlag(value)

    def parseFlag(self, text):
        """
        Check a flag's text.
        """
        if self.nonEmpty and not text:
            raise InvalidValue(f"must be {self.expectation()}, got ''")
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
        raise InvalidValue(f"must be {self.expectation()}, got {describeValue(value)}")

    def parseYaml(self, value):
        """
        Check a YAML integer, or a string of decimal digits.

        @raise InvalidValue: anything else (booleans and floats included),
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


@dataclass(frozen=True)
class WorkersKind:
    """
    A count of processes: an integer of at least 1, or C{auto} for as many
    as this process may run on CPUs (its affinity mask, as C{nproc} says).

    @ivar cpuCount: a callable giving the CPU count C{auto} means; the
        process's own by default.
    """

    cpuCount: Optional[object] = None

    def expectation(self):
        """
        What a value must be, for messages and help.
        """
        return "an integer >= 1 or auto"

    def _cpus(self):
        if self.cpuCount is not None:
            return self.cpuCount()
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:
            return os.cpu_count() or 1

    def parseYaml(self, value):
        """
        Check a YAML integer, or C{auto}, or a string of decimal digits.
        """
        if value == "auto":
            return self._cpus()
        try:
            return IntKind(minimum=1).parseYaml(value)
        except InvalidValue:
            raise InvalidValue(
                f"must be {self.expectation()}, got {describeValue(value)}"
            ) from None

    def parseFlag(self, text):
        """
        Parse C{auto} or a string of decimal digits.
        """
        if text == "auto":
            return self._cpus()
        try:
            return IntKind(minimum=1).parseFlag(text)
        except InvalidValue:
            raise InvalidValue(
                f"must be {self.expectation()}, got {describeValue(text)}"
            ) from None


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
        raise InvalidValue(f"must be {self.expectation()}, got {describeValue(value)}")

    def parseFlag(self, text):
        """
        Parse the way Go's C{strconv.ParseBool} does.
        """
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise InvalidValue(f"must be {self.expectation()}, got {describeValue(text)}")


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

        @raise InvalidValue: a bare number (its unit would be a guess), or
            anything else that is not a string.
        """
        if isinstance(value, str):
            return self.parseFlag(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise InvalidValue(
                f"must be {self.expectation()}, got {describeValue(value)} "
                f"(a bare number has no unit; write e.g. '{value}ms' or "
                f"'{value}s')"
            )
        raise InvalidValue(f"must be {self.expectation()}, got {describeValue(value)}")

    def parseFlag(self, text):
        """
        Parse with L{parseDuration} and check the bound.
        """
        try:
            seconds = parseDuration(text)
        except ValueError:
            seconds = None
        if seconds is None or seconds < 0 or (seconds == 0 and not self.allowZero):
            raise InvalidValue(f"must be {self.expectation()}, got {describeValue(text)}")
        return seconds


@dataclass(frozen=True)
class DaysDurationKind(DurationKind):
    """
    A duration as people type them, days included (C{"30d"}, C{"1d12h"},
    C{"12h"}: L{resonate.model.durations.parseMilliseconds}, which the CLI
    and the console read too), parsed to float seconds, for periods
    counted in days such as retention.  Zero (C{"0"}) is allowed: off.
    """

    allowZero: bool = True

    def expectation(self):
        return "a duration >= 0 such as '30d', '12h' or '1d12h' (0: off)"

    def parseFlag(self, text):
        """
        C{"0"}, or a duration of L{parseMilliseconds}.
        """
        if text == "0":
            return 0.0
        try:
            return parseMilliseconds(text) / 1000
        except (ValueError, TypeError):
            raise InvalidValue(f"must be {self.expectation()}, got {describeValue(text)}")


_SIZE_UNITS = MappingProxyType(
    {
        "": 1,
        "B": 1,
        "KB": 1000,
        "MB": 1000**2,
        "GB": 1000**3,
        "KiB": 1024,
        "MiB": 1024**2,
        "GiB": 1024**3,
    }
)
_SIZE_TEXT = re.compile(r"([0-9]+)\s*([KMG]i?B|B)?")


def parseSize(text):
    """
    Parse a number of bytes, with an optional unit.

    @param text: e.g. C{"1048576"}, C{"512KiB"}, C{"10MiB"}, C{"1GB"}.
    @return: the number of bytes, an C{int}.
    @raise ValueError: C{text} is not a size.
    """
    match = _SIZE_TEXT.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"invalid size {text!r}")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2) or ""]


@dataclass(frozen=True)
class SizeKind:
    """
    A number of bytes, parsed to an C{int}: a YAML integer, or a string
    such as C{"10MiB"} (units C{B KB MB GB KiB MiB GiB}).

    @ivar minimum: the smallest allowed.
    """

    minimum: int = 1

    def expectation(self):
        """
        What a value must be, for messages and help.
        """
        return (
            f"a size >= {self.minimum} bytes, as a number of bytes or with a "
            "unit such as '512KiB' or '10MiB'"
        )

    def parseYaml(self, value):
        """
        Check a YAML integer, or a string as for L{parseFlag}.
        """
        if isinstance(value, str):
            return self.parseFlag(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValue(
                f"must be {self.expectation()}, got {describeValue(value)}"
            )
        return self._checkMinimum(value, value)

    def parseFlag(self, text):
        """
        Parse with L{parseSize} and check the minimum.
        """
        try:
            size = parseSize(text)
        except ValueError:
            raise InvalidValue(
                f"must be {self.expectation()}, got {describeValue(text)}"
            ) from None
        return self._checkMinimum(size, text)

    def _checkMinimum(self, size, written):
        """
        Return C{size} if it is large enough; otherwise refuse C{written}.
        """
        if size < self.minimum:
            raise InvalidValue(
                f"must be {self.expectation()}, got {describeValue(written)}"
            )
        return size


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
            raise InvalidValue(_notString(self.expectation(), value))
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


def listenAddress(host, port):
    """
    The C{host:port} address of C{host} (C{""}: every interface; IPv6
    without brackets) and C{port}, as L{splitAddress} reads it.
    """
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


class HostKind(_TextKind):
    """
    A host to listen on, without a port (the port is a key of its own):
    an IPv4 or IPv6 address (IPv6 with or without brackets) or a name;
    C{""} means every interface.  Parsed to the host without brackets.
    """

    def expectation(self):
        """
        What a value must be, for messages and help.
        """
        return (
            "a host without a port: an IP address (IPv6 with or without "
            "brackets) or a name; empty means every interface"
        )

    def parseFlag(self, text):
        """
        Check C{text}: a C{host:port} is refused, naming the port's key is
        the caller's message to give (the expectation says "without a
        port").
        """
        import ipaddress

        host = text
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
            ok = ":" in host
        else:
            ok = True
        if ok and ":" in host:
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                ok = False
        ok = ok and not any(c.isspace() or c in "[]/" for c in host)
        if not ok:
            raise InvalidValue(f"must be {self.expectation()}, got {describeValue(text)}")
        return host


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
            raise InvalidValue(
                f"must be {self.expectation()}, got {describeValue(text)}"
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
            raise InvalidValue(
                f"must be a valid Twisted endpoint description, got "
                f"{describeValue(text)} ({type(e).__name__}: {e})"
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
            raise InvalidValue(
                f"must be a mapping of strings to strings, got {describeValue(value)}"
            )
        result = {}
        problems = []
        for name, item in value.items():
            if not isinstance(name, str) or not name:
                problems.append(
                    ("", f"keys must be non-empty strings, got {describeValue(name)}")
                )
            elif not isinstance(item, str):
                problems.append((name, _notString("a string", item)))
            else:
                result[name] = item
        if problems:
            raise InvalidValue(problems=problems)
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
                raise InvalidValue(
                    "must be distinct k=v pairs separated by commas, "
                    f"got {describeValue(text)}"
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
            raise InvalidValue(f"must be a list, got {describeValue(value)}")
        return copy.deepcopy(value)

    def parseFlag(self, text):
        """
        Parse a JSON array.
        """
        try:
            value = json.loads(text)
        except ValueError as e:
            raise InvalidValue(
                f"must be a JSON array, got {describeValue(text)} ({e})"
            ) from None
        if not isinstance(value, list):
            raise InvalidValue(f"must be a JSON array, got {describeValue(text)}")
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
            raise InvalidValue(f"must be {self.expectation()}, got {describeValue(text)}")
        return text.lower()
