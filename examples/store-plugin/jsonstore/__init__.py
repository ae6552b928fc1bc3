# -*- test-case-name: jsonstore.test.test_store -*-
"""
C{jsonstore}: an example of a third-party store for the resonate server.

It adds the store kind C{jsonfile}, which keeps everything in memory and
in one JSON file.  The package is built only from resonate's public
surface: the interfaces of L{resonate.interfaces}, the shared transaction
scripts of L{resonate.store.scripts}, the store options of
L{resonate.config.stores} and the contract suite of
L{resonate.testing.store}.

  - L{jsonstore.options}: the options the store takes, declared for the
    configuration, the flags and C{--help};
  - L{jsonstore.rows}: the rows the shared scripts run over, with an undo
    log, and their JSON form;
  - L{jsonstore.store}: the store and its provider;
  - C{twisted/plugins/jsonstore_dropin.py}: the dropin that makes the
    server find the provider.
"""
