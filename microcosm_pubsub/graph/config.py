"""Typed front for microcosm's configuration decorators, and the check for configuration nobody reads."""
from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any, TypeVar

from microcosm.api import defaults as _defaults
from microcosm.api import typed
from microcosm.config.model import Requirement
from microcosm.config.types import boolean
from microcosm.errors import NotBoundError
from microcosm.errors import ValidationError as MicrocosmValidationError
from microcosm.registry import get_defaults


T = TypeVar("T")

__all__ = ["defaults", "flag", "typed"]


def defaults(**values: Any) -> Callable[[T], T]:
    """`microcosm.api.defaults`, typed: declares a binding's configuration with its defaults."""
    decorator: Callable[[T], T] = _defaults(**values)  # type: ignore[no-untyped-call]
    return decorator


def flag(value: Any, default: bool = False) -> bool:
    """A yes/no setting read as microcosm reads `typed(bool)` ones ("true", "off", "1" from the environment)."""
    return default if value is None else bool(boolean(value))


def key_list(value: Any) -> list[str]:
    """A list of keys from configuration: a list, or a comma-separated string (environment variables)."""
    if isinstance(value, str):
        value = value.split(",")
    return [str(key).strip().lower() for key in value if str(key).strip()]


# The old package's bindings: a section for one that no binding here declares still has every key reported
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
    """`binding.key` for each key set in this package's (or the old package's) sections that no binding declares."""
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
        if declared := get_defaults(factory):
            found.extend(f"{section}.{key}" for key in values if key not in declared)
    return sorted(found)


# Sections read without a binding of their own: the daemon's logging switches (logs.py)
UNBOUND_SECTIONS = frozenset({"logging"})


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate close enough to `name` to be what was meant (a typo's "did you mean"), if any."""
    found = difflib.get_close_matches(name, sorted(set(candidates)), n=1)
    return found[0] if found else None


def factories(graph: Any) -> dict[str, Any]:
    """Every binding of this process, its factory by name (empty when microcosm's registry cannot be read)."""
    try:
        return dict(graph._registry.all)
    except Exception:  # only a hint or a warning is at stake
        return {}


def unknown_sections(graph: Any) -> list[tuple[str, str, str | None]]:
    """`(section, where it was set, closest binding)` for each configuration section no binding of the process has."""
    # A misspelled section (`SHOP__SQS_CONSUMR__WAIT_SECONDS`) is otherwise ignored without a word
    bindings = set(factories(graph))
    if not bindings:
        return []
    known = bindings | UNBOUND_SECTIONS | OLD_BINDINGS
    prefix = graph.metadata.name.upper().replace("-", "_")
    found = []
    for section, values in graph.config.items():
        if not isinstance(values, Mapping) or section in known:
            continue
        variables = sorted(name for name in os.environ if name.startswith(f"{prefix}__{section.upper()}__"))
        where = f"environment variable {variables[0]}" if variables else "the configuration"
        found.append((section, where, closest(section, bindings)))
    return sorted(found)


# microcosm words a value it cannot convert as a missing one: "Missing required configuration for: a.b: value"
_UNCONVERTIBLE = re.compile(r"^Missing required configuration for: (?P<path>[^:]+): (?P<value>.*)$", re.DOTALL)


def explain_validation_error(error: MicrocosmValidationError, name: str) -> str:
    """microcosm's configuration error in words that fit it: an invalid value is named as invalid, with its type."""
    text = str(error)
    found = _UNCONVERTIBLE.match(text)
    if found is None or not isinstance(error.__context__, (ValueError, TypeError)):
        return text
    path, value = found["path"], found["value"]
    expected = expected_type(path.split("."))
    variable = "__".join([name.replace("-", "_"), *path.split(".")]).upper()
    kind = f"a valid {expected.__name__}" if expected is not None else "valid for its declared type"
    return (f"invalid configuration: {path} is {value!r}, which is not {kind} "
            f"(environment variable {variable}, if set there)")


def expected_type(path: list[str]) -> type | None:
    """The type a binding's `@defaults` declare for a key, found through the binding's entry point."""
    factories = entry_points(group="microcosm.factories", name=path[0])
    try:
        declared: Any = get_defaults(next(iter(factories)).load()) if factories else None
    except Exception:  # only an error message is at stake: without the type it still names the key
        return None
    for part in path[1:]:
        if not isinstance(declared, Mapping) or part not in declared:
            return None
        declared = declared[part]
    kind = getattr(declared, "type", None) if isinstance(declared, Requirement) else None
    return kind if isinstance(kind, type) else None


# pubsub_runner keys that used to live on other components, read there when pubsub_runner leaves them unset
OLD_KEYS: dict[str, tuple[str, str]] = {
    "concurrency": ("sqs_consumer", "concurrency"), "max_in_flight": ("sqs_message_dispatcher", "max_in_flight"),
    "shutdown_timeout_seconds": ("sqs_message_dispatcher", "shutdown_timeout_seconds"),
}


def runner_setting(config: Mapping[str, Any], key: str) -> Any:
    """`pubsub_runner.<key>` from a graph's configuration, else the key's old home (see OLD_KEYS), else None."""
    value = (config.get("pubsub_runner") or {}).get(key)
    if value is None and key in OLD_KEYS:
        section, old_key = OLD_KEYS[key]
        value = (config.get(section) or {}).get(old_key)
    return value
