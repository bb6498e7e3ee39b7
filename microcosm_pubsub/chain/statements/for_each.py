"""`for_each("item").in_("items").do(...)` (kept for the 2.x chain DSL): links once per item."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from microcosm_pubsub.chain.chain import Chain
from microcosm_pubsub.chain.context import ScopedSafeContext
from microcosm_pubsub.chain.context_decorators import Context, Link
from microcosm_pubsub.chain.exceptions import ChainError


class ForEachStatement:
    """Each item runs in its own child context (so per-item keys do not collide) under the name `key`."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.items_key: str | None = None
        self.list_key = f"{key}_list"
        self._body: Chain | None = None
        self._keep: Callable[[Any], bool] = lambda result: True

    def in_(self, items_key: str) -> ForEachStatement:
        """The context key holding the items."""
        self.items_key = items_key
        return self

    def do(self, *args: Link, chain: Chain | None = None, links: Iterable[Link] | None = None) -> ForEachStatement:
        self._body = Chain.make(*args, chain=chain, links=links)
        return self

    def as_(self, list_key: str) -> ForEachStatement:
        """Store the results under `list_key` instead of `<key>_list`."""
        self.list_key = list_key
        return self

    def when(self, keep: Callable[[Any], bool]) -> ForEachStatement:
        """Keep only the results for which `keep(result)` is true."""
        self._keep = keep
        return self

    def when_not_none(self) -> ForEachStatement:
        return self.when(lambda result: result is not None)

    def __call__(self, context: Context) -> list[Any]:
        if self.items_key is None or self._body is None:
            raise ChainError(f"for_each({self.key!r}) needs both .in_(\"items_key\") and .do(...)")
        items = context[self.items_key]
        try:
            iterator = iter(items)
        except TypeError:
            raise ChainError(f"for_each({self.key!r}) needs an iterable under `{self.items_key}`, "
                             f"got {items!r}") from None
        results = [self._body(ScopedSafeContext(context, {self.key: item})) for item in iterator]
        kept = [result for result in results if self._keep(result)]
        context[self.list_key] = kept
        return kept

    def __repr__(self) -> str:
        return f"for_each({self.key!r}).in_({self.items_key!r}).as_({self.list_key!r})"


def for_each(key: str) -> ForEachStatement:
    """Loop over a list in the context: `for_each("item").in_("items").do(lambda item: ...)`."""
    return ForEachStatement(key)
