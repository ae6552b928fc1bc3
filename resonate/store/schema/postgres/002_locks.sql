-- Schema version 2: distributed locks.
--
-- One row per locked resource.  timeout is absolute (epoch milliseconds);
-- expiry_in_milliseconds is the lease every acquire and heartbeat grants.

CREATE TABLE locks (
    resource_id            TEXT COLLATE "C" PRIMARY KEY,
    process_id             TEXT COLLATE "C" NOT NULL,
    execution_id           TEXT COLLATE "C" NOT NULL,
    expiry_in_milliseconds BIGINT NOT NULL,
    timeout                BIGINT NOT NULL
);

-- A heartbeat extends every lock of one process.
CREATE INDEX locks_process ON locks (process_id);

-- The sweep deletes expired locks, oldest first.
CREATE INDEX locks_timeout ON locks (timeout);
