"""
Tests for L{resonate.api.http.HTTPAPI}'s routing of its busiest requests
without the URL map: it must route exactly as the map does, or decline.
"""

from urllib.parse import unquote_to_bytes

from hypothesis import given, settings, strategies as st
from twisted.trial import unittest
from werkzeug.exceptions import HTTPException

from resonate.api.http import HTTPAPI


class _Request:
    """
    What the hot route reads of a request: as
    C{twisted.web.server.Request.process} makes C{postpath}.
    """

    def __init__(self, method, path):
        self.method = method
        self.path = path
        self.postpath = [unquote_to_bytes(s) for s in path[1:].split(b"/")]


def _mapRoute(api, request):
    """
    How the URL map routes C{request}, as L{AppResource} binds it: the
    endpoint's name and arguments, or the routing error's class.
    """
    path = b"/".join(request.postpath)
    if not path.startswith(b"/"):
        path = b"/" + path
    try:
        adapter = api.app.url_map.bind(
            "x", "", path_info=path.decode("utf-8"),
            default_method=request.method.decode("latin-1"),
        )
        rule, arguments = adapter.match(return_rule=True)
    except (HTTPException, UnicodeDecodeError) as error:
        return type(error)
    return rule.endpoint, arguments


class HotRouteTests(unittest.TestCase):
    """
    L{HTTPAPI._hotRoute}.
    """

    def setUp(self):
        self.api = HTTPAPI(operations=None)

    def check(self, method, path):
        request = _Request(method, path)
        found = self.api._hotRoute(request)
        if found is None:
            return None
        endpoint, arguments = found
        self.assertEqual(
            (endpoint.__name__, arguments), _mapRoute(self.api, request)
        )
        self.assertEqual(endpoint.__self__, self.api)
        return endpoint.__name__

    def test_hot(self):
        """
        Creates, reads and completions are routed as the map routes them,
        the id being the rest of the decoded path, and so is the 2026
        protocol's C{POST /}.
        """
        self.assertEqual(self.check(b"POST", b"/promises"), "createPromise")
        self.assertEqual(self.check(b"POST", b"/"), "rpc")
        for path in [
            b"/promises/a", b"/promises//a", b"/promises/a//b",
            b"/promises/a/", b"/promises/a%2Fb", b"/promises/a%0Ab",
            b"/promises/%C3%A9", b"/promises/..", b"/promises///",
        ]:
            self.assertEqual(self.check(b"GET", path), "readPromise")
            self.assertEqual(self.check(b"PATCH", path), "completePromise")

    def test_declined(self):
        """
        Anything else is left to the map: other paths and methods, an empty
        id, an id that is not UTF-8.
        """
        for method, path in [
            (b"GET", b"/promises"), (b"HEAD", b"/promises/a"),
            (b"POST", b"/promises/a"), (b"DELETE", b"/promises/a"),
            (b"GET", b"/promises/"), (b"GET", b"/promises/%FF"),
            (b"POST", b"//promises"), (b"POST", b"/schedules"),
            (b"GET", b"/"), (b"PUT", b"/"), (b"POST", b"//"),
        ]:
            self.assertIsNone(self.check(method, path), (method, path))

    @settings(max_examples=300, derandomize=True)
    @given(
        st.sampled_from([b"GET", b"PATCH", b"POST", b"PUT", b"HEAD"]),
        st.lists(
            st.sampled_from(
                [b"promises", b"", b"a", b"%2F", b"%0A", b"%FF", b"%C3%A9",
                 b"..", b"schedules", b" "]
            ),
            max_size=5,
        ),
    )
    def test_likeTheMap(self, method, segments):
        """
        Whatever the path, a request the hot route takes goes where the map
        sends it.
        """
        self.check(method, b"/" + b"/".join(segments))
