"""Errors of the chain DSL (kept for services written against microcosm-pubsub 2.x), in the package's tree."""
from __future__ import annotations

from typing import Any

from microcosm_pubsub.wire.errors import LookupFailed, PubSubError


class ChainError(PubSubError):
    """A chain or one of its statements is built or used wrongly; the message says how to fix it."""


class ContextKeyNotFound(ChainError, LookupFailed):
    """A link needs a context key that no earlier link or caller set."""

    def __init__(self, key: str, func: Any = None) -> None:
        where = f" during evaluation of `{func}`" if func is not None else ""
        super().__init__(f"Failed to find context key `{key}`{where}; pass it when calling the chain "
                         "or set it in an earlier link")
        self.key = key
        self.func = func


class ContextKeyAlreadySet(ChainError, ValueError):
    """A chain context is write-once: a key, once set, cannot be set again."""

    def __init__(self, key: str, why: str = "") -> None:
        super().__init__(f"context key `{key}` is already set{why} and a chain context is write-once; "
                         "use another name (for example with .as_(), .with_args() or @extracts)")
        self.key = key


class AttributeNotFound(ChainError, AttributeError):
    """A dotted reference such as `assign("a.b")` names a key or attribute that is not there."""

    def __init__(self, parent: str, attribute: str) -> None:
        super().__init__(f"Failed to find attribute `{attribute}` on `{parent}`")
        self.parent = parent
        self.attribute = attribute
