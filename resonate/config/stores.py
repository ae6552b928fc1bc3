# -*- test-case-name: tests.unit.test_config -*-
"""
The store section of the configuration: what a store provider declares
(L{StoreOption}s) and what it is handed (a L{StoreConfig}).

Every store kind, built in or from a third-party plugin, is configured the
same way.  Its provider declares its options; each becomes a key
C{aio.subsystems.store.config.<kind>.<key>} with the flag
C{--aio-store-<kind>-<key>} (camelCase keys in kebab case: C{txTimeout} is
C{--aio-store-sqlite-tx-timeout}), checked by its kind, listed by
C{--help} and written in errors with its key path like every other key.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from resonate.config.keys import Key

STORE_CONFIG_PATH = "aio.subsystems.store.config"
"""
The section holding the store kind and one subsection per store kind.
"""

_OPTION_KEY = re.compile(r"[a-z][A-Za-z0-9]*\Z")
_KIND_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


@dataclass(frozen=True)
class StoreOption:
    """
    One option a store provider takes, declared by the provider (its
    C{options} attribute, see L{resonate.interfaces.IStoreProvider}).

    @ivar key: the option's name in its section, camelCase: C{"path"},
        C{"txTimeout"}.
    @ivar kind: how its value is parsed and checked: one of the kinds of
        L{resonate.config.kinds} (C{DurationKind()}, C{SizeKind()}, ...) or
        an object with the same three methods.
    @ivar default: the default as written in YAML (C{"10s"}, not C{10.0}).
        This is the one place the default is written: the store receives
        the typed value in L{StoreConfig.options}.
    @ivar help: one line saying what the option does, for C{--help}.
    """

    key: str
    kind: Any
    default: Any
    help: str


@dataclass(frozen=True)
class StoreConfig:
    """
    The store section of the configuration, as handed to
    L{resonate.interfaces.IStoreProvider.makeStore}.

    @ivar kind: C{aio.subsystems.store.config.kind}.
    @ivar size: C{aio.subsystems.store.subsystem.size}: how many
        transactions may wait for the store; beyond that a store answers
        5032 (L{resonate.status.Status.AIO_SUBMISSION_QUEUE_FULL}).
    @ivar workers: C{aio.subsystems.store.subsystem.workers}: connections
        (for SQLite: reader connections; there is always one writer).
    @ivar batchSize: C{aio.subsystems.store.subsystem.batchSize}: the most
        transactions committed together.
    @ivar options: the typed value of every option the provider declares,
        by key, defaults filled in (durations in seconds, as C{float};
        sizes in bytes, as C{int}).
    @ivar shared: other processes (the server's other workers) use the
        same database at the same time; only set for providers of
        L{resonate.interfaces.ISharedStoreProvider}, whose docstring says
        what it asks of the store.
    """

    kind: str = "sqlite"
    size: int = 100
    workers: int = 1
    batchSize: int = 100
    options: dict = field(default_factory=dict)
    shared: bool = False


def optionFlag(kind, key):
    """
    The flag of a store option, without its dashes.

    @return: e.g. C{"aio-store-sqlite-tx-timeout"} for C{("sqlite",
        "txTimeout")}.
    """
    kebab = re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", key).lower()
    return f"aio-store-{kind.replace('_', '-')}-{kebab}"


def storeKeys(providers):
    """
    The configuration keys of every store kind's options.

    @param providers: store kind to its L{resonate.interfaces.IStoreProvider}.
    @return: C{(keys, problems)}: a list of L{Key}s, by kind then in the
        order each provider declares them, and a list of C{(path, message)}
        problems with the declarations (a provider that declares a bad
        key, or a default its own kind refuses).
    """
    keys = []
    problems = []
    for kind in sorted(providers):
        section = f"{STORE_CONFIG_PATH}.{kind}"
        if not _KIND_NAME.match(kind):
            problems.append(
                (section, f"store plugin kind {kind!r} must be lower-case "
                 "letters, digits and '_', starting with a letter")
            )
            continue
        for option in getattr(providers[kind], "options", ()):
            path = f"{section}.{option.key}"
            if not isinstance(option, StoreOption):
                problems.append(
                    (section, f"store plugin {kind!r} declares an option that "
                     f"is not a StoreOption: {option!r}")
                )
                continue
            if not _OPTION_KEY.match(option.key):
                problems.append(
                    (path, f"store plugin {kind!r} declares the option "
                     f"{option.key!r}; option keys are camelCase words")
                )
                continue
            key = Key(path, optionFlag(kind, option.key), option.kind,
                      option.default, option.help)
            try:
                key.parsedDefault()
            except Exception as e:
                problems.append(
                    (path, f"store plugin {kind!r} declares a default its "
                     f"own kind refuses: {e}")
                )
                continue
            keys.append(key)
    return keys, problems


def optionValues(kind, declared, given):
    """
    The options a store works with: those in C{given}, the declared default
    of the rest.

    L{resonate.config.load.loadConfig} hands every option typed and checked;
    this fills in what a L{StoreConfig} made by hand (in a test, say) leaves
    out, from the declaration, so that a default is written once.

    @param kind: the store kind, for the message.
    @param declared: the provider's L{StoreOption}s.
    @param given: L{StoreConfig.options}.
    @return: a new C{dict} of key to typed value, one per declared option.
    @raise resonate.errors.StoreFailure: C{given} has a key no option
        declares (the store cannot be opened as asked).
    """
    from resonate.errors import StoreFailure

    values = {option.key: option.kind.parseYaml(option.default) for option in declared}
    unknown = sorted(set(given) - set(values))
    if unknown:
        raise StoreFailure(
            f"{kind}: unknown option {unknown[0]!r}; the options are "
            f"{', '.join(values)}"
        )
    values.update(given)
    return values
