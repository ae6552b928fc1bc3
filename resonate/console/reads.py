# -*- test-case-name: tests.integration.test_console -*-
"""
What the console's pages show, read through the API's operations
(L{resonate.api.operations.Operations}): the v0.5 searches, the 2026
requests and the server's own read requests
(L{resonate.model.requestsadmin}), each admitted and timed like an API
request.  Nothing here touches a store directly.
"""

from dataclasses import dataclass

from resonate.console.values import SCOPE_TAG
from resonate.errors import ResonateError
from resonate.model.ids import ORIGIN_TAG
from resonate.model.promise import ALL_STATES, PromiseQuery, State
from resonate.model.requests2026 import SearchTasks
from resonate.model.requestsadmin import ListLocks, ListTasks05, PromiseRelations
from resonate.model.schedule import ScheduleQuery
from resonate.model.tree import buildTree, treeSearches
from resonate.status import Status

#: The rows of one page of a list.
PAGE_SIZE = 50

#: The most promises a workflow page fetches: a tree larger than this is
#: shown in part, and says so.
TREE_LIMIT = 2000

#: How many of the newest remote calls the workflow index looks through
#: for roots.
ROOT_SCAN = 200

#: The states the promise list can be filtered by, by their names in the
#: query.
STATE_FILTERS = {
    "pending": frozenset([State.PENDING]),
    "resolved": frozenset([State.RESOLVED]),
    "rejected": frozenset([State.REJECTED]),
    "rejected_canceled": frozenset([State.REJECTED_CANCELED]),
    "rejected_timedout": frozenset([State.REJECTED_TIMEDOUT]),
    "all_rejected": frozenset(
        [State.REJECTED, State.REJECTED_CANCELED, State.REJECTED_TIMEDOUT]
    ),
}


@dataclass(frozen=True)
class PromiseDetail:
    """
    One promise and what refers to it.

    @ivar promise: the L{resonate.model.promise.Promise}, as of now.
    @ivar relations: the L{resonate.model.requestsadmin.RelationsReply}.
    """

    promise: object
    relations: object


@dataclass(frozen=True)
class Workflow:
    """
    The call tree of a root promise.

    @ivar root: the root's L{resonate.model.tree.TreeNode}, or L{None}
        when the root was not found.
    @ivar truncated: whether the searches found more than L{TREE_LIMIT}
        promises, of which only the first are in the tree.
    @ivar size: how many promises the tree holds.
    """

    root: object
    truncated: bool
    size: int


class ConsoleReads:
    """
    The console's reads, each through one or a few operations.
    """

    def __init__(self, operations):
        """
        @param operations: the L{resonate.api.operations.Operations} the
            API calls.
        """
        self._operations = operations

    def now(self):
        """
        The operations' current time, epoch ms.
        """
        return self._operations.now()

    async def promises(self, idPattern="*", states=ALL_STATES, tags=None, sortId=None):
        """
        A page of promises, newest first (the v0.5 search's order).

        @return: a L{resonate.model.promise.SearchPage}.
        """
        query = PromiseQuery(
            id=idPattern or "*",
            states=states,
            tags=dict(tags or {}),
            limit=PAGE_SIZE,
            sortId=sortId,
        )
        return await self._operations.searchPromises(query)

    async def promise(self, promiseId):
        """
        One promise (timed out first if it is overdue, as a read through
        the API does) and what refers to it; L{None} when there is none.

        @return: a L{PromiseDetail} or L{None}.
        """
        decision = await self._operations.readPromise(promiseId)
        if decision.status is Status.PROMISE_NOT_FOUND:
            return None
        if decision.status.isError:
            raise ResonateError(decision.status)
        relations = await self._admin(PromiseRelations(promiseId))
        return PromiseDetail(decision.promise, relations)

    async def workflow(self, rootId):
        """
        The call tree of C{rootId}, from the searches
        L{resonate.model.tree.treeSearches} names.

        @return: a L{Workflow}.
        """
        found, truncated = [], False
        for search in treeSearches(rootId):
            query = PromiseQuery(id=search.idPattern, tags=search.tags, limit=500)
            while query is not None and not truncated:
                page = await self._operations.searchPromises(query)
                found.extend(page.promises)
                truncated = len(found) > TREE_LIMIT
                query = page.next
        root = buildTree(rootId, found[:TREE_LIMIT], self.now())
        size = 0 if root is None else sum(1 for _ in root.walk())
        return Workflow(root, truncated, size)

    async def recentRoots(self):
        """
        The workflows started lately: among the L{ROOT_SCAN} newest
        promises the SDKs tag as remote calls (C{resonate:scope=global}),
        those that are the root of their own lineage.  (The search cannot
        ask for a tag equal to the id, so it looks through a bounded page.)

        @return: a list of promises, newest first.
        """
        page = await self._operations.searchPromises(
            PromiseQuery(tags={SCOPE_TAG: "global"}, limit=ROOT_SCAN)
        )
        return [p for p in page.promises if p.tags.get(ORIGIN_TAG) == p.id]

    async def schedules(self, idPattern="*", sortId=None):
        """
        A page of schedules, newest first.

        @return: a L{resonate.model.schedule.SchedulePage}.
        """
        query = ScheduleQuery(id=idPattern or "*", limit=PAGE_SIZE, sortId=sortId)
        return await self._operations.searchSchedules(query)

    async def tasks2026(self, state=None, cursor=None):
        """
        A page of 2026 tasks, by id, after the id C{cursor}.

        @param state: a L{resonate.model.tasks2026.TaskState} or L{None}.
        @return: a L{resonate.model.requests2026.Reply} (C{tasks}, a tuple
            of L{resonate.model.requests2026.TaskView}s, and C{cursor}).
        """
        reply = await self._operations.handle2026(
            SearchTasks(state=state, limit=PAGE_SIZE, cursor=cursor), self.now()
        )
        if reply.isError:
            raise ResonateError(Status.INTERNAL_SERVER_ERROR, reply.message)
        return reply

    async def tasks05(self, afterId=None):
        """
        A page of v0.5 tasks, by id, after C{afterId}; one row more than a
        page is asked for, to know whether there is a next page.

        @return: C{(tasks, nextAfterId)}, C{nextAfterId} L{None} on the
            last page.
        """
        reply = await self._admin(ListTasks05(afterId=afterId, limit=PAGE_SIZE + 1))
        return _paged(reply.tasks, lambda task: task.id)

    async def locks(self, afterId=None):
        """
        A page of locks, by resource id, after C{afterId}.

        @return: C{(locks, nextAfterId)}, C{nextAfterId} L{None} on the
            last page.
        """
        reply = await self._admin(ListLocks(afterId=afterId, limit=PAGE_SIZE + 1))
        return _paged(reply.locks, lambda lock: lock.resourceId)

    async def _admin(self, request):
        """
        Run one of the server's own read requests through the operations.
        """
        return await self._operations.handle2026(request, self.now())


def _paged(rows, keyOf):
    rows = tuple(rows)
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        return rows, keyOf(rows[-1])
    return rows, None


def nextQuery(page):
    """
    The C{sortId} of the page after C{page} (a promise or schedule search
    page), or L{None} on the last page.
    """
    return None if page.next is None else page.next.sortId

