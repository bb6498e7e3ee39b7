"""The base message schema, and JSON encoding and decoding of content through a schema."""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load


PUBLISHED_KEY = "x-request-published"


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


def normalize_opaque_data(opaque_data: Mapping[str, Any] | None) -> dict[str, str]:
    """Opaque data as it goes on the wire: lower-cased keys, string values."""
    return {str(key).lower(): str(value) for key, value in (opaque_data or {}).items()}


def encode(
    schema: Schema,
    media_type: str,
    content: Mapping[str, Any],
    opaque_data: Mapping[str, Any] | None = None,
) -> str:
    """Dump content through its schema, validate the result, and return the JSON to publish.

    :raises ValidationError: with the field errors, when the content does not fit the schema
    """
    # Opaque data given with the content wins over the caller's context
    given = content.get("opaque_data")
    wire_opaque = normalize_opaque_data({**(opaque_data or {}), **(given if isinstance(given, Mapping) else {})})
    wire_opaque[PUBLISHED_KEY] = str(time.time())
    obj = {**content, "media_type": media_type, "opaque_data": wire_opaque}
    try:
        dumped = schema.dump(obj)
    except (TypeError, ValueError, AttributeError) as error:
        raise ValidationError({"_schema": [f"cannot serialize content: {error}"]}) from error
    errors = schema.validate(dumped)
    if errors:
        raise ValidationError(errors)
    return json.dumps(dumped, separators=(",", ":"))


def decode(schema: Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    """Load wire data through its schema.

    :raises ValidationError: when the data does not fit the schema
    """
    loaded = schema.load(data)
    if not isinstance(loaded, dict):
        raise ValidationError({"_schema": ["schema did not load to a dict"]})
    return loaded
