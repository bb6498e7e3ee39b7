"""The messages the sample service reads and writes."""
from __future__ import annotations

from marshmallow import fields, validate

from microcosm_pubsub.codecs import PubSubMessageSchema
from microcosm_pubsub.conventions import created
from microcosm_pubsub.decorators import schema


@schema
class OrderCreatedSchema(PubSubMessageSchema):
    """Published by the (imaginary) order service."""

    MEDIA_TYPE = created("sample_order")

    order_id = fields.String(data_key="orderId", required=True)
    customer = fields.String(required=True)
    amount_cents = fields.Integer(data_key="amountCents", required=True, validate=validate.Range(min=0))


@schema
class InvoiceCreatedSchema(PubSubMessageSchema):
    """Published by the sample service for every order that costs something."""

    MEDIA_TYPE = created("sample_invoice")

    invoice_id = fields.String(data_key="invoiceId", required=True)
    order_id = fields.String(data_key="orderId", required=True)
    customer = fields.String(required=True)
    total = fields.String(required=True)
