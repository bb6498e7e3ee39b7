"""The imports docs/testing.md shows, at the top of a test module: collected cleanly by pytest and nose2.

`testing_graph`, `testing_daemon` and `testing_config` are named like tests; pytest and nose2 must
leave them alone (they say `__test__ = False`), so importing them here must add no test.
"""
from __future__ import annotations

import unittest

from hamcrest import assert_that, equal_to, is_

from examples.sample_service.daemon import SampleServiceDaemon
from examples.sample_service.schemas import InvoiceCreatedSchema, OrderCreatedSchema
from microcosm_pubsub.result import Outcome
from microcosm_pubsub.testing import (
    PublishCapture,
    capture_published,
    dispatch,
    testing_config,
    testing_daemon,
    testing_graph,
)
from microcosm_pubsub.testing.matchers import not_published, published


ORDER, INVOICE = OrderCreatedSchema.MEDIA_TYPE, InvoiceCreatedSchema.MEDIA_TYPE


class TestWithTestingGraph(unittest.TestCase):
    """A recording graph built from the handler's binding alone."""

    def setUp(self) -> None:
        self.graph = testing_graph("sample_service", components=["sample_order_handler"])

    def test_order_is_invoiced(self) -> None:
        """An order that costs something is invoiced."""
        result = dispatch(self.graph, ORDER, {"order_id": "o-1", "customer": "ada", "amount_cents": 1250})

        assert_that(result.outcome, is_(equal_to(Outcome.SUCCEEDED)))
        assert_that(self.graph.sns_producer, published(INVOICE, order_id="o-1", total="12.50"))

    def test_config_records(self) -> None:
        """testing_config() is the configuration testing_graph() records with."""
        assert_that(testing_config()["sns_producer"], is_(equal_to({"record": True})))


class TestWithCapture(unittest.TestCase):
    """Asserting on what the handler published, with a capture (the nose2/unittest form of `pubsub_published`)."""

    def setUp(self) -> None:
        self.graph = testing_daemon(SampleServiceDaemon).graph
        self.published = PublishCapture.setup(self)

    def test_free_order_is_not_invoiced(self) -> None:
        """A free order is skipped, and nothing is published."""
        result = dispatch(self.graph, ORDER, {"order_id": "o-2", "customer": "ada", "amount_cents": 0})

        assert_that(result.outcome, is_(equal_to(Outcome.SKIPPED)))
        self.published.assert_not_published()

    def test_invoice_carries_the_order(self) -> None:
        """The invoice published for an order names it, with its total in currency units."""
        dispatch(self.graph, ORDER, {"order_id": "o-3", "customer": "grace", "amount_cents": 99})

        invoice = self.published.assert_published(INVOICE, order_id="o-3")
        assert_that(invoice.content["total"], is_(equal_to("0.99")))

    def test_context_manager(self) -> None:
        """capture_published() as a context manager sees what was published inside the block."""
        with capture_published() as published_here:
            dispatch(self.graph, ORDER, {"order_id": "o-4", "customer": "lin", "amount_cents": 5})

        published_here.assert_published(INVOICE, order_id="o-4", total="0.05")
        assert_that(published_here.messages, not_published(ORDER))
