# -*- test-case-name: tests.test_store_sqlite -*-
"""
Schema versions for the SQLite store.

The schema is a sequence of numbered SQL files shipped as package data,
C{resonate/store/schema/sqlite/NNN_name.sql}, starting at C{001}.  A database
records every version applied in its C{schema_versions} table.  Opening a
database applies, in one transaction, the files it has not seen yet; a later
change to the schema is a new file with the next number, never an edit of a
shipped one.
"""

import importlib.resources
import re
import sqlite3
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


def schemaVersion(connection):
    """
    The version of the schema in the database on C{connection}: 0 when it
    has none.

    @raise StoreFailure: the database has tables but records no version, so
        it was not made by this server.
    """
    tables = {
        name
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    if "schema_versions" not in tables:
        if tables - {"sqlite_sequence"}:
            raise StoreFailure(
                "the database has tables but no schema_versions table; "
                "it was not made by this server"
            )
        return 0
    (version,) = connection.execute(
        "SELECT COALESCE(MAX(version), 0) FROM schema_versions"
    ).fetchone()
    return version


def migrate(connection, migrations):
    """
    Bring the database on C{connection} up to the last of C{migrations}, in
    one C{BEGIN IMMEDIATE} transaction so that two processes opening one
    database cannot both apply a version.

    @param connection: an C{sqlite3} connection with C{isolation_level=None}
        and no transaction open.
    @return: the schema version the database now has.
    @raise StoreFailure: the database's schema is newer than C{migrations}
        know, or is not this server's.
    """
    latest = migrations[-1].version if migrations else 0
    connection.execute("BEGIN IMMEDIATE")
    try:
        current = schemaVersion(connection)
        if current > latest:
            raise StoreFailure(
                f"the database has schema version {current}, newer than the "
                f"{latest} this server knows; upgrade the server"
            )
        if current < latest:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
            )
            for migration in migrations[current:]:
                for statement in splitStatements(migration.sql):
                    connection.execute(statement)
                connection.execute(
                    "INSERT INTO schema_versions (version, name) "
                    "VALUES (?, ?)",
                    (migration.version, migration.name),
                )
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return max(current, latest)
