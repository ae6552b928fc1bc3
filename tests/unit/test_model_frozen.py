"""
Tests for L{resonate.model.frozen}.
"""

from dataclasses import FrozenInstanceError, dataclass, field, replace

from twisted.trial import unittest

from resonate.model.frozen import quickInit


@dataclass(frozen=True)
class _Plain:
    a: int
    b: str = "b"
    c: dict = field(default_factory=dict)


@quickInit
@dataclass(frozen=True)
class _Quick:
    a: int
    b: str = "b"
    c: dict = field(default_factory=dict)


class QuickInitTests(unittest.TestCase):
    """
    L{quickInit} makes the same instances as the dataclass's C{__init__}.
    """

    def test_sameFields(self):
        """
        Positional, named and default arguments give the fields the
        dataclass would.
        """
        for args, kwargs in [
            ((1,), {}), ((1, "x"), {}), ((1, "x", {"k": "v"}), {}),
            ((), {"a": 1, "c": {"k": "v"}}), ((1,), {"b": None}),
        ]:
            self.assertEqual(
                vars(_Quick(*args, **kwargs)), vars(_Plain(*args, **kwargs))
            )

    def test_factoryPerInstance(self):
        """
        A default factory is called for each instance.
        """
        self.assertIsNot(_Quick(1).c, _Quick(1).c)

    def test_frozenAndEqual(self):
        """
        The class stays frozen, compares and hashes by its fields, and
        L{replace} works.
        """
        q = _Quick(1)
        self.assertRaises(FrozenInstanceError, setattr, q, "a", 2)
        self.assertEqual(q, _Quick(1, "b", {}))
        self.assertEqual(replace(q, b="z"), _Quick(1, "z"))
        self.assertEqual(repr(q), "_Quick(a=1, b='b', c={})")

    def test_wrongArguments(self):
        """
        Missing and unknown arguments are refused, as by the dataclass.
        """
        self.assertRaises(TypeError, _Quick)
        self.assertRaises(TypeError, _Quick, 1, d=2)
        self.assertRaises(TypeError, _Quick, 1, 2, 3, 4)

    def test_postInitRefused(self):
        """
        A class with C{__post_init__} is refused: its C{__init__} would not
        call it.
        """

        @dataclass(frozen=True)
        class WithPostInit:
            a: int

            def __post_init__(self):
                pass

        self.assertRaises(TypeError, quickInit, WithPostInit)
