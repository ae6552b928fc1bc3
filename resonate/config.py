# -*- test-case-name: tests.test_config -*-
"""
Configuration: every key, its default, its flag; loading and validation.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StoreConfig:
    """
    The store section of the configuration, as handed to an
    L{resonate.interfaces.IStoreProvider}.

    @ivar kind: C{aio.subsystems.store.config.kind}.
    @ivar size: C{aio.subsystems.store.subsystem.size}: how many
        transactions may wait for the store before it answers 5032.
    @ivar workers: C{aio.subsystems.store.subsystem.workers}: connections
        (for SQLite: reader connections; there is always one writer).
    @ivar batchSize: C{aio.subsystems.store.subsystem.batchSize}: the most
        transactions committed together.
    @ivar options: the typed values under C{aio.subsystems.store.config.<kind>};
        durations are in seconds (C{float}).
    """

    kind: str = "sqlite"
    size: int = 100
    workers: int = 1
    batchSize: int = 100
    options: dict = field(default_factory=dict)
