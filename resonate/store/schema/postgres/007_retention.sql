-- Schema version 7: the reads of the console and of retention (issue #18).
--
-- The same indexes as the SQLite schema's version 7.  Retention collects
-- settled promises oldest first: by (completed_on, id), only settled rows
-- (PostgresRows.settledPromises writes the same condition, or the planner
-- does not use the partial index).
CREATE INDEX promises_settled ON promises (completed_on, id)
    WHERE state <> 'PENDING';

-- The v0.5 tasks of one promise (its relations, and what a collected
-- promise takes with it).  On promise_id alone: a task's id is its
-- promise's, so there is one row to order, and two ids of up to 2048
-- bytes would not fit one PostgreSQL btree entry (2704 bytes at most).
CREATE INDEX tasks_promise ON tasks (promise_id);
