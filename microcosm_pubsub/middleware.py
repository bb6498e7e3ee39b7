"""`pubsub_middleware`: small pluggable pieces around publishing, receiving and handling.

A middleware is a graph component named in `pubsub_middleware.components`; it overrides any of
the hooks of `Middleware`. Signing, tracing and metrics are middleware, not special cases.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from microcosm_pubsub.config import defaults, typed
from microcosm_pubsub.context import key_list
from microcosm_pubsub.outgoing import OutgoingMessage


if TYPE_CHECKING:
    from microcosm_pubsub.message import SQSMessage
    from microcosm_pubsub.result import Action, MessageHandlingResult


class Middleware:
    """Every hook does nothing; override the ones you need."""

    def outgoing(self, message: OutgoingMessage) -> OutgoingMessage:
        """Before a message is sent (after validation, before the size check): may add attributes."""
        return message

    def incoming(self, message: SQSMessage) -> str | None:
        """After a message is received and decoded: a returned problem makes it INVALID."""
        return None

    @contextmanager
    def handling(self, message: SQSMessage) -> Iterator[None]:
        """Around the handler's call, in the handler's thread."""
        yield

    def settled(self, result: MessageHandlingResult, action: Action) -> None:
        """After the outcome is decided and the queue told."""

    def received(self, messages: Sequence[SQSMessage]) -> None:
        """After each receive, with what it returned (possibly nothing)."""

    def receive_failed(self, error: Exception) -> None:
        """After a receive that raised (endpoint unreachable, throttled, queue missing)."""


class MiddlewareChain(Middleware):
    """The configured middleware, called in order (handling: nested, first outermost)."""

    def __init__(self, middleware: Sequence[Middleware]) -> None:
        self.middleware = list(middleware)

    def outgoing(self, message: OutgoingMessage) -> OutgoingMessage:
        for item in self.middleware:
            message = item.outgoing(message)
        return message

    def incoming(self, message: SQSMessage) -> str | None:
        for item in self.middleware:
            problem = item.incoming(message)
            if problem:
                return problem
        return None

    @contextmanager
    def handling(self, message: SQSMessage) -> Iterator[None]:
        if not self.middleware:
            yield
            return
        with ExitStack() as stack:
            for item in self.middleware:
                stack.enter_context(item.handling(message))
            yield

    def settled(self, result: MessageHandlingResult, action: Action) -> None:
        for item in self.middleware:
            item.settled(result, action)

    def received(self, messages: Sequence[SQSMessage]) -> None:
        for item in self.middleware:
            item.received(messages)

    def receive_failed(self, error: Exception) -> None:
        for item in self.middleware:
            item.receive_failed(error)


@defaults(
    # Binding names of middleware components, in order; a comma-separated string from the environment
    components=typed(key_list, default_value=[]),
)
def configure_pubsub_middleware(graph: Any) -> MiddlewareChain:
    names = key_list(graph.config.pubsub_middleware.components)
    return MiddlewareChain([getattr(graph, name) for name in names])
