-- Schema version 6: the indexes of the 2026 protocol's reads by id.
--
-- promise.search and schedule.search page by id: the UNIQUE constraints
-- on promises.id and schedules.id (BINARY collation: UTF-8 bytes, which is
-- code-point order) already keep their ids in that order, as the primary
-- key of tasks_2026 keeps task ids.

-- A task's preload (every acquire, fence and task.create) reads the
-- promises of its branch, by id.  Tags are JSON text, so the index is on
-- the expression the rows match the branch with (SQLiteRows.branchPromises
-- writes it exactly so, or SQLite does not use the index), then id; only
-- promises on a branch are in it.
CREATE INDEX promises_branch
    ON promises(json_extract(tags, '$."resonate:branch"'), id)
    WHERE json_extract(tags, '$."resonate:branch"') IS NOT NULL;

-- task.search in one state pages by id within it.
CREATE INDEX tasks_2026_state ON tasks_2026(state, id);
