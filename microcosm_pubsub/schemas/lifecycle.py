"""`pubsub_lifecycle_change`: the lifecycle verbs a graph knows, built-in and custom."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from microcosm_pubsub.schemas.naming import BUILT_IN_VERBS, CHANGED, CREATED, DELETED, check_verb


class LifecycleChange(set[str]):
    """A mutable set of verbs (`created`, `changed`, `deleted`); `.add("archived")` adds a custom one."""

    Created = CREATED
    Changed = CHANGED
    Deleted = DELETED

    def __init__(self, graph: Any = None, verbs: Iterable[str] = BUILT_IN_VERBS) -> None:
        super().__init__(check_verb(verb) for verb in verbs)

    def add(self, verb: str) -> None:
        """Know a custom verb (`ValueError` when it is not a word)."""
        super().add(check_verb(verb))

    def verb_of(self, media_type: str) -> str | None:
        """The first dot-separated segment of the media type that is a known verb, if any."""
        return next((segment for segment in media_type.split(".") if segment in self), None)

    def matches(self, media_type: str) -> bool:
        """Whether the media type contains one of these verbs."""
        return self.verb_of(media_type) is not None
