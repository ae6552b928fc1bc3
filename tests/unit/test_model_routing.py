# -*- test-case-name: tests.unit.test_model_routing -*-
"""
Tests for L{resonate.model.routing}.
"""

from twisted.trial import unittest

from resonate.model.routing import (
    InvalidPattern,
    Route,
    checkPattern,
    matchPattern,
    matchRoute,
    renderQueue,
)


class MatchPatternTests(unittest.SynchronousTestCase):
    """
    Tests for L{matchPattern}.
    """

    def test_table(self):
        """
        Literal, named and rest segments match as chi's do; the id gets a
        leading slash.
        """
        cases = [
            ("/payments/*", "payments/1", {"*": "1"}),
            ("/payments/*", "/payments/1/2", {"*": "1/2"}),
            ("/payments/*", "payments/", {"*": ""}),
            ("/payments/*", "payment/1", None),
            ("/analytics/{name}", "analytics/daily", {"name": "daily"}),
            ("/analytics/{name}", "analytics/daily/x", None),
            ("/analytics/{name}", "analytics/", None),
            ("/gpu/{kind}/*", "gpu/a100/job/7", {"kind": "a100", "*": "job/7"}),
            ("/exact", "exact", {}),
            ("/exact", "exact/more", None),
            ("/*", "anything/at/all", {"*": "anything/at/all"}),
            ("/*", "http://host/path", None),
        ]
        for pattern, promiseId, expected in cases:
            matched = matchPattern(pattern, promiseId)
            params = None if matched is None else matched[1]
            self.assertEqual(params, expected, (pattern, promiseId))

    def test_invalidPatterns(self):
        """
        Patterns without a leading slash, with C{*} before the end, or with
        a malformed parameter are refused.
        """
        for bad in ["payments/*", "/a/*/b", "/a*", "/{1x}", "/{name"]:
            self.assertRaises(InvalidPattern, checkPattern, bad)


class MatchRouteTests(unittest.SynchronousTestCase):
    """
    Tests for L{matchRoute}.
    """

    routes = [
        Route("all", "/*", "workers", "default"),
        Route("named", "/jobs/{kind}", "workers", "{{.kind}}"),
        Route("static", "/jobs/special", "special", "special"),
        Route("rest", "/jobs/*", "workers", "jobs"),
    ]

    def test_mostSpecificWins(self):
        """
        A literal segment beats a parameter, which beats C{*}.
        """
        self.assertEqual(matchRoute(self.routes, "jobs/special")[0].name, "static")
        self.assertEqual(matchRoute(self.routes, "jobs/other")[0].name, "named")
        self.assertEqual(matchRoute(self.routes, "jobs/a/b")[0].name, "rest")
        self.assertEqual(matchRoute(self.routes, "elsewhere")[0].name, "all")

    def test_noMatch(self):
        """
        An id no route matches has no route.
        """
        self.assertIsNone(matchRoute(self.routes[1:], "elsewhere"))
        self.assertIsNone(matchRoute([], "x"))


class RenderQueueTests(unittest.SynchronousTestCase):
    """
    Tests for L{renderQueue}.
    """

    def test_render(self):
        """
        Bound names are substituted; unbound ones render empty.
        """
        self.assertEqual(renderQueue("{{.kind}}", {"kind": "gpu"}), "gpu")
        self.assertEqual(renderQueue("q-{{ .kind }}-{{.x}}", {"kind": "a"}), "q-a-")
        self.assertEqual(renderQueue("static", {}), "static")
