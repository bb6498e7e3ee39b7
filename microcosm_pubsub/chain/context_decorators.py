"""How a chain (kept for the 2.x chain DSL) runs one link: inject arguments, bind names, store results."""
from __future__ import annotations

import inspect
from collections.abc import Callable, MutableMapping
from typing import Any

from microcosm_pubsub.chain.decorators import BINDS, EXTRACTS, wrap
from microcosm_pubsub.chain.exceptions import ChainError, ContextKeyAlreadySet, ContextKeyNotFound


Context = MutableMapping[str, Any]
Link = Callable[..., Any]

EXTRACT_PREFIX = "extract_"
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def parameters_of(func: Link) -> list[inspect.Parameter] | None:
    """The parameters a caller fills (no `self`/`cls`), or None when Python cannot tell (some builtins)."""
    try:
        return list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None


def _read(context: Context, parameter: inspect.Parameter, func: Link) -> Any:
    if parameter.name in context:
        return context[parameter.name]
    if parameter.default is not inspect.Parameter.empty:
        return parameter.default
    if parameter.name == "context":
        # A plain dict has no self-reference; a SafeContext answers this key itself
        return context
    raise ContextKeyNotFound(parameter.name, func)


def get_from_context(context: Context, func: Link) -> Link:
    """Fill each of `func`'s parameters not passed by the caller from the context key of the same name."""
    parameters = parameters_of(func)
    if parameters is None:
        return func

    def call(*args: Any, **kwargs: Any) -> Any:
        positional, keywords = list(args), dict(kwargs)
        for index, parameter in enumerate(parameters):
            if parameter.kind in _VARIADIC or parameter.name in keywords:
                continue
            if parameter.kind in _POSITIONAL and index < len(args):
                continue
            value = _read(context, parameter, func)
            if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
                positional.append(value)
            else:
                keywords[parameter.name] = value
        return func(*positional, **keywords)

    return wrap(func, call)


def save_to_context(context: Context, func: Link) -> Link:
    """Store `func`'s result under the key(s) named by its `@extracts` mark; unmarked links are unchanged."""
    keys: tuple[str, ...] | None = getattr(func, EXTRACTS, None)
    return _storing(context, func, keys) if keys else func


def save_to_context_by_func_name(context: Context, func: Link) -> Link:
    """Store the result of a function named `extract_<key>` under `<key>`, unless it is marked @extracts."""
    name = getattr(func, "__name__", None)
    if hasattr(func, EXTRACTS) or not isinstance(name, str) or not name.startswith(EXTRACT_PREFIX):
        return func
    return _storing(context, func, (name[len(EXTRACT_PREFIX):],))


def _storing(context: Context, func: Link, keys: tuple[str, ...]) -> Link:
    """`func`, storing its result under the one key, or one item of it under each of several."""

    def call(*args: Any, **kwargs: Any) -> Any:
        value = func(*args, **kwargs)
        if len(keys) == 1:
            context[keys[0]] = value
            return value
        try:
            values = list(value)
        except TypeError:
            values = []
        if len(values) != len(keys):
            raise ChainError(f"`{func}` is marked @extracts{keys} and must return {len(keys)} values, "
                             f"one per key, but returned {value!r}")
        for key, item in zip(keys, values, strict=True):
            context[key] = item
        return value

    return wrap(func, call)


def temporarily_replace_context_keys(context: Context, func: Link) -> Link:
    """While `func` runs, copy each `@binds(old="new")` key to its new name, and remove it afterwards."""
    renames: dict[str, str] | None = getattr(func, BINDS, None)
    if not renames:
        return func

    def call(*args: Any, **kwargs: Any) -> Any:
        for old, new in renames.items():
            if old not in context:
                raise ContextKeyNotFound(old, func)
            if new in context:
                raise ContextKeyAlreadySet(new)
        added: list[str] = []
        try:
            for old, new in renames.items():
                context[new] = context[old]
                added.append(new)
            return func(*args, **kwargs)
        finally:
            for new in added:
                del context[new]

    return wrap(func, call)
