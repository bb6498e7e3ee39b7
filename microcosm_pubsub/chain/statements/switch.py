"""`switch("k").case(v, ...).otherwise(...)` (kept for the 2.x chain DSL): run the first matching branch."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, overload

from microcosm_pubsub.chain.chain import Chain
from microcosm_pubsub.chain.context_decorators import Context, Link
from microcosm_pubsub.chain.statements.branch import Branching, PendingBranch, run


class SwitchStatement(Branching):
    """Compare the value under `key` with each case in order (by ==, so unhashable values work)."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    @overload
    def case(self, value: Any) -> PendingBranch[SwitchStatement]: ...
    @overload
    def case(self, value: Any, *args: Link, chain: Chain | None = None,
             links: Iterable[Link] | None = None) -> SwitchStatement: ...
    def case(
        self, value: Any, *args: Link, chain: Chain | None = None, links: Iterable[Link] | None = None,
    ) -> SwitchStatement | PendingBranch[SwitchStatement]:
        """With links, add the case and return the switch; without, return a branch awaiting `.then(...)`."""
        return self.add_branch(value, f"case({value!r})", args, chain, links)

    def __call__(self, context: Context) -> Any:
        value = context[self.key]
        return run(next((branch for case, branch in self.branches if case == value), self.fallback), context)

    def __repr__(self) -> str:
        return f"switch({self.key!r}) with {len(self.branches)} case(s)"


def switch(key: str) -> SwitchStatement:
    """Branch on the value of a context key."""
    return SwitchStatement(key)
