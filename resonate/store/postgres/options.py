# -*- test-case-name: tests.integration.test_store_postgres -*-
"""
The options of the PostgreSQL store: declared once (L{POSTGRES_OPTIONS},
which configuration, flags and C{--help} read), and read by the store
(L{PostgresOptions}).

The store plugin's dropin imports this module while plugins are scanned, so
it imports no driver.
"""

from dataclasses import dataclass

from resonate.config.kinds import BoolKind, DurationKind, IntKind, MapKind, StrKind
from resonate.config.stores import StoreOption, optionValues

# fmt: off
POSTGRES_OPTIONS = (
    StoreOption("host", StrKind(), "localhost", "PostgreSQL host"),
    StoreOption("port", IntKind(minimum=1, maximum=65535), 5432,
                "PostgreSQL port"),
    StoreOption("username", StrKind(), "", "PostgreSQL user"),
    StoreOption("password", StrKind(), "", "PostgreSQL password"),
    StoreOption("database", StrKind(), "resonate", "PostgreSQL database"),
    StoreOption("query", MapKind(), {},
                "extra connection parameters, e.g. sslmode=disable"),
    StoreOption("txTimeout", DurationKind(), "10s",
                "PostgreSQL transaction timeout (waiting for a connection "
                "included)"),
    StoreOption("reset", BoolKind(), False,
                "delete every PostgreSQL row at startup (tests only)"),
)
# fmt: on
"""
The options under C{aio.subsystems.store.config.postgres}, with their one
default each.
"""


@dataclass(frozen=True)
class PostgresOptions:
    """
    The options under C{aio.subsystems.store.config.postgres}, as the store
    uses them.

    @ivar query: extra libpq connection parameters (C{sslmode}, ...).
    @ivar txTimeout: seconds a transaction may take, waiting for a
        connection included, before it fails with 5002.
    @ivar reset: drop this store's tables at startup and create them again.
    """

    host: str
    port: int
    username: str
    password: str
    database: str
    query: dict
    txTimeout: float
    reset: bool

    @classmethod
    def fromConfig(cls, options):
        """
        Read the typed options a L{resonate.config.StoreConfig} carries
        (checked by the configuration), the declared default for any left
        out.

        @raise StoreFailure: an option no declaration names.
        """
        values = optionValues("postgres", POSTGRES_OPTIONS, options)
        return cls(**values)

    @property
    def where(self):
        """
        The database, for messages: C{host:port/database}.
        """
        return f"{self.host}:{self.port}/{self.database}"

    def dsn(self, **extra):
        """
        The libpq connection string; C{extra} parameters apply unless the
        C{query} option sets them.
        """
        import psycopg2.extensions

        parameters = dict(host=self.host, port=self.port, dbname=self.database)
        if self.username:
            parameters["user"] = self.username
        if self.password:
            parameters["password"] = self.password
        parameters.update(extra)
        parameters.update(self.query)
        return psycopg2.extensions.make_dsn(**parameters)
