# -*- test-case-name: jsonstore.test.test_store -*-
"""
The options of the C{jsonfile} store, declared once.

The dropin imports this module every time Twisted scans for plugins (on
every start of C{twist}, for every subcommand), so it imports nothing but
the configuration kinds: the store itself is imported only when the server
opens one.
"""

from resonate.config.kinds import BoolKind, SizeKind, StrKind
from resonate.config.stores import StoreOption

#: The store kind: C{aio.subsystems.store.config.kind: jsonfile}.
KIND = "jsonfile"

#: One line for C{twist resonate --help-stores}.
DESCRIPTION = (
    "one JSON file, rewritten atomically after every write (an example)"
)

# fmt: off
JSONFILE_OPTIONS = (
    StoreOption("path", StrKind(nonEmpty=True), "resonate.json",
                "the JSON file holding every promise, schedule, lock and "
                "task; its directory must exist"),
    StoreOption("fsync", BoolKind(), True,
                "fsync the file and its directory before answering a request "
                "that wrote; false loses acknowledged writes on a crash of "
                "the machine (tests only)"),
    StoreOption("maxFileSize", SizeKind(), "64MiB",
                "refuse (5002) a request that would grow the file past this "
                "size; every write rewrites the whole file"),
)
# fmt: on
"""
The options under C{aio.subsystems.store.config.jsonfile}, each with its
one default, as a L{resonate.config.stores.StoreOption} (the flags are
C{--aio-store-jsonfile-path}, C{--aio-store-jsonfile-fsync} and
C{--aio-store-jsonfile-max-file-size}).
"""
