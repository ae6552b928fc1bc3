# -*- test-case-name: tests.test_plugins -*-
"""
Finding store providers among the installed Twisted plugins.

This is the C{twisted.cred.strcred} pattern: providers are C{IPlugin}s found
with C{getPlugins}, chosen by name, and checked with C{verifyObject} as they
load, so a broken third-party store fails startup with a named error rather
than at its first request.
"""

from twisted.plugin import IPlugin, getPlugins
from twisted.python.reflect import namedAny
from zope.interface import implementer
from zope.interface.exceptions import Invalid
from zope.interface.verify import verifyObject

from resonate.interfaces import IStore, IStoreProvider


class UnknownStoreKind(Exception):
    """
    No installed provider makes stores of the requested kind.
    """

    def __init__(self, kind, available):
        self.kind = kind
        self.available = sorted(available)
        super().__init__(
            f"unknown store kind {kind!r} "
            f"(aio.subsystems.store.config.kind); available: "
            f"{', '.join(self.available) or 'none'}"
        )


class InvalidStoreProvider(Exception):
    """
    A plugin claims to provide stores but does not implement the interface.
    """


def storeProviders():
    """
    Every installed store provider, by name.
    """
    import twisted.plugins

    return {p.name: p for p in getPlugins(IStoreProvider, twisted.plugins)}


def findStoreProvider(kind):
    """
    The provider for C{kind}, verified.

    @raise UnknownStoreKind: none is installed.
    @raise InvalidStoreProvider: the plugin does not implement
        L{IStoreProvider}.
    """
    providers = storeProviders()
    provider = providers.get(kind)
    if provider is None:
        raise UnknownStoreKind(kind, providers)
    try:
        verifyObject(IStoreProvider, provider)
    except Invalid as e:
        raise InvalidStoreProvider(
            f"store provider {kind!r} does not implement IStoreProvider: {e}"
        )
    return provider


def makeStore(provider, config, reactor):
    """
    Make a store with C{provider} and check that it provides L{IStore}.
    """
    store = provider.makeStore(config, reactor)
    try:
        verifyObject(IStore, store)
    except Invalid as e:
        raise InvalidStoreProvider(
            f"store provider {provider.name!r} made a store that does not "
            f"implement IStore: {e}"
        )
    return store


@implementer(IPlugin, IStoreProvider)
class LazyStoreProvider:
    """
    A store provider for a dropin: it names the real provider class and
    imports it only when a store is made, so scanning plugins stays cheap
    and a missing driver cannot hide every other plugin.
    """

    def __init__(self, name, description, providerPath):
        """
        @param providerPath: the fully qualified name of a class whose
            instances provide L{IStoreProvider}.
        """
        self.name = name
        self.description = description
        self._providerPath = providerPath

    def makeStore(self, config, reactor):
        return namedAny(self._providerPath)().makeStore(config, reactor)
