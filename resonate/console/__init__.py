"""
The web console served at C{/console/} on the HTTP listener: pages rendered
on the server with C{twisted.web.template}, a little JavaScript for
refresh and actions, and every read and action made through the API's
operations.
"""

__all__ = ["Console"]

from resonate.console.app import Console
