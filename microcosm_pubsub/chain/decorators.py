"""`@extracts` and `@binds` (kept for the 2.x chain DSL): where a link's result goes, which keys it reads."""
from __future__ import annotations

from collections.abc import Callable
from functools import WRAPPER_ASSIGNMENTS, wraps
from typing import Any, TypeVar

from microcosm_pubsub.chain.exceptions import ChainError


EXTRACTS = "_extracts"
BINDS = "_binds"
MARKS = (EXTRACTS, BINDS)

F = TypeVar("F", bound=Callable[..., Any])


def wrap(func: Callable[..., Any], call: Callable[..., Any]) -> Callable[..., Any]:
    """Make `call` stand in for `func`: same name and signature (through `__wrapped__`), same marks."""
    wrapper = wraps(func, assigned=WRAPPER_ASSIGNMENTS, updated=())(call)
    # The marks may be on `func`'s class (a marked class marks its instances)
    for mark in MARKS:
        if hasattr(func, mark):
            setattr(wrapper, mark, getattr(func, mark))
    return wrapper


def _mark(func: F, mark: str, value: Any) -> F:
    if isinstance(func, (staticmethod, classmethod)):
        # Written above @staticmethod/@classmethod in a class body: mark the function, keep the descriptor
        return type(func)(_mark(func.__func__, mark, value))
    if isinstance(func, type):
        # A marked class marks its instances, which are the links
        setattr(func, mark, value)
        return func
    if not callable(func):
        raise ChainError(f"@{mark.strip('_')} decorates a function, method or class, not {func!r}")
    # Bound methods refuse new attributes, and marking a copy leaves the original as it was
    marked = wrap(func, lambda *args, **kwargs: func(*args, **kwargs))
    setattr(marked, mark, value)
    return marked  # type: ignore[return-value]


def extracts(*keys: str) -> Callable[[F], F]:
    """Store the link's result in the context: under `key`, or one key per item when several are given."""
    if not keys:
        raise ChainError("@extracts needs at least one context key to store the result under")

    def decorate(func: F) -> F:
        return _mark(func, EXTRACTS, keys)

    return decorate


def binds(**renames: str) -> Callable[[F], F]:
    """While the link runs, make the value of context key `old` readable as `new` (`@binds(old="new")`)."""

    def decorate(func: F) -> F:
        return _mark(func, BINDS, dict(renames))

    return decorate
