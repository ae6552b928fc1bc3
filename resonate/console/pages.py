# -*- test-case-name: tests.unit.test_console_pages -*-
"""
The console's pages as C{twisted.web.template} tags: the document around
every page, and each page's parts.

A page has controls (filters and forms, rendered once) and a live section
(C{<section id="live">}) that the page's script fetches again every few
seconds (the same URL with C{fragment=1}) and swaps in, so nothing a
person is typing is replaced.  Every text, id and tag goes into the
document through the template's escaping; URLs are built here from fixed
paths and encoded queries, never from stored text alone.
"""

from urllib.parse import urlencode

from twisted.web.template import Tag, tags

from resonate.console.values import (
    decodeData,
    formatDuration,
    formatRelative,
    formatTime,
    funcName,
)
from resonate.model.promise import State
from resonate.model.tasks2026 import TaskState

#: Where the console is mounted.
ROOT = "/console/"

#: The login page (with JWT auth).
LOGIN = "/console/login"

#: The pages in the navigation: (key, path, label).
NAVIGATION = (
    ("promises", "promises", "Promises"),
    ("workflows", "workflow", "Workflows"),
    ("schedules", "schedules", "Schedules"),
    ("tasks", "tasks", "Tasks"),
    ("locks", "locks", "Locks"),
)

#: Seconds between two refreshes of a page's live section.
REFRESH_SECONDS = 5

#: The states a person can settle a pending promise with, and the words
#: of their buttons and confirmations.
SETTLE_ACTIONS = (
    ("resolved", "Resolve", "resolve"),
    ("rejected", "Reject", "reject"),
    ("rejected_canceled", "Cancel", "cancel"),
)


def url(path, **query):
    """
    The URL of a console page: C{ROOT + path}, and the query's non-empty
    items, encoded.
    """
    items = {k: v for k, v in query.items() if v not in (None, "")}
    return ROOT + path + ("?" + urlencode(items) if items else "")


def promiseURL(promiseId):
    return url("promise", id=promiseId)


def workflowURL(promiseId):
    return url("workflow", id=promiseId)


def stateName(state):
    """
    The name of a promise state as the 2026 protocol writes it.
    """
    return state.value.lower()


def stateBadge(name):
    """
    A state, as a badge coloured by what it means.
    """
    return tags.span(name, class_=f"state state-{name}")


def promiseStateBadge(promise):
    return stateBadge(stateName(promise.state))


def timeCell(ms, now):
    """
    A time as UTC, with how far it is from now beneath.
    """
    if ms is None:
        return tags.span("-", class_="muted")
    return [
        tags.time(formatTime(ms), title=str(ms)),
        tags.br(),
        tags.small(formatRelative(ms, now), class_="muted"),
    ]


def promiseLink(promiseId):
    return tags.a(promiseId, href=promiseURL(promiseId), class_="id")


def document(title, active, controls, live, liveURL, notice=None, account=None):
    """
    A whole page.

    @param title: the page's heading.
    @param active: the key of its entry in L{NAVIGATION}.
    @param controls: tags rendered once, above the live section.
    @param live: the live section's content.
    @param liveURL: the URL the script fetches the live section from, or
        L{None} when the page does not refresh.
    @param notice: a message to show at once, or L{None}.
    @param account: who is signed in, in a few words, shown with a sign
        out button; L{None} when the console does not ask.
    """
    navigation = tags.nav(
        tags.a("resonate", href=url("promises"), class_="brand"),
        [
            tags.a(
                label,
                href=url(path),
                class_="active" if key == active else "",
                **({"aria-current": "page"} if key == active else {}),
            )
            for key, path, label in NAVIGATION
        ],
        _account(account),
    )
    liveAttributes = {"id": "live", "aria-live": "polite"}
    if liveURL is not None:
        liveAttributes["data-src"] = liveURL
        liveAttributes["data-refresh"] = str(REFRESH_SECONDS * 1000)
    return tags.html(
        tags.head(
            tags.meta(charset="utf-8"),
            tags.meta(name="viewport", content="width=device-width, initial-scale=1"),
            tags.title(f"{title} - resonate console"),
            tags.link(rel="icon", href=ROOT + "static/favicon.svg", type="image/svg+xml"),
            tags.link(rel="stylesheet", href=ROOT + "static/console.css"),
            tags.script(src=ROOT + "static/console.js", defer="defer"),
        ),
        tags.body(
            tags.header(navigation),
            # twisted.web.template's tags predate <main>.
            Tag("main")(
                tags.h1(title),
                tags.p(notice or "", id="notice", role="status", class_="notice"),
                controls,
                tags.section(live, **liveAttributes),
            ),
        ),
        lang="en",
    )


def _account(account):
    if account is None:
        return ()
    return tags.span(
        tags.span(account, class_="who"),
        tags.button(
            "Sign out", type="button", class_="signout",
            **{"data-action": "logout", "data-id": ""},
        ),
        class_="account",
    )


def loginForm(nextPage):
    """
    Sign in: paste a token; the server verifies it and keeps it in a
    cookie.
    """
    return tags.form(
        tags.input(type="hidden", name="next", value=nextPage),
        tags.label(
            "token",
            tags.textarea(
                "", name="token", rows="4", required="required",
                autocomplete="off", spellcheck="false", placeholder="eyJ...",
            ),
        ),
        tags.div(tags.button("Sign in", type="submit", class_="action"), class_="buttons"),
        class_="actions login",
        method="post",
        **{"data-action": "login"},
    )


def fragment(live):
    """
    The live section alone, as the script fetches it.
    """
    return tags.div(live, id="live-fragment")


# Promises.


def promiseFilters(idPattern, stateFilter, tag, stateChoices):
    """
    The promise list's filters: a plain GET form.
    """
    options = [tags.option("any state", value="")]
    for name in stateChoices:
        attributes = {"value": name}
        if name == stateFilter:
            attributes["selected"] = "selected"
        options.append(tags.option(name.replace("_", " "), **attributes))
    return tags.form(
        tags.label("id", tags.input(name="id", value=idPattern, placeholder="order-*")),
        tags.label("state", tags.select(options, name="state")),
        tags.label("tag", tags.input(name="tag", value=tag, placeholder="key=value")),
        tags.button("Filter", type="submit"),
        method="get",
        action=url("promises"),
        class_="filters",
    )


def promiseTable(promises, now, olderURL, newestURL):
    """
    A page of promises, newest first, with links to the next page.
    """
    if not promises:
        rows = tags.tr(tags.td("No promises match.", colspan="5", class_="empty"))
    else:
        rows = [_promiseRow(p, now) for p in promises]
    return [
        _table(("id", "state", "func", "created", "settled / timeout"), rows),
        _pager(olderURL, newestURL),
    ]


def _promiseRow(promise, now):
    settled = promise.completedOn if promise.state.isTerminal else promise.timeout
    return tags.tr(
        tags.td(promiseLink(promise.id)),
        tags.td(promiseStateBadge(promise)),
        tags.td(funcName(promise.param.data) or ""),
        tags.td(timeCell(promise.createdOn, now)),
        tags.td(timeCell(settled, now)),
        **{"data-id": promise.id},
    )


def _pager(olderURL, newestURL):
    links = []
    if newestURL is not None:
        links.append(tags.a("Newest", href=newestURL))
    if olderURL is not None:
        links.append(tags.a("Older", href=olderURL, rel="next"))
    return tags.p(links, class_="pager")


def _scrolling(table):
    # Wide tables scroll sideways on a phone instead of widening the page.
    return tags.div(table, class_="scroll")


def _table(headings, rows, caption=None):
    """
    A table with a row of C{headings} over C{rows}, in its scrolling box.
    """
    return _scrolling(
        tags.table(
            tags.caption(caption) if caption is not None else "",
            tags.thead(tags.tr([tags.th(heading) for heading in headings])),
            tags.tbody(rows),
        )
    )


def valueBlock(title, value):
    """
    A param or value: its data decoded when it is JSON, else as text or
    base64, and its headers.
    """
    kind, text = decodeData(value.data)
    parts = [tags.h3(title, tags.small(f" ({kind})", class_="muted"))]
    if kind == "none":
        parts.append(tags.p("no data", class_="muted"))
    else:
        parts.append(tags.pre(text, class_=f"data data-{kind}"))
    if value.headers:
        parts.append(_mapTable(value.headers, "headers"))
    return tags.div(parts, class_="value")


def _mapTable(mapping, caption):
    return _scrolling(
        tags.table(
            tags.caption(caption),
            tags.tbody(
                [tags.tr(tags.th(k), tags.td(v)) for k, v in sorted(mapping.items())]
            ),
            class_="map",
        )
    )


def promiseDetail(detail, now):
    """
    One promise: its state and times, its param and value, its tags, its
    tasks, and who awaits it.
    """
    promise = detail.promise
    relations = detail.relations
    facts = [
        ("state", promiseStateBadge(promise)),
        ("created", timeCell(promise.createdOn, now)),
        ("settled", timeCell(promise.completedOn if promise.state.isTerminal else None, now)),
        ("timeout", timeCell(promise.timeout, now)),
    ]
    func = funcName(promise.param.data)
    if func is not None:
        facts.append(("func", func))
    if promise.idempotencyKeyForCreate is not None:
        facts.append(("create key", promise.idempotencyKeyForCreate))
    if promise.idempotencyKeyForComplete is not None:
        facts.append(("settle key", promise.idempotencyKeyForComplete))
    facts.append(("call tree", tags.a("workflow", href=workflowURL(_rootOf(promise)))))
    return [
        tags.dl([[tags.dt(name), tags.dd(value)] for name, value in facts], class_="facts"),
        tags.div(valueBlock("param", promise.param), valueBlock("value", promise.value), class_="values"),
        tags.h2("tags"),
        _mapTable(promise.tags, "tags") if promise.tags else tags.p("none", class_="muted"),
        tags.h2("task"),
        _taskFacts(relations, now),
        tags.h2("awaited by"),
        _idList(relations.awaiters, "no task awaits it"),
        tags.h2("awaits"),
        _idList(relations.awaiting, "its task awaits nothing"),
        tags.h2("listeners"),
        _textList(relations.listeners, "no listener"),
    ]


def _rootOf(promise):
    return promise.tags.get("resonate:origin") or promise.id


def _taskFacts(relations, now):
    parts = []
    if relations.task is not None:
        parts.append(tasks2026Table([relations.task], now))
    if relations.tasks05:
        parts.append(tasks05Table(relations.tasks05, now))
    if not parts:
        return tags.p("no task", class_="muted")
    return parts


def _idList(ids, empty):
    if not ids:
        return tags.p(empty, class_="muted")
    return tags.ul([tags.li(promiseLink(i)) for i in ids], class_="ids")


def _textList(texts, empty):
    if not texts:
        return tags.p(empty, class_="muted")
    return tags.ul([tags.li(tags.code(t)) for t in texts], class_="ids")


def settleForm(promise):
    """
    The actions on a pending promise: resolve, reject or cancel it, with a
    value, each confirmed first.
    """
    buttons = [
        tags.button(
            label,
            type="submit",
            name="state",
            value=state,
            class_=f"action action-{verb}",
            **{"data-confirm": f"{label} promise {promise.id}?"},
        )
        for state, label, verb in SETTLE_ACTIONS
    ]
    return tags.form(
        tags.input(type="hidden", name="id", value=promise.id),
        tags.label(
            "value (JSON, optional)",
            tags.textarea("", name="value", rows="2", placeholder='{"ok": true}'),
        ),
        tags.div(buttons, class_="buttons"),
        class_="actions",
        method="post",
        **{"data-action": "settle"},
    )


# Workflows.


def workflowForm(rootId):
    """
    The root to show: a plain GET form.
    """
    return tags.form(
        tags.label("root promise", tags.input(name="id", value=rootId or "", required="required")),
        tags.button("Show", type="submit"),
        method="get",
        action=url("workflow"),
        class_="filters",
    )


def invokeForm():
    """
    Invoke a function on a worker: create a promise addressed to it, as
    the SDKs do; confirmed first.
    """
    return tags.details(
        tags.summary("Invoke a function"),
        tags.form(
            tags.label("id", tags.input(name="id", required="required", placeholder="order-42")),
            tags.label("func", tags.input(name="func", required="required", placeholder="process")),
            tags.label("args (JSON array)", tags.input(name="args", placeholder='[1, "two"]')),
            tags.label("target", tags.input(name="target", value="poll://any@default")),
            tags.label("timeout", tags.input(name="timeout", value="1d")),
            tags.div(tags.button("Invoke", type="submit", class_="action"), class_="buttons"),
            class_="actions",
            method="post",
            **{"data-action": "invoke", "data-confirm": "Invoke this function?"},
        ),
        class_="invoke",
    )


def workflowIndex(roots, now):
    """
    The workflows started lately, each linked to its call tree.
    """
    if not roots:
        return tags.p(
            "No workflow was started lately; name a root promise to see its call tree.",
            class_="empty",
        )
    rows = [
        tags.tr(
            tags.td(tags.a(p.id, href=workflowURL(p.id), class_="id")),
            tags.td(promiseStateBadge(p)),
            tags.td(funcName(p.param.data) or ""),
            tags.td(timeCell(p.createdOn, now)),
        )
        for p in roots
    ]
    return [tags.h2("Recent workflows"), _table(("root", "state", "func", "started"), rows)]


def workflowTree(workflow, rootId, now):
    """
    The call tree: each promise with its state and duration, children
    beneath their caller.
    """
    if workflow.root is None:
        return tags.p("No promise ", tags.code(rootId), " was found.", class_="empty")
    summary = f"{workflow.size} promise{'s' if workflow.size != 1 else ''}"
    if workflow.truncated:
        summary += ", of the first promises found only: the tree is larger"
    return [tags.p(summary, class_="muted"), tags.ul(_treeNode(workflow.root), class_="tree")]


def _treeNode(node):
    promise = node.promise
    func = funcName(promise.param.data)
    children = ()
    if node.children:
        children = tags.ul([_treeNode(child) for child in node.children])
    return tags.li(
        tags.div(
            promiseStateBadge(promise),
            " ",
            promiseLink(promise.id),
            " ",
            tags.span(func, class_="func") if func else "",
            " ",
            tags.span(formatDuration(node.duration), class_="duration"),
            class_="node",
        ),
        children,
    )


# Schedules.


def scheduleTable(schedules, now, olderURL, newestURL):
    """
    A page of schedules with their next and last runs, each with a delete
    button.
    """
    if not schedules:
        rows = tags.tr(tags.td("No schedules.", colspan="6", class_="empty"))
    else:
        rows = [
            tags.tr(
                tags.td(tags.span(s.id, class_="id")),
                tags.td(tags.code(s.cron)),
                tags.td(tags.code(s.promiseId)),
                tags.td(timeCell(s.nextRunTime, now)),
                tags.td(timeCell(s.lastRunTime, now)),
                tags.td(
                    tags.button(
                        "Delete",
                        type="button",
                        class_="action action-delete",
                        **{
                            "data-action": "delete-schedule",
                            "data-id": s.id,
                            "data-confirm": f"Delete schedule {s.id}?",
                        },
                    )
                ),
            )
            for s in schedules
        ]
    return [
        _table(("id", "cron", "promise id", "next run", "last run", ""), rows),
        _pager(olderURL, newestURL),
    ]


# Tasks and locks.


def taskFilters(stateFilter):
    options = [tags.option("any state", value="")]
    for state in TaskState:
        attributes = {"value": state.value}
        if state.value == stateFilter:
            attributes["selected"] = "selected"
        options.append(tags.option(state.value, **attributes))
    return tags.form(
        tags.label("state", tags.select(options, name="state")),
        tags.button("Filter", type="submit"),
        method="get",
        action=url("tasks"),
        class_="filters",
    )


def tasks2026Table(views, now):
    """
    2026 tasks: state, version (the fencing token), owner and lease while
    acquired, and when the retry or lease timer fires.
    """
    if not views:
        return tags.p("No 2026 tasks.", class_="empty")
    rows = []
    for view in views:
        task = view.task
        acquired = task.state is TaskState.ACQUIRED
        rows.append(
            tags.tr(
                tags.td(promiseLink(task.id)),
                tags.td(stateBadge(task.state.value)),
                tags.td(str(task.version)),
                tags.td(task.pid if acquired and task.pid else "-"),
                tags.td(formatDuration(task.ttl) if acquired and task.ttl else "-"),
                tags.td(timeCell(task.timeoutAt, now)),
                tags.td(str(view.resumes)),
                tags.td(tags.code(task.address)),
            )
        )
    return _table(
        ("id", "state", "version", "owner", "lease", "timer", "resumes", "target"),
        rows,
        caption="2026 tasks",
    )


def tasks05Table(tasks, now):
    """
    v0.5 tasks: counter, the claim window and the lease, completion.
    """
    if not tasks:
        return tags.p("No v0.5 tasks.", class_="empty")
    rows = [
        tags.tr(
            tags.td(promiseLink(t.promiseId)),
            tags.td(stateBadge("completed" if t.isCompleted else "open")),
            tags.td(str(t.counter)),
            tags.td(timeCell(t.claimTimeout, now)),
            tags.td(timeCell(t.completeTimeout or None, now)),
            tags.td(timeCell(t.completedOn, now)),
        )
        for t in tasks
    ]
    return _table(
        ("promise", "state", "counter", "claim by", "lease until", "completed"),
        rows,
        caption="v0.5 tasks",
    )


def lockTable(locks, now):
    """
    Locks: which execution of which process holds each resource, until
    when.
    """
    if not locks:
        return tags.p("No locks are held.", class_="empty")
    rows = [
        tags.tr(
            tags.td(tags.span(lock.resourceId, class_="id")),
            tags.td(lock.processId),
            tags.td(lock.executionId),
            tags.td(timeCell(lock.expiresAt, now)),
            tags.td(formatDuration(lock.expiryInMilliseconds)),
        )
        for lock in locks
    ]
    return _table(("resource", "process", "execution", "expires", "lease"), rows)


def morePager(nextURL):
    """
    A link to the next page of a list by id, when there is one.
    """
    return _pager(nextURL, None)


def message(text):
    """
    A page's only content: a message (not found, a refused filter).
    """
    return tags.p(text, class_="empty")


def isPending(promise):
    return promise.state is State.PENDING

