# -*- test-case-name: jsonstore.test.test_store -*-
"""
The dropin that makes the C{jsonfile} store kind known to the server.

Twisted finds it by scanning every C{twisted/plugins/} directory on
C{sys.path} (so neither C{twisted/} nor C{twisted/plugins/} of this package
may have an C{__init__.py}).  It must stay cheap to import and must not
fail: a dropin that raises on import is skipped, with a logged traceback,
and its store kind is then unknown.  So it names the provider class by its
path, imported only when a store is made, and takes the options from a
module that imports no store code.
"""

from jsonstore.options import DESCRIPTION, JSONFILE_OPTIONS, KIND
from resonate.store.providers import LazyStoreProvider

jsonfile = LazyStoreProvider(
    KIND,
    DESCRIPTION,
    "jsonstore.store.JSONFileStoreProvider",
    JSONFILE_OPTIONS,
)
