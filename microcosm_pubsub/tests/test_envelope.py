"""Envelope strategies by name, MD5 validation of bodies, and what the envelope keeps of the wire."""
from __future__ import annotations

import hashlib
import json
import unittest
from typing import Any
from unittest.mock import patch

from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    contains_string,
    equal_to,
    instance_of,
    is_,
    raises,
    same_instance,
    starts_with,
)
from marshmallow import fields
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.consume.envelope import (
    CodecSQSEnvelope,
    LambdaSQSEnvelope,
    NaiveSQSEnvelope,
    RawSQSEnvelope,
    SQSEnvelope,
    strategy,
)
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.wire.errors import ConfigurationError


PARCEL = "application/vnd.microcosm.pubsub._.tests.envelope.parcel"


@schema
class ParcelSchema(PubSubMessageSchema):
    MEDIA_TYPE = PARCEL

    weight = fields.Integer(required=True)


def graph(**envelope: Any) -> Any:
    return create_object_graph("test", testing=True, loader=load_from_dict(sqs_envelope=envelope))


def body(weight: int = 3) -> str:
    return json.dumps({"mediaType": PARCEL, "opaqueData": {"x-request-id": "r"}, "weight": weight})


def raw_message(text: str, md5: str | None = None) -> dict[str, Any]:
    message = {"MessageId": "sqs-1", "ReceiptHandle": "handle-1", "Body": text}
    if md5 is not None:
        message["MD5OfBody"] = md5
    return message


class StrategyTests(unittest.TestCase):
    def test_default_is_codec(self) -> None:
        """Without configuration the envelope is CodecSQSEnvelope."""
        assert_that(graph().sqs_envelope, is_(instance_of(CodecSQSEnvelope)))

    def test_by_old_name(self) -> None:
        """sqs_envelope.strategy_name picks the old package's strategies by class name."""
        for cls in (RawSQSEnvelope, NaiveSQSEnvelope, LambdaSQSEnvelope):
            assert_that(graph(strategy_name=cls.__name__).sqs_envelope, is_(instance_of(cls)))

    def test_service_subclass_found(self) -> None:
        """A service's own subclass, however deep, is found by name."""

        class DeepEnvelope(RawSQSEnvelope):
            pass

        assert_that(strategy("DeepEnvelope"), is_(same_instance(DeepEnvelope)))

    def test_unknown_name(self) -> None:
        """An unknown name is a ConfigurationError listing the known ones."""
        assert_that(calling(strategy).with_args("ZipEnvelope"), raises(ConfigurationError, "CodecSQSEnvelope"))


class OpeningTests(unittest.TestCase):
    def test_codec_sns_message_key(self) -> None:
        """The default reads a body whose `Message` holds the message JSON (SNS's envelope)."""
        message = graph().sqs_envelope.parse_raw_message(None, raw_message(json.dumps({"Message": body()})))
        assert_that((message.media_type, message.content), is_(equal_to(
            (PARCEL, {"media_type": PARCEL, "opaque_data": {"x-request-id": "r"}, "weight": 3}),
        )))

    def test_codec_raw_delivery(self) -> None:
        """The default reads raw delivery (the message JSON as the body) too."""
        message = graph().sqs_envelope.parse_raw_message(None, raw_message(body(5)))
        assert_that((message.content or {}).get("weight"), is_(equal_to(5)))

    def test_raw_any_json(self) -> None:
        """RawSQSEnvelope gives any JSON object as application/json content, without a schema."""
        message = RawSQSEnvelope(graph()).parse_raw_message(None, raw_message('{"free": [1, 2]}'))
        assert_that((message.media_type, message.content), is_(equal_to(("application/json", {"free": [1, 2]}))))

    def test_naive_made_up_ids(self) -> None:
        """NaiveSQSEnvelope reads the bare message dict and makes up ids for it."""
        message = NaiveSQSEnvelope(graph()).parse_raw_message(None, {"mediaType": PARCEL, "uri": "http://x/1"})
        assert_that(message.content, is_(equal_to({"media_type": PARCEL, "uri": "http://x/1"})))
        assert_that((message.message_id, message.receipt_handle),
                    contains_exactly(starts_with("message-id-"), starts_with("receipt-handle-")))

    def test_lambda_record(self) -> None:
        """LambdaSQSEnvelope reads a Lambda record's lower-case keys, receive count included."""
        record = {"messageId": "m-1", "receiptHandle": "h-1", "body": body(), "attributes": {
            "ApproximateReceiveCount": "4"}}
        message = LambdaSQSEnvelope(graph()).parse_raw_message(None, record)
        assert_that((message.receipt_handle, message.approximate_receive_count, (message.content or {})["weight"]),
                    is_(equal_to(("h-1", 4, 3))))


class Md5Tests(unittest.TestCase):
    def test_matching_md5(self) -> None:
        """With validate_md5, a body matching its MD5OfBody opens as usual."""
        text = body()
        envelope: SQSEnvelope = graph(validate_md5=True).sqs_envelope
        message = envelope.parse_raw_message(None, raw_message(text, hashlib.md5(text.encode()).hexdigest()))
        assert_that(message.is_valid, is_(True))

    def test_mismatch_is_invalid(self) -> None:
        """A body that does not match its MD5OfBody is INVALID, the reason naming the MD5."""
        test_graph = graph(validate_md5="true")
        test_graph.sqs_message_handler_registry.register(PARCEL, lambda content: True)
        message = test_graph.sqs_envelope.parse_raw_message(None, raw_message(body(), "0" * 32))
        result = test_graph.sqs_message_dispatcher.handle_message(message)
        assert_that((result.outcome, result.reason),
                    contains_exactly(Outcome.INVALID, contains_string("MD5 of the body")))

    def test_off_by_default(self) -> None:
        """Without validate_md5, a wrong MD5OfBody is not looked at (the old default)."""
        message = graph().sqs_envelope.parse_raw_message(None, raw_message(body(), "0" * 32))
        assert_that(message.is_valid, is_(True))


def sns_wrapped(text: str, **attributes: str) -> dict[str, Any]:
    """The SQS message an SNS subscription without raw delivery hands out for `text`."""
    notification = {
        "Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:aws:sns:us-east-1:123456789012:parcels",
        "Message": text,
        "MessageAttributes": {name: {"Type": "String", "Value": value} for name, value in attributes.items()},
    }
    return raw_message(json.dumps(notification))


class UnwrapTestCase(unittest.TestCase):
    """What the envelope keeps of the wire for middleware and the CLI: payload, attributes, layer."""

    def test_sns_wrapped_payload_is_the_published_message_text(self) -> None:
        """SNS-wrapped: the payload is SNS's `Message` as published, byte for byte, with its topic and id."""
        text = body()
        opened = graph().sqs_envelope.open(sns_wrapped(text, media_type=PARCEL))
        assert_that(
            (opened.payload, opened.sns_wrapped, opened.topic_arn, opened.message_id),
            is_(equal_to((text, True, "arn:aws:sns:us-east-1:123456789012:parcels", "sns-1"))),
        )

    def test_raw_delivery_payload_is_the_sqs_body(self) -> None:
        """Raw delivery: the payload is the SQS body and the attributes the SQS message attributes."""
        message = raw_message(body())
        message["MessageAttributes"] = {"media_type": {"DataType": "String", "StringValue": PARCEL}}
        opened = graph().sqs_envelope.open(message)
        assert_that(
            (opened.payload, opened.sns_wrapped, dict(opened.attributes)),
            is_(equal_to((message["Body"], False, {"media_type": PARCEL}))),
        )

    def test_sns_attributes_are_plain_strings_over_the_queues(self) -> None:
        """SNS's attributes arrive as plain strings, over an SQS one of the same name; binary ones are left out."""
        message = sns_wrapped(body(), traceparent="from-sns")
        message["MessageAttributes"] = {
            "traceparent": {"DataType": "String", "StringValue": "from-sqs"},
            "pubsub_reason": {"DataType": "String", "StringValue": "dead-lettered"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00"},
        }
        opened = graph().sqs_envelope.open(message)
        expected = {"traceparent": "from-sns", "pubsub_reason": "dead-lettered"}
        assert_that(dict(opened.attributes), is_(equal_to(expected)))

    def test_received_body_is_parsed_once_with_signing_and_tracing(self) -> None:
        """With signing and tracing, a received SNS-wrapped message is parsed twice (envelope, message) in all."""
        config = {
            "pubsub_middleware": {"components": "pubsub_signing,pubsub_tracing"},
            "pubsub_signing": {"keys": {"k": "a-secret-for-parsing-counts"}, "required": False},
            "pubsub_tracing": {"opentelemetry": False},
            "sqs_consumer": {"region_name": "us-east-1", "sqs_queue_url": "http://127.0.0.1:1/queue/none"},
        }
        parsing: Any = create_object_graph("test", testing=True, loader=load_from_dict(config))
        message = sns_wrapped(body(), media_type=PARCEL)
        with patch("microcosm_pubsub.consume.envelope.json.loads", wraps=json.loads) as loads:
            received = parsing.sqs_consumer.wrap(message)
            with parsing.pubsub_middleware.handling(received):
                pass
        assert_that((received.is_valid, loads.call_count), is_(equal_to((True, 2))))

    def test_raw_strategy_keeps_the_notification_as_content_and_the_published_payload(self) -> None:
        """RawSQSEnvelope takes an SNS notification as content, yet keeps the published payload for signing."""
        text = body()
        opened = graph(strategy_name="RawSQSEnvelope").sqs_envelope.open(sns_wrapped(text))
        assert_that(
            (opened.content["Type"] if opened.content else None, opened.payload, opened.message_id, opened.topic_arn),
            is_(equal_to(("Notification", text, "sqs-1", None))),
        )
