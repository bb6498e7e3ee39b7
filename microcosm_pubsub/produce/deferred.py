"""Deferred production: hold a block's messages and publish them together if it succeeds."""
from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from contextlib import ContextDecorator
from contextvars import Token
from functools import wraps
from types import TracebackType
from typing import Any, Self, TypeVar

from microcosm_pubsub.produce.batch import publish_as_batch_messages
from microcosm_pubsub.produce.message_ids import diverted
from microcosm_pubsub.wire.errors import PubSubError
from microcosm_pubsub.wire.outgoing import OutgoingMessage, Publisher


logger = logging.getLogger("microcosm_pubsub.producer")

F = TypeVar("F", bound=Callable[..., Any])


def publish_each(producer: Publisher, messages: list[OutgoingMessage]) -> list[str]:
    """One Publish call per message, in order (the old `DeferredProducer`)."""
    return [producer.publish(message) for message in messages]


class DeferredProduction(ContextDecorator):
    """`with producer.deferred():` or `@producer.deferred()`: on a clean exit `flush` publishes (`message_ids`).

    Nested blocks join the outermost one.
    """

    def __init__(self, producer: Publisher) -> None:
        self.producer = producer
        self.pending: list[OutgoingMessage] = []
        self.message_ids: list[str] = []
        self.active = False
        self._token: Token[Any] | None = None

    def _recreate_cm(self) -> DeferredProduction:
        # Each call of a decorated function needs its own pending list
        clone = copy.copy(self)
        clone.pending, clone.message_ids, clone.active, clone._token = [], [], False, None
        return clone

    def __enter__(self) -> Self:
        token = self.producer.start_deferring(self)
        if token is not None:
            self._token = token
        self.active = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None,
    ) -> None:
        self.active = False
        if self._token is None:
            return
        self.producer.stop_deferring(self._token)
        self._token = None
        pending, self.pending = self.pending, []
        if exc_type is not None:
            logger.info("not publishing %d deferred messages: the block raised %s", len(pending), exc_type.__name__)
        elif self.producer.skip:
            logger.info("not publishing %d deferred messages: sns_producer.skip is set", len(pending))
        elif pending:
            # Inside an outbox block the messages join its transaction, whatever the flush
            written = diverted(pending)
            self.message_ids = self.flush(pending) if written is None else written

    def flush(self, messages: list[OutgoingMessage]) -> list[str]:
        """SNS PublishBatch, per topic and within SNS's limits: the recommended way."""
        return self.producer.publish_batch(messages)


class DeferredProducer(DeferredProduction):
    """The old package's deferred producer, one Publish per message; deprecated for `sns_producer.deferred()`."""

    def flush(self, messages: list[OutgoingMessage]) -> list[str]:
        return publish_each(self.producer, messages)

    def produce(self, media_type: str, dct: Any = None, **kwargs: Any) -> str | None:
        """Validate and hold a message until the block exits; `PubSubError` outside it, where nothing would publish."""
        if not self.active:
            raise PubSubError(
                f"{type(self).__name__}.produce() outside its block; use `with {type(self).__name__}(producer) as p:`"
            )
        return self.producer.produce(media_type, dct, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # Old code reads the producer's attributes (sns_client, ...) through the deferred one
        if name.startswith("__") or name == "producer":
            raise AttributeError(name)
        return getattr(self.producer, name)


class DeferredBatchProducer(DeferredProducer):
    """The old package's batch producer: `deferred_batch_size` messages per batch message (batch.py); deprecated."""

    def flush(self, messages: list[OutgoingMessage]) -> list[str]:
        return publish_as_batch_messages(self.producer, messages)


def _swapping(component: Any, key: str, kind: type[DeferredProducer]) -> Callable[[F], F]:
    def decorator(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            original = getattr(component, key)
            producer = original.producer if isinstance(original, DeferredProduction) else original
            with kind(producer) as held:
                # Not thread-safe, as in the old package: the attribute is replaced for the call
                setattr(component, key, held)
                try:
                    return func(*args, **kwargs)
                finally:
                    setattr(component, key, original)

        return wrapper  # type: ignore[return-value]

    return decorator


def deferred(component: Any, key: str = "sns_producer") -> Callable[[F], F]:
    """While the decorated function runs, `component.<key>` is a `DeferredProducer`; deprecated for `deferred()`."""
    return _swapping(component, key, DeferredProducer)


def deferred_batch(component: Any, key: str = "sns_producer") -> Callable[[F], F]:
    """As `deferred`, with a `DeferredBatchProducer`."""
    return _swapping(component, key, DeferredBatchProducer)
