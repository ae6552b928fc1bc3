# -*- test-case-name: tests.unit.test_model_schedule -*-
"""
Tests for L{resonate.model.schedule}: cron evaluation, templating and
firing.
"""

import time

from twisted.trial import unittest

from resonate.model.promise import State, Value
from resonate.model.schedule import (
    CreateSchedule,
    InvalidCron,
    Schedule,
    checkCron,
    decideCreateSchedule,
    fire,
    firedPromiseId,
    nextRunTime,
)
from resonate.status import Status

#: A whole minute: 2023-11-14T22:13:00Z.
MINUTE = 1_699_999_980_000


class NextRunTimeTests(unittest.SynchronousTestCase):
    """
    Tests for L{nextRunTime}.
    """

    def test_fiveFields(self):
        """
        Five fields fire on minutes, strictly after the given time.
        """
        self.assertEqual(nextRunTime("* * * * *", MINUTE), MINUTE + 60_000)
        self.assertEqual(nextRunTime("* * * * *", MINUTE - 1), MINUTE)

    def test_sixFieldsLeadingSeconds(self):
        """
        A sixth, leading field counts seconds.
        """
        self.assertEqual(nextRunTime("* * * * * *", MINUTE), MINUTE + 1000)
        self.assertEqual(nextRunTime("*/15 * * * * *", MINUTE), MINUTE + 15_000)
        self.assertEqual(nextRunTime("30 * * * * *", MINUTE), MINUTE + 30_000)

    def test_descriptors(self):
        """
        The descriptors of DECISIONS 12 are accepted; @annually is @yearly.
        """
        for descriptor in ["@yearly", "@annually", "@monthly", "@weekly",
                           "@daily", "@midnight", "@hourly"]:
            self.assertGreater(nextRunTime(descriptor, MINUTE), MINUTE)
        self.assertEqual(nextRunTime("@annually", MINUTE),
                         nextRunTime("@yearly", MINUTE))
        self.assertEqual(nextRunTime("@midnight", MINUTE),
                         nextRunTime("@daily", MINUTE))

    def test_every(self):
        """
        C{@every} runs a whole number of seconds (at least one) after the
        second of the previous run.
        """
        self.assertEqual(nextRunTime("@every 1m", MINUTE), MINUTE + 60_000)
        self.assertEqual(nextRunTime("@every 1h30m", MINUTE), MINUTE + 5_400_000)
        self.assertEqual(nextRunTime("@every 1.5s", MINUTE + 250), MINUTE + 1000)
        self.assertEqual(nextRunTime("@every 10ms", MINUTE), MINUTE + 1000)

    def test_invalid(self):
        """
        Anything else is L{InvalidCron}.
        """
        for bad in ["", "x", "* * *", "* * * * * * *", "61 * * * *",
                    "@often", "@every", "@every 5x", "@every 0s", None]:
            self.assertRaises(InvalidCron, checkCron, bad)

    def test_localTime(self):
        """
        Cron is evaluated in local time: @daily fires at local midnight.
        """
        fired = nextRunTime("@daily", MINUTE)
        local = time.localtime(fired / 1000)
        self.assertEqual((local.tm_hour, local.tm_min, local.tm_sec), (0, 0, 0))


class CreateScheduleTests(unittest.SynchronousTestCase):
    """
    Tests for L{decideCreateSchedule}.
    """

    request = CreateSchedule(
        id="s", cron="* * * * *", promiseId="s.{{.timestamp}}",
        promiseTimeout=1000, idempotencyKey="k",
    )

    def test_new(self):
        """
        A new schedule is inserted, its first run the first slot after now.
        """
        decision = decideCreateSchedule(None, self.request, MINUTE + 5)
        self.assertEqual(decision.status, Status.CREATED)
        self.assertTrue(decision.insert)
        self.assertEqual(decision.schedule.nextRunTime, MINUTE + 60_000)
        self.assertEqual(decision.schedule.createdOn, MINUTE + 5)
        self.assertIsNone(decision.schedule.lastRunTime)

    def test_repeatSameKey(self):
        """
        A repeat with the same key answers 200 with the stored schedule,
        whatever else it says.
        """
        stored = decideCreateSchedule(None, self.request, MINUTE).schedule
        other = CreateSchedule(id="s", cron="@hourly", promiseId="x",
                               promiseTimeout=5, idempotencyKey="k")
        decision = decideCreateSchedule(stored, other, MINUTE + 1)
        self.assertEqual((decision.status, decision.schedule, decision.insert),
                         (Status.OK, stored, False))

    def test_conflict(self):
        """
        Another key, or none, is 409 (4091).
        """
        stored = decideCreateSchedule(None, self.request, MINUTE).schedule
        for key in ["other", None]:
            request = CreateSchedule(id="s", cron="* * * * *", promiseId="p",
                                     promiseTimeout=1, idempotencyKey=key)
            decision = decideCreateSchedule(stored, request, MINUTE)
            self.assertEqual(decision.status, Status.SCHEDULE_ALREADY_EXISTS)


class FireTests(unittest.SynchronousTestCase):
    """
    Tests for L{fire} and L{firedPromiseId}.
    """

    schedule = Schedule(
        id="nightly", cron="* * * * *", promiseId="{{.id}}.{{ .timestamp }}",
        promiseTimeout=30_000, nextRunTime=MINUTE, createdOn=MINUTE - 60_000,
        promiseParam=Value({"h": "v"}, b"data"), promiseTags={"a": "b"},
    )

    def test_template(self):
        """
        C{{{.id}}} and C{{{.timestamp}}} are substituted.
        """
        self.assertEqual(firedPromiseId(self.schedule, MINUTE),
                         f"nightly.{MINUTE}")

    def test_firedPromise(self):
        """
        The fired promise: created at the fire time, timing out a
        promiseTimeout later, keyed by its own id, with the schedule's tags.
        """
        promise, advanced = fire(self.schedule, MINUTE + 10)
        self.assertEqual(promise.id, f"nightly.{MINUTE}")
        self.assertEqual(promise.state, State.PENDING)
        self.assertEqual(promise.createdOn, MINUTE)
        self.assertEqual(promise.timeout, MINUTE + 30_000)
        self.assertEqual(promise.idempotencyKeyForCreate, promise.id)
        self.assertEqual(promise.param, Value({"h": "v"}, b"data"))
        self.assertEqual(promise.tags, {"a": "b", "resonate:schedule": "nightly",
                                        "resonate:invocation": "true"})
        self.assertEqual(advanced.lastRunTime, MINUTE)
        self.assertEqual(advanced.nextRunTime, MINUTE + 60_000)

    def test_catchUp(self):
        """
        After downtime, each missed slot fires in turn; a slot whose promise
        would already be overdue is created timed out.
        """
        promise, advanced = fire(self.schedule, MINUTE + 600_000)
        self.assertEqual(promise.state, State.REJECTED_TIMEDOUT)
        self.assertEqual(promise.completedOn, MINUTE + 30_000)
        self.assertEqual(advanced.nextRunTime, MINUTE + 60_000)
        promise, advanced = fire(advanced, MINUTE + 600_000)
        self.assertEqual(promise.id, f"nightly.{MINUTE + 60_000}")
        self.assertEqual(advanced.nextRunTime, MINUTE + 120_000)
