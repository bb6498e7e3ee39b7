"""Bookkeeping of received-but-unsettled messages: the prefetch bounds and the visibility heartbeat."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from microcosm_pubsub.message import SQSMessage


class InFlight:
    """Bounds what is held between receive and settle; tells which messages need their visibility extended.

    At most `capacity` messages wait for or run in a handler, so nothing ages in a local buffer; up to
    `settling` more may be handled and waiting for their batched delete, so the next receive overlaps
    the settle. Nothing is ever held beyond `limit` = capacity + settling.
    """

    def __init__(self, capacity: int, clock: Callable[[], float] = time.monotonic, settling: int = 0) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.limit = capacity + max(settling, 0)
        self.clock = clock
        self._extended_at: dict[str, float] = {}
        self._messages: dict[str, SQSMessage] = {}
        self._handled: set[str] = set()
        self._changed = threading.Condition()

    def __len__(self) -> int:
        with self._changed:
            return len(self._messages)

    def _free(self) -> int:
        unhandled = len(self._messages) - len(self._handled)
        return min(self.capacity - unhandled, self.limit - len(self._messages))

    @property
    def free(self) -> int:
        with self._changed:
            return self._free()

    def wait_for_room(self, timeout: float) -> int:
        """Block until at least one slot is free or `timeout` passes; returns the free slots."""
        with self._changed:
            self._changed.wait_for(lambda: self._free() > 0, timeout)
            return self._free()

    def handled(self, message: SQSMessage) -> None:
        """The message's handler is done; it now waits only for its settle."""
        with self._changed:
            if message.receipt_handle in self._messages:
                self._handled.add(message.receipt_handle)
            self._changed.notify_all()

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
                self._handled.discard(message.receipt_handle)
            self._changed.notify_all()

    def due(self, interval: float) -> list[SQSMessage]:
        """Messages whose visibility was last set `interval` seconds ago or more; marked as extended now."""
        now = self.clock()
        with self._changed:
            handles = [handle for handle, at in self._extended_at.items() if now - at >= interval]
            for handle in handles:
                self._extended_at[handle] = now
            return [self._messages[handle] for handle in handles]
