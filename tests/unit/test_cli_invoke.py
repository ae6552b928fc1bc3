"""
Tests for L{resonate.cli.invoke} and L{resonate.model.invocation}: what
C{resonate invoke} and the console's invoke form send.
"""

import argparse
import base64
import json

from twisted.trial.unittest import SynchronousTestCase

from resonate.cli.invoke import (
    parseArgument,
    parseKeywordArgument,
    parseRootId,
)
from resonate.model.invocation import (
    invocationParam,
    invocationRequest,
    targetAddress,
)


def decoded(param):
    return json.loads(base64.b64decode(param["data"], validate=True))


class ParamTests(SynchronousTestCase):
    """
    L{invocationParam} encodes an invocation as the SDKs do: base64 of the
    JSON of C{args}, C{kwargs}, C{func} and C{version}.
    """

    def test_encoding(self):
        """
        The param's only member is C{data}, base64 of compact JSON whose
        keys are the SDK's C{TaskData} fields.
        """
        param = invocationParam("greet", ["world", 3], {"loud": True}, 2)
        self.assertEqual(list(param), ["data"])
        self.assertEqual(
            base64.b64decode(param["data"]),
            b'{"args":["world",3],"kwargs":{"loud":true},"func":"greet",'
            b'"version":2}',
        )

    def test_defaults(self):
        """
        No arguments are an empty list and an empty map; the version is 1,
        the SDKs' default registration.
        """
        self.assertEqual(
            decoded(invocationParam("f")),
            {"args": [], "kwargs": {}, "func": "f", "version": 1},
        )

    def test_unicode(self):
        """
        Text that is not ASCII is UTF-8 in the JSON, as the SDKs write it.
        """
        self.assertEqual(decoded(invocationParam("f", ["é☃"]))["args"], ["é☃"])


class RequestTests(SynchronousTestCase):
    """
    L{invocationRequest} is a C{promise.create}'s data for a root
    invocation.
    """

    def test_request(self):
        """
        The timeout is absolute; the tags make the id its own origin,
        branch and parent, a global invocation, and a task for the target.
        """
        data = invocationRequest("wf", "greet", now=1000, timeout=60_000,
                                 target="workers", args=["x"])
        self.assertEqual(data["id"], "wf")
        self.assertEqual(data["timeoutAt"], 61_000)
        self.assertEqual(decoded(data["param"])["args"], ["x"])
        self.assertEqual(data["tags"], {
            "resonate:origin": "wf",
            "resonate:branch": "wf",
            "resonate:parent": "wf",
            "resonate:scope": "global",
            "resonate:target": "poll://any@workers",
        })

    def test_delay(self):
        """
        A delay is C{resonate:delay}, the absolute time of the first
        dispatch as a decimal string.
        """
        data = invocationRequest("wf", "f", now=1000, timeout=60_000,
                                 delay=30_000)
        self.assertEqual(data["tags"]["resonate:delay"], "31000")
        self.assertEqual(data["tags"]["resonate:target"], "poll://any@default")


class ArgumentTests(SynchronousTestCase):
    """
    The values C{resonate invoke} takes.
    """

    def test_argument(self):
        """
        An argument is JSON when it parses as JSON, else the text.
        """
        cases = {
            "3": 3, "1.5": 1.5, '"3"': "3", "true": True, "null": None,
            "[1, 2]": [1, 2], '{"a": 1}': {"a": 1}, "hello": "hello",
            "": "", "{oops": "{oops",
        }
        self.assertEqual({text: parseArgument(text) for text in cases}, cases)

    def test_keywordArgument(self):
        """
        A keyword argument is C{NAME=JSON}; no name or no C{=} is an error.
        """
        self.assertEqual(parseKeywordArgument("n=3"), ("n", 3))
        self.assertEqual(parseKeywordArgument("s=a=b"), ("s", "a=b"))
        for text in ["n", "=3", ""]:
            self.assertRaises(argparse.ArgumentTypeError,
                              parseKeywordArgument, text)

    def test_rootId(self):
        """
        A workflow id is not empty and has no C{:} (nor NUL); C{.} and C{/}
        are fine.
        """
        for text in ["wf", "my.app.wf", "a/b", "wf-1"]:
            self.assertEqual(parseRootId(text), text)
        for text in ["", "wf:1", ":", "a\0b"]:
            with self.assertRaises(argparse.ArgumentTypeError) as e:
                parseRootId(text)
            self.assertIn(repr(text), str(e.exception))

    def test_target(self):
        """
        A group name is its anycast address; an address stays as it is.
        """
        self.assertEqual(targetAddress("workers"), "poll://any@workers")
        for address in ["poll://uni@g/p", "poll://any@g",
                        "http://127.0.0.1:9/work"]:
            self.assertEqual(targetAddress(address), address)
