# -*- test-case-name: tests.processes.test_cli -*-
"""
What the command line prints: aligned tables and key/value views for
people, the server's JSON for programs.

Every function here returns text and prints nothing.
"""

import base64
import binascii
import json
from datetime import datetime, timezone


def formatTime(milliseconds):
    """
    An epoch time in milliseconds as ISO 8601 UTC with milliseconds
    (C{2024-05-01T12:00:00.000Z}); an empty string for L{None}.
    """
    if milliseconds is None:
        return ""
    try:
        moment = datetime.fromtimestamp(milliseconds / 1000, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        # Beyond year 9999: the number is clearer than nothing.
        return str(milliseconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def formatDuration(milliseconds):
    """
    A relative duration in milliseconds the way the command line takes it
    (C{1h30m}, C{90s} is shown as C{1m30s}, C{500ms}).
    """
    if milliseconds is None:
        return ""
    parts = []
    rest = milliseconds
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000),
                       ("s", 1000), ("ms", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0ms"


def formatPairs(mapping):
    """
    A string map as C{k=v, k2=v2}, sorted by key.
    """
    return ", ".join(f"{k}={v}" for k, v in sorted((mapping or {}).items()))


def formatData(data):
    """
    The C{data} of a value (base64) for people: its text when it is
    printable UTF-8, else C{base64:...} as sent.
    """
    if data is None:
        return ""
    try:
        text = base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return f"base64:{data}"
    if not all(c.isprintable() or c in "\n\t" for c in text):
        return f"base64:{data}"
    return text


def formatJSON(body):
    """
    The server's JSON, indented.
    """
    return json.dumps(body, indent=2, ensure_ascii=False)


def table(headers, rows):
    """
    Rows of strings under headers, in left-aligned columns two spaces
    apart, without trailing spaces.
    """
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
    lines = []
    for row in [headers, *rows]:
        cells = [cell.ljust(w) for cell, w in zip(row, widths)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def fields(pairs):
    """
    A key/value view: one C{name:  value} line per pair whose value is not
    empty, values aligned.
    """
    pairs = [(name, value) for name, value in pairs if value not in ("", None)]
    width = max((len(name) for name, _ in pairs), default=0) + 1
    lines = []
    for name, value in pairs:
        label = (name + ":").ljust(width)
        # Continuation lines of a multi-line value stay in its column.
        text = str(value).replace("\n", "\n" + " " * (width + 2))
        lines.append(f"{label}  {text}")
    return "\n".join(lines)


def _valuePairs(label, value):
    value = value or {}
    return [
        (f"{label} headers", formatPairs(value.get("headers"))),
        (f"{label} data", formatData(value.get("data"))),
    ]


def promiseView(promise):
    """
    One promise, field by field.
    """
    return fields([
        ("ID", promise.get("id")),
        ("State", promise.get("state")),
        ("Timeout", formatTime(promise.get("timeout"))),
        *_valuePairs("Param", promise.get("param")),
        *_valuePairs("Value", promise.get("value")),
        ("Tags", formatPairs(promise.get("tags"))),
        ("Idempotency key (create)", promise.get("idempotencyKeyForCreate")),
        ("Idempotency key (complete)", promise.get("idempotencyKeyForComplete")),
        ("Created on", formatTime(promise.get("createdOn"))),
        ("Completed on", formatTime(promise.get("completedOn"))),
    ])


def promiseTable(promises):
    """
    Promises as a table: id, state, timeout, tags.
    """
    return table(
        ["ID", "STATE", "TIMEOUT", "TAGS"],
        [
            [p.get("id", ""), p.get("state", ""), formatTime(p.get("timeout")),
             formatPairs(p.get("tags"))]
            for p in promises
        ],
    )


def scheduleView(schedule):
    """
    One schedule, field by field.
    """
    return fields([
        ("ID", schedule.get("id")),
        ("Description", schedule.get("desc")),
        ("Cron", schedule.get("cron")),
        ("Tags", formatPairs(schedule.get("tags"))),
        ("Promise ID", schedule.get("promiseId")),
        ("Promise timeout", formatDuration(schedule.get("promiseTimeout"))),
        *_valuePairs("Promise param", schedule.get("promiseParam")),
        ("Promise tags", formatPairs(schedule.get("promiseTags"))),
        ("Last run", formatTime(schedule.get("lastRunTime"))),
        ("Next run", formatTime(schedule.get("nextRunTime"))),
        ("Idempotency key", schedule.get("idempotencyKey")),
        ("Created on", formatTime(schedule.get("createdOn"))),
    ])


def scheduleTable(schedules):
    """
    Schedules as a table: id, cron, next run, last run, tags.
    """
    return table(
        ["ID", "CRON", "NEXT RUN", "LAST RUN", "TAGS"],
        [
            [s.get("id", ""), s.get("cron", ""), formatTime(s.get("nextRunTime")),
             formatTime(s.get("lastRunTime")), formatPairs(s.get("tags"))]
            for s in schedules
        ],
    )


def lockView(lock):
    """
    One lock, field by field.
    """
    return fields([
        ("Resource ID", lock.get("resourceId")),
        ("Process ID", lock.get("processId")),
        ("Execution ID", lock.get("executionId")),
        ("Expiry", formatDuration(lock.get("expiryInMilliseconds"))),
        ("Expires at", formatTime(lock.get("expiresAt"))),
    ])


def taskView(task):
    """
    One 2026 task, field by field (C{TTL} and C{PID} only while acquired).
    """
    return fields([
        ("ID", task.get("id")),
        ("State", task.get("state")),
        ("Version", task.get("version")),
        ("Resumes", task.get("resumes")),
        ("TTL", formatDuration(task.get("ttl"))),
        ("PID", task.get("pid")),
    ])


def taskTable(tasks):
    """
    2026 tasks as a table: id, state, version, resumes, owner.
    """
    return table(
        ["ID", "STATE", "VERSION", "RESUMES", "PID"],
        [
            [t.get("id", ""), t.get("state", ""), str(t.get("version", "")),
             str(t.get("resumes", "")), t.get("pid") or ""]
            for t in tasks
        ],
    )


def collectionView(result):
    """
    What C{POST /gc} deleted, or with C{dryRun} would delete.
    """
    counts = ", ".join(
        f"{result.get(name, 0)} {name}"
        for name in ("promises", "tasks", "callbacks", "listeners")
    )
    verb = "Would delete" if result.get("dryRun") else "Deleted"
    return (f"{verb} {counts} settled before "
            f"{formatTime(result.get('settledBefore'))}")


def errorLines(error):
    """
    An L{resonate.cli.client.APIError} as the lines to print on stderr:
    C{error: 409 The promise already exists (4090)}, then one indented
    line per detail; a refusal (401, 403) is one line, its details after
    a colon.
    """
    if error.status in (401, 403):
        # Refused as a whole: one line saying why.
        return [": ".join([f"error: {error}", "; ".join(error.details)])
                if error.details else f"error: {error}"]
    return [f"error: {error}"] + [f"  {detail}" for detail in error.details]
