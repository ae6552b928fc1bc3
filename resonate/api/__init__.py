"""
The protocol adapters: they parse the wire into plain request values, call
one operation, and render its outcome.
"""
