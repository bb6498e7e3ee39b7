"""The sample service tested with microcosm_pubsub.testing alone: no mocks, no AWS."""
from __future__ import annotations

import unittest

from hamcrest import assert_that, contains_inanyorder, equal_to, is_

from examples.sample_service.daemon import SampleServiceDaemon
from examples.sample_service.schemas import InvoiceCreatedSchema, OrderCreatedSchema
from microcosm_pubsub.result import Outcome
from microcosm_pubsub.testing import IntegrationEnvironment, dispatch, lambda_event, lambda_record, testing_daemon
from microcosm_pubsub.testing.matchers import a_message, not_published, published, published_inanyorder


ORDER = OrderCreatedSchema.MEDIA_TYPE
INVOICE = InvoiceCreatedSchema.MEDIA_TYPE


class TestOrderHandler(unittest.TestCase):
    """The handler alone: each message dispatched synchronously, what it produces recorded."""

    def setUp(self) -> None:
        self.daemon = testing_daemon(
            SampleServiceDaemon, sqs_message_dispatcher={"message_max_processing_attempts": 3},
        )
        self.graph = self.daemon.graph

    def test_order_is_invoiced(self) -> None:
        """An order that costs something is invoiced, its total in currency units."""
        result = dispatch(self.graph, ORDER, {"order_id": "o-1", "customer": "ada", "amount_cents": 1250})

        assert_that(result.outcome, is_(equal_to(Outcome.SUCCEEDED)))
        assert_that(self.graph.sns_producer, published(INVOICE, order_id="o-1", customer="ada", total="12.50"))

    def test_free_order_is_skipped(self) -> None:
        """A free order is skipped, and no invoice is published."""
        result = dispatch(self.graph, ORDER, {"order_id": "o-2", "customer": "ada", "amount_cents": 0})

        assert_that(result.outcome, is_(equal_to(Outcome.SKIPPED)))
        assert_that(self.graph.sns_producer, not_published(INVOICE))

    def test_order_received_too_often_expires(self) -> None:
        """An order received more often than the configured attempts expires without an invoice."""
        result = dispatch(
            self.graph, ORDER, {"order_id": "o-3", "customer": "ada", "amount_cents": 100}, receive_count=4,
        )

        assert_that(result.outcome, is_(equal_to(Outcome.EXPIRED)))
        assert_that(self.graph.sns_producer, not_published())


class TestEagerly(unittest.TestCase):
    """Eager mode: producing a message runs the service's own handler for it at once."""

    def test_produced_order_is_invoiced_at_once(self) -> None:
        """Producing an order publishes its invoice before produce returns."""
        graph = testing_daemon(SampleServiceDaemon, eager=True).graph

        graph.sns_producer.produce(ORDER, order_id="o-4", customer="grace", amount_cents=99)

        assert_that(graph.sns_producer, published_inanyorder(
            a_message(ORDER, order_id="o-4"),
            a_message(INVOICE, order_id="o-4", total="0.99"),
        ))


class TestOnLocalEndpoint(unittest.TestCase):
    """The daemon's graph against real topics and queues on the local SNS/SQS endpoint."""

    def setUp(self) -> None:
        self.environment = IntegrationEnvironment.setup(self, name="sample-service")
        self.graph = self.environment.daemon(SampleServiceDaemon).graph

    def test_order_from_sns_is_invoiced_on_sns(self) -> None:
        """An order published to SNS is received, handled and acked, and its invoice reaches SNS."""
        self.graph.sns_producer.produce(ORDER, order_id="o-5", customer="lin", amount_cents=500)

        results = self.environment.consume(self.graph)

        # The service's queue also receives the invoice, for which it has no handler
        assert_that([result.outcome for result in results], contains_inanyorder(Outcome.SUCCEEDED, Outcome.IGNORED))
        assert_that(self.environment.published(), published_inanyorder(
            a_message(ORDER, order_id="o-5"),
            a_message(INVOICE, order_id="o-5", total="5.00"),
        ))
        assert_that(self.environment.drain(), is_(equal_to([])))


class TestInLambda(unittest.TestCase):
    """The Lambda entry point, given events shaped as AWS delivers them."""

    def test_only_the_unreadable_record_is_retried(self) -> None:
        """Of a good order and an unreadable record, only the unreadable one is reported for retry."""
        daemon = testing_daemon(SampleServiceDaemon)
        producer = daemon.graph.sns_producer
        producer.produce(ORDER, order_id="o-6", customer="kay", amount_cents=1)
        good = lambda_record(producer.messages[0].delivered())
        unreadable = {**lambda_record(producer.messages[0].delivered()), "body": "{not json", "messageId": "bad-1"}
        producer.clear()

        response = daemon.make_lambda_handler()(lambda_event(good, unreadable), None)

        assert_that(response, is_(equal_to({"batchItemFailures": [{"itemIdentifier": "bad-1"}]})))
        assert_that(producer, published(INVOICE, order_id="o-6", total="0.01"))
