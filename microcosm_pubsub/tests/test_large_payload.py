"""Large payloads through S3: the pointer on the wire, produce and consume over the local endpoint."""
from __future__ import annotations

import json
import unittest
from typing import Any, ClassVar

import boto3
from botocore.config import Config
from hamcrest import (
    assert_that,
    calling,
    contains_string,
    equal_to,
    has_entries,
    has_entry,
    has_length,
    is_,
    less_than,
    none,
    raises,
    starts_with,
)
from marshmallow import fields

from microcosm_pubsub.consume.large_payload import Offloader
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import ConfigurationError, MessageTooLargeError, PublishError, TTLExpired
from microcosm_pubsub.wire.outgoing import SNS_MAX_BYTES, OutgoingMessage
from microcosm_pubsub.wire.pointer import LEGACY_POINTER_CLASS, POINTER_CLASS, S3Object, parse_pointer


@schema
class LargeDocumentSchema(PubSubMessageSchema):
    MEDIA_TYPE = "application/vnd.globality.pubsub._.created.test-large-document"

    name = fields.String(required=True)
    text = fields.String(required=True)


MEDIA_TYPE = LargeDocumentSchema.MEDIA_TYPE
# 300 KiB of text, multi-byte characters included: over SNS's 256 KiB whatever the counting
LARGE_TEXT = ("large payload é " * 19_200)[:300 * 1024]


def s3_client() -> Any:
    """A plain S3 client for the local endpoint, to look at what the producer stored."""
    return boto3.client(
        "s3", endpoint_url=fixtures.endpoint().url, region_name="us-east-1", config=Config(proxies={}),
    )


def must_not_call() -> Any:
    raise AssertionError("S3 was called")


class PointerTest(unittest.TestCase):
    """The pointer body, as plain objects."""

    def test_pointer_is_the_aws_clients_json(self) -> None:
        """The body that stands for a payload is byte for byte what AWS's extended clients write."""
        assert_that(S3Object("bucket", "key").pointer(), is_(equal_to(
            '["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": "bucket", "s3Key": "key"}]'
        )))

    def test_legacy_pointer_is_read(self) -> None:
        """The old Java client's pointer class names an object as well."""
        text = json.dumps([LEGACY_POINTER_CLASS, {"s3BucketName": "b", "s3Key": "k"}])
        assert_that(parse_pointer(text), is_(equal_to(S3Object("b", "k"))))

    def test_message_json_is_no_pointer(self) -> None:
        """A list that does not start with a pointer class is not mistaken for one."""
        assert_that(parse_pointer(json.dumps(["some.Other", {"s3BucketName": "b", "s3Key": "k"}])), is_(none()))

    def test_small_message_stays_inline(self) -> None:
        """A message within the threshold is sent as it is, without touching S3."""
        message = OutgoingMessage("arn:topic", MEDIA_TYPE, '{"mediaType": "x"}', {})
        assert_that(Offloader(must_not_call, "bucket").offload(message), is_(equal_to(message)))

    def test_threshold_over_the_sns_limit_is_refused(self) -> None:
        """A threshold SNS could not honour is a configuration error naming the key."""
        assert_that(
            calling(Offloader).with_args(must_not_call, "bucket", SNS_MAX_BYTES + 1),
            raises(ConfigurationError, "large_payload_threshold_bytes"),
        )


class LargePayloadTestCase(unittest.TestCase):
    """A fresh stack and bucket per test; `given` builds a graph with large payloads configured."""

    s3: ClassVar[Any]

    @classmethod
    def setUpClass(cls) -> None:
        cls.s3 = s3_client()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.s3.close()

    def setUp(self) -> None:
        self.bucket = fixtures.unique_name("payloads")
        self.s3.create_bucket(Bucket=self.bucket)
        self.handled: list[dict[str, Any]] = []

    def given(self, raw: bool = False, producer: dict[str, Any] | None = None, **overrides: Any) -> Any:
        self.stack = fixtures.new_stack("large", raw=raw)
        self.graph = fixtures.make_graph(
            self.stack, sns_producer={"large_payload_bucket": self.bucket, **(producer or {})}, **overrides,
        )
        self.addCleanup(fixtures.close_clients, self.graph)
        self.graph.sqs_message_handler_registry.register(MEDIA_TYPE, self.record)
        return self.graph

    def record(self, content: dict[str, Any]) -> bool:
        self.handled.append(content)
        return True

    def objects(self) -> list[str]:
        return [item["Key"] for item in self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])]

    def dispatch(self, count: int = 1) -> list[Any]:
        return self.graph.sqs_message_dispatcher.handle_batch(fixtures.receive(self.graph, count))


class ProduceTest(LargePayloadTestCase):

    def test_large_message_is_handled_with_its_content(self) -> None:
        """A 300 KiB message goes through S3 and reaches the handler whole."""
        self.given().sns_producer.produce(MEDIA_TYPE, name="report", text=LARGE_TEXT)
        results = self.dispatch()
        assert_that(results[0].outcome, is_(Outcome.SUCCEEDED))
        assert_that(self.handled[0], has_entries(name="report", text=LARGE_TEXT))

    def test_raw_delivery_is_handled(self) -> None:
        """Through a raw-delivery subscription the pointer and its attributes arrive as SQS's own."""
        self.given(raw=True).sns_producer.produce(MEDIA_TYPE, name="raw", text=LARGE_TEXT)
        assert_that(self.dispatch()[0].outcome, is_(Outcome.SUCCEEDED))
        assert_that(self.handled[0], has_entry("text", LARGE_TEXT))

    def test_wire_carries_the_pointer_and_the_attributes(self) -> None:
        """The queue holds the pointer, the payload's size and the media type; the object holds the body."""
        self.given(raw=True).sns_producer.produce(MEDIA_TYPE, name="wire", text=LARGE_TEXT)
        sqs = fixtures.endpoint().client("sqs")
        self.addCleanup(sqs.close)
        raw = sqs.receive_message(
            QueueUrl=self.stack.queue_url, MessageAttributeNames=["All"], WaitTimeSeconds=1,
        )["Messages"][0]
        target = parse_pointer(raw["Body"])
        assert target is not None
        stored = self.s3.get_object(Bucket=target.bucket, Key=target.key)["Body"].read()
        assert_that(raw["MessageAttributes"], has_entries(
            ExtendedPayloadSize={"DataType": "Number", "StringValue": str(len(stored))},
            media_type=has_entry("StringValue", MEDIA_TYPE),
        ))
        assert_that(json.loads(stored), has_entry("text", LARGE_TEXT))

    def test_small_message_is_not_offloaded(self) -> None:
        """With large payloads on, a message within the threshold is published inline and S3 stays empty."""
        self.given().sns_producer.produce(MEDIA_TYPE, name="small", text="short")
        assert_that(self.dispatch()[0].outcome, is_(Outcome.SUCCEEDED))
        assert_that(self.objects(), has_length(0))

    def test_threshold_counts_attributes(self) -> None:
        """The threshold counts attributes as AWS does: a body just under it, with its attributes, goes to S3."""
        graph = self.given(producer={"large_payload_threshold_bytes": 1000})
        empty = graph.sns_producer.prepare(MEDIA_TYPE, name="n", text="")
        # The body ends about ten bytes under the threshold; the media_type attribute alone is over sixty
        graph.sns_producer.produce(MEDIA_TYPE, name="n", text="x" * (1000 - len(empty.body) - 10))
        assert_that(self.objects(), has_length(1))

    def test_key_prefix(self) -> None:
        """Objects are stored under the configured key prefix."""
        self.given(producer={"large_payload_key_prefix": "pubsub/"}).sns_producer.produce(
            MEDIA_TYPE, name="prefixed", text=LARGE_TEXT,
        )
        assert_that(self.objects()[0], starts_with("pubsub/"))

    def test_off_by_default(self) -> None:
        """Without a bucket, an oversized message raises MessageTooLargeError and nothing is stored."""
        stack = fixtures.new_stack("large-off")
        graph = fixtures.make_graph(stack)
        self.addCleanup(fixtures.close_clients, graph)
        assert_that(
            calling(graph.sns_producer.produce).with_args(MEDIA_TYPE, name="big", text=LARGE_TEXT),
            raises(MessageTooLargeError),
        )

    def test_deferred_batch_offloads_what_is_large(self) -> None:
        """In a deferred block, the large message goes through S3 and the small one inline, both handled."""
        graph = self.given()
        with graph.sns_producer.deferred():
            graph.sns_producer.produce(MEDIA_TYPE, name="big", text=LARGE_TEXT)
            graph.sns_producer.produce(MEDIA_TYPE, name="small", text="short")
        results = self.dispatch(2)
        assert_that([result.outcome for result in results], is_(equal_to([Outcome.SUCCEEDED] * 2)))
        assert_that({item["name"]: item["text"] for item in self.handled}, is_(equal_to(
            {"big": LARGE_TEXT, "small": "short"}
        )))
        assert_that(self.objects(), has_length(1))

    def test_missing_bucket_is_a_publish_error(self) -> None:
        """When S3 refuses the payload, produce raises PublishError naming the object, and nothing is published."""
        graph = self.given(producer={"large_payload_bucket": fixtures.unique_name("no-such-bucket")})
        assert_that(
            calling(graph.sns_producer.produce).with_args(MEDIA_TYPE, name="big", text=LARGE_TEXT),
            raises(PublishError, "s3://no-such-bucket"),
        )

    def test_signed_large_message_verifies(self) -> None:
        """A signed message that went through S3 passes verification: the signature covers the payload."""
        keys = {"keys": {"k1": "secret"}, "signing_key_id": "k1"}
        self.given(pubsub_signing=keys, pubsub_middleware={"components": ["pubsub_signing"]})
        self.graph.sns_producer.produce(MEDIA_TYPE, name="signed", text=LARGE_TEXT)
        assert_that(self.dispatch()[0].outcome, is_(Outcome.SUCCEEDED))

    def test_filter_policy_sees_the_media_type(self) -> None:
        """A subscription filtering on media type still receives the offloaded message."""
        self.stack = fixtures.new_stack("large-filtered", filter_media_types=[MEDIA_TYPE])
        self.graph = fixtures.make_graph(self.stack, sns_producer={"large_payload_bucket": self.bucket})
        self.addCleanup(fixtures.close_clients, self.graph)
        self.graph.sqs_message_handler_registry.register(MEDIA_TYPE, self.record)
        self.graph.sns_producer.produce(MEDIA_TYPE, name="filtered", text=LARGE_TEXT)
        assert_that(self.dispatch()[0].outcome, is_(Outcome.SUCCEEDED))


class ConsumeTest(LargePayloadTestCase):

    def test_missing_object_is_invalid_with_its_location(self) -> None:
        """A pointer whose object is gone is INVALID, the reason naming bucket and key."""
        self.given().sns_producer.produce(MEDIA_TYPE, name="gone", text=LARGE_TEXT)
        key = self.objects()[0]
        self.s3.delete_object(Bucket=self.bucket, Key=key)
        result = self.dispatch()[0]
        assert_that(result.outcome, is_(Outcome.INVALID))
        assert_that(result.reason, contains_string(f"s3://{self.bucket}/{key}"))
        assert_that(result.reason, contains_string("NoSuchKey"))

    def test_bucket_outside_the_allowed_ones_is_invalid(self) -> None:
        """With `large_payload_buckets` set, a pointer into another bucket is INVALID and S3 is not read."""
        self.given(sqs_consumer={"large_payload_buckets": "some-other-bucket"})
        self.graph.sns_producer.produce(MEDIA_TYPE, name="elsewhere", text=LARGE_TEXT)
        result = self.dispatch()[0]
        assert_that(result.outcome, is_(Outcome.INVALID))
        assert_that(result.reason, contains_string("large_payload_buckets"))

    def test_object_kept_by_default(self) -> None:
        """After a handled message the object stays: other queues subscribed to the topic read it too."""
        self.given().sns_producer.produce(MEDIA_TYPE, name="kept", text=LARGE_TEXT)
        assert_that(self.dispatch()[0].outcome, is_(Outcome.SUCCEEDED))
        assert_that(self.objects(), has_length(1))

    def test_object_deleted_after_handling_when_asked(self) -> None:
        """With `large_payload_delete_after_handling`, the object goes once its message is handled and deleted."""
        self.given(sqs_consumer={"large_payload_delete_after_handling": True})
        self.graph.sns_producer.produce(MEDIA_TYPE, name="deleted", text=LARGE_TEXT)
        assert_that(self.dispatch()[0].outcome, is_(Outcome.SUCCEEDED))
        assert_that(self.objects(), has_length(0))

    def test_object_kept_for_a_retry(self) -> None:
        """A message to be retried keeps its object even with delete after handling on."""
        self.given(sqs_consumer={"large_payload_delete_after_handling": True})
        self.graph.sqs_message_handler_registry.register(MEDIA_TYPE, fail)
        self.graph.sns_producer.produce(MEDIA_TYPE, name="retried", text=LARGE_TEXT)
        assert_that(self.dispatch()[0].outcome, is_(Outcome.FAILED))
        assert_that(self.objects(), has_length(1))

    def test_dead_letter_carries_the_pointer(self) -> None:
        """A large message dead-lettered with its reason carries the pointer and marker, not the 300 KiB payload."""
        dead_letters = fixtures.new_stack("large-dead").queue_url
        self.given(sqs_message_dispatcher={"dead_letter_queue_url": dead_letters})
        self.graph.sqs_message_handler_registry.register(MEDIA_TYPE, expire)
        self.graph.sns_producer.produce(MEDIA_TYPE, name="expired", text=LARGE_TEXT)
        assert_that(self.dispatch()[0].outcome, is_(Outcome.EXPIRED))
        received = self.graph.sqs_client.receive_message(
            QueueUrl=dead_letters, WaitTimeSeconds=1, MessageAttributeNames=["All"],
        )["Messages"]
        assert_that(received[0]["Body"], contains_string(POINTER_CLASS))
        assert_that(len(received[0]["Body"]), is_(less_than(10_000)))

    def test_message_knows_where_its_payload_was(self) -> None:
        """A resolved message says which object it was read from; an inline one says none."""
        graph = self.given()
        with graph.sns_producer.deferred():
            graph.sns_producer.produce(MEDIA_TYPE, name="big", text=LARGE_TEXT)
            graph.sns_producer.produce(MEDIA_TYPE, name="small", text="short")
        objects = {message.content["name"]: message.opened.payload_object for message in fixtures.receive(graph, 2)}
        assert_that(str(objects["big"]), starts_with(f"s3://{self.bucket}/"))
        assert_that(objects["small"], is_(none()))


def fail(content: dict[str, Any]) -> None:
    raise RuntimeError("handler failed")


def expire(content: dict[str, Any]) -> None:
    raise TTLExpired("expired on purpose")
