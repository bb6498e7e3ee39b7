"""An outgoing message: validated and encoded, ready for SNS."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import IO, TYPE_CHECKING, Any, NotRequired, Protocol, TypedDict

from microcosm_pubsub.wire.limits import SNS_MAX_BATCH, SNS_MAX_MESSAGE_BYTES


if TYPE_CHECKING:
    from botocore.response import StreamingBody

# Kept importable from here: the limits themselves live in limits.py
SNS_MAX_BYTES = SNS_MAX_MESSAGE_BYTES
# The producer's own id of a message, an attribute of every message it prepares: what idempotency keys default to
MESSAGE_ID_ATTRIBUTE = "pubsub_message_id"
# A message's schema version ("major.minor"), carried only above 1.0: a message without it is version 1, as the
# old package's are (its tests compare published attributes exactly, so version-1 messages carry nothing new)
VERSION_ATTRIBUTE = "media_type_version"
__all__ = [
    "MESSAGE_ID_ATTRIBUTE", "SNS_MAX_BATCH", "SNS_MAX_BYTES", "VERSION_ATTRIBUTE", "MessageAttributeValue",
    "OutgoingMessage", "Publisher", "media_type_attributes",
]


class MessageAttributeValue(TypedDict):
    """One message attribute, in the shape boto3's SNS and SQS clients both take (ours carry a `StringValue`)."""

    DataType: str
    StringValue: NotRequired[str]
    # The binary members are never ours; listed so that the type is the one the clients declare
    BinaryValue: NotRequired[str | bytes | IO[Any] | StreamingBody]
    StringListValues: NotRequired[Sequence[str]]
    BinaryListValues: NotRequired[Sequence[str | bytes | IO[Any] | StreamingBody]]


# An outgoing message's attributes, by name
Attributes = dict[str, MessageAttributeValue]


def media_type_attributes(media_type: str) -> Attributes:
    """The attribute every message carries: its media type, which routes it without opening the body."""
    return {"media_type": {"DataType": "String", "StringValue": media_type}}


@dataclass(frozen=True)
class OutgoingMessage:
    """A validated, encoded message and the topic it goes to."""

    topic_arn: str
    media_type: str
    body: str
    attributes: Attributes
    # SQS DelaySeconds, for a message sent to a queue (destinations.py); None for a topic
    delay_seconds: int | None = None
    # A FIFO topic's message group, and the deduplication id given to `produce` (see fifo.py)
    message_group_id: str | None = None
    deduplication_id: str | None = None

    @property
    def size(self) -> int:
        """Bytes SNS counts against its limit: the body and every attribute's name, type and value."""
        # Counted once per message, kept by hand: `functools.cached_property` takes a lock to compute it
        size: int | None = self.__dict__.get("_size")
        if size is None:
            size = len(self.body.encode()) + sum(
                len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
                for name, value in self.attributes.items()
            )
            self.__dict__["_size"] = size
        return size

    def with_opaque_data(
        self, amend: Callable[[dict[str, Any]], None], attributes: Attributes | None = None,
    ) -> OutgoingMessage:
        """This message with its JSON object body's `opaqueData` changed by `amend` (in place), and `attributes`."""
        body = self.body
        document = json.loads(body)
        if isinstance(document, dict):
            opaque = document.get("opaqueData")
            opaque = dict(opaque) if isinstance(opaque, Mapping) else {}
            amend(opaque)
            document["opaqueData"] = opaque
            body = json.dumps(document, separators=(",", ":"))
        return replace(self, body=body, attributes=self.attributes if attributes is None else attributes)


class Publisher(Protocol):
    """What deferred blocks and old batch messages publish through: the producer (`sns_producer`)."""

    skip: bool
    deferred_batch_size: int

    def produce(self, media_type: str, dct: Mapping[str, Any] | None = None, **kwargs: Any) -> str | None: ...
    def prepare(self, media_type: str, dct: Mapping[str, Any] | None = None, **kwargs: Any) -> OutgoingMessage: ...
    def publish(self, message: OutgoingMessage) -> str: ...
    def publish_batch(self, messages: list[OutgoingMessage]) -> list[str]: ...
    def start_deferring(self, block: Any) -> Any: ...
    def stop_deferring(self, token: Any) -> None: ...
