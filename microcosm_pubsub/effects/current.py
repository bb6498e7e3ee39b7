"""What the running code is inside of: the message being handled, and the outbox transaction a `produce()` joins.

Context variables, so each handler thread and each asyncio task sees its own. The dispatcher sets
`handling` around a handler's call; the SQL idempotency store and `outbox.within(...)` set `outbox`.
The producer reads both: message ids derived from the handled message, and publishing diverted into
the transaction.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from microcosm_pubsub.wire.outgoing import OutgoingMessage


@dataclass(slots=True)
class Handling:
    """The message a handler is running for: what follow-up message ids are derived from."""

    # The handled message's idempotency identity (its producer's message id, else the SNS/SQS one)
    message_id: str
    handler: str
    # An idempotent handling's follow-ups always carry derived ids (see produce/message_ids.py)
    idempotent: bool = field(default=False)
    # How many messages this handling has produced so far: the n-th follow-up gets the n-th derived id
    produced: int = field(default=0)


class Outbox(Protocol):
    """Where `produce()` writes instead of publishing, inside a database transaction."""

    def add(self, messages: list[OutgoingMessage]) -> None: ...


handling: ContextVar[Handling | None] = ContextVar("pubsub_handling", default=None)
outbox: ContextVar[Outbox | None] = ContextVar("pubsub_outbox", default=None)


@contextmanager
def handling_message(message_id: str, handler: str, idempotent: bool = False) -> Iterator[Handling]:
    """Mark the code inside as handling `message_id` with `handler` (an idempotent handler's, if so)."""
    current = Handling(message_id, handler, idempotent)
    token = handling.set(current)
    try:
        yield current
    finally:
        handling.reset(token)


@contextmanager
def writing_to(target: Outbox) -> Iterator[Outbox]:
    """Divert every `produce()` inside into `target` (an outbox bound to an open transaction)."""
    token = outbox.set(target)
    try:
        yield target
    finally:
        outbox.reset(token)
