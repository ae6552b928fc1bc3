# -*- test-case-name: tests.unit.test_config -*-
"""
Loading the configuration: defaults, then a YAML file, then flags, every
value checked and every problem reported at once.

L{loadConfig} matches the file against the layout of the server's keys
(L{resonate.config.keys.KEYS}) and of every installed store kind's options
(L{resonate.config.stores.storeKeys}), parses each value with its key's
kind, checks what spans several keys (task routes name connections, basic
auth is set as a pair), and raises one L{ConfigError} with every problem and
its key path.  The result is a frozen L{Config}.
"""

import copy
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Optional

import yaml

from resonate.config.keys import KEYS, KEYS_BY_PATH, Key, keyTree
from resonate.config.kinds import InvalidValue, describeValue
from resonate.config.stores import STORE_CONFIG_PATH, StoreConfig, storeKeys
from resonate.model.routing import InvalidPattern, checkPattern

_Q = "aio.subsystems.queuing"

SOURCES = ("default", "file", "flag")
"""
Where a value can come from, in increasing precedence; see
L{Config.source}.
"""


class ConfigError(Exception):
    """
    The configuration is wrong; C{errors} lists every problem found.

    C{str()} gives one line per problem, for example::

        error in configuration at 'api.size': must be an integer >= 1, got 'abc'

    @ivar errors: a list of C{(path, message)} pairs: C{path} is the dotted
        key path (C{None} for a problem with the file as a whole or an
        unknown flag), C{message} says what is wrong and, for a value given
        as a flag, names the flag.
    """

    def __init__(self, errors):
        """
        @param errors: an iterable of C{(path, message)} pairs, at least one.
        """
        self.errors = [(path, message) for path, message in errors]
        super().__init__(self.errors)

    def __str__(self):
        """
        One line per problem, in the order found.
        """
        return "\n".join(
            (
                "error in configuration: " + message
                if path is None
                else f"error in configuration at {path!r}: {message}"
            )
            for path, message in self.errors
        )


@dataclass(frozen=True)
class Config:
    """
    A checked configuration; make one with L{loadConfig}.

    @ivar values: key path to typed value, for every key of L{keys}
        (read-only; prefer L{get}, which copies mutable values).
    @ivar sources: key path to one of L{SOURCES}.
    @ivar keys: key path to its L{resonate.config.keys.Key}: the server's
        keys and every installed store kind's options.
    @ivar filePath: the YAML file read, or C{None}.
    """

    values: Mapping
    sources: Mapping
    keys: Mapping = field(default_factory=lambda: MappingProxyType({}))
    filePath: Optional[str] = None

    def get(self, path):
        """
        The typed value of a key.

        @param path: a key path of L{KEYS}, e.g. C{"api.size"}.
        @return: C{str}, C{int}, C{bool}, C{float} seconds (durations), an
            L{Address}, a C{dict} (maps) or a C{list} (JSON lists); lists
            and dicts are fresh copies, so this object stays unchanged.
        @raise KeyError: C{path} is not a key.
        """
        if path not in self.values:
            raise KeyError(f"no configuration key {path!r}")
        return copy.deepcopy(self.values[path])

    def source(self, path):
        """
        Where a key's value came from.

        @param path: a key path of L{KEYS}.
        @return: C{"default"}, C{"file"} or C{"flag"}.
        @raise KeyError: C{path} is not a key.
        """
        if path not in self.sources:
            raise KeyError(f"no configuration key {path!r}")
        return self.sources[path]

    def storeConfig(self):
        """
        The store section, for the L{resonate.interfaces.IStoreProvider} of
        the configured kind.

        @return: a L{StoreConfig} whose C{options} are the typed values of
            every option the kind's provider declares, by key (e.g.
            C{{"path": "resonate.db", "txTimeout": 10.0, ...}}).
        """
        kind = self.get(f"{STORE_CONFIG_PATH}.kind")
        prefix = f"{STORE_CONFIG_PATH}.{kind}."
        return StoreConfig(
            kind=kind,
            size=self.get("aio.subsystems.store.subsystem.size"),
            workers=self.get("aio.subsystems.store.subsystem.workers"),
            batchSize=self.get("aio.subsystems.store.subsystem.batchSize"),
            options={
                path[len(prefix) :]: self.get(path)
                for path in self.values
                if path.startswith(prefix)
            },
        )

    def ignoredKeysGiven(self):
        """
        The keys given in the file or as flags that change nothing here
        (accepted for the Go server's compatibility), for a warning at
        startup.

        @return: a list of key paths.
        """
        return [
            path
            for path, key in self.keys.items()
            if key.ignored and self.sources[path] != "default"
        ]


class _StrictLoader(yaml.SafeLoader):
    """
    A safe YAML loader that records duplicate keys, which plain
    C{yaml.safe_load} silently resolves to the last one.

    @ivar duplicateKeys: C{(key, mark)} for each repeated key.
    """

    def __init__(self, stream):
        """
        @param stream: the YAML text (C{bytes} or C{str}).
        """
        super().__init__(stream)
        self.duplicateKeys = []

    def construct_mapping(self, node, deep=False):
        """
        Record repeated keys (merge keys C{<<} aside), then construct as
        usual.
        """
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for keyNode, _ in node.value:
                if keyNode.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(keyNode, deep=deep)
                try:
                    if key in seen:
                        self.duplicateKeys.append((key, keyNode.start_mark))
                    seen.add(key)
                except TypeError:
                    continue
        return super().construct_mapping(node, deep=deep)


def _readFile(path, errors):
    """
    Read and parse a YAML configuration file.

    @param path: the file name.
    @param errors: a list to append C{(None, message)} problems to.
    @return: the parsed document (C{{}} for an empty file), or C{None} if
        it could not be read or parsed.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        errors.append((None, f"cannot read file {path!r}: {e.strerror or e}"))
        return None
    loader = _StrictLoader(data)
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or " ".join(str(e).split())
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        errors.append((None, f"file {path!r} is not valid YAML: {problem}{where}"))
        return None
    finally:
        loader.dispose()
    for key, mark in loader.duplicateKeys:
        errors.append(
            (
                None,
                f"file {path!r} repeats the key {describeValue(key)} "
                f"(line {mark.line + 1}, column {mark.column + 1})",
            )
        )
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        errors.append(
            (None, f"file {path!r} must hold a mapping, got {describeValue(document)}")
        )
        return None
    return document


def _join(prefix, name):
    """
    Append a segment to a dotted path.
    """
    return f"{prefix}.{name}" if prefix else name


def _walk(mapping, tree, prefix, fileValues, errors):
    """
    Match a YAML mapping against the layout of the keys.

    @param mapping: the YAML mapping at C{prefix}.
    @param tree: the part of L{resonate.config.keys.keyTree} at C{prefix}.
    @param prefix: the dotted path of C{mapping} (C{""} at the top).
    @param fileValues: a dict to fill with key path to raw YAML value.
    @param errors: a list to append C{(path, message)} problems to.
    """
    for name, value in mapping.items():
        if not isinstance(name, str):
            errors.append(
                (
                    _join(prefix, describeValue(name)),
                    "unknown key (YAML does not read it as a string; quote it)",
                )
            )
            continue
        path = _join(prefix, name)
        node = tree.get(name)
        if node is None:
            kinds = [k for k, n in tree.items() if isinstance(n, dict)]
            close = difflib.get_close_matches(
                name, kinds if prefix == STORE_CONFIG_PATH else list(tree), n=1
            )
            if prefix == STORE_CONFIG_PATH:
                message = (
                    f"unknown store kind {name!r}: no installed store plugin "
                    f"makes it (installed: {', '.join(sorted(kinds))})"
                )
            else:
                message = "unknown key"
            if close:
                message += f"; did you mean {_join(prefix, close[0])!r}?"
            errors.append((path, message))
        elif isinstance(node, Key):
            fileValues[path] = value
        elif value is None:
            continue
        elif not isinstance(value, Mapping):
            errors.append((path, f"must be a mapping, got {describeValue(value)}"))
        else:
            _walk(value, node, path, fileValues, errors)


def _parseValue(key, raw, fromFlag, errors):
    """
    Parse one value with its key's kind.

    @param key: the L{Key}.
    @param raw: the YAML value, or the flag's text.
    @param fromFlag: whether C{raw} came from a flag (then messages name it).
    @param errors: a list to append C{(path, message)} problems to.
    @return: C{(True, typed)} or C{(False, None)}.
    """
    try:
        if fromFlag and isinstance(raw, str):
            return True, key.kind.parseFlag(raw)
        return True, key.kind.parseYaml(raw)
    except InvalidValue as e:
        for suffix, message in e.problems:
            if fromFlag:
                message += f" (from flag --{key.flag})"
            errors.append((_join(key.path, suffix) if suffix else key.path, message))
        return False, None


def _checkQueuing(values, sources, errors):
    """
    Check the shapes of the queuing connections and routes, and that every
    route names a connection (contract section 2.8).

    @param values: key path to typed value.
    @param sources: key path to source, so messages can name flags.
    @param errors: a list to append C{(path, message)} problems to.
    """

    def report(keyPath, where, message):
        """
        Record a problem at C{keyPath + where}, naming the flag if the
        value came from one.
        """
        if sources.get(keyPath) == "flag":
            message += f" (from flag --{KEYS_BY_PATH[keyPath].flag})"
        errors.append((keyPath + where, message))

    def text(keyPath, where, item, *names):
        """
        The non-empty string at C{item[names[0]][names[1]]...}, or
        C{None} after recording a problem.
        """
        value = item
        for name in names:
            if not isinstance(value, Mapping):
                value = None
                break
            value = value.get(name)
        if not isinstance(value, str) or not value:
            report(
                keyPath,
                f"{where}.{'.'.join(names)}",
                f"must be a non-empty string, got {describeValue(value)}",
            )
            return None
        return value

    connectionsPath = f"{_Q}.config.connections"
    routesPath = f"{_Q}.config.routes"
    names = set()
    for index, item in enumerate(values[connectionsPath]):
        where = f"[{index}]"
        if not isinstance(item, Mapping):
            report(connectionsPath, where, f"must be a mapping, got {describeValue(item)}")
            continue
        kind = text(connectionsPath, where, item, "kind")
        if kind is not None and kind != "http":
            report(connectionsPath, f"{where}.kind", f"must be 'http', got {kind!r}")
        name = text(connectionsPath, where, item, "name")
        if name is not None:
            if name in names:
                report(
                    connectionsPath,
                    f"{where}.name",
                    f"repeats the connection name {name!r}",
                )
            names.add(name)
        text(connectionsPath, where, item, "metadata", "properties", "url")
    for index, item in enumerate(values[routesPath]):
        where = f"[{index}]"
        if not isinstance(item, Mapping):
            report(routesPath, where, f"must be a mapping, got {describeValue(item)}")
            continue
        kind = text(routesPath, where, item, "kind")
        if kind is not None and kind != "pattern":
            report(routesPath, f"{where}.kind", f"must be 'pattern', got {kind!r}")
        text(routesPath, where, item, "name")
        connection = text(routesPath, where, item, "target", "connection")
        if connection is not None and connection not in names:
            report(
                routesPath,
                f"{where}.target.connection",
                f"names no connection in {connectionsPath}: {connection!r}",
            )
        text(routesPath, where, item, "target", "queue")
        pattern = text(routesPath, where, item, "metadata", "properties", "pattern")
        if pattern is not None:
            try:
                checkPattern(pattern)
            except InvalidPattern as e:
                report(routesPath, f"{where}.metadata.properties.pattern", str(e))


_AUTH = "api.subsystems.http.auth"
_JWT = "api.auth.jwt"


def _checkAuth(values, sources, errors):
    """
    Check that the HTTP basic auth user name and password are set together
    (an empty pair turns auth off), and that the user name has no colon;
    that JWT auth is not set beside basic auth, and its public key is
    usable.

    @param values: key path to typed value.
    @param sources: key path to source, so messages can name flags.
    @param errors: a list to append C{(path, message)} problems to.
    """

    def report(path, message):
        if sources.get(path) == "flag":
            message += f" (from flag --{KEYS_BY_PATH[path].flag})"
        errors.append((path, message))

    username = values[f"{_AUTH}.username"]
    password = values[f"{_AUTH}.password"]
    if username and not password:
        errors.append(
            (
                f"{_AUTH}.password",
                f"must be set when {_AUTH}.username is "
                "(set both to require basic auth, or neither)",
            )
        )
    if password and not username:
        errors.append(
            (
                f"{_AUTH}.username",
                f"must be set when {_AUTH}.password is "
                "(set both to require basic auth, or neither)",
            )
        )
    if ":" in username:
        report(f"{_AUTH}.username", "must not contain ':' (RFC 7617)")
    publicKey = values[f"{_JWT}.publicKey"]
    if publicKey and (username or password):
        report(
            f"{_JWT}.publicKey",
            f"cannot be set with {_AUTH}.username/password "
            "(choose JWT or basic auth)",
        )
    for claim in ("issuer", "audience"):
        if values[f"{_JWT}.{claim}"] and not publicKey:
            report(f"{_JWT}.{claim}", f"needs {_JWT}.publicKey")
    if publicKey:
        from resonate.api.tokens import TokenVerifier

        try:
            TokenVerifier.fromFile(publicKey)
        except ValueError as e:
            report(f"{_JWT}.publicKey", str(e))


def configKeys(providers):
    """
    Every configuration key: the server's, then each store kind's options.

    @param providers: store kind to its L{resonate.interfaces.IStoreProvider}.
    @return: C{(keys, problems)}: a tuple of L{Key}s, and the
        C{(path, message)} problems with the providers' declarations.
    """
    storeOptionKeys, problems = storeKeys(providers)
    keys = KEYS + tuple(storeOptionKeys)
    flags = {}
    for key in keys:
        if key.flag in flags:
            problems.append(
                (key.path, f"its flag --{key.flag} is also the flag of "
                 f"{flags[key.flag].path}; rename the store plugin's option")
            )
        flags.setdefault(key.flag, key)
    return tuple(flags.values()), problems


def loadConfig(path=None, flags=None, providers=None):
    """
    Load, check and freeze the configuration: the defaults of every key,
    then the YAML file at C{path}, then C{flags}.

    Every value is checked, including file values that a flag overrides,
    and every problem is reported at once.  Unknown keys in the file are
    problems, a section for a store kind no installed plugin makes
    included, and so is a store kind no installed plugin makes.

    @param path: a YAML file name, or C{None} for no file (no file is looked
        for implicitly).
    @param flags: a mapping of flag name (C{"api-size"}; leading dashes are
        allowed) to its text, holding only the flags the user gave; a value
        that is not a C{str} is checked as a YAML value would be.
    @param providers: store kind to its L{resonate.interfaces.IStoreProvider};
        by default the installed ones
        (L{resonate.store.providers.storeProviders}).
    @return: a L{Config}.
    @raise ConfigError: the file cannot be read or parsed, or any key, value
        or flag is wrong.
    """
    errors = []
    if providers is None:
        from resonate.store.providers import DuplicateStoreKind, storeProviders

        try:
            providers = storeProviders()
        except DuplicateStoreKind as e:
            errors.append((None, str(e)))
            providers = e.providers
    keys, problems = configKeys(providers)
    errors.extend(problems)
    keysByFlag = {key.flag: key for key in keys}
    fileValues = {}
    if path is not None:
        document = _readFile(path, errors)
        if document is not None:
            tree = keyTree(keys)
            kinds = tree["aio"]["subsystems"]["store"]["config"]
            for kind in providers:
                kinds.setdefault(kind, {})
            _walk(document, tree, "", fileValues, errors)
    flagValues = {}
    for name, raw in (flags or {}).items():
        key = keysByFlag.get(name.lstrip("-"))
        if key is None:
            errors.append((None, f"unknown flag --{name.lstrip('-')}"))
        else:
            flagValues[key.path] = raw
    values = {}
    sources = {}
    for key in keys:
        values[key.path] = key.parsedDefault()
        sources[key.path] = "default"
        for source, given, fromFlag in (
            ("file", fileValues, False),
            ("flag", flagValues, True),
        ):
            if key.path in given:
                ok, value = _parseValue(key, given[key.path], fromFlag, errors)
                if ok:
                    values[key.path] = value
                    sources[key.path] = source
    kindPath = f"{STORE_CONFIG_PATH}.kind"
    if values[kindPath] not in providers:
        message = (
            f"unknown store kind {values[kindPath]!r}: no installed store "
            f"plugin makes it (installed: {', '.join(sorted(providers))})"
        )
        if sources[kindPath] == "flag":
            message += " (from flag --aio-store)"
        errors.append((kindPath, message))
    _checkQueuing(values, sources, errors)
    _checkAuth(values, sources, errors)
    if errors:
        raise ConfigError(errors)
    return Config(
        values=MappingProxyType(values),
        sources=MappingProxyType(sources),
        keys=MappingProxyType({key.path: key for key in keys}),
        filePath=path,
    )


def usageParameters(keys=KEYS):
    """
    One C{twisted.python.usage.Options.optParameters} entry per key that
    takes a value, with no default (so that L{flagsFromOptions} can tell
    which flags were given) and the real default in the help text.

    @param keys: the L{Key}s, by default the server's own (L{configKeys}
        gives them with the store kinds' options).
    @return: a new list of C{[flag, None, None, help]} lists.
    """
    return [[key.flag, None, None, key.helpText()] for key in keys if not key.switch]


def usageFlags(keys=KEYS):
    """
    One C{twisted.python.usage.Options.optFlags} entry per switch key
    (L{Key.switch}): given bare, as C{--debug}.

    @param keys: the L{Key}s, as for L{usageParameters}.
    @return: a new list of C{[flag, None, help]} lists.
    """
    return [[key.flag, None, key.helpText()] for key in keys if key.switch]


def flagsFromOptions(options, keys=KEYS):
    """
    The configuration flags the user gave.

    @param options: a parsed C{twisted.python.usage.Options} (or any
        mapping) whose parameters include L{usageParameters} and whose
        flags include L{usageFlags}.
    @param keys: the L{Key}s whose flags to collect.
    @return: a new C{dict} of flag name to text, for the flags of C{keys}
        whose value is not C{None} (a switch given is C{"true"}); pass it
        to L{loadConfig}.
    """
    flags = {}
    for key in keys:
        value = options.get(key.flag)
        if key.switch:
            # usage.Options counts a bare flag: 0 when it was not given.
            if value:
                flags[key.flag] = "true"
        elif value is not None:
            flags[key.flag] = value
    return flags
