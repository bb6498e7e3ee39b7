"""`graph.opaque` set for one handler call: microcosm's `initialize`, or its effect in fewer steps."""
from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from copy import deepcopy
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Any


# The microcosm major version whose Opaque internals (`_store`, a ContextVar of NormalizedDict) we rely on
TESTED_MICROCOSM = 4
# Values a shallow copy shares safely: nothing in them can be changed in place
IMMUTABLE = (str, int, float, bool, bytes, type(None))


@cache
def _microcosm_major() -> int | None:
    # Read from the installed package's metadata once per process, not for every dispatcher built
    try:
        return int(version("microcosm").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return None


def _direct_store(opaque: Any) -> ContextVar[Any] | None:
    """The context variable behind microcosm's own `Opaque`, when it is exactly the one we tested."""
    try:
        from microcosm.opaque import NormalizedDict, Opaque
    except ImportError:
        return None
    if type(opaque) is not Opaque or _microcosm_major() != TESTED_MICROCOSM:
        return None
    store = getattr(opaque, "_store", None)
    return store if isinstance(store, ContextVar) and type(store.get()) is NormalizedDict else None


class OpaqueScope:
    """Runs a handler call in `opaque`: `scope.normalized(values)` ahead, `with scope(normalized):` around."""
    # microcosm's own Opaque is set directly (`initialize`'s deep copy is a sixth of our consume cost), others not

    def __init__(self, opaque: Any) -> None:
        self.opaque = opaque
        self.store = _direct_store(opaque)
        if self.store is not None:
            from microcosm.opaque import NormalizedDict
            self.mapping_type: type[dict[Any, Any]] = NormalizedDict

    @property
    def direct(self) -> bool:
        return self.store is not None

    def normalized(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """`values` keyed as the opaque stores them (case-folded), for `__call__`."""
        if self.store is None:
            return values
        return {key.casefold() if isinstance(key, str) else key: value for key, value in values.items()}

    def __call__(self, normalized: Mapping[str, Any]) -> AbstractContextManager[None]:
        if self.store is None:
            context: AbstractContextManager[None] = self.opaque.initialize(lambda: normalized)
            return context
        return _Scoped(self.store, self.mapping_type, normalized)


class _Scoped:
    """Sets the opaque values on enter, restores the previous ones on exit (an exception included)."""

    __slots__ = ("mapping_type", "store", "token", "values")

    def __init__(self, store: ContextVar[Any], mapping_type: type[dict[Any, Any]], values: Mapping[str, Any]) -> None:
        self.store = store
        self.mapping_type = mapping_type
        self.values = values
        self.token: Token[Any] | None = None

    def __enter__(self) -> None:
        current = self.store.get()
        # Built without NormalizedDict.__init__, which re-keys what is already case-folded
        fresh = self.mapping_type.__new__(self.mapping_type)
        if current:
            if not all(type(value) in IMMUTABLE for value in current.values()):
                current = deepcopy(current)
            dict.update(fresh, current)
        dict.update(fresh, self.values)
        self.token = self.store.set(fresh)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None,
    ) -> None:
        if self.token is not None:
            self.store.reset(self.token)
            self.token = None
