-- Schema version 1: promises.
--
-- The same columns as the SQLite schema's version 1.  Param and value are
-- split into headers (a JSONB object of strings) and data (the exact bytes,
-- or NULL when there is none).  Tags are a JSONB object of strings, searched
-- by containment (tags @> '{"k": "v"}').  Times are Unix epoch
-- milliseconds; timeout is absolute.  Ids compare byte by byte (COLLATE
-- "C"), so that equality and LIKE are exact and case-sensitive whatever the
-- database's collation.

CREATE TABLE promises (
    id                           TEXT COLLATE "C" PRIMARY KEY,
    sort_id                      BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    state                        TEXT NOT NULL,
    param_headers                JSONB,
    param_data                   BYTEA,
    value_headers                JSONB,
    value_data                   BYTEA,
    timeout                      BIGINT NOT NULL,
    idempotency_key_for_create   TEXT,
    idempotency_key_for_complete TEXT,
    tags                         JSONB,
    created_on                   BIGINT NOT NULL,
    completed_on                 BIGINT
);

-- The timeout sweep reads only pending promises, oldest timeout first.
CREATE INDEX promises_pending_timeout ON promises (timeout, sort_id)
    WHERE state = 'PENDING';

-- Searches by tag.
CREATE INDEX promises_tags ON promises USING GIN (tags jsonb_path_ops);
