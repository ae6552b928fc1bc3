-- Schema version 1: promises.
--
-- Column names follow the Go server's; param and value are split into
-- headers (a JSON object of strings) and data (the exact bytes, or NULL when
-- there is none).  Tags are a JSON object of strings.  Times are Unix epoch
-- milliseconds; timeout is absolute.

CREATE TABLE promises (
    id                           TEXT UNIQUE NOT NULL,
    sort_id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    state                        TEXT NOT NULL,
    param_headers                TEXT,
    param_data                   BLOB,
    value_headers                TEXT,
    value_data                   BLOB,
    timeout                      INTEGER NOT NULL,
    idempotency_key_for_create   TEXT,
    idempotency_key_for_complete TEXT,
    tags                         TEXT,
    created_on                   INTEGER NOT NULL,
    completed_on                 INTEGER
);

-- The timeout sweep reads only pending promises, oldest timeout first.
-- Searches page by sort_id, the primary key, and need no index of their own;
-- an id lookup uses the UNIQUE constraint's index.
CREATE INDEX promises_pending_timeout ON promises(timeout) WHERE state = 'PENDING';
