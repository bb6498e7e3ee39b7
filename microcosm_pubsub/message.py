"""A received message: immutable content beside its delivery state, settled through its consumer."""
from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from microcosm_pubsub.envelope import Opened
from microcosm_pubsub.errors import HandlerSignal, Nack


if TYPE_CHECKING:
    from microcosm_pubsub.consumer import SQSConsumer


@dataclass(frozen=True)
class Delivery:
    """This delivery of a message: what SQS said when handing it out."""

    sqs_message_id: str
    receipt_handle: str
    approximate_receive_count: int
    sent_timestamp: float | None
    received_at: float
    attributes: dict[str, Any]
    body: str


class SQSMessage:
    """`content` and `media_type` of one message, with `ack`, `nack` and `extend_visibility`.

    As a context manager: a clean exit acks; `Nack` nacks with its timeout; a `SkipMessage` or
    `IgnoreMessage` acks; any other exception nacks and propagates.
    """

    def __init__(self, consumer: SQSConsumer, opened: Opened, delivery: Delivery) -> None:
        self.consumer = consumer
        self.opened = opened
        self.delivery = delivery
        self.settled = False

    @property
    def content(self) -> dict[str, Any] | None:
        return self.opened.content

    @property
    def media_type(self) -> str | None:
        return self.opened.media_type

    @property
    def message_id(self) -> str:
        """The SNS MessageId when SNS delivered it (what `produce` returned), else SQS's."""
        return self.opened.message_id or self.delivery.sqs_message_id

    @property
    def sqs_message_id(self) -> str:
        return self.delivery.sqs_message_id

    @property
    def receipt_handle(self) -> str:
        return self.delivery.receipt_handle

    @property
    def approximate_receive_count(self) -> int:
        return self.delivery.approximate_receive_count

    @property
    def opaque_data(self) -> dict[str, str]:
        return self.opened.opaque_data

    @property
    def topic_arn(self) -> str | None:
        return self.opened.topic_arn

    @property
    def problem(self) -> str | None:
        """Why the message cannot be handled (not JSON, no media type, schema), or None."""
        return self.opened.problem

    @property
    def is_valid(self) -> bool:
        return self.opened.problem is None

    @property
    def age_seconds(self) -> float | None:
        """Seconds since SQS accepted the message, when SQS said."""
        if self.delivery.sent_timestamp is None:
            return None
        return max(time.time() - self.delivery.sent_timestamp, 0.0)

    def ack(self) -> None:
        """Delete the message: it is done."""
        self.consumer.ack(self)
        self.settled = True

    def nack(self, visibility_timeout_seconds: int | None = None) -> None:
        """Return the message to the queue after a delay (the backoff policy's when None)."""
        self.consumer.nack(self, visibility_timeout_seconds)
        self.settled = True

    def extend_visibility(self, seconds: int) -> None:
        """Keep the message hidden from other consumers for `seconds` from now."""
        self.consumer.extend_visibility(self, seconds)

    def __enter__(self) -> SQSMessage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if exc is None:
            self.ack()
            return False
        if isinstance(exc, Nack):
            self.nack(exc.visibility_timeout_seconds)
            return True
        if isinstance(exc, HandlerSignal):
            self.ack()
            return True
        self.nack()
        return False

    def __repr__(self) -> str:
        return f"<SQSMessage {self.media_type} {self.message_id} receive #{self.approximate_receive_count}>"
