# -*- test-case-name: tests.unit.test_cli_invoke -*-
"""
C{resonate invoke}: start a workflow the way today's SDKs start one with
C{Resonate.rpc} (L{resonate.model.invocation} encodes it), so that any
worker of the target runs it.
"""

import argparse
import json

from resonate.cli import render
from resonate.cli.arguments import UsageError, parseDuration, parseKeyValue
from resonate.model.ids import ORIGIN_SEPARATOR
from resonate.model.invocation import (
    DEFAULT_GROUP,
    DEFAULT_VERSION,
    invocationRequest,
)


def parseArgument(text):
    """
    One C{--arg}: JSON (C{3}, C{"text"}, C{[1, 2]}, C{{"a": 1}}), or, when
    it is not JSON, the text itself as a string, so that C{--arg hello}
    passes C{"hello"} (as upstream's C{resonate invoke} does).
    """
    try:
        return json.loads(text)
    except ValueError:
        return text


def parseKeywordArgument(text):
    """
    One C{--kwarg NAME=VALUE}; the value as L{parseArgument} reads it.

    @return: C{(name, value)}.
    @raise argparse.ArgumentTypeError: there is no C{=} or no name.
    """
    name, value = parseKeyValue(text)
    return name, parseArgument(value)


def parseRootId(text):
    """
    A workflow's id: not empty, and without C{:}, which separates the
    origin of the ids the SDK makes below it.

    @raise argparse.ArgumentTypeError: it is not one.
    """
    if not text or ORIGIN_SEPARATOR in text or "\0" in text:
        raise argparse.ArgumentTypeError(
            f"invalid workflow id {text!r} (not empty, no ':')"
        )
    return text


def invoke(args, client, out):
    """
    C{promise.create} of the invocation; prints the promise.
    """
    if args.delay is not None and args.delay >= args.timeout:
        raise UsageError("--delay must be shorter than --timeout")
    data = invocationRequest(
        args.id, args.func, args.now(), args.timeout, target=args.target,
        args=args.arg or (), kwargs=dict(args.kwarg or ()),
        version=args.funcVersion, delay=args.delay,
    )
    promise = client.envelope("promise.create", data)["promise"]
    if args.output == "json":
        out.write(render.formatJSON(promise) + "\n")
        return
    target = promise.get("tags", {}).get("resonate:target", "")
    text = f"Invoked {args.func} as {promise.get('id')} on {target}"
    # The first create of an id wins; a later one gets the stored promise.
    if promise.get("param") != data["param"]:
        text = (f"Not invoked: {promise.get('id')} exists already, with "
                f"another function or arguments")
    out.write(f"{text} ({promise.get('state')})\n")


def addInvokeCommand(commands, addOutput):
    """
    Add C{resonate invoke} to C{commands} (a L{resonate.cli.main._Commands}).
    """
    parser = commands.add(
        "invoke", invoke,
        "start a function on a worker, as an SDK's rpc does",
    )
    parser.add_argument("id", type=parseRootId, help="the workflow's id")
    parser.add_argument("--func", required=True,
                        help="the name the function is registered under")
    parser.add_argument(
        "-a", "--arg", type=parseArgument, action="append", metavar="JSON",
        help="an argument, JSON or else a string (repeatable, in order)",
    )
    parser.add_argument(
        "--kwarg", type=parseKeywordArgument, action="append",
        metavar="NAME=JSON", help="a keyword argument (repeatable)",
    )
    parser.add_argument(
        "--target", default=DEFAULT_GROUP,
        help="the group whose workers run it, or an address "
             f"(default: {DEFAULT_GROUP}, i.e. poll://any@{DEFAULT_GROUP})",
    )
    parser.add_argument(
        "--timeout", type=parseDuration, default=parseDuration("1d"),
        metavar="DURATION", help="how long until it times out (default: 1d)",
    )
    parser.add_argument(
        "--delay", type=parseDuration, metavar="DURATION",
        help="wait this long before dispatching it, e.g. 30s",
    )
    parser.add_argument(
        "--func-version", "--version", dest="funcVersion", type=int,
        metavar="N",
        default=DEFAULT_VERSION,
        help=f"the function's registered version (default: {DEFAULT_VERSION})",
    )
    addOutput(parser)
