# -*- test-case-name: tests.integration.test_dst -*-
"""
Deterministic simulation testing: a seeded generator of requests (v0.5's
and the 2026 protocol's, on the same ids), driven through the real API and
a real store with simulated time and injected store faults, every answer
checked by a model written from the contract.

Run it with C{python -m resonate.testing.dst --seed N --steps M --store
memory|sqlite|postgres}; see L{resonate.testing.dst.runner}.
"""

__all__ = [
    "generator", "model", "model2026", "faults", "runner", "wire", "stores",
    "requests",
]
