-- Schema version 5: the tables of the 2026 protocol (resonate.model.tasks2026).
--
-- One store serves both protocols (DECISIONS 23): 2026 tasks live beside
-- the v0.5 tasks table, and their promises are the promises table's rows.
-- No foreign keys, as in the earlier versions: the scripts write a task,
-- its callbacks and listeners in the transaction that reads or writes its
-- promise.  Times are Unix epoch milliseconds.

-- One row per promise with a resonate:target; its id is the promise's id.
-- state is a TaskState value (pending, acquired, suspended, halted,
-- fulfilled); version is the fencing token.  pid and ttl are set only while
-- acquired.  timeout_at is the task's one timer (the retry while pending,
-- the lease's end while acquired, else NULL), so a state change and its
-- timer are one conditional row write.
CREATE TABLE tasks_2026 (
    id         TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (
        state IN ('pending', 'acquired', 'suspended', 'halted', 'fulfilled')
    ),
    version    INTEGER NOT NULL,
    address    TEXT NOT NULL,
    pid        TEXT,
    ttl        INTEGER,
    timeout_at INTEGER
);

-- The timer sweep reads due timers, earliest first.
CREATE INDEX tasks_2026_timeout_at ON tasks_2026(timeout_at, id)
    WHERE timeout_at IS NOT NULL;

-- The task awaiter_id waits for the promise awaited_id; ready (0 or 1) once
-- that promise has settled (a resume).
CREATE TABLE callbacks (
    awaited_id TEXT NOT NULL,
    awaiter_id TEXT NOT NULL,
    ready      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (awaited_id, awaiter_id)
);

-- A task's callbacks, to count, clear or delete them.
CREATE INDEX callbacks_awaiter ON callbacks(awaiter_id);

-- One unblock to address when the promise settles.
CREATE TABLE listeners (
    promise_id TEXT NOT NULL,
    address    TEXT NOT NULL,
    PRIMARY KEY (promise_id, address)
);

-- Messages written in the transaction that causes them, kept until
-- delivered or expired (DECISIONS 29).  kind is 'execute' (offer the task
-- promise_id, a task's id being its promise's, at version) or 'unblock'
-- (promise_id has settled; version is NULL).  At most one execute per task
-- and one unblock per promise and address.  attempts and next_attempt_at
-- are the delivery's retry state.  id orders the messages and names one:
-- an execute that replaces an older one gets a new id.
CREATE TABLE outbox_messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL CHECK (kind IN ('execute', 'unblock')),
    promise_id      TEXT NOT NULL,
    version         INTEGER,
    address         TEXT NOT NULL,
    created_on      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL
);

CREATE UNIQUE INDEX outbox_messages_execute ON outbox_messages(promise_id)
    WHERE kind = 'execute';
CREATE UNIQUE INDEX outbox_messages_unblock
    ON outbox_messages(promise_id, address) WHERE kind = 'unblock';

-- Delivery takes the messages due, oldest first.
CREATE INDEX outbox_messages_next_attempt_at
    ON outbox_messages(next_attempt_at, id);
