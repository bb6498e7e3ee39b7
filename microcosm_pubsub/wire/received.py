"""What a received message carries, as data: what its envelope held (`Opened`) and SQS's delivery of it."""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from microcosm_pubsub.wire.pointer import S3Object


@dataclass(frozen=True, init=False)
class Opened:
    """What an envelope held; `problem` says why it is unusable, `known` whether a schema exists.

    The wire fields (`payload` on) are read once by `unwrap`, so middleware never parses the body again.
    """

    media_type: str | None
    content: dict[str, Any] | None
    message_id: str
    topic_arn: str | None = None
    opaque_data: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    known: bool = True
    # As its producer published it (what signing covers): SNS's `Message` when SNS wrapped it, else the SQS body
    payload: str = ""
    # As plain strings, the publisher's (SNS `Value`s) over the queue's (SQS `StringValue`s); binary ones left out
    attributes: Mapping[str, str] = field(default_factory=dict)
    # Whether SNS wrapped the message in its notification (a subscription without raw delivery)
    sns_wrapped: bool = False
    # Where the body was read from when the wire carried an S3 pointer (large_payload.py)
    payload_object: S3Object | None = None

    def __init__(
        self, media_type: str | None, content: dict[str, Any] | None, message_id: str, topic_arn: str | None = None,
        opaque_data: dict[str, Any] | None = None, problem: str | None = None, known: bool = True, payload: str = "",
        attributes: Mapping[str, str] | None = None, sns_wrapped: bool = False, payload_object: S3Object | None = None,
    ) -> None:
        # One dict update, not a frozen dataclass's field-by-field `object.__setattr__`: one per message
        self.__dict__.update(
            media_type=media_type, content=content, message_id=message_id, topic_arn=topic_arn,
            opaque_data={} if opaque_data is None else opaque_data, problem=problem, known=known,
            payload=payload, attributes={} if attributes is None else attributes, sns_wrapped=sns_wrapped,
            payload_object=payload_object,
        )

    def read_again(self, content: dict[str, Any] | None, problem: str | None, known: bool = True) -> Opened:
        """This message read with another schema: its content, problem and `known` replaced, the rest shared."""
        # A copy of the instance dict, not `dataclasses.replace` (which re-runs every field through __init__)
        opened = object.__new__(Opened)
        opened.__dict__.update(self.__dict__, content=content, problem=problem, known=known)
        return opened


@dataclass(frozen=True, init=False)
class Delivery:
    """This delivery of a message: what SQS said when handing it out."""

    sqs_message_id: str
    receipt_handle: str
    approximate_receive_count: int
    sent_timestamp: float | None = None
    received_at: float = field(default_factory=time.time)
    attributes: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    # A FIFO queue's message group (see ordering.py); None on a standard queue
    message_group_id: str | None = None

    def __init__(
        self, sqs_message_id: str, receipt_handle: str, approximate_receive_count: int,
        sent_timestamp: float | None = None, received_at: float | None = None, attributes: dict[str, Any] | None = None,
        body: str = "", message_group_id: str | None = None,
    ) -> None:
        # As `Opened`: one dict update per message
        self.__dict__.update(
            sqs_message_id=sqs_message_id, receipt_handle=receipt_handle,
            approximate_receive_count=approximate_receive_count, sent_timestamp=sent_timestamp,
            received_at=time.time() if received_at is None else received_at,
            attributes={} if attributes is None else attributes, body=body, message_group_id=message_group_id,
        )


@dataclass(slots=True)
class Unwrapped:
    """A received SQS message's layers, read once: the only reader of SNS's notification shape."""
    # Not frozen (frozen costs in `__init__`, once per message); nothing changes it once made

    sqs_message_id: str
    # The SNS message id when SNS wrapped the message, else the SQS one
    message_id: str
    payload: str
    attributes: Mapping[str, str]
    # The SQS body as JSON, then the published message as JSON (the same object for raw delivery)
    body: Any = None
    document: Any = None
    # Why the body, or SNS's `Message` inside it, is not JSON (then `document` is None)
    problem: str | None = None
    topic_arn: str | None = None
    sns_wrapped: bool = False
    # The S3 object the payload was read from, when the wire carried a pointer (large_payload.py)
    payload_object: S3Object | None = None

    def opened(
        self, media_type: str | None, content: dict[str, Any] | None = None, opaque_data: dict[str, Any] | None = None,
        problem: str | None = None, known: bool = True, body_only: bool = False,
    ) -> Opened:
        """What a strategy made of these layers; `body_only` (the SQS body is the message): SQS's ids, no topic."""
        return Opened(media_type, content, self.sqs_message_id if body_only else self.message_id,
                      None if body_only else self.topic_arn, opaque_data or {}, problem, known,
                      self.payload, self.attributes, self.sns_wrapped)
