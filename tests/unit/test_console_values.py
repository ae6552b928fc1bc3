# -*- test-case-name: tests.unit.test_console_values -*-
"""
Tests for L{resonate.console.values}: how the console shows data and
times, and what an invoke sends.
"""

import base64
import json

from twisted.trial import unittest

from resonate.api.envelope import DataReader
from resonate.api.protocol2026 import readPromiseCreate
from resonate.console.values import (
    DEFAULT_INVOKE_TIMEOUT,
    ConsoleInputError,
    decodeData,
    encodeJSONData,
    formatDuration,
    formatRelative,
    formatTime,
    funcName,
    invokeData,
    parseDuration,
    parseTag,
)
from resonate.model.promise import Value
from resonate.model.tasks2026 import newTask


class DecodeDataTests(unittest.TestCase):
    """
    L{decodeData} shows JSON pretty, other UTF-8 as text, the rest as
    base64.
    """

    def test_none(self):
        """
        No data is shown as none.
        """
        self.assertEqual(decodeData(None), ("none", ""))

    def test_json(self):
        """
        JSON (what the SDKs' base64 decodes to) is pretty-printed, keys
        sorted, non-ASCII kept.
        """
        kind, text = decodeData(b'{"b": [1, 2], "a": "\xc3\xa9"}')
        self.assertEqual(kind, "json")
        self.assertEqual(json.loads(text), {"a": "\u00e9", "b": [1, 2]})
        self.assertIn('"a": "\u00e9"', text)
        self.assertTrue(text.index('"a"') < text.index('"b"'))

    def test_text(self):
        """
        UTF-8 that is not JSON is shown as the text it is.
        """
        self.assertEqual(decodeData(b"hello <b>"), ("text", "hello <b>"))

    def test_binary(self):
        """
        Bytes that are not UTF-8 are shown as base64.
        """
        self.assertEqual(decodeData(b"\xff\x00"), ("base64", "/wA="))


class FuncNameTests(unittest.TestCase):
    """
    L{funcName} reads the function an SDK's param names.
    """

    def test_func(self):
        """
        A JSON object's C{func} string.
        """
        self.assertEqual(funcName(b'{"func": "greet", "args": []}'), "greet")

    def test_others(self):
        """
        Anything else names none.
        """
        for data in [None, b"", b"[1]", b'{"func": 3}', b"\xff", b"text"]:
            self.assertIsNone(funcName(data), data)


class TimeTests(unittest.TestCase):
    """
    Times and durations, for people.
    """

    def test_formatTime(self):
        """
        Epoch ms as UTC to the second; none as a dash; a time beyond the
        calendar as its number.
        """
        self.assertEqual(formatTime(1_700_000_000_999), "2023-11-14 22:13:20 UTC")
        self.assertEqual(formatTime(None), "-")
        self.assertEqual(formatTime(2**62), f"{2**62} ms")

    def test_formatDuration(self):
        """
        Each size of duration in its own short form.
        """
        self.assertEqual(
            [formatDuration(ms) for ms in [850, 12_345, 245_000, 7_380_000, 273_600_000, -1500]],
            ["850 ms", "12.3 s", "4m 05s", "2h 03m", "3d 04h", "-1.5 s"],
        )

    def test_formatRelative(self):
        """
        A time before now is ago, one after it is in.
        """
        self.assertEqual(formatRelative(1000, 4000), "3.0 s ago")
        self.assertEqual(formatRelative(4000, 1000), "in 3.0 s")
        self.assertEqual(formatRelative(None, 1000), "")

    def test_parseDuration(self):
        """
        Durations in ms, s, m, h and d, combined.
        """
        self.assertEqual(parseDuration("1h30m"), 5_400_000)
        self.assertEqual(parseDuration(" 2d "), 172_800_000)
        self.assertEqual(parseDuration("250ms"), 250)

    def test_parseDurationRefused(self):
        """
        Anything else, and zero, is refused with the field's name.
        """
        for text in ["", "0s", "10", "1x", "m5", "1h 30m"]:
            error = self.assertRaises(ConsoleInputError, parseDuration, text)
            self.assertIn("timeout", str(error))


class InputTests(unittest.TestCase):
    """
    Filters and form fields.
    """

    def test_parseTag(self):
        """
        C{key=value}, blank for no filter; the value may hold C{=}.
        """
        self.assertEqual(parseTag(" env = prod "), {"env": "prod"})
        self.assertEqual(parseTag("q=a=b"), {"q": "a=b"})
        self.assertEqual(parseTag(""), {})
        self.assertRaises(ConsoleInputError, parseTag, "env")
        self.assertRaises(ConsoleInputError, parseTag, "=x")

    def test_encodeJSONData(self):
        """
        A value is sent as base64 of its JSON; blank is none; not JSON is
        refused.
        """
        encoded = encodeJSONData('{"ok": true}')
        self.assertEqual(json.loads(base64.b64decode(encoded)), {"ok": True})
        self.assertIsNone(encodeJSONData("  "))
        self.assertRaises(ConsoleInputError, encodeJSONData, "{nope")


class InvokeDataTests(unittest.TestCase):
    """
    L{invokeData} makes the C{promise.create} an SDK makes for a
    workflow's root, and the 2026 adapter's checks accept it.
    """

    def test_encoding(self):
        """
        The param is base64 of C{{func, args, kwargs, version}}; the tags
        make it the root of its lineage and address a bare group's workers.
        """
        data = invokeData("order-1", "process", '[1, "two"]', "workers", "", 1000)
        self.assertEqual(data["id"], "order-1")
        self.assertEqual(data["timeoutAt"], 1000 + DEFAULT_INVOKE_TIMEOUT)
        self.assertEqual(
            json.loads(base64.b64decode(data["param"]["data"])),
            {"func": "process", "args": [1, "two"], "kwargs": {}, "version": 1},
        )
        self.assertEqual(
            data["tags"],
            {
                "resonate:origin": "order-1",
                "resonate:branch": "order-1",
                "resonate:parent": "order-1",
                "resonate:scope": "global",
                "resonate:target": "poll://any@workers",
            },
        )

    def test_accepted(self):
        """
        The 2026 adapter reads it as a create whose promise gets a task
        addressed to the target, its param stored as the JSON.
        """
        data = invokeData("order-1", "process", "", "poll://any@w", "90s", 1000)
        reader = DataReader(data)
        create = readPromiseCreate(reader, 1000)
        self.assertIsNone(reader.problem)
        self.assertEqual(create.timeout, 91_000)
        self.assertEqual(
            json.loads(create.param.data), {"func": "process", "args": [], "kwargs": {}, "version": 1}
        )
        self.assertEqual(create.param, Value(headers={}, data=create.param.data))
        from resonate.model.tasks2026 import newPromise

        task, _ = newTask(newPromise(create, 1000), 1000)
        self.assertEqual(task.address, "poll://any@w")

    def test_refused(self):
        """
        Missing fields and arguments that are not a JSON array are refused
        with the field's name.
        """
        for args, field in [
            (("", "f", "", "w", "", 0), "id"),
            (("i", " ", "", "w", "", 0), "func"),
            (("i", "f", "{}", "w", "", 0), "args"),
            (("i", "f", "[1", "w", "", 0), "args"),
            (("i", "f", "", " ", "", 0), "target"),
            (("i", "f", "", "w", "soon", 0), "timeout"),
        ]:
            error = self.assertRaises(ConsoleInputError, invokeData, *args)
            self.assertTrue(str(error).startswith(field), (args, str(error)))
