# -*- test-case-name: tests.integration.test_dst -*-
"""
The real stores a simulation runs on: any installed store kind, opened
through its provider (L{resonate.store.providers}), as the server opens it.

The built-in kinds get a setup of their own: a SQLite file in a temporary
directory, a scratch PostgreSQL database made for the run and dropped after
it.  Any other kind (a third-party plugin) gets only the options the
command gives it (C{--store-option key=value}).

Transaction timeouts are generous: a store that fails only because the
machine was slow would make two runs of one seed differ.
"""

import os
import shutil
import tempfile
import uuid

from resonate.config import StoreConfig
from resonate.store.providers import (
    UnknownStoreKind,
    findStoreProvider,
    makeStore,
)

#: The store kinds with a setup of their own here; any other installed kind
#: can be used too.
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


def openStore(
    kind, reactor, directory=None, dsn=None, options=(), provider=None
):
    """
    Open an empty store of C{kind} with its provider.

    @param directory: where a SQLite database goes (a temporary directory,
        removed afterwards, when L{None}).
    @param dsn: a libpq connection string for a PostgreSQL server on which
        the user may create databases (C{RESONATE_TEST_POSTGRES_DSN} when
        L{None}).
    @param options: C{(key, text)} pairs, as given on the command line:
        store options added to (or replacing) the setup's own, each parsed
        by the kind of the option the provider declares by that key.
    @param provider: the L{resonate.interfaces.IStoreProvider} to use;
        by default, the installed one for C{kind}.
    @return: an L{OpenedStore}.
    @raise ValueError: the kind is not installed, an option is unknown or
        refused, or PostgreSQL is not configured.
    """
    if provider is None:
        try:
            provider = findStoreProvider(kind)
        except UnknownStoreKind as e:
            raise ValueError(str(e))
    given = parseOptions(provider, options)
    setup = _SETUPS.get(kind, _setupPlugin)
    settings, where, cleanups = setup(
        kind, provider, directory=directory, dsn=dsn
    )
    settings.update(given)
    try:
        store = makeStore(
            provider,
            StoreConfig(kind=kind, workers=2, options=settings),
            reactor,
        )
    except BaseException:
        for cleanup in reversed(cleanups):
            cleanup()
        raise
    return OpenedStore(store, where, cleanups)


def parseOptions(provider, options):
    """
    Parse command-line store options as the server parses its flags: by
    the kind of the option the provider declares by each key.  A provider
    that declares no options gets the text as given.

    @param options: C{(key, text)} pairs.
    @return: a C{dict} of key to value.
    @raise ValueError: a key the provider does not declare, or a value its
        kind refuses.
    """
    declared = {
        option.key: option for option in getattr(provider, "options", ())
    }
    values = {}
    for key, text in options:
        if not declared:
            values[key] = text
            continue
        option = declared.get(key)
        if option is None:
            raise ValueError(
                f"the {provider.name} store has no option {key!r}; its "
                f"options are {', '.join(declared)}"
            )
        try:
            values[key] = option.kind.parseFlag(text)
        except Exception as e:
            raise ValueError(
                f"the {provider.name} store's option {key}={text!r}: {e}"
            )
    return values


def _setupPlugin(kind, provider, **_):
    """
    A store kind without a setup here: only the options given.
    """
    return {}, f"{kind}: {provider.description}", []


def _setupMemory(kind, provider, **_):
    return {}, "memory", []


def _setupSQLite(kind, provider, directory=None, **_):
    """
    A new database file in C{directory}, or in a temporary directory
    removed afterwards.
    """
    cleanups = []
    if directory is None:
        directory = tempfile.mkdtemp(prefix="resonate-dst-")
        cleanups.append(lambda: shutil.rmtree(directory, ignore_errors=True))
    path = os.path.join(directory, "dst.db")
    settings = {"path": path, "txTimeout": TX_TIMEOUT, "reset": True}
    return settings, path, cleanups


def _setupPostgres(kind, provider, dsn=None, **_):
    """
    A scratch database on the server C{dsn} names, dropped afterwards.
    """
    from psycopg2.extensions import parse_dsn

    dsn = dsn or os.environ.get(DSN_VARIABLE)
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
    settings = {
        "host": parameters.pop("host", "localhost"),
        "port": int(parameters.pop("port", 5432)),
        "username": parameters.pop("user", ""),
        "password": parameters.pop("password", ""),
        "database": name,
        "txTimeout": TX_TIMEOUT,
    }
    parameters.pop("dbname", None)
    settings["query"] = parameters
    return settings, f"PostgreSQL database {name}", [drop]


#: The setup of each built-in kind: called with the kind, its provider and
#: C{directory} and C{dsn}; returns the store options, where the data is,
#: and what to call afterwards to remove what was made.
_SETUPS = {
    "memory": _setupMemory,
    "sqlite": _setupSQLite,
    "postgres": _setupPostgres,
}


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
