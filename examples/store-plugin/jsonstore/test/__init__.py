# -*- test-case-name: jsonstore.test -*-
"""
Tests for L{jsonstore}: C{trial jsonstore}.
"""
