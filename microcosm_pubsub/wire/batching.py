"""Splitting work into AWS batch calls: by count (`chunks`), or by count and bytes (`sized_batches`)."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from microcosm_pubsub.wire.limits import MAX_BATCH_ENTRIES


T = TypeVar("T")

__all__ = ["chunks", "sized_batches"]


def chunks(items: Sequence[T], size: int = MAX_BATCH_ENTRIES) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items (the last may be shorter)."""
    if size < 1:
        raise ValueError(f"chunk size is {size}; it must be at least 1")
    for start in range(0, len(items), size):
        yield items[start:start + size]


def sized_batches(
    items: Iterable[T], size_of: Callable[[T], int], max_bytes: int, max_count: int = MAX_BATCH_ENTRIES,
    base_bytes: int = 0,
) -> Iterator[list[T]]:
    """Items in order, in batches of at most `max_count` items and `max_bytes` (from `base_bytes`) in total."""
    # An item too large to share a batch goes alone: the receiver then refuses that one entry, not the batch
    if max_count < 1:
        raise ValueError(f"batch count is {max_count}; it must be at least 1")
    batch: list[T] = []
    total = base_bytes
    for item in items:
        size = size_of(item)
        if batch and (len(batch) == max_count or total + size > max_bytes):
            yield batch
            batch, total = [], base_bytes
        batch.append(item)
        total += size
    if batch:
        yield batch
