"""
The query plans of what a store's row operation runs, for the tests that
check an index serves a read (SQLite's and PostgreSQL's rows, at each
schema version).
"""

from twisted.internet.defer import succeed

from resonate.store.postgres.rows import PostgresRows
from resonate.store.sqlite.rows import SQLiteRows


def sqlitePlans(connection, method, *args):
    """
    Run the L{SQLiteRows} operation C{method} on C{connection}, explaining
    each statement first.

    @return: C{(plans, result)}: the detail column of every C{EXPLAIN QUERY
        PLAN} row, in order, and what the operation returned.
    """
    found = []

    class Explaining:
        def execute(self, sql, parameters=()):
            found.extend(
                row[3]
                for row in connection.execute("EXPLAIN QUERY PLAN " + sql, parameters)
            )
            return connection.execute(sql, parameters)

    result = getattr(SQLiteRows(Explaining()), method)(*args)
    return found, result


def postgresPlans(cursor, method, *args):
    """
    Run the L{PostgresRows} operation C{method} on a psycopg2 C{cursor},
    explaining each statement first.

    @return: C{(plans, result)}: every line of every C{EXPLAIN}, in order,
        and what the operation's C{Deferred} fired with (it fires at once:
        the cursor is synchronous).
    """
    found = []

    def execute(statement, parameters):
        cursor.execute("EXPLAIN " + statement, parameters)
        found.extend(line for (line,) in cursor.fetchall())
        cursor.execute(statement, parameters)
        return succeed(cursor)

    result = []
    getattr(PostgresRows(execute), method)(*args).addCallback(result.append)
    return found, result[0]
