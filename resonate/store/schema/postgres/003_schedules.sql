-- Schema version 3: schedules.
--
-- The same columns as the SQLite schema's version 3.  The promise template
-- is split as a promise is: param headers (a JSONB object of strings) and
-- data (the exact bytes, or NULL when there is none).  Tags and promise
-- tags are JSONB objects of strings, searched by containment.  Times are
-- Unix epoch milliseconds; promise_timeout is relative to the fire time,
-- next_run_time and last_run_time absolute.  Ids compare byte by byte
-- (COLLATE "C"), as promise ids do.

CREATE TABLE schedules (
    id                    TEXT COLLATE "C" PRIMARY KEY,
    sort_id               BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    description           TEXT,
    cron                  TEXT NOT NULL,
    tags                  JSONB,
    promise_id            TEXT NOT NULL,
    promise_timeout       BIGINT NOT NULL,
    promise_param_headers JSONB,
    promise_param_data    BYTEA,
    promise_tags          JSONB,
    last_run_time         BIGINT,
    next_run_time         BIGINT NOT NULL,
    idempotency_key       TEXT,
    created_on            BIGINT NOT NULL
);

-- The scheduler fires due schedules, earliest slot first, and sleeps until
-- the earliest next_run_time.
CREATE INDEX schedules_next_run_time ON schedules (next_run_time, sort_id);

-- Searches by tag.
CREATE INDEX schedules_tags ON schedules USING GIN (tags jsonb_path_ops);
