# -*- test-case-name: tests.integration.test_store_postgres -*-
"""
The PostgreSQL store: several server processes may share one database.

Every transaction is one of the shared scripts of L{resonate.store.scripts}
driven by L{scripts.runAsync <resonate.store.scripts.runAsync>} over
L{resonate.store.postgres.rows.PostgresRows}, so this package decides
nothing about promises; where it disagrees with L{resonate.store.memory}, it
is wrong.

Correctness across processes rests on the database alone, never on locks in
this process:

  - every write is conditional (C{INSERT ... ON CONFLICT DO NOTHING},
    C{UPDATE ... WHERE state = 'PENDING'}); a script whose write finds the
    row changed under it starts again from its read.  So requests run each
    statement in autocommit, with no C{BEGIN}/C{COMMIT} round trips: a
    create or a complete is two round trips, a read one;
  - the background sweep (C{PostgresStore.timeoutPromises}) times out a
    batch with one C{UPDATE} whose subquery claims the rows with C{SELECT
    ... FOR UPDATE SKIP LOCKED}, so sweeps in several processes share the
    work instead of fighting over it;
  - the scheduler (C{PostgresStore.fireSchedules}) likewise claims due
    schedules with C{FOR UPDATE SKIP LOCKED} and advances each, conditional
    on the slot it fires, in the transaction that inserts the slot's
    promise, so a slot fires at most once across processes;
  - the schema is created or migrated at startup under a transaction-scoped
    advisory lock, so processes that start together apply it once.

Its modules:

  - L{resonate.store.postgres.store}: the store, its batching of creates,
    and its provider;
  - L{resonate.store.postgres.options}: its options;
  - L{resonate.store.postgres.rows}: the rows the scripts run over, as SQL
    statements;
  - L{resonate.store.postgres.pool}: the connections, their pool, and one
    request's transaction on one of them;
  - L{resonate.store.postgres.schema}: creating or migrating the schema at
    startup.
"""

__all__ = []
