-- Schema version 4: tasks.
--
-- One row per routed promise; its id is the promise's id.  counter grows
-- each time the task is offered.  Times are Unix epoch milliseconds:
-- claim_timeout ends the claim window, complete_timeout the claimer's
-- lease, promise_timeout is the promise's timeout.  is_completed is 0 or 1.

CREATE TABLE tasks (
    id               TEXT PRIMARY KEY,
    counter          INTEGER NOT NULL,
    promise_id       TEXT NOT NULL,
    claim_timeout    INTEGER NOT NULL,
    complete_timeout INTEGER NOT NULL,
    promise_timeout  INTEGER NOT NULL,
    created_on       INTEGER NOT NULL,
    completed_on     INTEGER,
    is_completed     INTEGER NOT NULL DEFAULT 0
);

-- The dispatcher offers tasks that are not completed, oldest first.
CREATE INDEX tasks_dispatch ON tasks(created_on, id) WHERE is_completed = 0;
