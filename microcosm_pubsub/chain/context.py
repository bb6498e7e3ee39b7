"""Write-once chain context (kept for services written against microcosm-pubsub 2.x's chain DSL)."""
from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from microcosm_pubsub.chain.exceptions import AttributeNotFound, ContextKeyAlreadySet, ContextKeyNotFound


CONTEXT = "context"
RESERVED = " (it always reads as the context itself)"


class SafeContext(MutableMapping[str, Any]):
    """A dict whose keys can be set once, readable as attributes too; the key `context` reads as the context itself."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._values: dict[str, Any] = {}
        self.update(*args, **kwargs)

    def _lookup(self, key: str) -> Any:
        return self._values[key]

    def _is_set(self, key: str) -> bool:
        return key in self._values

    def __getitem__(self, key: str) -> Any:
        if key == CONTEXT:
            return self
        try:
            return self._lookup(key)
        except KeyError:
            raise ContextKeyNotFound(key) from None

    def __setitem__(self, key: str, value: Any) -> None:
        if key == CONTEXT:
            raise ContextKeyAlreadySet(key, RESERVED)
        if self._is_set(key):
            raise ContextKeyAlreadySet(key)
        self._values[key] = value

    def __delitem__(self, key: str) -> None:
        # Only keys set here can go: `binds` removes the temporary name it added
        try:
            del self._values[key]
        except KeyError:
            raise ContextKeyNotFound(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __getattr__(self, name: str) -> Any:
        # Called only when normal lookup fails; internals and dunders must stay AttributeErrors
        if name.startswith("__") or name in ("_values", "_parent"):
            raise AttributeError(name)
        if name != CONTEXT and name not in self:
            raise AttributeNotFound("context", name)
        return self[name]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self)!r})"

    def assign(self, key: str, value: Any) -> SafeContext:
        """Set `key` even if it is already set (the one way to overwrite, kept from the old API)."""
        if key == CONTEXT:
            raise ContextKeyAlreadySet(key, RESERVED)
        self._values[key] = value
        return self

    def local(self, *args: Any, **kwargs: Any) -> ScopedSafeContext:
        """A child context that reads this one and keeps its own keys to itself."""
        return ScopedSafeContext(self, *args, **kwargs)


class ScopedSafeContext(SafeContext):
    """A child context: reads fall through to the parent; keys the parent has cannot be set."""

    def __init__(self, parent: MutableMapping[str, Any], *args: Any, **kwargs: Any) -> None:
        self._parent = parent
        super().__init__(*args, **kwargs)

    def _lookup(self, key: str) -> Any:
        return self._values[key] if key in self._values else self._parent[key]

    def _is_set(self, key: str) -> bool:
        return key in self._values or key in self._parent

    def __iter__(self) -> Iterator[str]:
        yield from self._values
        yield from (key for key in self._parent if key not in self._values)

    @property
    def parent(self) -> MutableMapping[str, Any]:
        return self._parent
