# -*- test-case-name: tests.unit.test_model_tree -*-
"""
The call tree of a workflow: a root promise and the promises it made,
for the console's workflow page and C{resonate tree}.

A 2026 SDK tags every promise of a workflow with its root
(C{resonate:origin}) and its caller (C{resonate:parent}).  The 2024 SDK
(v0.5) tags nothing; its child ids extend their parent's id
(C{wf.1}, C{wf.1.2}).  Either way a member's id starts with the root's,
so the members of a tree are found by id prefix (L{treeSearches}), and
each member hangs under its
C{resonate:parent} when that names another member, else under the
longest member id its own id extends by a separator (L{SEPARATORS}).

Everything here is pure: the callers search (through the store or the
HTTP API) and hand the promises in.
"""

from dataclasses import dataclass

from resonate.model.promise import State

#: What separates a v0.5 child id from its parent's.
SEPARATORS = (".", ":")

#: The tags of the 2026 lineage, as the SDKs write them.
ORIGIN_TAG = "resonate:origin"
PARENT_TAG = "resonate:parent"


@dataclass(frozen=True)
class TreeSearch:
    """
    One search that finds members of a tree: promises whose id matches
    C{idPattern} (C{*} is any text, as in the search APIs) and whose tags
    include every pair of C{tags}.  It may find more than members (an id
    pattern C{wf*} finds C{wfx}); L{buildTree} leaves those out.
    """

    idPattern: str
    tags: dict


@dataclass(frozen=True)
class TreeNode:
    """
    A promise of the tree and the promises it made.

    @ivar promise: the L{resonate.model.promise.Promise}.
    @ivar children: its children's L{TreeNode}s, oldest first.
    @ivar duration: ms from its creation to its settlement, or to C{now}
        while it is pending.
    """

    promise: object
    children: tuple
    duration: int

    def walk(self, depth=0):
        """
        Every node of the tree, depth first, parents before children.

        @return: an iterator of C{(depth, node)}.
        """
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)

    def toJSON(self):
        """
        The tree as JSON-ready nested dicts (C{resonate tree -o json}).
        """
        promise = self.promise
        return {
            "id": promise.id,
            "state": promise.state.value,
            "createdOn": promise.createdOn,
            "completedOn": promise.completedOn,
            "duration": self.duration,
            "children": [child.toJSON() for child in self.children],
        }


def treeSearches(rootId):
    """
    The searches whose results, together, hold every member of the tree of
    C{rootId}: the promises whose ids start with it.  That is every member:
    v0.5 child ids extend their parent's, and the server refuses a 2026
    promise tagged with an origin its id does not start with (protocol
    reference 5).  A pattern that starts with the root's id also stays
    within a JWT prefix that covers the root; one search by the origin tag
    alone (pattern C{*}) is refused to a prefix token.

    @return: a tuple of L{TreeSearch}es.
    """
    # The patterns have no escape for C{*}: a root id holding one finds
    # more than members, which buildTree leaves out.
    return (TreeSearch(idPattern=rootId + "*", tags={}),)


def _extends(childId, parentId):
    """
    Whether C{childId} is C{parentId} followed by a separator and more.
    """
    return (
        len(childId) > len(parentId) + 1
        and childId.startswith(parentId)
        and childId[len(parentId)] in SEPARATORS
    )


def _parentOf(promise, members):
    """
    The id of the member C{promise} hangs under, or L{None} when none.
    """
    parent = promise.tags.get(PARENT_TAG)
    if parent is not None and parent != promise.id and parent in members:
        return parent
    best = None
    for candidate in _prefixes(promise.id):
        if candidate in members:
            best = candidate
    return best


def _prefixes(promiseId):
    """
    Every proper prefix of C{promiseId} that ends just before a separator,
    shortest first.
    """
    for index, character in enumerate(promiseId):
        if character in SEPARATORS and index > 0:
            yield promiseId[:index]


def _duration(promise, now):
    end = promise.completedOn if promise.state is not State.PENDING else now
    if end is None:
        end = now
    return max(0, end - promise.createdOn)


def buildTree(rootId, promises, now):
    """
    The call tree of C{rootId} from the promises some searches found.

    A promise is a member when it is the root, is tagged with the root as
    its origin, or its id extends the root's (L{SEPARATORS}); others are
    left out.  Children are ordered by creation time, then id.  A member
    whose parent is unknown (not found, or deleted by retention) hangs
    under the root, so nothing found is hidden.

    @param promises: L{resonate.model.promise.Promise}s, duplicates
        allowed (the searches overlap).
    @param now: ms since the epoch, for the duration of pending promises.
    @return: the root's L{TreeNode}, or L{None} when the root is not among
        C{promises}.
    """
    members = {}
    for promise in promises:
        if (
            promise.id == rootId
            or promise.tags.get(ORIGIN_TAG) == rootId
            or _extends(promise.id, rootId)
        ):
            members[promise.id] = promise
    if rootId not in members:
        return None
    children = {memberId: [] for memberId in members}
    for memberId, promise in members.items():
        if memberId == rootId:
            continue
        parent = _parentOf(promise, members)
        children[parent if parent is not None else rootId].append(promise.id)
    # Parent tags are the caller's to write and may form a cycle away from
    # the root: whatever the root does not reach hangs under it.
    reached = _reachable(rootId, children)
    for memberId in members:
        if memberId not in reached:
            for kids in children.values():
                if memberId in kids:
                    kids.remove(memberId)
            children[rootId].append(memberId)
            reached |= _reachable(memberId, children)

    def node(memberId):
        kids = sorted(
            (members[kid] for kid in children[memberId]),
            key=lambda p: (p.createdOn, p.id),
        )
        return TreeNode(
            promise=members[memberId],
            children=tuple(node(kid.id) for kid in kids),
            duration=_duration(members[memberId], now),
        )

    return node(rootId)


def _reachable(start, children):
    """
    The ids reachable from C{start} through C{children}, itself included.
    """
    reached, stack = {start}, [start]
    while stack:
        for kid in children[stack.pop()]:
            if kid not in reached:
                reached.add(kid)
                stack.append(kid)
    return reached
