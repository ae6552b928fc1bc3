"""
Tests for the gRPC event loop thread of L{resonate.api.grpcserver}.
"""

import errno

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs
from twisted.trial import unittest

from resonate.api.grpcserver import _LoopThread


class LoopErrorTests(unittest.SynchronousTestCase):
    """
    Errors the event loop catches go to the server's log, except grpcio's
    poller failing on its closed descriptor while the server stops.
    """

    def test_logged(self):
        """
        An error outside any RPC is logged, not printed to stderr.
        """
        thread = _LoopThread(MemoryReactorClock())
        thread.stopping = False
        with capturedLogs() as events:
            thread._loopError(None, {"message": "boom", "exception": ValueError("x")})
        [event] = events
        self.assertEqual(event["reason"], "boom")
        self.assertIsInstance(event["error"], ValueError)

    def test_closedDescriptorWhileStopping(self):
        """
        EBADF while stopping is the poller's last call: not an error.
        Before stopping, it is.
        """
        thread = _LoopThread(MemoryReactorClock())
        error = OSError(errno.EBADF, "Bad file descriptor")
        thread.stopping = True
        with capturedLogs() as events:
            thread._loopError(None, {"message": "callback", "exception": error})
        self.assertEqual(events, [])
        thread.stopping = False
        with capturedLogs() as events:
            thread._loopError(None, {"message": "callback", "exception": error})
        self.assertEqual(len(events), 1)
