"""The sample service's handler: an invoice for each order that costs something."""
from __future__ import annotations

from typing import Any

from microcosm.api import binding

from examples.sample_service.schemas import InvoiceCreatedSchema, OrderCreatedSchema
from microcosm_pubsub.decorators import handles
from microcosm_pubsub.errors import SkipMessage


@binding("sample_order_handler")
@handles(OrderCreatedSchema)
class OrderCreatedHandler:
    """Publishes `created("sample_invoice")` for an order; free orders need no invoice."""

    def __init__(self, graph: Any) -> None:
        self.sns_producer = graph.sns_producer

    def __call__(self, message: dict[str, Any]) -> bool:
        if message["amount_cents"] == 0:
            raise SkipMessage("free order: no invoice")
        self.sns_producer.produce(
            InvoiceCreatedSchema.MEDIA_TYPE,
            invoice_id=f"invoice-{message['order_id']}",
            order_id=message["order_id"],
            customer=message["customer"],
            total=f"{message['amount_cents'] / 100:.2f}",
        )
        return True
