"""`sqs_message_handler_registry`: the handlers active in a daemon, by media type."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from microcosm.hooks import invoke_resolve_hook

from microcosm_pubsub.errors import DuplicateHandlerError
from microcosm_pubsub.wildcards import lookup


Handler = Callable[[dict[str, Any]], Any]
HANDLES_ATTRIBUTE = "__pubsub_handles__"


class SQSMessageHandlerRegistry:
    """Active handlers by media type: `@handles` functions, plus handler components of the graph."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.functions: list[tuple[str, Handler]] = []
        self.explicit: dict[str, Handler] = {}
        self._active: dict[str, Handler] | None = None

    def register(self, media_type: str, handler: Handler) -> None:
        """Register a handler directly (tests, scripts); wins over decorated ones."""
        self.explicit[media_type] = handler
        self._active = None

    def declare(self, media_type: str, handler: Handler) -> None:
        if (media_type, handler) not in self.functions:
            self.functions.append((media_type, handler))

    def activate(self) -> dict[str, Handler]:
        """Collect the active handlers now.

        :raises DuplicateHandlerError: when two active handlers claim one media type
        """
        invoke_resolve_hook(self)
        active: dict[str, Handler] = {}
        for media_type, handler in self._declared():
            known = active.get(media_type)
            if known is not None and known is not handler:
                raise DuplicateHandlerError(
                    f"media type {media_type} has two handlers, {handler_name(known)} and "
                    f"{handler_name(handler)}; keep one of them out of the daemon's components"
                )
            active[media_type] = handler
        active.update(self.explicit)
        self._active = active
        return active

    def _declared(self) -> Iterator[tuple[str, Handler]]:
        yield from self.functions
        for _, component in list(self.graph.items()):
            for media_type in getattr(type(component), HANDLES_ATTRIBUTE, ()):
                yield media_type, component

    @property
    def active(self) -> dict[str, Handler]:
        return self._active if self._active is not None else self.activate()

    def find(self, media_type: str) -> Handler | None:
        return lookup(self.active, media_type)

    @property
    def media_types(self) -> list[str]:
        return sorted(self.active)


def handler_name(handler: Handler) -> str:
    """A readable name for logs: `module.function` or `module.Class`."""
    target: Any = handler if hasattr(handler, "__qualname__") else type(handler)
    return f"{target.__module__}.{target.__qualname__}"
