-- Schema version 3: schedules.
--
-- One row per schedule.  The promise template is split as a promise is:
-- param headers (a JSON object of strings) and data (the exact bytes, or
-- NULL when there is none).  Tags and promise tags are JSON objects of
-- strings.  Times are Unix epoch milliseconds; promise_timeout is relative
-- to the fire time, next_run_time and last_run_time absolute.

CREATE TABLE schedules (
    id                    TEXT UNIQUE NOT NULL,
    sort_id               INTEGER PRIMARY KEY AUTOINCREMENT,
    description           TEXT,
    cron                  TEXT NOT NULL,
    tags                  TEXT,
    promise_id            TEXT NOT NULL,
    promise_timeout       INTEGER NOT NULL,
    promise_param_headers TEXT,
    promise_param_data    BLOB,
    promise_tags          TEXT,
    last_run_time         INTEGER,
    next_run_time         INTEGER NOT NULL,
    idempotency_key       TEXT,
    created_on            INTEGER NOT NULL
);

-- The scheduler fires due schedules, earliest slot first, and sleeps until
-- the earliest next_run_time.
CREATE INDEX schedules_next_run_time ON schedules(next_run_time, sort_id);
