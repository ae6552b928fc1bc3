"""
Plain values of the Resonate domain, and the pure rules that govern them.

Nothing here does I/O or imports Twisted: every store calls these functions
inside its own transaction, so there is one state machine, not one per store.
"""
