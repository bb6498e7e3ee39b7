"""`assign("a.b").to("c")`, `assign_constant`, `assign_function`, `extract` (kept for the 2.x chain DSL)."""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from microcosm_pubsub.chain.context_decorators import Context, parameters_of
from microcosm_pubsub.chain.exceptions import AttributeNotFound, ChainError


Source = Callable[[Context], Any]


def _step(value: Any, name: str, where: str) -> Any:
    # Mapping keys first, so a payload key such as "items" is not shadowed by dict.items
    if isinstance(value, Mapping) and name in value:
        return value[name]
    try:
        return getattr(value, name)
    except AttributeError:
        pass
    try:
        return value[name]
    except (KeyError, IndexError, TypeError):
        raise AttributeNotFound(where, name) from None


def resolve(context: Context, path: str) -> Any:
    """The value at a dotted path: a context key, then keys or attributes of it (`"message.uri"`)."""
    key, *names = path.split(".")
    value = context[key]
    for name in names:
        value = _step(value, name, key)
        key = f"{key}.{name}"
    return value


def call_with_context(func: Callable[..., Any], context: Context) -> Any:
    """Call `func` with the context if it takes an argument (or a `context` keyword), else with nothing."""
    parameters = parameters_of(func) or []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                  inspect.Parameter.VAR_POSITIONAL)
    if any(parameter.kind in positional for parameter in parameters):
        return func(context)
    if any(parameter.name == "context" for parameter in parameters):
        return func(context=context)
    return func()


class AssignStatement:
    """Store a value in the context under the key given to `.to()`, and return it."""

    def __init__(self, source: Source, label: str, target: str | None = None) -> None:
        self._source = source
        self._label = label
        self.target = target

    def to(self, target: str) -> AssignStatement:
        self.target = target
        return self

    def __call__(self, context: Context) -> Any:
        if self.target is None:
            raise ChainError(f"{self._label} has nowhere to store its value; add .to(\"key\")")
        value = self._source(context)
        context[self.target] = value
        return value

    def __repr__(self) -> str:
        return f"{self._label}.to({self.target!r})"


def assign(path: str) -> AssignStatement:
    """Copy the value at a dotted path (`"arg.data"`, `"message.__class__"`) to another key."""
    return AssignStatement(lambda context: resolve(context, path), f"assign({path!r})")


def assign_constant(value: Any) -> AssignStatement:
    """Store a fixed value."""
    return AssignStatement(lambda context: value, f"assign_constant({value!r})")


def assign_function(func: Callable[..., Any]) -> AssignStatement:
    """Store what `func` returns; it is given the context if it takes an argument."""
    return AssignStatement(lambda context: call_with_context(func, context), f"assign_function({func!r})")


def extract(name: str, key: str, key_property: str | None = None) -> AssignStatement:
    """Store `key` (or `key.key_property`, or a dotted `key`) under `name`."""
    path = f"{key}.{key_property}" if key_property else key
    return assign(path).to(name)
