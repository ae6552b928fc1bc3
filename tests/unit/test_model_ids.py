# -*- test-case-name: tests.unit.test_model_ids -*-
"""
Tests for L{resonate.model.ids}: the 2026 protocol's id and lineage rules.

Each function is tested with a case table; a failing row names itself in
the assertion message.
"""

from twisted.trial.unittest import SynchronousTestCase

from resonate.model import ids
from resonate.model.ids import (
    checkCallback,
    checkFence,
    checkFulfill,
    checkLineage,
    checkPromiseId,
    checkScheduleId,
    checkSuspend,
    childId,
    isWithin,
    origin,
    sameOrigin,
    separatorBelow,
)


class TableMixin:
    """
    Runs a table of C{(arguments, expected)} rows through one function.
    """

    def assertTable(self, function, cases):
        """
        Every row's arguments give its expected result.
        """
        for arguments, expected in cases:
            self.assertEqual(
                function(*arguments), expected, f"{function.__name__}{arguments!r}"
            )


class OriginTests(TableMixin, SynchronousTestCase):
    """
    Tests for L{origin}, L{sameOrigin} and L{separatorBelow}.
    """

    def test_origin(self):
        """
        The origin is the text before the first C{:}, or the whole id; C{.}
        does not end it (the post-snapshot rule).
        """
        self.assertTable(
            origin,
            [
                (("root",), "root"),
                (("root:1",), "root"),
                (("root:1.2",), "root"),
                (("root:1.2.3",), "root"),
                (("root:d0123456789abcdef",), "root"),
                (("my.app.wf",), "my.app.wf"),
                (("my.app.wf:1.1",), "my.app.wf"),
                (("a:b:c",), "a"),
                ((":x",), ""),
                (("",), ""),
            ],
        )

    def test_sameOrigin(self):
        """
        Two ids share an origin when the text before their first C{:} is
        equal.
        """
        self.assertTable(
            sameOrigin,
            [
                (("root", "root:1"), True),
                (("root:1.2", "root:3"), True),
                (("root", "other:1"), False),
                (("root.1", "root:1"), False),
                (("my.app.wf:1", "my.app.wf:2.1"), True),
            ],
        )

    def test_separatorBelow(self):
        """
        Below a bare root the separator is C{:}; below an id with a lineage
        it is C{.}.
        """
        self.assertTable(
            separatorBelow,
            [
                (("root",), ":"),
                (("my.app.wf",), ":"),
                (("root:1",), "."),
                (("root:1.2",), "."),
            ],
        )


class LineageTests(TableMixin, SynchronousTestCase):
    """
    Tests for L{childId} and L{isWithin}.
    """

    def test_childId(self):
        """
        Children are numbered as the SDKs number them.
        """
        self.assertTable(
            childId,
            [
                (("root", "1"), "root:1"),
                (("root:1", "2"), "root:1.2"),
                (("root:1.2", "3"), "root:1.2.3"),
                (("root", "d0123456789abcdef"), "root:d0123456789abcdef"),
                (("my.app.wf", "1"), "my.app.wf:1"),
            ],
        )

    def test_isWithin(self):
        """
        An id is within an ancestor when it is the ancestor or starts with
        the ancestor and the separator below it; a shared text prefix is
        not enough.
        """
        self.assertTable(
            isWithin,
            [
                (("root", "root"), True),
                (("root:1", "root"), True),
                (("root:1.2", "root"), True),
                (("root:1.2", "root:1"), True),
                (("root:1.2.3", "root:1.2"), True),
                (("root:10", "root:1"), False),
                (("root:1", "root:1.2"), False),
                (("rootx", "root"), False),
                (("root.1", "root"), False),
                (("root", "root:1"), False),
                (("my.app.wf:1.1", "my.app.wf"), True),
                (("my.app.wf:1.1", "my.app.wf:1"), True),
                (("other:1", "root"), False),
            ],
        )


class CheckPromiseIdTests(TableMixin, SynchronousTestCase):
    """
    Tests for L{checkPromiseId}.
    """

    def test_table(self):
        """
        Only the empty id is refused; the NUL rule is L{checkLineage}'s.
        """
        self.assertTable(
            checkPromiseId,
            [
                (("root",), None),
                (("root:1.2",), None),
                (("a/b c.d",), None),
                (("",), "Promise ID is required"),
            ],
        )


class CheckLineageTests(TableMixin, SynchronousTestCase):
    """
    Tests for L{checkLineage}.
    """

    def test_accepted(self):
        """
        Ids that agree with their lineage tags, as the SDKs create them,
        pass; ids without lineage tags pass whatever they contain.
        """
        sdkRoot = {
            "resonate:origin": "root",
            "resonate:branch": "root",
            "resonate:parent": "root",
        }
        grandchild = {
            "resonate:origin": "root",
            "resonate:branch": "root:1",
            "resonate:parent": "root:1",
        }
        self.assertTable(
            checkLineage,
            [
                (("root", sdkRoot), None),
                (("root:1", sdkRoot), None),
                (("root:1.2", grandchild), None),
                (("root:d0123456789abcdef", {"resonate:origin": "root"}), None),
                (("my.app.wf", {"resonate:origin": "my.app.wf"}), None),
                (
                    ("my.app.wf:1.1", {"resonate:origin": "my.app.wf"}),
                    None,
                ),
                (("anything.at:all", {}), None),
                (("x", {"other": "tag"}), None),
            ],
        )

    def test_prefixNotValidated(self):
        """
        C{resonate:prefix} is not validated, even with a C{.} (DECISIONS
        24; the snapshot refused it).
        """
        self.assertIsNone(
            checkLineage("root:1", {"resonate:prefix": "a.b"})
        )

    def test_refused(self):
        """
        Every rejection the reference lists, with its message.
        """
        self.assertTable(
            checkLineage,
            [
                (("ro\x00ot", {}), ids.PROMISE_ID_NUL),
                (("root:1", {"resonate:origin": "root:1"}), ids.ORIGIN_HAS_COLON),
                (("root", {"resonate:origin": "a:b"}), ids.ORIGIN_HAS_COLON),
                (("other:1", {"resonate:origin": "root"}), ids.NOT_UNDER_ORIGIN),
                (("rootx", {"resonate:origin": "root"}), ids.NOT_UNDER_ORIGIN),
                (("root.1", {"resonate:origin": "root"}), ids.NOT_UNDER_ORIGIN),
                (("root:10", {"resonate:branch": "root:1"}), ids.NOT_UNDER_BRANCH),
                (("root:2", {"resonate:branch": "root:1"}), ids.NOT_UNDER_BRANCH),
                (("rootx", {"resonate:parent": "root"}), ids.NOT_UNDER_PARENT),
                (("root:1", {"resonate:parent": "root:1.2"}), ids.NOT_UNDER_PARENT),
            ],
        )

    def test_messages(self):
        """
        The messages are the reference's.
        """
        self.assertEqual(
            [
                ids.PROMISE_ID_NUL,
                ids.ORIGIN_HAS_COLON,
                ids.NOT_UNDER_ORIGIN,
                ids.NOT_UNDER_BRANCH,
                ids.NOT_UNDER_PARENT,
            ],
            [
                "Promise ID must not contain null bytes",
                "resonate:origin must not contain ':'",
                "Promise ID must be prefixed by resonate:origin",
                "Promise ID must be prefixed by resonate:branch",
                "Promise ID must be prefixed by resonate:parent",
            ],
        )

    def test_order(self):
        """
        The first failing rule wins: NUL, then origin, then branch, then
        parent.
        """
        allWrong = {
            "resonate:origin": "a",
            "resonate:branch": "b",
            "resonate:parent": "c",
        }
        self.assertTable(
            checkLineage,
            [
                (("x\x00", allWrong), ids.PROMISE_ID_NUL),
                (("x", allWrong), ids.NOT_UNDER_ORIGIN),
                (("x", dict(allWrong, **{"resonate:origin": "x"})), ids.NOT_UNDER_BRANCH),
                (
                    ("x", {"resonate:origin": "x", "resonate:branch": "x", "resonate:parent": "c"}),
                    ids.NOT_UNDER_PARENT,
                ),
            ],
        )


class CheckCallbackTests(TableMixin, SynchronousTestCase):
    """
    Tests for L{checkCallback}.
    """

    def test_table(self):
        """
        Both ids are required, must differ and must share an origin.
        """
        self.assertTable(
            checkCallback,
            [
                (("root:1", "root"), None),
                (("root:1.2", "root:1"), None),
                (("root:2", "root:1"), None),
                (("", "root"), "Awaited promise ID is required"),
                (("root", ""), "Awaiter promise ID is required"),
                (
                    ("", ""),
                    "Awaited promise ID is required; Awaiter promise ID is required",
                ),
                (("root", "root"), "Awaited and awaiter must be different promises"),
                (
                    ("other:1", "root"),
                    "Awaiter and awaited must belong to the same origin",
                ),
                (
                    ("root.1", "root:1"),
                    "Awaiter and awaited must belong to the same origin",
                ),
            ],
        )


class CheckSuspendTests(TableMixin, SynchronousTestCase):
    """
    Tests for L{checkSuspend}.
    """

    def test_table(self):
        """
        Each action must be a valid callback whose awaiter is the task and
        whose awaited is another promise of the task's origin.
        """
        self.assertTable(
            checkSuspend,
            [
                (("root", [("root:1", "root")]), None),
                (("root:1", [("root:1.1", "root:1"), ("root:2", "root:1")]), None),
                (("root", []), None),
                (("root", [("root:1", "root:2")]), ids.AWAITER_NOT_TASK),
                (("root", [("root:1", "root"), ("x:2", "x")]), ids.AWAITER_NOT_TASK),
                (("root", [("root", "root")]), ids.AWAITED_IS_AWAITER),
                (("root", [("other:1", "root")]), ids.CALLBACK_ORIGINS_DIFFER),
                (("root", [("", "root")]), ids.AWAITED_REQUIRED),
                (
                    ("root", [("", "root"), ("", "root"), ("root", "")]),
                    "Awaited promise ID is required; Awaiter promise ID is required",
                ),
            ],
        )

    def test_schemaRules(self):
        """
        The task rules apply once every action is a valid callback: an
        awaited equal to the task, or of another origin than the task's,
        is refused with the task's message.
        """
        self.assertTable(
            checkSuspend,
            [
                (("root:1", [("root:1", "root:2")]), ids.AWAITER_NOT_TASK),
                (("a", [("b", "a:1")]), ids.CALLBACK_ORIGINS_DIFFER),
            ],
        )
        self.assertEqual(
            ids.AWAITED_IS_TASK,
            "Action awaited promise must not equal the task ID",
        )
        self.assertEqual(
            ids.SUSPEND_ORIGINS_DIFFER,
            "Awaited promise must belong to the same origin as the task",
        )


class CheckFulfillAndFenceTests(TableMixin, SynchronousTestCase):
    """
    Tests for L{checkFulfill} and L{checkFence}.
    """

    def test_fulfill(self):
        """
        A fulfil settles the task's own promise and no other.
        """
        self.assertTable(
            checkFulfill,
            [
                (("root", "root"), None),
                (("root", "root:1"), "Action ID must match the task ID"),
            ],
        )

    def test_fence(self):
        """
        A fence guards a promise other than the task's own; an action
        without a string id is left to the inner parse.
        """
        self.assertTable(
            checkFence,
            [
                (("root", "root:1"), None),
                (("root", None), None),
                (("root", "root"), "Action ID must not equal the task ID"),
            ],
        )


class CheckScheduleIdTests(TableMixin, SynchronousTestCase):
    """
    Tests for L{checkScheduleId}.
    """

    def test_table(self):
        """
        Only the empty id is refused: C{.} and C{:} are allowed (DECISIONS
        24).
        """
        self.assertTable(
            checkScheduleId,
            [
                (("nightly",), None),
                (("my.schedule",), None),
                (("team:nightly",), None),
                (("a.b:c.d",), None),
                (("",), "Schedule ID is required"),
            ],
        )
