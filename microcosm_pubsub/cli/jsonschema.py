"""JSON Schema (2020-12) for marshmallow schemas: the common field types and validators; others become `{}`."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from marshmallow import Schema, fields, validate
from marshmallow.utils import missing  # type: ignore[attr-defined]


DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Looked up along each field class's MRO, so a subclass (Email of String) finds its own entry first
SIMPLE: dict[type[fields.Field[Any]], dict[str, Any]] = {
    fields.Raw: {},
    fields.String: {"type": "string"},
    fields.UUID: {"type": "string", "format": "uuid"},
    fields.Email: {"type": "string", "format": "email"},
    fields.Url: {"type": "string", "format": "uri"},
    fields.IP: {"type": "string", "format": "ip"},
    fields.IPv4: {"type": "string", "format": "ipv4"},
    fields.IPv6: {"type": "string", "format": "ipv6"},
    fields.Number: {"type": "number"},
    fields.Integer: {"type": "integer"},
    fields.Boolean: {"type": "boolean"},
    fields.DateTime: {"type": "string", "format": "date-time"},
    fields.Date: {"type": "string", "format": "date"},
    fields.Time: {"type": "string", "format": "time"},
    fields.TimeDelta: {"type": "number"},
}


class _Converter:
    """One conversion; remembers the schemas it is inside, so a recursive one ends in a plain object."""

    def __init__(self) -> None:
        self.inside: list[type[Schema]] = []
        self.structured: dict[type[fields.Field[Any]], Callable[[Any], dict[str, Any]]] = {
            fields.List: lambda field: {"type": "array", "items": self.field(field.inner)},
            fields.Tuple: self.tuple,
            fields.Mapping: self.mapping,
            fields.Nested: self.nested,
            fields.Enum: lambda field: _kept({"enum": [item.value if field.by_value else item.name
                                                       for item in field.enum]}),
            fields.Constant: lambda field: _kept({"const": field.constant}),
            fields.Decimal: lambda field: {"type": "string"} if field.as_string else {"type": "number"},
        }

    def schema(self, schema: Schema) -> dict[str, Any]:
        if type(schema) in self.inside:
            return {"type": "object"}
        # A load-only field is never on the wire: the wire is the schema's dump
        dumped = {field.data_key or name: field for name, field in schema.fields.items() if not field.load_only}
        self.inside.append(type(schema))
        try:
            result = {"type": "object", "properties": {key: self.field(field) for key, field in dumped.items()}}
        finally:
            self.inside.pop()
        required = [key for key, field in dumped.items() if field.required]
        return {**result, "required": required} if required else result

    def field(self, field: fields.Field[Any]) -> dict[str, Any]:
        kind = next((kind for kind in type(field).__mro__ if kind in self.structured or kind in SIMPLE), fields.Raw)
        result = self.structured[kind](field) if kind in self.structured else dict(SIMPLE[kind])
        for validator in field.validators:
            result.update(_validator(validator, result.get("type")))
        description = field.metadata.get("description")
        if isinstance(description, str):
            result["description"] = description
        default = field.dump_default
        if default is not missing and not callable(default):
            result.update(_kept({"default": default}))
        if field.allow_none and result:
            if isinstance(result.get("type"), str):
                result["type"] = [result["type"], "null"]
            elif "type" not in result:
                result = {"anyOf": [result, {"type": "null"}]}
        return result

    def tuple(self, field: Any) -> dict[str, Any]:
        items = [self.field(inner) for inner in field.tuple_fields]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}

    def mapping(self, field: Any) -> dict[str, Any]:
        values = {} if field.value_field is None else {"additionalProperties": self.field(field.value_field)}
        return {"type": "object", **values}

    def nested(self, field: Any) -> dict[str, Any]:
        try:
            inner = self.schema(field.schema)
        except (ValueError, TypeError, LookupError):
            return {}  # a nested schema named by a string marshmallow cannot resolve
        return {"type": "array", "items": inner} if field.many else inner


def _kept(keywords: dict[str, Any]) -> dict[str, Any]:
    """`keywords`, or none of them when a value has no JSON form."""
    try:
        json.dumps(keywords)
    except (TypeError, ValueError):
        return {}
    return keywords


def _validator(validator: Any, kind: Any) -> dict[str, Any]:
    """Keywords for the validators JSON Schema can say; the rest are left to the schema itself."""
    if isinstance(validator, validate.Length):
        low, high = ("minLength", "maxLength") if kind == "string" else ("minItems", "maxItems")
        if validator.equal is not None:
            return {low: validator.equal, high: validator.equal}
        return {key: value for key, value in ((low, validator.min), (high, validator.max)) if value is not None}
    if isinstance(validator, validate.Range):
        low = "minimum" if validator.min_inclusive else "exclusiveMinimum"
        high = "maximum" if validator.max_inclusive else "exclusiveMaximum"
        return _kept({key: value for key, value in ((low, validator.min), (high, validator.max)) if value is not None})
    if isinstance(validator, validate.OneOf):
        return _kept({"enum": list(validator.choices)})
    if isinstance(validator, validate.Regexp):
        return {"pattern": validator.regex.pattern}
    if isinstance(validator, validate.Equal):
        return _kept({"const": validator.comparable})
    return {}


def json_schema(schema: Schema, media_type: str | None = None) -> dict[str, Any]:
    """A standalone JSON Schema document for what `schema` puts on the wire."""
    document: dict[str, Any] = {"$schema": DIALECT, "title": type(schema).__name__}
    doc = type(schema).__doc__
    if doc:
        document["description"] = doc.strip().split("\n")[0]
    document.update(_Converter().schema(schema))
    if media_type is not None and not media_type.endswith(".*") and "mediaType" in document["properties"]:
        document["properties"]["mediaType"] = {**document["properties"]["mediaType"], "const": media_type}
    return document
