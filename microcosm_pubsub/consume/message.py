"""A received message: its content beside its delivery state; the consumer settles it, not the message."""
from __future__ import annotations

import time
from dataclasses import replace
from types import TracebackType
from typing import Any

from microcosm_pubsub.schemas.versioning import DEFAULT_VERSION
from microcosm_pubsub.wire.outgoing import VERSION_ATTRIBUTE
from microcosm_pubsub.wire.received import Delivery, Opened
from microcosm_pubsub.wire.settler import Settler


TTL_KEY = "x-request-ttl"


class SQSMessage:
    """`content` and `media_type` of one message beside its `delivery` (receipt handle, receive count).

    For the old API only, it keeps a `Settler` (`consumer`) that `ack()`, `nack()` and `with message:` go through.
    """

    _prepared: tuple[Any, Any] | None = None

    def __init__(
        self, consumer: Settler | None = None, content: dict[str, Any] | None = None, media_type: str | None = None,
        message_id: str | None = None, receipt_handle: str | None = None, topic_arn: str | None = None,
        approximate_receive_count: int | None = None, handler: Any = None,
    ) -> None:
        # The old API's settle target; None for messages built by hand, which cannot be settled
        self.consumer = consumer
        self.handler = handler
        self.opened = Opened(media_type, content, message_id or "", topic_arn)
        self.delivery = Delivery(
            sqs_message_id=message_id or "", receipt_handle=receipt_handle or "",
            approximate_receive_count=1 if approximate_receive_count is None else approximate_receive_count,
        )
        self._message_id = message_id or ""

    @classmethod
    def received(cls, consumer: Settler | None, opened: Opened, delivery: Delivery) -> SQSMessage:
        # Not through __init__: the old constructor's placeholder content and delivery would be built and thrown away
        message = cls.__new__(cls)
        message.consumer = consumer
        message.handler = None
        message.opened = opened
        message.delivery = delivery
        message._message_id = opened.message_id or delivery.sqs_message_id
        return message

    @property
    def content(self) -> dict[str, Any] | None:
        return self.opened.content

    @content.setter
    def content(self, content: dict[str, Any] | None) -> None:
        self.opened = replace(self.opened, content=content)

    @property
    def media_type(self) -> str | None:
        return self.opened.media_type

    @media_type.setter
    def media_type(self, media_type: str | None) -> None:
        self.opened = replace(self.opened, media_type=media_type)

    @property
    def version(self) -> str:
        """The schema version its producer sent (`media_type_version`, unchecked), "1.0" when it sent none."""
        return self.opened.attributes.get(VERSION_ATTRIBUTE) or DEFAULT_VERSION

    @property
    def message_id(self) -> str:
        """The SNS MessageId when SNS delivered it (what `produce` returned), else SQS's."""
        return self._message_id

    @property
    def sqs_message_id(self) -> str:
        return self.delivery.sqs_message_id

    @property
    def receipt_handle(self) -> str:
        return self.delivery.receipt_handle

    @property
    def approximate_receive_count(self) -> int:
        return self.delivery.approximate_receive_count

    @approximate_receive_count.setter
    def approximate_receive_count(self, count: int) -> None:
        self.delivery = replace(self.delivery, approximate_receive_count=count)

    @property
    def opaque_data(self) -> dict[str, Any]:
        """The content's `opaque_data` (the dict itself: changes stick), else what the envelope read."""
        content = self.opened.content
        if isinstance(content, dict):
            opaque = content.get("opaque_data")
            if isinstance(opaque, dict):
                return opaque
        # A duck-typed schema without `opaqueData` still had opaque data on the wire
        return self.opened.opaque_data

    @property
    def ttl(self) -> int | None:
        """Hops this message may still make (`x-request-ttl`), or None when it carries none or garbage."""
        for key, value in self.opaque_data.items():
            if str(key).lower() == TTL_KEY:
                try:
                    return int(value)
                except (TypeError, ValueError):
                    return None
        return None

    @property
    def uri(self) -> str | None:
        content = self.opened.content
        uri = content.get("uri") if isinstance(content, dict) else None
        return uri if isinstance(uri, str) else None

    @property
    def topic_arn(self) -> str | None:
        return self.opened.topic_arn

    @property
    def problem(self) -> str | None:
        """Why the message cannot be handled, or None."""
        return self.opened.problem

    @property
    def is_valid(self) -> bool:
        return self.opened.problem is None

    @property
    def age_seconds(self) -> float | None:
        """Seconds since SQS accepted the message, when SQS said."""
        sent = self.delivery.sent_timestamp
        return None if sent is None else max(time.time() - sent, 0.0)

    def _settle_target(self) -> Settler:
        if self.consumer is None:
            raise TypeError("this SQSMessage was built without a consumer; it cannot be acked or nacked")
        return self.consumer

    def ack(self) -> None:
        self._settle_target().ack(self)

    def nack(self, visibility_timeout_seconds: int | None = None) -> None:
        """Return the message to the queue after a delay, the backoff policy's when None."""
        self._settle_target().nack(self, visibility_timeout_seconds)

    def extend_visibility(self, seconds: int) -> None:
        self._settle_target().extend_visibility(self, seconds)

    def __enter__(self) -> SQSMessage:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None,
    ) -> bool:
        """Settle as the dispatcher would: a clean exit succeeds, signals choose theirs, a failure propagates."""
        if exc is not None and not isinstance(exc, Exception):
            # KeyboardInterrupt, SystemExit: not the handler's outcome; the message comes back after its timeout
            return False
        return self._settle_target().settle_block(self, exc)

    async def __aenter__(self) -> SQSMessage:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None,
    ) -> bool:
        return self.__exit__(exc_type, exc, traceback)

    def __repr__(self) -> str:
        return f"<SQSMessage {self.media_type} {self.message_id} receive #{self.approximate_receive_count}>"
