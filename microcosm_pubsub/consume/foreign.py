"""`pubsub_foreign_events`: media types, by rules, for messages no service of ours wrote (README: foreign events)."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from microcosm.errors import NotBoundError
from microcosm.hooks import on_resolve

from microcosm_pubsub.graph.config import defaults, typed
from microcosm_pubsub.schemas.handler_registry import SQSMessageHandlerRegistry
from microcosm_pubsub.wire.errors import ConfigurationError


T = TypeVar("T")

# Suggested media types for AWS's own events (any media type of the service's choosing works)
S3_EVENT = "application/vnd.aws.s3.event"
EVENTBRIDGE_EVENT = "application/vnd.aws.eventbridge.event"

# A value to compare: one string, or any of several; a string ending in `*` is a prefix, `*` alone any value
Expected = str | Sequence[str]
When = Callable[[Mapping[str, Any], Mapping[str, str]], bool]
RULE_KEYS = frozenset({"media_type", "fields", "attributes"})


def _expected(value: Any, where: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    valid = isinstance(values, (list, tuple)) and values and all(isinstance(item, str) and item for item in values)
    if not valid:
        raise ConfigurationError(f"{where}: expected a non-empty string or list of strings, got {value!r}")
    return tuple(values)


def _path(selector: str) -> tuple[tuple[str, bool], ...]:
    """`Records[].eventSource` -> (("Records", True), ("eventSource", False)): True means each list element."""
    steps = []
    for part in selector.split("."):
        each = part.endswith("[]")
        key = part[:-2] if each else part
        if not key:
            raise ConfigurationError(f"field {selector!r}: empty step; write keys separated by dots, `[]` after a list")
        steps.append((key, each))
    return tuple(steps)


def _values(document: Any, steps: tuple[tuple[str, bool], ...]) -> list[Any]:
    """Every value a path reaches in a document (several when it goes through lists)."""
    found = [document]
    for key, each in steps:
        following: list[Any] = []
        for item in found:
            if isinstance(item, Mapping) and key in item:
                value = item[key]
                if not each:
                    following.append(value)
                elif isinstance(value, list):
                    following.extend(value)
        found = following
    return found


def _matches(value: Any, expected: tuple[str, ...]) -> bool:
    if isinstance(value, (dict, list)) or value is None:
        return "*" in expected
    text = value if isinstance(value, str) else json.dumps(value)
    return any(text.startswith(wanted[:-1]) if wanted.endswith("*") else text == wanted for wanted in expected)


@dataclass(frozen=True)
class ForeignRule:
    """A media type for the messages that match every condition given: body fields, message attributes, `when`.

    `fields` keys are paths into the JSON body (`Records[].eventSource`: any record's); `attributes` keys
    are message attribute names; a value is one string or a list (any matches), `x*` a prefix, `*` any value.
    """

    media_type: str
    fields: Mapping[str, Expected] = field(default_factory=dict)
    attributes: Mapping[str, Expected] = field(default_factory=dict)
    when: When | None = None
    _fields: tuple[tuple[tuple[tuple[str, bool], ...], tuple[str, ...]], ...] = field(
        default=(), init=False, repr=False, compare=False,
    )
    _attributes: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.media_type, str) or not self.media_type:
            raise ConfigurationError(f"a foreign event rule needs a media_type string, got {self.media_type!r}")
        if not self.fields and not self.attributes and self.when is None:
            raise ConfigurationError(
                f"the foreign event rule for {self.media_type} has no condition: give fields, attributes or when"
            )
        where = f"foreign event rule for {self.media_type}"
        object.__setattr__(self, "_fields", tuple(
            (_path(str(name)), _expected(value, f"{where}: fields[{name!r}]")) for name, value in self.fields.items()
        ))
        object.__setattr__(self, "_attributes", tuple(
            (str(name), _expected(value, f"{where}: attributes[{name!r}]")) for name, value in self.attributes.items()
        ))

    def matches(self, body: Mapping[str, Any], attributes: Mapping[str, str]) -> bool:
        return (
            all(any(_matches(value, expected) for value in _values(body, steps)) for steps, expected in self._fields)
            and all(name in attributes and _matches(attributes[name], expected) for name, expected in self._attributes)
            and (self.when is None or bool(self.when(body, attributes)))
        )


def s3_notifications(media_type: str = S3_EVENT) -> ForeignRule:
    """S3 event notifications (`Records[].eventSource` is `aws:s3`), delivered to SQS directly or through SNS."""
    return ForeignRule(media_type, fields={"Records[].eventSource": "aws:s3"})


def eventbridge_events(
    media_type: str = EVENTBRIDGE_EVENT, source: Expected = "*", detail_type: Expected = "*",
) -> ForeignRule:
    """EventBridge events (CloudWatch schedules are `source` `aws.events`, `detail-type` `Scheduled Event`)."""
    return ForeignRule(media_type, fields={"source": source, "detail-type": detail_type, "detail": "*"})


def rule_from_config(value: Any, where: str) -> ForeignRule:
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{where}: expected an object with media_type and fields or attributes, got {value!r}")
    unknown = sorted(set(map(str, value)) - RULE_KEYS)
    if unknown:
        raise ConfigurationError(f"{where}: unknown key {unknown[0]!r}; a rule has media_type, fields, attributes")
    conditions = {}
    for key in ("fields", "attributes"):
        section = value.get(key) or {}
        if not isinstance(section, Mapping):
            raise ConfigurationError(f"{where}.{key}: expected an object of name to value, got {section!r}")
        conditions[key] = section
    try:
        return ForeignRule(str(value.get("media_type") or ""), conditions["fields"], conditions["attributes"])
    except ConfigurationError as error:
        raise ConfigurationError(f"{where}: {error}") from None


def json_rules(value: Any) -> list[Any]:
    """Rules from configuration: a list, or a JSON array in a string (environment variables)."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError as error:
            raise ConfigurationError(f"pubsub_foreign_events.rules: not a JSON array: {error}") from error
    if not isinstance(value, (list, tuple)):
        raise ConfigurationError(f"pubsub_foreign_events.rules: expected a list of rules, got {value!r}")
    return list(value)


class ForeignEvents:
    """The rules, tried in order; `route` names the media type of a message that had none."""

    def __init__(self, rules: Sequence[ForeignRule] = ()) -> None:
        self.rules: list[ForeignRule] = list(rules)

    def add(self, rule: ForeignRule) -> None:
        """Add a rule after the others, once."""
        if all(known is not rule for known in self.rules):
            self.rules.append(rule)

    def route(self, body: Mapping[str, Any], attributes: Mapping[str, str]) -> str | None:
        """The media type of the first rule matching the message, or None."""
        for rule in self.rules:
            if rule.matches(body, attributes):
                return rule.media_type
        return None

    def __bool__(self) -> bool:
        return bool(self.rules)


def declare_foreign_event(
    media_type: str, *, fields: Mapping[str, Expected] | None = None, attributes: Mapping[str, Expected] | None = None,
    when: When | None = None,
) -> ForeignRule:
    """Declare a rule in code: every graph's `pubsub_foreign_events` built after this holds it."""
    rule = ForeignRule(media_type, fields or {}, attributes or {}, when)
    on_resolve(ForeignEvents, ForeignEvents.add, rule)
    return rule


def handles_foreign_event(
    media_type: str, *, fields: Mapping[str, Expected] | None = None, attributes: Mapping[str, Expected] | None = None,
    when: When | None = None,
) -> Callable[[T], T]:
    """`@handles(media_type)` for messages without a media type that match this rule; a function needs no binding."""
    from microcosm_pubsub.schemas.decorators import handles  # decorators build on the registries; this module must not
    declare_foreign_event(media_type, fields=fields, attributes=attributes, when=when)
    declare = handles(media_type)

    def decorator(target: T) -> T:
        declare(target)
        if not isinstance(target, type):
            on_resolve(SQSMessageHandlerRegistry, SQSMessageHandlerRegistry.declare_standalone, media_type, target)
        return target

    return decorator


@defaults(
    # Rules for messages without a media type: [{"media_type": ..., "fields": {...}, "attributes": {...}}]
    rules=typed(json_rules, default_value=[]),
)
def configure_pubsub_foreign_events(graph: Any) -> ForeignEvents:
    rules = json_rules(graph.config.pubsub_foreign_events.rules or [])
    return ForeignEvents([rule_from_config(rule, f"pubsub_foreign_events.rules[{index}]")
                          for index, rule in enumerate(rules)])


def foreign_events(graph: Any) -> ForeignEvents | None:
    """The graph's rules for the envelope, or None when the graph binds none."""
    try:
        events: ForeignEvents = graph.pubsub_foreign_events
    except (NotBoundError, AttributeError):
        return None
    return events if isinstance(events, ForeignEvents) else None
