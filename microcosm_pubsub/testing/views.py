"""What the matchers see of a message, whether recorded, captured, sent to a stub client or really delivered."""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError
from microcosm.object_graph import ObjectGraph

from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import MessageHandlingResult
from microcosm_pubsub.produce.producer import SNSProducer
from microcosm_pubsub.schemas.codecs import decode
from microcosm_pubsub.testing.recording import RecordedMessage, RecordingProducer
from microcosm_pubsub.wire.errors import PubSubError


# Every message carries these; showing them in a failure would only hide the fields that differ
HIDDEN_KEYS = frozenset({"media_type", "opaque_data"})
# A failure description lists every message; one huge message must not drown the rest
MAX_SHOWN_CHARS = 300


class UnreadableSource(Exception):
    """What a published-matcher was given holds no messages it can read; the text says why."""


@dataclass(frozen=True)
class PublishedMessage:
    """A message's media type and content, as a handler receives the content."""

    media_type: str | None
    content: Mapping[str, Any] | None
    problem: str | None = None
    topic_arn: str | None = field(default=None, compare=False)
    # The JSON document as published (camelCase keys), when the source had it
    wire: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    def shown_content(self) -> str:
        if self.content is None:
            return f"(unreadable: {self.problem})"
        text = repr({key: value for key, value in self.content.items() if key not in HIDDEN_KEYS})
        return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS - 3] + "..."

    def __str__(self) -> str:
        return f"{self.media_type!r} {self.shown_content()}"


def view_of(item: Any) -> PublishedMessage | None:
    """The view of one message, or None when `item` is not a message."""
    if isinstance(item, PublishedMessage):
        return item
    if isinstance(item, RecordedMessage):
        return PublishedMessage(item.media_type, item.content, topic_arn=item.topic_arn, wire=json.loads(item.body))
    as_view = getattr(item, "as_view", None)
    if callable(as_view):
        # The old `microcosm_pubsub.matchers.PublishedMessage(topic_arn, message)`
        view = as_view()
        return view if isinstance(view, PublishedMessage) else None
    if isinstance(item, MessageHandlingResult):
        item = item.message
    if isinstance(item, SQSMessage):
        return PublishedMessage(item.media_type, item.content, item.problem)
    return None


def views_of(source: Any) -> list[PublishedMessage]:
    """The messages of a recording producer or graph, a capture, a stub client or a list (else `UnreadableSource`)."""
    producer = source.sns_producer if isinstance(source, ObjectGraph) else source
    client, registry = producer, None
    if isinstance(producer, SNSProducer) and not isinstance(producer, RecordingProducer):
        # A producer publishing through the old testing mode's stub client: read what it was asked to send
        client, registry = producer.client, getattr(producer.graph, "pubsub_message_schema_registry", None)
    # An SNS client that records its calls: the old testing mode's stub, or any MagicMock
    if isinstance(getattr(client, "mock_calls", None), list):
        return client_views(client, registry)
    if producer is not source and not isinstance(producer, RecordingProducer):
        raise UnreadableSource(
            f"was a graph whose sns_producer is a {type(producer).__name__}, which records nothing "
            "(set sns_producer.record, or pass the messages drained from a queue)"
        )
    single = view_of(producer)
    if single is not None:
        return [single]
    if isinstance(producer, Iterable) and not isinstance(producer, str | bytes | Mapping):
        views = []
        for item in producer:
            view = view_of(item)
            if view is None:
                raise UnreadableSource(f"held {item!r}, which is not a message")
            views.append(view)
        return views
    raise UnreadableSource(
        f"was {source!r}, which is neither a recording producer, a stub SNS client, "
        "nor a list of recorded or delivered messages"
    )


def client_views(client: Any, registry: Any = None) -> list[PublishedMessage]:
    """What a recording SNS client was asked to publish, in call order (`publish` and `publish_batch`)."""
    views: list[PublishedMessage] = []
    for name, _, kwargs in client.mock_calls:
        if name in ("publish", "publish_batch"):
            entries = [kwargs] if name == "publish" else kwargs.get("PublishBatchRequestEntries") or []
            views.extend(_sent_view(kwargs.get("TopicArn"), entry, registry) for entry in entries)
    return views


def _sent_view(topic_arn: Any, entry: Mapping[str, Any], registry: Any) -> PublishedMessage:
    try:
        wire = json.loads(entry["Message"])
    except (KeyError, TypeError, ValueError):
        wire = None
    attributes = entry.get("MessageAttributes")
    attribute = attributes.get("media_type") if isinstance(attributes, Mapping) else None
    media_type = attribute.get("StringValue") if isinstance(attribute, Mapping) else None
    if not isinstance(wire, Mapping):
        return PublishedMessage(media_type, None, "the body is not a JSON object", topic_arn=topic_arn)
    return wire_view(wire, media_type or wire.get("mediaType"), registry, topic_arn)


def wire_view(
    wire: Mapping[str, Any], media_type: Any, registry: Any = None, topic_arn: Any = None,
) -> PublishedMessage:
    """A published JSON document's view: its content loaded through the schema when the registry has one."""
    renamed = {"mediaType": "media_type", "opaqueData": "opaque_data"}
    content: Mapping[str, Any] = {renamed.get(key, key): value for key, value in wire.items()}
    if registry is not None and isinstance(media_type, str):
        # An unknown media type or a body its schema refuses leaves the wire keys to match
        with suppress(KeyError, PubSubError, ValidationError):
            found = registry.find(media_type)
            content = decode(getattr(found, "schema", found), wire)
    return PublishedMessage(media_type, content, topic_arn=topic_arn, wire=wire)


def listing(views: Iterable[PublishedMessage], indent: str = "\n    - ") -> str:
    return "".join(f"{indent}{view}" for view in views)
