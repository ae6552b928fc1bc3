# -*- test-case-name: tests.unit.test_store_memory -*-
"""
Test support that ships with the server, for its own tests and for anyone
who writes a store plugin: L{resonate.testing.store.StoreTestsMixin} is the
contract every L{resonate.interfaces.IStore} provider must pass.
"""
