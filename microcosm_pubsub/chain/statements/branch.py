"""What the branching statements share: running a branch, and the `.then()` of a half-built branch."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from microcosm_pubsub.chain.chain import Chain
from microcosm_pubsub.chain.context_decorators import Context, Link


S = TypeVar("S")


def run(branch: Chain | None, context: Context) -> Any:
    """Run a branch over the same context, or return None when the branch was never given."""
    return None if branch is None else branch(context)


class PendingBranch(Generic[S]):
    """A `.case(value)` or `.catch(Error)` still waiting for its `.then(...)`; it is not a link by itself."""

    def __init__(self, statement: S, add: Callable[[Chain], None], label: str) -> None:
        self._statement = statement
        self._add = add
        self._label = label

    def then(self, *args: Link, chain: Chain | None = None, links: Iterable[Link] | None = None) -> S:
        """Give the branch its links and go back to the statement."""
        self._add(Chain.make(*args, chain=chain, links=links))
        return self._statement

    def __repr__(self) -> str:
        return f"{self._label} (missing .then(...))"
