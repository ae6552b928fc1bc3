"""
Tests for L{resonate.api.authorization}: which ids each v0.5 operation
names, and the principals that may name them.
"""

from twisted.trial import unittest

from resonate.api.authorization import (
    NAMED,
    UNRESTRICTED,
    authorize,
    refusals,
    templateLiteral,
)
from resonate.api.tokens import EVERYONE, Principal
from resonate.errors import ResonateError
from resonate.model.lock import AcquireLock, ReleaseLock
from resonate.model.promise import PromiseQuery
from resonate.model.schedule import CreateSchedule, ScheduleQuery
from resonate.model.task import ClaimTask, CompleteTask
from resonate.status import Status


class _Request:
    """
    The one attribute a promise create or completion is authorized by.
    """

    def __init__(self, id):
        self.id = id


TEAM_A = Principal(prefix="team-a/")


def _schedule(scheduleId, promiseId):
    return CreateSchedule(
        id=scheduleId, cron="* * * * *", promiseId=promiseId, promiseTimeout=1000
    )


#: operation, an argument within team-a/, the same outside it (and the
#: field the refusal names).
CASES = [
    ("read-promise", "team-a/p", "team-b/p", "id"),
    ("create-promise", _Request("team-a/p"), _Request("team-b/p"), "id"),
    ("complete-promise", _Request("team-a/p"), _Request("team-b/p"), "id"),
    ("search-promises", PromiseQuery(id="team-a/*"), PromiseQuery(id="team-*"), "id"),
    ("create-schedule", _schedule("team-a/s", "team-a/{{.id}}"),
     _schedule("team-b/s", "team-a/{{.id}}"), "id"),
    ("read-schedule", "team-a/s", "team-b/s", "id"),
    ("delete-schedule", "team-a/s", "team-b/s", "id"),
    ("search-schedules", ScheduleQuery(id="team-a/s*"), ScheduleQuery(id="*"), "id"),
    ("acquire-lock", AcquireLock("team-a/r", "team-a/p", "e", 1000),
     AcquireLock("team-b/r", "team-a/p", "e", 1000), "resourceId"),
    ("release-lock", ReleaseLock("team-a/r", "e"), ReleaseLock("team-b/r", "e"),
     "resourceId"),
    ("heartbeat-locks", "team-a/p", "team-b/p", "processId"),
    ("claim-task", ClaimTask("team-a/t", 1, "team-a/p", "e", 1000),
     ClaimTask("team-b/t", 1, "team-a/p", "e", 1000), "taskId"),
    ("complete-task", CompleteTask("team-a/t", 1, "e", None, None),
     CompleteTask("team-b/t", 1, "e", None, None), "taskId"),
]


class RefusalsTests(unittest.TestCase):
    """
    L{refusals} says, per field, what a principal may not name.
    """

    def test_everyOperation(self):
        """
        The table covers every operation the mapping knows, and each is
        allowed within the prefix and refused outside it, naming the field.
        """
        self.assertEqual({c[0] for c in CASES}, set(NAMED))
        for operation, inside, outside, field in CASES:
            self.assertEqual(refusals(TEAM_A, operation, inside), [], operation)
            problems = refusals(TEAM_A, operation, outside)
            self.assertEqual([f for f, _ in problems], [field], operation)

    def test_unrestricted(self):
        """
        An admin, the principal without JWT auth, and prefix C{""} may run
        every operation on any id, garbage collection included.
        """
        for principal in [Principal(admin=True), EVERYONE, Principal(prefix="")]:
            for operation, _, outside, _ in CASES:
                self.assertEqual(refusals(principal, operation, outside), [])
            for operation in UNRESTRICTED:
                self.assertEqual(refusals(principal, operation, None), [])

    def test_noPrefix(self):
        """
        A principal without a prefix (a token with neither a role nor a
        string prefix) may name nothing.
        """
        for operation, inside, _, _ in CASES:
            self.assertNotEqual(refusals(Principal(), operation, inside), [], operation)

    def test_garbageCollection(self):
        """
        Garbage collection names every id: a prefixed principal may not run
        it.
        """
        self.assertEqual(
            [f for f, _ in refusals(TEAM_A, "collect-garbage", None)], ["token"]
        )

    def test_literalPrefix(self):
        """
        The prefix is matched on characters (as upstream): C{team-a} covers
        C{team-ab/x}, C{team-a/} does not.
        """
        self.assertEqual(refusals(Principal(prefix="team-a"), "read-promise", "team-ab/x"), [])
        self.assertNotEqual(refusals(TEAM_A, "read-promise", "team-ab/x"), [])

    def test_scheduleTemplate(self):
        """
        A schedule's C{promiseId} template is within the prefix when its
        text before the first action is: the ids it makes start with that.
        """
        cases = [
            ("team-a/{{.id}}.{{.timestamp}}", True),
            ("team-a/daily", True),
            ("team-a/x/{{.timestamp}}", True),
            ("{{.id}}", False),
            ("team-{{.id}}", False),
            ("team-b/{{.id}}", False),
            # Only the text before the first action counts.
            ("team-{{.id}}team-a/", False),
        ]
        for template, allowed in cases:
            problems = refusals(TEAM_A, "create-schedule", _schedule("team-a/s", template))
            self.assertEqual(
                problems == [], allowed, f"{template}: {problems}"
            )
            if not allowed:
                self.assertEqual([f for f, _ in problems], ["promiseId"])

    def test_templateLiteral(self):
        """
        L{templateLiteral} is the text before the first C{{{}.
        """
        self.assertEqual(templateLiteral("a/{{.id}}/{{.timestamp}}"), "a/")
        self.assertEqual(templateLiteral("plain"), "plain")
        self.assertEqual(templateLiteral("{{.id}}"), "")

    def test_searchPatterns(self):
        """
        A search is allowed only if every id its pattern may match is
        within the prefix: a pattern that could leave it is refused, not
        narrowed.
        """
        for pattern, allowed in [
            ("team-a/*", True),
            ("team-a/x", True),
            ("team-a/*/y*", True),
            ("*", False),
            ("team-*", False),
            ("team-a*", False),
            ("*team-a/", False),
        ]:
            for operation, query in [
                ("search-promises", PromiseQuery(id=pattern)),
                ("search-schedules", ScheduleQuery(id=pattern)),
            ]:
                self.assertEqual(
                    refusals(TEAM_A, operation, query) == [], allowed, (operation, pattern)
                )

    def test_processIds(self):
        """
        A lock's process is named like its resource: an acquire, a claim or
        a heartbeat naming a process outside the prefix is refused.
        """
        self.assertEqual(
            [f for f, _ in refusals(
                TEAM_A, "acquire-lock", AcquireLock("team-a/r", "p", "e", 1000))],
            ["processId"],
        )
        self.assertEqual(
            [f for f, _ in refusals(
                TEAM_A, "claim-task", ClaimTask("team-a/t", 1, "p", "e", 1000))],
            ["processId"],
        )
        self.assertEqual(
            [f for f, _ in refusals(
                TEAM_A, "acquire-lock", AcquireLock("x", "p", "e", 1000))],
            ["resourceId", "processId"],
        )

    def test_unknownOperation(self):
        """
        An operation the mapping does not know is a bug, not a silent
        allowance.
        """
        self.assertRaises(KeyError, refusals, TEAM_A, "handle-2026", None)


class AuthorizeTests(unittest.TestCase):
    """
    L{authorize} raises the 403 of what L{refusals} finds.
    """

    def test_forbidden(self):
        """
        Outside the prefix: L{Status.FORBIDDEN}, one detail per field.
        """
        error = self.assertRaises(
            ResonateError, authorize, TEAM_A, "acquire-lock",
            AcquireLock("x", "y", "e", 1000),
        )
        self.assertIs(error.status, Status.FORBIDDEN)
        self.assertEqual([f for f, _ in error.details], ["resourceId", "processId"])

    def test_allowed(self):
        """
        Within the prefix, nothing is raised.
        """
        self.assertIsNone(authorize(TEAM_A, "read-promise", "team-a/1"))
