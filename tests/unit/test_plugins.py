# -*- test-case-name: tests.unit.test_plugins -*-
"""
Tests for plugin discovery: the C{twist resonate} subcommand, the store
providers, and a third party's store dropin.
"""

import sys
import textwrap

from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins
from twisted.python.filepath import FilePath
from twisted.trial import unittest
from zope.interface.verify import verifyObject

import twisted.plugins
from resonate.interfaces import IStore, IStoreProvider
from resonate.store.providers import (
    DuplicateStoreKind,
    InvalidStoreProvider,
    UnknownStoreKind,
    findStoreProvider,
    makeStore,
    storeProviders,
)

_DROPIN = textwrap.dedent(
    '''
    from twisted.plugin import IPlugin
    from zope.interface import implementer

    from resonate.config.kinds import DurationKind
    from resonate.config.stores import StoreOption
    from resonate.interfaces import IStoreProvider
    from resonate.store.memory import MemoryStore


    class ThirdPartyStore(MemoryStore):
        """A store from someone else's package."""


    @implementer(IPlugin, IStoreProvider)
    class ThirdPartyProvider:
        name = "thirdparty"
        description = "a third party's store"
        options = (
            StoreOption("pollInterval", DurationKind(), "1s", "how often"),
        )

        def makeStore(self, config, reactor):
            store = ThirdPartyStore()
            store.config = config
            return store


    @implementer(IPlugin, IStoreProvider)
    class BrokenProvider:
        name = "broken"
        description = "forgot makeStore"
        options = ()


    thirdParty = ThirdPartyProvider()
    broken = BrokenProvider()
    '''
)


class PluginDiscoveryTests(unittest.TestCase):
    """
    The shipped dropins are found.
    """

    def test_serviceMaker(self):
        """
        C{twist} finds the C{resonate} subcommand.
        """
        names = [p.tapname for p in getPlugins(IServiceMaker)]
        self.assertIn("resonate", names)

    def test_shippedStores(self):
        """
        The memory and SQLite providers are installed and verified.
        """
        for kind in ["memory", "sqlite"]:
            provider = findStoreProvider(kind)
            self.assertTrue(verifyObject(IStoreProvider, provider))
            self.assertEqual(provider.name, kind)

    def test_unknownKind(self):
        """
        An unknown kind names itself and every kind available.
        """
        error = self.assertRaises(UnknownStoreKind, findStoreProvider, "nope")
        self.assertIn("'nope'", str(error))
        self.assertIn("memory, postgres, sqlite", str(error))


class ThirdPartyDropinTests(unittest.TestCase):
    """
    A store dropin in another directory on the plugin path is discovered,
    verified and used; nothing in C{resonate} names it.
    """

    def setUp(self):
        root = FilePath(self.mktemp())
        plugins = root.child("twisted").child("plugins")
        plugins.makedirs()
        plugins.child("thirdparty_store.py").setContent(_DROPIN.encode())
        # As Tahoe-LAFS's test plugins do: extend the plugin package path.
        twisted.plugins.__path__.append(plugins.path)
        self.addCleanup(twisted.plugins.__path__.remove, plugins.path)
        self.addCleanup(sys.modules.pop, "twisted.plugins.thirdparty_store", None)

    def test_discoveredAndUsed(self):
        """
        The third-party provider is found by name and makes a working store.
        """
        self.assertIn("thirdparty", storeProviders())
        provider = findStoreProvider("thirdparty")
        store = makeStore(provider, None, None)
        self.assertEqual(type(store).__name__, "ThirdPartyStore")
        self.assertTrue(verifyObject(IStore, store))

    def test_optionsAreFlags(self):
        """
        The third-party kind's declared options are flags of C{twist
        resonate}, listed by C{--help}, and reach its store typed.
        """
        from resonate.tap import makeOptions

        self.assertIn("--aio-store-thirdparty-poll-interval=", str(makeOptions()))
        options = makeOptions()
        options.parseOptions(
            ["--aio-store", "thirdparty", "--aio-store-thirdparty-poll-interval", "2m"]
        )
        store = makeStore(
            options.storeProvider, options.config.storeConfig(), None
        )
        self.assertEqual(store.config.options, {"pollInterval": 120.0})

    def test_duplicateKindRefused(self):
        """
        Two plugins claiming one kind are refused, naming both, rather than
        one silently winning.
        """
        root = FilePath(self.mktemp())
        plugins = root.child("twisted").child("plugins")
        plugins.makedirs()
        plugins.child("duplicate_store.py").setContent(
            _DROPIN.replace('name = "thirdparty"', 'name = "sqlite"')
            .replace('name = "broken"', 'name = "broken2"')
            .encode()
        )
        twisted.plugins.__path__.append(plugins.path)
        self.addCleanup(twisted.plugins.__path__.remove, plugins.path)
        self.addCleanup(sys.modules.pop, "twisted.plugins.duplicate_store", None)
        error = self.assertRaises(DuplicateStoreKind, storeProviders)
        self.assertEqual(error.kind, "sqlite")
        self.assertEqual(
            error.plugins,
            [
                "twisted.plugins.duplicate_store.thirdParty",
                "twisted.plugins.resonate_stores.sqlite",
            ],
        )
        self.assertIn(
            "twisted.plugins.duplicate_store.thirdParty and "
            "twisted.plugins.resonate_stores.sqlite",
            str(error),
        )

    def test_brokenProviderRefused(self):
        """
        A provider that does not implement the interface fails loudly when
        chosen, naming itself.
        """
        error = self.assertRaises(
            InvalidStoreProvider, findStoreProvider, "broken"
        )
        self.assertIn("'broken'", str(error))
