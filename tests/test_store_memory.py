# -*- test-case-name: tests.test_store_memory -*-
"""
Tests for L{resonate.store.memory}: the store contract, run on the in-memory
store.
"""

from twisted.trial import unittest

from resonate.store.memory import MemoryStore
from resonate.testing.store import StoreTestsMixin


class MemoryStoreContractTests(StoreTestsMixin, unittest.TestCase):
    """
    L{MemoryStore} keeps the store contract.
    """

    def makeStore(self):
        """
        A new, empty L{MemoryStore}.
        """
        store = MemoryStore()
        self.addCleanup(store.close)
        return store
