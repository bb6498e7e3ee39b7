"""`Chain`: run links in order over one write-once context (kept for microcosm-pubsub 2.x services)."""
from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from microcosm_pubsub.chain.context import SafeContext
from microcosm_pubsub.chain.context_decorators import (
    Link,
    get_from_context,
    save_to_context,
    save_to_context_by_func_name,
    temporarily_replace_context_keys,
)
from microcosm_pubsub.chain.exceptions import ChainError


# Innermost first: arguments are read, then names bound around the call, then results stored
LINK_DECORATORS: tuple[Callable[[MutableMapping[str, Any], Link], Link], ...] = (
    get_from_context, temporarily_replace_context_keys, save_to_context, save_to_context_by_func_name,
)


class Chain:
    """Callables that share one context: each reads its arguments from it by name, and may add to it."""

    def __init__(self, *links: Link) -> None:
        for index, link in enumerate(links):
            if not callable(link):
                raise ChainError(f"chain link #{index} is {link!r}, which cannot be called; a link is a function, "
                                 "a Chain or a finished statement (did a .case()/.catch() miss .then()?)")
        self.links: list[Link] = list(links)

    @classmethod
    def make(cls, *args: Link, chain: Chain | None = None, links: Iterable[Link] | None = None) -> Chain:
        """A chain from `chain=`, `links=` or positional links, whichever is given (statements accept all three)."""
        if chain is not None:
            return chain
        if links is not None:
            return cls(*links)
        if args:
            return cls(*args)
        raise ChainError("nothing to run: pass one or more links, `chain=` or `links=`")

    def __call__(self, context: MutableMapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """Run every link over `context` (a new `SafeContext` if None) after adding `kwargs`; the last result."""
        if context is None:
            context = SafeContext()
        context.update(kwargs)
        result = None
        for link in self.links:
            result = self.decorate(context, link)()
        return result

    def decorate(self, context: MutableMapping[str, Any], link: Link) -> Link:
        """`link` wired to `context`: ready to call with no arguments."""
        for decorator in LINK_DECORATORS:
            link = decorator(context, link)
        return link

    def __len__(self) -> int:
        return len(self.links)

    def __repr__(self) -> str:
        return f"Chain({', '.join(map(repr, self.links))})"
