"""`graph.opaque` set for one handler call: microcosm's `initialize`, or the same done in fewer steps.

microcosm's `opaque.initialize(func, ...)` deep-copies the current opaque values, sets the copy in
its context variable, writes `func(...)`'s values into it one key at a time through the case-folding
mapping, and restores the previous values afterwards. Per message that is about a sixth of our
consume cost (the deep copy of a dict subclass goes through `copy`'s reduce protocol).

`scope_for(opaque)` gives a function `(values) -> context manager` with the same effect: for
microcosm's own `Opaque` in the major version we tested (`TESTED_MICROCOSM`), it builds the new
mapping directly (a plain copy when every current value is immutable, a deep copy otherwise; keys
case-folded as `NormalizedDict` does) and sets it in the same context variable, so handler threads
stay isolated and nesting works as before. Any other `opaque` (a service's own binding, another
microcosm) gets `initialize` itself. `test_opaque_scope.py` pins the two to the same behaviour.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from copy import deepcopy
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Any


# The microcosm major version whose Opaque internals (`_store`, a ContextVar of NormalizedDict) we rely on
TESTED_MICROCOSM = 4
# Values a shallow copy shares safely: nothing in them can be changed in place
IMMUTABLE = (str, int, float, bool, bytes, type(None))

Scope = Callable[[Mapping[str, Any]], AbstractContextManager[None]]


def _microcosm_major() -> int | None:
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
    if not isinstance(store, ContextVar) or type(store.get()) is not NormalizedDict:
        return None
    return store


def scope_for(opaque: Any) -> Scope:
    """How a handler call runs with `values` in `opaque`; chosen once (the dispatcher keeps it)."""
    store = _direct_store(opaque)
    if store is None:
        def initialized(values: Mapping[str, Any]) -> AbstractContextManager[None]:
            context: AbstractContextManager[None] = opaque.initialize(lambda: values)
            return context
        return initialized
    from microcosm.opaque import NormalizedDict

    def scoped(values: Mapping[str, Any]) -> AbstractContextManager[None]:
        return _Scoped(store, NormalizedDict, values)
    return scoped


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
        if not all(type(value) in IMMUTABLE for value in current.values()):
            current = deepcopy(current)
        # Built without NormalizedDict.__init__, which re-keys what is already case-folded
        fresh = self.mapping_type.__new__(self.mapping_type)
        dict.update(fresh, current)
        for key, value in self.values.items():
            dict.__setitem__(fresh, key.casefold() if isinstance(key, str) else key, value)
        self.token = self.store.set(fresh)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None,
    ) -> None:
        if self.token is not None:
            self.store.reset(self.token)
            self.token = None
