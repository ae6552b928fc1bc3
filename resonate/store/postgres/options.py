# -*- test-case-name: tests.test_store_postgres -*-
"""
The options of the PostgreSQL store, read and checked from its
configuration.
"""

from dataclasses import dataclass

import psycopg2.extensions

from resonate.errors import StoreFailure


@dataclass(frozen=True)
class PostgresOptions:
    """
    The options under C{aio.subsystems.store.config.postgres}.

    @ivar query: extra libpq connection parameters (C{sslmode}, ...).
    @ivar txTimeout: seconds a transaction may take, waiting for a
        connection included, before it fails with 5002.
    @ivar reset: drop this store's tables at startup and create them again.
    """

    host: str = "localhost"
    port: int = 5432
    username: str = ""
    password: str = ""
    database: str = "resonate"
    query: dict = None
    txTimeout: float = 0.25
    reset: bool = False

    @classmethod
    def fromConfig(cls, options):
        """
        Read and check the options a L{resonate.config.StoreConfig} carries.

        @raise StoreFailure: an option has the wrong type or value.
        """
        defaults = cls()
        values = {}
        for name in ("host", "username", "password", "database"):
            value = options.get(name, getattr(defaults, name))
            if not isinstance(value, str):
                raise StoreFailure(
                    f"postgres {name} must be a string, not {value!r}"
                )
            values[name] = value
        port = options.get("port", defaults.port)
        if isinstance(port, bool) or not isinstance(port, int) or not (
            1 <= port <= 65535
        ):
            raise StoreFailure(
                f"postgres port must be from 1 to 65535, not {port!r}"
            )
        query = options.get("query") or {}
        if not isinstance(query, dict) or not all(
            isinstance(k, str) and isinstance(v, str)
            for k, v in query.items()
        ):
            raise StoreFailure(
                "postgres query must map names to strings, "
                f"not {query!r}"
            )
        txTimeout = options.get("txTimeout", defaults.txTimeout)
        if (
            isinstance(txTimeout, bool)
            or not isinstance(txTimeout, (int, float))
            or not txTimeout > 0
        ):
            raise StoreFailure(
                "postgres txTimeout must be a positive duration, "
                f"not {txTimeout!r}"
            )
        reset = options.get("reset", defaults.reset)
        if not isinstance(reset, bool):
            raise StoreFailure(
                f"postgres reset must be true or false, not {reset!r}"
            )
        return cls(
            port=port,
            query=dict(query),
            txTimeout=float(txTimeout),
            reset=reset,
            **values,
        )

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
        parameters = dict(
            host=self.host, port=self.port, dbname=self.database
        )
        if self.username:
            parameters["user"] = self.username
        if self.password:
            parameters["password"] = self.password
        parameters.update(extra)
        parameters.update(self.query or {})
        return psycopg2.extensions.make_dsn(**parameters)
