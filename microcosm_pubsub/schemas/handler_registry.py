"""`sqs_message_handler_registry`: the handlers active in a daemon, by media type (and major version)."""
# A `@handles` handler is active only once bound (a component of the daemon's graph), so a code base with
# several daemons keeps each to its own handlers; `@handles_foreign_event` functions need no binding.
# A handler of a major above 1 is kept under `versioned_key(media_type, major)`; major 1 under the media type
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from microcosm.hooks import invoke_resolve_hook

from microcosm_pubsub.schemas.versioning import major_of, versioned_key, versioned_lookup
from microcosm_pubsub.wire.errors import DuplicateHandlerError, HandlerNotFoundError
from microcosm_pubsub.wire.wildcards import lookup


Handler = Callable[[dict[str, Any]], Any]
HANDLES_ATTRIBUTE = "__pubsub_handles__"


class SQSMessageHandlerRegistry:
    """Declared handlers, and the active ones by media type."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.functions: list[tuple[str, Handler]] = []
        # Classes declared with `@handles`: active through their components, listed to name the inactive ones
        self.classes: list[tuple[str, type]] = []
        # Functions active without a binding (`@handles_foreign_event`), under the bound handlers
        self.standalone: dict[str, Handler] = {}
        self.explicit: dict[str, Handler] = {}
        self._bound: dict[str, Handler] | None = None

    def register(self, media_type: str, handler: Handler, version: int | str | None = None) -> None:
        """Register a handler directly (tests, scripts): active in this graph, winning over bound ones.

        `version` names the major it handles (a number or "major.minor"); none is major 1.
        """
        key = versioned_key(media_type, major_of(version))
        self.declare(key, handler)
        self.explicit[key] = handler

    def declare(self, media_type: str, handler: Handler) -> None:
        """Record a decorated handler; it becomes active when bound."""
        if not any(known == media_type and existing is handler for known, existing in self.functions):
            self.functions.append((media_type, handler))

    def declare_class(self, media_type: str, handler_class: type) -> None:
        """Record a class declared with `@handles`: its instances among the components are active."""
        if (media_type, handler_class) not in self.classes:
            self.classes.append((media_type, handler_class))

    def declare_standalone(self, media_type: str, handler: Handler) -> None:
        """Record a function active with no binding, unless a bound handler claims its media type."""
        # The same function declared again (by module and name, as on a reload) replaces it
        self.declare(media_type, handler)
        known = self.standalone.get(media_type)
        if known is not None and known is not handler and handler_name(known) != handler_name(handler):
            raise DuplicateHandlerError(f"media type {media_type} has two handlers, {handler_name(known)} and "
                                        f"{handler_name(handler)}; declare one of them for another media type")
        self.standalone[media_type] = handler

    def compute_bound_handlers(self, components: Iterable[str] | None = None) -> dict[str, Handler]:
        """The handlers among `components` (binding names; all built components when None), by media type."""
        invoke_resolve_hook(self)
        bound: dict[str, Handler] = {}
        for media_type, handler in self._bound_pairs(components):
            known = bound.get(media_type)
            if known is not None and known is not handler:
                raise DuplicateHandlerError(f"media type {media_type} has two handlers, {handler_name(known)} and "
                                            f"{handler_name(handler)}; keep one of them out of the daemon's components")
            bound[media_type] = handler
        return bound

    def _bound_pairs(self, names: Iterable[str] | None) -> Iterator[tuple[str, Handler]]:
        if names is None:
            components = [component for _, component in list(self.graph.items())]
        else:
            components = [getattr(self.graph, name) for name in names]
        for component in components:
            for media_type, handler in self.functions:
                if handler is component or handler is type(component):
                    yield media_type, component
            for media_type in getattr(type(component), HANDLES_ATTRIBUTE, ()):
                yield media_type, component

    def activate(self, components: Iterable[str] | None = None) -> dict[str, Handler]:
        """Fix the bound handlers now (a daemon's components; all built components when None)."""
        self._bound = self.with_standalone(self.compute_bound_handlers(components))
        return self.active

    def with_standalone(self, bound: dict[str, Handler]) -> dict[str, Handler]:
        """`bound`, plus the functions active without a binding for the media types it leaves."""
        invoke_resolve_hook(self)
        return {**self.standalone, **bound} if self.standalone else bound

    def inactive(self, active: Iterable[str]) -> list[tuple[str, Any]]:
        """Handlers declared for a media type that none of `active` (media types) covers, in declaration order."""
        invoke_resolve_hook(self)
        covering = dict.fromkeys(active, True)
        declared: list[tuple[str, Any]] = [*self.functions, *self.classes]
        return [(media_type, handler) for media_type, handler in declared if lookup(covering, media_type) is None]

    @property
    def active(self) -> dict[str, Handler]:
        """The bound handlers, then the registered ones over them."""
        if self._bound is None:
            self._bound = self.with_standalone(self.compute_bound_handlers())
        return {**self._bound, **self.explicit} if self.explicit else self._bound

    def find(self, media_type: str, bound_handlers: dict[str, Any] | None = None) -> Handler:
        """The handler for the media type: from `bound_handlers` when given, else the active ones."""
        handler = lookup(self.active if bound_handlers is None else bound_handlers, media_type)
        if handler is None:
            raise HandlerNotFoundError(f"no active handler for media type {media_type}; decorate one with "
                                       "@handles and name its binding in the daemon's components")
        return self._callable(handler)

    def find_version(self, media_type: str, major: int, bound_handlers: dict[str, Any] | None = None) -> Handler | None:
        """The handler for the media type's `major`, as `find`; None when there is none."""
        handler = versioned_lookup(self.active if bound_handlers is None else bound_handlers, media_type, major)
        return None if handler is None else self._callable(handler)

    def _callable(self, handler: Any) -> Handler:
        # The old package bound handlers by type: a class is built for this message
        return cast(Handler, handler(self.graph) if isinstance(handler, type) else handler)

    @property
    def media_types(self) -> list[str]:
        return sorted(self.active)


def handler_name(handler: Handler) -> str:
    """A readable name for logs: `module.function` or `module.Class`."""
    target: Any = handler if hasattr(handler, "__qualname__") else type(handler)
    return f"{target.__module__}.{target.__qualname__}"
