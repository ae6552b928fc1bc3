# -*- test-case-name: tests.integration.test_store_sqlite -*-
"""
The options of the SQLite store: declared once (L{SQLITE_OPTIONS}, which
configuration, flags and C{--help} read), and read by the store
(L{SQLiteOptions}).
"""

from dataclasses import dataclass

from resonate.config.kinds import (
    BoolKind,
    DurationKind,
    EnumKind,
    IntKind,
    InvalidValue,
    StrKind,
    describeValue,
)
from resonate.config.stores import StoreOption, optionValues

#: The values PRAGMA synchronous accepts; a pragma's value cannot be a bound
#: parameter, so only these are ever put into its SQL.
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


@dataclass(frozen=True)
class DatabaseFileKind(StrKind):
    """
    The name of a database file: a non-empty string that is not one of
    SQLite's names for a database in memory.
    """

    nonEmpty: bool = True

    def expectation(self):
        """
        What a value must be, for messages and help.
        """
        return "a file name"

    def parseFlag(self, text):
        """
        Refuse C{:memory:} and C{file:} URIs, which SQLite would open as
        something other than the file the server owns.
        """
        text = super().parseFlag(text)
        if text == ":memory:" or text.startswith("file:"):
            raise InvalidValue(
                f"must be a file name, got {describeValue(text)} "
                "(use kind: memory for a store in memory)"
            )
        return text


# fmt: off
SQLITE_OPTIONS = (
    StoreOption("path", DatabaseFileKind(), "resonate.db",
                "SQLite database file"),
    StoreOption("txTimeout", DurationKind(), "10s",
                "SQLite transaction timeout (how long a request may wait for "
                "the writer and the database lock)"),
    StoreOption("synchronous",
                EnumKind(tuple(mode.lower() for mode in SYNCHRONOUS_MODES)),
                "full",
                "SQLite synchronous mode; full syncs every commit before it is "
                "acknowledged, so a crash loses nothing acknowledged"),
    StoreOption("reset", BoolKind(), False,
                "delete the SQLite database at startup (tests only)"),
    StoreOption("cacheSize", IntKind(minimum=0), 10000,
                "promises kept in memory for reads (the server owns the file, "
                "so every write passes through it); 0 for none"),
)
# fmt: on
"""
The options under C{aio.subsystems.store.config.sqlite}, with their one
default each.
"""


@dataclass(frozen=True)
class SQLiteOptions:
    """
    The options under C{aio.subsystems.store.config.sqlite}, as the store
    uses them.

    @ivar path: the database file.
    @ivar txTimeout: seconds a write may wait for the writer (and any
        connection for a lock) before it fails with 5002.
    @ivar synchronous: C{PRAGMA synchronous}, upper case; C{FULL} fsyncs
        every commit, so nothing acknowledged is lost on power failure.
    @ivar reset: delete the database before opening it.
    @ivar cacheSize: how many promises are kept in memory for reads; 0 for
        none.
    """

    path: str
    txTimeout: float
    synchronous: str
    reset: bool
    cacheSize: int

    @classmethod
    def fromConfig(cls, options):
        """
        Read the typed options a L{resonate.config.StoreConfig} carries
        (checked by the configuration), the declared default for any left
        out.

        @raise StoreFailure: an option no declaration names.
        """
        values = optionValues("sqlite", SQLITE_OPTIONS, options)
        return cls(
            path=values["path"],
            txTimeout=values["txTimeout"],
            synchronous=values["synchronous"].upper(),
            reset=values["reset"],
            cacheSize=values["cacheSize"],
        )
