# -*- test-case-name: tests.test_dst -*-
"""
The real stores a simulation runs on: in memory, a SQLite file, or a
scratch PostgreSQL database made for the run and dropped after it.

Transaction timeouts are generous: a store that fails only because the
machine was slow would make two runs of one seed differ.
"""

import os
import shutil
import tempfile
import uuid

from resonate.config import StoreConfig
from resonate.store.memory import MemoryStore

#: The store kinds a run can use.
KINDS = ("memory", "sqlite", "postgres")

#: Seconds a transaction may wait before the store gives up (5002).
TX_TIMEOUT = 30.0

#: Where PostgreSQL is, unless the command says otherwise.
DSN_VARIABLE = "RESONATE_TEST_POSTGRES_DSN"


class OpenedStore:
    """
    A store opened for one run, and how to get rid of it.

    @ivar store: the L{resonate.interfaces.IStore}.
    @ivar where: a line saying where it keeps its data.
    """

    def __init__(self, store, where, cleanups=()):
        self.store = store
        self.where = where
        self._cleanups = list(cleanups)

    async def close(self):
        """
        Close the store, then remove what was made for it.
        """
        try:
            await self.store.close()
        finally:
            for cleanup in reversed(self._cleanups):
                cleanup()


def openStore(kind, reactor, directory=None, dsn=None):
    """
    Open an empty store of C{kind}.

    @param directory: where a SQLite database goes (a temporary directory,
        removed afterwards, when L{None}).
    @param dsn: a libpq connection string for a PostgreSQL server on which
        the user may create databases (C{RESONATE_TEST_POSTGRES_DSN} when
        L{None}).
    @return: an L{OpenedStore}.
    @raise ValueError: the kind is unknown, or PostgreSQL is not configured.
    """
    if kind == "memory":
        return OpenedStore(MemoryStore(), "memory")
    if kind == "sqlite":
        return _openSQLite(reactor, directory)
    if kind == "postgres":
        return _openPostgres(reactor, dsn or os.environ.get(DSN_VARIABLE))
    raise ValueError(f"unknown store kind {kind!r}; one of {', '.join(KINDS)}")


def _openSQLite(reactor, directory):
    from resonate.store.sqlite.store import SQLiteStore

    cleanups = []
    if directory is None:
        directory = tempfile.mkdtemp(prefix="resonate-dst-")
        cleanups.append(lambda: shutil.rmtree(directory, ignore_errors=True))
    path = os.path.join(directory, "dst.db")
    store = SQLiteStore(
        StoreConfig(
            kind="sqlite",
            workers=2,
            options={"path": path, "txTimeout": TX_TIMEOUT, "reset": True},
        ),
        reactor,
    )
    return OpenedStore(store, path, cleanups)


def _openPostgres(reactor, dsn):
    from psycopg2.extensions import parse_dsn

    from resonate.store.postgres.store import PostgresStore

    if not dsn:
        raise ValueError(
            f"the postgres store needs {DSN_VARIABLE} (or --postgres-dsn): a "
            "libpq connection string to a server on which you may create "
            "databases"
        )
    name = f"resonate_dst_{uuid.uuid4().hex}"
    _admin(dsn, f"CREATE DATABASE {name}")

    def drop():
        _admin(dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    parameters = parse_dsn(dsn)
    options = {
        "host": parameters.pop("host", "localhost"),
        "port": int(parameters.pop("port", 5432)),
        "username": parameters.pop("user", ""),
        "password": parameters.pop("password", ""),
        "database": name,
        "txTimeout": TX_TIMEOUT,
    }
    parameters.pop("dbname", None)
    options["query"] = parameters
    try:
        store = PostgresStore(
            StoreConfig(kind="postgres", workers=2, options=options), reactor
        )
    except BaseException:
        drop()
        raise
    return OpenedStore(store, f"PostgreSQL database {name}", [drop])


def _admin(dsn, statement):
    """
    Run one statement (a database name is an identifier, not a parameter:
    ours are made of hex digits) on an autocommit connection.
    """
    import psycopg2

    connection = psycopg2.connect(dsn)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()
