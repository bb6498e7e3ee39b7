"""`try_chain(...).catch(Error, ...).otherwise(...)` (kept for the 2.x chain DSL): branch on the error raised."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, overload

from microcosm_pubsub.chain.chain import Chain
from microcosm_pubsub.chain.context_decorators import Context, Link
from microcosm_pubsub.chain.statements.branch import Branching, PendingBranch, run


class TryChainStatement(Branching):
    """Run links; on an error whose type is exactly a caught one, run that branch; with none, `.otherwise()`."""
    # Exact types, as in 2.x: a chain that catches `KeyError` must not start swallowing `ContextKeyNotFound`

    def __init__(self, attempt: Chain) -> None:
        super().__init__()
        self.attempt = attempt

    @overload
    def catch(self, error_type: type[BaseException]) -> PendingBranch[TryChainStatement]: ...
    @overload
    def catch(self, error_type: type[BaseException], *args: Link, chain: Chain | None = None,
              links: Iterable[Link] | None = None) -> TryChainStatement: ...
    def catch(
        self, error_type: type[BaseException], *args: Link, chain: Chain | None = None,
        links: Iterable[Link] | None = None,
    ) -> TryChainStatement | PendingBranch[TryChainStatement]:
        """With links, add the handler and return the statement; without, return a branch awaiting `.then()`."""
        return self.add_branch(error_type, f"catch({error_type.__name__})", args, chain, links)

    def __call__(self, context: Context) -> Any:
        try:
            result = self.attempt(context)
        except Exception as error:
            handler = next((branch for caught, branch in self.branches if type(error) is caught), None)
            if handler is None:
                raise
            return handler(context)
        return result if self.fallback is None else run(self.fallback, context)

    def __repr__(self) -> str:
        caught = ", ".join(caught.__name__ for caught, _ in self.branches)
        return f"try_chain(...).catch({caught})"


def try_chain(*args: Link, chain: Chain | None = None, links: Iterable[Link] | None = None) -> TryChainStatement:
    """Run links and branch on the type of the error they raise."""
    return TryChainStatement(Chain.make(*args, chain=chain, links=links))
