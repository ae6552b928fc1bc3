# -*- test-case-name: tests.processes.test_cli -*-
"""
C{resonate}: the command-line client of the HTTP API, and C{resonate serve}.
"""

__all__ = []
