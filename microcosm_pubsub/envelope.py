"""`sqs_envelope`: turn an SQS message (SNS-wrapped or raw) into media type and content."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError

from microcosm_pubsub.codecs import decode
from microcosm_pubsub.errors import SchemaNotFoundError


MEDIA_TYPE_ATTRIBUTE = "media_type"


@dataclass(frozen=True)
class Opened:
    """What an envelope held; `problem` says why it is unusable, `known` whether a schema exists."""

    media_type: str | None
    content: dict[str, Any] | None
    message_id: str
    topic_arn: str | None = None
    opaque_data: dict[str, str] = field(default_factory=dict)
    problem: str | None = None
    known: bool = True


def _sns_notification(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and body.get("Type") == "Notification"
        and isinstance(body.get("Message"), str)
        and "TopicArn" in body
    )


def _attribute(attributes: Any, name: str, key: str) -> str | None:
    entry = attributes.get(name) if isinstance(attributes, Mapping) else None
    value = entry.get(key) if isinstance(entry, Mapping) else None
    return value if isinstance(value, str) else None


class SQSEnvelope:
    """Detects the SNS notification envelope, parses the JSON and loads it through its schema."""

    def __init__(self, graph: Any) -> None:
        self.schemas = graph.pubsub_message_schema_registry

    def open(self, raw: Mapping[str, Any]) -> Opened:
        """Never raises: a message that cannot be used comes back with its `problem`."""
        message_id = str(raw.get("MessageId", ""))
        body_text = raw.get("Body", "")
        try:
            body = json.loads(body_text)
        except (TypeError, ValueError) as error:
            return Opened(None, None, message_id, problem=f"body is not JSON: {error}")

        topic_arn = None
        media_type = _attribute(raw.get("MessageAttributes"), MEDIA_TYPE_ATTRIBUTE, "StringValue")
        if _sns_notification(body):
            topic_arn = str(body["TopicArn"])
            message_id = str(body.get("MessageId", message_id))
            media_type = _attribute(body.get("MessageAttributes"), MEDIA_TYPE_ATTRIBUTE, "Value") or media_type
            try:
                body = json.loads(body["Message"])
            except ValueError as error:
                return Opened(media_type, None, message_id, topic_arn, problem=f"SNS message is not JSON: {error}")

        if not isinstance(body, dict):
            return Opened(media_type, None, message_id, topic_arn, problem="message is JSON but not an object")
        opaque = body.get("opaqueData")
        opaque_data = {str(k).lower(): str(v) for k, v in opaque.items()} if isinstance(opaque, dict) else {}
        body_media_type = body.get("mediaType")
        media_type = body_media_type if isinstance(body_media_type, str) and body_media_type else media_type
        if not media_type:
            return Opened(None, None, message_id, topic_arn, opaque_data, problem="message has no media type")

        try:
            schema = self.schemas.find(media_type).schema
        except SchemaNotFoundError as error:
            return Opened(media_type, None, message_id, topic_arn, opaque_data, problem=str(error), known=False)
        try:
            content = decode(schema, {**body, "mediaType": media_type})
        except ValidationError as error:
            return Opened(
                media_type, None, message_id, topic_arn, opaque_data,
                problem=f"content does not fit {type(schema).__name__}: {json.dumps(error.messages, default=str)}",
            )
        return Opened(media_type, content, message_id, topic_arn, opaque_data)
