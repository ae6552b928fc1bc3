# -*- test-case-name: tests.integration.test_store_sqlite,tests.integration.test_store_postgres -*-
"""
Schema versions for the SQL stores, and the one runner that applies them.

The schema of each dialect is a sequence of numbered SQL files shipped as
package data, C{resonate/store/schema/DIALECT/NNN_name.sql}, starting at
C{001}.  A database records every version applied in its C{schema_versions}
table.  Opening a database applies, in one transaction under a lock, the
files it has not seen yet (L{migrate}); a later change to the schema is a
new file with the next number, never an edit of a shipped one.

What differs per dialect (how statements run, how to tell a database that
is not this server's, the lock) is a L{SQLiteDialect} or a
L{PostgresDialect}.
"""

import importlib.resources
import re
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass

from resonate.errors import StoreFailure

_FILE_NAME = re.compile(r"(\d+)_(\w+)\.sql\Z")


@dataclass(frozen=True)
class Migration:
    """
    One schema version.

    @ivar version: its number, from 1.
    @ivar name: the rest of its file name, for the record.
    @ivar sql: the statements that bring the previous version up to this one.
    """

    version: int
    name: str
    sql: str


def loadMigrations(dialect="sqlite"):
    """
    Read the shipped schema files of C{dialect}, in version order.

    @raise ValueError: the files are not numbered 1, 2, 3, ... without gaps
        (a packaging mistake, not a user's).
    """
    directory = (
        importlib.resources.files("resonate.store") / "schema" / dialect
    )
    migrations = []
    for entry in directory.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is not None:
            migrations.append(
                Migration(
                    int(match.group(1)),
                    match.group(2),
                    entry.read_text(encoding="utf-8"),
                )
            )
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"{dialect} schema files are numbered {versions}")
    return migrations


def splitStatements(sql):
    """
    Split a script into complete statements, so that they can run one by one
    inside a transaction (C{executescript} would commit it first).
    """
    statements = []
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip() and not _onlyComments(pending):
        raise ValueError(f"incomplete SQL statement: {pending.strip()!r}")
    return statements


def _onlyComments(sql):
    return all(
        not line.strip() or line.strip().startswith("--")
        for line in sql.splitlines()
    )


class SQLiteDialect:
    """
    What the migration runner does differently on SQLite: an C{sqlite3}
    connection is its own handle, the lock is a C{BEGIN IMMEDIATE}
    transaction, a script runs statement by statement, and any table but
    SQLite's own makes a database foreign.
    """

    name = "sqlite"
    placeholder = "?"
    #: What a database not made by this server has, for the message.
    foreignTables = "tables"

    @contextmanager
    def locked(self, connection):
        """
        One C{BEGIN IMMEDIATE} transaction, so that two processes opening
        one database cannot both apply a version: committed when the block
        ends, rolled back when it raises.

        @param connection: an C{sqlite3} connection with
            C{isolation_level=None} and no transaction open.
        @return: a context manager giving the connection.
        """
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def execute(self, connection, statement, parameters=()):
        """
        Run one statement.
        """
        connection.execute(statement, parameters)

    def first(self, connection, statement):
        """
        Run a query and return its first row.
        """
        return connection.execute(statement).fetchone()

    def tables(self, connection):
        """
        Whether the database has a C{schema_versions} table, and whether it
        has tables that are not this server's, as far as a database without
        one can tell.
        """
        tables = {
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        }
        return (
            "schema_versions" in tables,
            bool(tables - {"schema_versions", "sqlite_sequence"}),
        )

    def statements(self, sql):
        """
        A schema file's statements, one by one: C{executescript} would
        commit the transaction first.
        """
        return splitStatements(sql)


#: The key of the advisory lock that serialises schema changes across
#: processes: "resonate" in ASCII, as a signed 64-bit integer.
MIGRATION_LOCK_KEY = int.from_bytes(b"resonate", "big")

#: Every table this store creates, dropped by C{reset: true}.  A schema
#: version that adds a table adds it here.
_DROP_TABLES = (
    "DROP TABLE IF EXISTS promises, locks, schedules, tasks, tasks_2026, "
    "callbacks, listeners, outbox_messages, schema_versions"
)


class PostgresDialect:
    """
    What the migration runner does differently on PostgreSQL: the handle
    is a cursor, the lock is an advisory lock held until the transaction
    ends, a script runs whole, and a C{promises} table makes a database
    foreign.

    @ivar reset: drop every table of this store, under the lock, before
        reading the version.
    """

    name = "postgres"
    placeholder = "%s"
    #: What a database not made by this server has, for the message.
    foreignTables = "a promises table"

    def __init__(self, reset=False):
        self.reset = reset

    @contextmanager
    def locked(self, connection):
        """
        One transaction under L{MIGRATION_LOCK_KEY}, so that processes
        starting together apply each version once: committed when the
        block ends, rolled back when it raises.

        @param connection: a blocking C{psycopg2} connection.
        @return: a context manager giving a cursor.
        """
        with connection, connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,)
            )
            if self.reset:
                cursor.execute(_DROP_TABLES)
            yield cursor

    def execute(self, cursor, statement, parameters=None):
        """
        Run one statement (or a script of several).
        """
        cursor.execute(statement, parameters)

    def first(self, cursor, statement):
        """
        Run a query and return its first row.
        """
        cursor.execute(statement)
        return cursor.fetchone()

    def tables(self, cursor):
        """
        Whether the database has a C{schema_versions} table, and whether it
        has a C{promises} table.
        """
        return self.first(
            cursor,
            "SELECT to_regclass('schema_versions') IS NOT NULL, "
            "to_regclass('promises') IS NOT NULL",
        )

    def statements(self, sql):
        """
        A schema file as one statement: PostgreSQL runs a script of several
        in the transaction.
        """
        return [sql]


#: The SQLite dialect, which L{schemaVersion} and L{migrate} default to.
SQLITE = SQLiteDialect()


def schemaVersion(handle, dialect=SQLITE):
    """
    The version of the schema in the database: 0 when it has none.

    @param handle: what C{dialect.locked} gives (for SQLite, the
        connection).
    @raise StoreFailure: the database has tables but records no version, so
        it was not made by this server.
    """
    hasVersions, hasOthers = dialect.tables(handle)
    if not hasVersions:
        if hasOthers:
            raise StoreFailure(
                f"the database has {dialect.foreignTables} but no "
                "schema_versions table; it was not made by this server"
            )
        return 0
    (version,) = dialect.first(
        handle, "SELECT COALESCE(MAX(version), 0) FROM schema_versions"
    )
    return version


def migrate(connection, migrations, dialect=SQLITE):
    """
    Bring the database on C{connection} up to the last of C{migrations}:
    under C{dialect}'s lock, in one transaction, read its version, refuse a
    newer or foreign schema, then apply the missing versions in order,
    recording each in C{schema_versions}.

    @param connection: a connection C{dialect.locked} takes (for SQLite, with
        C{isolation_level=None} and no transaction open).
    @param dialect: L{SQLITE} or a L{PostgresDialect}.
    @return: the schema version the database now has.
    @raise StoreFailure: the database's schema is newer than C{migrations}
        know, or is not this server's.
    """
    latest = migrations[-1].version if migrations else 0
    record = (
        "INSERT INTO schema_versions (version, name) "
        f"VALUES ({dialect.placeholder}, {dialect.placeholder})"
    )
    with dialect.locked(connection) as handle:
        current = schemaVersion(handle, dialect)
        if current > latest:
            raise StoreFailure(
                f"the database has schema version {current}, newer than the "
                f"{latest} this server knows; upgrade the server"
            )
        if current < latest:
            dialect.execute(
                handle,
                "CREATE TABLE IF NOT EXISTS schema_versions ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL)",
            )
            for migration in migrations[current:]:
                for statement in dialect.statements(migration.sql):
                    dialect.execute(handle, statement)
                dialect.execute(
                    handle, record, (migration.version, migration.name)
                )
    return max(current, latest)
