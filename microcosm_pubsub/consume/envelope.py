"""`sqs_envelope`: a received SQS message as media type and content, by the strategy `strategy_name` names."""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from marshmallow import ValidationError

from microcosm_pubsub.consume.foreign import ForeignEvents, foreign_events
from microcosm_pubsub.consume.large_payload import Resolver, resolver
from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.graph.config import defaults, flag, typed
from microcosm_pubsub.schemas.codecs import decode
from microcosm_pubsub.schemas.versioning import parse_version
from microcosm_pubsub.wire.errors import ConfigurationError, SchemaNotFoundError
from microcosm_pubsub.wire.outgoing import VERSION_ATTRIBUTE
from microcosm_pubsub.wire.received import Delivery, Opened, Unwrapped
from microcosm_pubsub.wire.settler import Settler


MEDIA_TYPE_ATTRIBUTE = "media_type"
RAW_MEDIA_TYPE = "application/json"


def _strings(attributes: Any, key: str) -> dict[str, str]:
    """Message attributes as name -> string: SQS keeps the value in `StringValue`, SNS's envelope in `Value`."""
    if not attributes or not isinstance(attributes, Mapping):
        return {}
    # boto3 and json hand out dicts: no ABC check per entry
    return {
        str(name): entry[key] for name, entry in attributes.items()
        if isinstance(entry, dict) and isinstance(entry.get(key), str)
    }


def unwrap(raw: Mapping[str, Any]) -> Unwrapped:
    """A received message (boto3's shape) parsed: the body, and SNS's `Message`; never raises (see `problem`)."""
    sqs_message_id = str(raw.get("MessageId", ""))
    body_text = raw.get("Body", "")
    payload = body_text if isinstance(body_text, str) else str(body_text)
    attributes = _strings(raw.get("MessageAttributes"), "StringValue")
    try:
        body = json.loads(body_text)
    except (TypeError, ValueError) as error:
        return Unwrapped(sqs_message_id, sqs_message_id, payload, attributes, problem=f"body is not JSON: {error}")
    # A message's own JSON always carries mediaType; SNS's envelope never does
    if not (isinstance(body, dict) and isinstance(body.get("Message"), str) and "mediaType" not in body):
        return Unwrapped(sqs_message_id, sqs_message_id, payload, attributes, body, body)
    published = _strings(body.get("MessageAttributes"), "Value")
    if published:
        attributes = {**attributes, **published} if attributes else published
    message_id = str(body.get("MessageId") or sqs_message_id)
    topic_arn = str(body["TopicArn"]) if "TopicArn" in body else None
    payload = body["Message"]
    try:
        document = json.loads(payload)
    except ValueError as error:
        return Unwrapped(
            sqs_message_id, message_id, payload, attributes, body,
            problem=f"SNS message is not JSON: {error}", topic_arn=topic_arn, sns_wrapped=True,
        )
    return Unwrapped(sqs_message_id, message_id, payload, attributes, body, document, None, topic_arn, True)


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
    # Media types for messages that carry none (foreign.py); None when no rule is declared
    foreign: ForeignEvents | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Our `load` reads a message with its own major's schema. Another (a service's, Raw's, Naive's) may read a
        # versioned message as version 1: its messages above major 1 are read again with their major's schema, here,
        # before any middleware judges the message (so a refusal stays). Chosen once: ours pay nothing per message
        if "load" in cls.__dict__ and cls._open is SQSEnvelope._open:
            cls._open = SQSEnvelope._open_reading_versions  # type: ignore[method-assign]

    def __init__(self, graph: Any, validate_md5: bool = False) -> None:
        self.schemas = graph.pubsub_message_schema_registry
        self.validate_md5 = validate_md5
        self.resolver = resolver(graph)
        self.foreign = foreign_events(graph)

    def sqs_shape(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        """The message in boto3's `receive_message` shape."""
        return raw

    def parse_raw_message(
        self, consumer: Settler | None, raw: Mapping[str, Any], received_at: float | None = None,
    ) -> SQSMessage:
        """A received message as an `SQSMessage` settled through `consumer`; never raises."""
        shaped = self.sqs_shape(raw)
        attributes = shaped.get("Attributes") or {}
        sent = whole_number(attributes.get("SentTimestamp"))
        return SQSMessage.received(consumer, self._open(shaped), Delivery(
            sqs_message_id=str(shaped.get("MessageId", "")), receipt_handle=str(shaped.get("ReceiptHandle", "")),
            approximate_receive_count=whole_number(attributes.get("ApproximateReceiveCount")) or 1,
            sent_timestamp=sent / 1000 if sent else None, received_at=received_at or time.time(),
            attributes=shaped.get("MessageAttributes") or {}, body=str(shaped.get("Body", "")),
            message_group_id=attributes.get("MessageGroupId"),
        ))

    def open(self, raw: Mapping[str, Any]) -> Opened:
        """Never raises: a message that cannot be used comes back with its `problem`."""
        return self._open(self.sqs_shape(raw))

    def _open(self, raw: Mapping[str, Any]) -> Opened:
        if self.validate_md5:
            problem = md5_problem(raw, raw.get("Body", ""))
            if problem:
                return Opened(None, None, str(raw.get("MessageId", "")), problem=problem)
        wire = unwrap(raw)
        if self.resolver is not None and wire.problem is None:
            wire = self.resolver.resolved(wire)
        opened = self.load(wire)
        return opened if wire.payload_object is None else replace(opened, payload_object=wire.payload_object)

    def _open_reading_versions(self, raw: Mapping[str, Any]) -> Opened:
        """`_open` for another `load`: a message above major 1 read again with its major's schema."""
        opened = SQSEnvelope._open(self, raw)
        attributes = opened.attributes
        return self._read_versioned(opened) if VERSION_ATTRIBUTE in attributes else opened

    def _read_versioned(self, opened: Opened) -> Opened:
        """What another `load` made of a message above major 1, read again with its major's schema."""
        version = parse_version(opened.attributes[VERSION_ATTRIBUTE])
        media_type = opened.media_type
        # A malformed version is the dispatcher's to refuse (INVALID, quoting it); major 1 was read as it is
        if version is None or version.major == 1 or media_type is None:
            return opened
        try:
            schema = self.schemas.find_version(media_type, version.major).schema
        except SchemaNotFoundError as error:
            return opened.read_again(None, str(error), known=False)
        try:
            body = json.loads(opened.payload)
        except ValueError:
            # Not JSON: what `load` said about it stands
            return opened
        if not isinstance(body, dict):
            return opened.read_again(None, "message is JSON but not an object")
        return opened.read_again(*_decoded(schema, media_type, body))

    def load(self, wire: Unwrapped) -> Opened:
        """The strategy's part: media type and content."""
        media_type = wire.attributes.get(MEDIA_TYPE_ATTRIBUTE)
        if wire.problem is not None:
            # A body that is not JSON at all says nothing about its media type
            return wire.opened(media_type if wire.sns_wrapped else None, problem=wire.problem)
        body = wire.document
        if not isinstance(body, dict):
            return wire.opened(media_type, problem="message is JSON but not an object")
        opaque_data = _opaque(body)
        body_media_type = body.get("mediaType")
        media_type = body_media_type if isinstance(body_media_type, str) and body_media_type else media_type
        if not media_type:
            routed = self.foreign.route(body, wire.attributes) if self.foreign else None
            if routed is not None:
                # A foreign event (foreign.py): its handler gets the body as it is, no schema
                return wire.opened(routed, body, opaque_data)
            return wire.opened(None, None, opaque_data, problem="message has no media type")
        # Version 1 (no attribute: the old package's messages, and most of ours) pays this one look-up
        version = wire.attributes.get(VERSION_ATTRIBUTE)
        try:
            if version is None:
                schema = self.schemas.find(media_type).schema
            else:
                # Read once, with the schema of the message's own major
                schema = self.schemas.find_published(media_type, version).schema
        except SchemaNotFoundError as error:
            return wire.opened(media_type, None, opaque_data, problem=str(error), known=False)
        content, problem = _decoded(schema, media_type, body)
        return wire.opened(media_type, content, opaque_data, problem=problem)


def _misfit(schema: Any, error: ValidationError) -> str:
    return f"content does not fit {type(schema).__name__}: {json.dumps(error.messages, default=str)}"


def _decoded(schema: Any, media_type: str, body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The body read with `schema`, or the problem: as it is when it names `media_type` (the usual case), else
    with `media_type` (the attribute's) in place of the one it names."""
    try:
        return decode(schema, body if body.get("mediaType") == media_type else {**body, "mediaType": media_type}), None
    except ValidationError as error:
        return None, _misfit(schema, error)


class CodecSQSEnvelope(SQSEnvelope):
    """The default: SNS-wrapped or raw delivery, loaded through the media type's schema."""


class LambdaSQSEnvelope(CodecSQSEnvelope):
    """As the default, for the records of an AWS Lambda SQS event."""

    def sqs_shape(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        if "body" not in raw and "Body" in raw:
            return raw
        from microcosm_pubsub.consume.lambda_records import sqs_message_from_record  # Lambda deployments only
        return sqs_message_from_record(raw)


def _own_body(wire: Unwrapped) -> tuple[dict[str, Any] | None, str | None]:
    """The SQS body itself as the message: that JSON object, or why there is none."""
    if wire.problem is not None and not wire.sns_wrapped:
        return None, wire.problem
    if not isinstance(wire.body, dict):
        return None, "message is JSON but not an object"
    return wire.body, None


class RawSQSEnvelope(SQSEnvelope):
    """Any JSON body, as `application/json` content, without a schema."""

    def load(self, wire: Unwrapped) -> Opened:
        body, problem = _own_body(wire)
        if body is None:
            return wire.opened(None if wire.problem else RAW_MEDIA_TYPE, problem=problem, body_only=True)
        return wire.opened(RAW_MEDIA_TYPE, body, _opaque(body), body_only=True)


class NaiveSQSEnvelope(SQSEnvelope):
    """Each message is the bare message dict (`{"mediaType": ..., ...}`), unvalidated; ids are made up."""

    def sqs_shape(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        if "Body" in raw:
            return raw
        # Naive messages carry no SQS ids: made-up ones keep logs and settling uniform
        return {
            "MessageId": f"message-id-{uuid.uuid4()}", "ReceiptHandle": f"receipt-handle-{uuid.uuid4()}",
            "Body": json.dumps(dict(raw)),
        }

    def load(self, wire: Unwrapped) -> Opened:
        body, problem = _own_body(wire)
        if body is None:
            return wire.opened(None, problem=problem, body_only=True)
        media_type = body.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            return wire.opened(None, problem="message has no mediaType", body_only=True)
        content = {key: value for key, value in body.items() if key != "mediaType"}
        return wire.opened(media_type, {"media_type": media_type, **content}, _opaque(body), body_only=True)


STRATEGIES: dict[str, type[SQSEnvelope]] = {
    cls.__name__: cls for cls in (CodecSQSEnvelope, LambdaSQSEnvelope, RawSQSEnvelope, NaiveSQSEnvelope)
}


def strategy(name: str) -> type[SQSEnvelope]:
    """The envelope class called `name`: one of ours, or any subclass of `SQSEnvelope` a service defines."""
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
