"""Schemas the `pubsub schemas` and `pubsub publish --schemas` tests import in their subprocesses."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema


ORDER_CREATED = "application/vnd.acme.pubsub._.created.cli_order"
ORDER_CANCELLED = "application/vnd.acme.pubsub._.cancelled.cli_order"


class Opaque(fields.Field[Any]):
    """A field type JSON Schema knows nothing about."""


class LineSchema(Schema):
    sku = fields.String(required=True)
    count = fields.Integer(validate=validate.Range(min=1, max=99))


@schema
class OrderCreatedSchema(PubSubMessageSchema):
    """An order was placed."""

    MEDIA_TYPE = ORDER_CREATED

    orderId = fields.String(attribute="order_id", required=True, validate=validate.Length(min=1, max=36))
    quantity = fields.Integer(required=True, validate=validate.Range(min=1))
    email = fields.Email(metadata={"description": "who to tell"})
    status = fields.String(validate=validate.OneOf(["new", "paid"]))
    placedAt = fields.DateTime(attribute="placed_at")
    tags = fields.List(fields.String())
    lines = fields.Nested(LineSchema, many=True)
    note = fields.String(allow_none=True)
    extra = Opaque()


@schema
class OrderCancelledSchema(PubSubMessageSchema):
    MEDIA_TYPE = ORDER_CANCELLED

    orderId = fields.String(attribute="order_id", required=True)
