"""
The C{twist resonate} subcommand.
"""

from twisted.application.service import ServiceMaker

resonate = ServiceMaker(
    "Resonate",
    "resonate.tap",
    "Durable promises server (Resonate v0.5 API)",
    "resonate",
)
