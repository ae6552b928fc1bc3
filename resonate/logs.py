# -*- test-case-name: tests.unit.test_logs -*-
"""
Applying C{log.level} to what the server logs.
"""

from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    LogPublisher,
)

_LEVELS = {
    "debug": LogLevel.debug,
    "info": LogLevel.info,
    "warn": LogLevel.warn,
    "error": LogLevel.error,
}


def filterLogLevel(publisher, level):
    """
    Drop events below C{level} before they reach the observers C{publisher}
    has now.

    C{twist} attaches its log file to the global publisher when it starts
    logging, after C{makeService} has run; call this once the reactor runs
    (the runner filters at its own C{--log-level} too, so the stricter of
    the two wins).

    @param publisher: a L{LogPublisher}, normally C{globalLogPublisher}.
    @param level: C{"debug"}, C{"info"}, C{"warn"} or C{"error"}.
    """
    # LogPublisher has no public way to list its observers; wrapping them
    # all in one filter is the only way to filter what twist installed.
    observers = list(publisher._observers)
    for observer in observers:
        publisher.removeObserver(observer)
    predicate = LogLevelFilterPredicate(defaultLogLevel=_LEVELS[level])
    publisher.addObserver(FilteringLogObserver(LogPublisher(*observers), [predicate]))
