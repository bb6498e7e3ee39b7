"""Idempotency stores: the records they keep and what the guard asks of them (memory, SQL, DynamoDB)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"


@dataclass(frozen=True, slots=True)
class Record:
    """One handling's record: `key` is `<handler name>:<key>`; times are epoch seconds."""

    key: str
    status: str
    payload_hash: str
    # The claim's token (uuid4 hex): only its owner may extend, complete or release it
    owner: str
    lease_expires: float
    expires: float
    # The outcome a completed handling settled with (its name: SUCCEEDED, SKIPPED)
    outcome: str | None = None

    def live(self, now: float) -> bool:
        """Whether the record still stops a claim: completed and unexpired, or leased and its lease running."""
        if self.expires < now:
            return False
        return self.status == COMPLETED or self.lease_expires >= now


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim's answer: `won`, or the record that stopped it (None when the store could not say which)."""

    won: bool
    record: Record | None = None


class StoreUnavailable(Exception):
    """A claim could not be decided now (a lock held past the wait): try the message again later."""


class Attempt(Protocol):
    """One handling's conversation with the store: claim, then complete or release (SQL: one transaction)."""

    def claim(self, record: Record, now: float) -> Claim: ...

    def transaction(self) -> Any:
        """What the handler writes its own effects through, committed with the completion (None: nothing)."""

    def complete(self, key: str, owner: str, outcome: str, expires: float, now: float) -> bool:
        """Mark the claim COMPLETED; False when `owner` no longer holds it (nothing of the handling's was written)."""

    def release(self, key: str, owner: str) -> None:
        """Give the claim up (the handler failed), so that a later delivery may claim it at once."""


class Store(Protocol):
    """Where idempotency records live."""

    # Shown in logs and errors
    name: str
    # The handler's own writes commit with the record (SQL's transaction, DynamoDB's TransactWriteItems)
    transactional: bool
    # Calls leave the process (an async handler's store calls run on a worker thread)
    blocking: bool
    # Round trips to the store so far (the cost per message the benchmark reports)
    operations: int

    def check(self) -> None:
        """Raise `ConfigurationError` naming the fix when the store cannot be used (missing table, unreachable)."""

    def attempt(self, lease_seconds: float) -> Attempt: ...

    def get_many(self, keys: Sequence[str]) -> dict[str, Record]:
        """The records of `keys` that exist, read at once (one call for a receive's keys where the store allows)."""

    def extend(self, key: str, owner: str, lease_expires: float) -> bool:
        """Move the lease of `owner`'s claim on; False when it no longer holds it."""
