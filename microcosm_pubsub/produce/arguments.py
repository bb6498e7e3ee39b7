"""The names `produce()` accepts for a schema, and the error naming those it does not know."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError

from microcosm_pubsub.graph.config import closest
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema, argument_names, dump
from microcosm_pubsub.wire.errors import SchemaValidationError


# The base schema's `unknown = EXCLUDE` is for consumers (a peer's newer fields); it says nothing of producers
BASE_META = PubSubMessageSchema.Meta
# The lifecycle convention schemas stand in for undeclared ones, and old services give them extra keys to drop
CONVENTIONS = "microcosm_pubsub.schemas.messages"


def accepted_names(schema: Schema) -> frozenset[str] | None:
    """Every key `produce()` may be given for `schema`; None for a schema taking extra keys on purpose."""
    # The schema's own `Meta.unknown`, or a convention schema standing in for an undeclared one
    if type(schema).__module__.startswith(CONVENTIONS):
        return None
    meta = getattr(type(schema), "Meta", None)
    if meta is not None and meta is not BASE_META and "unknown" in vars(meta) and schema.unknown != "raise":
        return None
    names: set[str] = set()
    for field_name, field in schema.fields.items():
        attribute = field.attribute or field_name
        # A dotted attribute ("address.city") is read from the content's first key
        names.update((field_name, attribute, attribute.split(".", 1)[0], field.data_key or field_name))
    return frozenset(names)


# Where a schema instance keeps the names it accepts, computed on its first message
ACCEPTED_ATTRIBUTE = "_pubsub_accepted_names"
_NOT_YET = object()


def check_arguments(schema: Schema, media_type: str, content: Mapping[str, Any]) -> None:
    """Refuse content keys `schema` does not know (`SchemaValidationError`), at one set test per message."""
    names = schema.__dict__.get(ACCEPTED_ATTRIBUTE, _NOT_YET)
    if names is _NOT_YET:
        names = accepted_names(schema)
        setattr(schema, ACCEPTED_ATTRIBUTE, names)
    if names is not None and not names.issuperset(content):
        raise unknown_arguments(schema, media_type, content, names)


def unknown_arguments(
    schema: Schema, media_type: str, content: Mapping[str, Any], names: frozenset[str],
) -> SchemaValidationError:
    """The error for content with keys the schema does not know: each named, with the closest known name."""
    arguments = argument_names(schema)
    messages: dict[str, Any] = {}
    for key in (name for name in content if name not in names):
        close = closest(str(key), arguments.values())
        hint = f" (did you mean {close!r}?)" if close else ""
        messages[str(key)] = [f"unknown argument{hint}, not a field of the schema"]
    try:
        dump(schema, {**{key: value for key, value in content.items() if key in names}, "media_type": media_type})
    except ValidationError as error:
        # A misspelled required argument is also missing under its right name: say both at once
        if isinstance(error.messages, dict):
            messages.update({key: value for key, value in error.messages.items() if key not in messages})
    return SchemaValidationError(type(schema).__name__, ValidationError(messages), arguments)
