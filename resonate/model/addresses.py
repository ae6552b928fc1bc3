# -*- test-case-name: tests.unit.test_model_addresses -*-
"""
Delivery addresses of the 2026 protocol (protocol §6): where a task's
C{execute} (its C{resonate:target} tag) and a listener's C{unblock} go.

    http://host/path, https://host/path      HTTP push to that URL
    poll://uni@group/id                       SSE, that connection only
    poll://any@group, poll://any@group/id     SSE, that id if connected,
                                              else any connection of group
    gcps://project/topic                      Google Pub/Sub
    bash://...                                script execution

L{parseAddress} returns one of L{HttpAddress}, L{PollAddress},
L{GcpsAddress}, L{BashAddress}, or an L{InvalidAddress} saying why; it never
raises.  A valid address whose transport is disabled, or a poll address
nobody is connected to, is still valid: its messages are dropped at
delivery, not refused at create.

The reference parses with the WHATWG URL rules; this module follows them
for everything the forms above depend on: the scheme (case-insensitive),
leading and trailing spaces and control characters ignored, tabs and
newlines removed, userinfo up to the last C{@}, a port of at most 65535,
characters no host may contain, IPv4 and IPv6 literals.  Choices where it
is open or where WHATWG is lenient:

  - C{http(s)} must be followed by exactly C{//} and a host: WHATWG's
    C{http:host}, C{http:/host} and C{http:///host} forms are refused,
    since no SDK writes them and the push client would not read them as
    the URL they mean.
  - A poll address's group and id are given percent-decoded, so that they
    compare equal to the segments of C{GET /poll/{group}/{id}} decoded
    once; dot segments in the id are not normalised.
  - A C{gcps} address needs a non-empty project as well as a topic.
"""

import enum
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote

#: The 400 message for an invalid C{resonate:target} tag on a create.
INVALID_TARGET = "Invalid resonate:target address"

#: The 400 message for an invalid address in C{promise.register_listener}.
INVALID_LISTENER = "Invalid listener address"

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):(.*)\Z", re.DOTALL)
_PORT = re.compile(r"[0-9]*\Z")

#: Code points no host may contain (WHATWG "forbidden host code point").
_FORBIDDEN_HOST = frozenset("\x00\t\n\r #/:<>?@[\\]^|")

#: What a domain may not contain besides: C0 controls, C{%} and DEL.
_FORBIDDEN_DOMAIN = _FORBIDDEN_HOST | frozenset(
    [chr(c) for c in range(0x20)] + ["%", "\x7f"]
)

_SPECIAL = frozenset(["http", "https"])


class Cast(enum.Enum):
    """
    How a poll address picks among the connections of its group.
    """

    UNI = "uni"
    ANY = "any"


@dataclass(frozen=True)
class HttpAddress:
    """
    HTTP push: messages are C{POST}ed to C{url}, the address as given.
    """

    url: str


@dataclass(frozen=True)
class PollAddress:
    """
    SSE delivery to the connections of C{GET /poll/{group}/{id}}.

    @ivar cast: L{Cast.UNI} for exactly the connection C{(group, id)};
        L{Cast.ANY} for that one if connected, else any of C{group}.
    @ivar group: a non-empty C{str}.
    @ivar id: a C{str}, or L{None} when the address names none (a unicast
        address without an id is valid but undeliverable).
    """

    cast: Cast
    group: str
    id: str = None


@dataclass(frozen=True)
class GcpsAddress:
    """
    Google Pub/Sub delivery to C{topic} of C{project}.
    """

    project: str
    topic: str


@dataclass(frozen=True)
class BashAddress:
    """
    Script execution; the transport reads the C{address} itself.
    """

    address: str


@dataclass(frozen=True)
class InvalidAddress:
    """
    An address that no transport can deliver to.

    @ivar address: the address as given.
    @ivar reason: why, for logs; the API answers with L{INVALID_TARGET} or
        L{INVALID_LISTENER}.
    """

    address: object
    reason: str


@dataclass(frozen=True)
class _Authority:
    """
    The parts of a URL between C{//} and its path.
    """

    username: str
    host: str
    rest: str


def _clean(address):
    """
    Remove what WHATWG ignores: leading and trailing C0 controls and spaces,
    and every tab and newline.
    """
    stripped = address.strip("".join(chr(c) for c in range(0x21)))
    return stripped.replace("\t", "").replace("\n", "").replace("\r", "")


def _splitAuthority(rest, special):
    """
    Split what follows C{scheme://} into its authority and the rest
    (path, query, fragment).

    @return: an L{_Authority}, or a C{str} saying why there is none.
    """
    if special:
        rest = rest.replace("\\", "/")
    end = len(rest)
    for delimiter in "/?#":
        found = rest.find(delimiter)
        if 0 <= found < end:
            end = found
    authority, rest = rest[:end], rest[end:]
    userinfo, at, hostPort = authority.rpartition("@")
    username = userinfo.partition(":")[0] if at else ""
    if at and hostPort == "":
        return "has credentials but no host"
    if hostPort.startswith("["):
        close = hostPort.find("]")
        if close < 0:
            return "has an unclosed IPv6 literal"
        host, port = hostPort[: close + 1], hostPort[close + 1 :]
        if port and not port.startswith(":"):
            return "has text after its IPv6 literal"
        port = port[1:]
    else:
        host, colon, port = hostPort.partition(":")
        if colon and host == "":
            return "has a port but no host"
    if not _PORT.match(port):
        return f"has an invalid port {port!r}"
    if port and int(port) > 65535:
        return f"has a port out of range {port!r}"
    return _Authority(username, host, rest)


def _ipv4Number(part):
    """
    A part of an IPv4 literal as WHATWG reads it (decimal, C{0x} hex or
    leading-zero octal), or L{None}.
    """
    try:
        if part[:2] in ("0x", "0X"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def _checkIPv4(host):
    """
    A host whose last label is a number is an IPv4 literal and must be a
    valid one.

    @return: L{None}, or why it is not valid.
    """
    labels = host.split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels = labels[:-1]
    last = labels[-1]
    lastIsNumber = last.isdigit() or (
        last[:2] in ("0x", "0X") and all(c in "0123456789abcdefABCDEF" for c in last[2:])
    )
    if not lastIsNumber:
        return None
    numbers = [_ipv4Number(label) for label in labels]
    if len(numbers) > 4 or None in numbers:
        return "has an invalid IPv4 address"
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return "has an invalid IPv4 address"
    return None


def _checkHost(host, special):
    """
    Whether C{host} is a host WHATWG accepts: a domain (special schemes) or
    an opaque host (the others), or an IPv6 literal.

    @return: L{None}, or why not.
    """
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return "has an invalid IPv6 address"
        return None
    if not special:
        if any(c in _FORBIDDEN_HOST for c in host):
            return "has a character no host may contain"
        return None
    if host == "":
        return "has no host"
    domain = unquote(host, errors="strict") if "%" in host else host
    if any(c in _FORBIDDEN_DOMAIN for c in domain):
        return "has a character no host may contain"
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return "has a host that is not a valid domain name"
    return _checkIPv4(domain)


def _parsePoll(authority):
    """
    A poll address: the user picks the cast, the host is the group, the
    path (without its leading C{/}) the id.
    """
    casts = {cast.value: cast for cast in Cast}
    if authority.username not in casts:
        return "needs the user uni or any"
    if authority.host == "":
        return "needs a group"
    path = re.split(r"[?#]", authority.rest, maxsplit=1)[0]
    pollId = unquote(path[1:]) if len(path) > 1 else None
    return PollAddress(casts[authority.username], unquote(authority.host), pollId)


def _parseGcps(authority):
    """
    A Pub/Sub address: the host is the project, the path the topic.
    """
    path = re.split(r"[?#]", authority.rest, maxsplit=1)[0]
    if authority.host == "":
        return "needs a project"
    if len(path) <= 1:
        return "needs a topic"
    return GcpsAddress(unquote(authority.host), unquote(path[1:]))


def parseAddress(address):
    """
    Parse a delivery address.

    @param address: the address as given (a C{str}; anything else is
        invalid).
    @return: an L{HttpAddress}, L{PollAddress}, L{GcpsAddress} or
        L{BashAddress}, or an L{InvalidAddress}.
    """
    if not isinstance(address, str):
        return InvalidAddress(address, "is not a string")
    match = _SCHEME.match(_clean(address))
    if match is None:
        return InvalidAddress(address, "has no scheme")
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme not in ("http", "https", "poll", "gcps", "bash"):
        return InvalidAddress(address, f"has the unsupported scheme {scheme!r}")
    special = scheme in _SPECIAL
    hasAuthority = rest.startswith("//") or (
        special and rest[:2].replace("\\", "/") == "//"
    )
    if not hasAuthority:
        if scheme == "bash":
            return BashAddress(address)
        return InvalidAddress(address, f"needs {scheme}://")
    authority = _splitAuthority(rest[2:], special)
    if isinstance(authority, str):
        return InvalidAddress(address, authority)
    try:
        problem = _checkHost(authority.host, special)
    except UnicodeDecodeError:
        problem = "has a host that is not UTF-8 once percent-decoded"
    if problem is not None:
        return InvalidAddress(address, problem)
    if special:
        return HttpAddress(address)
    if scheme == "bash":
        return BashAddress(address)
    parsed = (_parsePoll if scheme == "poll" else _parseGcps)(authority)
    if isinstance(parsed, str):
        return InvalidAddress(address, parsed)
    return parsed


def isValidAddress(address):
    """
    Whether some transport can deliver to C{address} (L{parseAddress} does
    not answer L{InvalidAddress}).
    """
    return not isinstance(parseAddress(address), InvalidAddress)
