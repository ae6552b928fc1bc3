# -*- test-case-name: tests -*-
"""
A durable-promises server speaking the Resonate v0.5 API, built on Twisted.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
