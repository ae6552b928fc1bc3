# -*- test-case-name: tests.unit.test_services_outbox -*-
"""
Delivery of the 2026 outbox (DECISIONS 29): C{execute} and C{unblock}
messages, written by the store in the transaction of the change that caused
them, leave it only when written to a live SSE connection, answered 2xx by
an HTTP push target, or expired.

L{OutboxDelivery} is a loop: it takes the due messages this process can
deliver (those for the poll connections it holds, and every push), each
put off by a lease so that no other process sharing the store takes it
meanwhile, sends them, and then removes each delivered one or puts it off
with a backoff.  A message whose connection is elsewhere or absent is not
taken here: the process that holds the connection takes it, or, when a
connection registers, this loop wakes and takes it.  Messages older than
C{maxAge} are dropped and counted.
"""

from twisted.application.service import Service
from twisted.internet.defer import DeferredList, ensureDeferred, maybeDeferred
from twisted.logger import Logger

from resonate.metrics import Metrics
from resonate.model.addresses import HttpAddress, PollAddress, parseAddress
from resonate.model.outbox import Route, backoff
from resonate.model.tasks2026 import Execute
from resonate.services.background import WakeableLoop


def routeOf(registry, push):
    """
    The L{Route} of the messages a process holding the poll connections of
    C{registry} can deliver: for each connection C{(group, id)},
    C{poll://uni@group/id} and C{poll://any@group/id}; for each group,
    C{poll://any@group} and anything under C{poll://any@group/} (an anycast
    to an id not connected goes to any connection of its group).

    @param registry: a L{resonate.api.sse.PollRegistry}, or L{None}.
    @param push: whether this process pushes C{http(s)} messages.
    """
    addresses, prefixes = [], []
    if registry is not None:
        for group, id in registry.connectedKeys():
            addresses.append(f"poll://uni@{group}/{id}")
        for group in registry.connectedGroups():
            addresses.append(f"poll://any@{group}")
            prefixes.append(f"poll://any@{group}/")
    return Route(tuple(sorted(set(addresses))), tuple(sorted(set(prefixes))), push)


#: ms between looks for expired messages.
_DROP_INTERVAL = 1_000


class OutboxDelivery(WakeableLoop):
    """
    Deliver the outbox, a batch at a time.

    @ivar delivered: how many messages were delivered.
    @ivar failedAttempts: how many deliveries failed (to be retried).
    @ivar dropped: how many messages expired.
    """

    _log = Logger()

    def __init__(
        self,
        store,
        clock,
        serverUrl,
        renderPromise,
        poll=None,
        pusher=None,
        batchSize=100,
        interval=0.1,
        maxAge=600_000,
        retryBase=1_000,
        retryCeiling=60_000,
        lease=None,
        metrics=None,
    ):
        """
        @param store: the L{resonate.interfaces.IOutboxStore}.
        @param clock: the C{IReactorTime} of "now" and of the loop.
        @param serverUrl: the C{serverUrl} of C{execute} heads.
        @param renderPromise: makes the wire record of a promise, which an
            C{unblock} carries.
        @param poll: the L{resonate.api.sse.PollRegistry} of this process's
            SSE connections, or L{None} for none.
        @param pusher: the L{resonate.services.push.HTTPPusher}, or L{None}
            when this process does not push (its messages wait).
        @param interval: seconds between looks at the outbox when nothing
            woke the loop: how soon work caused through another process
            sharing the store goes out.
        @param maxAge: ms a message may wait (for a connection, or between
            failed pushes) before it is dropped.
        @param retryBase: ms before the first retry of a failed delivery,
            doubling up to C{retryCeiling}.
        @param lease: ms a taken message is held from other processes (and
            from this one) while it is sent; by default the push request
            timeout and a little more.
        """
        super().__init__("deliver-messages", clock, interval, metrics=metrics)
        self._store = store
        self._serverUrl = serverUrl
        self._renderPromise = renderPromise
        self._poll = poll
        self._pusher = pusher
        self._batchSize = batchSize
        self._interval = interval
        self._maxAge = maxAge
        self._retryBase = retryBase
        self._retryCeiling = retryCeiling
        if lease is None:
            timeout = getattr(pusher, "requestTimeout", 180.0)
            lease = int(timeout * 1000) + 5_000
        self._lease = lease
        self._metrics = metrics if metrics is not None else Metrics()
        self._nextDrop = 0
        self._settling = set()
        self.delivered = 0
        self.failedAttempts = 0
        self.dropped = 0

    async def _runOnce(self):
        now = self._milliseconds()
        if now >= self._nextDrop:
            # Expiry is coarse (maxAge is minutes): look once a second, not
            # at every look for work.
            self._nextDrop = now + _DROP_INTERVAL
            dropped = await self._store.dropExpiredMessages(
                now - self._maxAge, self._batchSize
            )
            for _ in dropped:
                self.dropped += 1
                self._metrics.messageDelivery("dropped")
        # Pushes queued behind busy targets are not added to: a message
        # left in the outbox waits there, not in memory past its lease.
        pushing = self._pusher is not None and self._pusher.waiting < self._batchSize
        route = routeOf(self._poll, pushing)
        if route.isEmpty:
            return self._interval
        taken = await self._store.takeMessages(
            now, self._batchSize, route, self._lease
        )
        pushes = []
        delivered, failed = [], []
        for entry, promise in taken:
            self._metrics.messageTaken(
                "execute" if isinstance(entry.message, Execute) else "unblock"
            )
            wire = self._wire(entry.message, promise)
            address = parseAddress(entry.message.address)
            if isinstance(address, PollAddress):
                sent = self._poll is not None and self._poll.deliver(address, wire)
                self._count(entry, sent, now, delivered, failed)
            elif isinstance(address, HttpAddress) and self._pusher is not None:
                pushes.append(self._push(entry, address, wire, now))
            else:
                # Taken by mistake (the route matched, the address is not
                # one this process can deliver): let it wait for another.
                self._count(entry, False, now, delivered, failed)
        if delivered or failed:
            # One store request for the whole look, and not waited for:
            # the next look need not wait, since what this one took is
            # leased and cannot be taken again.  One request per message,
            # one after the other, cost a durable commit each and held
            # every later message back (the bench's task loop: execute
            # 0.4-0.5 s after its create, 110-121 tasks/s); one per
            # message at once filled the store's admission queue, and
            # clients got 503s.
            self._track(maybeDeferred(self._store.settleMessages, delivered, failed))
        if pushes:
            # Pushes run concurrently, bounded by the pusher; the loop does
            # not wait for them, so a hung target delays nothing else.
            DeferredList(pushes, consumeErrors=True)
        # A full batch means more may be due now.
        return 0 if len(taken) >= self._batchSize else self._interval

    def _track(self, settling):
        """
        Keep C{settling} (the store writes of delivered or failed
        messages) until it is done, so that pausing and stopping wait for
        it; a failure is logged (the message stays leased, and is sent
        again after its lease).
        """
        self._settling.add(settling)

        def done(result):
            self._settling.discard(settling)
            return result

        settling.addBoth(done)
        settling.addErrback(self._settleFailed)

    def _settleFailed(self, failure):
        self._log.failure("delivered messages could not be settled", failure)

    def _whenSettled(self, result=None):
        """
        A C{Deferred} that fires once every settling store write has.
        """
        return DeferredList(list(self._settling)).addCallback(lambda _: result)

    def pause(self):
        """
        As L{WakeableLoop.pause}, and wait for the settling writes too:
        once paused, the loop changes nothing.
        """
        return super().pause().addCallback(self._whenSettled)

    def stopService(self):
        """
        As L{WakeableLoop.stopService}, and wait for the settling writes,
        so that the store is closed only after them.
        """
        return super().stopService().addCallback(self._whenSettled)

    def _wire(self, message, promise):
        """
        The message as delivered (protocol section 10).
        """
        if isinstance(message, Execute):
            return message.message(self._serverUrl)
        return message.message(self._renderPromise(promise))

    def _push(self, entry, address, wire, now):
        d = self._pusher.push(address.url, wire)
        # Within its lease, whatever the push waited for: after it, another
        # look may take the message again.
        d.addTimeout(
            max(1.0, self._lease / 1000 - 1),
            self._clock,
            onTimeoutCancel=lambda result, timeout: False,
        )

        async def answered(ok):
            await self._settle(entry, ok, now)

        d.addCallback(lambda ok: ensureDeferred(answered(ok)))
        d.addErrback(self._pushFailed)
        return d

    def _pushFailed(self, failure):
        self._log.failure("a push could not be settled", failure)

    def _count(self, entry, ok, now, delivered, failed):
        """
        Count a message of a look as delivered or failed, and add it to
        what the look settles.
        """
        if ok:
            self.delivered += 1
            self._metrics.messageDelivery("success")
            delivered.append(entry.id)
            return
        self.failedAttempts += 1
        self._metrics.messageDelivery("error")
        attempts = entry.attempts + 1
        failed.append(
            (
                entry.id,
                attempts,
                now + backoff(attempts, self._retryBase, self._retryCeiling),
            )
        )

    async def _settle(self, entry, ok, now):
        """
        Remove a pushed message once delivered, or put it off with a
        backoff.
        """
        delivered, failed = [], []
        self._count(entry, ok, now, delivered, failed)
        await self._store.settleMessages(delivered, failed)


class TransportsService(Service):
    """
    The delivery transports' lifetime: on stop, every SSE stream is ended
    cleanly (its client reconnects elsewhere or later) and the pusher's
    connections are closed, first thing, so that open streams do not hold
    the server's shutdown for its whole grace period.
    """

    def __init__(self, poll=None, pusher=None):
        self.setName("transports")
        self._poll = poll
        self._pusher = pusher

    def stopService(self):
        super().stopService()
        if self._poll is not None:
            self._poll.closeAll()
        if self._pusher is not None:
            return self._pusher.close()
        return None
