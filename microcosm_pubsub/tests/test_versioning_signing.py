"""Signing covers a message's `media_type_version`: the attribute that routes it to a major cannot be changed,
added or removed on the way, and version-1 signatures are what they always were (old peers verify them)."""
from __future__ import annotations

import unittest
from typing import Any

from hamcrest import assert_that, contains_string, equal_to, has_entries, is_, is_not, none
from marshmallow import fields

from microcosm_pubsub.api import PubSubMessageSchema, schema
from microcosm_pubsub.consume.result import MessageHandlingResult, Outcome
from microcosm_pubsub.middleware.signing import KEY_ID_ATTRIBUTE, SIGNATURE_ATTRIBUTE, MessageSigning, sign
from microcosm_pubsub.testing.dispatch import dispatch_sqs_message
from microcosm_pubsub.tests.test_signing import OLD_SECRET, TOPIC, make_signing_graph, raw_delivery, sns_delivery
from microcosm_pubsub.wire.outgoing import VERSION_ATTRIBUTE, Attributes, OutgoingMessage, media_type_attributes


PARCEL = "application/vnd.microcosm.pubsub._.tests.versioned_signing.parcel"
# Version-1 signatures as the code before versioned signing made them (computed then, kept as constants)
V1_BODY = '{"mediaType":"' + PARCEL + '","opaqueData":{},"weight":2}'
V1_SIGNATURE = "FE+lNcm/W/+3roiPANzD7lV/S8dnL39F2EH9iXg7OHU="


@schema
class ParcelV1(PubSubMessageSchema):
    MEDIA_TYPE = PARCEL

    # Optional, and `grams` too: a body can fit majors 1 and 2, what a changed version could smuggle through
    weight = fields.Integer()
    grams = fields.Integer()


@schema
class ParcelV2(PubSubMessageSchema):
    MEDIA_TYPE = PARCEL
    VERSION = "2.0"

    grams = fields.Integer(required=True)


@schema
class ParcelV3(PubSubMessageSchema):
    MEDIA_TYPE = PARCEL
    VERSION = "3.0"

    grams = fields.Integer(required=True)


def with_attributes(message: OutgoingMessage, **changes: str | None) -> OutgoingMessage:
    """`message` with string attributes set (or removed, for None), its body and signature untouched."""
    attributes = dict(message.attributes)
    for name, value in changes.items():
        if value is None:
            attributes.pop(name, None)
        else:
            attributes[name] = {"DataType": "String", "StringValue": value}
    return OutgoingMessage(message.topic_arn, message.media_type, message.body, attributes)


class TestVersionedSignatures(unittest.TestCase):
    def setUp(self) -> None:
        self.graph = make_signing_graph({"keys": {"k1": OLD_SECRET}, "signing_key_id": "k1"})
        self.calls: list[tuple[int, dict[str, Any]]] = []
        handlers = self.graph.sqs_message_handler_registry
        for major in (1, 2, 3):
            handlers.register(PARCEL, self.recorder(major), version=major)

    def recorder(self, major: int) -> Any:
        def handler(content: dict[str, Any]) -> bool:
            self.calls.append((major, content))
            return True
        return handler

    def handle(self, raw: dict[str, Any]) -> MessageHandlingResult:
        return dispatch_sqs_message(self.graph, raw)

    def version_2(self) -> OutgoingMessage:
        message: OutgoingMessage = self.graph.sns_producer.prepare(PARCEL, {"grams": 70}, media_type_version=2)
        return message

    def assert_refused(self, result: MessageHandlingResult, version: str | None) -> None:
        """INVALID, the reason saying the signature does not match (and with which version), no handler called."""
        assert_that(result.outcome, is_(Outcome.INVALID))
        assert_that(result.reason, contains_string("signature does not match"))
        if version is not None:
            assert_that(result.reason, contains_string(f"{VERSION_ATTRIBUTE} {version!r}"))
        assert_that(self.calls, is_(equal_to([])))

    def test_a_signed_version_2_message_verifies(self) -> None:
        """Signed with its version, a major-2 message verifies and reaches the major-2 handler, either delivery."""
        message = self.version_2()
        for delivery in (raw_delivery, sns_delivery):
            result = self.handle(delivery(message))
            assert_that(result.outcome, is_(Outcome.SUCCEEDED))
        assert_that([major for major, _ in self.calls], is_(equal_to([2, 2])))
        assert_that(self.calls[0][1], has_entries(grams=70))

    def test_the_signature_covers_the_version(self) -> None:
        """The same body signed as version 1 and as version 2 gets two different signatures."""
        version_2 = self.version_2()
        unversioned = MessageSigning({"k1": OLD_SECRET}, "k1").outgoing(
            with_attributes(version_2, **{VERSION_ATTRIBUTE: None, SIGNATURE_ATTRIBUTE: None}),
        )
        assert_that(unversioned.attributes[SIGNATURE_ATTRIBUTE]["StringValue"],
                    is_not(equal_to(version_2.attributes[SIGNATURE_ATTRIBUTE]["StringValue"])))

    def test_a_changed_version_is_refused(self) -> None:
        """Version 2.0 turned into 3.0 (a handler and schema exist), 1.0 or 2.1: refused, no handler called."""
        message = self.version_2()
        for changed in ("3.0", "1.0", "2.1"):
            for delivery in (raw_delivery, sns_delivery):
                result = self.handle(delivery(with_attributes(message, **{VERSION_ATTRIBUTE: changed})))
                self.assert_refused(result, changed)

    def test_a_removed_version_is_refused(self) -> None:
        """A major-2 message without its version would be read as version 1: refused."""
        message = with_attributes(self.version_2(), **{VERSION_ATTRIBUTE: None})
        for delivery in (raw_delivery, sns_delivery):
            self.assert_refused(self.handle(delivery(message)), None)

    def test_a_version_moved_into_the_media_type_is_refused(self) -> None:
        """The version removed and written into the media type attribute instead does not verify either."""
        for moved in (f"{PARCEL};version=2.0", f"{PARCEL}\n{VERSION_ATTRIBUTE}=2.0"):
            message = with_attributes(self.version_2(), **{VERSION_ATTRIBUTE: None, "media_type": moved})
            self.assert_refused(self.handle(raw_delivery(message)), None)

    def test_an_added_version_is_refused(self) -> None:
        """A version-1 message given a version attribute is refused, by the publisher's or the queue's attributes."""
        # A body that fits major 2 as well: the signature is what refuses it
        message: OutgoingMessage = self.graph.sns_producer.prepare(PARCEL, {"weight": 2, "grams": 2000})
        assert_that(self.handle(raw_delivery(message)).outcome, is_(Outcome.SUCCEEDED))
        self.calls.clear()
        added = with_attributes(message, **{VERSION_ATTRIBUTE: "2.0"})
        self.assert_refused(self.handle(raw_delivery(added)), "2.0")
        self.assert_refused(self.handle(sns_delivery(added)), "2.0")
        # SNS-wrapped, the publisher's attributes travel in the envelope; one added to the SQS message is read too
        wrapped = sns_delivery(message)
        wrapped["MessageAttributes"] = {VERSION_ATTRIBUTE: {"DataType": "String", "StringValue": "3.0"}}
        self.assert_refused(self.handle(wrapped), "3.0")

    def test_an_added_version_the_body_does_not_fit_is_invalid(self) -> None:
        """A body that does not fit the added version's major is INVALID for that, and not handled either."""
        message: OutgoingMessage = self.graph.sns_producer.prepare(PARCEL, {"weight": 2})
        result = self.handle(raw_delivery(with_attributes(message, **{VERSION_ATTRIBUTE: "2.0"})))
        assert_that(result.outcome, is_(Outcome.INVALID))
        assert_that(result.reason, contains_string("content does not fit ParcelV2"))
        assert_that(self.calls, is_(equal_to([])))

    def test_reasons_quote_a_long_version_cut_short(self) -> None:
        """The version comes from the wire: a reason quotes at most its first 64 characters."""
        for version in ("9" * 500, "2.0" + "0" * 500):
            result = self.handle(raw_delivery(with_attributes(self.version_2(), **{VERSION_ATTRIBUTE: version})))
            assert_that(result.outcome, is_(Outcome.INVALID))
            assert_that(result.reason, contains_string(repr(version[:64])))
            assert_that(result.reason, is_not(contains_string(version[:65])))
        assert_that(self.calls, is_(equal_to([])))


class TestVersionOneSignatures(unittest.TestCase):
    def test_version_1_signatures_are_unchanged(self) -> None:
        """A version-1 message's signature is byte for byte what it was before versions were signed."""
        assert_that(sign(OLD_SECRET.encode(), PARCEL, V1_BODY), is_(equal_to(V1_SIGNATURE)))
        signed = MessageSigning({"k1": OLD_SECRET}, "k1").outgoing(
            OutgoingMessage(TOPIC, PARCEL, V1_BODY, media_type_attributes(PARCEL)),
        )
        assert_that(signed.attributes[SIGNATURE_ATTRIBUTE], is_(equal_to({"DataType": "String",
                                                                          "StringValue": V1_SIGNATURE})))
        assert_that(signed.attributes.get(VERSION_ATTRIBUTE), is_(none()))

    def test_an_old_peers_version_1_signature_verifies(self) -> None:
        """A message signed the old way (the constant) verifies and is handled as version 1."""
        graph = make_signing_graph({"keys": {"k1": OLD_SECRET}})
        calls: list[dict[str, Any]] = []

        def handler(content: dict[str, Any]) -> bool:
            calls.append(content)
            return True

        graph.sqs_message_handler_registry.register(PARCEL, handler)
        attributes: Attributes = {
            **media_type_attributes(PARCEL), KEY_ID_ATTRIBUTE: {"DataType": "String", "StringValue": "k1"},
            SIGNATURE_ATTRIBUTE: {"DataType": "String", "StringValue": V1_SIGNATURE},
        }
        message = OutgoingMessage(TOPIC, PARCEL, V1_BODY, attributes)
        result = dispatch_sqs_message(graph, raw_delivery(message))
        assert_that(result.outcome, is_(Outcome.SUCCEEDED))
        assert_that(calls, is_(equal_to([{"media_type": PARCEL, "opaque_data": {}, "weight": 2}])))
