# -*- test-case-name: tests.unit.test_console_values -*-
"""
What the console shows and sends, as pure functions: a promise's param or
value made readable, times and durations for people, and the
C{promise.create} an invoke sends, encoded as the 2026 SDKs (and
C{resonate invoke}) encode one.
"""

import base64
import json
import time

from resonate.model.durations import parseMilliseconds
from resonate.model.invocation import invocationRequest

#: The scope tag the SDKs put on a remote call (an C{rpc} or a C{run} of
#: a workflow), which has a task.
SCOPE_TAG = "resonate:scope"

#: How long an invoked promise lives unless the form says otherwise: a
#: day, the SDKs' default.
DEFAULT_INVOKE_TIMEOUT = 24 * 3600 * 1000


class ConsoleInputError(ValueError):
    """
    What a console form sent cannot be used; the message says why, for the
    person who filled it in.
    """


def decodeData(data):
    """
    How to show the bytes of a param or value.

    The SDKs send base64 of JSON, which the server stores decoded: most
    data is JSON text.  Anything else is shown as text when it is UTF-8,
    else as base64.

    @param data: C{bytes}, or L{None} when there is none.
    @return: C{(kind, text)}, C{kind} one of C{"none"}, C{"json"}
        (C{text} pretty-printed), C{"text"} or C{"base64"}.
    """
    if data is None:
        return "none", ""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64", base64.b64encode(data).decode("ascii")
    try:
        decoded = json.loads(text)
    except ValueError:
        return "text", text
    return "json", json.dumps(decoded, indent=2, ensure_ascii=False, sort_keys=True)


def funcName(data):
    """
    The function a promise calls, as the SDKs write it in its param (a
    JSON object with a C{func}), or L{None}.
    """
    if not data:
        return None
    try:
        decoded = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(decoded, dict) and isinstance(decoded.get("func"), str):
        return decoded["func"]
    return None


def formatTime(ms):
    """
    An epoch-milliseconds time as UTC, to the second: C{2026-12-07
    23:20:05 UTC}; C{"-"} for none.
    """
    if ms is None:
        return "-"
    try:
        seconds = time.gmtime(ms / 1000)
    except (OverflowError, OSError, ValueError):
        seconds = None
    if seconds is None or not 1 <= seconds.tm_year <= 9999:
        # Beyond the calendar (a v0.5 "never" timeout of 2**62, say).
        return f"{ms} ms"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", seconds)


def formatDuration(ms):
    """
    A duration in milliseconds, short: C{850 ms}, C{12.3 s}, C{4m 05s},
    C{2h 03m}, C{3d 04h}.
    """
    if ms is None:
        return "-"
    ms = int(ms)
    if ms < 0:
        return "-" + formatDuration(-ms)
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    seconds = ms // 1000
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600:02d}h"


def formatRelative(ms, now):
    """
    When C{ms} is from C{now}: C{in 4m 05s} or C{4m 05s ago}; C{""} for
    none.
    """
    if ms is None:
        return ""
    if ms >= now:
        return "in " + formatDuration(ms - now)
    return formatDuration(now - ms) + " ago"


def parseDuration(text):
    """
    A duration such as C{30s}, C{1h30m} or C{2d}, in milliseconds, as the
    command line takes it (L{resonate.model.durations.parseMilliseconds}).

    @raise ConsoleInputError: it is not one, or it is under a millisecond.
    """
    try:
        return parseMilliseconds(text.strip())
    except ValueError as e:
        raise ConsoleInputError(f"timeout: {e}")


def parseTag(text):
    """
    A tag filter, C{key=value}, as a one-item C{dict}; an empty C{dict}
    for blank text.

    @raise ConsoleInputError: there is no C{=} or no key.
    """
    text = text.strip()
    if not text:
        return {}
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise ConsoleInputError(f"tag: {text!r} is not key=value")
    return {key.strip(): value.strip()}


def encodeJSONData(text):
    """
    A value's C{data} as the 2026 wire has it, base64 of JSON, from the
    JSON text a form sent; L{None} for blank text.

    @raise ConsoleInputError: the text is not JSON.
    """
    if not text.strip():
        return None
    try:
        decoded = json.loads(text)
    except ValueError as e:
        raise ConsoleInputError(f"value: not JSON ({e})")
    raw = json.dumps(decoded, separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(raw.encode("utf-8")).decode("ascii")


def invokeData(promiseId, func, argsText, target, timeoutText, now):
    """
    The C{data} of the C{promise.create} that invokes C{func} on a worker,
    from the invoke form's fields, encoded as C{resonate invoke} encodes
    it (L{resonate.model.invocation.invocationRequest}): as the 2026 SDKs create
    a workflow's root, addressed to the target, which gives it a task.

    @param argsText: the arguments, a JSON array (blank for none).
    @param target: a worker group (C{poll://any@GROUP}) or an address.
    @param timeoutText: how long the promise lives (L{parseDuration});
        blank for a day.
    @param now: epoch ms.
    @return: a C{dict}, for L{resonate.api.protocol2026.readPromiseCreate}.
    @raise ConsoleInputError: a field cannot be used.
    """
    promiseId, func, target = promiseId.strip(), func.strip(), target.strip()
    for name, value in [("id", promiseId), ("func", func), ("target", target)]:
        if not value:
            raise ConsoleInputError(f"{name}: required")
    args = []
    if argsText.strip():
        try:
            args = json.loads(argsText)
        except ValueError as e:
            raise ConsoleInputError(f"args: not JSON ({e})")
        if not isinstance(args, list):
            raise ConsoleInputError("args: must be a JSON array, such as [1, \"two\"]")
    timeout = (
        DEFAULT_INVOKE_TIMEOUT if not timeoutText.strip() else parseDuration(timeoutText)
    )
    return invocationRequest(promiseId, func, now, timeout, target=target, args=args)
