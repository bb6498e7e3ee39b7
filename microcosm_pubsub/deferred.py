"""Deferred production: hold a block's messages and publish them in batches if it succeeds."""
from __future__ import annotations

import logging
from contextlib import ContextDecorator
from contextvars import Token
from types import TracebackType
from typing import TYPE_CHECKING, Any

from microcosm_pubsub.outgoing import OutgoingMessage


if TYPE_CHECKING:
    from microcosm_pubsub.producer import SNSProducer


logger = logging.getLogger("microcosm_pubsub.producer")


class DeferredProduction(ContextDecorator):
    """`with producer.deferred():` or `@producer.deferred()`; nested blocks join the outermost one.

    While the block runs, `producer.produce(...)` validates at once and returns None; on a clean
    exit the messages go out with SNS PublishBatch and their ids are in `message_ids`; on an
    exception nothing is published.
    """

    def __init__(self, producer: SNSProducer) -> None:
        self.producer = producer
        self.pending: list[OutgoingMessage] = []
        self.message_ids: list[str] = []
        self._token: Token[Any] | None = None

    def _recreate_cm(self) -> DeferredProduction:
        # Each call of a decorated function needs its own pending list
        return DeferredProduction(self.producer)

    def __enter__(self) -> DeferredProduction:
        if self.producer._deferred.get() is None:
            self._token = self.producer._deferred.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is None:
            return
        self.producer._deferred.reset(self._token)
        self._token = None
        pending, self.pending = self.pending, []
        if exc_type is not None:
            logger.info("not publishing %d deferred messages: the block raised %s", len(pending), exc_type.__name__)
        elif self.producer.skip:
            logger.info("not publishing %d deferred messages: sns_producer.skip is set", len(pending))
        elif pending:
            self.message_ids = self.producer.publish_batch(pending)
