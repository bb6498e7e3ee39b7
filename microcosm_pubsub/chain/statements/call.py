"""`call(f).with_args(x="key").as_("result")` (kept for the 2.x chain DSL): one function in a child scope."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from microcosm_pubsub.chain.chain import Chain
from microcosm_pubsub.chain.context import ScopedSafeContext
from microcosm_pubsub.chain.context_decorators import Context
from microcosm_pubsub.chain.exceptions import ContextKeyAlreadySet


class CallStatement:
    """Run `func` in a child context holding its `.with_args()` values; store the result under `.as_()`."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self._chain = Chain(func)
        self._func = func
        self.arguments: dict[str, Any] = {}
        self.result_key: str | None = None

    def with_args(self, **arguments: Any) -> CallStatement:
        """Each value names a context key to read, or, when no such key is set, is passed as it is."""
        self.arguments = arguments
        return self

    def as_(self, result_key: str) -> CallStatement:
        self.result_key = result_key
        return self

    def __call__(self, context: Context) -> Any:
        local = ScopedSafeContext(context)
        for name, source in self.arguments.items():
            if name in context:
                raise ContextKeyAlreadySet(name, f" where call({self._func!r}) would hide it with an argument")
            local[name] = context[source] if isinstance(source, str) and source in context else source
        result = self._chain(local)
        if self.result_key is not None:
            context[self.result_key] = result
        return result

    def __repr__(self) -> str:
        return f"call({self._func!r}).with_args(**{self.arguments!r}).as_({self.result_key!r})"


def call(func: Callable[..., Any]) -> CallStatement:
    """Call `func` once with arguments picked for this call, e.g. the same function twice on two keys."""
    return CallStatement(func)
