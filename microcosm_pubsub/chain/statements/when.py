"""`when("k").then(...).otherwise(...)` (kept for the 2.x chain DSL): branch on a context value's truth."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from microcosm_pubsub.chain.chain import Chain
from microcosm_pubsub.chain.context_decorators import Context, Link
from microcosm_pubsub.chain.statements.branch import Branching, run


class WhenStatement(Branching):
    """Run `.then()` links when the value under `key` is truthy, `.otherwise()` links when not."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.if_true: Chain | None = None

    def then(self, *args: Link, chain: Chain | None = None, links: Iterable[Link] | None = None) -> WhenStatement:
        self.if_true = Chain.make(*args, chain=chain, links=links)
        return self

    def __call__(self, context: Context) -> Any:
        return run(self.if_true if context[self.key] else self.fallback, context)

    def __repr__(self) -> str:
        return f"when({self.key!r})"


def when(key: str) -> WhenStatement:
    """Branch on the truth of a context key."""
    return WhenStatement(key)
