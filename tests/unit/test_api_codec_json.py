"""
Tests for the JSON of L{resonate.api.codec}: orjson, where it is used,
decodes and encodes exactly as the json module did.
"""

import json

from hypothesis import given, settings, strategies as st
from twisted.trial import unittest

from resonate.api import codec
from resonate.errors import ValidationError

_text = st.text(max_size=20)

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(_text, children, max_size=4),
    max_leaves=20,
)


def _oldEncode(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class EncodeTests(unittest.TestCase):
    """
    L{codec.encodeJSON}.
    """

    @settings(max_examples=300, derandomize=True)
    @given(_values)
    def test_likeJSON(self, value):
        """
        Whatever a body holds (floats aside: bodies have none), the bytes
        are json's: control characters, non-ASCII, integers of any size.
        """
        try:
            expected = _oldEncode(value)
        except UnicodeEncodeError:
            # A lone surrogate: both refuse it.
            self.assertRaises(Exception, codec.encodeJSON, value)
            return
        self.assertEqual(codec.encodeJSON(value), expected)

    def test_refusedByOrjson(self):
        """
        What orjson refuses is encoded by json: integer keys, integers
        beyond 64 bits.
        """
        for value in [{1: "a"}, 2**64, -(2**63) - 1, {"a": [2**70]}]:
            self.assertEqual(codec.encodeJSON(value), _oldEncode(value))

    def test_controlAndSeparators(self):
        """
        Control characters, DEL, U+2028 and non-ASCII are written as json
        writes them.
        """
        text = "".join(chr(i) for i in range(0x300)) + "\u2028\u2029\U0001f600"
        self.assertEqual(codec.encodeJSON({text: text}), _oldEncode({text: text}))


class DecodeTests(unittest.TestCase):
    """
    L{codec.parseJSONObject}.
    """

    def assertLikeJSON(self, body):
        try:
            expected = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            self.assertRaises(ValidationError, codec.parseJSONObject, body)
            return
        if isinstance(expected, dict):
            decoded = codec.parseJSONObject(body)
            # The object's own values exactly, types too; nested ones as
            # json's, but for integers beyond 64 bits, which may come as
            # floats (nothing nested is read as a number).
            self.assertEqual(
                [(k, type(v)) for k, v in decoded.items()],
                [(k, type(v)) for k, v in expected.items()],
            )
            self.assertEqual(decoded, _nestedBigAsFloat(expected))

    def test_whatJSONAccepts(self):
        """
        Bodies orjson refuses or would decode differently are decoded by
        json: NaN, integers beyond 64 bits among the object's values
        (orjson makes floats of them), lone surrogates, UTF-16.
        """
        for body in [
            b'{"a": NaN}', b'{"t": 18446744073709551616}',
            b'{"t": -9223372036854775809}', b'{"t": 1e400}',
            b'{"a": "\\ud800"}', '{"a": 1}'.encode("utf-16"),
            b'{"a": 1, "a": 2}', b'{"t": 9223372036854775807}',
            b'{"t": 18446744073709551615}', b'{"t": -9223372036854775808}',
        ]:
            self.assertLikeJSON(body)
        self.assertIsInstance(
            codec.parseJSONObject(b'{"t": 18446744073709551616}')["t"], int
        )

    def test_refusals(self):
        """
        What json refuses is refused with json's message.
        """
        for body in [b'{"a":1,}', b"[1]", b"", b"\xff", b"{" * 100000]:
            try:
                json.loads(body)
            except RecursionError:
                message = "invalid JSON: nested too deeply"
            except (ValueError, UnicodeDecodeError) as e:
                message = f"invalid JSON: {e}"
            else:
                message = "must be a JSON object"
            error = self.assertRaises(ValidationError, codec.parseJSONObject, body)
            self.assertEqual(error.details, [("body", message)])

    @settings(max_examples=300, derandomize=True)
    @given(st.dictionaries(_text, _values, max_size=5))
    def test_likeJSON(self, value):
        """
        Any object decodes as json decodes it.
        """
        self.assertLikeJSON(_oldEncode(value) if _isText(value) else b"{}")


def _nestedBigAsFloat(obj, depth=0):
    """
    C{obj} with integers beyond 64 bits below its own values as floats.
    """
    if isinstance(obj, dict):
        return {k: _nestedBigAsFloat(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nestedBigAsFloat(v, depth + 1) for v in obj]
    if (
        depth > 1 and type(obj) is int
        and not -(2**63) <= obj <= 2**64 - 1
    ):
        return float(obj)
    return obj


def _isText(value):
    try:
        _oldEncode(value)
    except UnicodeEncodeError:
        return False
    return True
