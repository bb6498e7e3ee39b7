"""The old service's tests, as written for microcosm-pubsub 2.30: mock-style clients and the old matchers.

Run with either runner, from the project root:
    python -m pytest examples/old_style_service/tests
    python -m nose2 -s . examples.old_style_service.tests.test_service
"""
import json
import unittest
from typing import Any

from hamcrest import all_of, assert_that, calling, equal_to, is_, raises
from microcosm.api import create_object_graph, load_from_dict

from examples.old_style_service.service import INVOICE_CREATED, ORDER_CREATED, OrderServiceDaemon
from microcosm_pubsub.matchers import has_media_type, has_uri, published, published_nothing
from microcosm_pubsub.message import SQSMessage
from microcosm_pubsub.result import MessageHandlingResultType


INVOICE_URI = "http://invoices.example/api/v1/invoice/o-1"


def create_graph() -> Any:
    loader = load_from_dict(sns_topic_arns=dict(default="arn:aws:sns:us-east-1:123456789012:invoices"))
    return create_object_graph("old_style_order_service", testing=True, loader=loader)


class TestOrderHandler(unittest.TestCase):
    """The handler on a testing graph: the SNS client records what the producer publishes."""

    def setUp(self) -> None:
        self.graph = create_graph()
        self.graph.use("old_style_order_handler")
        self.graph.sns_producer.sns_client.reset_mock()

    def test_order_is_invoiced(self) -> None:
        result = self.graph.old_style_order_handler(dict(order_id="o-1", amount_cents=1250))

        assert_that(result, is_(equal_to(True)))
        publish = self.graph.sns_producer.sns_client.publish
        assert_that(publish.call_count, is_(equal_to(1)))
        assert_that(publish.call_args[1]["TopicArn"], is_(equal_to("arn:aws:sns:us-east-1:123456789012:invoices")))
        message = json.loads(publish.call_args[1]["Message"])
        assert_that(message["mediaType"], is_(equal_to(INVOICE_CREATED)))
        assert_that(message["uri"], is_(equal_to(INVOICE_URI)))
        assert_that(
            self.graph.sns_producer,
            published(all_of(has_media_type(INVOICE_CREATED), has_uri(INVOICE_URI))),
        )

    def test_free_order_is_not_invoiced(self) -> None:
        result = self.graph.old_style_order_handler(dict(order_id="o-2", amount_cents=0))

        assert_that(result, is_(equal_to(False)))
        assert_that(self.graph.sns_producer.sns_client.publish.call_count, is_(equal_to(0)))
        assert_that(self.graph.sns_producer, published_nothing())

    def test_publish_failure_is_raised(self) -> None:
        self.graph.sns_producer.sns_client.publish.side_effect = Exception("SNS is down")

        assert_that(
            calling(self.graph.old_style_order_handler).with_args(dict(order_id="o-3", amount_cents=100)),
            raises(Exception, "SNS is down"),
        )


class TestOrderDaemon(unittest.TestCase):
    """The daemon's dispatcher, as `create_for_testing()` builds it: the producer records its calls."""

    def setUp(self) -> None:
        self.daemon = OrderServiceDaemon.create_for_testing()
        self.graph: Any = self.daemon.graph
        self.graph.sns_producer.produce.reset_mock()

    def message(self, **content: Any) -> SQSMessage:
        return SQSMessage(
            consumer=self.graph.sqs_consumer,
            content=content,
            media_type=ORDER_CREATED,
            message_id="message-id",
            receipt_handle="receipt-handle",
            approximate_receive_count=1,
        )

    def test_order_message_is_handled(self) -> None:
        result = self.graph.sqs_message_dispatcher.handle_message(
            message=self.message(order_id="o-1", amount_cents=1250),
            bound_handlers=self.daemon.bound_handlers,
        )

        assert_that(result.result, is_(equal_to(MessageHandlingResultType.SUCCEEDED)))
        self.graph.sns_producer.produce.assert_called_once_with(INVOICE_CREATED, uri=INVOICE_URI)
        assert_that(self.graph.sns_producer, published(has_uri(INVOICE_URI)))

    def test_received_order_is_dispatched(self) -> None:
        body = json.dumps(dict(mediaType=ORDER_CREATED, order_id="o-1", amount_cents=5, opaqueData=dict()))
        self.graph.sqs_consumer.sqs_client.receive_message.return_value = dict(Messages=[
            dict(MessageId="m-1", ReceiptHandle="r-1", Body=body, Attributes=dict(ApproximateReceiveCount="1")),
        ])

        self.graph.sqs_message_dispatcher.handle_batch(bound_handlers=self.daemon.bound_handlers)

        assert_that(self.graph.sns_producer.produce.call_count, is_(equal_to(1)))
        self.graph.sqs_consumer.sqs_client.delete_message_batch.assert_called_once()
