"""What the matchers see of a message, whether recorded by the recording producer or really delivered."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from microcosm.object_graph import ObjectGraph

from microcosm_pubsub.message import SQSMessage
from microcosm_pubsub.result import MessageHandlingResult
from microcosm_pubsub.testing.recording import RecordedMessage, RecordingProducer


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
        return PublishedMessage(item.media_type, item.content)
    if isinstance(item, MessageHandlingResult):
        item = item.message
    if isinstance(item, SQSMessage):
        return PublishedMessage(item.media_type, item.content, item.problem)
    return None


def views_of(source: Any) -> list[PublishedMessage]:
    """The messages of a recording producer, a recording graph, a message, or a list of messages.

    :raises UnreadableSource: when `source` is none of these
    """
    if isinstance(source, ObjectGraph):
        producer = source.sns_producer
        if not isinstance(producer, RecordingProducer):
            raise UnreadableSource(
                f"was a graph whose sns_producer is a {type(producer).__name__}, which records nothing "
                "(set sns_producer.record, or pass the messages drained from a queue)"
            )
        source = producer
    single = view_of(source)
    if single is not None:
        return [single]
    if isinstance(source, RecordingProducer):
        return [PublishedMessage(message.media_type, message.content) for message in source.messages]
    if isinstance(source, Iterable) and not isinstance(source, str | bytes | Mapping):
        items = list(source)
        views = [view_of(item) for item in items]
        for item, view in zip(items, views, strict=True):
            if view is None:
                raise UnreadableSource(f"held {item!r}, which is not a message")
        return [view for view in views if view is not None]
    raise UnreadableSource(
        f"was {source!r}, which is neither a recording producer nor a list of recorded or delivered messages"
    )


def listing(views: Iterable[PublishedMessage], indent: str = "\n    - ") -> str:
    return "".join(f"{indent}{view}" for view in views)
