"""The Lambda entry point, fed SQS events shaped exactly as AWS Lambda delivers them."""
from __future__ import annotations

import json
import unittest
from typing import Any

from hamcrest import assert_that, contains_exactly, empty, equal_to, has_entries, is_, none, same_instance
from marshmallow import fields
from microcosm.api import binding, load_from_dict

from microcosm_pubsub.consume.lambda_records import sqs_message_from_record
from microcosm_pubsub.conventions import created
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.runtime.lambda_handler import queue_url_from_arn
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import handles
from microcosm_pubsub.testing import lambda_record, sqs_message
from microcosm_pubsub.tests.fixtures import environ, graph_config, new_stack
from microcosm_pubsub.wire.errors import Nack


GIZMO = created("lambda_gizmo")
QUEUE_ARN = "arn:aws:sqs:us-east-2:123456789012:my-queue"


class GizmoSchema(PubSubMessageSchema):
    MEDIA_TYPE = GIZMO
    name = fields.String(required=True)


@binding("lambda_gizmo_handler")
@handles(GizmoSchema)
class GizmoHandler:
    """Succeeds, fails or nacks as the message's name says; remembers what it was called with."""

    def __init__(self, graph: Any) -> None:
        self.names: list[str] = []

    def __call__(self, message: dict[str, Any]) -> bool:
        self.names.append(message["name"])
        if message["name"] == "fail":
            raise RuntimeError("the gizmo broke")
        if message["name"] == "retry":
            raise Nack(30)
        return True


class GizmoDaemon(ConsumerDaemon):
    name = "lambda_gizmo"

    @property
    def components(self) -> list[str]:
        return [*super().components, "lambda_gizmo_handler"]


def sns_body(name: str) -> str:
    """An SQS body holding SNS's notification, as SNS writes it without raw delivery."""
    return json.dumps({
        "Type": "Notification",
        "MessageId": f"sns-{name}",
        "TopicArn": "arn:aws:sns:us-east-2:123456789012:gizmos",
        "Message": json.dumps({"mediaType": GIZMO, "opaqueData": {"x-request-id": "r-1"}, "name": name}),
        "Timestamp": "2024-05-02T10:15:30.123Z",
        "SignatureVersion": "1",
        "Signature": (
            "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0"
            "Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q="
        ),
        "SigningCertURL": "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
        "UnsubscribeURL": "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-2:123456789012:gizmos:0",
        "MessageAttributes": {"media_type": {"Type": "String", "Value": GIZMO}},
    })


def record(message_id: str, body: str, receive_count: int = 1, queue_arn: str = QUEUE_ARN,
           message_attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    """One record of the event Lambda passes for an SQS event source, field for field as AWS documents it."""
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185",
        },
        "messageAttributes": message_attributes or {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def failures(*message_ids: str) -> dict[str, list[dict[str, str]]]:
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in message_ids]}


class Context:
    """The part of Lambda's context object the handler reads."""

    def __init__(self, remaining_millis: int) -> None:
        self.remaining_millis = remaining_millis

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


class TestLambdaHandler(unittest.TestCase):
    def setUp(self) -> None:
        self.daemon = GizmoDaemon.create_for_testing(
            loader=load_from_dict(sqs_message_dispatcher={"message_max_processing_attempts": 3}),
        )
        self.handle = self.daemon.make_lambda_handler()
        self.gizmos = self.daemon.graph.lambda_gizmo_handler

    def test_mixed_batch_reports_failure_and_invalid(self) -> None:
        """Of a success, a failure and an invalid message, the failure and the invalid one are reported."""
        event = {"Records": [
            record("m-ok", sns_body("ok")),
            record("m-fail", sns_body("fail")),
            record("m-invalid", "{this is not json"),
        ]}

        response = self.handle(event, Context(60_000))

        assert_that(response, is_(equal_to(failures("m-fail", "m-invalid"))))
        assert_that(self.gizmos.names, contains_exactly("ok", "fail"))

    def test_nack_is_reported(self) -> None:
        """A Nack (RETRIED) is reported so Lambda leaves the record on the queue."""
        response = self.handle({"Records": [record("m-retry", sns_body("retry"))]})
        assert_that(response, is_(equal_to(failures("m-retry"))))

    def test_receive_count_comes_from_the_record(self) -> None:
        """A record received more often than allowed expires unhandled and, without a DLQ, is not reported."""
        response = self.handle({"Records": [record("m-old", sns_body("ok"), receive_count=4)]})

        assert_that(response, is_(equal_to(failures())))
        assert_that(self.gizmos.names, is_(empty()))

    def test_raw_delivery_record(self) -> None:
        """A raw-delivery record takes its media type from the record's messageAttributes."""
        attributes = {"media_type": {"stringValue": GIZMO, "stringListValues": [], "binaryListValues": [],
                                     "dataType": "String"}}
        body = json.dumps({"name": "ok"})

        response = self.handle({"Records": [record("m-raw", body, message_attributes=attributes)]})

        assert_that((response, self.gizmos.names), is_(equal_to((failures(), ["ok"]))))

    def test_graph_is_built_once(self) -> None:
        """The graph is built on the first event, from the environment, and kept for later ones."""
        daemon = GizmoDaemon()
        handle = daemon.make_lambda_handler()
        assert_that(daemon.graph, is_(none()))

        handle({"Records": [record("m-1", sns_body("one"))]})
        graph = daemon.graph
        handle({"Records": [record("m-2", sns_body("two"))]})

        assert_that(daemon.graph, is_(same_instance(graph)))
        assert_that(graph.lambda_gizmo_handler.names, contains_exactly("one", "two"))

    def test_daemon_args_are_left_alone(self) -> None:
        """Building the graph for Lambda does not set the daemon's parsed command line."""
        daemon = GizmoDaemon()
        daemon.make_lambda_handler()({"Records": [record("m-1", sns_body("one"))]})
        self.addCleanup(lambda: daemon.graph.sqs_client.close())

        assert_that(daemon.args, is_(none()))

    def test_fifo_stops_after_a_failure(self) -> None:
        """On a FIFO queue, the records after a failure are reported unhandled, keeping their order."""
        fifo = "arn:aws:sqs:us-east-2:123456789012:gizmos.fifo"
        event = {"Records": [record(f"m-{name}", sns_body(name), queue_arn=fifo) for name in ("ok", "fail", "later")]}

        assert_that(self.handle(event), is_(equal_to(failures("m-fail", "m-later"))))
        assert_that(self.gizmos.names, contains_exactly("ok", "fail"))

    def test_fifo_holds_back_only_the_failed_group(self) -> None:
        """On a FIFO queue, a failure reports its group's later records; other groups' records are handled."""
        fifo = "arn:aws:sqs:us-east-2:123456789012:gizmos.fifo"
        shape = [("a-1", "a"), ("fail", "a"), ("b-1", "b"), ("a-2", "a"), ("b-2", "b")]
        records = []
        for name, group in shape:
            records.append(record(f"m-{name}", sns_body(name), queue_arn=fifo))
            records[-1]["attributes"]["MessageGroupId"] = group

        response = self.handle({"Records": records})

        assert_that((response, self.gizmos.names), is_(equal_to((
            failures("m-fail", "m-a-2"), ["a-1", "fail", "b-1", "b-2"],
        ))))

    def test_out_of_time_reports_the_rest(self) -> None:
        """With too little time left, records are reported without being handled."""
        response = self.handle({"Records": [record("m-1", sns_body("ok"))]}, Context(10))
        assert_that((response, self.gizmos.names), is_(equal_to((failures("m-1"), []))))

    def test_empty_event(self) -> None:
        """An event without records reports nothing."""
        assert_that(self.handle({}), is_(equal_to(failures())))


class WithDeadLetterQueue(unittest.TestCase):
    """A Lambda handler whose daemon dead-letters to a queue on the local endpoint (`self.sqs`)."""

    def setUp(self) -> None:
        self.stack = new_stack("lambda")
        config = graph_config(sqs_message_dispatcher={"dead_letter_queue_url": self.stack.dead_letter_queue_url})
        self.daemon = GizmoDaemon.create_for_testing(loader=load_from_dict(config))
        self.handle = self.daemon.make_lambda_handler()
        self.sqs = self.daemon.graph.sqs_client
        self.addCleanup(self.sqs.close)


class TestDeadLetterQueue(WithDeadLetterQueue):
    def test_invalid_record_is_dead_lettered(self) -> None:
        """With a dead-letter queue, an invalid record goes there with its reason and is not reported."""
        response = self.handle({"Records": [record("m-ok", sns_body("ok")), record("m-invalid", "{oops")]})

        dead = self.sqs.receive_message(QueueUrl=self.stack.dead_letter_queue_url, WaitTimeSeconds=1,
                                        MessageAttributeNames=["All"]).get("Messages", [])
        assert_that(response, is_(equal_to(failures())))
        assert_that(dead, contains_exactly(has_entries(Body="{oops", MessageAttributes=has_entries(
            pubsub_outcome=has_entries(StringValue="invalid"),
            pubsub_source_queue=has_entries(StringValue="https://sqs.us-east-2.amazonaws.com/123456789012/my-queue"),
        ))))

    def test_each_record_names_its_own_source_queue(self) -> None:
        """Records from two event sources are dead-lettered each naming the queue it came from."""
        other = "arn:aws:sqs:eu-west-1:210987654321:other-queue"
        self.handle({"Records": [record("m-a", "{a"), record("m-b", "{b", queue_arn=other)]})

        dead = self.sqs.receive_message(QueueUrl=self.stack.dead_letter_queue_url, WaitTimeSeconds=1,
                                        MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])
        sources = {message["Body"]: message["MessageAttributes"]["pubsub_source_queue"]["StringValue"]
                   for message in dead}
        assert_that(sources, is_(equal_to({
            "{a": "https://sqs.us-east-2.amazonaws.com/123456789012/my-queue",
            "{b": "https://sqs.eu-west-1.amazonaws.com/210987654321/other-queue",
        })))

    def test_unsent_dead_letter_is_reported(self) -> None:
        """When the dead-letter queue refuses the record, it is reported so that nothing is lost."""
        config = graph_config(sqs_message_dispatcher={"dead_letter_queue_url": self.stack.queue_url + "-missing"})
        daemon = GizmoDaemon.create_for_testing(loader=load_from_dict(config))
        self.addCleanup(lambda: daemon.graph.sqs_client.close())

        response = daemon.make_lambda_handler()({"Records": [record("m-invalid", "{oops")]})

        assert_that(response, is_(equal_to(failures("m-invalid"))))


class TestRecordShape(unittest.TestCase):
    def test_record_becomes_a_received_message(self) -> None:
        """A record maps to boto3's receive shape, binary attributes decoded from base64."""
        attributes = {
            "media_type": {"stringValue": GIZMO, "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "blob": {"binaryValue": "AAEC", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
        }
        message = sqs_message_from_record(record("m-1", "{}", receive_count=2, message_attributes=attributes))

        assert_that(message, has_entries(
            MessageId="m-1", Body="{}", Attributes=has_entries(ApproximateReceiveCount="2"),
            MessageAttributes={"media_type": {"DataType": "String", "StringValue": GIZMO},
                               "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"}},
        ))

    def test_testing_builder_round_trips(self) -> None:
        """The toolkit's lambda_record() is the inverse of the handler's conversion."""
        original = sqs_message("{}", {"media_type": {"DataType": "String", "StringValue": GIZMO}}, receive_count=3)
        assert_that(sqs_message_from_record(lambda_record(original)), is_(equal_to(original)))

    def test_queue_url_from_arn(self) -> None:
        """A queue ARN gives the queue's AWS URL; anything else gives None."""
        assert_that(queue_url_from_arn(QUEUE_ARN), is_(equal_to("https://sqs.us-east-2.amazonaws.com/123456789012/my-queue")))
        assert_that(queue_url_from_arn("arn:aws:sns:us-east-2:123456789012:topic"), is_(none()))
        assert_that(queue_url_from_arn(""), is_(none()))


class WarmUpTestCase(unittest.TestCase):
    def test_warm_up_on_the_class(self) -> None:
        """`MyDaemon.make_lambda_handler()` works on the class; a warm-up event answers "warming up"."""
        handle = GizmoDaemon.make_lambda_handler()
        assert_that(handle({"warm": 1}, {}), is_(equal_to("warming up")))

    def test_warm_up_on_an_instance(self) -> None:
        """On a daemon, the warm-up event answers without building the graph."""
        daemon = GizmoDaemon()
        assert_that((daemon.make_lambda_handler()({"warm": True}), daemon.graph), is_(equal_to(("warming up", None))))

    def test_class_handler_handles_records(self) -> None:
        """The class-made handler builds its daemon's graph from the environment and handles a record."""
        with environ(LAMBDA_GIZMO__SQS_CONSUMER__SQS_QUEUE_URL="queue"):
            handle = GizmoDaemon.make_lambda_handler()
            response = handle({"Records": []})
        assert_that(response, is_(equal_to({"batchItemFailures": []})))
