# -*- test-case-name: tests.unit.test_model_routing -*-
"""
Task routing: which configured route, if any, a promise id matches.

Routes match promise ids with chi-style patterns, as v0.5 did: the id is
given a leading C{/}, C{{name}} matches one path segment and binds it,
C{*} at the end matches the rest.  When several routes match, the most
specific wins, segment by segment: a literal segment beats a C{{name}},
which beats C{*}.  The matched route's queue is a template over the bound
names (C{{{.name}}}).
"""

import re
from dataclasses import dataclass

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}\Z")
_TEMPLATE = re.compile(r"\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")

# Specificity of one pattern segment.
_LITERAL, _NAMED, _REST = 2, 1, 0


class InvalidPattern(ValueError):
    """
    A route pattern this server cannot match with.
    """


@dataclass(frozen=True)
class Route:
    """
    A pattern route: promises whose id matches C{pattern} become tasks
    pushed to C{connection}, on the queue C{queue} renders.
    """

    name: str
    pattern: str
    connection: str
    queue: str


def _segments(pattern):
    if not pattern.startswith("/"):
        raise InvalidPattern(f"pattern must start with '/': {pattern!r}")
    segments = pattern[1:].split("/")
    for index, segment in enumerate(segments):
        if "*" in segment and (segment != "*" or index != len(segments) - 1):
            raise InvalidPattern(f"'*' may only end a pattern: {pattern!r}")
        if "{" in segment and _PARAM.match(segment) is None:
            raise InvalidPattern(f"bad parameter {segment!r} in {pattern!r}")
    return segments


def checkPattern(pattern):
    """
    @raise InvalidPattern: C{pattern} is not a route pattern.
    """
    _segments(pattern)


def matchPattern(pattern, promiseId):
    """
    Match one pattern.

    @return: C{(specificity, params)}, or L{None} when it does not match.
    """
    if _ABSOLUTE.match(promiseId):
        return None
    path = promiseId if promiseId.startswith("/") else "/" + promiseId
    parts = path[1:].split("/")
    params = {}
    specificity = []
    for index, segment in enumerate(_segments(pattern)):
        if segment == "*":
            params["*"] = "/".join(parts[index:])
            specificity.append(_REST)
            return tuple(specificity), params
        if index >= len(parts):
            return None
        named = _PARAM.match(segment)
        if named is not None:
            if parts[index] == "":
                return None
            params[named.group(1)] = parts[index]
            specificity.append(_NAMED)
        elif segment == parts[index]:
            specificity.append(_LITERAL)
        else:
            return None
    if len(parts) != len(specificity):
        return None
    return tuple(specificity), params


def matchRoute(routes, promiseId):
    """
    The most specific route matching C{promiseId}.

    @param routes: L{Route}s, in configuration order (the first of equally
        specific matches wins).
    @return: C{(route, params)}, or L{None}.
    """
    best = None
    for route in routes:
        matched = matchPattern(route.pattern, promiseId)
        if matched is not None and (best is None or matched[0] > best[0]):
            best = (matched[0], route, matched[1])
    if best is None:
        return None
    return best[1], best[2]


def renderQueue(template, params):
    """
    Render a queue template: C{{{.name}}} becomes the bound segment (empty
    when unbound, as Go templates render a missing key of a map).
    """
    return _TEMPLATE.sub(lambda m: params.get(m.group(1), ""), template)
