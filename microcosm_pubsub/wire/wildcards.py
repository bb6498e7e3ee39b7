"""Media-type keys with a final `.*` wildcard, which matches one dot-free segment."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar


T = TypeVar("T")


def candidate_keys(media_type: str) -> Iterator[str]:
    """The registry keys that may hold a media type: itself, then its wildcard."""
    yield media_type
    head, dot, _ = media_type.rpartition(".")
    if dot:
        yield f"{head}.*"


def lookup(table: dict[str, T], media_type: str) -> T | None:
    # The exact key first without the generator: this runs once per message
    if media_type in table:
        return table[media_type]
    for key in candidate_keys(media_type):
        if key in table:
            return table[key]
    return None
