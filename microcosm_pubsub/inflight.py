"""Bookkeeping of received-but-unsettled messages: the prefetch bound and the visibility heartbeat."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from microcosm_pubsub.message import SQSMessage


class InFlight:
    """At most `capacity` messages between receive and settle; tells which need their visibility extended."""

    def __init__(self, capacity: int, clock: Callable[[], float] = time.monotonic) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.clock = clock
        self._extended_at: dict[str, float] = {}
        self._messages: dict[str, SQSMessage] = {}
        self._changed = threading.Condition()

    def __len__(self) -> int:
        with self._changed:
            return len(self._messages)

    @property
    def free(self) -> int:
        with self._changed:
            return self.capacity - len(self._messages)

    def wait_for_room(self, timeout: float) -> int:
        """Block until at least one slot is free or `timeout` passes; returns the free slots."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._messages) < self.capacity, timeout)
            return self.capacity - len(self._messages)

    def wait_until_empty(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: not self._messages, timeout)

    def add(self, message: SQSMessage) -> None:
        with self._changed:
            self._messages[message.receipt_handle] = message
            self._extended_at[message.receipt_handle] = self.clock()

    def remove(self, messages: list[SQSMessage]) -> None:
        with self._changed:
            for message in messages:
                self._messages.pop(message.receipt_handle, None)
                self._extended_at.pop(message.receipt_handle, None)
            self._changed.notify_all()

    def due(self, interval: float) -> list[SQSMessage]:
        """Messages whose visibility was last set `interval` seconds ago or more; marked as extended now."""
        now = self.clock()
        with self._changed:
            handles = [handle for handle, at in self._extended_at.items() if now - at >= interval]
            for handle in handles:
                self._extended_at[handle] = now
            return [self._messages[handle] for handle in handles]
