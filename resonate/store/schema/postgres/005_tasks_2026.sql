-- Schema version 5: the tables of the 2026 protocol (resonate.model.tasks2026).
--
-- The same tables and columns as the SQLite schema's version 5.  One store
-- serves both protocols (DECISIONS 23): 2026 tasks live beside the v0.5
-- tasks table, and their promises are the promises table's rows.  No
-- foreign keys, as in the earlier versions.  Times are Unix epoch
-- milliseconds.  Ids compare byte by byte (COLLATE "C"), as promise ids do.

-- One row per promise with a resonate:target; its id is the promise's id.
-- state is a TaskState value; version is the fencing token.  pid and ttl
-- are set only while acquired.  timeout_at is the task's one timer (the
-- retry while pending, the lease's end while acquired, else NULL).
CREATE TABLE tasks_2026 (
    id         TEXT COLLATE "C" PRIMARY KEY,
    state      TEXT NOT NULL CHECK (
        state IN ('pending', 'acquired', 'suspended', 'halted', 'fulfilled')
    ),
    version    BIGINT NOT NULL,
    address    TEXT NOT NULL,
    pid        TEXT COLLATE "C",
    ttl        BIGINT,
    timeout_at BIGINT
);

-- The timer sweep reads due timers, earliest first.
CREATE INDEX tasks_2026_timeout_at ON tasks_2026 (timeout_at, id)
    WHERE timeout_at IS NOT NULL;

-- The task awaiter_id waits for the promise awaited_id; ready once that
-- promise has settled (a resume).
CREATE TABLE callbacks (
    awaited_id TEXT COLLATE "C" NOT NULL,
    awaiter_id TEXT COLLATE "C" NOT NULL,
    ready      BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (awaited_id, awaiter_id)
);

-- A task's callbacks, to count, clear or delete them.
CREATE INDEX callbacks_awaiter ON callbacks (awaiter_id);

-- One unblock to address when the promise settles.
CREATE TABLE listeners (
    promise_id TEXT COLLATE "C" NOT NULL,
    address    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (promise_id, address)
);

-- Messages written in the transaction that causes them, kept until
-- delivered or expired (DECISIONS 29).  kind is 'execute' (offer the task
-- promise_id at version) or 'unblock' (promise_id has settled; version is
-- NULL).  At most one execute per task and one unblock per promise and
-- address.  attempts and next_attempt_at are the delivery's retry state.
-- id orders the messages and names one: an execute that replaces an older
-- one gets a new id.
CREATE TABLE outbox_messages (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('execute', 'unblock')),
    promise_id      TEXT COLLATE "C" NOT NULL,
    version         BIGINT,
    address         TEXT COLLATE "C" NOT NULL,
    created_on      BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX outbox_messages_execute ON outbox_messages (promise_id)
    WHERE kind = 'execute';
CREATE UNIQUE INDEX outbox_messages_unblock
    ON outbox_messages (promise_id, address) WHERE kind = 'unblock';

-- Delivery takes the messages due, oldest first.
CREATE INDEX outbox_messages_next_attempt_at
    ON outbox_messages (next_attempt_at, id);
