"""What the branching statements share: branches chosen by a key, `.otherwise()`, and a half-built branch."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from microcosm_pubsub.chain.chain import Chain
from microcosm_pubsub.chain.context_decorators import Context, Link


S = TypeVar("S", bound="Branching")


def run(branch: Chain | None, context: Context) -> Any:
    """Run a branch over the same context, or return None when the branch was never given."""
    return None if branch is None else branch(context)


class Branching:
    """Branches in the order given, each under a key (a case's value, a caught error type), and a fallback."""

    def __init__(self) -> None:
        self.branches: list[tuple[Any, Chain]] = []
        self.fallback: Chain | None = None

    def add_branch(self: S, key: Any, label: str, args: tuple[Link, ...], chain: Chain | None,
                   links: Iterable[Link] | None) -> S | PendingBranch[S]:
        """With links, add the branch and return the statement; without, a branch awaiting `.then(...)`."""
        if not args and chain is None and links is None:
            return PendingBranch(self, key, label)
        self.branches.append((key, Chain.make(*args, chain=chain, links=links)))
        return self

    def otherwise(self: S, *args: Link, chain: Chain | None = None, links: Iterable[Link] | None = None) -> S:
        self.fallback = Chain.make(*args, chain=chain, links=links)
        return self


class PendingBranch(Generic[S]):
    """A `.case(value)` or `.catch(Error)` still waiting for its `.then(...)`; it is not a link by itself."""

    def __init__(self, statement: S, key: Any, label: str) -> None:
        self._statement = statement
        self._key = key
        self._label = label

    def then(self, *args: Link, chain: Chain | None = None, links: Iterable[Link] | None = None) -> S:
        """Give the branch its links and go back to the statement."""
        self._statement.branches.append((self._key, Chain.make(*args, chain=chain, links=links)))
        return self._statement

    def __repr__(self) -> str:
        return f"{self._label} (missing .then(...))"
