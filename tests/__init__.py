"""
Tests for L{resonate}, run with C{trial tests}.
"""
