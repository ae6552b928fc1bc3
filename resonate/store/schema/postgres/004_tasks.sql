-- Schema version 4: tasks.
--
-- The same columns as the SQLite schema's version 4.  One row per routed
-- promise; its id is the promise's id.  counter grows each time the task
-- is offered.  Times are Unix epoch milliseconds: claim_timeout ends the
-- claim window, complete_timeout the claimer's lease, promise_timeout is
-- the promise's timeout.  Ids compare byte by byte (COLLATE "C"), as
-- promise ids do.

CREATE TABLE tasks (
    id               TEXT COLLATE "C" PRIMARY KEY,
    counter          INTEGER NOT NULL,
    promise_id       TEXT COLLATE "C" NOT NULL,
    claim_timeout    BIGINT NOT NULL,
    complete_timeout BIGINT NOT NULL,
    promise_timeout  BIGINT NOT NULL,
    created_on       BIGINT NOT NULL,
    completed_on     BIGINT,
    is_completed     BOOLEAN NOT NULL DEFAULT FALSE
);

-- The dispatcher offers tasks that are not completed, oldest first.
CREATE INDEX tasks_dispatch ON tasks (created_on, id) WHERE NOT is_completed;
