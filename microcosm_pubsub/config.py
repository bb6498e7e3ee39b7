"""Typed front for microcosm's configuration decorators, and the check for configuration nobody reads."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from microcosm.api import defaults as _defaults
from microcosm.api import typed
from microcosm.errors import NotBoundError
from microcosm.registry import get_defaults


T = TypeVar("T")

__all__ = ["defaults", "typed"]


def defaults(**values: Any) -> Callable[[T], T]:
    """`microcosm.api.defaults`, typed: declares a binding's configuration with its defaults."""
    decorator: Callable[[T], T] = _defaults(**values)  # type: ignore[no-untyped-call]
    return decorator


# The old package's bindings: a section for one of them that no binding here declares is still
# the service's configuration, and every key in it is reported
OLD_BINDINGS = frozenset({
    "pubsub_message_schema_registry", "pubsub_lifecycle_change", "pubsub_send_metrics",
    "pubsub_send_batch_metrics", "pubsub_producer_metrics", "sqs_message_context", "sqs_consumer",
    "sqs_envelope", "sqs_message_dispatcher", "sqs_message_handler_registry", "sns_producer",
    "sns_topic_arns", "sentry_logging_pubsub",
})
# Bindings whose keys are open-ended by design (topic sections per lifecycle verb)
FREE_FORM_BINDINGS = frozenset({"sns_topic_arns"})
PACKAGE = "microcosm_pubsub"


def unknown_keys(graph: Any) -> list[str]:
    """`binding.key` for each key set in this package's configuration sections that no binding declares.

    A section belongs to this package when its binding's factory lives here, or it is one of the
    old package's bindings. Only keys the factory's `@defaults` do not declare are reported.
    """
    found: list[str] = []
    for section, values in graph.config.items():
        if not isinstance(values, Mapping) or section in FREE_FORM_BINDINGS:
            continue
        try:
            factory = graph.factory_for(section)
        except NotBoundError:
            if section in OLD_BINDINGS:
                found.extend(f"{section}.{key}" for key in values)
            continue
        if not str(getattr(factory, "__module__", "")).startswith(PACKAGE):
            continue
        declared = get_defaults(factory)
        if declared:
            found.extend(f"{section}.{key}" for key in values if key not in declared)
    return sorted(found)
