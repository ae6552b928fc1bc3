"""
A worker's side of C{GET /poll/{group}/{id}}: an HTTP/1.1 SSE stream read
as resonate-sdk 0.8.1 reads it (each chunk decoded by itself, events split
on a blank line, every C{data:} line one JSON message), for the process
tests that watch what a real server delivers.
"""

import json
import time

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers


def aboutPromise(message):
    """
    The id of the task or promise C{message} is about.
    """
    if message["kind"] == "execute":
        return message["data"]["task"]["id"]
    return message["data"]["promise"]["id"]


class SSEWorker(Protocol):
    """
    The body of one SSE stream, parsed as resonate-sdk 0.8.1's C{SseFramer}
    does: each chunk decoded as UTF-8 by itself (a chunk that is not is
    dropped), appended to a buffer split on C{"\\n\\n"}, and every
    C{data:} line of an event, stripped, one JSON message.

    @ivar name: C{group/id}.
    @ivar events: C{(time.monotonic() of arrival, message)}, in order.
    @ivar lost: whether the stream has ended.
    """

    def __init__(self, name):
        self.name = name
        self.events = []
        self.lost = False
        self._buffer = ""
        self._lostWaiters = []

    def dataReceived(self, data):
        arrived = time.monotonic()
        try:
            self._buffer += data.decode("utf-8")
        except UnicodeDecodeError:
            return
        while "\n\n" in self._buffer:
            block, self._buffer = self._buffer.split("\n\n", 1)
            for line in block.splitlines():
                if line.startswith("data:"):
                    payload = line[len("data:"):].strip()
                    if payload:
                        self.events.append((arrived, json.loads(payload)))

    def connectionLost(self, reason):
        self.lost = True
        waiting, self._lostWaiters = self._lostWaiters, []
        for d in waiting:
            d.callback(None)

    @property
    def messages(self):
        return [message for _, message in self.events]

    def about(self, promiseId, kind=None):
        """
        The messages about C{promiseId} (of C{kind}, if given), each with
        its arrival time.
        """
        return [
            (at, m)
            for at, m in self.events
            if aboutPromise(m) == promiseId and kind in (None, m["kind"])
        ]

    def close(self):
        """
        Close the connection.

        @return: a C{Deferred} that fires once it is closed.
        """
        if self.lost:
            return None
        d = Deferred()
        self._lostWaiters.append(d)
        self.transport.stopProducing()
        return d


async def connectWorker(testCase, server, group, id):
    """
    Open C{GET /poll/{group}/{id}} on C{server}, as an SDK worker does, and
    read it until the test ends.

    @return: the L{SSEWorker}, once the answer's headers are in (from then
        on, the server has it registered).
    """
    agent = Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False))
    response = await agent.request(
        b"GET",
        f"{server.url}/poll/{group}/{id}".encode("ascii"),
        Headers({b"accept": [b"text/event-stream"]}),
    )
    worker = SSEWorker(f"{group}/{id}")
    response.deliverBody(worker)
    testCase.addCleanup(worker.close)
    testCase.assertEqual(response.code, 200)
    testCase.assertEqual(
        response.headers.getRawHeaders(b"content-type"), [b"text/event-stream"]
    )
    return worker
