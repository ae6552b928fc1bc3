# -*- test-case-name: tests.unit.test_reporter -*-
"""
A trial reporter whose last line is C{N passed, N failed}: the line CI
reads.  Before it, the skipped tests are counted by reason, so that a run
that skipped a whole suite (the PostgreSQL tests without a database) says
so at the end, where it is read.  Select it with C{trial --reporter=counts}.
"""

from collections import Counter

from twisted.trial.reporter import TreeReporter

#: Skip reasons that mention the first string are counted together, under
#: the second.
_GROUPS = [
    (
        "RESONATE_TEST_POSTGRES_DSN",
        "PostgreSQL: set RESONATE_TEST_POSTGRES_DSN to run them",
    ),
]


def _ids(entries):
    # One test may be reported twice (its error and a dirty reactor).
    return {getattr(test, "id", lambda: repr(test))() for test, *_ in entries}


def _reason(reason):
    """
    The line a skip is counted under: its group's, else its own reason's
    first line.
    """
    text = str(reason).strip()
    for marker, group in _GROUPS:
        if marker in text:
            return group
    return text.splitlines()[0] if text else "no reason given"


def skipLines(skips, expectedFailures):
    """
    The lines that count skipped tests: a total, then one indented line per
    reason, the most frequent first; and the expected failures, if any.

    @param skips: C{(test, reason)} pairs, as trial reports them.
    @param expectedFailures: C{(test, error, todo)} triples.
    """
    reasons = Counter(_reason(reason) for _, reason in skips)
    lines = [f"{len(skips)} skipped" + (":" if reasons else "")]
    width = len(str(max(reasons.values(), default=0)))
    for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"  {count:>{width}} {reason}")
    if expectedFailures:
        lines.append(f"{len(expectedFailures)} expected failures (todo)")
    return lines


class CountsReporter(TreeReporter):
    """
    The tree reporter, plus the skips by reason and a final line of counts.
    """

    def done(self):
        super().done()
        failed = len(
            _ids(self.failures) | _ids(self.errors) | _ids(self.unexpectedSuccesses)
        )
        lines = skipLines(self.skips, self.expectedFailures)
        lines.append(f"{self.successes} passed, {failed} failed")
        self._stream.write("\n" + "\n".join(lines) + "\n")
