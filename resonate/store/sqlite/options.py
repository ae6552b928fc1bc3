# -*- test-case-name: tests.test_store_sqlite -*-
"""
The options of the SQLite store, read and checked from its configuration.
"""

from dataclasses import dataclass

from resonate.errors import StoreFailure


#: The values PRAGMA synchronous accepts; a pragma's value cannot be a bound
#: parameter, so only these are ever put into its SQL.
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


def _isCount(value, minimum):
    """
    Whether C{value} is an C{int} (not a C{bool}) of at least C{minimum}.
    """
    return not isinstance(value, bool) and isinstance(value, int) and value >= minimum


@dataclass(frozen=True)
class SQLiteOptions:
    """
    The options under C{aio.subsystems.store.config.sqlite}.

    @ivar path: the database file.
    @ivar txTimeout: seconds a write may wait for the writer (and any
        connection for a lock) before it fails with 5002.
    @ivar reset: delete the database before opening it.
    @ivar synchronous: C{PRAGMA synchronous}; C{FULL} fsyncs every commit,
        so nothing acknowledged is lost on power failure.
    @ivar cacheSize: how many promises are kept in memory for reads; 0 for
        none.
    """

    path: str = "resonate.db"
    txTimeout: float = 0.25
    reset: bool = False
    synchronous: str = "FULL"
    cacheSize: int = 10000

    @classmethod
    def fromConfig(cls, options):
        """
        Read and check the options a L{resonate.config.StoreConfig} carries.

        @raise StoreFailure: an option has the wrong type or value.
        """
        defaults = cls()
        path = options.get("path", defaults.path)
        txTimeout = options.get("txTimeout", defaults.txTimeout)
        reset = options.get("reset", defaults.reset)
        synchronous = options.get("synchronous", defaults.synchronous)
        cacheSize = options.get("cacheSize", defaults.cacheSize)
        if not isinstance(path, str) or not path:
            raise StoreFailure(
                f"sqlite path must be a file name, not {path!r}"
            )
        if path == ":memory:" or path.startswith("file:"):
            raise StoreFailure(
                f"sqlite path must be a file name, not {path!r} "
                "(use kind: memory for a store in memory)"
            )
        if (
            isinstance(txTimeout, bool)
            or not isinstance(txTimeout, (int, float))
            or not txTimeout > 0
        ):
            raise StoreFailure(
                "sqlite txTimeout must be a positive duration, "
                f"not {txTimeout!r}"
            )
        if not isinstance(reset, bool):
            raise StoreFailure(
                f"sqlite reset must be true or false, not {reset!r}"
            )
        if (
            not isinstance(synchronous, str)
            or synchronous.upper() not in SYNCHRONOUS_MODES
        ):
            raise StoreFailure(
                "sqlite synchronous must be one of "
                f"{', '.join(SYNCHRONOUS_MODES)}, "
                f"not {synchronous!r}"
            )
        if not _isCount(cacheSize, 0):
            raise StoreFailure(
                f"sqlite cacheSize must be 0 or more, not {cacheSize!r}"
            )
        return cls(path, float(txTimeout), reset, synchronous.upper(), cacheSize)
