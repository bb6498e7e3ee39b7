"""What the runner holds between receive and settle: the bounds, the hand-offs and the visibility heartbeat."""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.runtime.ordering import Finished, GroupedPending
from microcosm_pubsub.wire.limits import SQS_MAX_BATCH


class InFlight:
    """Bounds what is held between receive and settle; hands messages to handlers and results to the settler.

    At most `capacity` messages wait for or run in a handler, and `settling` more may wait for their
    batched settle, so the next receive overlaps the settle. One lock guards it all, and each thread
    waits on its own condition, woken only when what it waits for may have come: a receive of ten
    costs one wake-up of each, not ten.
    """

    def __init__(
        self, capacity: int, clock: Callable[[], float] = time.monotonic, settling: int = 0,
        pending: GroupedPending | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.limit = capacity + max(settling, 0)
        self.clock = clock
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._work = threading.Condition(self._lock)
        self._ready = threading.Condition(self._lock)
        self._empty = threading.Condition(self._lock)
        # Every held message by receipt handle, with when its visibility was last set; oldest first
        self._held: dict[str, tuple[SQSMessage, float]] = {}
        self._ordered = pending
        self._pending: deque[SQSMessage] | GroupedPending = deque() if pending is None else pending
        self._running = 0
        # What handlers are done with, oldest first, each with when it was done
        self._finished: deque[tuple[Finished, float]] = deque()
        # Slots promised to receives still on their way, and those a waiting receiver needs
        self._reserved = 0
        self._wanted = 1
        # Set by `close`; read without the lock by pollers deciding whether to receive again
        self.closing = self._shut = False
        self._keep: Callable[[SQSMessage], bool] | None = None
        # Told (under the lock, so it must not block) whenever messages become pending: a runner whose
        # handlers run as tasks on an event loop takes them from there instead of from handler threads
        self.on_pending: Callable[[], None] | None = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._held)

    def _free(self) -> int:
        unhandled = len(self._pending) + self._running
        return min(self.capacity - unhandled, self.limit - len(self._held)) - self._reserved

    def _wake_receivers(self) -> None:
        if self._free() >= self._wanted:
            self._room.notify_all()

    @property
    def free(self) -> int:
        with self._lock:
            return self._free()

    def reserve(self, wanted: int, timeout: float, most: int | None = None) -> int:
        """Wait until a receive of `wanted` fits and promise it the free slots, up to `most`; 0 on timeout or close."""
        with self._lock:
            wanted = max(min(wanted, self.capacity), 1)
            self._wanted = wanted
            if not self._room.wait_for(lambda: self.closing or self._free() >= wanted, timeout) or self.closing:
                return 0
            reserved = max(min(self._free(), most if most is not None else wanted), wanted)
            self._reserved += reserved
            return reserved

    def received(self, messages: Sequence[SQSMessage], reserved: int) -> list[SQSMessage]:
        """Queue a receive's messages for the handlers; those refused because closing (and not kept) come back."""
        with self._lock:
            self._reserved -= reserved
            refused: list[SQSMessage] = []
            if self.closing:
                messages, refused = _partition(messages, None if self._shut else self._keep)
            now = self.clock()
            for message in messages:
                self._held[message.receipt_handle] = (message, now)
            self._pending.extend(messages)
            if messages:
                self._work_pending(len(messages))
            if self.closing or reserved > len(messages):
                self._wake_receivers()
            return refused

    def _work_pending(self, count: int) -> None:
        self._work.notify(count)
        if self.on_pending is not None:
            self.on_pending()

    def next_message(self, finished: Finished | None = None, wait: bool = True) -> SQSMessage | None:
        """Record what the caller finished, take the next message; None when closing (or not `wait`) and none left."""
        with self._lock:
            if finished is not None:
                self._finish(finished)
            while not self._pending:
                if self.closing or not wait:
                    return None
                self._work.wait()
            self._running += 1
            return self._pending.popleft()

    def finish(self, item: Finished) -> None:
        """A handler thread is done with a message (`item` is its result, or the message handed back)."""
        with self._lock:
            self._finish(item)

    def _finish(self, item: Finished) -> None:
        self._running -= 1
        now = self.clock()
        self._finished.append((item, now))
        if self._ordered is not None:
            # The group's later messages go back with it, or the group's next message may now run
            self._finished.extend((message, now) for message in self._ordered.finished(item))
            if self._pending:
                self._work_pending(1)
        if self._batch_ready():
            self._ready.notify()
        self._wake_receivers()

    def _batch_ready(self) -> bool:
        return bool(self._finished) and (
            len(self._finished) >= SQS_MAX_BATCH or self.closing or not (self._pending or self._running)
        )

    def settle_batch(self, max_wait: float, timeout: float) -> list[Finished] | None:
        """Up to ten finished items, once ready or the oldest waited `max_wait`; [] after `timeout`, None once shut."""
        with self._lock:
            deadline = self.clock() + timeout
            while True:
                now = self.clock()
                if self._finished and (self._batch_ready() or now - self._finished[0][1] >= max_wait):
                    break
                if self._shut and not self._finished:
                    return None
                wait = deadline - now
                if wait <= 0:
                    return []
                if self._finished:
                    wait = min(wait, self._finished[0][1] + max_wait - now)
                self._ready.wait(max(wait, 0.0))
            return [self._finished.popleft()[0] for _ in range(min(len(self._finished), SQS_MAX_BATCH))]

    def settled(self, messages: Sequence[SQSMessage]) -> None:
        """These messages are settled (or given up on): no longer held."""
        with self._lock:
            for message in messages:
                self._held.pop(message.receipt_handle, None)
            self._wake_receivers()
            if not self._held:
                self._empty.notify_all()

    def close(self, keep: Callable[[SQSMessage], bool] | None = None) -> int:
        """Stop taking messages: pending ones go back unhandled (how many is returned) but for those `keep` keeps."""
        with self._lock:
            self.closing = True
            self._keep = keep
            kept, pending = _partition(list(self._pending), keep)
            self._pending.clear()
            self._pending.extend(kept)
            now = self.clock()
            self._finished.extend((message, now) for message in pending)
            self._room.notify_all()
            self._work.notify_all()
            if kept and self.on_pending is not None:
                self.on_pending()
            self._ready.notify_all()
            return len(pending)

    def shut(self) -> None:
        """After close: the settler leaves once nothing is left to settle."""
        with self._lock:
            self.closing = self._shut = True
            self._work.notify_all()
            self._ready.notify_all()

    def wait_until_empty(self, timeout: float) -> bool:
        with self._lock:
            return self._empty.wait_for(lambda: not self._held, timeout)

    def due(self, interval: float) -> list[SQSMessage]:
        """Messages whose visibility was last set `interval` seconds ago or more; marked as extended now."""
        now = self.clock()
        with self._lock:
            due: list[SQSMessage] = []
            for message, at in self._held.values():
                if now - at < interval:
                    break
                due.append(message)
            for message in due:
                # Re-inserted at the end: the dict stays ordered by when each was last extended
                del self._held[message.receipt_handle]
                self._held[message.receipt_handle] = (message, now)
            return due


def _partition(
    messages: Sequence[SQSMessage], keep: Callable[[SQSMessage], bool] | None,
) -> tuple[list[SQSMessage], list[SQSMessage]]:
    """(kept, handed back): with no `keep`, every message goes back."""
    kept = [message for message in messages if keep is not None and keep(message)]
    return kept, [message for message in messages if message not in kept]
