# -*- test-case-name: tests.integration.test_store_postgres -*-
"""
The schema of the PostgreSQL store, created or migrated at startup by
L{prepareDatabase} with the runner of L{resonate.store.migrate}.
"""

import psycopg2

from resonate.errors import StoreFailure
from resonate.store import migrate
from resonate.store.postgres.pool import _oneLine

#: Seconds the blocking startup connection may take to connect, unless the
#: C{query} option sets C{connect_timeout}.
STARTUP_CONNECT_TIMEOUT = 10


def prepareDatabase(options, migrations=None):
    """
    Create or migrate the schema (dropping it first when C{reset} is set),
    on a blocking connection, in one transaction under an advisory lock so
    that processes starting together apply each version once.

    @param options: L{PostgresOptions
        <resonate.store.postgres.options.PostgresOptions>}.
    @param migrations: the L{migrate.Migration
        <resonate.store.migrate.Migration>}s, by default the shipped
        C{postgres} ones.
    @return: the schema version the database now has.
    @raise StoreFailure: the database cannot be reached, or its schema is
        newer than this server knows or not this server's.
    """
    if migrations is None:
        migrations = migrate.loadMigrations("postgres")
    try:
        connection = psycopg2.connect(
            options.dsn(
                connect_timeout=STARTUP_CONNECT_TIMEOUT,
                application_name="resonate",
            )
        )
    except psycopg2.Error as e:
        raise StoreFailure(
            f"cannot connect to PostgreSQL {options.where}: {_oneLine(e)}"
        )
    try:
        return migrate.migrate(
            connection, migrations, migrate.PostgresDialect(options.reset)
        )
    except (psycopg2.Error, StoreFailure) as e:
        reason = e.message if isinstance(e, StoreFailure) else _oneLine(e)
        raise StoreFailure(
            f"cannot open PostgreSQL database {options.where}: {reason}"
        )
    finally:
        connection.close()
