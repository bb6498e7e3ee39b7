"""`sqs_envelope`: turn a received SQS message into media type and content, by a named strategy.

`sqs_envelope.strategy_name` picks one (the old package's names): `CodecSQSEnvelope` (default:
SNS-wrapped or raw delivery, loaded through the registered schema), `LambdaSQSEnvelope` (the same
for Lambda event records), `RawSQSEnvelope` (any JSON body as `application/json`, no schema) and
`NaiveSQSEnvelope` (a bare `{"mediaType": ...}` dict per message, as `--stdin` reads).
"""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from marshmallow import ValidationError

from microcosm_pubsub.codecs import decode
from microcosm_pubsub.config import defaults, flag, typed
from microcosm_pubsub.errors import ConfigurationError, SchemaNotFoundError
from microcosm_pubsub.large_payload import PAYLOAD_OBJECT, PAYLOAD_PROBLEM, Resolver, S3Object, omit_object, resolver


if TYPE_CHECKING:
    from microcosm_pubsub.consumer import SQSConsumer
    from microcosm_pubsub.message import Delivery, SQSMessage


MEDIA_TYPE_ATTRIBUTE = "media_type"
RAW_MEDIA_TYPE = "application/json"


@dataclass(frozen=True)
class Opened:
    """What an envelope held; `problem` says why it is unusable, `known` whether a schema exists."""

    media_type: str | None
    content: dict[str, Any] | None
    message_id: str
    topic_arn: str | None = None
    opaque_data: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    known: bool = True
    # Where the body was read from when the wire carried an S3 pointer (large_payload.py)
    payload_object: S3Object | None = None


def _sns_notification(body: Any) -> bool:
    # A message's own JSON always carries mediaType; SNS's envelope never does
    return isinstance(body, dict) and isinstance(body.get("Message"), str) and "mediaType" not in body


def _attribute(attributes: Any, name: str, key: str) -> str | None:
    entry = attributes.get(name) if isinstance(attributes, Mapping) else None
    value = entry.get(key) if isinstance(entry, Mapping) else None
    return value if isinstance(value, str) else None


def _opaque(body: Mapping[str, Any]) -> dict[str, Any]:
    opaque = body.get("opaqueData")
    return {str(k).lower(): str(v) for k, v in opaque.items()} if isinstance(opaque, dict) else {}


def whole_number(value: Any) -> int | None:
    """An attribute SQS sends as decimal digits, or None when it is missing or not one."""
    text = str(value) if value is not None else ""
    return int(text) if text.isascii() and text.isdigit() else None


def md5_problem(raw: Mapping[str, Any], body: Any) -> str | None:
    """Why the body does not match the MD5 SQS sent with it, or None (also when SQS sent none)."""
    expected = raw.get("MD5OfBody")
    if not isinstance(expected, str) or not expected:
        return None
    actual = hashlib.md5(str(body).encode("utf-8"), usedforsecurity=False).hexdigest()
    if actual == expected.lower():
        return None
    return f"MD5 of the body is {actual}, SQS sent {expected}: the body was changed or cut in transit"


class SQSEnvelope:
    """Detects the SNS notification envelope, parses the JSON and loads it through its schema."""

    # Reads S3 pointers (large_payload.py); a service's envelope whose __init__ skips ours reads none
    resolver: Resolver | None = None

    def __init__(self, graph: Any, validate_md5: bool = False) -> None:
        self.schemas = graph.pubsub_message_schema_registry
        self.validate_md5 = validate_md5
        self.resolver = resolver(graph)

    def resolve(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        """`raw` with the payload an S3 pointer names in place of the pointer (see large_payload.py)."""
        return raw if self.resolver is None else self.resolver.resolve(raw)

    def sqs_shape(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        """The message in the shape boto3's `receive_message` returns it."""
        return raw

    def delivery(self, raw: Mapping[str, Any], received_at: float | None = None) -> Delivery:
        """SQS's delivery state of the message: ids, receive count, send time, attributes, body."""
        from microcosm_pubsub.message import Delivery  # message.py builds on this module

        raw = self.sqs_shape(raw)
        attributes = raw.get("Attributes") or {}
        sent = whole_number(attributes.get("SentTimestamp"))
        return Delivery(
            sqs_message_id=str(raw.get("MessageId", "")),
            receipt_handle=str(raw.get("ReceiptHandle", "")),
            approximate_receive_count=whole_number(attributes.get("ApproximateReceiveCount")) or 1,
            sent_timestamp=sent / 1000 if sent else None,
            received_at=received_at or time.time(),
            attributes=raw.get("MessageAttributes") or {},
            body=str(raw.get("Body", "")),
        )

    def parse_raw_message(self, consumer: SQSConsumer | None, raw: Mapping[str, Any]) -> SQSMessage:
        """The old package's entry point: a received message as an `SQSMessage` (never raises)."""
        from microcosm_pubsub.message import SQSMessage

        shaped = self.resolve(self.sqs_shape(raw))
        return SQSMessage.received(consumer, self.open(shaped), self.delivery(shaped))

    def open(self, raw: Mapping[str, Any]) -> Opened:
        """Never raises: a message that cannot be used comes back with its `problem`."""
        raw = self.sqs_shape(raw)
        message_id = str(raw.get("MessageId", ""))
        body_text = raw.get("Body", "")
        if PAYLOAD_PROBLEM in raw:
            return Opened(None, None, message_id, problem=raw[PAYLOAD_PROBLEM])
        if PAYLOAD_OBJECT in raw:
            return replace(self.open(omit_object(raw)), payload_object=raw[PAYLOAD_OBJECT])
        if self.validate_md5:
            problem = md5_problem(raw, body_text)
            if problem:
                return Opened(None, None, message_id, problem=problem)
        try:
            body = json.loads(body_text)
        except (TypeError, ValueError) as error:
            return Opened(None, None, message_id, problem=f"body is not JSON: {error}")
        return self.open_body(raw, body, message_id)

    def open_body(self, raw: Mapping[str, Any], body: Any, message_id: str) -> Opened:
        topic_arn = None
        media_type = _attribute(raw.get("MessageAttributes"), MEDIA_TYPE_ATTRIBUTE, "StringValue")
        if _sns_notification(body):
            topic_arn = str(body["TopicArn"]) if "TopicArn" in body else None
            message_id = str(body.get("MessageId") or message_id)
            media_type = _attribute(body.get("MessageAttributes"), MEDIA_TYPE_ATTRIBUTE, "Value") or media_type
            try:
                body = json.loads(body["Message"])
            except ValueError as error:
                return Opened(media_type, None, message_id, topic_arn, problem=f"SNS message is not JSON: {error}")

        if not isinstance(body, dict):
            return Opened(media_type, None, message_id, topic_arn, problem="message is JSON but not an object")
        opaque_data = _opaque(body)
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


class CodecSQSEnvelope(SQSEnvelope):
    """The default: SNS-wrapped or raw delivery, content loaded through the media type's schema."""


class LambdaSQSEnvelope(CodecSQSEnvelope):
    """As the default, for the records of an AWS Lambda SQS event (`messageId`, `body`, `md5OfBody`...)."""

    def sqs_shape(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        if "body" not in raw and "Body" in raw:
            return raw
        from microcosm_pubsub.lambda_handler import sqs_message_from_record  # one conversion, Lambda's own

        return sqs_message_from_record(raw)


class RawSQSEnvelope(SQSEnvelope):
    """Any JSON body, as `application/json` content, without a schema."""

    def open_body(self, raw: Mapping[str, Any], body: Any, message_id: str) -> Opened:
        if not isinstance(body, dict):
            return Opened(RAW_MEDIA_TYPE, None, message_id, problem="message is JSON but not an object")
        return Opened(RAW_MEDIA_TYPE, body, message_id, opaque_data=_opaque(body))


class NaiveSQSEnvelope(SQSEnvelope):
    """Each message is the bare message dict (`{"mediaType": ..., ...}`), unvalidated; ids are made up."""

    def sqs_shape(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        if "Body" in raw:
            return raw
        # Naive messages carry no SQS ids: made-up ones keep logs and settling uniform
        return {
            "MessageId": f"message-id-{uuid.uuid4()}",
            "ReceiptHandle": f"receipt-handle-{uuid.uuid4()}",
            "Body": json.dumps(dict(raw)),
        }

    def open_body(self, raw: Mapping[str, Any], body: Any, message_id: str) -> Opened:
        if not isinstance(body, dict):
            return Opened(None, None, message_id, problem="message is JSON but not an object")
        media_type = body.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            return Opened(None, None, message_id, problem="message has no mediaType")
        content = {key: value for key, value in body.items() if key != "mediaType"}
        return Opened(media_type, {"media_type": media_type, **content}, message_id, opaque_data=_opaque(body))


STRATEGIES: dict[str, type[SQSEnvelope]] = {
    cls.__name__: cls for cls in (CodecSQSEnvelope, LambdaSQSEnvelope, RawSQSEnvelope, NaiveSQSEnvelope)
}


def strategy(name: str) -> type[SQSEnvelope]:
    """The envelope class called `name`: one of ours, or any subclass of `SQSEnvelope` a service defines.

    :raises ConfigurationError: for an unknown name, listing the known ones
    """
    known = dict(STRATEGIES)
    pending = list(SQSEnvelope.__subclasses__())
    while pending:
        cls = pending.pop()
        known.setdefault(cls.__name__, cls)
        pending.extend(cls.__subclasses__())
    try:
        return known[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown sqs_envelope.strategy_name {name!r}; choose one of {', '.join(sorted(known))}"
        ) from None


@defaults(
    # The old package's envelope class names; LambdaSQSEnvelope is chosen for a Lambda event by default
    strategy_name=typed(str, default_value="CodecSQSEnvelope"),
    # Check each body against the MD5 SQS sends with it; a mismatch makes the message INVALID
    validate_md5=typed(bool, default_value=False),
)
def configure_sqs_envelope(graph: Any) -> SQSEnvelope:
    config = graph.config.sqs_envelope
    name = config.strategy_name
    consumer_config = graph.config.get("sqs_consumer") or {}
    if name == "CodecSQSEnvelope" and consumer_config.get("sqs_event"):
        name = "LambdaSQSEnvelope"
    return strategy(name)(graph, validate_md5=flag(config.validate_md5))
