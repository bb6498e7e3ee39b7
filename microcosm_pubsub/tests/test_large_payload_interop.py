"""Large payloads with AWS's own extended clients (`amazon-sns-extended-client`, `amazon-sqs-extended-client`).

Their clients build their S3 client with no endpoint; each test gives them the local endpoint's.
"""
from __future__ import annotations

import importlib
import json
import unittest
from typing import Any, ClassVar

import boto3
from hamcrest import assert_that, equal_to, has_entries, has_entry, has_length, is_, not_

from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.schemas.codecs import encode
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.test_large_payload import LARGE_TEXT, MEDIA_TYPE, s3_client


REGION = "us-east-1"


def extended_sessions() -> tuple[Any, Any]:
    """AWS's two session classes, imported without the boto3.Session replacement their packages make on import.

    Importing either package replaces `boto3.session.Session` (and the default session) process-wide, so that
    every SQS client made afterwards, ours included, would resolve pointers through an S3 client with no
    endpoint (real AWS). Put back at once, the patch reaches only the clients these tests make on purpose.
    """
    saved = boto3.session.Session, boto3.DEFAULT_SESSION
    try:
        sns = importlib.import_module("sns_extended_client").SNSExtendedClientSession
        sqs = importlib.import_module("sqs_extended_client").SQSExtendedClientSession
    finally:
        # Assigning a class is what the packages did; the type checker refuses it
        boto3.session.Session = saved[0]  # type: ignore[misc]
        boto3.Session = saved[0]  # type: ignore[misc]
        boto3.DEFAULT_SESSION = saved[1]
    return sns, sqs


SNSExtendedClientSession, SQSExtendedClientSession = extended_sessions()


class InteropTestCase(unittest.TestCase):
    """A fresh stack and bucket per test, our graph on them, and AWS's clients pointed at the local endpoint."""

    s3: ClassVar[Any]

    @classmethod
    def setUpClass(cls) -> None:
        cls.s3 = s3_client()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.s3.close()

    def setUp(self) -> None:
        self.bucket = fixtures.unique_name("interop")
        self.s3.create_bucket(Bucket=self.bucket)
        self.handled: list[dict[str, Any]] = []

    def given(self, raw: bool = False) -> Any:
        self.stack = fixtures.new_stack("interop", raw=raw)
        self.graph = fixtures.make_graph(self.stack, sns_producer={"large_payload_bucket": self.bucket})
        self.addCleanup(fixtures.close_clients, self.graph)
        self.graph.sqs_message_handler_registry.register(MEDIA_TYPE, self.record)
        return self.graph

    def record(self, content: dict[str, Any]) -> bool:
        self.handled.append(content)
        return True

    def body(self, name: str) -> str:
        """A message of ours as JSON, as a peer using AWS's clients would send it."""
        schema = self.graph.pubsub_message_schema_registry.find(MEDIA_TYPE).schema
        return encode(schema, MEDIA_TYPE, {"name": name, "text": LARGE_TEXT})

    def attributes(self) -> dict[str, Any]:
        return {"media_type": {"DataType": "String", "StringValue": MEDIA_TYPE}}

    def their_sns(self, legacy: bool = False) -> Any:
        sns = SNSExtendedClientSession(region_name=REGION).client("sns", endpoint_url=fixtures.endpoint().url)
        self.addCleanup(sns.close)
        sns.large_payload_support = self.bucket
        sns.use_legacy_attribute = legacy
        sns.s3_client = self.s3
        return sns

    def their_sqs(self) -> Any:
        sqs = SQSExtendedClientSession(region_name=REGION).client("sqs", endpoint_url=fixtures.endpoint().url)
        self.addCleanup(sqs.close)
        sqs.large_payload_support = self.bucket
        sqs.s3_client = self.s3
        return sqs

    def dispatch(self) -> Outcome:
        results = self.graph.sqs_message_dispatcher.handle_batch(fixtures.receive(self.graph))
        outcome: Outcome = results[0].outcome
        return outcome

    def objects(self) -> list[str]:
        return [item["Key"] for item in self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])]


class TheirsToOursTest(InteropTestCase):

    def test_their_sns_publish_is_handled(self) -> None:
        """A large message published by AWS's SNS extended client is handled by our consumer, content intact."""
        self.given()
        self.their_sns().publish(
            TopicArn=self.stack.topic_arn, Message=self.body("sns"), MessageAttributes=self.attributes(),
        )
        assert_that(self.dispatch(), is_(Outcome.SUCCEEDED))
        assert_that(self.handled[0], has_entries(name="sns", text=LARGE_TEXT))

    def test_their_sns_publish_through_raw_delivery_is_handled(self) -> None:
        """The same through a raw-delivery subscription."""
        self.given(raw=True)
        self.their_sns().publish(
            TopicArn=self.stack.topic_arn, Message=self.body("raw"), MessageAttributes=self.attributes(),
        )
        assert_that(self.dispatch(), is_(Outcome.SUCCEEDED))
        assert_that(self.handled[0], has_entries(name="raw", text=LARGE_TEXT))

    def test_their_legacy_attribute_is_handled(self) -> None:
        """Their legacy mode (`SQSLargePayloadSize`, the old Java pointer class) is read too."""
        self.given(raw=True)
        sns = self.their_sns(legacy=True)
        sns.publish(TopicArn=self.stack.topic_arn, Message=self.body("legacy"), MessageAttributes=self.attributes())
        assert_that(self.dispatch(), is_(Outcome.SUCCEEDED))
        assert_that(self.handled[0], has_entry("name", "legacy"))

    def test_their_sqs_send_is_handled(self) -> None:
        """A large message sent straight to the queue by AWS's SQS extended client is handled by our consumer."""
        self.given()
        self.their_sqs().send_message(
            QueueUrl=self.stack.queue_url, MessageBody=self.body("sqs"), MessageAttributes=self.attributes(),
        )
        assert_that(self.dispatch(), is_(Outcome.SUCCEEDED))
        assert_that(self.handled[0], has_entries(name="sqs", text=LARGE_TEXT))


class OursToTheirsTest(InteropTestCase):

    def test_their_sqs_receive_resolves_what_we_publish(self) -> None:
        """Through a raw-delivery subscription, AWS's SQS extended client reads our large message whole."""
        self.given(raw=True).sns_producer.produce(MEDIA_TYPE, name="ours", text=LARGE_TEXT)
        message = self.their_sqs().receive_message(
            QueueUrl=self.stack.queue_url, MessageAttributeNames=["All"], WaitTimeSeconds=1,
        )["Messages"][0]
        assert_that(json.loads(message["Body"]), has_entries(mediaType=MEDIA_TYPE, name="ours", text=LARGE_TEXT))
        assert_that(message["MessageAttributes"], has_entry("media_type", has_entry("StringValue", MEDIA_TYPE)))

    def test_their_sqs_delete_removes_our_object(self) -> None:
        """Their client's delete (with `delete_payload_from_s3`) finds and deletes the object we stored."""
        self.given(raw=True).sns_producer.produce(MEDIA_TYPE, name="ours", text=LARGE_TEXT)
        assert_that(self.objects(), has_length(1))
        sqs = self.their_sqs()
        sqs.delete_payload_from_s3 = True
        message = sqs.receive_message(QueueUrl=self.stack.queue_url, WaitTimeSeconds=1)["Messages"][0]
        sqs.delete_message(QueueUrl=self.stack.queue_url, ReceiptHandle=message["ReceiptHandle"])
        assert_that(self.objects(), has_length(0))

    def test_their_sqs_receive_sees_the_notification_without_raw_delivery(self) -> None:
        """Without raw delivery their SQS client gets SNS's notification as it is: the pointer stays unresolved."""
        # AWS's SQS client looks for its size attribute among the SQS message attributes only
        self.given().sns_producer.produce(MEDIA_TYPE, name="wrapped", text=LARGE_TEXT)
        message = self.their_sqs().receive_message(
            QueueUrl=self.stack.queue_url, MessageAttributeNames=["All"], WaitTimeSeconds=1,
        )["Messages"][0]
        notification = json.loads(message["Body"])
        assert_that(notification["Message"], is_(equal_to(json.dumps([
            "software.amazon.payloadoffloading.PayloadS3Pointer",
            {"s3BucketName": self.bucket, "s3Key": self.objects()[0]},
        ]))))
        assert_that(notification["MessageAttributes"], has_entry("ExtendedPayloadSize", not_(None)))
