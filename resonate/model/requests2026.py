# -*- test-case-name: tests.unit.test_store_memory -*-
"""
The requests of the 2026 protocol's C{POST /} (protocol-2026.md section 7)
as plain values, and the L{Reply} a store answers them with.

The protocol adapter (L{resonate.api.protocol2026}) reads a request's
C{data} into one of these (its wire checks done), hands it to the store's
C{handle2026} with one C{now}, and renders the L{Reply}.  The store runs
L{resonate.store.scripts2026.handle} over it, in one transaction.

Requests that a 2026 operation shares with v0.5 use v0.5's values:
C{promise.create} is a L{resonate.model.promise.CreatePromise} (no
idempotency key, not strict) and C{schedule.create} a
L{resonate.model.schedule.CreateSchedule}; the task requests
(L{AcquireTask}, L{FulfillTask}, L{SuspendTask}, L{HeartbeatTasks},
L{CreateTask}) are in L{resonate.model.tasks2026}.
"""

from dataclasses import dataclass, field
from http import HTTPStatus

from resonate.model.promise import State, Value

#: The default and largest page of C{promise.search} and C{task.search}.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

#: The default page of C{schedule.search} (section 7.19).
DEFAULT_SCHEDULE_LIMIT = 10


@dataclass(frozen=True)
class GetPromise:
    """
    C{promise.get}.
    """

    id: str


@dataclass(frozen=True)
class SettlePromise:
    """
    C{promise.settle}: C{state} is one of
    L{resonate.model.promise.COMPLETION_STATES}.
    """

    id: str
    state: State
    value: Value = field(default_factory=Value)


@dataclass(frozen=True)
class RegisterCallback:
    """
    C{promise.register_callback}: wake the task of C{awaiter} when
    C{awaited} settles.
    """

    awaited: str
    awaiter: str


@dataclass(frozen=True)
class RegisterListener:
    """
    C{promise.register_listener}: one C{unblock} to C{address} when
    C{awaited} settles.
    """

    awaited: str
    address: str


@dataclass(frozen=True)
class SearchPromises:
    """
    C{promise.search}: promises whose state (as of now) is C{state} (any
    when L{None}) and whose tags include C{tags}, by id, after the id
    C{cursor}.
    """

    state: State = None
    tags: dict = field(default_factory=dict)
    limit: int = DEFAULT_LIMIT
    cursor: str = None


@dataclass(frozen=True)
class GetTask:
    """
    C{task.get}.
    """

    id: str


@dataclass(frozen=True)
class ReleaseTask:
    """
    C{task.release}.
    """

    id: str
    version: int


@dataclass(frozen=True)
class FenceTask:
    """
    C{task.fence}: run C{action} (a
    L{resonate.model.promise.CreatePromise} or a L{SettlePromise}) if the
    task is held at C{version}.
    """

    id: str
    version: int
    action: object


@dataclass(frozen=True)
class HaltTask:
    """
    C{task.halt}.
    """

    id: str


@dataclass(frozen=True)
class ContinueTask:
    """
    C{task.continue}.
    """

    id: str


@dataclass(frozen=True)
class SearchTasks:
    """
    C{task.search}: tasks in C{state} (any when L{None}), by id, after the
    id C{cursor}.
    """

    state: object = None
    limit: int = DEFAULT_LIMIT
    cursor: str = None


@dataclass(frozen=True)
class GetSchedule:
    """
    C{schedule.get}.
    """

    id: str


@dataclass(frozen=True)
class DeleteSchedule:
    """
    C{schedule.delete}.
    """

    id: str


@dataclass(frozen=True)
class SearchSchedules:
    """
    C{schedule.search}: schedules whose C{promiseTags} include C{tags}, by
    id, after the id C{cursor}.
    """

    tags: dict = field(default_factory=dict)
    limit: int = DEFAULT_SCHEDULE_LIMIT
    cursor: str = None


@dataclass(frozen=True)
class ResetAll:
    """
    C{debug.reset}: delete every row of every table.
    """


@dataclass(frozen=True)
class Snapshot:
    """
    C{debug.snap}: every promise, task, callback, listener and outbox
    message.
    """


@dataclass(frozen=True)
class TaskView:
    """
    A task as answered: the stored task and its C{resumes} (its ready
    callbacks).
    """

    task: object
    resumes: int = 0


@dataclass(frozen=True)
class Reply:
    """
    A store's answer to one 2026 request; the adapter renders the members
    the kind answers with.

    @ivar status: an L{HTTPStatus}: 200, or 300 for the suspend redirect,
        or an error status with C{message}.
    @ivar promise: a L{resonate.model.promise.Promise}, as of now.
    @ivar task: a L{TaskView}.
    @ivar preload: a tuple of promises, or L{None} where the kind answers
        none.
    @ivar promises: a search's page of promises (or L{Snapshot}'s all).
    @ivar tasks: a search's page of L{TaskView}s (or L{Snapshot}'s all).
    @ivar schedule: a L{resonate.model.schedule.Schedule}.
    @ivar schedules: a search's page of schedules.
    @ivar cursor: the id after which the next page starts, or L{None} on
        the last page.
    @ivar action: C{task.fence}'s inner answer, a L{Reply}.
    @ivar callbacks: L{Snapshot}'s callbacks.
    @ivar listeners: L{Snapshot}'s listeners.
    @ivar messages: L{Snapshot}'s outbox entries.
    """

    status: HTTPStatus = HTTPStatus.OK
    message: str = None
    promise: object = None
    task: TaskView = None
    preload: tuple = None
    promises: tuple = None
    tasks: tuple = None
    schedule: object = None
    schedules: tuple = None
    cursor: str = None
    action: object = None
    callbacks: tuple = None
    listeners: tuple = None
    messages: tuple = None

    @property
    def isError(self):
        """
        Whether this answers an error (status 400 or above).
        """
        return self.status >= 400


#: The requests that only read, unless a promise they name has timed out
#: (then they write its timeout and its settlement chain): a store may
#: answer them on a reader, and they add no message to the outbox that the
#: timeout sweep would not.
READ_REQUESTS = (
    GetPromise,
    GetTask,
    SearchPromises,
    SearchTasks,
    GetSchedule,
    SearchSchedules,
    Snapshot,
)
