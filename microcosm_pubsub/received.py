"""What a received message carries, as data: what its envelope held (`Opened`) and SQS's delivery of it.

Plain dataclasses that the envelope builds and the message holds; neither module imports the other for them.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from microcosm_pubsub.large_payload import S3Object


@dataclass(frozen=True)
class Opened:
    """What an envelope held; `problem` says why it is unusable, `known` whether a schema exists.

    `payload`, `attributes` and `sns_wrapped` are the wire as read once by `unwrap`: middleware
    (signing, tracing) reads them here instead of parsing the body again.
    """

    media_type: str | None
    content: dict[str, Any] | None
    message_id: str
    topic_arn: str | None = None
    opaque_data: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    known: bool = True
    # The message exactly as its producer published it (what signing covers): the SNS notification's
    # `Message` when SNS wrapped it, else the SQS body
    payload: str = ""
    # Message attributes as plain strings: the publisher's (SNS notification's `Value`s) over the queue's
    # (SQS `StringValue`s); binary ones are left out
    attributes: Mapping[str, str] = field(default_factory=dict)
    # Whether SNS wrapped the message in its notification (a subscription without raw delivery)
    sns_wrapped: bool = False
    # Where the body was read from when the wire carried an S3 pointer (large_payload.py)
    payload_object: S3Object | None = None


@dataclass(frozen=True)
class Delivery:
    """This delivery of a message: what SQS said when handing it out."""

    sqs_message_id: str
    receipt_handle: str
    approximate_receive_count: int
    sent_timestamp: float | None = None
    received_at: float = field(default_factory=time.time)
    attributes: dict[str, Any] = field(default_factory=dict)
    body: str = ""
