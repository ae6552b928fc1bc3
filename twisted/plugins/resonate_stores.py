"""
The store providers that ship with resonate.

Each names its store class by path, imported only when a store is made, and
declares its options from a module that imports no driver, so scanning
plugins stays cheap.
"""

from resonate.store.postgres.options import POSTGRES_OPTIONS
from resonate.store.providers import LazyStoreProvider
from resonate.store.sqlite.options import SQLITE_OPTIONS

memory = LazyStoreProvider(
    "memory",
    "in memory; nothing survives a restart (tests and development)",
    "resonate.store.memory.MemoryStoreProvider",
)

sqlite = LazyStoreProvider(
    "sqlite",
    "SQLite, embedded (the default)",
    "resonate.store.sqlite.store.SQLiteStoreProvider",
    SQLITE_OPTIONS,
    shared=True,
)

postgres = LazyStoreProvider(
    "postgres",
    "PostgreSQL; several server processes may share one database",
    "resonate.store.postgres.store.PostgresStoreProvider",
    POSTGRES_OPTIONS,
    shared=True,
)
