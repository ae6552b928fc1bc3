# -*- test-case-name: tests.processes.test_systemd -*-
"""
Telling systemd (C{Type=notify}) that the server is ready, or stopping.

This is the whole of C{sd_notify(3)} that the server needs, without
libsystemd: one datagram to the C{AF_UNIX} socket named by
C{NOTIFY_SOCKET}.  Without that variable (not run by systemd) nothing is
sent.
"""

import os
import socket

from twisted.logger import Logger


class SystemdNotifier:
    """
    Sends state changes to the service manager named by C{NOTIFY_SOCKET}.
    """

    _log = Logger()

    def __init__(self, environ=None):
        """
        @param environ: the environment to read C{NOTIFY_SOCKET} from;
            C{os.environ} when L{None}.
        """
        self._environ = os.environ if environ is None else environ

    @property
    def address(self):
        """
        The socket address to send to, or L{None} when there is none: a
        path, or for a name starting with C{@} the abstract-namespace name
        (C{@} becomes a NUL byte).
        """
        name = self._environ.get("NOTIFY_SOCKET")
        if not name:
            return None
        if name.startswith("@"):
            return "\0" + name[1:]
        return name

    def notify(self, *assignments):
        """
        Send C{VARIABLE=value} lines in one datagram.

        A failure to send is logged, not raised: the server runs the same
        with or without a service manager listening.

        @param assignments: C{str}s such as C{"READY=1"}.
        @return: whether a datagram was sent.
        """
        address = self.address
        if address is None:
            return False
        message = "\n".join(assignments).encode("utf-8")
        try:
            with socket.socket(
                socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
            ) as sock:
                # A full receive queue must not block the reactor thread.
                sock.setblocking(False)
                sock.sendto(message, address)
        except OSError as e:
            self._log.warn(
                "cannot notify systemd at {address!r}: {error}",
                address=self._environ.get("NOTIFY_SOCKET"),
                error=e,
            )
            return False
        return True

    def ready(self, status=None):
        """
        Say the service is up (C{READY=1}), with an optional C{STATUS=} line.
        """
        lines = ["READY=1"]
        if status:
            lines.append(f"STATUS={status}")
        return self.notify(*lines)

    def stopping(self):
        """
        Say the service is stopping (C{STOPPING=1}).
        """
        return self.notify("STOPPING=1", "STATUS=stopping")
