# -*- test-case-name: tests.unit.test_model_ids -*-
"""
Promise ids and their lineage, as the 2026 protocol has them (protocol
§5, DECISIONS 24).

An id is C{<origin>:<lineage>}: the origin is the text before the first
C{:} (the whole id when there is none), and the lineage below it is
C{.}-separated::

    root -> root:1 -> root:1.2 -> root:1.2.3       (root:d<16 hex> detached)

A root id may contain C{.} (C{my.app.wf}) but never C{:}.  The functions
here decide whether ids and the lineage tags of a create agree; each
C{check*} function returns L{None} when all is well, or the message the API
answers with (a 400 whose C{data} is that string), the reference's wording
where it has one.  Nothing here raises for a bad id.

Choices where the reference is open:

  - The post-snapshot rule is the one implemented (origin before the first
    C{:}), not the snapshot's (before the first C{.}).
  - C{resonate:prefix} is not validated (DECISIONS 24).
  - Schedule ids may contain C{.} and C{:} (DECISIONS 24), although the
    upstream server after #1128 refuses C{:}.
  - Heartbeats may span origins (DECISIONS 25), so there is no heartbeat
    rule here.
"""

#: The tag naming a promise's lineage root.
ORIGIN_TAG = "resonate:origin"

#: The tag naming the branch a promise belongs to.
BRANCH_TAG = "resonate:branch"

#: The tag naming a promise's parent.
PARENT_TAG = "resonate:parent"

#: The separator between the origin and the lineage.
ORIGIN_SEPARATOR = ":"

#: The separator between lineage segments below the origin.
LINEAGE_SEPARATOR = "."

PROMISE_ID_REQUIRED = "Promise ID is required"
PROMISE_ID_NUL = "Promise ID must not contain null bytes"
ORIGIN_HAS_COLON = "resonate:origin must not contain ':'"
NOT_UNDER_ORIGIN = "Promise ID must be prefixed by resonate:origin"
NOT_UNDER_BRANCH = "Promise ID must be prefixed by resonate:branch"
NOT_UNDER_PARENT = "Promise ID must be prefixed by resonate:parent"
AWAITED_REQUIRED = "Awaited promise ID is required"
AWAITER_REQUIRED = "Awaiter promise ID is required"
AWAITED_IS_AWAITER = "Awaited and awaiter must be different promises"
CALLBACK_ORIGINS_DIFFER = "Awaiter and awaited must belong to the same origin"
AWAITER_NOT_TASK = "All action awaiter IDs must match the task ID"
AWAITED_IS_TASK = "Action awaited promise must not equal the task ID"
SUSPEND_ORIGINS_DIFFER = "Awaited promise must belong to the same origin as the task"
FULFILL_ID_DIFFERS = "Action ID must match the task ID"
FENCE_ID_IS_TASK = "Action ID must not equal the task ID"
SCHEDULE_ID_REQUIRED = "Schedule ID is required"


def origin(promiseId):
    """
    The origin of C{promiseId}: the text before its first C{:}, or the
    whole id when it has none.

    @param promiseId: a C{str}.
    @return: a C{str}.
    """
    return promiseId.partition(ORIGIN_SEPARATOR)[0]


def sameOrigin(first, second):
    """
    Whether two promise ids belong to the same lineage root.
    """
    return origin(first) == origin(second)


def separatorBelow(ancestorId):
    """
    The separator that joins C{ancestorId} to the next lineage segment
    below it: C{:} below a bare origin, C{.} below an id that already has a
    lineage.
    """
    if ORIGIN_SEPARATOR in ancestorId:
        return LINEAGE_SEPARATOR
    return ORIGIN_SEPARATOR


def childId(parentId, segment):
    """
    The id of the child C{segment} of C{parentId}, as the SDKs number them:
    C{childId("root", "1") == "root:1"}, C{childId("root:1", "2") ==
    "root:1.2"}.

    @param segment: a C{str} without C{:} or C{.}.
    """
    return parentId + separatorBelow(parentId) + segment


def isWithin(promiseId, ancestorId):
    """
    Whether C{promiseId} is C{ancestorId} itself or lies below it in its
    lineage: it equals the ancestor or starts with the ancestor followed by
    L{separatorBelow} it.  C{root:10} is below C{root} but not below
    C{root:1}; C{root:1.2} is below both.

    This is the rule for C{resonate:branch} and C{resonate:parent}; an
    origin is a bare root, so the rule holds for C{resonate:origin} too.
    """
    if promiseId == ancestorId:
        return True
    return promiseId.startswith(ancestorId + separatorBelow(ancestorId))


def checkPromiseId(promiseId):
    """
    The field rule of a promise id in C{promise.get}, C{promise.create} and
    C{promise.settle}: it must not be empty.

    @param promiseId: a C{str}.
    @return: L{None}, or the 400 message.
    """
    if promiseId == "":
        return PROMISE_ID_REQUIRED
    return None


def checkLineage(promiseId, tags):
    """
    The id rules of every promise create (C{promise.create}, the action of
    C{task.create}, a C{task.fence}'s inner create), once
    L{checkPromiseId} has passed.  In order, the first failure wins:

      1. the id contains no NUL;
      2. C{resonate:origin}, when present, contains no C{:} and the id is
         the origin or starts with C{origin + ":"};
      3. C{resonate:branch}, when present, is the id or an ancestor of it
         (L{isWithin});
      4. C{resonate:parent} likewise.

    C{resonate:prefix} is not checked.

    @param promiseId: a non-empty C{str}.
    @param tags: a C{dict} of C{str} to C{str}.
    @return: L{None}, or the 400 message.
    """
    if "\x00" in promiseId:
        return PROMISE_ID_NUL
    rootId = tags.get(ORIGIN_TAG)
    if rootId is not None:
        if ORIGIN_SEPARATOR in rootId:
            return ORIGIN_HAS_COLON
        if not isWithin(promiseId, rootId):
            return NOT_UNDER_ORIGIN
    branch = tags.get(BRANCH_TAG)
    if branch is not None and not isWithin(promiseId, branch):
        return NOT_UNDER_BRANCH
    parent = tags.get(PARENT_TAG)
    if parent is not None and not isWithin(promiseId, parent):
        return NOT_UNDER_PARENT
    return None


def _requireCallbackIds(awaited, awaiter):
    """
    The field rules of a callback: both ids non-empty.  Both problems are
    reported, joined as the API joins field problems.
    """
    problems = []
    if awaited == "":
        problems.append(AWAITED_REQUIRED)
    if awaiter == "":
        problems.append(AWAITER_REQUIRED)
    return "; ".join(problems) or None


def checkCallback(awaited, awaiter):
    """
    The id rules of C{promise.register_callback}: both ids non-empty, two
    different promises, one origin.

    @param awaited: the id of the promise awaited, a C{str}.
    @param awaiter: the id of the promise that awaits it, a C{str}.
    @return: L{None}, or the 400 message.
    """
    problem = _requireCallbackIds(awaited, awaiter)
    if problem is not None:
        return problem
    if awaited == awaiter:
        return AWAITED_IS_AWAITER
    if not sameOrigin(awaited, awaiter):
        return CALLBACK_ORIGINS_DIFFER
    return None


def checkSuspend(taskId, callbacks):
    """
    The id rules of C{task.suspend}, in the reference's two passes:

      1. each action is a callback (L{checkCallback}); the problems of all
         actions are reported together, joined with C{"; "}, a repeat of
         the one before it left out;
      2. only when there are none: for each action, in order, its awaiter
         is the task, its awaited is not the task and shares the task's
         origin; the first failure wins.

    Whether there is at least one action, and the task id's own rule, are
    the caller's.

    @param taskId: a non-empty C{str}.
    @param callbacks: a sequence of C{(awaited, awaiter)} pairs of C{str}.
    @return: L{None}, or the 400 message.
    """
    problems = []
    for awaited, awaiter in callbacks:
        problem = checkCallback(awaited, awaiter)
        if problem is not None and (not problems or problems[-1] != problem):
            problems.append(problem)
    if problems:
        return "; ".join(problems)
    for awaited, awaiter in callbacks:
        if awaiter != taskId:
            return AWAITER_NOT_TASK
        if awaited == taskId:
            return AWAITED_IS_TASK
        if not sameOrigin(awaited, taskId):
            return SUSPEND_ORIGINS_DIFFER
    return None


def checkFulfill(taskId, actionId):
    """
    The id rule of C{task.fulfill}: the settled promise is the task's own.

    @return: L{None}, or the 400 message.
    """
    if actionId != taskId:
        return FULFILL_ID_DIFFERS
    return None


def checkFence(taskId, actionId):
    """
    The id rule of C{task.fence}: the guarded promise is not the task's own.

    @param actionId: the inner action's C{id}, or L{None} when it has no
        string id (the inner parse reports that).
    @return: L{None}, or the 400 message.
    """
    if actionId is not None and actionId == taskId:
        return FENCE_ID_IS_TASK
    return None


def checkScheduleId(scheduleId):
    """
    The rule of a schedule id: it must not be empty.  C{.} and C{:} are
    allowed (DECISIONS 24).  A schedule stamps the promises it fires with
    lineage tags equal to their ids, which L{checkLineage} would refuse for
    an id with C{:}; firing is the server's own create and is not checked.

    @param scheduleId: a C{str}.
    @return: L{None}, or the 400 message.
    """
    if scheduleId == "":
        return SCHEDULE_ID_REQUIRED
    return None
