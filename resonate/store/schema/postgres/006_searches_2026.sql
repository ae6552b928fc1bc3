-- Schema version 6: the indexes of the 2026 protocol's reads by id.
--
-- promise.search and schedule.search page by id: the primary keys of
-- promises and schedules already keep their ids in that order, byte by
-- byte (COLLATE "C": code-point order in UTF-8), as the primary key of
-- tasks_2026 keeps task ids.

-- A task's preload (every acquire, fence and task.create) reads the
-- promises of its branch, by id.  The GIN index on tags finds them but
-- not in order; this one is on the expression the rows match the branch
-- with (PostgresRows.branchPromises writes it exactly so, or the planner
-- does not use the index), then id; only promises on a branch are in it.
CREATE INDEX promises_branch
    ON promises ((tags ->> 'resonate:branch'), id)
    WHERE (tags ->> 'resonate:branch') IS NOT NULL;

-- task.search in one state pages by id within it.
CREATE INDEX tasks_2026_state ON tasks_2026 (state, id);
