"""FIFO queues: messages of one group handed to handlers strictly in order, one at a time; groups in parallel."""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence

from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import RETURNING, Action, MessageHandlingResult
from microcosm_pubsub.wire.fifo import is_fifo


Decide = Callable[[MessageHandlingResult], Action]
# What a handler is done with: the message's result, or the message itself when it went back unhandled
Finished = MessageHandlingResult | SQSMessage


def group_of(message: SQSMessage) -> str:
    """The message's FIFO group; a message without one (not from a FIFO queue) is a group of its own."""
    return message.delivery.message_group_id or f"\0{message.receipt_handle}"


class GroupedPending:
    """Messages waiting for a handler, handed out one per group at a time, each group in arrival order.

    Takes the place of `InFlight`'s deque (whose lock guards it). SQS hands out a group's messages only
    while none of it is in flight, so a group's held messages came in one receive, in order. When a
    message goes back to the queue (a retry, one left for the redrive policy, one handed back at
    shutdown) the group's later messages go back unhandled too: SQS keeps the group locked while the
    failed one is in flight, so the group resumes with it, in order. `len()` and truth count only what
    could start now: messages behind their group's running one take no handler thread.
    """

    def __init__(self, decide: Decide) -> None:
        self.decide = decide
        # Waiting messages per group, oldest first; a group appears only while it has some
        self._waiting: dict[str, deque[SQSMessage]] = {}
        self._running: set[str] = set()
        # Groups with a waiting message and none running, in the order they became so
        self._ready: deque[str] = deque()
        self._count = 0

    def __len__(self) -> int:
        return len(self._ready)

    @property
    def waiting(self) -> int:
        """Every message waiting, whether it could start now or waits behind its group."""
        return self._count

    def __iter__(self) -> Iterator[SQSMessage]:
        for waiting in self._waiting.values():
            yield from waiting

    def extend(self, messages: Sequence[SQSMessage]) -> None:
        for message in messages:
            group = group_of(message)
            waiting = self._waiting.setdefault(group, deque())
            waiting.append(message)
            if len(waiting) == 1 and group not in self._running:
                self._ready.append(group)
        self._count += len(messages)

    def popleft(self) -> SQSMessage:
        """The next message to handle; its group runs nothing else until `finished` is told about it."""
        group = self._ready.popleft()
        waiting = self._waiting[group]
        message = waiting.popleft()
        if not waiting:
            del self._waiting[group]
        self._running.add(group)
        self._count -= 1
        return message

    def clear(self) -> None:
        self._waiting.clear()
        self._ready.clear()
        self._count = 0

    def finished(self, item: Finished) -> list[SQSMessage]:
        """A handler is done with a message; the group's waiting messages when they must go back with it."""
        message = item.message if isinstance(item, MessageHandlingResult) else item
        group = group_of(message)
        self._running.discard(group)
        waiting = self._waiting.get(group)
        if not waiting:
            return []
        if isinstance(item, MessageHandlingResult):
            # Decided once: settling tells SQS this same action
            item.action = self.decide(item)
            if item.action not in RETURNING:
                self._ready.append(group)
                return []
        del self._waiting[group]
        self._count -= len(waiting)
        return list(waiting)


def pending_for(queue_url: str | None, decide: Decide) -> GroupedPending | None:
    """Per-group ordering for a FIFO queue; None (any order) for a standard queue."""
    return GroupedPending(decide) if is_fifo(queue_url) else None
