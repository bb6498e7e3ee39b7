"""SNS FIFO topics, producing side: each message's group id, and its deduplication id."""
from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping
from typing import Any, Protocol, TypedDict

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.wire.errors import PubSubError


logger = logging.getLogger("microcosm_pubsub.producer")

# The schema attribute naming a content field, or a function of the content, that gives the group id
GROUP_KEY = "MESSAGE_GROUP_KEY"
# AWS's limit on a group or deduplication id
MAX_ID_LENGTH = 128


class FifoError(PubSubError, ValueError):
    """A message for a FIFO topic lacks its group id, or a standard topic was given FIFO ids; nothing was sent."""


class FifoIds(TypedDict, total=False):
    """A FIFO message's ids, as Publish, PublishBatch, SendMessage and SendMessageBatch take them; empty off FIFO."""

    MessageGroupId: str
    MessageDeduplicationId: str


class TopicAttributes(Protocol):
    """The one call deduplication makes: an SNS client's."""

    def get_topic_attributes(self, *, TopicArn: str) -> Mapping[str, Any]: ...


def is_fifo(name: str | None) -> bool:
    """Whether a topic or queue (name, ARN or URL) is FIFO: AWS requires a FIFO one's name to end in `.fifo`."""
    return bool(name) and str(name).endswith(".fifo")


def group_id_for(
    schema: Any, media_type: str, content: Mapping[str, Any], topic_arn: str,
    given: str | None, deduplication_id: str | None,
) -> str | None:
    """The group id a message goes out with (given, else from the schema's `MESSAGE_GROUP_KEY`); None off FIFO."""
    if not is_fifo(topic_arn):
        if given is not None or deduplication_id is not None:
            raise FifoError(
                f"{media_type} goes to {topic_arn}, a standard topic: message_group_id and deduplication_id "
                "are for FIFO topics (names ending in .fifo); drop them or map the media type to a FIFO topic"
            )
        return None
    group = given
    if group is None:
        key = getattr(schema, GROUP_KEY, None)
        if isinstance(key, str):
            group = content.get(key)
        elif callable(key):
            group = key(content)
    if group is None or str(group) == "":
        raise FifoError(f"{media_type} goes to the FIFO topic {topic_arn}, which needs a message group id: pass "
                        f"produce(..., message_group_id=...), or declare {GROUP_KEY} (a field name or a function of "
                        f"the content) on {type(schema).__name__}")
    group = str(group)
    if len(group) > MAX_ID_LENGTH:
        raise FifoError(f"message group id {group[:20]!r}... is over AWS's {MAX_ID_LENGTH} characters")
    return group


def explicit_ids(group: str | None, given: str | None, body: str) -> FifoIds:
    """The group and a deduplication id (given, else the body's SHA-256 as content-based deduplication has it)."""
    if group is None:
        return {}
    return {"MessageGroupId": group, "MessageDeduplicationId": given or hashlib.sha256(body.encode()).hexdigest()}


class Deduplication:
    """Decides each FIFO message's deduplication id; remembers which topics deduplicate by content."""

    def __init__(self) -> None:
        self._content_based: dict[str, bool] = {}
        self._lock = threading.Lock()

    def parameters(self, client: TopicAttributes, topic_arn: str, group: str | None, given: str | None,
                   body: str) -> FifoIds:
        """`MessageGroupId` and `MessageDeduplicationId` for Publish or a PublishBatch entry; {} off FIFO."""
        if group is None:
            return {}
        if given is None and self.content_based(client, topic_arn):
            return {"MessageGroupId": group}
        return explicit_ids(group, given, body)

    def content_based(self, client: TopicAttributes, topic_arn: str) -> bool:
        if (known := self._content_based.get(topic_arn)) is not None:
            return known
        try:
            attributes = client.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
            known = str(attributes.get("ContentBasedDeduplication", "false")).lower() == "true"
        except (BotoCoreError, ClientError, KeyError, TypeError) as error:
            # Without sns:GetTopicAttributes, the body's hash deduplicates as content-based deduplication would
            logger.info("cannot read %s's deduplication setting, sending the body's SHA-256: %s", topic_arn, error)
            known = False
        with self._lock:
            self._content_based[topic_arn] = known
        return known
