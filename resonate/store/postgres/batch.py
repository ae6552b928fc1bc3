# -*- test-case-name: tests.integration.test_store_postgres -*-
"""
Several requests in one PostgreSQL transaction: L{together} drives the
shared scripts of L{resonate.store.scripts} and
L{resonate.store.scripts2026} of many requests step by step, and sends the
row operations they ask for at the same step as one statement where
L{PostgresRows <resonate.store.postgres.rows.PostgresRows>} has a form for
many (reads by C{= ANY}, updates in C{WITH} clauses), so that a batch of
requests costs about the round trips of one.

The scripts stay the only place the rules are carried out: L{together}
only chooses how their row operations travel.  It keeps the answers those
of one transaction per request by running only requests that touch
different rows: every row operation names the ids it reads and writes
(L{footprint}), and when one request would write what another of the
batch has read or written, or read what another has written, the batch
stops with L{BatchConflict} before that statement is sent, and the store
rolls it back and runs each request on its own.  What one request reads is
then never changed by another of its batch, so the batch commits what the
requests, one after another in any order, would have.
"""

from resonate.model.tasks2026 import BRANCH_TAG, Execute
from resonate.store.scripts import RowOp


class BatchConflict(Exception):
    """
    The requests of a batch would touch one row, or one of them did
    something a batch cannot (a row operation of unknown reach, a failure
    after it wrote): the batch's transaction is rolled back and each
    request runs on its own.
    """


#: Keys standing for rows a row operation reaches by the other end of a
#: callback: C{readyCallbacks} changes the callbacks that the awaiters'
#: C{callbacksOfAwaiter} read, the deletions by awaiter the callbacks that
#: C{callbacksOf} reads.
_CALLBACKS_BY_AWAITER = ("callbacks by awaiter",)
_CALLBACKS_ON_AWAITED = ("callbacks on awaited",)


def _id(value):
    # A 2026 task's id is its promise's: one key for both rows, and for
    # the callbacks, listeners and outbox entries of that id.
    return ("id", value)


def _promiseWrites(promise):
    """
    The keys a write of C{promise} changes: its id, and its branch, which
    C{branchPromises} reads (tags never change).
    """
    keys = {_id(promise.id)}
    branch = promise.tags.get(BRANCH_TAG)
    if branch is not None:
        keys.add(("branch", branch))
    return keys


def footprint(op):
    """
    The keys of the rows C{op} reads and writes.

    @param op: a L{RowOp}.
    @return: C{(reads, writes)}, two sets of keys, or L{None} for an
        operation whose reach is not known here (a search, a sweep): a
        batch cannot run it beside another request.
    """
    method, args = op.method, op.args
    if method in ("readPromise", "readTask2026", "listenersOf"):
        return {_id(args[0])}, set()
    if method in ("insertPromise", "updatePromise"):
        return set(), _promiseWrites(args[0])
    if method == "insertTask2026":
        return set(), {_id(args[0].id)}
    if method == "updateTask2026":
        return set(), {_id(args[0].id), _id(args[1].id)}
    if method == "callbacksOf":
        return {_id(args[0]), _CALLBACKS_ON_AWAITED}, set()
    if method == "callbacksOfAwaiter":
        return {_id(args[0]), _CALLBACKS_BY_AWAITER}, set()
    if method == "insertCallback":
        callback = args[0]
        return set(), {_id(callback.awaited), _id(callback.awaiter)}
    if method == "readyCallbacks":
        return set(), {_id(args[0]), _CALLBACKS_BY_AWAITER}
    if method in ("deleteReadyCallbacks", "deleteCallbacks"):
        return set(), {_id(args[0]), _CALLBACKS_ON_AWAITED}
    if method == "insertListener":
        return set(), {_id(args[0].promiseId)}
    if method == "deleteListeners":
        return set(), {_id(args[0])}
    if method == "insertOutbox":
        message = args[0]
        if isinstance(message, Execute):
            return set(), {_id(message.taskId)}
        return set(), {_id(message.promiseId)}
    if method == "branchPromises":
        return {("branch", args[0])}, set()
    return None


#: The row operations sent as one statement for many requests: the method
#: of many, and how each request's answer is found in its result.
_GROUPED = {
    "readPromise": ("readPromises", lambda ops: ({op.args[0] for op in ops},),
                    lambda result, op: result.get(op.args[0])),
    "readTask2026": ("readTasks2026", lambda ops: ({op.args[0] for op in ops},),
                     lambda result, op: result.get(op.args[0])),
    "callbacksOf": ("callbacksOfEach", lambda ops: ({op.args[0] for op in ops},),
                    lambda result, op: result[op.args[0]]),
    "listenersOf": ("listenersOfEach", lambda ops: ({op.args[0] for op in ops},),
                    lambda result, op: result[op.args[0]]),
    "updatePromise": ("updatePromises", lambda ops: ([op.args[0] for op in ops],),
                      lambda result, op: op.args[0].id in result),
}


class _Member:
    """
    One request of a batch: its script, the operation it waits on, and
    the keys it has read and written.
    """

    def __init__(self, index, script):
        self.index = index
        self.script = script
        self.op = None
        self.done = False
        self.wrote = False
        self.result = None

    def advance(self, value):
        """
        Give the script C{value}, the answer of its last operation; note
        its next operation, or its end.
        """
        try:
            self.op = self.script.send(value)
        except StopIteration as stop:
            self.done, self.op, self.result = True, None, (True, stop.value)
        except Exception as e:
            if self.wrote:
                # Its writes are in the shared transaction: only rolling
                # the whole batch back undoes them.
                raise BatchConflict(
                    f"a request failed after it wrote: {e!r}"
                ) from e
            # Nothing of it is written: it fails as it would have alone.
            self.done, self.op, self.result = True, None, (False, e)


class _Footprints:
    """
    Which member read and which wrote each key, to find two members of a
    batch touching one row before the statement doing it is sent.
    """

    def __init__(self):
        self._readers = {}
        self._writer = {}

    def add(self, member, op):
        """
        Record that C{member} runs C{op}.

        @raise BatchConflict: another member has written a key C{op}
            reads, or read or written one it writes, or C{op}'s reach is
            unknown.
        """
        keys = footprint(op)
        if keys is None:
            raise BatchConflict(f"{op.method} cannot run beside other requests")
        reads, writes = keys
        index = member.index
        for key in reads:
            if self._writer.get(key, index) != index:
                raise BatchConflict(f"two requests of a batch touch {key!r}")
        for key in writes:
            if self._writer.get(key, index) != index or (
                self._readers.get(key, {index}) - {index}
            ):
                raise BatchConflict(f"two requests of a batch touch {key!r}")
        for key in reads:
            self._readers.setdefault(key, set()).add(index)
        for key in writes:
            self._writer[key] = index
        if writes:
            member.wrote = True


def together(scripts):
    """
    Run several scripts (started generators of row operations) in the one
    transaction the store drives this generator in, step by step: at each
    step every script still running gets the answer of its operation.

    @return: (through the driver) per script, C{(True, result)} or
        C{(False, exception)} for one that failed before writing anything.
    @raise BatchConflict: the scripts would touch one row, or one failed
        after writing: the store rolls the transaction back and runs each
        request on its own.
    """
    members = [_Member(index, script) for index, script in enumerate(scripts)]
    footprints = _Footprints()
    for member in members:
        member.advance(None)
    while True:
        waiting = [member for member in members if not member.done]
        if not waiting:
            return [member.result for member in members]
        for member in waiting:
            footprints.add(member, member.op)
        byMethod = {}
        for member in waiting:
            byMethod.setdefault(member.op.method, []).append(member)
        answers = {}
        for method, group in byMethod.items():
            grouped = _GROUPED.get(method)
            if grouped is None or len(group) == 1:
                for member in group:
                    answers[member.index] = yield member.op
                continue
            many, arguments, pick = grouped
            ops = [member.op for member in group]
            result = yield RowOp(many, arguments(ops))
            for member in group:
                answers[member.index] = pick(result, member.op)
        for member in waiting:
            member.advance(answers[member.index])
