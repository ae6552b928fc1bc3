"""
The C{twist resonate} subcommand.
"""

from twisted.application.service import IServiceMaker
from twisted.plugin import IPlugin
from zope.interface import implementer


@implementer(IPlugin, IServiceMaker)
class _ResonateServiceMaker:
    """
    Like C{twisted.application.service.ServiceMaker}, but its options come
    from L{resonate.tap.makeOptions}, which adds a flag for every installed
    store plugin's options; C{resonate.tap} is imported only when used.
    """

    tapname = "resonate"
    name = "Resonate"
    description = "Durable promises server (Resonate v0.5 API)"

    @property
    def options(self):
        from resonate.tap import makeOptions

        return makeOptions

    @property
    def makeService(self):
        from resonate.tap import makeService

        return makeService


resonate = _ResonateServiceMaker()
