"""Message signing: the producer signs, the consumer refuses unsigned, tampered or unknown-key messages as INVALID."""
from __future__ import annotations

import json
import unittest
from typing import Any

from hamcrest import (
    assert_that,
    calling,
    contains_string,
    equal_to,
    has_entries,
    has_key,
    is_,
    is_not,
    none,
    not_,
    raises,
)
from marshmallow import fields
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.middleware.signing import KEY_ID_ATTRIBUTE, SIGNATURE_ATTRIBUTE, MessageSigning, key_map, sign
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import ConfigurationError
from microcosm_pubsub.wire.outgoing import OutgoingMessage


@schema
class SignedSchema(PubSubMessageSchema):
    MEDIA_TYPE = "application/vnd.microcosm.pubsub._.tests.signing.signed"

    name = fields.String(required=True)


OLD_SECRET = "old-secret-value-0123456789"
NEW_SECRET = "new-secret-value-9876543210"
TOPIC = "arn:aws:sns:us-east-1:123456789012:signing"


def make_signing_graph(signing: dict[str, Any], **overrides: Any) -> Any:
    """A graph with `pubsub_signing` as its only middleware; nothing here touches the network."""
    config: dict[str, Any] = {
        "pubsub_middleware": {"components": "pubsub_signing"},
        "pubsub_signing": signing,
        "sns_topic_arns": {"default": TOPIC},
        "sns_producer": {"region_name": "us-east-1"},
        "sqs_consumer": {"region_name": "us-east-1", "sqs_queue_url": "http://127.0.0.1:1/queue/none"},
        **overrides,
    }
    graph: Any = create_object_graph("signing", testing=True, loader=load_from_dict(config))
    graph.sqs_message_handler_registry.register(SignedSchema.MEDIA_TYPE, lambda message: True)
    return graph


def prepare(graph: Any, name: str = "thing") -> OutgoingMessage:
    message: OutgoingMessage = graph.sns_producer.prepare(SignedSchema.MEDIA_TYPE, name=name)
    return message


def raw_delivery(message: OutgoingMessage, body: str | None = None) -> dict[str, Any]:
    """The SQS message a raw-delivery subscription hands out for `message`."""
    return {
        "MessageId": "sqs-id", "ReceiptHandle": "receipt", "Body": message.body if body is None else body,
        "Attributes": {"ApproximateReceiveCount": "1"}, "MessageAttributes": message.attributes,
    }


def sns_delivery(message: OutgoingMessage, body: str | None = None) -> dict[str, Any]:
    """The SQS message an SNS subscription (no raw delivery) hands out for `message`."""
    envelope = {
        "Type": "Notification", "MessageId": "sns-id", "TopicArn": message.topic_arn,
        "Message": message.body if body is None else body,
        "MessageAttributes": {
            name: {"Type": value["DataType"], "Value": value["StringValue"]}
            for name, value in message.attributes.items()
        },
    }
    return {
        "MessageId": "sqs-id", "ReceiptHandle": "receipt", "Body": json.dumps(envelope),
        "Attributes": {"ApproximateReceiveCount": "1"}, "MessageAttributes": {},
    }


def with_attribute(message: OutgoingMessage, name: str, value: str) -> OutgoingMessage:
    return OutgoingMessage(
        message.topic_arn, message.media_type, message.body,
        {**message.attributes, name: {"DataType": "String", "StringValue": value}},
    )


class SigningConfigurationTest(unittest.TestCase):

    def test_keys_come_from_a_json_object_string(self):
        """An environment variable's JSON object string becomes key id -> secret."""
        assert_that(key_map('{"k1": "one", "k2": "two"}'), is_(equal_to({"k1": "one", "k2": "two"})))

    def test_malformed_keys_are_refused_without_echoing_them(self):
        """A malformed keys value raises a ConfigurationError that does not contain the value."""
        def load() -> None:
            make_signing_graph({"keys": '{"k1": "leaky-secret"'})

        assert_that(calling(load), raises(ConfigurationError, "not valid JSON"))
        try:
            load()
        except ConfigurationError as error:
            assert_that(str(error), not_(contains_string("leaky-secret")))

    def test_signing_key_must_be_configured(self):
        """A signing key id that is not among the keys is a configuration error."""
        assert_that(
            calling(MessageSigning).with_args({"k1": OLD_SECRET}, signing_key_id="k2"),
            raises(ConfigurationError, "not among pubsub_signing.keys"),
        )

    def test_required_without_keys_is_refused(self):
        """Requiring signatures without any key would refuse every message: a configuration error."""
        assert_that(calling(MessageSigning).with_args({}, required=True), raises(ConfigurationError))

    def test_repr_shows_key_ids_not_secrets(self):
        """The component's repr names its key ids and never a secret."""
        signing = make_signing_graph({"keys": {"k1": OLD_SECRET}, "signing_key_id": "k1"}).pubsub_signing
        assert_that(repr(signing), contains_string("k1"))
        assert_that(repr(signing), not_(contains_string(OLD_SECRET)))


class SigningTest(unittest.TestCase):

    def setUp(self) -> None:
        self.graph = make_signing_graph({"keys": {"k1": OLD_SECRET}, "signing_key_id": "k1"})

    def handle(self, raw: dict[str, Any]) -> Any:
        return self.graph.sqs_message_dispatcher.handle_message(self.graph.sqs_consumer.wrap(raw))

    def test_producer_signs_media_type_and_body(self):
        """The outgoing message carries the key id and the HMAC of media type and body."""
        message = prepare(self.graph)
        assert_that(message.attributes, has_entries({
            KEY_ID_ATTRIBUTE: has_entries(StringValue="k1"),
            SIGNATURE_ATTRIBUTE: has_entries(StringValue=sign(OLD_SECRET.encode(), message.media_type, message.body)),
        }))

    def test_verify_only_does_not_sign(self):
        """Without a signing key id the producer adds no signature."""
        graph = make_signing_graph({"keys": {"k1": OLD_SECRET}})
        assert_that(prepare(graph).attributes, not_(has_key(SIGNATURE_ATTRIBUTE)))

    def test_signed_sns_message_is_handled(self):
        """A signed message in an SNS envelope verifies and succeeds."""
        assert_that(self.handle(sns_delivery(prepare(self.graph))).outcome, is_(Outcome.SUCCEEDED))

    def test_signed_raw_message_is_handled(self):
        """A signed message by raw delivery verifies and succeeds."""
        assert_that(self.handle(raw_delivery(prepare(self.graph))).outcome, is_(Outcome.SUCCEEDED))

    def test_unsigned_message_is_invalid(self):
        """With keys configured, an unsigned message is INVALID with the reason "unsigned message"."""
        unsigned = make_signing_graph({})
        result = self.handle(sns_delivery(prepare(unsigned)))
        assert_that((result.outcome, result.reason), is_(equal_to((Outcome.INVALID, "unsigned message"))))

    def test_unsigned_message_is_accepted_when_not_required(self):
        """`required: false` (a migration) lets unsigned messages through."""
        self.graph = make_signing_graph({"keys": {"k1": OLD_SECRET}, "required": "false"})
        result = self.handle(sns_delivery(prepare(make_signing_graph({}))))
        assert_that(result.outcome, is_(Outcome.SUCCEEDED))

    def test_missing_signature_is_invalid_even_when_not_required(self):
        """A key id without a signature is a broken signature, not an unsigned message."""
        self.graph = make_signing_graph({"keys": {"k1": OLD_SECRET}, "required": False})
        message = with_attribute(prepare(make_signing_graph({})), KEY_ID_ATTRIBUTE, "k1")
        result = self.handle(sns_delivery(message))
        assert_that(result.reason, contains_string("pubsub_signature attribute is missing"))

    def test_tampered_body_is_invalid(self):
        """A body changed after signing does not match its signature."""
        message = prepare(self.graph, name="original")
        result = self.handle(sns_delivery(message, body=message.body.replace("original", "tampered")))
        assert_that(result.outcome, is_(Outcome.INVALID))
        assert_that(result.reason, contains_string("signature does not match: tampered or wrong key"))

    def test_tampered_raw_body_is_invalid(self):
        """A raw-delivery body changed after signing does not match its signature."""
        message = prepare(self.graph, name="original")
        result = self.handle(raw_delivery(message, body=message.body.replace("original", "tampered")))
        assert_that(result.reason, contains_string("signature does not match"))

    def test_tampered_media_type_attribute_is_invalid(self):
        """The media type attribute is signed too."""
        message = with_attribute(prepare(self.graph), "media_type", "application/vnd.other")
        result = self.handle(sns_delivery(message))
        assert_that(result.reason, contains_string("signature does not match"))

    def test_unknown_key_id_is_invalid(self):
        """A key id the consumer does not know is named in the reason."""
        message = with_attribute(prepare(self.graph), KEY_ID_ATTRIBUTE, "k9")
        result = self.handle(sns_delivery(message))
        assert_that((result.outcome, result.reason), is_(equal_to((Outcome.INVALID, "unknown key id 'k9'"))))

    def test_signature_with_odd_characters_does_not_raise(self):
        """A signature attribute that is not base64 (lone surrogates included) is a mismatch."""
        message = with_attribute(prepare(self.graph), SIGNATURE_ATTRIBUTE, "\ud800 not base64 é")
        result = self.handle(sns_delivery(message))
        assert_that(result.reason, contains_string("signature does not match"))

    def test_old_key_verifies_during_rotation(self):
        """A consumer holding old and new keys accepts messages signed with either."""
        consumer = make_signing_graph({"keys": {"k1": OLD_SECRET, "k2": NEW_SECRET}, "signing_key_id": "k2"})
        old = prepare(self.graph)
        new = prepare(consumer)
        outcomes = [
            consumer.sqs_message_dispatcher.handle_message(consumer.sqs_consumer.wrap(sns_delivery(message))).outcome
            for message in (old, new)
        ]
        assert_that(outcomes, is_(equal_to([Outcome.SUCCEEDED, Outcome.SUCCEEDED])))

    def test_retired_key_is_unknown(self):
        """Once a key is removed from a consumer, messages signed with it are refused."""
        retired = make_signing_graph({"keys": {"k2": NEW_SECRET}})
        message = retired.sqs_consumer.wrap(sns_delivery(prepare(self.graph)))
        assert_that(message.problem, is_(equal_to("unknown key id 'k1'")))

    def test_no_keys_means_no_checks(self):
        """Without keys the middleware neither signs nor verifies."""
        graph = make_signing_graph({})
        message = graph.sqs_consumer.wrap(sns_delivery(prepare(graph)))
        assert_that(message.problem, is_(none()))


class SigningEndpointTest(unittest.TestCase):
    """Signed messages over the local endpoint: SNS -> SQS, enveloped and raw."""

    def round_trip(self, raw: bool) -> Any:
        stack = fixtures.new_stack("signing", raw=raw)
        signing: dict[str, Any] = {"pubsub_middleware": {"components": "pubsub_signing"},
                   "pubsub_signing": {"keys": {"k1": OLD_SECRET}, "signing_key_id": "k1"}}
        graph = fixtures.make_graph(stack, **signing)
        self.addCleanup(graph.sqs_client.close)
        self.addCleanup(graph.sns_client.close)
        graph.sns_producer.produce(SignedSchema.MEDIA_TYPE, name="over the wire")
        messages = fixtures.drain(graph)
        assert_that(len(messages), is_(equal_to(1)))
        return messages[0]

    def test_enveloped_message_verifies(self):
        """A message signed by the producer verifies after SNS wrapped it."""
        message = self.round_trip(raw=False)
        assert_that(message.problem, is_(none()))
        assert_that(message.content, has_entries(name="over the wire"))

    def test_raw_delivered_message_verifies(self):
        """A message signed by the producer verifies after raw delivery."""
        message = self.round_trip(raw=True)
        assert_that(message.problem, is_(none()))
        assert_that(message.content, is_not(none()))
