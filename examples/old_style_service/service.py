"""An order service in the old package's style: a schema, a bound handler that publishes, a daemon.

Nothing here is specific to this package: it is how services were written for microcosm-pubsub 2.30.
"""
from __future__ import annotations

from typing import Any

from marshmallow import fields
from microcosm.api import binding

from microcosm_pubsub.codecs import PubSubMessageSchema
from microcosm_pubsub.conventions import created
from microcosm_pubsub.daemon import ConsumerDaemon
from microcosm_pubsub.decorators import handles, schema


ORDER_CREATED = created("old_style_order")
INVOICE_CREATED = created("old_style_invoice")


@schema
class OrderCreatedSchema(PubSubMessageSchema):
    MEDIA_TYPE = ORDER_CREATED

    order_id = fields.String(required=True)
    amount_cents = fields.Integer(required=True)
    uri = fields.String()


@binding("old_style_order_handler")
@handles(ORDER_CREATED)
class OrderHandler:
    """Invoices every order that costs something; publishes the invoice's URI."""

    def __init__(self, graph: Any) -> None:
        self.sns_producer = graph.sns_producer

    def __call__(self, message: dict[str, Any]) -> bool:
        if message["amount_cents"] <= 0:
            return False
        order_id = message["order_id"]
        # The invoice goes out as a URI message (the convention schema for `created` media types)
        self.sns_producer.produce(INVOICE_CREATED, uri=f"http://invoices.example/api/v1/invoice/{order_id}")
        return True


class OrderServiceDaemon(ConsumerDaemon):
    name = "old_style_order_service"

    @property
    def components(self) -> list[str]:
        components: list[str] = [*super().components, "old_style_order_handler"]
        return components


if __name__ == "__main__":
    OrderServiceDaemon().run()
