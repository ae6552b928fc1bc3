"""
Tests for L{resonate.model.tree}: the call tree of a workflow.
"""

from twisted.trial.unittest import SynchronousTestCase

from resonate.model.promise import Promise, State
from resonate.model.tree import TreeSearch, buildTree, treeSearches


def _promise(promiseId, createdOn=0, state=State.PENDING, completedOn=None, **tags):
    return Promise(
        id=promiseId,
        state=state,
        timeout=10**12,
        createdOn=createdOn,
        completedOn=completedOn,
        tags={key.replace("_", ":"): value for key, value in tags.items()},
    )


def _shape(node):
    """
    A tree as nested (id, [children]) tuples, for comparisons.
    """
    return (node.promise.id, [_shape(child) for child in node.children])


class TreeSearchesTests(SynchronousTestCase):
    """
    L{treeSearches} finds members by id prefix: 2026 member ids start
    with their origin, v0.5 ones extend their parent's.
    """

    def test_searches(self):
        self.assertEqual(treeSearches("wf"), (TreeSearch(idPattern="wf*", tags={}),))


class BuildTreeTests(SynchronousTestCase):
    """
    L{buildTree} hangs each member under its parent.
    """

    def test_missingRoot(self):
        """
        Without the root there is no tree.
        """
        self.assertIsNone(buildTree("wf", [_promise("wf.1")], now=5))

    def test_parentTags(self):
        """
        2026 promises hang under their C{resonate:parent}, children oldest
        first; a promise of another workflow is left out.
        """
        promises = [
            _promise("wf", 0, resonate_origin="wf"),
            _promise("wf:b", 2, resonate_origin="wf", resonate_parent="wf"),
            _promise("wf:a", 1, resonate_origin="wf", resonate_parent="wf"),
            _promise("wf:a.1", 3, resonate_origin="wf", resonate_parent="wf:a"),
            _promise("other", 1, resonate_origin="other", resonate_parent="wf"),
        ]
        tree = buildTree("wf", promises, now=10)
        self.assertEqual(
            _shape(tree),
            ("wf", [("wf:a", [("wf:a.1", [])]), ("wf:b", [])]),
        )

    def test_idPrefixes(self):
        """
        Untagged (v0.5) promises hang under the longest member their id
        extends by a separator; an id that only starts with the root's is
        not a member.
        """
        promises = [
            _promise("wf", 0),
            _promise("wf.1", 1),
            _promise("wf.1.2", 2),
            _promise("wf.1.2.3", 3),
            _promise("wf.2", 4),
            _promise("wfx", 5),
            _promise("wf.", 6),
        ]
        self.assertEqual(
            _shape(buildTree("wf", promises + promises, now=10)),
            ("wf", [("wf.1", [("wf.1.2", [("wf.1.2.3", [])])]), ("wf.2", [])]),
        )

    def test_unknownParent(self):
        """
        A member whose parent was not found hangs under the root.
        """
        promises = [
            _promise("wf"),
            _promise("wf:x.y", 1, resonate_origin="wf", resonate_parent="wf:x"),
        ]
        self.assertEqual(_shape(buildTree("wf", promises, 3)), ("wf", [("wf:x.y", [])]))

    def test_cycle(self):
        """
        Parent tags that form a cycle away from the root still show every
        member, once.
        """
        promises = [
            _promise("wf"),
            _promise("a", 1, resonate_origin="wf", resonate_parent="b"),
            _promise("b", 2, resonate_origin="wf", resonate_parent="a"),
        ]
        tree = buildTree("wf", promises, 3)
        ids = [node.promise.id for _, node in tree.walk()]
        self.assertEqual(sorted(ids), ["a", "b", "wf"])

    def test_durations(self):
        """
        A settled promise lasted until it settled, a pending one until now.
        """
        promises = [
            _promise("wf", 100),
            _promise("wf.1", 150, state=State.RESOLVED, completedOn=175),
        ]
        tree = buildTree("wf", promises, now=400)
        self.assertEqual(tree.duration, 300)
        self.assertEqual(tree.children[0].duration, 25)

    def test_walkAndJSON(self):
        """
        C{walk} gives depths, parents first; C{toJSON} nests the children.
        """
        tree = buildTree("wf", [_promise("wf"), _promise("wf.1", 1)], now=2)
        self.assertEqual([(d, n.promise.id) for d, n in tree.walk()], [(0, "wf"), (1, "wf.1")])
        self.assertEqual(
            tree.toJSON(),
            {
                "id": "wf",
                "state": "PENDING",
                "createdOn": 0,
                "completedOn": None,
                "duration": 2,
                "children": [
                    {
                        "id": "wf.1",
                        "state": "PENDING",
                        "createdOn": 1,
                        "completedOn": None,
                        "duration": 1,
                        "children": [],
                    }
                ],
            },
        )
