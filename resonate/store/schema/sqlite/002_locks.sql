-- Schema version 2: distributed locks.
--
-- One row per locked resource, expired or not until the sweep deletes it.
-- timeout is absolute (epoch milliseconds): the lock's expiresAt.
-- expiry_in_milliseconds is the lease every acquire and heartbeat grants.

CREATE TABLE locks (
    resource_id            TEXT PRIMARY KEY,
    process_id             TEXT NOT NULL,
    execution_id           TEXT NOT NULL,
    expiry_in_milliseconds INTEGER NOT NULL,
    timeout                INTEGER NOT NULL
);

-- A heartbeat extends every lock of one process.
CREATE INDEX locks_process ON locks(process_id);

-- The sweep deletes expired locks, those that expired first first.
CREATE INDEX locks_timeout ON locks(timeout);
