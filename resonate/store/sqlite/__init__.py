# -*- test-case-name: tests.integration.test_store_sqlite -*-
"""
The SQLite store: one database file, the default, embedded store.

Every transaction is one of the shared scripts of L{resonate.store.scripts}
run over L{resonate.store.sqlite.rows.SQLiteRows}, so this package decides
nothing about promises, schedules or locks; where it disagrees with
L{resonate.store.memory}, it is wrong.

Threads, because sqlite3 blocks and the reactor must not::

    reactor thread --submit--> queue --> writer thread (the only write
        connection): group commit, a batch run again with a SAVEPOINT per
        request if one fails, results delivered with one callFromThread per
        batch, after COMMIT
    reactor thread --submit--> queue --> reader threads (a connection
        each): whatever reads are queued, in one read-only transaction,
        each result posted to an outbox the reactor drains; a script that
        needs to write is handed to the writer and run again there

Nothing SQLite runs on the reactor thread, except opening and migrating the
database in the constructor, which runs before the reactor does so that a bad
path stops startup.

Its modules:

  - L{resonate.store.sqlite.store}: the store, its provider, and the
    scripts it runs on the writer and the readers;
  - L{resonate.store.sqlite.options}: its options;
  - L{resonate.store.sqlite.rows}: the rows those scripts run over, as SQL;
  - L{resonate.store.sqlite.threads}: the writer thread and the reader
    threads, with their connections;
  - L{resonate.store.sqlite.cache}: the promises kept in memory for reads.
"""

__all__ = []
