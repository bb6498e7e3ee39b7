"""The daemon's start: one line of what it will do, its configuration at DEBUG, and warnings worth acting on."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from microcosm_pubsub.consume.logs import log_configuration
from microcosm_pubsub.graph.config import factories, key_list, unknown_keys, unknown_sections
from microcosm_pubsub.middleware import tracing
from microcosm_pubsub.runtime.daemon_args import logger
from microcosm_pubsub.schemas.handler_registry import handler_name
from microcosm_pubsub.wire.fifo import is_fifo


if TYPE_CHECKING:
    from microcosm_pubsub.runtime.runner import Runner



def warn_unknown_keys(name: str, graph: Any) -> None:
    """One warning per configuration key set for this package that nothing reads, and per unknown section."""
    for key in unknown_keys(graph):
        logger.warning(
            "%s: configuration key %s is set but unknown to microcosm_pubsub and is ignored; "
            "check its name (docs/migration.md lists the old keys and their new names)", name, key,
        )
    for section, variable, hint in unknown_sections(graph):
        advice = (f" and is ignored; did you mean {hint!r}?" if hint
                  else " of this process; unless the service's own code reads it, check its name")
        logger.warning("%s: configuration section %s (from %s) names no binding%s", name, section, variable, advice)


def announce_start(name: str, graph: Any, runner: Runner, components: list[str], handlers: dict[str, Any]) -> None:
    """The daemon's start-up lines: what it will do at INFO, its whole configuration (redacted) at DEBUG, warnings."""
    registry = graph.sqs_message_handler_registry
    # What the runner will use: the bound handlers, standalone functions, and any registered directly over them
    active = {**registry.with_standalone(handlers), **registry.explicit}
    logger.info(
        "%s consuming %s with concurrency %d (at most %d messages held, %d of them unhandled), handling: %s; %s",
        name, graph.sqs_consumer.queue_url, runner.concurrency, runner.in_flight.limit, runner.in_flight.capacity,
        ", ".join(f"{media_type} ({handler_name(active[media_type])})" for media_type in sorted(active))
        or "nothing (no active handlers)",
        "; ".join(f"{label}: {value}" for label, value in start_settings(graph)),
    )
    warn_inactive_handlers(name, graph, components, active)
    if logger.isEnabledFor(logging.DEBUG):
        # Only then: choosing the sections reads the configuration's loader again
        log_configuration(logger, name, graph.config, used_sections(graph))
    warn_unknown_keys(name, graph)


def used_sections(graph: Any) -> set[str]:
    """The configuration sections worth showing: the components built, and whatever the service configured.

    microcosm loads every installed binding's defaults; one the daemon never builds only makes the dump longer.
    """
    automatic = key_list(graph.config.pubsub_middleware.get("automatic") or [])
    built = {key for key, _ in graph.items() if key not in automatic or in_effect(graph, key)}
    try:
        configured = graph.loader(graph.metadata)
    except Exception:  # a loader is read again only to choose what to show: at worst everything built is shown
        configured = {}
    return built | {"logging"} | {key for key in configured if isinstance(key, str)}


def start_settings(graph: Any) -> list[tuple[str, str]]:
    """What else the start-up line says: middleware, dead letters, large payloads, FIFO."""
    middleware = graph.config.pubsub_middleware
    names = key_list(middleware.components)
    automatic = [
        item for item in key_list(middleware.get("automatic") or []) if item not in names and in_effect(graph, item)
    ]
    producer = graph.config.sns_producer
    large = [f"out through s3://{producer.large_payload_bucket}"] if producer.get("large_payload_bucket") else []
    buckets = key_list(graph.config.sqs_consumer.get("large_payload_buckets") or [])
    large.append(f"in from {', '.join(buckets)}" if buckets else "in from any bucket")
    return [
        ("middleware", ", ".join([*automatic, *names]) or "none"),
        ("dead letters", graph.sqs_message_dispatcher.dead_letter_queue_url or "none"),
        ("large payloads", ", ".join(large)),
        ("FIFO", "yes, one message at a time per group" if is_fifo(graph.sqs_consumer.queue_url or "") else "no"),
    ]


def in_effect(graph: Any, name: str) -> bool:
    """Whether automatic middleware does something: it is active, and Dynatrace's agent is there for its spans."""
    item = graph.get(name)
    if item is None or not getattr(item, "active", True):
        return False
    return name != "pubsub_dynatrace" or getattr(tracing, "oneagent", None) is not None


def warn_inactive_handlers(name: str, graph: Any, components: list[str], active: dict[str, Any]) -> None:
    """One warning naming the handlers declared for a media type no active handler takes, each with its fix."""
    inactive = [
        (media_type, handler) for media_type, handler in graph.sqs_message_handler_registry.inactive(active)
        if not opt_in(handler)
    ]
    if not inactive:
        return
    # Binding names by the id of their factory (a class bound with `@binding`), or of the component it built
    bindings = {id(factory): key for key, factory in factories(graph).items()}
    bindings.update({id(component): key for key, component in graph.items()})
    fixes = []
    for media_type, handler in inactive:
        binding = bindings.get(id(handler))
        if binding is not None and binding not in components:
            fix = f"add {binding!r} to components"
        elif isinstance(handler, type):
            fix = "bind it with @binding(\"name\") and add that name to components"
        else:
            fix = "bind it (a @binding factory returning the function) and add that name to components"
        fixes.append(f"{handler_name(handler)} for {media_type}: {fix}")
    logger.warning(
        "%s: %d declared handler(s) are not active, and their messages will be IGNORED: %s",
        name, len(fixes), "; ".join(fixes),
    )


def opt_in(handler: Any) -> bool:
    """The package's own handlers (the old batch handler): a daemon that does not name them means to go without."""
    module = str(getattr(handler, "__module__", ""))
    return module.startswith("microcosm_pubsub.") and not module.startswith("microcosm_pubsub.tests")
