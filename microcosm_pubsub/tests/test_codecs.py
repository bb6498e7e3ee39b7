"""PubSubMessageSchema and JSON encoding/decoding of content through a schema."""
from __future__ import annotations

import json
import unittest
from typing import Any

from hamcrest import (
    any_of,
    assert_that,
    calling,
    contains_string,
    equal_to,
    greater_than,
    has_entries,
    has_entry,
    has_key,
    instance_of,
    is_,
    is_not,
    raises,
)
from marshmallow import ValidationError, fields

from microcosm_pubsub.schemas.codecs import PUBLISHED_KEY, PubSubMessageSchema, decode, encode
from microcosm_pubsub.wire.errors import SchemaValidationError


MEDIA_TYPE = "application/vnd.globality.pubsub._.created.test-codecs-widget"


class WidgetSchema(PubSubMessageSchema):
    MEDIA_TYPE = MEDIA_TYPE

    name = fields.String(required=True)
    count = fields.Integer(required=False)


class OldStyleSchema(PubSubMessageSchema):
    """Written as the old README showed: the media type comes from the class, whatever the wire said."""

    MEDIA_TYPE = "application/vnd.globality.pubsub._.created.test-codecs-old-style"

    name = fields.String(required=True)

    def deserialize_media_type(self, obj: Any) -> Any:
        return OldStyleSchema.MEDIA_TYPE


def validation_messages(function: Any, *args: Any) -> Any:
    """The field errors of the ValidationError `function(*args)` raises."""
    try:
        function(*args)
    except ValidationError as error:
        return error.messages
    raise AssertionError("no ValidationError was raised")


class OrderSchema(PubSubMessageSchema):
    """Fields whose key in the message (camelCase) differs from the name a producer passes."""

    MEDIA_TYPE = "application/vnd.globality.pubsub._.created.test-codecs-order"

    order_id = fields.String(data_key="orderId", required=True)
    amountCents = fields.Integer(attribute="amount_cents", required=True)


def validation_error(content: dict[str, Any]) -> SchemaValidationError:
    try:
        encode(OrderSchema(), OrderSchema.MEDIA_TYPE, content)
    except SchemaValidationError as error:
        return error
    raise AssertionError(f"{content!r} was encoded")


class SchemaTests(unittest.TestCase):
    def test_dump_uses_wire_names(self) -> None:
        """Dumping writes media type and opaque data under their camel-case wire names."""
        dumped = WidgetSchema().dump({"media_type": MEDIA_TYPE, "opaque_data": {"x-request-id": "r1"}, "name": "a"})
        assert_that(
            dumped,
            is_(equal_to({"mediaType": MEDIA_TYPE, "opaqueData": {"x-request-id": "r1"}, "name": "a"})),
        )

    def test_load_uses_attribute_names(self) -> None:
        """Loading reads the wire names into `media_type` and `opaque_data`."""
        loaded = WidgetSchema().load({"mediaType": MEDIA_TYPE, "opaqueData": {"x-request-id": "r1"}, "name": "a"})
        assert_that(
            loaded,
            is_(equal_to({"media_type": MEDIA_TYPE, "opaque_data": {"x-request-id": "r1"}, "name": "a"})),
        )

    def test_media_type_required(self) -> None:
        """Loading without a media type fails on `mediaType`."""
        messages = validation_messages(WidgetSchema().load, {"name": "a"})
        assert_that(messages, has_key("mediaType"))

    def test_opaque_data_optional(self) -> None:
        """Opaque data may be left out."""
        loaded = WidgetSchema().load({"mediaType": MEDIA_TYPE, "name": "a"})
        assert_that(loaded, is_(equal_to({"media_type": MEDIA_TYPE, "name": "a"})))


class EncodeTests(unittest.TestCase):
    def test_encode_is_schema_dump(self) -> None:
        """The encoded JSON holds the media type, the opaque data and the fields."""
        wire = json.loads(encode(WidgetSchema(), MEDIA_TYPE, {"name": "a", "count": 2}))
        assert_that(wire, has_entries(mediaType=MEDIA_TYPE, name="a", count=2, opaqueData=has_key(PUBLISHED_KEY)))

    def test_missing_required_field(self) -> None:
        """Content missing a required field raises ValidationError naming the field."""
        messages = validation_messages(encode, WidgetSchema(), MEDIA_TYPE, {"count": 2})
        assert_that(messages, has_key("name"))

    def test_wrong_type_is_validation_error(self) -> None:
        """Content that cannot be serialized raises ValidationError, not a TypeError or ValueError."""
        assert_that(
            calling(encode).with_args(WidgetSchema(), MEDIA_TYPE, {"name": "a", "count": "many"}),
            raises(ValidationError),
        )

    def test_opaque_keys_lower_cased(self) -> None:
        """Opaque data keys go on the wire lower-cased, with string values."""
        wire = json.loads(encode(WidgetSchema(), MEDIA_TYPE, {"name": "a"}, {"X-Request-Id": "r1", "X-Count": 3}))
        assert_that(wire["opaqueData"], has_entries({"x-request-id": "r1", "x-count": "3"}))
        assert_that(wire["opaqueData"], is_not(has_key("X-Request-Id")))

    def test_published_timestamp_added(self) -> None:
        """Encoding stamps x-request-published with epoch seconds as a string."""
        wire = json.loads(encode(WidgetSchema(), MEDIA_TYPE, {"name": "a"}))
        published = wire["opaqueData"][PUBLISHED_KEY]
        assert_that(published, is_(instance_of(str)))
        assert_that(float(published), is_(greater_than(1_500_000_000)))

    def test_published_overrides_caller(self) -> None:
        """A caller's stale x-request-published is replaced with the time of this encoding."""
        wire = json.loads(encode(WidgetSchema(), MEDIA_TYPE, {"name": "a"}, {PUBLISHED_KEY: "1"}))
        assert_that(float(wire["opaqueData"][PUBLISHED_KEY]), is_(greater_than(1)))

    def test_compact_json(self) -> None:
        """The JSON is compact: no spaces after separators."""
        wire = encode(WidgetSchema(), MEDIA_TYPE, {"name": "a"})
        assert_that(wire, is_not(any_of(contains_string(", "), contains_string(": "))))


class DecodeTests(unittest.TestCase):
    def test_round_trip(self) -> None:
        """What encode writes, decode reads back as content."""
        wire = json.loads(encode(WidgetSchema(), MEDIA_TYPE, {"name": "a", "count": 2}, {"x-request-id": "r1"}))
        content = decode(WidgetSchema(), wire)
        assert_that(
            content,
            has_entries(media_type=MEDIA_TYPE, name="a", count=2, opaque_data=has_entry("x-request-id", "r1")),
        )

    def test_unknown_fields_excluded(self) -> None:
        """Fields the schema does not know are dropped, not rejected."""
        content = decode(WidgetSchema(), {"mediaType": MEDIA_TYPE, "name": "a", "colour": "red"})
        assert_that(content, is_(equal_to({"media_type": MEDIA_TYPE, "name": "a"})))

    def test_invalid_content(self) -> None:
        """Data that does not fit the schema raises ValidationError."""
        assert_that(calling(decode).with_args(WidgetSchema(), {"mediaType": MEDIA_TYPE}), raises(ValidationError))

    def test_old_style_media_type_hook(self) -> None:
        """An old schema's deserialize_media_type override still decides the loaded media type."""
        content = decode(OldStyleSchema(), {"mediaType": "application/vnd.globality.pubsub.legacy", "name": "a"})
        assert_that(content, has_entries(media_type=OldStyleSchema.MEDIA_TYPE, name="a"))

    def test_old_style_schema_encodes(self) -> None:
        """An old schema still encodes its media type onto the wire."""
        wire = json.loads(encode(OldStyleSchema(), OldStyleSchema.MEDIA_TYPE, {"name": "a"}))
        assert_that(wire, has_entries(mediaType=OldStyleSchema.MEDIA_TYPE, name="a"))


class ArgumentNamingTests(unittest.TestCase):
    """Encoding errors name the argument the caller passed, not only the key in the message."""

    def test_missing_field_names_the_argument(self) -> None:
        """A missing field is named by its attribute, with its key in the message beside it."""
        error = validation_error({"order_id": "o-1"})
        assert_that(str(error), contains_string("amount_cents (amountCents in the message): Missing data"))
        assert_that(error.argument_messages, has_key("amount_cents"))

    def test_invalid_value_names_the_argument(self) -> None:
        """A value the field cannot serialize is named by its attribute, with the value."""
        error = validation_error({"order_id": "o-1", "amount_cents": "abc"})
        assert_that(str(error), contains_string("amount_cents (amountCents in the message): cannot serialize 'abc'"))

    def test_data_key_field_names_the_argument(self) -> None:
        """A field declared with data_key is named by its attribute too."""
        error = validation_error({"amount_cents": 1})
        assert_that(str(error), contains_string("order_id (orderId in the message)"))

    def test_messages_keep_the_wire_keys(self) -> None:
        """`messages` stay keyed as marshmallow keys them, for code that reads ValidationError.messages."""
        error = validation_error({"order_id": "o-1"})
        assert_that(error.messages, has_key("amountCents"))

    def test_decode_errors_name_the_wire_key(self) -> None:
        """Errors loading a received message name the keys of the message, which is what it holds."""
        assert_that(
            calling(decode).with_args(OrderSchema(), {"mediaType": OrderSchema.MEDIA_TYPE, "orderId": "o-1"}),
            raises(SchemaValidationError, r"\{'amountCents': \['Missing data"),
        )
