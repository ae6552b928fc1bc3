# -*- test-case-name: tests.unit.test_plugins -*-
"""
Finding store providers among the installed Twisted plugins.

This is the C{twisted.cred.strcred} pattern: providers are C{IPlugin}s found
with C{getPlugins}, chosen by name, and checked with C{verifyObject} as they
load, so a broken third-party store fails startup with a named error rather
than at its first request.
"""

from twisted.logger import Logger
from twisted.plugin import IPlugin, getCache
from twisted.python.reflect import namedAny
from zope.interface import alsoProvides, implementer
from zope.interface.exceptions import Invalid
from zope.interface.verify import verifyObject

from resonate.interfaces import IStore, ISharedStoreProvider, IStoreProvider


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


class DuplicateStoreKind(Exception):
    """
    Two installed plugins make stores of the same kind, so which one a
    configuration selects would depend on the order plugins are found.

    @ivar kind: the kind both claim.
    @ivar plugins: the fully qualified names of the plugins that claim it
        (C{twisted.plugins.<dropin>.<name>}).
    @ivar providers: every provider found, by kind, the first found of each
        duplicate kept, so that the rest of the configuration can still be
        checked and reported.
    """

    def __init__(self, kind, plugins, providers):
        self.kind = kind
        self.plugins = list(plugins)
        self.providers = providers
        super().__init__(
            f"store kind {kind!r} is made by more than one installed plugin: "
            f"{' and '.join(self.plugins)}; uninstall one of them"
        )


class InvalidStoreProvider(Exception):
    """
    A plugin claims to provide stores but does not implement the interface.
    """


_log = Logger()


def storeProviders():
    """
    Every installed store provider, by name.

    Found as C{twisted.plugin.getPlugins} finds plugins (a dropin that fails
    to import is logged and skipped), but each with the dropin it comes
    from, so that two plugins claiming one kind are refused by name.

    @raise DuplicateStoreKind: two plugins make stores of the same kind.
    """
    import twisted.plugins

    providers = {}
    origins = {}
    cache = getCache(twisted.plugins)
    for dropin in (cache[name] for name in sorted(cache)):
        for plugin in dropin.plugins:
            try:
                provider = IStoreProvider(plugin, None)
            except BaseException:
                _log.failure("cannot load the plugin {plugin}", plugin=plugin.name)
                continue
            if provider is not None:
                providers.setdefault(provider.name, provider)
                origins.setdefault(provider.name, []).append(
                    f"{dropin.moduleName}.{plugin.name}"
                )
    for kind, found in sorted(origins.items()):
        if len(found) > 1:
            raise DuplicateStoreKind(kind, found, providers)
    return providers


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

    def __init__(self, name, description, providerPath, options=(), shared=False):
        """
        @param providerPath: the fully qualified name of a class whose
            instances provide L{IStoreProvider}.
        @param options: the L{resonate.config.stores.StoreOption}s the
            store takes, declared here so that configuration, flags and
            C{--help} know them without importing the store.
        @param shared: whether the stores may be opened by several
            processes at once (then this provides L{ISharedStoreProvider}).
        """
        self.name = name
        self.description = description
        self.options = tuple(options)
        self._providerPath = providerPath
        if shared:
            alsoProvides(self, ISharedStoreProvider)

    def makeStore(self, config, reactor):
        return namedAny(self._providerPath)().makeStore(config, reactor)
