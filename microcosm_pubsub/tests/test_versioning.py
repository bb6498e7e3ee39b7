"""Versioned media types: declaring versions, what goes on the wire, routing on the major, upcasting, refusals.

In memory: the real producer's `prepare`, the real envelope and dispatcher (no queue).
"""
from __future__ import annotations

import asyncio
import json
import unittest
from collections.abc import Callable
from typing import Any

from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    contains_string,
    equal_to,
    has_entries,
    has_key,
    is_,
    is_not,
    none,
    raises,
)
from marshmallow import Schema, fields
from microcosm.api import binding

from microcosm_pubsub.api import PubSubMessageSchema, handles, schema, upcaster
from microcosm_pubsub.consume.result import MessageHandlingResult, Outcome
from microcosm_pubsub.schemas.registry import PubSubMessageSchemaRegistry
from microcosm_pubsub.schemas.versions import SchemaVersion, schema_versions
from microcosm_pubsub.testing import testing_graph
from microcosm_pubsub.testing.dispatch import dispatch_sqs_message
from microcosm_pubsub.testing.events import delivered
from microcosm_pubsub.wire.errors import (
    AlreadyRegisteredError,
    ProduceArgumentError,
    SchemaNotFoundError,
    SchemaValidationError,
)
from microcosm_pubsub.wire.outgoing import MESSAGE_ID_ATTRIBUTE, VERSION_ATTRIBUTE


PREFIX = "application/vnd.microcosm.pubsub._.tests.versioning"
ORDER = f"{PREFIX}.order"
PARCEL = f"{PREFIX}.parcel"
NOTE = f"{PREFIX}.note"


@schema
class OrderV1(PubSubMessageSchema):
    MEDIA_TYPE = ORDER

    quantity = fields.Integer(required=True)


@schema
class OrderV2(PubSubMessageSchema):
    MEDIA_TYPE = ORDER
    VERSION = "2.0"

    # Major 2 splits the quantity by unit
    amount = fields.Integer(required=True)
    unit = fields.String(required=True)


@upcaster(ORDER, from_major=1)
def order_1_to_2(content: dict[str, Any]) -> dict[str, Any]:
    return {**content, "amount": content["quantity"], "unit": "piece"}


@schema
class ParcelV1(PubSubMessageSchema):
    MEDIA_TYPE = PARCEL

    weight = fields.Integer(required=True)


@schema
class ParcelV2(PubSubMessageSchema):
    MEDIA_TYPE = PARCEL
    VERSION = "2.1"

    grams = fields.Integer(required=True)


@schema
class ParcelV3(PubSubMessageSchema):
    MEDIA_TYPE = PARCEL
    VERSION = "3.0"

    grams = fields.Integer(required=True)
    fragile = fields.Boolean(required=True)


@upcaster(PARCEL, from_major=1)
def parcel_1_to_2(content: dict[str, Any]) -> dict[str, Any]:
    if content["weight"] < 0:
        raise ValueError("a parcel cannot weigh less than nothing")
    return {**content, "grams": content["weight"] * 1000}


@upcaster(ParcelV2, from_major=2)
def parcel_2_to_3(content: dict[str, Any]) -> dict[str, Any]:
    return {**content, "fragile": False}


# Two majors and no upcaster
@schema
class NoteV1(PubSubMessageSchema):
    MEDIA_TYPE = NOTE

    text = fields.String(required=True)


@schema
class NoteV2(PubSubMessageSchema):
    MEDIA_TYPE = NOTE
    VERSION = "2.0"

    text = fields.String(required=True)
    language = fields.String(required=True)


class Recorder:
    """Handlers that write down what each was called with, by name."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str) -> Callable[[dict[str, Any]], bool]:
        def handler(content: dict[str, Any]) -> bool:
            self.calls.append((name, content))
            return True
        handler.__qualname__ = f"handler_{name}"
        return handler


def deliver(graph: Any, media_type: str, content: dict[str, Any], **kwargs: Any) -> MessageHandlingResult:
    """Prepare as `produce` does, deliver as SQS would, and handle."""
    outgoing = graph.sns_producer.prepare(media_type, content, **kwargs)
    return dispatch_sqs_message(graph, delivered(outgoing.body, outgoing.attributes))


def deliver_with_attributes(graph: Any, body: str, attributes: dict[str, str]) -> MessageHandlingResult:
    """A message as another producer might send it: any body, any string attributes."""
    wire = {name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()}
    return dispatch_sqs_message(graph, delivered(body, wire))


class TestDeclaring(unittest.TestCase):
    def test_schema_versions_lists_every_version_sorted(self) -> None:
        """One entry per registered schema version: media type, then version in numeric order."""
        versions = [entry for entry in schema_versions(testing_graph().pubsub_message_schema_registry)
                    if entry.media_type.startswith(PREFIX)]
        assert_that(versions, contains_exactly(
            SchemaVersion(NOTE, "1.0", NoteV1), SchemaVersion(NOTE, "2.0", NoteV2),
            SchemaVersion(ORDER, "1.0", OrderV1), SchemaVersion(ORDER, "2.0", OrderV2),
            SchemaVersion(PARCEL, "1.0", ParcelV1), SchemaVersion(PARCEL, "2.1", ParcelV2),
            SchemaVersion(PARCEL, "3.0", ParcelV3),
        ))

    def test_versions_sort_as_numbers(self) -> None:
        """2.10 comes after 2.9, and 10.0 after 9.0."""
        registry = PubSubMessageSchemaRegistry(None)
        for version in ("10.0", "2.10", "9.0"):
            registry.register(f"{PREFIX}.sorted", type("S", (Schema,), {"VERSION": version}))
        listed = [entry.version for entry in schema_versions(registry) if entry.media_type == f"{PREFIX}.sorted"]
        assert_that(listed, is_(equal_to(["2.10", "9.0", "10.0"])))

    def test_malformed_version_is_refused_where_declared(self) -> None:
        """`VERSION = 2` or `"v2"` is a TypeError at `@schema`, saying what to write."""
        for declared in (2, "v2", "2", "0.1", "2.0.1"):
            bad = type("BadVersionSchema", (PubSubMessageSchema,), {"MEDIA_TYPE": f"{PREFIX}.bad", "VERSION": declared})
            assert_that(calling(schema).with_args(bad), raises(TypeError, r'declare a "major.minor" string'))

    def test_one_schema_per_major(self) -> None:
        """Two schemas of one major (2.0 and 2.1) clash: a major holds one schema."""
        registry = testing_graph().pubsub_message_schema_registry
        newer = type("OrderV21", (PubSubMessageSchema,), {"MEDIA_TYPE": ORDER, "VERSION": "2.1"})
        assert_that(calling(registry.register).with_args(ORDER, newer),
                    raises(AlreadyRegisteredError, "two schemas of major version 2"))

    def test_handles_version_must_match_the_schema(self) -> None:
        """`@handles(OrderV2, version=3)` contradicts the schema's VERSION and says so."""
        assert_that(calling(handles).with_args(OrderV2, version=3), raises(TypeError, "the schema's VERSION is 2.0"))
        assert_that(calling(handles).with_args(ORDER, version=0), raises(TypeError, "majors start at 1"))
        assert_that(calling(handles).with_args(OrderV2, version="two"), raises(TypeError, r"@handles\(OrderV2"))


class TestWire(unittest.TestCase):
    def setUp(self) -> None:
        self.graph = testing_graph()

    def test_version_one_carries_no_new_attribute(self) -> None:
        """A version-1 message's attributes are exactly the old package's: the media type alone."""
        message = self.graph.sns_producer.prepare(ORDER, {"quantity": 2})
        assert_that(message.attributes, is_(equal_to({"media_type": {"DataType": "String", "StringValue": ORDER}})))
        asked = self.graph.sns_producer.prepare(ORDER, {"quantity": 2}, media_type_version=1)
        assert_that(asked.attributes, is_not(has_key(VERSION_ATTRIBUTE)))

    def test_later_versions_carry_theirs(self) -> None:
        """Major 2 and a minor above 0 carry the schema's version as the attribute."""
        message = self.graph.sns_producer.prepare(ORDER, {"amount": 2, "unit": "kg"}, media_type_version=2)
        assert_that(message.attributes, has_entries({
            "media_type": {"DataType": "String", "StringValue": ORDER},
            VERSION_ATTRIBUTE: {"DataType": "String", "StringValue": "2.0"},
        }))
        minor = self.graph.sns_producer.prepare(PARCEL, {"grams": 5}, media_type_version="2.1")
        assert_that(minor.attributes[VERSION_ATTRIBUTE], has_entries(StringValue="2.1"))

    def test_a_minor_above_zero_of_major_one_carries_it(self) -> None:
        """`VERSION = "1.1"` is still major 1, but says its minor."""
        minor = type("MinorSchema", (PubSubMessageSchema,), {"MEDIA_TYPE": f"{PREFIX}.minor", "VERSION": "1.1"})
        self.graph.pubsub_message_schema_registry.register(f"{PREFIX}.minor", minor)
        message = self.graph.sns_producer.prepare(f"{PREFIX}.minor", {})
        assert_that(message.attributes[VERSION_ATTRIBUTE], has_entries(StringValue="1.1"))

    def test_message_ids_and_version_together(self) -> None:
        """An idempotency key's message id and the version are both there, each under its name."""
        message = self.graph.sns_producer.prepare(
            ORDER, {"amount": 1, "unit": "kg"}, media_type_version=2, idempotency_key="order-1",
        )
        assert_that(message.attributes, has_key(MESSAGE_ID_ATTRIBUTE))
        assert_that(message.attributes, has_key(VERSION_ATTRIBUTE))

    def test_default_is_major_one_when_it_exists(self) -> None:
        """Without a version named, a media type with a version-1 schema publishes version 1, as before."""
        assert_that(
            calling(self.graph.sns_producer.prepare).with_args(ORDER, {"amount": 2, "unit": "kg"}),
            raises(SchemaValidationError, "OrderV1"),
        )

    def test_default_is_the_highest_major_without_a_version_one(self) -> None:
        """A media type declared only in majors 2 and 3 publishes 3 when none is named."""
        registry = self.graph.pubsub_message_schema_registry
        media_type = f"{PREFIX}.late"
        for version in ("2.0", "3.0"):
            registry.register(media_type, type("Late", (PubSubMessageSchema,), {"MEDIA_TYPE": media_type,
                                                                                "VERSION": version}))
        message = self.graph.sns_producer.prepare(media_type, {})
        assert_that(message.attributes[VERSION_ATTRIBUTE], has_entries(StringValue="3.0"))

    def test_produce_refuses_an_unknown_major(self) -> None:
        """Asking for a major the registry lacks names the majors it has."""
        assert_that(
            calling(self.graph.sns_producer.produce).with_args(ORDER, {"amount": 1}, media_type_version=3),
            raises(SchemaNotFoundError, r"no schema of major version 3 .* \(registered majors: 1, 2\)"),
        )

    def test_produce_refuses_a_malformed_version(self) -> None:
        """`media_type_version` is a major or "major.minor"; anything else is an argument error."""
        for version in ("two", 0, "2"):
            assert_that(
                calling(self.graph.sns_producer.produce).with_args(ORDER, {"quantity": 1}, media_type_version=version),
                raises(ProduceArgumentError, "media_type_version for"),
            )


class TestRouting(unittest.TestCase):
    def setUp(self) -> None:
        self.graph = testing_graph()
        self.handlers = self.graph.sqs_message_handler_registry
        self.recorder = Recorder()

    def test_majors_side_by_side(self) -> None:
        """Handlers of majors 1 and 2 each get their own major's messages, read with their own schema."""
        self.handlers.register(NOTE, self.recorder("v1"))
        self.handlers.register(NOTE, self.recorder("v2"), version=2)
        first = deliver(self.graph, NOTE, {"text": "hello"})
        second = deliver(self.graph, NOTE, {"text": "hallo", "language": "de"}, media_type_version=2)
        assert_that([first.outcome, second.outcome], is_(equal_to([Outcome.SUCCEEDED, Outcome.SUCCEEDED])))
        assert_that([name for name, _ in self.recorder.calls], is_(equal_to(["v1", "v2"])))
        assert_that(self.recorder.calls[1][1], has_entries(text="hallo", language="de"))
        assert_that(second.handler, contains_string("handler_v2"))

    def test_upcast_to_the_next_major(self) -> None:
        """A major-1 message with only a major-2 handler reaches it through the upcaster."""
        self.handlers.register(ORDER, self.recorder("v2"), version=2)
        result = deliver(self.graph, ORDER, {"quantity": 3})
        assert_that(result.outcome, is_(Outcome.SUCCEEDED))
        assert_that(self.recorder.calls[0][1], has_entries(quantity=3, amount=3, unit="piece"))

    def test_own_handler_wins_over_upcasting(self) -> None:
        """With a major-1 handler, a major-1 message is not upcast."""
        self.handlers.register(ORDER, self.recorder("v1"))
        self.handlers.register(ORDER, self.recorder("v2"), version=2)
        deliver(self.graph, ORDER, {"quantity": 3})
        assert_that([name for name, _ in self.recorder.calls], is_(equal_to(["v1"])))
        assert_that(self.recorder.calls[0][1], is_not(has_key("amount")))

    def test_upcasts_chain(self) -> None:
        """Majors 1 and 2 reach a major-3 handler through two upcasters and one."""
        self.handlers.register(PARCEL, self.recorder("v3"), version=3)
        results = [
            deliver(self.graph, PARCEL, {"weight": 2}),
            deliver(self.graph, PARCEL, {"grams": 70}, media_type_version=2),
            deliver(self.graph, PARCEL, {"grams": 9, "fragile": True}, media_type_version=3),
        ]
        assert_that([result.outcome for result in results], is_(equal_to([Outcome.SUCCEEDED] * 3)))
        assert_that([content for _, content in self.recorder.calls], contains_exactly(
            has_entries(grams=2000, fragile=False), has_entries(grams=70, fragile=False),
            has_entries(grams=9, fragile=True),
        ))

    def test_handler_classes_by_schema(self) -> None:
        """`@handles(Schema)` binds a class to its schema's major; the daemon's components make it active."""
        calls: list[str] = []

        @handles(NoteV2)
        class NoteV2Handler:
            def __init__(self, graph: Any) -> None:
                pass

            def __call__(self, content: dict[str, Any]) -> bool:
                calls.append(content["language"])
                return True

        binding("versioning_note_v2_handler")(NoteV2Handler)
        graph = testing_graph(components=["versioning_note_v2_handler"])
        assert_that(deliver(graph, NOTE, {"text": "x", "language": "fr"}, media_type_version=2).outcome,
                    is_(Outcome.SUCCEEDED))
        assert_that(calls, is_(equal_to(["fr"])))

    def test_a_major_nobody_handles_is_ignored_as_an_unknown_media_type(self) -> None:
        """No handler of the major and no upcaster: IGNORED with the reason, as an unknown media type is."""
        self.handlers.register(NOTE, self.recorder("v1"))
        result = deliver(self.graph, NOTE, {"text": "x", "language": "en"}, media_type_version=2)
        assert_that(result.outcome, is_(Outcome.IGNORED))
        assert_that(result.reason, is_(equal_to(f"no handler for media type {NOTE} of major version 2 "
                                                "(handled majors: 1)")))
        assert_that(self.recorder.calls, is_(equal_to([])))

    def test_version_one_without_its_handler_or_upcaster_is_ignored(self) -> None:
        """A major-1 message with only a major-2 handler and no upcaster: the old reason, unchanged."""
        self.handlers.register(NOTE, self.recorder("v2"), version=2)
        result = deliver(self.graph, NOTE, {"text": "x"})
        assert_that(result.outcome, is_(Outcome.IGNORED))
        assert_that(result.reason, is_(equal_to(f"no handler for media type {NOTE}")))

    def test_a_major_without_a_schema_is_ignored(self) -> None:
        """A handler of major 4 but no schema of it: IGNORED, naming the majors that have schemas."""
        self.handlers.register(NOTE, self.recorder("v4"), version=4)
        body = json.dumps({"mediaType": NOTE, "text": "x"})
        result = deliver_with_attributes(self.graph, body, {"media_type": NOTE, VERSION_ATTRIBUTE: "4.0"})
        assert_that(result.outcome, is_(Outcome.IGNORED))
        assert_that(result.reason, contains_string("no schema of major version 4"))
        assert_that(result.reason, contains_string("registered majors: 1, 2"))

    def test_content_not_fitting_its_major_is_invalid(self) -> None:
        """A major-2 message is read with the major-2 schema: content that fits only major 1 is INVALID."""
        self.handlers.register(NOTE, self.recorder("v2"), version=2)
        body = json.dumps({"mediaType": NOTE, "text": "x"})
        result = deliver_with_attributes(self.graph, body, {"media_type": NOTE, VERSION_ATTRIBUTE: "2.0"})
        assert_that(result.outcome, is_(Outcome.INVALID))
        assert_that(result.reason, contains_string("content does not fit NoteV2"))
        assert_that(result.reason, contains_string("language"))

    def test_malformed_version_attribute_is_invalid(self) -> None:
        """A version attribute that is not "major.minor" is INVALID (dead-lettered with this reason), not a crash."""
        self.handlers.register(NOTE, self.recorder("v1"))
        body = json.dumps({"mediaType": NOTE, "text": "x"})
        for version in ("two", "", "2", "-1.0"):
            result = deliver_with_attributes(self.graph, body, {"media_type": NOTE, VERSION_ATTRIBUTE: version})
            assert_that(result.outcome, is_(Outcome.INVALID))
            assert_that(result.reason, contains_string(f"message attribute {VERSION_ATTRIBUTE} is {version!r}"))
        assert_that(self.recorder.calls, is_(equal_to([])))

    def test_a_failing_upcaster_fails_the_message(self) -> None:
        """An upcaster that raises is a fault of the service's code: FAILED (retried), its error in the reason."""
        self.handlers.register(PARCEL, self.recorder("v3"), version=3)
        result = deliver(self.graph, PARCEL, {"weight": -1})
        assert_that(result.outcome, is_(Outcome.FAILED))
        assert_that(result.reason, contains_string("upcaster"))
        assert_that(result.reason, contains_string("parcel_1_to_2 failed: ValueError: a parcel cannot weigh"))
        assert_that(self.recorder.calls, is_(equal_to([])))

    def test_version_one_named_on_the_wire_routes_as_version_one(self) -> None:
        """A peer that writes "1.0" (or a minor of 1) gets the major-1 handler."""
        self.handlers.register(NOTE, self.recorder("v1"))
        body = json.dumps({"mediaType": NOTE, "text": "x"})
        result = deliver_with_attributes(self.graph, body, {"media_type": NOTE, VERSION_ATTRIBUTE: "1.3"})
        assert_that(result.outcome, is_(Outcome.SUCCEEDED))
        assert_that([name for name, _ in self.recorder.calls], is_(equal_to(["v1"])))
        assert_that(self.recorder.calls[0][1], has_entries(text="x"))

    def test_registered_handler_lookup_by_major(self) -> None:
        """`find_version` gives a major's handler, None for a major without one."""
        handler = self.recorder("v2")
        self.handlers.register(NOTE, handler, version="2.0")
        assert_that(self.handlers.find_version(NOTE, 2), is_(handler))
        assert_that(self.handlers.find_version(NOTE, 3), is_(none()))

    def test_codec_of_a_published_message(self) -> None:
        """`find_published` reads a message's version attribute value: none is major 1."""
        registry = self.graph.pubsub_message_schema_registry
        assert_that(type(registry.find_published(ORDER, None).schema), is_(equal_to(OrderV1)))
        assert_that(type(registry.find_published(ORDER, "2.0").schema), is_(equal_to(OrderV2)))
        assert_that(calling(registry.find_published).with_args(ORDER, "two"), raises(SchemaNotFoundError, "'two'"))

    def test_async_handlers_get_the_upcast_content(self) -> None:
        """The coroutine path calls a later major's handler with the upcast content too."""
        calls: list[dict[str, Any]] = []

        async def handler(content: dict[str, Any]) -> bool:
            calls.append(content)
            return True

        self.handlers.register(ORDER, handler, version=2)
        outgoing = self.graph.sns_producer.prepare(ORDER, {"quantity": 5})
        message = self.graph.sqs_consumer.wrap(delivered(outgoing.body, outgoing.attributes))
        result = asyncio.run(self.graph.sqs_message_dispatcher.handle_message_async(message))
        assert_that(result.outcome, is_(Outcome.SUCCEEDED))
        assert_that(calls, contains_exactly(has_entries(amount=5, unit="piece")))

    def test_a_message_says_its_version(self) -> None:
        """`SQSMessage.version` is what its producer sent, "1.0" for a message without the attribute."""
        first = self.graph.sns_producer.prepare(NOTE, {"text": "x"})
        second = self.graph.sns_producer.prepare(NOTE, {"text": "x", "language": "en"}, media_type_version=2)
        versions = [self.graph.sqs_consumer.wrap(delivered(message.body, message.attributes)).version
                    for message in (first, second)]
        assert_that(versions, is_(equal_to(["1.0", "2.0"])))
