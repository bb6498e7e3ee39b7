"""A producer that validates and encodes exactly as in production, then records instead of calling SNS."""
from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from microcosm_pubsub.consume.result import MessageHandlingResult, Outcome
from microcosm_pubsub.produce.message_ids import diverted
from microcosm_pubsub.produce.producer import SNSProducer
from microcosm_pubsub.schemas.codecs import decode
from microcosm_pubsub.testing import events
from microcosm_pubsub.testing.dispatch import dispatch_sqs_message
from microcosm_pubsub.wire.errors import PubSubError
from microcosm_pubsub.wire.outgoing import VERSION_ATTRIBUTE, Attributes, OutgoingMessage


# A handler that produces what it handles would otherwise recurse until the stack overflows
MAX_EAGER_DEPTH = 20

_eager_depth: ContextVar[int] = ContextVar("microcosm_pubsub_eager_depth", default=0)


class EagerLoopError(PubSubError):
    """Eager dispatch went deeper than `MAX_EAGER_DEPTH`: handlers keep producing for each other."""


@dataclass(frozen=True)
class RecordedMessage:
    """One message the recording producer would have published."""

    topic_arn: str
    media_type: str
    # What a handler would receive: the body loaded through the schema of the media type at the message's version
    content: dict[str, Any]
    attributes: Attributes
    opaque_data: dict[str, str]
    message_id: str
    # The JSON that would have gone to SNS
    body: str = field(repr=False)

    def delivered(self, *, raw: bool = False, receive_count: int = 1) -> dict[str, Any]:
        """This message as a queue subscribed to its topic would receive it, in boto3's shape."""
        return events.delivered(
            self.body, self.attributes, topic_arn=self.topic_arn, sns_message_id=self.message_id,
            raw=raw, receive_count=receive_count,
        )


def dispatch_recorded(graph: Any, message: RecordedMessage, *, receive_count: int = 1) -> MessageHandlingResult:
    """Handle a message the recording producer recorded, as its subscribers would receive it."""
    return dispatch_sqs_message(graph, message.delivered(receive_count=receive_count))


class RecordedMessages:
    """Recorded messages read as a list, safe across threads: what a recording producer and a capture share."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[RecordedMessage] = []

    @property
    def messages(self) -> list[RecordedMessage]:
        """Every message recorded so far, oldest first (a copy)."""
        with self._lock:
            return list(self._messages)

    def of_type(self, media_type: str) -> list[RecordedMessage]:
        return [message for message in self.messages if message.media_type == media_type]

    def clear(self) -> None:
        """Forget what was recorded."""
        with self._lock:
            self._messages.clear()

    def _append(self, message: RecordedMessage) -> RecordedMessage:
        with self._lock:
            self._messages.append(message)
        return message

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[RecordedMessage]:
        return iter(self.messages)


# The open captures (`testing/capture.py`): each also receives every message recorded in the process
open_captures: list[RecordedMessages] = []
captures_lock = threading.Lock()


def record(graph: Any, message: OutgoingMessage) -> RecordedMessage:
    """What `message` would have published, as a handler would receive it; every open capture records it."""
    wire = json.loads(message.body)
    opaque = wire.get("opaqueData")
    # Read with the schema of the version the message carries (none: version 1), as a consumer reads it
    attribute = message.attributes.get(VERSION_ATTRIBUTE)
    version = None if attribute is None else attribute.get("StringValue")
    codec = graph.pubsub_message_schema_registry.find_published(message.media_type, version)
    recorded = RecordedMessage(
        topic_arn=message.topic_arn,
        media_type=message.media_type,
        content=decode(codec.schema, wire),
        attributes={name: value.copy() for name, value in message.attributes.items()},
        opaque_data={str(key): str(value) for key, value in opaque.items()} if isinstance(opaque, dict) else {},
        message_id=str(uuid.uuid4()),
        body=message.body,
    )
    with captures_lock:
        captures = list(open_captures)
    for capture in captures:
        capture._append(recorded)
    return recorded


class RecordingProducer(SNSProducer, RecordedMessages):
    """`sns_producer` when `sns_producer.record` is set: `produce` runs as in production, then records.

    With `eager`, the graph's handlers handle each message at once; a failure raises while `propagate` is set.
    """

    def __init__(self, graph: Any) -> None:
        SNSProducer.__init__(self, graph)
        RecordedMessages.__init__(self)
        self._results: list[MessageHandlingResult] = []
        self.eager = False
        self.propagate = True

    @property
    def results(self) -> list[MessageHandlingResult]:
        """What eager dispatch did with each message, in the order handling finished (a copy)."""
        with self._lock:
            return list(self._results)

    def clear(self) -> None:
        """Forget what was recorded and dispatched."""
        with self._lock:
            self._messages.clear()
            self._results.clear()

    def publish(self, message: OutgoingMessage) -> str:
        return self.publish_batch([message])[0]

    def publish_batch(self, messages: list[OutgoingMessage]) -> list[str]:
        # Inside an outbox block the messages are its rows, as with the real producer
        if (written := diverted(messages)) is not None:
            return written
        recorded = [self._append(record(self.graph, message)) for message in messages]
        if self.eager:
            self.dispatch_eagerly(recorded)
        return [message.message_id for message in recorded]

    def dispatch_eagerly(self, messages: list[RecordedMessage]) -> None:
        depth = _eager_depth.get()
        if depth >= MAX_EAGER_DEPTH:
            raise EagerLoopError(
                f"eager dispatch is {depth} messages deep at {messages[0].media_type}; "
                "do handlers keep producing messages for each other?"
            )
        token = _eager_depth.set(depth + 1)
        try:
            for message in messages:
                result = dispatch_recorded(self.graph, message)
                with self._lock:
                    self._results.append(result)
                if self.propagate and result.outcome is Outcome.FAILED and result.error is not None:
                    raise result.error
        finally:
            _eager_depth.reset(token)
