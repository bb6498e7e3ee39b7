"""The sample service tested pytest-style, with the documented imports at the top of the module.

Run by pytest only (`make test` runs it through scripts/run_pytest.py): nose2 cannot give fixtures.
"""
from __future__ import annotations

from typing import Any

from hamcrest import assert_that, contains_inanyorder, equal_to, is_

from examples.sample_service.daemon import SampleServiceDaemon
from examples.sample_service.schemas import InvoiceCreatedSchema, OrderCreatedSchema
from microcosm_pubsub.result import Outcome
from microcosm_pubsub.testing import PublishCapture, dispatch, testing_daemon, testing_graph
from microcosm_pubsub.testing.matchers import a_message, published_inanyorder


ORDER, INVOICE = OrderCreatedSchema.MEDIA_TYPE, InvoiceCreatedSchema.MEDIA_TYPE


def test_order_is_invoiced(pubsub_published: PublishCapture) -> None:
    """An order that costs something is invoiced; the fixture captured the invoice."""
    graph = testing_daemon(SampleServiceDaemon).graph

    result = dispatch(graph, ORDER, {"order_id": "o-1", "customer": "ada", "amount_cents": 1250})

    assert_that(result.outcome, is_(equal_to(Outcome.SUCCEEDED)))
    pubsub_published.assert_published(INVOICE, order_id="o-1", customer="ada", total="12.50")


def test_free_order_is_not_invoiced(pubsub_published: PublishCapture) -> None:
    """A free order is skipped, and nothing is published."""
    graph = testing_graph("sample_service", components=["sample_order_handler"])

    result = dispatch(graph, ORDER, {"order_id": "o-2", "customer": "ada", "amount_cents": 0})

    assert_that(result.outcome, is_(equal_to(Outcome.SKIPPED)))
    pubsub_published.assert_not_published()


def test_order_from_sns_is_invoiced_on_sns(pubsub_environment: Any) -> None:
    """On the local endpoint: an order published to SNS is handled, and its invoice reaches SNS."""
    graph = pubsub_environment.daemon(SampleServiceDaemon).graph
    graph.sns_producer.produce(ORDER, order_id="o-5", customer="lin", amount_cents=500)

    results = pubsub_environment.consume(graph)

    assert_that([result.outcome for result in results], contains_inanyorder(Outcome.SUCCEEDED, Outcome.IGNORED))
    assert_that(pubsub_environment.published(), published_inanyorder(
        a_message(ORDER, order_id="o-5"), a_message(INVOICE, order_id="o-5", total="5.00"),
    ))
