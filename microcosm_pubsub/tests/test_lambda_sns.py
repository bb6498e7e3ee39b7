"""A Lambda function subscribed to an SNS topic, fed events shaped exactly as Lambda delivers them from SNS."""
from __future__ import annotations

import json
import unittest
from typing import Any

from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    contains_string,
    equal_to,
    has_entries,
    has_properties,
    is_,
    none,
    raises,
)
from microcosm.api import load_from_dict

from microcosm_pubsub.consume.lambda_records import sqs_message_from_sns_record
from microcosm_pubsub.middleware.signing import KEY_ID_ATTRIBUTE, SIGNATURE_ATTRIBUTE, sign
from microcosm_pubsub.tests.test_lambda import GIZMO, Context, GizmoDaemon, WithDeadLetterQueue
from microcosm_pubsub.wire.errors import RetryInvocationError


TOPIC_ARN = "arn:aws:sns:us-east-2:123456789012:gizmos"
SECRET = "s3cr3t-for-tests"


def sns_record(name: str, message_id: str | None = None, attributes: dict[str, Any] | None = None,
               message: str | None = None) -> dict[str, Any]:
    """One record of the event Lambda passes for an SNS subscription, field for field as AWS documents it."""
    message_id = message_id or f"sns-{name}"
    body = message if message is not None else json.dumps({
        "mediaType": GIZMO, "opaqueData": {"x-request-id": "r-1"}, "name": name,
    })
    return {
        "EventVersion": "1.0",
        "EventSubscriptionArn": f"{TOPIC_ARN}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
        "EventSource": "aws:sns",
        "Sns": {
            "SignatureVersion": "1",
            "Timestamp": "2024-05-02T10:15:30.123Z",
            "Signature": "tcc6faL2yUC6dgZdmrwh1Y4cGa/ebXEkAi6RibDsvpi+tE/1+82j...65r==",
            "SigningCertUrl": "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-0000000000000000.pem",
            "MessageId": message_id,
            "Message": body,
            "MessageAttributes": attributes if attributes is not None else {
                "media_type": {"Type": "String", "Value": GIZMO},
            },
            "Type": "Notification",
            "UnsubscribeUrl": f"https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={TOPIC_ARN}:0",
            "TopicArn": TOPIC_ARN,
            "Subject": None,
        },
    }


def sns_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


class TestSNSEvent(unittest.TestCase):
    def setUp(self) -> None:
        self.daemon = GizmoDaemon.create_for_testing(loader=load_from_dict({}))
        self.handle = self.daemon.make_lambda_handler()
        self.gizmos = self.daemon.graph.lambda_gizmo_handler

    def test_one_record(self) -> None:
        """A one-record SNS event reaches the handler with the message's content; the invocation returns."""
        assert_that(self.handle(sns_event(sns_record("ok"))), is_(none()))
        assert_that(self.gizmos.names, contains_exactly("ok"))

    def test_several_records(self) -> None:
        """Every record of a several-record event is handled, in order."""
        self.handle(sns_event(*(sns_record(name) for name in ("one", "two", "three"))))
        assert_that(self.gizmos.names, contains_exactly("one", "two", "three"))

    def test_failure_fails_the_invocation_after_every_record(self) -> None:
        """A failing record makes the invocation raise, naming it, after the later records were handled."""
        event = sns_event(sns_record("ok"), sns_record("fail"), sns_record("later"))
        assert_that(
            calling(self.handle).with_args(event),
            raises(RetryInvocationError, r"1 of 3 SNS records must be retried: sns-fail \(FAILED\)"),
        )
        assert_that(self.gizmos.names, contains_exactly("ok", "fail", "later"))

    def test_nack_fails_the_invocation(self) -> None:
        """A Nack is a retry too: the invocation raises so that Lambda runs the event again."""
        try:
            self.handle(sns_event(sns_record("retry")))
        except RetryInvocationError as error:
            assert_that(error.message_ids, is_(equal_to(["sns-retry"])))
        else:
            raise AssertionError("the invocation returned")

    def test_out_of_time_fails_the_invocation_unhandled(self) -> None:
        """With too little time left, records are not started and the invocation raises so that they are retried."""
        assert_that(calling(self.handle).with_args(sns_event(sns_record("ok")), Context(10)),
                    raises(RetryInvocationError, "sns-ok \\(not started"))
        assert_that(self.gizmos.names, is_(equal_to([])))

    def test_schema_violation_without_dead_letter_queue(self) -> None:
        """A record that breaks its schema is INVALID; with no dead-letter queue the invocation raises to keep it."""
        record = sns_record("x", "sns-bad", message=json.dumps({"mediaType": GIZMO, "nom": "no name field"}))
        assert_that(calling(self.handle).with_args(sns_event(record)),
                    raises(RetryInvocationError, r"sns-bad \(INVALID\)"))
        assert_that(self.gizmos.names, is_(equal_to([])))

    def test_record_as_the_sqs_message_sns_would_have_written(self) -> None:
        """A record becomes the SQS message of a non-raw subscription: SNS ids, topic, attributes, send time."""
        message = self.daemon.graph.sqs_consumer.wrap(sqs_message_from_sns_record(sns_record("ok")))
        assert_that(message, has_properties(
            message_id="sns-ok", topic_arn=TOPIC_ARN, media_type=GIZMO, approximate_receive_count=1,
            content=has_entries(name="ok"), opaque_data=has_entries({"x-request-id": "r-1"}),
        ))
        assert_that(message.delivery.sent_timestamp, is_(equal_to(1714644930.123)))

    def test_sqs_events_are_unchanged(self) -> None:
        """An SQS event still gets its partial-batch response."""
        from microcosm_pubsub.tests.test_lambda import record, sns_body

        assert_that(self.handle({"Records": [record("m-1", sns_body("fail"))]}),
                    is_(equal_to({"batchItemFailures": [{"itemIdentifier": "m-1"}]})))


class TestSignedSNSEvent(unittest.TestCase):
    def setUp(self) -> None:
        config = {
            "pubsub_middleware": {"components": "pubsub_signing"},
            "pubsub_signing": {"keys": {"k1": SECRET}},
        }
        self.daemon = GizmoDaemon.create_for_testing(loader=load_from_dict(config))
        self.handle = self.daemon.make_lambda_handler()
        self.gizmos = self.daemon.graph.lambda_gizmo_handler

    def signed(self, name: str, body: str | None = None) -> dict[str, Any]:
        message = json.dumps({"mediaType": GIZMO, "name": name})
        attributes = {
            "media_type": {"Type": "String", "Value": GIZMO},
            KEY_ID_ATTRIBUTE: {"Type": "String", "Value": "k1"},
            SIGNATURE_ATTRIBUTE: {"Type": "String", "Value": sign(SECRET.encode(), GIZMO, message)},
        }
        return sns_record(name, attributes=attributes, message=body if body is not None else message)

    def test_signed_message_verifies(self) -> None:
        """A message signed by its producer verifies from the record's SNS message attributes and is handled."""
        self.handle(sns_event(self.signed("ok")))
        assert_that(self.gizmos.names, contains_exactly("ok"))

    def test_tampered_message_is_refused(self) -> None:
        """A record whose message was changed after signing is INVALID and never reaches the handler."""
        tampered = self.signed("ok", body=json.dumps({"mediaType": GIZMO, "name": "evil"}))
        assert_that(calling(self.handle).with_args(sns_event(tampered)),
                    raises(RetryInvocationError, "INVALID"))
        assert_that(self.gizmos.names, is_(equal_to([])))


class TestSNSDeadLetterQueue(WithDeadLetterQueue):
    def test_invalid_record_is_dead_lettered(self) -> None:
        """With a dead-letter queue, a schema violation goes there naming its topic, and the invocation succeeds."""
        bad = sns_record("x", "sns-bad", message=json.dumps({"mediaType": GIZMO}))

        assert_that(self.handle(sns_event(sns_record("ok"), bad)), is_(none()))

        dead = self.sqs.receive_message(QueueUrl=self.stack.dead_letter_queue_url, WaitTimeSeconds=1,
                                        MessageAttributeNames=["All"]).get("Messages", [])
        assert_that(dead, contains_exactly(has_entries(
            Body=contains_string('"MessageId": "sns-bad"'),
            MessageAttributes=has_entries(
                pubsub_outcome=has_entries(StringValue="invalid"),
                pubsub_source_queue=has_entries(StringValue=TOPIC_ARN),
            ),
        )))
