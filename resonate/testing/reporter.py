# -*- test-case-name: tests.test_reporter -*-
"""
A trial reporter whose last line is C{N passed, N failed}: the line CI
reads (skips are counted on the line before it).  Select it with C{trial --reporter=counts}.
"""

from twisted.trial.reporter import TreeReporter


def _ids(entries):
    # One test may be reported twice (its error and a dirty reactor).
    return {getattr(test, "id", lambda: repr(test))() for test, *_ in entries}


class CountsReporter(TreeReporter):
    """
    The tree reporter, plus a final line of counts.
    """

    def done(self):
        super().done()
        failed = len(
            _ids(self.failures) | _ids(self.errors) | _ids(self.unexpectedSuccesses)
        )
        skipped = len(self.skips) + len(self.expectedFailures)
        self._stream.write(
            f"\n{skipped} skipped\n{self.successes} passed, {failed} failed\n"
        )
