# -*- test-case-name: tests.processes.test_cli -*-
"""
Durations as people type them (C{1h30m}, C{90s}, C{500ms}, C{2d}), in
milliseconds: what the C{resonate} command's flags and the console's forms
take.  (Configuration durations are Go's own, in seconds:
L{resonate.config.kinds.parseDuration}.)
"""

import re

#: Milliseconds per duration unit.
_UNITS = {
    "ms": 1,
    "s": 1000,
    "m": 60 * 1000,
    "h": 60 * 60 * 1000,
    "d": 24 * 60 * 60 * 1000,
}

# One "<number><unit>" term; "ms" before "m" so that "500ms" is not 500m + s.
_TERM = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h|d)")


def parseMilliseconds(text):
    """
    Parse a positive duration written like Go's C{time.ParseDuration}: one
    or more terms of a decimal number and a unit, C{ms}, C{s}, C{m}, C{h}
    or C{d} (C{1h30m}, C{90s}, C{500ms}, C{1.5h}).

    @return: the duration in whole milliseconds (fractions of a
        millisecond are dropped), at least 1.
    @raise ValueError: C{text} is not such a duration; its message says
        what is wrong, for the user.
    """
    position = 0
    total = 0.0
    while position < len(text):
        match = _TERM.match(text, position)
        if match is None:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not text or position != len(text):
        raise ValueError(
            f"invalid duration {text!r} (use a number and a unit, ms s m h d,"
            f" e.g. 1h30m, 90s, 500ms)"
        )
    milliseconds = int(total)
    if milliseconds < 1:
        raise ValueError(f"invalid duration {text!r}: must be at least 1ms")
    return milliseconds
