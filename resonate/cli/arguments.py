# -*- test-case-name: tests.processes.test_cli -*-
"""
The values the command line takes: durations, C{key=value} pairs, booleans
and server URLs.

Each parser raises C{argparse.ArgumentTypeError} with a message that names
what was wrong, so that argparse reports it as a usage error (exit 2).
"""

import argparse
from urllib.parse import urlsplit

from resonate.model.durations import parseMilliseconds

class UsageError(Exception):
    """
    A usage error argparse cannot see (a server command's C{-o}, which
    argparse does not parse; options that parse one by one but do not go
    together): like argparse's errors, exit status 2 and one line,
    C{error: MESSAGE}.
    """


def parseDuration(text):
    """
    Parse a positive duration (L{resonate.model.durations.parseMilliseconds}:
    C{1h30m}, C{90s}, C{500ms}, C{2d}).

    @return: the duration in whole milliseconds, at least 1.
    @raise argparse.ArgumentTypeError: C{text} is not such a duration.
    """
    try:
        return parseMilliseconds(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def parseKeyValue(text):
    """
    Parse one C{key=value} pair; the value may be empty and may contain
    C{=} and C{,}, the key may not be empty.

    @return: C{(key, value)}.
    @raise argparse.ArgumentTypeError: there is no C{=} or no key.
    """
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(
            f"invalid pair {text!r} (use key=value)"
        )
    return key, value


def parseBoolean(text):
    """
    Parse a boolean as the server parses its C{strict} header (Go's
    C{strconv.ParseBool}: C{true}, C{false}, C{1}, C{0}, C{t}, C{f}, ...).

    @return: C{True} or C{False}.
    @raise argparse.ArgumentTypeError: C{text} is not a boolean.
    """
    # Imported here: the server's codec pulls in the cron parser, which
    # most commands do not need.
    from resonate.api.codec import parseBool

    value = parseBool(text)
    if value is None:
        raise argparse.ArgumentTypeError(
            f"invalid boolean {text!r} (use true or false)"
        )
    return value


def parseServerURL(text):
    """
    Check a server address: an C{http} or C{https} URL with a host.

    @return: the URL without a trailing C{/}.
    @raise argparse.ArgumentTypeError: it is not one.
    """
    try:
        parts = urlsplit(text)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # raises ValueError on a bad port
    except ValueError:
        valid = False
    if not valid:
        raise argparse.ArgumentTypeError(
            f"invalid server {text!r} (use a URL like http://127.0.0.1:8001)"
        )
    return text.rstrip("/")


def pairsToDict(pairs):
    """
    Turn repeated C{key=value} options into a C{dict}; a repeated key keeps
    its last value.

    @param pairs: a list of C{(key, value)} or L{None}.
    """
    return dict(pairs or ())
