# -*- test-case-name: tests.unit.test_config -*-
"""
Configuration of C{twist resonate}: every key, its default, its flag; loading
and validation.

The package is split by job, and this module gathers its public names:

  - L{resonate.config.kinds}: how values are parsed and checked (durations,
    sizes, addresses, ...), for the server's keys and store plugins' alike;
  - L{resonate.config.keys}: the server's own keys (L{KEYS});
  - L{resonate.config.stores}: what a store provider declares
    (L{StoreOption}) and receives (L{StoreConfig});
  - L{resonate.config.load}: L{loadConfig}, which layers defaults, a YAML
    file and flags, checks every value and reports every problem at once in
    one L{ConfigError}, each with the key path it concerns.

The shipped C{etc/resonate.yml} lists every key, the built-in stores'
included, at its default (a test keeps the two equal).
"""

from resonate.config.keys import IGNORED_KEYS, KEYS, KEYS_BY_FLAG, KEYS_BY_PATH, Key
from resonate.config.kinds import (
    Address,
    AddressKind,
    BoolKind,
    DurationKind,
    EnumKind,
    HostKind,
    IntKind,
    WorkersKind,
    InvalidValue,
    JsonListKind,
    MapKind,
    SizeKind,
    StrKind,
    isEndpointDescription,
    listenAddress,
    parseDuration,
    parseSize,
    splitAddress,
)
from resonate.config.load import (
    SOURCES,
    Config,
    ConfigError,
    configKeys,
    flagsFromOptions,
    loadConfig,
    usageFlags,
    usageParameters,
)
from resonate.config.stores import STORE_CONFIG_PATH, StoreConfig, StoreOption

__all__ = [
    "Address",
    "AddressKind",
    "BoolKind",
    "Config",
    "ConfigError",
    "DurationKind",
    "EnumKind",
    "HostKind",
    "IGNORED_KEYS",
    "IntKind",
    "WorkersKind",
    "InvalidValue",
    "JsonListKind",
    "KEYS",
    "KEYS_BY_FLAG",
    "KEYS_BY_PATH",
    "Key",
    "MapKind",
    "SOURCES",
    "STORE_CONFIG_PATH",
    "SizeKind",
    "StoreConfig",
    "StoreOption",
    "StrKind",
    "configKeys",
    "flagsFromOptions",
    "isEndpointDescription",
    "listenAddress",
    "loadConfig",
    "parseDuration",
    "parseSize",
    "splitAddress",
    "usageFlags",
    "usageParameters",
]
