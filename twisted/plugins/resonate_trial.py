"""
The C{counts} trial reporter: C{trial --reporter=counts}.

A test tool, so not shipped: setup.cfg installs only the server's dropins
(C{resonate_tap}, C{resonate_stores}), and this one is found only where
C{twisted/plugins/} of the checkout is on C{sys.path}, as in the README's
editable test install.
"""

from twisted.plugin import IPlugin
from twisted.trial.itrial import IReporter
from zope.interface import implementer


@implementer(IPlugin, IReporter)
class _Reporter:
    def __init__(self, name, module, description, longOpt, shortOpt, klass):
        self.name = name
        self.module = module
        self.description = description
        self.longOpt = longOpt
        self.shortOpt = shortOpt
        self.klass = klass


counts = _Reporter(
    "Counts",
    "resonate.testing.reporter",
    "tree output, the skips by reason and a final 'N passed, N failed' line",
    "counts",
    None,
    "CountsReporter",
)
