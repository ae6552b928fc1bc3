# -*- test-case-name: tests.integration.test_dst -*-
"""
C{python -m resonate.testing.dst}: run one simulation, print its log and a
one-line verdict; on failure, the command that reproduces it, and exit 1.
"""

import argparse
import random
import sys

from twisted.internet.defer import ensureDeferred
from twisted.internet.task import react

from resonate.testing.dst.runner import DEFAULT_FAULT_RATE, RunOptions, simulate
from resonate.testing.dst.stores import KINDS, openStore


def _storeOption(text):
    """
    Split one C{--store-option} into C{(key, value)}.
    """
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(
            f"store options are KEY=VALUE, got {text!r}"
        )
    return key, value


def parseArguments(argv):
    """
    @return: the parsed C{argparse.Namespace}.
    """
    parser = argparse.ArgumentParser(
        prog="python -m resonate.testing.dst",
        description="Deterministic simulation test of the resonate server.",
    )
    parser.add_argument("--seed", type=int, default=None,
                        help="the seed (a random one, printed, by default)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--store", default="memory", metavar="KIND",
                        help=f"the store kind: {', '.join(KINDS)} or any "
                        "other installed one (default memory)")
    parser.add_argument("--store-option", action="append", default=[],
                        metavar="KEY=VALUE", dest="store_options",
                        type=_storeOption,
                        help="a store option, as its flag takes it "
                        "(repeat for more); for a third-party store kind, "
                        "its options come only from here")
    parser.add_argument("--fault-rate", type=float, default=DEFAULT_FAULT_RATE,
                        help="probability that a store call fails "
                        f"(default {DEFAULT_FAULT_RATE})")
    parser.add_argument("--verbose", action="store_true",
                        help="print every step in full")
    parser.add_argument("--postgres-dsn", default=None,
                        help="libpq connection string of a PostgreSQL server "
                        "on which a scratch database may be created "
                        "(default: $RESONATE_TEST_POSTGRES_DSN)")
    parser.add_argument("--directory", default=None,
                        help="where the SQLite database goes (default: a "
                        "temporary directory, removed afterwards)")
    arguments = parser.parse_args(argv)
    if arguments.steps < 1:
        parser.error("--steps must be at least 1")
    if not 0 <= arguments.fault_rate < 1:
        parser.error("--fault-rate must be at least 0 and below 1")
    if arguments.seed is None:
        arguments.seed = random.SystemRandom().randrange(2**32)
    return arguments


def _line(text, verbose, width=200):
    if verbose or len(text) <= width:
        return text
    return text[: width - 3] + "..."


async def run(reactor, arguments, out=None):
    """
    Run the simulation the arguments describe and print its log.

    @return: the L{resonate.testing.dst.runner.Result}.
    """
    out = out or sys.stdout
    options = RunOptions(
        seed=arguments.seed,
        steps=arguments.steps,
        store=arguments.store,
        faultRate=arguments.fault_rate,
        storeOptions=tuple(arguments.store_options),
    )
    try:
        opened = openStore(
            options.store,
            reactor,
            arguments.directory,
            arguments.postgres_dsn,
            options.storeOptions,
        )
    except ValueError as e:
        raise SystemExit(f"dst: {e}")
    try:
        result = await simulate(options, opened.store)
    finally:
        await opened.close()
    report(result, out, arguments.verbose)
    return result


def report(result, out, verbose=False):
    """
    Print a run's log (long lines cut unless C{verbose}), its verdict and,
    if it failed, the command that reproduces it.
    """
    for line in result.lines[:-1]:
        print(_line(line, verbose), file=out)
    if result.lines:
        # The last step is the failing one, if any: always in full.
        print(_line(result.lines[-1], verbose or not result.ok), file=out)
    print(result.verdict(), file=out)
    if not result.ok:
        print(result.reproduce(), file=out)


def main(argv=None):
    """
    The command's entry point.
    """
    arguments = parseArguments(sys.argv[1:] if argv is None else argv)

    async def react_(reactor):
        result = await run(reactor, arguments)
        if not result.ok:
            raise SystemExit(1)

    react(lambda reactor: ensureDeferred(react_(reactor)))


if __name__ == "__main__":
    main()
