# -*- test-case-name: tests.processes.test_cli -*-
"""
The C{resonate} command: a client of the HTTP API (promises, schedules,
locks, tasks, workflows, garbage collection), C{resonate serve}, which runs
the server exactly as C{twist resonate} does, and C{resonate dev}, a
throw-away server for local development.

    resonate promises create foo --timeout 1h -D 'hello' -T env=dev
    resonate promises get foo
    resonate promises resolve foo -D 'world'
    resonate invoke wf --func greet --arg '"world"' --target workers
    resonate tree wf
    resonate serve --config etc/resonate.yml

Every command takes C{-o json} for machine-readable output.  Exit status:
0 on success, 1 when the server answers with an error or cannot be reached
(one C{error: ...} line on stderr), 2 on a usage error.
"""

import argparse
import base64
import os
import sys
import time

from resonate import __version__
from resonate.cli import render
from resonate.cli.arguments import (
    UsageError,
    pairsToDict,
    parseBoolean,
    parseDuration,
    parseKeyValue,
    parseServerURL,
)
from resonate.cli.client import (
    APIError,
    Client,
    CommandFailed,
    Unreachable,
    path,
)
from resonate.cli.invoke import addInvokeCommand
from resonate.cli.serve import dev, serve
from resonate.cli.tree import addTreeCommand

#: Where the client sends requests unless told otherwise.
DEFAULT_SERVER = "http://127.0.0.1:8001"

#: The environment variable that overrides L{DEFAULT_SERVER}.
SERVER_VARIABLE = "RESONATE_SERVER"

#: The environment variable a JWT is taken from when C{--token} is not
#: given (and neither are C{-U}/C{-P}).
TOKEN_VARIABLE = "RESONATE_TOKEN"

# The global options that take a value, for finding "serve" (see
# _serverCommand).
_GLOBAL_VALUE_OPTIONS = frozenset(
    ["--server", "-U", "--username", "-P", "--password", "--token"]
)


# Values


def _value(data, headers):
    """
    A param or value as the API takes it: C{data} (text) base64-encoded.
    """
    value = {}
    if headers:
        value["headers"] = headers
    if data is not None:
        value["data"] = base64.b64encode(data.encode("utf-8")).decode("ascii")
    return value


def _promiseHeaders(args):
    """
    The C{idempotency-key} and C{strict} headers of a promise create or
    complete.
    """
    headers = {"strict": "true" if args.strict else "false"}
    if args.idempotencyKey:
        headers["idempotency-key"] = args.idempotencyKey
    return headers


def _print(out, text):
    out.write(text + "\n")


def _report(args, out, body, text):
    """
    Report what a command without an answer body did: C{body} as JSON with
    C{-o json}, else C{text}.
    """
    _print(out, render.formatJSON(body) if args.output == "json" else text)


def _show(args, out, body, view):
    """
    Print C{body} as JSON with C{-o json}, else with C{view}.
    """
    if args.output == "json":
        _print(out, render.formatJSON(body))
    else:
        _print(out, view(body))


def _done(args, out, response, text, view):
    """
    Report a create or complete: the server's JSON with C{-o json}, else
    C{text}, marked C{(deduplicated)} when the server answered 200.
    """
    if args.output == "json":
        _print(out, render.formatJSON(response.body))
    elif response.status == 200:
        _print(out, f"{text} (deduplicated)")
    else:
        _print(out, text)


# Promises


def createPromise(args, client, out):
    """
    C{POST /promises} with C{timeout = now + --timeout}.
    """
    body = {"id": args.id, "timeout": args.now() + args.timeout}
    param = _value(args.data, pairsToDict(args.header))
    if param:
        body["param"] = param
    tags = pairsToDict(args.tag)
    if tags:
        body["tags"] = tags
    response = client.request("POST", "/promises", body, _promiseHeaders(args))
    _done(args, out, response, f"Created promise: {args.id}", render.promiseView)


def getPromise(args, client, out):
    """
    C{GET /promises/{id}}.
    """
    response = client.request("GET", path("promises", args.id))
    _show(args, out, response.body, render.promiseView)


def _pageView(key, tableView):
    def view(page):
        text = tableView(page.get(key) or [])
        if page.get("cursor"):
            text += f"\n\nMore: --cursor {page['cursor']}"
        return text
    return view


def searchPromises(args, client, out):
    """
    C{GET /promises?id=...&state=...&tags[k]=v&limit=...&cursor=...}.
    """
    query = [("id", args.pattern)]
    if args.state:
        query.append(("state", args.state))
    query += [(f"tags[{k}]", v) for k, v in pairsToDict(args.tag).items()]
    query.append(("limit", str(args.limit)))
    if args.cursor:
        query.append(("cursor", args.cursor))
    response = client.request("GET", "/promises", query=query)
    _show(args, out, response.body, _pageView("promises", render.promiseTable))


def _completer(state, verb):
    def completePromise(args, client, out):
        body = {"state": state}
        value = _value(args.data, pairsToDict(args.header))
        if value:
            body["value"] = value
        response = client.request(
            "PATCH", path("promises", args.id), body, _promiseHeaders(args)
        )
        _done(args, out, response, f"{verb} promise: {args.id}",
              render.promiseView)

    completePromise.__doc__ = f"C{{PATCH /promises/{{id}}}} to {state}."
    return completePromise


# Schedules


def createSchedule(args, client, out):
    """
    C{POST /schedules}.
    """
    body = {
        "id": args.id,
        "cron": args.cron,
        "promiseId": args.promiseId,
        "promiseTimeout": args.promiseTimeout,
    }
    if args.desc:
        body["desc"] = args.desc
    tags = pairsToDict(args.tag)
    if tags:
        body["tags"] = tags
    param = _value(args.promiseData, pairsToDict(args.promiseHeader))
    if param:
        body["promiseParam"] = param
    promiseTags = pairsToDict(args.promiseTag)
    if promiseTags:
        body["promiseTags"] = promiseTags
    headers = {}
    if args.idempotencyKey:
        headers["idempotency-key"] = args.idempotencyKey
    response = client.request("POST", "/schedules", body, headers)
    _done(args, out, response, f"Created schedule: {args.id}",
          render.scheduleView)


def getSchedule(args, client, out):
    """
    C{GET /schedules/{id}}.
    """
    response = client.request("GET", path("schedules", args.id))
    _show(args, out, response.body, render.scheduleView)


def searchSchedules(args, client, out):
    """
    C{GET /schedules?id=...&tags[k]=v&limit=...&cursor=...}.
    """
    query = [("id", args.pattern)]
    query += [(f"tags[{k}]", v) for k, v in pairsToDict(args.tag).items()]
    query.append(("limit", str(args.limit)))
    if args.cursor:
        query.append(("cursor", args.cursor))
    response = client.request("GET", "/schedules", query=query)
    _show(args, out, response.body, _pageView("schedules", render.scheduleTable))


def deleteSchedule(args, client, out):
    """
    C{DELETE /schedules/{id}}.
    """
    client.request("DELETE", path("schedules", args.id))
    _report(args, out, {"id": args.id, "deleted": True},
            f"Deleted schedule: {args.id}")


# Locks


def acquireLock(args, client, out):
    """
    C{POST /locks/acquire}.
    """
    response = client.request("POST", "/locks/acquire", {
        "resourceId": args.resourceId,
        "processId": args.processId,
        "executionId": args.executionId,
        "expiryInMilliseconds": args.expiry,
    })
    lock = response.body
    if args.output == "json":
        _print(out, render.formatJSON(lock))
    else:
        _print(out, f"Acquired lock: {args.resourceId} (expires at "
                    f"{render.formatTime(lock.get('expiresAt'))})")


def releaseLock(args, client, out):
    """
    C{POST /locks/release}.
    """
    client.request("POST", "/locks/release", {
        "resourceId": args.resourceId,
        "executionId": args.executionId,
    })
    _report(args, out, {"resourceId": args.resourceId, "released": True},
            f"Released lock: {args.resourceId}")


def heartbeatLocks(args, client, out):
    """
    C{POST /locks/heartbeat}.
    """
    response = client.request(
        "POST", "/locks/heartbeat", {"processId": args.processId}
    )
    _show(args, out, response.body,
          lambda body: f"Locks affected: {body.get('locksAffected')}")


# Tasks


def claimTask(args, client, out):
    """
    C{POST /tasks/claim}; prints the task's promise.
    """
    response = client.request("POST", "/tasks/claim", {
        "taskId": args.taskId,
        "counter": args.counter,
        "processId": args.processId,
        "executionId": args.executionId,
        "expiryInMilliseconds": args.expiry,
    })
    _show(args, out, response.body, render.promiseView)


def completeTask(args, client, out):
    """
    C{POST /tasks/complete}.
    """
    body = {
        "taskId": args.taskId,
        "counter": args.counter,
        "executionId": args.executionId,
        "state": args.state,
    }
    value = _value(args.data, pairsToDict(args.header))
    if value:
        body["value"] = value
    client.request("POST", "/tasks/complete", body)
    _report(args, out,
            {"taskId": args.taskId, "state": args.state, "completed": True},
            f"Completed task: {args.taskId} ({args.state})")


def getTask2026(args, client, out):
    """
    The 2026 protocol's C{task.get}.
    """
    data = client.envelope("task.get", {"id": args.taskId})
    _show(args, out, data.get("task") or {}, render.taskView)


def searchTasks2026(args, client, out):
    """
    The 2026 protocol's C{task.search}: one page, ordered by id.
    """
    data = {"limit": args.limit}
    if args.state:
        data["state"] = args.state
    if args.cursor:
        data["cursor"] = args.cursor
    page = client.envelope("task.search", data)
    _show(args, out, page, _pageView("tasks", render.taskTable))


# Garbage collection


def collectGarbage(args, client, out):
    """
    C{POST /gc}: delete (or with C{--dry-run} count) what settled longer
    ago than C{--older-than}.
    """
    response = client.request(
        "POST", "/gc", {"olderThan": args.olderThan, "dryRun": args.dryRun}
    )
    _show(args, out, response.body, render.collectionView)


# The parser


def _positiveInt(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r} (use a positive integer)"
        )
    return value


def _limitUpTo(most):
    """
    The parser of a search's C{--limit}: 1 to C{most} (the v0.5 API takes
    up to 100 a page, the 2026 protocol up to 1000).
    """
    def limit(text):
        try:
            value = int(text)
        except ValueError:
            value = 0
        if not 1 <= value <= most:
            raise argparse.ArgumentTypeError(
                f"invalid limit {text!r} (use 1 to {most})"
            )
        return value
    return limit


def _addGlobalOptions(parser, environ, suppress):
    """
    The options every command takes.  Leaf commands repeat them with
    C{suppress} so that they may come after the command too, without
    overriding what came before it.
    """
    def default(value):
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("server options")
    group.add_argument(
        "--server", type=parseServerURL,
        default=default(environ.get(SERVER_VARIABLE) or DEFAULT_SERVER),
        help=f"the server's URL (default: ${SERVER_VARIABLE} or {DEFAULT_SERVER})",
    )
    group.add_argument(
        "-U", "--username", default=default(None),
        help="HTTP basic auth username",
    )
    group.add_argument(
        "-P", "--password", default=default(None),
        help="HTTP basic auth password",
    )
    group.add_argument(
        "--token", default=default(None),
        help=f"a JWT for a server with JWT auth (default: ${TOKEN_VARIABLE}); "
        "not with -U/-P",
    )


def _addOutput(parser):
    parser.add_argument(
        "-o", "--output", choices=["table", "json"], default="table",
        help="print a table (default) or the server's JSON",
    )


def _addValueOptions(parser, what):
    parser.add_argument("-D", "--data", help=f"the {what}'s data (text)")
    parser.add_argument(
        "-H", "--header", type=parseKeyValue, action="append", metavar="KEY=VALUE",
        help=f"a header of the {what} (repeatable)",
    )


def _addPromiseHeaderOptions(parser):
    parser.add_argument(
        "-i", "--idempotency-key", dest="idempotencyKey", metavar="KEY",
        help="the idempotency key: retrying with it is deduplicated",
    )
    parser.add_argument(
        "-s", "--strict", type=parseBoolean, default=True, metavar="BOOL",
        help="strict deduplication, true or false (default: true)",
    )


def _addTags(parser, what):
    parser.add_argument(
        "-T", "--tag", type=parseKeyValue, action="append", metavar="KEY=VALUE",
        help=f"{what} (repeatable)",
    )


def _addSearchOptions(parser):
    parser.add_argument(
        "-l", "--limit", type=_limitUpTo(100), default=100,
        help="most results per page, 1 to 100 (default: 100)",
    )
    parser.add_argument(
        "-c", "--cursor", help="the cursor of the next page, from a search"
    )


class _Commands:
    """
    Adds leaf commands, each with the global options.
    """

    def __init__(self, subparsers, environ):
        self._subparsers = subparsers
        self._environ = environ

    def add(self, name, run, help, aliases=()):
        parser = self._subparsers.add_parser(
            name, aliases=list(aliases), help=help, description=help
        )
        _addGlobalOptions(parser, self._environ, suppress=True)
        parser.set_defaults(run=run)
        return parser

    def group(self, name, help, aliases=()):
        parser = self._subparsers.add_parser(
            name, aliases=list(aliases), help=help, description=help
        )
        subparsers = parser.add_subparsers(
            title="commands", dest="command", metavar="COMMAND", required=True
        )
        return _Commands(subparsers, self._environ)


def _addPromiseCommands(commands):
    promises = commands.group(
        "promises", "create, read, search and complete promises",
        aliases=["promise"],
    )

    create = promises.add("create", createPromise, "create a promise")
    create.add_argument("id", help="the promise's id")
    create.add_argument(
        "--timeout", type=parseDuration, required=True, metavar="DURATION",
        help="how long until it times out, e.g. 1h30m, 90s, 500ms",
    )
    _addValueOptions(create, "param")
    _addTags(create, "a tag of the promise")
    _addPromiseHeaderOptions(create)
    _addOutput(create)

    get = promises.add("get", getPromise, "show a promise")
    get.add_argument("id", help="the promise's id")
    _addOutput(get)

    search = promises.add("search", searchPromises, "search promises")
    search.add_argument(
        "pattern", help="an id pattern; * matches anything (quote it)"
    )
    search.add_argument(
        "-s", "--state", type=str.lower,
        choices=["pending", "resolved", "rejected"],
        help="only promises in this state (rejected includes canceled and "
             "timed out)",
    )
    _addTags(search, "only promises with this tag")
    _addSearchOptions(search)
    _addOutput(search)

    for name, state, verb in (
        ("resolve", "RESOLVED", "Resolved"),
        ("reject", "REJECTED", "Rejected"),
        ("cancel", "REJECTED_CANCELED", "Canceled"),
    ):
        complete = promises.add(name, _completer(state, verb), f"{name} a promise")
        complete.add_argument("id", help="the promise's id")
        _addValueOptions(complete, "value")
        _addPromiseHeaderOptions(complete)
        _addOutput(complete)


def _addScheduleCommands(commands):
    schedules = commands.group(
        "schedules", "create, read, search and delete schedules",
        aliases=["schedule"],
    )

    create = schedules.add("create", createSchedule, "create a schedule")
    create.add_argument("id", help="the schedule's id")
    create.add_argument(
        "--cron", required=True,
        help='when to fire: a cron expression ("*/5 * * * *") or a '
             'descriptor ("@every 1m")',
    )
    create.add_argument(
        "--promise-id", dest="promiseId", required=True,
        help='the id of each promise, a template: "foo.{{.timestamp}}"',
    )
    create.add_argument(
        "--promise-timeout", dest="promiseTimeout", type=parseDuration,
        required=True, metavar="DURATION",
        help="each promise's timeout after it fires, e.g. 1h",
    )
    create.add_argument("-d", "--desc", help="a description")
    _addTags(create, "a tag of the schedule")
    create.add_argument(
        "--promise-data", dest="promiseData", help="each promise's data (text)"
    )
    create.add_argument(
        "--promise-header", dest="promiseHeader", type=parseKeyValue,
        action="append", metavar="KEY=VALUE",
        help="a header of each promise's param (repeatable)",
    )
    create.add_argument(
        "--promise-tag", dest="promiseTag", type=parseKeyValue,
        action="append", metavar="KEY=VALUE",
        help="a tag of each promise (repeatable)",
    )
    create.add_argument(
        "-i", "--idempotency-key", dest="idempotencyKey", metavar="KEY",
        help="the idempotency key: retrying with it is deduplicated",
    )
    _addOutput(create)

    get = schedules.add("get", getSchedule, "show a schedule")
    get.add_argument("id", help="the schedule's id")
    _addOutput(get)

    search = schedules.add("search", searchSchedules, "search schedules")
    search.add_argument(
        "pattern", help="an id pattern; * matches anything (quote it)"
    )
    _addTags(search, "only schedules with this tag")
    _addSearchOptions(search)
    _addOutput(search)

    delete = schedules.add("delete", deleteSchedule, "delete a schedule")
    delete.add_argument("id", help="the schedule's id")
    _addOutput(delete)


def _addLockCommands(commands):
    locks = commands.group(
        "locks", "acquire, release and heartbeat locks", aliases=["lock"]
    )

    acquire = locks.add("acquire", acquireLock, "acquire (or re-acquire) a lock")
    acquire.add_argument("resourceId", metavar="resource", help="the resource id")
    acquire.add_argument("--process-id", dest="processId", required=True)
    acquire.add_argument("--execution-id", dest="executionId", required=True)
    acquire.add_argument(
        "--expiry", type=parseDuration, required=True, metavar="DURATION",
        help="how long the lock lasts without a heartbeat, e.g. 30s",
    )
    _addOutput(acquire)

    release = locks.add("release", releaseLock, "release a lock")
    release.add_argument("resourceId", metavar="resource", help="the resource id")
    release.add_argument("--execution-id", dest="executionId", required=True)
    _addOutput(release)

    heartbeat = locks.add(
        "heartbeat", heartbeatLocks, "extend every lock of a process"
    )
    heartbeat.add_argument("--process-id", dest="processId", required=True)
    _addOutput(heartbeat)


def _addTaskCommands(commands):
    tasks = commands.group(
        "tasks", "show and search 2026 tasks; claim and complete v0.5 tasks",
        aliases=["task"],
    )

    get = tasks.add("get", getTask2026, "show a task (2026 protocol)")
    get.add_argument("taskId", metavar="task", help="the task id")
    _addOutput(get)

    search = tasks.add(
        "search", searchTasks2026, "list tasks by id (2026 protocol)"
    )
    search.add_argument(
        "-s", "--state", type=str.lower,
        choices=["pending", "acquired", "suspended", "halted", "fulfilled"],
        help="only tasks in this state",
    )
    search.add_argument(
        "-l", "--limit", type=_limitUpTo(1000), default=100,
        help="most results per page, 1 to 1000 (default: 100)",
    )
    search.add_argument(
        "-c", "--cursor", help="the cursor of the next page, from a search"
    )
    _addOutput(search)

    claim = tasks.add("claim", claimTask, "claim a task; prints its promise")
    claim.add_argument("taskId", metavar="task", help="the task id")
    claim.add_argument(
        "--counter", type=_positiveInt, required=True,
        help="the counter the task was offered with",
    )
    claim.add_argument("--process-id", dest="processId", required=True)
    claim.add_argument("--execution-id", dest="executionId", required=True)
    claim.add_argument(
        "--expiry", type=parseDuration, required=True, metavar="DURATION",
        help="how long the claim lasts, e.g. 30s",
    )
    _addOutput(claim)

    complete = tasks.add(
        "complete", completeTask, "complete a claimed task and its promise"
    )
    complete.add_argument("taskId", metavar="task", help="the task id")
    complete.add_argument(
        "--counter", type=_positiveInt, required=True,
        help="the counter the task was claimed with",
    )
    complete.add_argument("--execution-id", dest="executionId", required=True)
    complete.add_argument(
        "--state", type=str.lower, choices=["resolved", "rejected"],
        required=True, help="how the promise completes",
    )
    _addValueOptions(complete, "value")
    _addOutput(complete)


def _addGarbageCommand(commands):
    gc = commands.add(
        "gc", collectGarbage,
        "delete promises (and their tasks, callbacks and listeners) settled "
        "longer ago than --older-than",
    )
    gc.add_argument(
        "--older-than", dest="olderThan", type=parseDuration, required=True,
        metavar="DURATION", help="how long ago they settled at least, e.g. 30d",
    )
    gc.add_argument(
        "--dry-run", dest="dryRun", action="store_true",
        help="only count what would be deleted",
    )
    _addOutput(gc)


def buildParser(environ):
    """
    The argument parser of C{resonate}.

    @param environ: the environment (for C{RESONATE_SERVER}).
    """
    parser = argparse.ArgumentParser(
        prog="resonate",
        description="A client of the Resonate durable promises server, and "
                    "the server itself (resonate serve, resonate dev).",
    )
    parser.add_argument(
        "--version", action="version", version=f"resonate {__version__}"
    )
    _addGlobalOptions(parser, environ, suppress=False)
    subparsers = parser.add_subparsers(
        title="commands", dest="group", metavar="COMMAND", required=True
    )
    subparsers.add_parser(
        "serve", add_help=False,
        help="run the server (the flags of twist resonate; see serve --help)",
    )
    subparsers.add_parser(
        "dev", add_help=False,
        help="run a throw-away server for development: a temporary SQLite "
             "database, --debug, any flag of serve",
    )
    commands = _Commands(subparsers, environ)
    _addPromiseCommands(commands)
    _addScheduleCommands(commands)
    _addLockCommands(commands)
    _addTaskCommands(commands)
    addInvokeCommand(commands, _addOutput)
    addTreeCommand(commands, _addOutput)
    _addGarbageCommand(commands)
    return parser


#: The commands that run the server, with C{twist resonate}'s flags.
_SERVER_COMMANDS = frozenset(["serve", "dev"])

#: The output options, which the server commands take too.
_OUTPUT_OPTIONS = ("-o", "--output")


def _serverCommand(argv):
    """
    If C{argv} is C{resonate [global options] serve|dev ARGS}, return the
    command's name and C{ARGS}, else L{None}.  These take C{twist
    resonate}'s flags, which argparse must not see.
    """
    position = 0
    while position < len(argv):
        token = argv[position]
        if token in _SERVER_COMMANDS:
            return token, argv[position + 1:]
        if token in _GLOBAL_VALUE_OPTIONS:
            position += 2
        elif token.startswith("-"):
            position += 1
        else:
            return None
    return None


def _outputOf(args):
    """
    Take C{-o FORMAT} (C{--output FORMAT}, C{--output=FORMAT}, C{-oFORMAT})
    out of a server command's arguments: C{twist resonate} has no such
    flag, and no flag of its takes C{-o} as a value.

    @return: C{(format, the other arguments)}.
    @raise UsageError: a format other than C{table} or C{json}, or none.
    """
    output, rest = "table", []
    tokens = iter(args)
    for token in tokens:
        name, equals, value = token.partition("=")
        if token in _OUTPUT_OPTIONS:
            value = next(tokens, None)
        elif equals and name == "--output":
            pass
        elif token.startswith("-o") and not token.startswith("--"):
            value = token[2:]
        else:
            rest.append(token)
            continue
        if value not in ("table", "json"):
            raise UsageError(
                f"argument -o/--output: invalid choice: {value!r} "
                f"(choose from 'table', 'json')"
            )
        output = value
    return output, rest


def _token(args, environ):
    """
    The token to send: C{--token}, else C{$RESONATE_TOKEN} unless basic
    credentials are given (the flags win over the environment).

    @raise UsageError: C{--token} with C{-U}/C{-P}.
    """
    basic = args.username is not None or args.password is not None
    if args.token is not None:
        if basic:
            raise UsageError("--token cannot be given with -U/-P")
        return args.token or None
    if basic:
        return None
    return environ.get(TOKEN_VARIABLE) or None


def _sentCredentials(client, args):
    return client.token is not None or args.username is not None or args.password is not None


def _credentialsHint(error):
    """
    What to give a server that refused a request sent without credentials:
    what its challenge asks for (a 2026 refusal has none: a token).
    """
    if (error.challenge or "").lower().startswith("basic"):
        return "give the server's username and password with -U/-P"
    return f"give a token with --token or ${TOKEN_VARIABLE}"


def main(argv=None, stdout=None, stderr=None, environ=None, now=None):
    """
    Run the command line.

    @param argv: the arguments after the program name (C{sys.argv[1:]}).
    @param now: a callable returning the time in epoch ms.
    @param stdout: where results go; usage errors and C{--help} are
        argparse's and go to C{sys.stderr} and C{sys.stdout}.
    @return: the exit status.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    environ = os.environ if environ is None else environ
    serverCommand = _serverCommand(argv)
    if serverCommand is not None:
        name, serverArgs = serverCommand
        try:
            output, serverArgs = _outputOf(serverArgs)
        except UsageError as error:
            stderr.write(f"error: {error}\n")
            return 2
        if name == "dev":
            return dev(serverArgs, stdout, stderr, output)
        return serve(serverArgs, stderr, output)
    args = buildParser(environ).parse_args(argv)
    args.now = now or (lambda: int(time.time() * 1000))
    try:
        client = Client(args.server, args.username, args.password, token=_token(args, environ))
    except UsageError as error:
        stderr.write(f"error: {error}\n")
        return 2
    try:
        args.run(args, client, stdout)
    except APIError as error:
        lines = render.errorLines(error)
        if error.status == 401 and not _sentCredentials(client, args):
            lines[0] += f"; {_credentialsHint(error)}"
        stderr.write("\n".join(lines) + "\n")
        return 1
    except (Unreachable, CommandFailed) as error:
        stderr.write(f"error: {error}\n")
        return 1
    except UsageError as error:
        stderr.write(f"error: {error}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
