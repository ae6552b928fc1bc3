"""
The store providers that ship with resonate.
"""

from resonate.store.providers import LazyStoreProvider

memory = LazyStoreProvider(
    "memory",
    "in memory; nothing survives a restart (tests and development)",
    "resonate.store.memory.MemoryStoreProvider",
)

sqlite = LazyStoreProvider(
    "sqlite",
    "SQLite, embedded (the default)",
    "resonate.store.sqlite.store.SQLiteStoreProvider",
)

postgres = LazyStoreProvider(
    "postgres",
    "PostgreSQL; several server processes may share one database",
    "resonate.store.postgres.store.PostgresStoreProvider",
)
