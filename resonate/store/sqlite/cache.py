# -*- test-case-name: tests.integration.test_store_sqlite -*-
"""
The promise cache of the SQLite store: the latest committed version of
recently written or read promises, on the reactor thread.
"""

from resonate.model.promise import Promise, State, Value


#: A state's value to the state, without an Enum call per cached read.
_STATES = {state.value: state for state in State}


def _frozen(promise):
    """
    C{promise} as one tuple of strings, numbers, bytes and tuples of
    string pairs, which the garbage collector stops tracking after its
    first look at them: ten thousand cached promises would otherwise be
    visited by every full collection (with a dict inside, even one the
    collector does not track, a tuple stays tracked for ever).
    """
    param, value = promise.param, promise.value
    return (
        promise.id, promise.state.value, promise.timeout, promise.createdOn,
        tuple(param.headers.items()), param.data,
        tuple(value.headers.items()), value.data,
        promise.idempotencyKeyForCreate, promise.idempotencyKeyForComplete,
        promise.completedOn, tuple(promise.tags.items()),
    )


def _thawed(entry):
    """
    The promise L{_frozen} kept, with dicts of its own (whoever it is
    handed to may change them).  Positional, not keywords: this is on
    every cached read.
    """
    (
        promiseId, state, timeout, createdOn, paramHeaders, paramData,
        valueHeaders, valueData, keyForCreate, keyForComplete, completedOn,
        tags,
    ) = entry
    return Promise(
        promiseId, _STATES[state], timeout, createdOn,
        Value(dict(paramHeaders), paramData), Value(dict(valueHeaders), valueData),
        keyForCreate, keyForComplete, completedOn, dict(tags),
    )


class _PromiseCache:
    """
    The latest committed version of recently written or read promises, on
    the reactor thread, so that a read of one needs neither a reader thread
    nor a turn of the reactor.  It is right only because one process owns
    the database file (L{SQLiteStore
    <resonate.store.sqlite.store.SQLiteStore>} locks it) and every write passes
    through its writer, which hands over what it wrote once committed.

    Least recently used first out: a promise written or read moves to the
    back.
    """

    def __init__(self, size):
        """
        @param size: the most promises kept; 0 keeps none.
        """
        self._size = size
        self._promises = {}
        #: Goes up with every committed batch that wrote a promise; a read
        #: begun under an older generation may have seen an older row.
        self.generation = 0

    def get(self, promiseId):
        """
        A copy of the cached promise with this id, or L{None}.
        """
        promises = self._promises
        entry = promises.pop(promiseId, None)
        if entry is None:
            return None
        promises[promiseId] = entry
        return _thawed(entry)

    def put(self, promise):
        """
        Keep a copy of C{promise}, the latest committed version of its id.
        """
        if not self._size:
            return
        promises = self._promises
        promises.pop(promise.id, None)
        promises[promise.id] = _frozen(promise)
        if len(promises) > self._size:
            del promises[next(iter(promises))]

    def committed(self, written):
        """
        A batch that wrote C{written} (promises, in order) was committed.
        """
        if written:
            self.generation += 1
            for promise in written:
                self.put(promise)

    def forget(self, promiseIds):
        """
        Forget the promises C{promiseIds}: their rows were deleted
        (retention).  A read begun before this may have seen them, so the
        generation moves on too.
        """
        if promiseIds:
            for promiseId in promiseIds:
                self._promises.pop(promiseId, None)
            self.generation += 1

    def clear(self):
        """
        Forget every promise: the rows were deleted (C{debug.reset}).  A
        read begun before this may have seen them, so the generation moves
        on too.
        """
        self._promises.clear()
        self.generation += 1
