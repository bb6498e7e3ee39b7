"""Kept for peers on the old package: its batch message (`created("batch_message")`) and the handler that unpacks it."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from marshmallow import Schema, fields

from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import handles
from microcosm_pubsub.schemas.naming import DEFAULT_ORGANIZATION, created
from microcosm_pubsub.wire.batching import sized_batches
from microcosm_pubsub.wire.errors import MessageTooLargeError
from microcosm_pubsub.wire.limits import SNS_MAX_MESSAGE_BYTES
from microcosm_pubsub.wire.outgoing import OutgoingMessage, Publisher, media_type_attributes


logger = logging.getLogger("microcosm_pubsub.batch")

# Old producers always name it under the default organization
BATCH_MEDIA_TYPE = created("batch_message", organization=DEFAULT_ORGANIZATION)
# Room for the batch message's own envelope (media type, opaque data, attributes) beside its entries
BATCH_OVERHEAD_BYTES = 4_096


class BatchEntrySchema(Schema):
    """One message inside a batch message, as encoded for its own topic."""

    media_type = fields.String(required=True)
    message = fields.String(required=True)
    topic_arn = fields.String(required=True)
    opaque_data = fields.Dict(keys=fields.String(), load_default=dict)
    message_attributes = fields.Dict(keys=fields.String(), load_default=dict)


class MessageBatchSchema(PubSubMessageSchema):
    """The old batch message: `messages` holds each inner message ready to publish."""

    MEDIA_TYPE = BATCH_MEDIA_TYPE

    messages = fields.List(fields.Nested(BatchEntrySchema), required=True)


def batch_entry(message: OutgoingMessage) -> dict[str, Any]:
    """A prepared message as an entry of a batch message."""
    wire = json.loads(message.body)
    opaque = wire.get("opaqueData") if isinstance(wire, dict) else None
    return {
        "media_type": message.media_type, "message": message.body, "topic_arn": message.topic_arn,
        "opaque_data": opaque if isinstance(opaque, dict) else {}, "message_attributes": message.attributes,
    }


def chunks(entries: list[dict[str, Any]], count: int) -> Iterator[list[dict[str, Any]]]:
    """Entries in chunks of at most `count`, each likely to fit one SNS message."""
    return sized_batches(
        entries, lambda entry: len(json.dumps(entry).encode()),
        max_bytes=SNS_MAX_MESSAGE_BYTES, max_count=count, base_bytes=BATCH_OVERHEAD_BYTES,
    )


def publish_as_batch_messages(producer: Publisher, messages: list[OutgoingMessage]) -> list[str]:
    """Publish messages as old batch messages of `deferred_batch_size`; one id per SNS message sent."""
    entries = [batch_entry(message) for message in messages]
    message_ids: list[str] = []
    for chunk in chunks(entries, producer.deferred_batch_size):
        message_ids.extend(_publish_chunk(producer, chunk))
    return message_ids


def _publish_chunk(producer: Publisher, chunk: list[dict[str, Any]]) -> list[str]:
    if len(chunk) == 1:
        return [producer.publish(entry_message(chunk[0]))]
    try:
        batch = producer.prepare(BATCH_MEDIA_TYPE, messages=chunk)
    except MessageTooLargeError:
        # The estimate missed (large opaque data): halve until each part fits
        middle = len(chunk) // 2
        return _publish_chunk(producer, chunk[:middle]) + _publish_chunk(producer, chunk[middle:])
    return [producer.publish(batch)]


def entry_message(entry: dict[str, Any]) -> OutgoingMessage:
    """An entry of a batch message as the message to publish to its own topic."""
    attributes = entry.get("message_attributes") or media_type_attributes(entry["media_type"])
    return OutgoingMessage(
        topic_arn=entry["topic_arn"], media_type=entry["media_type"], body=entry["message"],
        attributes={str(name): {**value} for name, value in attributes.items()},
    )


@handles(MessageBatchSchema)
class PublishBatchMessage:
    """Handler of old batch messages, bound as `publish_message_batch`: re-publishes each to its topic."""

    def __init__(self, graph: Any) -> None:
        self.producer: Publisher = graph.sns_producer

    def __call__(self, message: dict[str, Any]) -> bool:
        entries = message.get("messages") or []
        for entry in entries:
            self.producer.publish(entry_message(entry))
        logger.debug("re-published %d messages of a batch message", len(entries))
        return True
