# -*- test-case-name: tests.integration.test_console -*-
"""
What the console's pages show, read through the API's operations
(L{resonate.api.operations.Operations}): the v0.5 searches, the 2026
requests and the server's own read requests
(L{resonate.model.requestsadmin}), each admitted and timed like an API
request.  Nothing here touches a store directly.

Every read takes the L{resonate.console.session.Scope} of who asks: lists
are searched within it, or filtered to it where the search cannot be
(2026 tasks, v0.5 tasks and locks, the promises of a call tree), and a
promise's relations name only the ids it allows.
"""

from dataclasses import dataclass, replace

from resonate.api.tokens import EVERYONE
from resonate.console.session import Scope
from resonate.console.values import SCOPE_TAG
from resonate.errors import ResonateError
from resonate.model.ids import ORIGIN_TAG
from resonate.model.promise import ALL_STATES, PromiseQuery, State
from resonate.model.requests2026 import Reply, SearchTasks
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

#: How many pages of a list by id a page of the console reads, at most,
#: to fill itself with what a restricted principal may see.
FILTERED_SCAN = 10

#: Who may see everything.
UNRESTRICTED = Scope(EVERYONE)

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

    async def promises(
        self, idPattern="*", states=ALL_STATES, tags=None, sortId=None,
        scope=UNRESTRICTED,
    ):
        """
        A page of promises, newest first (the v0.5 search's order), among
        those C{scope} may see.

        @param idPattern: the id pattern (blank: every id C{scope} allows).
        @return: a L{resonate.model.promise.SearchPage}.
        @raise ConsoleForbidden: the pattern reaches outside C{scope}.
        """
        query = PromiseQuery(
            id=scope.pattern(idPattern),
            states=states,
            tags=dict(tags or {}),
            limit=PAGE_SIZE,
            sortId=sortId,
        )
        return await self._operations.searchPromises(query, principal=scope.principal)

    async def promise(self, promiseId, scope=UNRESTRICTED):
        """
        One promise (timed out first if it is overdue, as a read through
        the API does) and what refers to it, as far as C{scope} may see;
        L{None} when there is none.

        @return: a L{PromiseDetail} or L{None}.
        @raise ConsoleForbidden: C{scope} may not see it.
        """
        scope.check(promiseId)
        decision = await self._operations.readPromise(
            promiseId, principal=scope.principal
        )
        if decision.status is Status.PROMISE_NOT_FOUND:
            return None
        if decision.status.isError:
            raise ResonateError(decision.status)
        relations = await self._admin(PromiseRelations(promiseId))
        if not scope.unrestricted:
            relations = replace(
                relations,
                awaiters=tuple(i for i in relations.awaiters if scope.allows(i)),
                awaiting=tuple(i for i in relations.awaiting if scope.allows(i)),
            )
        return PromiseDetail(decision.promise, relations)

    async def workflow(self, rootId, scope=UNRESTRICTED):
        """
        The call tree of C{rootId}, from the searches
        L{resonate.model.tree.treeSearches} names, of the promises C{scope}
        may see.

        @return: a L{Workflow}.
        @raise ConsoleForbidden: C{scope} may not see the root.
        """
        scope.check(rootId)
        found, truncated = [], False
        for search in treeSearches(rootId):
            query = PromiseQuery(id=search.idPattern, tags=search.tags, limit=500)
            while query is not None and not truncated:
                page = await self._operations.searchPromises(query)
                found.extend(p for p in page.promises if scope.allows(p.id))
                truncated = len(found) > TREE_LIMIT
                query = page.next
        root = buildTree(rootId, found[:TREE_LIMIT], self.now())
        size = 0 if root is None else sum(1 for _ in root.walk())
        return Workflow(root, truncated, size)

    async def recentRoots(self, scope=UNRESTRICTED):
        """
        The workflows started lately: among the L{ROOT_SCAN} newest
        promises the SDKs tag as remote calls (C{resonate:scope=global}),
        those that are the root of their own lineage.  (The search cannot
        ask for a tag equal to the id, so it looks through a bounded page.)

        @return: a list of promises, newest first.
        """
        page = await self._operations.searchPromises(
            PromiseQuery(
                id=scope.pattern(""), tags={SCOPE_TAG: "global"}, limit=ROOT_SCAN
            ),
            principal=scope.principal,
        )
        return [p for p in page.promises if p.tags.get(ORIGIN_TAG) == p.id]

    async def schedules(self, idPattern="", sortId=None, scope=UNRESTRICTED):
        """
        A page of schedules, newest first, among those C{scope} may see.

        @return: a L{resonate.model.schedule.SchedulePage}.
        """
        query = ScheduleQuery(id=scope.pattern(idPattern), limit=PAGE_SIZE, sortId=sortId)
        return await self._operations.searchSchedules(query, principal=scope.principal)

    async def tasks2026(self, state=None, cursor=None, scope=UNRESTRICTED):
        """
        A page of the 2026 tasks C{scope} may see, by id, after the id
        C{cursor}.

        @param state: a L{resonate.model.tasks2026.TaskState} or L{None}.
        @return: a L{resonate.model.requests2026.Reply} (C{tasks}, a tuple
            of L{resonate.model.requests2026.TaskView}s, and C{cursor}).
        """

        async def fetch(after):
            reply = await self._operations.handle2026(
                SearchTasks(state=state, limit=PAGE_SIZE, cursor=after), self.now()
            )
            if reply.isError:
                raise ResonateError(Status.INTERNAL_SERVER_ERROR, reply.message)
            return reply.tasks, reply.cursor

        tasks, after = await _filtered(
            fetch, lambda view: scope.allows(view.task.id), cursor, scope
        )
        return Reply(tasks=tasks, cursor=after)

    async def tasks05(self, afterId=None, scope=UNRESTRICTED):
        """
        A page of the v0.5 tasks C{scope} may see (by their promise), by
        id, after C{afterId}.

        @return: C{(tasks, nextAfterId)}, C{nextAfterId} L{None} on the
            last page.
        """

        async def fetch(after):
            reply = await self._admin(ListTasks05(afterId=after, limit=PAGE_SIZE + 1))
            return _paged(reply.tasks, lambda task: task.id)

        return await _filtered(
            fetch, lambda task: scope.allows(task.promiseId), afterId, scope
        )

    async def locks(self, afterId=None, scope=UNRESTRICTED):
        """
        A page of the locks C{scope} may see, by resource id, after
        C{afterId}.

        @return: C{(locks, nextAfterId)}, C{nextAfterId} L{None} on the
            last page.
        """

        async def fetch(after):
            reply = await self._admin(ListLocks(afterId=after, limit=PAGE_SIZE + 1))
            return _paged(reply.locks, lambda lock: lock.resourceId)

        return await _filtered(
            fetch, lambda lock: scope.allows(lock.resourceId), afterId, scope
        )

    async def _admin(self, request):
        """
        Run one of the server's own read requests through the operations.
        """
        return await self._operations.handle2026(request, self.now())


async def _filtered(fetch, keep, after, scope):
    """
    A page of a list by id, of the rows C{keep} keeps: for an unrestricted
    C{scope} one page as it comes; else pages read on until one page's
    worth is kept, the list ends, or L{FILTERED_SCAN} pages were read
    (the next page then starts after the last row read, kept or not).

    @param fetch: a coroutine function of the id to start after, answering
        C{(rows, nextAfter)}.
    @return: C{(rows, nextAfter)}.
    """
    if scope.unrestricted:
        return await fetch(after)
    kept = []
    for _ in range(FILTERED_SCAN):
        rows, after = await fetch(after)
        kept.extend(row for row in rows if keep(row))
        if after is None or len(kept) >= PAGE_SIZE:
            break
    return tuple(kept), after


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

