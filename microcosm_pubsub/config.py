"""Typed front for microcosm's configuration decorators."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from microcosm.api import defaults as _defaults
from microcosm.api import typed


T = TypeVar("T")

__all__ = ["defaults", "typed"]


def defaults(**values: Any) -> Callable[[T], T]:
    """`microcosm.api.defaults`, typed: declares a binding's configuration with its defaults."""
    decorator: Callable[[T], T] = _defaults(**values)  # type: ignore[no-untyped-call]
    return decorator
