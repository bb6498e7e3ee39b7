"""JSON Schema (2020-12) for marshmallow schemas, and what a compatibility check needs beside it."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypedDict

from marshmallow import RAISE, Schema, fields, validate
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


class Contract(TypedDict):
    """A schema's JSON Schema and, by field path, what JSON Schema cannot say.

    `objects`: each object's schema class and its `unknown` setting ("raise" is a closed model, "exclude" and
    "include" open ones); `fields`: each field's attribute (the name the data key carries), its field class,
    and the Python enum behind an enum's values.
    """

    jsonSchema: dict[str, Any]
    objects: dict[str, dict[str, Any]]
    fields: dict[str, dict[str, Any]]


def child(path: str, key: str) -> str:
    """The path of property `key` of the object at `path` ("" is the message itself)."""
    return f"{path}.{key}" if path else key


def qualified(kind: type[Any]) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


class _Converter:
    """One conversion; remembers the schemas it is inside, so a recursive one ends in a plain object."""

    def __init__(self) -> None:
        self.inside: list[type[Schema]] = []
        self.objects: dict[str, dict[str, Any]] = {}
        self.fields: dict[str, dict[str, Any]] = {}
        self.structured: dict[type[fields.Field[Any]], Callable[[Any, str], dict[str, Any]]] = {
            fields.List: lambda field, path: {"type": "array", "items": self.field(field.inner, f"{path}[]")},
            fields.Tuple: self.tuple,
            fields.Mapping: self.mapping,
            fields.Pluck: self.pluck,
            fields.Nested: self.nested,
            fields.Enum: lambda field, path: _kept({"enum": [item.value if field.by_value else item.name
                                                             for item in field.enum]}),
            fields.Constant: lambda field, path: _kept({"const": field.constant}),
            fields.Decimal: lambda field, path: {"type": "string"} if field.as_string else {"type": "number"},
        }

    def schema(self, schema: Schema, path: str = "", unknown: str | None = None) -> dict[str, Any]:
        # Marshmallow loads a nested schema with the Nested field's `unknown` when it sets one
        mode = unknown or schema.unknown
        self.objects[path] = {"schema": qualified(type(schema)), "unknown": mode}
        if type(schema) in self.inside:
            return {"type": "object"}
        # A load-only field is never on the wire: the wire is the schema's dump
        dumped = {field.data_key or name: field for name, field in schema.fields.items() if not field.load_only}
        self.inside.append(type(schema))
        try:
            properties = {}
            for key, field in dumped.items():
                self.fields[child(path, key)] = {"attribute": field.attribute or field.name,
                                                 "field": qualified(type(field))}
                properties[key] = self.field(field, child(path, key))
        finally:
            self.inside.pop()
        result: dict[str, Any] = {"type": "object", "properties": properties}
        # Declaration order is no part of the contract
        required = sorted(key for key, field in dumped.items() if field.required)
        if required:
            result["required"] = required
        if mode == RAISE:
            result["additionalProperties"] = False  # a closed model: a consumer rejects keys it does not know
        return result

    def field(self, field: fields.Field[Any], path: str) -> dict[str, Any]:
        kind = next((kind for kind in type(field).__mro__ if kind in self.structured or kind in SIMPLE), fields.Raw)
        result = self.structured[kind](field, path) if kind in self.structured else dict(SIMPLE[kind])
        if isinstance(field, fields.Enum) and path in self.fields:
            self.fields[path]["enum"] = qualified(field.enum)
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

    def tuple(self, field: Any, path: str) -> dict[str, Any]:
        items = [self.field(inner, f"{path}[{index}]") for index, inner in enumerate(field.tuple_fields)]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}

    def mapping(self, field: Any, path: str) -> dict[str, Any]:
        values = {} if field.value_field is None else {"additionalProperties": self.field(field.value_field,
                                                                                          f"{path}{{}}")}
        return {"type": "object", **values}

    def nested(self, field: Any, path: str) -> dict[str, Any]:
        try:
            schema = field.schema
        except (ValueError, TypeError, LookupError):
            return {}  # a nested schema named by a string marshmallow cannot resolve
        if field.many:
            return {"type": "array", "items": self.schema(schema, f"{path}[]", field.unknown)}
        return self.schema(schema, path, field.unknown)

    def pluck(self, field: Any, path: str) -> dict[str, Any]:
        """A Pluck field is one field of the nested schema (a list of them when `many`)."""
        try:
            plucked = field.schema.fields[field.field_name]
        except (ValueError, TypeError, LookupError):
            return {}
        if field.many:
            return {"type": "array", "items": self.field(plucked, f"{path}[]")}
        return self.field(plucked, path)


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


def _document(converter: _Converter, schema: Schema, media_type: str | None) -> dict[str, Any]:
    document: dict[str, Any] = {"$schema": DIALECT, "title": type(schema).__name__}
    doc = type(schema).__doc__
    if doc:
        document["description"] = doc.strip().split("\n")[0]
    document.update(converter.schema(schema))
    if media_type is not None and not media_type.endswith(".*") and "mediaType" in document["properties"]:
        document["properties"]["mediaType"] = {**document["properties"]["mediaType"], "const": media_type}
    return document


def json_schema(schema: Schema, media_type: str | None = None) -> dict[str, Any]:
    """A standalone JSON Schema document for what `schema` puts on the wire."""
    return _document(_Converter(), schema, media_type)


def contract(schema: Schema, media_type: str | None = None) -> Contract:
    """`json_schema(schema, media_type)` with the objects' and fields' facts a compatibility check reads."""
    converter = _Converter()
    document = _document(converter, schema, media_type)
    return Contract(jsonSchema=document, objects=converter.objects, fields=converter.fields)
