"""The base message schema, and JSON encoding and decoding of content through a schema."""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load

from microcosm_pubsub.schemas.fastcodec import plan_for
from microcosm_pubsub.wire.errors import SchemaValidationError


PUBLISHED_KEY = "x-request-published"
# Compact JSON, as `json.dumps(..., separators=(",", ":"))` writes it, without building an encoder per message
WIRE_ENCODER = json.JSONEncoder(separators=(",", ":"))
# The old package's media type for a schema that declares none
DEFAULT_MEDIA_TYPE = "application/json"


class PubSubMessageSchema(Schema):
    """Base schema of every message: a media type and opaque data beside the content fields."""

    MEDIA_TYPE: ClassVar[str | None] = None

    mediaType = fields.String(attribute="media_type", required=True)
    opaqueData = fields.Dict(attribute="opaque_data", keys=fields.String(), required=False)

    class Meta:
        # A peer on a newer schema may add fields; consumers must not reject them
        unknown = EXCLUDE

    def deserialize_media_type(self, obj: Any) -> Any:
        """Hook kept for schemas written for the old package; returns the media type as loaded."""
        return obj

    @post_load
    def _apply_media_type_hook(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["media_type"] = self.deserialize_media_type(data.get("media_type"))
        return data


# The post-load hooks the fast codec path may call as marshmallow would: they ignore how the data was loaded
TRUSTED_POST_LOAD = frozenset({PubSubMessageSchema._apply_media_type_hook})


def normalize_opaque_data(opaque_data: Mapping[str, Any] | None) -> dict[str, str]:
    """Opaque data as it goes on the wire: lower-cased keys, string values."""
    return {str(key).lower(): str(value) for key, value in (opaque_data or {}).items()}


def encode(
    schema: Schema, media_type: str, content: Mapping[str, Any], opaque_data: Mapping[str, Any] | None = None,
    published: str | None = None,
) -> str:
    """Dump content through its schema, validate the result, and return the JSON to publish."""
    # Opaque data given with the content wins over the caller's context
    given = content.get("opaque_data")
    wire_opaque = normalize_opaque_data({**(opaque_data or {}), **(given if isinstance(given, Mapping) else {})})
    wire_opaque[PUBLISHED_KEY] = str(time.time()) if published is None else published
    obj = {**content, "media_type": media_type, "opaque_data": wire_opaque}
    return WIRE_ENCODER.encode(dump(schema, obj))


def dump(schema: Schema, content: Mapping[str, Any]) -> dict[str, Any]:
    """Content (attribute names) to its wire form (field names), validated as a consumer will load it."""
    plan = plan_for(schema, TRUSTED_POST_LOAD)
    if plan is not None:
        # The common schema in one pass, exactly as below; None when marshmallow must decide
        fast = plan.dump(schema, content)
        if fast is not None:
            return fast
    try:
        dumped = schema.dump(content)
    except (TypeError, ValueError, AttributeError) as error:
        raise SchemaValidationError(
            type(schema).__name__, ValidationError(unserializable(schema, content, error)), argument_names(schema),
        ) from error
    if errors := schema.validate(dumped):
        # The names the caller passed are worked out only for the error: a valid message does not pay for them
        raise SchemaValidationError(type(schema).__name__, ValidationError(errors), argument_names(schema))
    result: dict[str, Any] = dumped
    return result


def argument_names(schema: Schema) -> dict[str, str]:
    """Each field's key in the message (its `data_key`) -> the name a producer passes it by (its attribute)."""
    return {field.data_key or field_name: field.attribute or field_name for field_name, field in schema.fields.items()}


def unserializable(schema: Schema, content: Mapping[str, Any], error: Exception) -> dict[str, list[str]]:
    """Which fields could not be serialized (keyed as in the message), found by serializing each alone."""
    problems: dict[str, list[str]] = {}
    for field_name, field in schema.dump_fields.items():
        attribute = field.attribute or field_name
        try:
            field.serialize(attribute, content, accessor=schema.get_attribute)
        except (TypeError, ValueError, AttributeError) as field_error:
            value = content.get(attribute) if isinstance(content, Mapping) else None
            problems[field.data_key or field_name] = [f"cannot serialize {value!r}: {field_error}"]
    return problems or {"_schema": [f"cannot serialize content: {error}"]}


def decode(schema: Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    """Load wire data through its schema (`SchemaValidationError` naming the schema when it does not fit)."""
    plan = plan_for(schema, TRUSTED_POST_LOAD)
    try:
        # The common schema in one pass, exactly as `schema.load`; None when marshmallow must decide
        loaded = plan.load(schema, data) if plan is not None else None
        if loaded is None:
            loaded = schema.load(data)
    except ValidationError as error:
        raise SchemaValidationError(type(schema).__name__, error) from None
    if not isinstance(loaded, dict):
        raise schema_error(schema, "did not load to a dict")
    return loaded


def schema_error(schema: Schema, problem: str) -> SchemaValidationError:
    return SchemaValidationError(type(schema).__name__, ValidationError({"_schema": [problem]}))


class PubSubMessageCodec:
    """A schema with the old package's codec API: `encode` content to JSON, `decode` JSON to content."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def __repr__(self) -> str:
        return f"PubSubMessageCodec({type(self.schema).__name__})"

    def encode(self, content: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
        """The JSON of `content` and keyword fields (attribute names), exactly as given: no opaque data added."""
        return json.dumps(dump(self.schema, {**(content or {}), **kwargs}))

    def decode(self, message: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
        """Content (attribute names) from a message's JSON text or its parsed object."""
        if isinstance(message, (str, bytes)):
            try:
                message = json.loads(message)
            except ValueError as error:
                raise schema_error(self.schema, f"not JSON: {error}") from None
        if not isinstance(message, Mapping):
            raise schema_error(self.schema, "message is not a JSON object")
        return decode(self.schema, message)
