"""
Store providers: in memory, SQLite, and what third parties plug in.
"""
