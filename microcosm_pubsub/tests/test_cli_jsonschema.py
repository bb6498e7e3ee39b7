"""The marshmallow to JSON Schema converter behind `pubsub schemas` and the schema lock (pure logic)."""
from __future__ import annotations

import enum
import unittest
from typing import Any

from hamcrest import assert_that, equal_to, has_entries, has_key, is_, is_not
from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, fields, validate

from microcosm_pubsub.cli import jsonschema as exported
from microcosm_pubsub.contracts.jsonschema import DIALECT, contract, json_schema
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


# Marshmallow 3's Field is not generic: subscripting it at run time fails there
class Custom(fields.Field):  # type: ignore[type-arg]
    pass


class TreeSchema(Schema):
    name = fields.String(required=True)
    children = fields.Nested(lambda: TreeSchema(), many=True)


def properties(**declared: Any) -> dict[str, Any]:
    schema_class = Schema.from_dict(declared)
    result: dict[str, Any] = json_schema(schema_class())["properties"]
    return result


class TestJsonSchema(unittest.TestCase):
    def test_common_types_map_to_json_types_and_formats(self) -> None:
        """Strings, numbers, booleans, dates and identifiers get their JSON type and format."""
        assert_that(properties(
            s=fields.String(), i=fields.Integer(), f=fields.Float(), b=fields.Boolean(),
            d=fields.DateTime(), u=fields.UUID(), e=fields.Email(), day=fields.Date(),
        ), is_(equal_to({
            "s": {"type": "string"}, "i": {"type": "integer"}, "f": {"type": "number"}, "b": {"type": "boolean"},
            "d": {"type": "string", "format": "date-time"}, "u": {"type": "string", "format": "uuid"},
            "e": {"type": "string", "format": "email"}, "day": {"type": "string", "format": "date"},
        })))

    def test_unknown_field_types_become_empty_schemas(self) -> None:
        """A field type the converter does not know accepts anything."""
        assert_that(properties(x=Custom(), r=fields.Raw()), is_(equal_to({"x": {}, "r": {}})))

    def test_containers_nest(self) -> None:
        """Lists, dicts and tuples describe what they hold."""
        assert_that(properties(
            tags=fields.List(fields.String()), scores=fields.Dict(values=fields.Integer()),
            pair=fields.Tuple((fields.String(), fields.Integer())),
        ), has_entries(
            tags={"type": "array", "items": {"type": "string"}},
            scores={"type": "object", "additionalProperties": {"type": "integer"}},
            pair={"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}],
                  "minItems": 2, "maxItems": 2},
        ))

    def test_validators_become_keywords(self) -> None:
        """Length, Range, OneOf and Regexp turn into their JSON Schema keywords."""
        assert_that(properties(
            code=fields.String(validate=[validate.Length(min=2, max=4), validate.Regexp("^[A-Z]+$")]),
            size=fields.Integer(validate=validate.Range(min=0, max=10, max_inclusive=False)),
            kind=fields.String(validate=validate.OneOf(["a", "b"])),
        ), has_entries(
            code={"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[A-Z]+$"},
            size={"type": "integer", "minimum": 0, "exclusiveMaximum": 10},
            kind={"type": "string", "enum": ["a", "b"]},
        ))

    def test_enum_and_nullable_fields(self) -> None:
        """Enums list their values; allow_none adds null."""
        assert_that(properties(
            colour=fields.Enum(Colour, by_value=True), note=fields.String(allow_none=True),
        ), has_entries(colour={"enum": ["red", "blue"]}, note={"type": ["string", "null"]}))

    def test_recursive_schema_ends_in_a_plain_object(self) -> None:
        """A schema nested in itself stops at one level instead of recursing forever."""
        document = json_schema(TreeSchema())
        assert_that(document["properties"]["children"], is_(equal_to({"type": "array", "items": {"type": "object"}})))

    def test_document_uses_data_keys_and_pins_the_media_type(self) -> None:
        """Properties are named as on the wire, and mediaType is a constant."""

        class Placed(PubSubMessageSchema):
            """An order was placed."""

            orderId = fields.String(attribute="order_id", data_key="orderId", required=True)
            secret = fields.String(load_only=True)

        document = json_schema(Placed(), "a.created.order")
        assert_that(document, has_entries(
            {"$schema": DIALECT, "title": "Placed", "description": "An order was placed.",
             "required": ["mediaType", "orderId"]},
        ))
        assert_that(document["properties"]["mediaType"], has_entries(const="a.created.order"))
        assert_that(sorted(document["properties"]), is_(equal_to(["mediaType", "opaqueData", "orderId"])))

    def test_closed_models_say_so_and_open_ones_do_not(self) -> None:
        """unknown=RAISE (marshmallow's default) is additionalProperties false; EXCLUDE and INCLUDE stay open, and a
        Nested field's own `unknown` wins over its schema's."""

        class Line(Schema):
            sku = fields.String()

        class Order(Schema):
            class Meta:
                unknown = EXCLUDE

            closed = fields.Nested(Line)
            opened = fields.Nested(Line, unknown=INCLUDE)

        document = json_schema(Order())
        assert_that(document, is_not(has_key("additionalProperties")))
        assert_that(document["properties"]["closed"], has_entries(additionalProperties=False))
        assert_that(document["properties"]["opened"], is_not(has_key("additionalProperties")))
        assert_that(json_schema(Line()), has_entries(additionalProperties=False))

    def test_required_is_sorted_whatever_the_declaration_order(self) -> None:
        """The order fields are declared in is no part of the contract."""
        assert_that(json_schema(Schema.from_dict({"b": fields.String(required=True), "a": fields.Integer(
            required=True)})())["required"], is_(equal_to(["a", "b"])))

    def test_pluck_is_the_plucked_field(self) -> None:
        """A Pluck field is the nested schema's one field on the wire (a list of it when many)."""
        assert_that(properties(
            owner=fields.Pluck(TreeSchema, "name"), owners=fields.Pluck(TreeSchema, "name", many=True),
        ), is_(equal_to({"owner": {"type": "string"}, "owners": {"type": "array", "items": {"type": "string"}}})))

    def test_contract_keeps_what_json_schema_cannot_say(self) -> None:
        """Beside the JSON Schema: each field's attribute, field class and enum, each object's schema and model."""

        class Line(Schema):
            colour = fields.Enum(Colour, data_key="hue")

        class Order(PubSubMessageSchema):
            order_id = fields.String(data_key="orderId")
            lines = fields.Nested(Line, many=True, unknown=RAISE)

        found = contract(Order(), "a.created.order")
        assert_that(found["jsonSchema"], is_(equal_to(json_schema(Order(), "a.created.order"))))
        assert_that(found["fields"], has_entries({
            "orderId": {"attribute": "order_id", "field": "marshmallow.fields.String"},
            "lines[].hue": {"attribute": "colour", "field": "marshmallow.fields.Enum", "enum": f"{__name__}.Colour"},
        }))
        assert_that(found["objects"], is_(equal_to({
            "": {"schema": f"{__name__}.{Order.__qualname__}", "unknown": "exclude"},
            "lines[]": {"schema": f"{__name__}.{Line.__qualname__}", "unknown": "raise"},
        })))

    def test_the_command_lines_module_is_the_same_converter(self) -> None:
        """`microcosm_pubsub.cli.jsonschema` keeps its name for those who import the converter from there."""
        assert_that(exported.json_schema, is_(json_schema))
