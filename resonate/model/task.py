# -*- test-case-name: tests.unit.test_model_task -*-
"""
Tasks: promises routed to workers, claimed and completed with a counter.

The v0.5 model (DECISIONS 13): a promise whose id matches a route gets a
task in the same transaction.  The dispatcher offers a task by pushing it
with a new counter; the claim window (C{claimTimeout}) starts then.  A
worker claims with that counter (taking the lock on the promise for its
execution and a lease, C{completeTimeout}) and completes with it; a task
neither claimed nor completed in time is offered again with a new counter.
"""

from dataclasses import dataclass, replace

from resonate.status import Status

#: How long a worker has to claim a task once it has been pushed (ms).
CLAIM_WINDOW = 10_000


@dataclass(frozen=True)
class Task:
    """
    A task as stored.  Its id is its promise's id.  Times are epoch ms.
    """

    id: str
    counter: int
    promiseId: str
    claimTimeout: int
    completeTimeout: int
    promiseTimeout: int
    createdOn: int
    completedOn: int = None
    isCompleted: bool = False


@dataclass(frozen=True)
class ClaimTask:
    """
    A worker's claim of the task it was offered with C{counter}.
    """

    taskId: str
    counter: int
    processId: str
    executionId: str
    expiryInMilliseconds: int


@dataclass(frozen=True)
class CompleteTask:
    """
    A worker's completion of the task it claimed with C{counter}; C{state}
    is the promise's completion state and C{value} its value.
    """

    taskId: str
    counter: int
    executionId: str
    state: object
    value: object


def newTask(promise):
    """
    The task a routed promise gets when it is created: offered at once
    (its claim window is already over), never offered after its promise
    times out.
    """
    return Task(
        id=promise.id,
        counter=0,
        promiseId=promise.id,
        claimTimeout=promise.createdOn,
        completeTimeout=0,
        promiseTimeout=promise.timeout,
        createdOn=promise.createdOn,
    )


def isDispatchable(task, now):
    """
    Whether the dispatcher should offer C{task} (again): not completed,
    neither its claim window nor its lease running, its promise not yet
    due.
    """
    return (
        not task.isCompleted
        and task.claimTimeout < now
        and task.completeTimeout < now
        and task.promiseTimeout > now
    )


def dispatched(task, now, claimWindow=CLAIM_WINDOW):
    """
    The task as offering it leaves it: a new counter, and a claim window
    that starts now (v0.5 started it at creation, so pushes could arrive
    with the window already closed).
    """
    return replace(task, counter=task.counter + 1, claimTimeout=now + claimWindow)


def _check(task, request, now, window):
    """
    The contract's checks, in its order; the first that fails decides.

    @param window: the task's window the request must be inside (the claim
        window for a claim, the lease for a completion).
    @return: L{None} when the request may go on, else the error L{Status}.
    """
    if task is None:
        return Status.TASK_NOT_FOUND
    if task.promiseTimeout < now or window < now:
        return Status.TASK_ALREADY_TIMEDOUT
    if task.counter != request.counter:
        return Status.TASK_INVALID_COUNTER
    if task.isCompleted:
        return Status.TASK_ALREADY_COMPLETED
    return None


def checkClaim(task, request, now):
    """
    Whether a claim may go on to take the promise's lock: inside the claim
    window, with the offered counter, of a task not completed.

    @return: L{None} when it may, else the error L{Status}.
    """
    return _check(task, request, now, task and task.claimTimeout)


def claimed(task, request, now):
    """
    The task once claimed: leased to the claiming execution until
    C{now + expiryInMilliseconds}.
    """
    return replace(task, completeTimeout=now + request.expiryInMilliseconds)


def checkComplete(task, request, now):
    """
    Whether a completion may go on to release the lock and complete the
    promise: inside the lease, with the claimed counter, of a task not
    completed.

    @return: L{None} when it may, else the error L{Status}.
    """
    return _check(task, request, now, task and task.completeTimeout)


def completed(task, now):
    """
    The task once completed.
    """
    return replace(task, isCompleted=True, completedOn=now)
