# -*- test-case-name: tests.unit.test_store_memory -*-
"""
The outbox of the 2026 protocol: the C{execute} and C{unblock} messages
(L{resonate.model.tasks2026.Execute}, L{resonate.model.tasks2026.Unblock})
as stored, written in the transaction of the change that causes them and
kept until they are delivered or expire (DECISIONS 29); the L{Route} of
the messages a process can deliver, and the backoff of a failed delivery.
Delivery itself is L{resonate.services.outbox}.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class OutboxEntry:
    """
    One stored message.

    @ivar id: names this message and orders it among the others: an
        C{execute} that replaces an undelivered older one of its task gets
        a new, larger id, so a delivery that removes the entry it sent by
        id never removes a newer message.
    @ivar message: an L{Execute <resonate.model.tasks2026.Execute>} or an
        L{Unblock <resonate.model.tasks2026.Unblock>}.
    @ivar createdOn: when it was written (epoch ms).
    @ivar attempts: how many deliveries have been tried.
    @ivar nextAttemptAt: when it may next be tried (epoch ms); at first its
        C{createdOn}.
    """

    id: int
    message: object
    createdOn: int
    attempts: int = 0
    nextAttemptAt: int = None


@dataclass(frozen=True)
class Route:
    """
    Which outbox messages one process can deliver: those whose address is
    one of C{addresses}, or starts with one of C{prefixes} (the poll
    connections it holds), or, when C{push} is true, any C{http(s)://}
    address.
    """

    addresses: tuple = ()
    prefixes: tuple = ()
    push: bool = False

    @property
    def isEmpty(self):
        """
        Whether no message can match.
        """
        return not (self.addresses or self.prefixes or self.push)


def backoff(attempts, base, ceiling):
    """
    How long (ms) to wait before the next delivery of a message that has
    failed C{attempts} times: doubling from C{base}, at most C{ceiling}.
    """
    return min(ceiling, base * 2 ** max(0, min(attempts - 1, 32)))
