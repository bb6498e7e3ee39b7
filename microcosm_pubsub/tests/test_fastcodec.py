"""The fast codec path: exactly marshmallow's results (dump + validate, load), and marshmallow itself when unsure."""
from __future__ import annotations

import json
import unittest
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from hamcrest import assert_that, equal_to, is_, is_not, none, same_instance
from marshmallow import (
    EXCLUDE,
    INCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_dump,
    post_load,
    pre_load,
    validates,
    validates_schema,
)
from marshmallow import validate as validators

from microcosm_pubsub.schemas.codecs import TRUSTED_POST_LOAD, PubSubMessageCodec, PubSubMessageSchema, decode, dump
from microcosm_pubsub.schemas.fastcodec import _PLAN_ATTRIBUTE, Plan, plan_for
from microcosm_pubsub.wire.errors import SchemaValidationError


OTHER_MEDIA_TYPE = "application/vnd.globality.pubsub._.created.test-fastcodec"
# A typical message: a few plain fields beside the media type and opaque data (the benchmarks' shape; the
# tests ship in the wheel, the benchmarks do not)
MEDIA_TYPE = "application/vnd.globality.pubsub._.created.test-fastcodec-item"
CONTENT: dict[str, Any] = {"name": "widget", "count": 42, "uri": "https://service.example/api/v1/item/42"}


class ItemSchema(PubSubMessageSchema):
    """Plain required fields only: the fast path's common case."""

    MEDIA_TYPE = MEDIA_TYPE
    name = fields.String(required=True)
    count = fields.Integer(required=True)
    uri = fields.String(required=True)


class KeyedSchema(PubSubMessageSchema):
    """Every whitelisted field kind, with data keys, attributes, optional fields and allow_none."""

    MEDIA_TYPE = OTHER_MEDIA_TYPE

    order_id = fields.String(data_key="orderId", required=True)
    amountCents = fields.Integer(attribute="amount_cents", required=True)
    strict_count = fields.Integer(strict=True)
    note = fields.String(allow_none=True)
    ratio = fields.Float()
    anything = fields.Float(allow_nan=True)
    flag = fields.Boolean()
    tags = fields.List(fields.String())
    scores = fields.List(fields.Float())
    extra = fields.Dict()


class RaisingSchema(PubSubMessageSchema):
    """Rejects fields it does not declare."""

    name = fields.String(required=True)

    class Meta:
        unknown = RAISE


class IncludingSchema(PubSubMessageSchema):
    """Keeps fields it does not declare."""

    name = fields.String(required=True)

    class Meta:
        unknown = INCLUDE


class PlainSchema(Schema):
    """A marshmallow schema without the pubsub base (no media-type hook)."""

    name = fields.String(required=True)
    count = fields.Integer()

    class Meta:
        unknown = EXCLUDE


class RenamedMediaTypeSchema(PubSubMessageSchema):
    """Overrides the old package's hook: the media type comes from the class."""

    MEDIA_TYPE = OTHER_MEDIA_TYPE
    name = fields.String(required=True)

    def deserialize_media_type(self, obj: Any) -> Any:
        return RenamedMediaTypeSchema.MEDIA_TYPE


class RefusingMediaTypeSchema(PubSubMessageSchema):
    """Its media-type hook raises a ValidationError."""

    name = fields.String(required=True)

    def deserialize_media_type(self, obj: Any) -> Any:
        raise ValidationError("not this media type", "mediaType")


SCHEMAS: tuple[type[Schema], ...] = (ItemSchema, KeyedSchema, RaisingSchema, IncludingSchema, PlainSchema)

VALID: dict[type[Schema], dict[str, Any]] = {
    ItemSchema: {"mediaType": MEDIA_TYPE, "opaqueData": {"x-request-id": "r1"}, **CONTENT},
    KeyedSchema: {
        "mediaType": OTHER_MEDIA_TYPE, "opaqueData": {"x-request-id": "r1"}, "orderId": "o-1", "amountCents": 250,
        "strict_count": 3, "note": "ok", "ratio": 0.5, "anything": float("nan"), "flag": True, "tags": ["a", "b"],
        "scores": [1.5, -2.0], "extra": {"nested": {"deep": [1, None]}, "n": 1},
    },
    RaisingSchema: {"mediaType": OTHER_MEDIA_TYPE, "name": "a"},
    IncludingSchema: {"mediaType": OTHER_MEDIA_TYPE, "name": "a"},
    PlainSchema: {"name": "a", "count": 1},
}


def outcome(function: Callable[[], Any]) -> tuple[str, Any]:
    """What a call gives, comparable across paths: its result (types and key order included) or its error."""
    try:
        return "result", repr(function())
    except ValidationError as error:
        return "error", error.messages
    except Exception as error:  # marshmallow lets some through (an int too large for a Float): the same must
        return "raised", repr(error)


def marshmallow_load(schema: Schema, data: Any) -> tuple[str, Any]:
    return outcome(lambda: schema.load(data))


def codec_load(schema: Schema, data: Any) -> tuple[str, Any]:
    return outcome(lambda: decode(schema, data))


def marshmallow_dump(schema: Schema, content: Any) -> tuple[str, Any]:
    """The codec's marshmallow path (`schema.dump` then `schema.validate`), with the schema's plan turned off."""
    vars(schema)[_PLAN_ATTRIBUTE] = None
    return outcome(lambda: dump(schema, content))


def codec_dump(schema: Schema, content: Any) -> tuple[str, Any]:
    return outcome(lambda: dump(schema, content))


def loaded_content(schema_class: type[Schema]) -> dict[str, Any]:
    """The valid message of a schema, as content a producer passes (attribute names)."""
    content: dict[str, Any] = schema_class().load(VALID[schema_class])
    return content


def each_key_set(message: dict[str, Any], value: Any) -> list[dict[str, Any]]:
    """One copy of `message` per key, with that key set to `value`."""
    return [{**message, key: value} for key in message]


def each_key_dropped(message: dict[str, Any]) -> list[dict[str, Any]]:
    """One copy of `message` per key, without that key."""
    return [{other: value for other, value in message.items() if other != key} for key in message]


class PlanTests(unittest.TestCase):
    def test_common_schemas_get_a_plan(self) -> None:
        """Schemas made only of whitelisted plain fields get a plan."""
        for schema_class in SCHEMAS:
            assert_that(plan_for(schema_class(), TRUSTED_POST_LOAD), is_(Plan), schema_class.__name__)

    def test_plan_is_built_once_per_instance(self) -> None:
        """A schema instance keeps its plan: the second look-up returns the same one."""
        schema = ItemSchema()
        assert_that(plan_for(schema, TRUSTED_POST_LOAD), is_(same_instance(plan_for(schema, TRUSTED_POST_LOAD))))

    def test_valid_messages_take_the_fast_route(self) -> None:
        """A valid message is loaded by the plan itself, not handed back to marshmallow."""
        for schema_class in SCHEMAS:
            schema = schema_class()
            plan = plan_for(schema, TRUSTED_POST_LOAD)
            assert plan is not None
            assert_that(plan.load(schema, dict(VALID[schema_class])), is_not(none()), schema_class.__name__)

    def test_valid_content_takes_the_fast_route(self) -> None:
        """Valid content is dumped by the plan itself, not handed back to marshmallow."""
        for schema_class in SCHEMAS:
            schema = schema_class()
            plan = plan_for(schema, TRUSTED_POST_LOAD)
            assert plan is not None
            assert_that(plan.dump(schema, loaded_content(schema_class)), is_not(none()), schema_class.__name__)

    def test_int_for_float_takes_the_fast_route(self) -> None:
        """An int in a Float field (as JSON from other languages writes 1.0) loads on the fast route, as a float."""
        schema = KeyedSchema()
        plan = plan_for(schema, TRUSTED_POST_LOAD)
        assert plan is not None
        loaded = plan.load(schema, {**VALID[KeyedSchema], "ratio": 2, "scores": [1, 2.5]})
        assert loaded is not None
        assert_that(repr((loaded["ratio"], loaded["scores"])), is_(equal_to(repr((2.0, [1.0, 2.5])))))

    def test_wrong_type_falls_back(self) -> None:
        """A value of the wrong type is left to marshmallow: the plan answers None."""
        schema = ItemSchema()
        plan = plan_for(schema, TRUSTED_POST_LOAD)
        assert plan is not None
        assert_that(plan.load(schema, {**VALID[ItemSchema], "count": True}), is_(none()))


class LoadTests(unittest.TestCase):
    def assert_same_load(self, schema_class: type[Schema], messages: list[Any]) -> None:
        for message in messages:
            schema = schema_class()
            assert_that(codec_load(schema, message), is_(equal_to(marshmallow_load(schema, message))), repr(message))

    def test_valid_messages(self) -> None:
        """A valid message loads to marshmallow's dict, same values, types and key order."""
        for schema_class in SCHEMAS:
            self.assert_same_load(schema_class, [VALID[schema_class]])

    def test_missing_keys(self) -> None:
        """A message missing any one key loads (or fails) as marshmallow's load does."""
        for schema_class in SCHEMAS:
            self.assert_same_load(schema_class, each_key_dropped(VALID[schema_class]))

    def test_none_values(self) -> None:
        """A None in any field loads (allow_none) or fails as marshmallow's load does."""
        for schema_class in SCHEMAS:
            self.assert_same_load(schema_class, each_key_set(VALID[schema_class], None))

    def test_bool_for_number(self) -> None:
        """True in any field (an Integer, a Float, a String...) gives marshmallow's result."""
        for schema_class in SCHEMAS:
            self.assert_same_load(schema_class, each_key_set(VALID[schema_class], True))

    def test_numbers_of_the_other_kind(self) -> None:
        """An int for a Float, a float or numeric text for an Integer, a number for a String: marshmallow's result."""
        for schema_class in SCHEMAS:
            for value in (1, 1.0, 2.5, "42", "x", float("inf"), 10**400, [1, 2.5], [10**400]):
                self.assert_same_load(schema_class, each_key_set(VALID[schema_class], value))

    def test_containers_of_the_wrong_kind(self) -> None:
        """A list for a Dict, a dict for a List, a tuple, bytes: marshmallow's result."""
        for schema_class in SCHEMAS:
            for value in ([], {}, ("a",), b"bytes", {1: "x"}, ["a", 1], [1.0, "x"]):
                self.assert_same_load(schema_class, each_key_set(VALID[schema_class], value))

    def test_extra_keys(self) -> None:
        """Undeclared keys are dropped, kept or rejected as the schema's `unknown` says."""
        for schema_class in SCHEMAS:
            self.assert_same_load(schema_class, [{**VALID[schema_class], "surprise": 1, "media_type": "x"}])

    def test_opaque_data_values_kept(self) -> None:
        """Opaque data with nested and non-text values loads as marshmallow loads it."""
        message = {**VALID[ItemSchema], "opaqueData": {"a": {"b": [1, 2]}, "n": 3, "none": None}}
        self.assert_same_load(ItemSchema, [message])

    def test_unicode_text(self) -> None:
        """Non-ASCII text loads unchanged, as marshmallow loads it."""
        self.assert_same_load(ItemSchema, [{**VALID[ItemSchema], "name": "widgét ☃ 🚀", "uri": "\u0000"}])

    def test_not_a_mapping(self) -> None:
        """A list or a string instead of an object fails with marshmallow's error."""
        for schema_class in SCHEMAS:
            self.assert_same_load(schema_class, [[], "text", None])

    def test_mapping_that_is_not_a_dict(self) -> None:
        """A Mapping that is not a plain dict loads as marshmallow loads it."""

        class Frozen(dict[str, Any]):
            pass

        self.assert_same_load(ItemSchema, [Frozen(VALID[ItemSchema])])

    def test_overridden_media_type_hook_applied(self) -> None:
        """A schema's own `deserialize_media_type` is applied on the fast route too."""
        schema = RenamedMediaTypeSchema()
        loaded = decode(schema, {"mediaType": "application/vnd.other", "name": "a"})
        assert_that(plan_for(schema, TRUSTED_POST_LOAD), is_(Plan))
        assert_that(loaded["media_type"], is_(equal_to(OTHER_MEDIA_TYPE)))

    def test_media_type_hook_error(self) -> None:
        """A ValidationError from the media-type hook surfaces as marshmallow's load raises it."""
        self.assert_same_load(RefusingMediaTypeSchema, [{"mediaType": OTHER_MEDIA_TYPE, "name": "a"}])

    def test_codec_decode(self) -> None:
        """`PubSubMessageCodec.decode` of JSON text gives marshmallow's load."""
        message = VALID[ItemSchema]
        codec = PubSubMessageCodec(ItemSchema())
        assert_that(repr(codec.decode(json.dumps(message))), is_(equal_to(repr(ItemSchema().load(message)))))

    def test_error_is_schema_validation_error(self) -> None:
        """A message that does not fit still raises SchemaValidationError with marshmallow's messages."""
        message = {**VALID[ItemSchema], "count": "many"}
        try:
            decode(ItemSchema(), message)
        except SchemaValidationError as error:
            assert_that(error.messages, is_(equal_to(marshmallow_load(ItemSchema(), message)[1])))
            return
        raise AssertionError("no SchemaValidationError was raised")


class DumpTests(unittest.TestCase):
    def assert_same_dump(self, schema_class: type[Schema], contents: list[Any]) -> None:
        for content in contents:
            assert_that(
                codec_dump(schema_class(), content), is_(equal_to(marshmallow_dump(schema_class(), content))),
                repr(content),
            )

    def test_valid_content(self) -> None:
        """Valid content dumps to marshmallow's dict, same values, types and key order."""
        for schema_class in SCHEMAS:
            self.assert_same_dump(schema_class, [loaded_content(schema_class)])

    def test_missing_attributes(self) -> None:
        """Content missing any one attribute dumps (or fails validation) as marshmallow does."""
        for schema_class in SCHEMAS:
            self.assert_same_dump(schema_class, each_key_dropped(loaded_content(schema_class)))

    def test_none_values(self) -> None:
        """A None for any attribute dumps (allow_none) or fails validation as marshmallow does."""
        for schema_class in SCHEMAS:
            self.assert_same_dump(schema_class, each_key_set(loaded_content(schema_class), None))

    def test_values_marshmallow_converts(self) -> None:
        """A bool for an Integer, an int for a String or Float, a str subclass: marshmallow's dump and check."""

        class Text(str):
            pass

        for schema_class in SCHEMAS:
            for value in (True, 7, 2.5, Text("t"), b"bytes", "12", float("nan"), 10**400, [3, 0.5]):
                self.assert_same_dump(schema_class, each_key_set(loaded_content(schema_class), value))

    def test_extra_attributes_ignored(self) -> None:
        """Attributes the schema does not declare are left out, as marshmallow leaves them out."""
        for schema_class in SCHEMAS:
            self.assert_same_dump(schema_class, [{**loaded_content(schema_class), "surprise": 1}])

    def test_attribute_named_like_a_dict_method(self) -> None:
        """A missing field named like a dict method (`items`) is dumped as marshmallow dumps it."""

        class ShadowSchema(PubSubMessageSchema):
            items = fields.String()

        content = {"media_type": "m"}
        assert_that(plan_for(ShadowSchema(), TRUSTED_POST_LOAD), is_(Plan))
        assert_that(codec_dump(ShadowSchema(), content), is_(equal_to(marshmallow_dump(ShadowSchema(), content))))

    def test_dump_error_names_the_argument(self) -> None:
        """Content that does not fit raises SchemaValidationError naming the attribute the caller passed."""
        content = {**loaded_content(KeyedSchema), "amount_cents": None}
        try:
            dump(KeyedSchema(), content)
        except SchemaValidationError as error:
            assert_that(error.argument_messages, is_(equal_to({"amount_cents": ["Field may not be null."]})))
            return
        raise AssertionError("no SchemaValidationError was raised")


def with_field(field: fields.Field[Any]) -> type[Schema]:
    """A pubsub schema with one extra field `value`."""
    return type("OneFieldSchema", (PubSubMessageSchema,), {"value": field})


class Upper(fields.String):
    """A service's own field: a String subclass with its own deserialization."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        return str(super()._deserialize(value, attr, data, **kwargs)).upper()


class NestedSchema(Schema):
    name = fields.String()


class PreLoadSchema(PubSubMessageSchema):
    name = fields.String()

    @pre_load
    def trim(self, data: Any, **kwargs: Any) -> Any:
        return {**data, "name": str(data.get("name", "")).strip()}


class PostDumpSchema(PubSubMessageSchema):
    name = fields.String()

    @post_dump
    def shout(self, data: Any, **kwargs: Any) -> Any:
        return {**data, "name": str(data.get("name", "")).upper()}


class PostLoadSchema(PubSubMessageSchema):
    name = fields.String()

    @post_load
    def count_letters(self, data: Any, **kwargs: Any) -> Any:
        return {**data, "letters": len(data.get("name", ""))}


class ValidatesSchema(PubSubMessageSchema):
    name = fields.String()

    @validates("name")
    def not_empty(self, value: Any, **kwargs: Any) -> None:
        if not value:
            raise ValidationError("empty")


class ValidatesSchemaSchema(PubSubMessageSchema):
    name = fields.String()

    @validates_schema
    def not_empty(self, data: Any, **kwargs: Any) -> None:
        if not data.get("name"):
            raise ValidationError("empty", "name")


class GetAttributeSchema(PubSubMessageSchema):
    name = fields.String()

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        return super().get_attribute(obj, attr, default) if attr != "name" else "always"


class FallbackTests(unittest.TestCase):
    """Each feature the plan does not reproduce: no plan, and marshmallow's own results."""

    def assert_marshmallow_path(self, schema_class: type[Schema], message: dict[str, Any]) -> None:
        schema = schema_class()
        assert_that(plan_for(schema, TRUSTED_POST_LOAD), is_(none()))
        assert_that(codec_load(schema, message), is_(equal_to(marshmallow_load(schema_class(), message))))
        content = {key: value for key, value in message.items() if key != "mediaType"}
        content["media_type"] = OTHER_MEDIA_TYPE
        assert_that(codec_dump(schema, content), is_(equal_to(marshmallow_dump(schema_class(), content))))

    def test_validator(self) -> None:
        """A field with a validator falls back."""
        self.assert_marshmallow_path(with_field(fields.String(validate=validators.Length(min=5))), {
            "mediaType": OTHER_MEDIA_TYPE, "value": "abc",
        })

    def test_field_subclass(self) -> None:
        """A field of a subclass of a whitelisted type falls back."""
        self.assert_marshmallow_path(with_field(Upper()), {"mediaType": OTHER_MEDIA_TYPE, "value": "abc"})

    def test_nested(self) -> None:
        """A Nested field falls back."""
        self.assert_marshmallow_path(with_field(fields.Nested(NestedSchema)), {
            "mediaType": OTHER_MEDIA_TYPE, "value": {"name": "n"},
        })

    def test_load_default(self) -> None:
        """A field with a load_default falls back."""
        self.assert_marshmallow_path(with_field(fields.String(load_default="d")), {"mediaType": OTHER_MEDIA_TYPE})

    def test_dump_default(self) -> None:
        """A field with a dump_default falls back."""
        self.assert_marshmallow_path(with_field(fields.String(dump_default="d")), {"mediaType": OTHER_MEDIA_TYPE})

    def test_dotted_attribute(self) -> None:
        """A dotted attribute (a path into nested objects) falls back."""
        self.assert_marshmallow_path(with_field(fields.String(attribute="inner.name")), {
            "mediaType": OTHER_MEDIA_TYPE, "value": "v",
        })

    def test_empty_attribute(self) -> None:
        """An empty attribute (read from "" when dumping, loaded under the field's name) falls back."""
        self.assert_marshmallow_path(with_field(fields.String(attribute="")), {
            "mediaType": OTHER_MEDIA_TYPE, "value": "v", "": "w",
        })

    def test_load_only(self) -> None:
        """A load_only field falls back."""
        self.assert_marshmallow_path(with_field(fields.String(load_only=True, required=True)), {
            "mediaType": OTHER_MEDIA_TYPE, "value": "v",
        })

    def test_dump_only(self) -> None:
        """A dump_only field falls back."""
        self.assert_marshmallow_path(with_field(fields.String(dump_only=True)), {
            "mediaType": OTHER_MEDIA_TYPE, "value": "v",
        })

    def test_integer_as_string(self) -> None:
        """An Integer dumped as text falls back."""
        self.assert_marshmallow_path(with_field(fields.Integer(as_string=True)), {
            "mediaType": OTHER_MEDIA_TYPE, "value": 4,
        })

    def test_boolean_with_own_truth_values(self) -> None:
        """A Boolean with its own truthy values falls back."""
        self.assert_marshmallow_path(with_field(fields.Boolean(truthy={"yes"}, falsy={"no"})), {
            "mediaType": OTHER_MEDIA_TYPE, "value": True,
        })

    def test_dict_with_value_field(self) -> None:
        """A Dict that types its values falls back."""
        self.assert_marshmallow_path(with_field(fields.Dict(keys=fields.String(), values=fields.Integer())), {
            "mediaType": OTHER_MEDIA_TYPE, "value": {"a": 1},
        })

    def test_list_of_dicts(self) -> None:
        """A List of a non-scalar field falls back."""
        self.assert_marshmallow_path(with_field(fields.List(fields.Dict())), {
            "mediaType": OTHER_MEDIA_TYPE, "value": [{"a": 1}],
        })

    def test_pre_load_hook(self) -> None:
        """A pre_load hook falls back."""
        self.assert_marshmallow_path(PreLoadSchema, {"mediaType": OTHER_MEDIA_TYPE, "name": "  n  "})

    def test_post_dump_hook(self) -> None:
        """A post_dump hook falls back."""
        self.assert_marshmallow_path(PostDumpSchema, {"mediaType": OTHER_MEDIA_TYPE, "name": "n"})

    def test_another_post_load_hook(self) -> None:
        """A post_load hook besides the media-type one falls back."""
        self.assert_marshmallow_path(PostLoadSchema, {"mediaType": OTHER_MEDIA_TYPE, "name": "n"})

    def test_validates_hook(self) -> None:
        """A @validates field hook falls back."""
        self.assert_marshmallow_path(ValidatesSchema, {"mediaType": OTHER_MEDIA_TYPE, "name": ""})

    def test_validates_schema_hook(self) -> None:
        """A @validates_schema hook falls back."""
        self.assert_marshmallow_path(ValidatesSchemaSchema, {"mediaType": OTHER_MEDIA_TYPE, "name": ""})

    def test_overridden_get_attribute(self) -> None:
        """A schema overriding get_attribute falls back."""
        self.assert_marshmallow_path(GetAttributeSchema, {"mediaType": OTHER_MEDIA_TYPE, "name": "n"})

    def test_ordered_output(self) -> None:
        """A schema whose dict_class is not dict (marshmallow 3's `ordered`) falls back."""
        ordered = type("OrderedSchema", (ItemSchema,), {"dict_class": OrderedDict})
        self.assert_marshmallow_path(ordered, VALID[ItemSchema])

    def test_many_instance(self) -> None:
        """A schema instance made with many=True gets no plan."""
        assert_that(plan_for(ItemSchema(many=True), TRUSTED_POST_LOAD), is_(none()))

    def test_partial_instance(self) -> None:
        """A schema instance made with partial=True gets no plan."""
        assert_that(plan_for(ItemSchema(partial=True), TRUSTED_POST_LOAD), is_(none()))

    def test_untrusted_post_load(self) -> None:
        """The media-type hook is trusted only when the codec says so."""
        assert_that(plan_for(ItemSchema()), is_(none()))
