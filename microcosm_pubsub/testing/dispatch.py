"""Synchronous dispatch: a message through the real envelope, handler and outcome path, without a queue."""
from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from marshmallow import Schema

from microcosm_pubsub.consume.result import MessageHandlingResult
from microcosm_pubsub.schemas.codecs import encode
from microcosm_pubsub.schemas.registry import PubSubMessageSchemaRegistry
from microcosm_pubsub.schemas.versioning import FIRST, major_of, version_of
from microcosm_pubsub.testing.events import TESTING_TOPIC_ARN, delivered, media_type_attributes
from microcosm_pubsub.wire.errors import ProduceArgumentError, SchemaNotFoundError, TopicNotDefinedError
from microcosm_pubsub.wire.outgoing import VERSION_ATTRIBUTE, OutgoingMessage


def dispatch(
    graph: Any, media_type: str, content: Mapping[str, Any] | None = None, *,
    opaque_data: Mapping[str, Any] | None = None, receive_count: int = 1, raw: bool = False,
    media_type_version: int | str | None = None,
) -> MessageHandlingResult:
    """Encode `content` as the producer would, deliver it as SQS would, and handle it; settles nothing.

    :param opaque_data: added to the graph's own opaque data, as a caller's request context would be
    :param receive_count: the `ApproximateReceiveCount` SQS reports, for retry and expiry logic
    :param raw: deliver as with SNS raw message delivery instead of inside SNS's envelope
    :param media_type_version: the major to publish (a number or a "major.minor" string), as `produce` takes it;
        None: version 1, or the highest major of a media type declared only in later ones
    :raises ValidationError: when the content does not fit its schema, as `produce` would
    :raises SchemaNotFoundError: when no schema is registered for the media type (at that major)
    :raises ProduceArgumentError: when `media_type_version` is neither a major nor a "major.minor" string
    """
    schema = _schema(graph.pubsub_message_schema_registry, media_type, media_type_version)
    attributes = media_type_attributes(media_type)
    if (version := version_of(type(schema))) != FIRST:
        # What the producer adds above version 1.0, before middleware (signing covers it)
        attributes[VERSION_ATTRIBUTE] = {"DataType": "String", "StringValue": str(version)}
    topic_arn = TESTING_TOPIC_ARN
    with suppress(TopicNotDefinedError):
        topic_arn = graph.sns_topic_arns.resolve(media_type)
    opaque = {**dict(graph.opaque.as_dict()), **dict(opaque_data or {})}
    # The producer's own steps but the topic (a handler test should not need one) and the size limit
    outgoing: OutgoingMessage = graph.pubsub_middleware.outgoing(OutgoingMessage(
        topic_arn=topic_arn,
        media_type=media_type,
        body=encode(schema, media_type, dict(content or {}), opaque),
        attributes=attributes,
    ))
    return dispatch_sqs_message(graph, delivered(
        outgoing.body, outgoing.attributes, topic_arn=outgoing.topic_arn, raw=raw, receive_count=receive_count,
    ))


def _schema(registry: PubSubMessageSchemaRegistry, media_type: str, version: int | str | None) -> Schema:
    """The schema `produce` would encode with for `version` (see `SNSProducer.codec`)."""
    if version is not None:
        try:
            major = major_of(version)
        except ValueError as error:
            raise ProduceArgumentError(f"media_type_version for {media_type}: {error}") from None
        return registry.find_version(media_type, major).schema
    try:
        return registry.find(media_type).schema
    except SchemaNotFoundError:
        majors = registry.known_majors(media_type)
        if not majors:
            raise
        return registry.find_version(media_type, majors[-1]).schema


def dispatch_body(
    graph: Any, body: str, media_type: str | None = None, *, topic_arn: str = TESTING_TOPIC_ARN,
    sns_message_id: str | None = None, receive_count: int = 1, raw: bool = False,
) -> MessageHandlingResult:
    """Handle a message body as published, valid or not (bad JSON, unknown media type...)."""
    return dispatch_sqs_message(graph, delivered(
        body, media_type_attributes(media_type), topic_arn=topic_arn, sns_message_id=sns_message_id, raw=raw,
        receive_count=receive_count,
    ))


def dispatch_sqs_message(graph: Any, message: Mapping[str, Any]) -> MessageHandlingResult:
    """Handle one message shaped as boto3's `receive_message` returns it."""
    received = graph.sqs_consumer.wrap(dict(message))
    result: MessageHandlingResult = graph.sqs_message_dispatcher.handle_message(received)
    return result

