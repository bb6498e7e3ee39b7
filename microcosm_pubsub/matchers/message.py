"""The old matcher names, kept for old service tests, over the one implementation in `testing.matchers`."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hamcrest import anything, not_none

from microcosm_pubsub.testing import matchers as new
from microcosm_pubsub.testing.matchers import InAnyOrderMatcher, InOrderMatcher, MessageMatcher, NotPublishedMatcher
from microcosm_pubsub.testing.views import PublishedMessage as MessageView
from microcosm_pubsub.testing.views import views_of, wire_view


__all__ = [
    "PublishedMessage", "has_media_type", "has_uri", "published", "published_inanyorder", "published_messages_for",
    "published_nothing",
]


@dataclass(frozen=True)
class PublishedMessage:
    """One published message as the old package showed it: its topic and its JSON document."""

    topic_arn: str | None
    message: Mapping[str, Any] = field(default_factory=dict)

    @property
    def media_type(self) -> str | None:
        media_type = self.message.get("mediaType")
        return media_type if isinstance(media_type, str) else None

    def as_view(self) -> MessageView:
        return wire_view(self.message, self.media_type, topic_arn=self.topic_arn)


def published_messages_for(source: Any) -> list[PublishedMessage]:
    """What a producer, a graph or a stub SNS client published, oldest first (`UnreadableSource` if nothing)."""
    return [
        PublishedMessage(view.topic_arn, dict(view.wire) if view.wire is not None else dict(view.content or {}))
        for view in views_of(source)
    ]


def has_media_type(media_type: Any = None) -> MessageMatcher:
    """A message of this media type (a value or a matcher); with none, a message that has one."""
    return new.a_message(not_none() if media_type is None else media_type)


def has_uri(uri: Any = None) -> MessageMatcher:
    """A message whose `uri` is this (a value or a matcher); with none, a message that has a `uri`."""
    return new.a_message(None, uri=anything() if uri is None else uri)


def published(*matchers: Any, strict: bool = True) -> InOrderMatcher | InAnyOrderMatcher:
    """Exactly these messages (each a matcher of one) were published, in this order (any order with `strict=False`)."""
    return new.published_in_order(*matchers) if strict else new.published_inanyorder(*matchers)


def published_inanyorder(*matchers: Any, strict: bool = True) -> InAnyOrderMatcher:
    """Exactly these messages were published, in any order; `strict` is accepted as the old one did."""
    return new.published_inanyorder(*matchers)


def published_nothing(strict: bool = True) -> NotPublishedMatcher:
    """Nothing was published; `strict` is accepted as the old one did."""
    return new.not_published()
