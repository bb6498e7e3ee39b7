"""`sns_producer` against the local endpoint: the wire format, validation, limits and failures."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import unittest
import uuid
from typing import Any, ClassVar
from unittest.mock import patch

from botocore.exceptions import ClientError
from hamcrest import (
    all_of,
    assert_that,
    calling,
    contains_string,
    empty,
    equal_to,
    has_entries,
    has_entry,
    has_key,
    has_length,
    instance_of,
    is_,
    is_not,
    none,
    raises,
    same_instance,
)
from marshmallow import EXCLUDE, ValidationError, fields
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.aws.provisioning import Stack
from microcosm_pubsub.conventions import created, deleted
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.schemas.registry import PubSubMessageSchemaRegistry
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import (
    MessageTooLargeError,
    PublishError,
    PubSubError,
    TopicNotDefinedError,
)


@schema
class ProducerTestSchema(PubSubMessageSchema):
    MEDIA_TYPE = "application/vnd.globality.pubsub._.created.test-producer-widget"

    name = fields.String(required=True)
    count = fields.Integer(required=False)


MEDIA_TYPE = ProducerTestSchema.MEDIA_TYPE


@schema
class CamelCaseTestSchema(PubSubMessageSchema):
    MEDIA_TYPE = "application/vnd.globality.pubsub._.created.test-producer-camel"

    order_id = fields.String(data_key="orderId", required=True)
    amount_cents = fields.Integer(data_key="amountCents", required=True)


CAMEL_MEDIA_TYPE = CamelCaseTestSchema.MEDIA_TYPE


@schema
class OpenTestSchema(PubSubMessageSchema):
    """A schema that declares, in its own Meta, that extra keys are expected and left out."""

    MEDIA_TYPE = "application/vnd.globality.pubsub._.created.test-producer-open"

    name = fields.String(required=True)

    class Meta:
        unknown = EXCLUDE


def raised_by(function: Any, *args: Any, **kwargs: Any) -> BaseException:
    """The exception `function(*args, **kwargs)` raises."""
    try:
        function(*args, **kwargs)
    except Exception as error:
        return error
    raise AssertionError(f"{function} raised nothing")


class ProducerTestCase(unittest.TestCase):
    """A fresh stack per test, a graph publishing to it, and a plain boto3 reader of its queue."""

    raw = False

    sqs: ClassVar[Any]

    @classmethod
    def setUpClass(cls) -> None:
        cls.sqs = fixtures.endpoint().client("sqs")
        cls.addClassCleanup(cls.sqs.close)

    def setUp(self) -> None:
        self.stack = fixtures.new_stack("producer", raw=self.raw, dead_letter=False)
        self.graph = self.make_graph(self.stack)

    def make_graph(self, stack: Stack | None, **overrides: Any) -> Any:
        graph = fixtures.make_graph(stack, **overrides)
        self.addCleanup(fixtures.close_clients, graph)
        return graph

    def receive(self, wait_seconds: int = 1) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.stack.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_seconds,
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def receive_one(self) -> dict[str, Any]:
        messages = self.receive()
        assert_that(len(messages), is_(equal_to(1)))
        return messages[0]

    def assert_queue_empty(self) -> None:
        # SNS delivers to SQS within the Publish call, so an empty receive right after means nothing was sent
        assert_that(self.receive(wait_seconds=0), is_(empty()))


class WireFormatTests(ProducerTestCase):
    def test_returns_message_id(self) -> None:
        """produce returns the SNS MessageId, which the SNS envelope carries."""
        message_id = self.graph.sns_producer.produce(MEDIA_TYPE, name="a")
        envelope = json.loads(self.receive_one()["Body"])
        assert_that(envelope["MessageId"], is_(equal_to(message_id)))

    def test_sns_envelope(self) -> None:
        """The SQS body is the SNS notification envelope with the media type attribute."""
        self.graph.sns_producer.produce(MEDIA_TYPE, name="a")
        envelope = json.loads(self.receive_one()["Body"])
        assert_that(
            envelope,
            has_entries(
                Type="Notification",
                TopicArn=self.stack.topic_arn,
                MessageAttributes=equal_to({"media_type": {"Type": "String", "Value": MEDIA_TYPE}}),
            ),
        )

    def test_message_json(self) -> None:
        """The envelope's Message is the JSON of mediaType, opaqueData and the fields."""
        self.graph.sns_producer.produce(MEDIA_TYPE, name="a", count=3)
        message = json.loads(json.loads(self.receive_one()["Body"])["Message"])
        assert_that(
            message,
            has_entries(mediaType=MEDIA_TYPE, name="a", count=3, opaqueData=has_key("x-request-published")),
        )
        assert_that(sorted(message), is_(equal_to(["count", "mediaType", "name", "opaqueData"])))

    def test_dict_and_kwargs_merged(self) -> None:
        """Content given as a dict and keyword arguments is merged."""
        self.graph.sns_producer.produce(MEDIA_TYPE, {"name": "a"}, count=4)
        message = json.loads(json.loads(self.receive_one()["Body"])["Message"])
        assert_that(message, has_entries(name="a", count=4))

    def test_kwargs_win_over_dict(self) -> None:
        """A keyword argument overrides the same key in the dict."""
        self.graph.sns_producer.produce(MEDIA_TYPE, {"name": "a"}, name="b")
        message = json.loads(json.loads(self.receive_one()["Body"])["Message"])
        assert_that(message, has_entry("name", "b"))

    def test_opaque_data_carried(self) -> None:
        """The graph's opaque data (a request id) is carried into opaqueData, lower-cased."""
        with self.graph.opaque.initialize(lambda: {"X-Request-Id": "req-1"}):
            self.graph.sns_producer.produce(MEDIA_TYPE, name="a")
        message = json.loads(json.loads(self.receive_one()["Body"])["Message"])
        assert_that(message["opaqueData"], has_entry("x-request-id", "req-1"))


class RawDeliveryTests(ProducerTestCase):
    raw = True

    def test_bare_json(self) -> None:
        """With raw delivery the SQS body is the message JSON itself."""
        self.graph.sns_producer.produce(MEDIA_TYPE, name="a")
        body = json.loads(self.receive_one()["Body"])
        assert_that(body, has_entries(mediaType=MEDIA_TYPE, name="a", opaqueData=has_key("x-request-published")))

    def test_media_type_attribute(self) -> None:
        """With raw delivery the media type arrives as an SQS message attribute."""
        self.graph.sns_producer.produce(MEDIA_TYPE, name="a")
        attributes = self.receive_one()["MessageAttributes"]
        assert_that(attributes, has_entry("media_type", has_entries(DataType="String", StringValue=MEDIA_TYPE)))


class RefusalTests(ProducerTestCase):
    def test_invalid_content(self) -> None:
        """Content that does not fit the schema raises ValidationError naming the field."""
        assert_that(
            calling(self.graph.sns_producer.produce).with_args(MEDIA_TYPE, count=1),
            raises(ValidationError, "name"),
        )

    def test_invalid_content_names_the_argument(self) -> None:
        """A field whose key in the message differs is named by the argument produce() was given."""
        assert_that(
            calling(self.graph.sns_producer.produce).with_args(CAMEL_MEDIA_TYPE, order_id="o-1", amount_cents="abc"),
            raises(ValidationError, r"amount_cents \(amountCents in the message\): cannot serialize 'abc'"),
        )

    def test_invalid_content_publishes_nothing(self) -> None:
        """A message that fails validation is not published."""
        error = raised_by(self.graph.sns_producer.produce, MEDIA_TYPE, count=1)
        assert_that(error, is_(instance_of(ValidationError)))
        self.assert_queue_empty()

    def test_unknown_argument_refused_with_suggestion(self) -> None:
        """A misspelled argument raises before any call, named with the field it is close to; nothing is sent."""
        error = raised_by(self.graph.sns_producer.produce, MEDIA_TYPE, name="a", cuont=3)
        assert_that(error, is_(instance_of(ValidationError)))
        assert_that(str(error), contains_string("cuont: unknown argument (did you mean 'count'?)"))
        self.assert_queue_empty()

    def test_misspelled_required_argument_names_both(self) -> None:
        """A misspelled required argument is named as unknown, and its right name as missing, in one error."""
        error = raised_by(self.graph.sns_producer.produce, CAMEL_MEDIA_TYPE, order_id="o-1", amount_cnets=5)
        assert_that(str(error), all_of(
            contains_string("amount_cnets: unknown argument (did you mean 'amount_cents'?)"),
            contains_string("amount_cents (amountCents in the message): Missing data for required field."),
        ))

    def test_schema_declaring_unknown_takes_extra_keys(self) -> None:
        """A schema whose own Meta sets `unknown` takes extra keys, as before, and leaves them out of the message."""
        self.graph.sns_producer.produce(OpenTestSchema.MEDIA_TYPE, name="a", colour="red")
        message = json.loads(json.loads(self.receive_one()["Body"])["Message"])
        assert_that(sorted(message), is_(equal_to(["mediaType", "name", "opaqueData"])))

    def test_unmapped_media_type(self) -> None:
        """A media type with no topic raises TopicNotDefinedError."""
        graph = self.make_graph(None)
        assert_that(
            calling(graph.sns_producer.produce).with_args(MEDIA_TYPE, name="a"),
            raises(TopicNotDefinedError, MEDIA_TYPE),
        )

    def test_too_large(self) -> None:
        """A message over 256 KiB raises MessageTooLargeError with its size and the limit."""
        name = "x" * 262_144
        assert_that(
            calling(self.graph.sns_producer.produce).with_args(MEDIA_TYPE, name=name),
            raises(MessageTooLargeError, r"\d{6} bytes, over the limit of 262144 bytes"),
        )

    def test_too_large_sends_nothing(self) -> None:
        """A message over the size limit is not sent."""
        error = raised_by(self.graph.sns_producer.produce, MEDIA_TYPE, name="x" * 262_144)
        assert_that(error, is_(instance_of(MessageTooLargeError)))
        self.assert_queue_empty()

    def test_missing_topic(self) -> None:
        """Publishing to a topic that does not exist raises a PublishError naming the topic."""
        missing = f"arn:aws:sns:us-east-1:123456789012:missing-{uuid.uuid4().hex}"
        graph = self.make_graph(None, sns_topic_arns={"default": missing})
        assert_that(calling(graph.sns_producer.produce).with_args(MEDIA_TYPE, name="a"), raises(PublishError, missing))

    def test_missing_topic_chained(self) -> None:
        """The PublishError is a PubSubError chained from the boto error."""
        missing = f"arn:aws:sns:us-east-1:123456789012:missing-{uuid.uuid4().hex}"
        graph = self.make_graph(None, sns_topic_arns={"default": missing})
        error = raised_by(graph.sns_producer.produce, MEDIA_TYPE, name="a")
        assert_that(error, is_(instance_of(PubSubError)))
        assert_that(error.__cause__, is_(instance_of(ClientError)))

    def test_skip(self) -> None:
        """With sns_producer.skip, produce validates, publishes nothing and returns None."""
        graph = self.make_graph(self.stack, sns_producer={"skip": True})
        assert_that(graph.sns_producer.produce(MEDIA_TYPE, name="a"), is_(none()))
        self.assert_queue_empty()

    def test_skip_still_validates(self) -> None:
        """With sns_producer.skip, invalid content still raises."""
        graph = self.make_graph(self.stack, sns_producer={"skip": True})
        assert_that(calling(graph.sns_producer.produce).with_args(MEDIA_TYPE, count=1), raises(ValidationError))


class EntryPointTests(unittest.TestCase):
    def test_bindings_from_entry_points(self) -> None:
        """A graph finds sns_producer and sqs_consumer with nothing imported from the package."""
        code = textwrap.dedent(
            """
            import sys
            from microcosm.api import create_object_graph
            assert not [name for name in sys.modules if name.startswith("microcosm_pubsub")]
            graph = create_object_graph("svc", testing=True)
            for component in (graph.sns_producer, graph.sqs_consumer):
                print(type(component).__module__ + "." + type(component).__qualname__)
            """
        )
        result = subprocess.run(
            [sys.executable, "-W", "error", "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": ""},
            check=False,
        )
        assert_that(result.stderr, is_(equal_to("")))
        assert_that(
            result.stdout.split(),
            is_(equal_to([
                "microcosm_pubsub.produce.producer.SNSProducer", "microcosm_pubsub.consume.consumer.SQSConsumer",
            ])),
        )


class ConventionTests(ProducerTestCase):
    def test_convention_message_without_schema(self) -> None:
        """created("...") with a uri publishes with no declared schema, in the old wire format."""
        media = created("ConventionWidget")
        self.graph.sns_producer.produce(media, uri="http://example.com/widgets/1")
        envelope = json.loads(self.receive_one()["Body"])
        assert_that(envelope["MessageAttributes"], has_entry("media_type", {"Type": "String", "Value": media}))
        assert_that(json.loads(envelope["Message"]), has_entries(mediaType=media, uri="http://example.com/widgets/1"))

    def test_convention_message_drops_extra_keys(self) -> None:
        """A convention message takes keys its schema lacks and leaves them out, as old services rely on."""
        media = created("ConventionGadget")
        self.graph.sns_producer.produce(media, uri="http://example.com/gadgets/1", data="extra")
        message = json.loads(json.loads(self.receive_one()["Body"])["Message"])
        assert_that(sorted(message), is_(equal_to(["mediaType", "opaqueData", "uri"])))

    def test_old_format_consumer_decodes(self) -> None:
        """An old-format consumer (convention schema, no declaration) decodes what the new producer sent."""
        media = deleted("ConventionWidget")
        self.graph.sns_producer.produce(media, id="42", opaque_data={"X-Request-Id": "r1"})
        body = json.loads(self.receive_one()["Body"])["Message"]
        content = PubSubMessageSchemaRegistry(None).find(media).decode(body)
        assert_that(content, has_entries(media_type=media, id="42", opaque_data=has_entry("x-request-id", "r1")))

    def test_convention_validated(self) -> None:
        """A convention message without its reference is refused before anything is sent."""
        produce = self.graph.sns_producer.produce
        assert_that(calling(produce).with_args(created("ConventionWidget")), raises(ValidationError))
        self.assert_queue_empty()


class OpaquePropagationTests(ProducerTestCase):
    def test_handler_messages_carry_its_opaque_context(self) -> None:
        """A message produced inside a handler carries the handler's opaque data, custom keys too."""
        parent, child = created("OpaqueParent"), created("OpaqueChild")
        opaque_data = {"X-Custom": "c", "X-Request-Id": "r1"}
        self.graph.sns_producer.produce(parent, uri="http://example.com/1", opaque_data=opaque_data)

        def handler(message: dict[str, Any]) -> bool:
            self.graph.sns_producer.produce(child, uri="http://example.com/2")
            return True

        [message] = fixtures.receive(self.graph)
        self.graph.sqs_message_dispatcher.handle_message(message, {parent: handler})
        opaque = json.loads(json.loads(self.receive_one()["Body"])["Message"])["opaqueData"]
        assert_that(opaque, has_entries({"x-custom": "c", "x-request-id": "r1", "x-request-ttl": "31"}))
        assert_that(opaque, is_not(has_key("receipt_handle")))


class OldConfigurationTests(ProducerTestCase):
    def test_old_timeout_keys(self) -> None:
        """sns_producer.connect_timeout and read_timeout (old names) configure the client."""
        graph = self.make_graph(self.stack, sns_producer={"connect_timeout": "7", "read_timeout": "8"})
        client_config = graph.sns_producer.sns_client.meta.config
        assert_that((client_config.connect_timeout, client_config.read_timeout), is_(equal_to((7.0, 8.0))))

    def test_skip_from_string(self) -> None:
        """skip given as the string "true" (environment) skips publishing."""
        graph = self.make_graph(self.stack, sns_producer={"skip": "true"})
        assert_that(graph.sns_producer.produce(MEDIA_TYPE, name="a"), is_(none()))
        self.assert_queue_empty()

    def test_skip_false_from_string(self) -> None:
        """skip given as the string "false" publishes."""
        graph = self.make_graph(self.stack, sns_producer={"skip": "false"})
        assert_that(graph.sns_producer.produce(MEDIA_TYPE, name="a"), is_(instance_of(str)))

    def test_mock_sns_declared(self) -> None:
        """mock_sns is a known key, unset by default: a configuration that publishes for real does not say mocked."""
        assert_that(self.graph.config.sns_producer.mock_sns, is_(none()))

    def test_sns_client_is_the_client(self) -> None:
        """sns_producer.sns_client is the client it publishes with (the old attribute)."""
        assert_that(self.graph.sns_producer.sns_client, is_(same_instance(self.graph.sns_client)))

    def test_locked_graph(self) -> None:
        """A producer taken with graph.use() then graph.lock() publishes."""
        config = load_from_dict(fixtures.graph_config(self.stack))
        graph: Any = create_object_graph("test", testing=True, loader=config)
        graph.use("sns_producer")
        graph.lock()
        self.addCleanup(fixtures.close_clients, graph)
        graph.sns_producer.produce(created("LockedThing"), uri="http://example.com/1")
        assert_that(self.receive(), has_length(1))

    def test_published_time_from_producer_time(self) -> None:
        """x-request-published comes from microcosm_pubsub.producer.time."""
        with patch("microcosm_pubsub.produce.producer.time", return_value=1234.5):
            self.graph.sns_producer.produce(MEDIA_TYPE, name="a")
        opaque = json.loads(json.loads(self.receive_one()["Body"])["Message"])["opaqueData"]
        assert_that(opaque, has_entry("x-request-published", "1234.5"))

    def test_producer_metrics_once_per_publish(self) -> None:
        """pubsub_producer_metrics is called once per publish, with the outcome."""
        calls: list[tuple[Any, ...]] = []
        self.graph.sns_producer.pubsub_producer_metrics = lambda *args, **kwargs: calls.append((args, kwargs))
        self.graph.sns_producer.produce(MEDIA_TYPE, name="a")
        assert_that(calls, has_length(1))
        assert_that(calls[0][1], has_entries(publish_result=True, media_type=MEDIA_TYPE))

    def test_other_exceptions_propagate(self) -> None:
        """An exception that is not boto's comes out of produce() as it is."""
        class Broken:
            def publish(self, **kwargs: Any) -> Any:
                raise LookupError("broken client")

        self.graph.sns_producer.sns_client = Broken()
        assert_that(calling(self.graph.sns_producer.produce).with_args(MEDIA_TYPE, name="a"), raises(LookupError))
