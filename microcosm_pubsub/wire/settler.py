"""`Settler`: what a received message is settled through (the consumer); the message never settles itself."""
from __future__ import annotations

from typing import Any, Protocol


class Settler(Protocol):
    """Tells SQS what became of a received message: the old API's `ack()`, `nack()` and `with message:`."""

    def ack(self, message: Any) -> None:
        """Delete the message: it is done."""

    def nack(self, message: Any, visibility_timeout_seconds: int | None = None) -> None:
        """Return the message to the queue after a delay (the backoff policy's when None)."""

    def extend_visibility(self, message: Any, seconds: int) -> None:
        """Keep the message hidden from other consumers for `seconds` from now."""

    def settle_block(self, message: Any, error: BaseException | None) -> bool:
        """Settle the outcome of a `with message:` block that ended with `error`; True when it is swallowed."""
