"""`switch("k").case(v, ...).otherwise(...)` (kept for the 2.x chain DSL): run the first matching branch."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, overload

from microcosm_pubsub.chain.chain import Chain
from microcosm_pubsub.chain.context_decorators import Context, Link
from microcosm_pubsub.chain.statements.branch import PendingBranch, run


class SwitchStatement:
    """Compare the value under `key` with each case in order (by ==, so unhashable values work)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.cases: list[tuple[Any, Chain]] = []
        self.fallback: Chain | None = None

    @overload
    def case(self, value: Any) -> PendingBranch[SwitchStatement]: ...
    @overload
    def case(self, value: Any, *args: Link, chain: Chain | None = None,
             links: Iterable[Link] | None = None) -> SwitchStatement: ...
    def case(
        self, value: Any, *args: Link, chain: Chain | None = None, links: Iterable[Link] | None = None,
    ) -> SwitchStatement | PendingBranch[SwitchStatement]:
        """With links, add the case and return the switch; without, return a branch awaiting `.then(...)`."""
        if not args and chain is None and links is None:
            return PendingBranch(self, lambda branch: self.cases.append((value, branch)), f"case({value!r})")
        self.cases.append((value, Chain.make(*args, chain=chain, links=links)))
        return self

    def otherwise(self, *args: Link, chain: Chain | None = None,
                  links: Iterable[Link] | None = None) -> SwitchStatement:
        self.fallback = Chain.make(*args, chain=chain, links=links)
        return self

    def __call__(self, context: Context) -> Any:
        value = context[self.key]
        branch = next((branch for case, branch in self.cases if case == value), self.fallback)
        return run(branch, context)

    def __repr__(self) -> str:
        return f"switch({self.key!r}) with {len(self.cases)} case(s)"


def switch(key: str) -> SwitchStatement:
    """Branch on the value of a context key."""
    return SwitchStatement(key)
