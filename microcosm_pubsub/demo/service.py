"""The demo's service: an order schema, a handler component, and its consumer daemon."""
from __future__ import annotations

import threading
from typing import Any

from marshmallow import fields
from microcosm.api import binding

from microcosm_pubsub.conventions import created
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import handles, schema
from microcosm_pubsub.wire.errors import SkipMessage


@schema
class OrderCreatedSchema(PubSubMessageSchema):
    MEDIA_TYPE = created("order")

    order_id = fields.String(attribute="order_id", data_key="orderId", required=True)
    quantity = fields.Integer(required=True)
    flaky = fields.Boolean(load_default=False, dump_default=False)


@binding("order_handler")
@handles(OrderCreatedSchema)
class OrderHandler:
    """Ships orders; skips empty ones; a flaky order fails on its first try to show a retry."""

    def __init__(self, graph: Any) -> None:
        self.failed_once: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, message: dict[str, Any]) -> bool:
        order_id = message["order_id"]
        if message["quantity"] == 0:
            raise SkipMessage(f"order {order_id} is empty")
        if message["flaky"]:
            with self.lock:
                first_try = order_id not in self.failed_once
                self.failed_once.add(order_id)
            if first_try:
                raise ConnectionError(f"warehouse did not answer for order {order_id}")
        return True


class DemoDaemon(ConsumerDaemon):
    name = "demo"

    @property
    def components(self) -> list[str]:
        return [*super().components, "order_handler"]

    @property
    def defaults(self) -> dict[str, Any]:
        # Short polls and instant retries keep the demo brisk. The queue's redrive policy (3 receives)
        # bounds retries: the daemon dead-letters a message failing on its last receive, with the reason
        return {"sqs_consumer": {"wait_seconds": 1, "message_retry_visibility_timeout_seconds": 0}}


if __name__ == "__main__":
    DemoDaemon().run()
