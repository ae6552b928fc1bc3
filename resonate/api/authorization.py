# -*- test-case-name: tests.unit.test_api_authorization -*-
"""
Which ids each v0.5 operation names, and whether a principal may name
them: the one mapping for HTTP and gRPC, applied where both adapters meet
(L{resonate.api.operations.Operations}).

A request is allowed when its principal (L{resonate.api.tokens.Principal})
may name every id it names, in one of three ways:

  - an id, which must start with the principal's prefix
    (L{Principal.allows});
  - a search pattern (C{*} is any text): the ids it can match must all
    start with the prefix, that is its text before the first C{*} does
    (L{Principal.allowsPattern}); a search that could leave the prefix is
    refused, not narrowed;
  - a schedule's C{promiseId} template: the ids it makes must all start
    with the prefix, that is its text before the first C{{{} does (what
    follows may render to anything).

What each operation names:

  - promises (create, read, complete): the promise id;
  - promise and schedule searches: the id pattern (a cursor carries its
    query, pattern included);
  - schedules (read, delete): the schedule id; create: the schedule id
    and its C{promiseId} template;
  - locks: acquire names the resource and the process holding it,
    release the resource, heartbeat the process (it extends every lock of
    that process), so a process id is within the prefix like any id;
  - tasks (claim, complete): the task id, which in v0.5 is its promise's
    id; a claim also names the process that takes the promise's lock;
  - garbage collection (C{POST /gc}) names every id: only a principal
    that may name every id (admin, or prefix C{""}) may run it.

Outside: L{Status.FORBIDDEN} (403, gRPC PERMISSION_DENIED).
"""

from resonate.errors import ResonateError
from resonate.status import Status

#: Where the literal text of a schedule's C{promiseId} template ends.
TEMPLATE_ACTION = "{{"


def _promise(promiseId):
    return [("id", promiseId)], [], []


def _byId(request):
    return [("id", request.id)], [], []


def _search(query):
    return [], [("id", query.id)], []


def _schedule(request):
    return [("id", request.id)], [], [("promiseId", request.promiseId)]


def _acquireLock(request):
    return [("resourceId", request.resourceId), ("processId", request.processId)], [], []


def _releaseLock(request):
    return [("resourceId", request.resourceId)], [], []


def _heartbeatLocks(processId):
    return [("processId", processId)], [], []


def _claimTask(request):
    return [("taskId", request.taskId), ("processId", request.processId)], [], []


def _completeTask(request):
    return [("taskId", request.taskId)], [], []


#: Operation name (as L{Operations} admits it) to what its argument names:
#: C{(ids, patterns, templates)}, each a list of C{(field, value)}.
NAMED = {
    "read-promise": _promise,
    "create-promise": _byId,
    "complete-promise": _byId,
    "search-promises": _search,
    "create-schedule": _schedule,
    "read-schedule": _promise,
    "delete-schedule": _promise,
    "search-schedules": _search,
    "acquire-lock": _acquireLock,
    "release-lock": _releaseLock,
    "heartbeat-locks": _heartbeatLocks,
    "claim-task": _claimTask,
    "complete-task": _completeTask,
}

#: Operations only a principal that may name every id may run.
UNRESTRICTED = frozenset({"collect-garbage"})


def templateLiteral(template):
    """
    The text every id a C{promiseId} template makes starts with: what comes
    before its first action (C{{{}).
    """
    return template.split(TEMPLATE_ACTION, 1)[0]


def refusals(principal, operation, argument):
    """
    What C{principal} may not name in the operation C{operation} (an
    operation name of L{Operations}) called with C{argument}.

    @return: a list of C{(field, problem)}, empty when it is allowed.
    @raise KeyError: C{operation} is not a v0.5 operation this module
        knows (a new operation must be added to L{NAMED}).
    """
    if principal.unrestricted:
        return []
    if operation in UNRESTRICTED:
        return [("token", "may not name every id")]
    ids, patterns, templates = NAMED[operation](argument)
    problems = []
    for field, value in ids:
        if not principal.allows(value):
            problems.append((field, "is outside the token's prefix"))
    for field, value in patterns:
        if not principal.allowsPattern(value):
            problems.append((field, "may match ids outside the token's prefix"))
    for field, value in templates:
        if not principal.allows(templateLiteral(value)):
            problems.append((field, "may make ids outside the token's prefix"))
    return problems


def authorize(principal, operation, argument):
    """
    Refuse the operation if C{principal} may not name what it names.

    @raise ResonateError: L{Status.FORBIDDEN}, with one detail per field
        outside the principal's ids.
    """
    problems = refusals(principal, operation, argument)
    if problems:
        raise ResonateError(Status.FORBIDDEN, details=problems)
