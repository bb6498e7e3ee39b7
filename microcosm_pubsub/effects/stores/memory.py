"""The in-memory idempotency store: for unit tests and single-process workers only (nothing survives a restart)."""
from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

from microcosm_pubsub.effects.stores import COMPLETED, IN_PROGRESS, Claim, Record


# Expired records are dropped once this many claims were made since the last sweep
SWEEP_EVERY = 10_000


class MemoryStore:
    """Records in a dict under a lock; every call is one operation."""

    name = "memory"
    transactional = False
    blocking = False

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.lock = threading.Lock()
        self.operations = 0
        self._claims = 0

    def check(self) -> None:
        return None

    def attempt(self, lease_seconds: float) -> MemoryAttempt:
        return MemoryAttempt(self)

    def get_many(self, keys: Sequence[str]) -> dict[str, Record]:
        with self.lock:
            self.operations += 1
            return {key: record for key in keys if (record := self.records.get(key)) is not None}

    def extend(self, key: str, owner: str, lease_expires: float) -> bool:
        with self.lock:
            self.operations += 1
            record = self.records.get(key)
            if record is None or record.owner != owner or record.status != IN_PROGRESS:
                return False
            self.records[key] = replace(record, lease_expires=lease_expires)
            return True

    def claim(self, record: Record, now: float) -> Claim:
        with self.lock:
            self.operations += 1
            self._claims += 1
            if self._claims % SWEEP_EVERY == 0:
                self.records = {key: kept for key, kept in self.records.items() if kept.expires >= now}
            found = self.records.get(record.key)
            if found is not None and found.live(now):
                return Claim(False, found)
            self.records[record.key] = record
            return Claim(True, record)

    def complete(self, key: str, owner: str, outcome: str, expires: float) -> bool:
        with self.lock:
            self.operations += 1
            record = self.records.get(key)
            if record is None or record.owner != owner or record.status != IN_PROGRESS:
                return False
            self.records[key] = replace(record, status=COMPLETED, outcome=outcome, expires=expires)
            return True

    def release(self, key: str, owner: str) -> None:
        with self.lock:
            self.operations += 1
            record = self.records.get(key)
            if record is not None and record.owner == owner and record.status == IN_PROGRESS:
                del self.records[key]


class MemoryAttempt:
    """A handling on the memory store: each step at once, nothing held between them."""

    __slots__ = ("store",)

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def claim(self, record: Record, now: float) -> Claim:
        return self.store.claim(record, now)

    def transaction(self) -> None:
        return None

    def complete(self, key: str, owner: str, outcome: str, expires: float, now: float) -> bool:
        return self.store.complete(key, owner, outcome, expires)

    def release(self, key: str, owner: str) -> None:
        self.store.release(key, owner)
