"""
The service tree: listeners, background loops, and the order they stop in.
"""
