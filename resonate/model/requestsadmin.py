# -*- test-case-name: tests.unit.test_store_memory -*-
"""
The server's own requests about its data (issue #18): the reads the
browser console shows, and the collection of old settled promises
(retention, C{POST /gc}).

They have no protocol kind string: no client reaches them through
C{POST /}.  The server's own code (the console, the retention service,
the admin endpoint) hands them to a store's C{handle2026} like a 2026
request, and the store runs L{resonate.store.scriptsadmin} over them (the
scripts of L{resonate.store.scripts2026.handle} dispatch there), in one
transaction, with the rows of L{resonate.interfaces.IAdminRows}.
"""

from dataclasses import dataclass
from http import HTTPStatus

#: The default page of L{ListLocks} and L{ListTasks05}.
DEFAULT_LIMIT = 100

#: The most candidates one L{CollectGarbage} transaction examines when the
#: server collects (retention, C{POST /gc}).  Measured deleting 5000
#: promises (half with a 2026 task) on one machine: a batch of 100 took
#: 1.7 ms (at most 5) on SQLite and 6 ms (at most 27) on a local
#: PostgreSQL; 500 took 6 ms and 17 ms.  A hundred keeps the SQLite
#: writer's queue short, and still collects thousands a second.
GARBAGE_BATCH = 100


@dataclass(frozen=True)
class ListLocks:
    """
    A page of locks (v0.5's distributed locks), by resource id, those after
    C{afterId} (from the first when L{None}), at most C{limit}: answered
    with a L{LocksReply}.
    """

    afterId: str = None
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class ListTasks05:
    """
    A page of v0.5 tasks (L{resonate.model.task.Task}), by id, those after
    C{afterId}, at most C{limit}: answered with a L{Tasks05Reply}.
    """

    afterId: str = None
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class PromiseRelations:
    """
    What refers to the promise C{promiseId}: its 2026 task, its v0.5 tasks,
    its callbacks both ways and its listeners; answered with a
    L{RelationsReply}.  Like C{task.get}, it first times the promise out
    if it is overdue (so the task is shown as that leaves it).
    """

    promiseId: str


@dataclass(frozen=True)
class CollectGarbage:
    """
    Delete at most C{limit} old settled promises with everything that
    refers to them, in one transaction (answered with a L{GarbageReply}).

    Candidates are the settled promises completed before C{settledBefore}
    (epoch ms), oldest first (by C{(completedOn, id)}), after C{after} (a
    C{(completedOn, id)} pair, from the oldest when L{None}).  A candidate
    is kept, not deleted, while anything may still need it (see
    L{resonate.store.scriptsadmin.collectGarbage}).  C{limit} bounds the
    candidates examined, kept ones included, so that a transaction stays
    short whatever is kept.

    @ivar dryRun: delete nothing; answer what would be deleted.
    """

    settledBefore: int
    limit: int
    dryRun: bool = False
    after: tuple = None


class _AdminReply:
    """
    What every reply here shares with L{resonate.model.requests2026.Reply}:
    these requests are never refused, so code that handles both kinds of
    reply may ask any of them whether it is an error.
    """

    status = HTTPStatus.OK
    isError = False


@dataclass(frozen=True)
class LocksReply(_AdminReply):
    """
    @ivar locks: a tuple of L{resonate.model.lock.Lock}s, by resource id.
    """

    locks: tuple = ()


@dataclass(frozen=True)
class Tasks05Reply(_AdminReply):
    """
    @ivar tasks: a tuple of v0.5 L{resonate.model.task.Task}s, by id.
    """

    tasks: tuple = ()


@dataclass(frozen=True)
class RelationsReply(_AdminReply):
    """
    @ivar task: the promise's 2026 task as C{task.get} answers it (a
        L{resonate.model.requests2026.TaskView}), or L{None}.
    @ivar tasks05: the v0.5 tasks of the promise, by id.
    @ivar awaiters: the ids of the promises whose tasks await this promise
        (its callbacks), in order.
    @ivar awaiting: the ids of the promises this promise's task awaits.
    @ivar listeners: the addresses of its listeners, in order.
    """

    task: object = None
    tasks05: tuple = ()
    awaiters: tuple = ()
    awaiting: tuple = ()
    listeners: tuple = ()


@dataclass(frozen=True)
class GarbageReply(_AdminReply):
    """
    What one L{CollectGarbage} deleted (or, dry, would delete).

    @ivar promises: the ids of the promises, in the order examined.
    @ivar tasks: how many tasks went with them (2026 and v0.5).
    @ivar callbacks: how many callbacks (as awaited and as awaiter).
    @ivar listeners: how many listeners.
    @ivar cursor: the C{(completedOn, id)} of the last candidate examined
        when C{limit} were (pass it as the next request's C{after}), or
        L{None} when no candidate is left after these.
    """

    promises: tuple = ()
    tasks: int = 0
    callbacks: int = 0
    listeners: int = 0
    cursor: tuple = None


@dataclass(frozen=True)
class GarbageCount:
    """
    What several L{CollectGarbage} batches deleted (or would), counted.
    """

    promises: int = 0
    tasks: int = 0
    callbacks: int = 0
    listeners: int = 0

    def plus(self, reply):
        """
        This count and what the L{GarbageReply} C{reply} deleted.
        """
        return GarbageCount(
            self.promises + len(reply.promises),
            self.tasks + reply.tasks,
            self.callbacks + reply.callbacks,
            self.listeners + reply.listeners,
        )


#: The requests that only read: a store may answer them on a reader.  (A
#: L{PromiseRelations} of an overdue promise writes its timeout, as a
#: C{task.get} does.)
ADMIN_READ_REQUESTS = (ListLocks, ListTasks05, PromiseRelations)


def readsOnly(request):
    """
    Whether C{request} (of this module) only reads: the reads, and a dry
    L{CollectGarbage}.
    """
    return isinstance(request, ADMIN_READ_REQUESTS) or (
        isinstance(request, CollectGarbage) and request.dryRun
    )
