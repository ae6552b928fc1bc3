"""
Tests for how the SQLite store encodes headers and tags: orjson, where it
is used, writes and reads exactly the text json did.
"""

import json

from hypothesis import given, settings, strategies as st
from twisted.trial import unittest

from resonate.store.sqlite.rows import _decodeMapping, _encodeMapping

_text = st.text(max_size=12) | st.sampled_from(
    ["\x7f", "\x00", "\u2028", "\ud800", "é", '"\\', "\U0001f600"]
)


def _jsonText(mapping):
    return json.dumps(mapping, separators=(",", ":")) if mapping else "{}"


class MappingTests(unittest.TestCase):
    """
    L{_encodeMapping} and L{_decodeMapping}.
    """

    @settings(max_examples=400, derandomize=True)
    @given(st.dictionaries(_text, _text, max_size=4))
    def test_likeJSON(self, mapping):
        """
        The stored text is json's (ASCII, DEL and non-ASCII escaped), and
        reads back as json reads it.
        """
        text = _encodeMapping(mapping)
        self.assertEqual(text, _jsonText(mapping))
        self.assertEqual(_decodeMapping(text), json.loads(text))

    def test_empty(self):
        """
        No mapping is stored as C{{}} and read back empty, as is nothing.
        """
        self.assertEqual(_encodeMapping({}), "{}")
        self.assertEqual(_decodeMapping("{}"), {})
        self.assertEqual(_decodeMapping(None), {})
