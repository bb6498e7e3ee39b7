"""`pubsub_middleware`: small pluggable pieces around publishing, receiving and handling.

A middleware is a graph component named in `pubsub_middleware.components`; it overrides any of
the hooks of `Middleware`. Signing, tracing and metrics are middleware, not special cases.
The components named in `pubsub_middleware.automatic` (the old package's Dynatrace hook, metrics
bindings and Sentry) come first, each only while it says it is `active`.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from microcosm_pubsub.config import defaults, typed
from microcosm_pubsub.context import key_list
from microcosm_pubsub.outgoing import OutgoingMessage


if TYPE_CHECKING:
    from microcosm_pubsub.message import SQSMessage
    from microcosm_pubsub.result import Action, MessageHandlingResult


@dataclass
class Publication:
    """One SNS Publish call as middleware sees it: the message to send, then SNS's answer."""

    message: OutgoingMessage
    message_id: str | None = None


# The context of a hook with nothing to do: shared, since entering it changes nothing
NOTHING: AbstractContextManager[None] = nullcontext()


class Middleware:
    """Every hook does nothing; override the ones you need."""

    # Automatic middleware (see `pubsub_middleware.automatic`) that is not active is left out of the chain
    active = True

    def outgoing(self, message: OutgoingMessage) -> OutgoingMessage:
        """Before a message is sent (after validation, before the size check): may add attributes."""
        return message

    def publishing(self, publication: Publication) -> AbstractContextManager[None]:
        """Around one Publish call: may replace `publication.message`; `message_id` is set after success."""
        return NOTHING

    def incoming(self, message: SQSMessage) -> str | None:
        """After a message is received and decoded: a returned problem makes it INVALID."""
        return None

    def handling(self, message: SQSMessage) -> AbstractContextManager[None]:
        """Around the handler's call, in the handler's thread (a `@contextmanager` method, typically)."""
        return NOTHING

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

    def publishing(self, publication: Publication) -> AbstractContextManager[None]:
        # Once per message: no generator or exit stack for a chain of none or one
        if len(self.middleware) < 2:
            return self.middleware[0].publishing(publication) if self.middleware else NOTHING
        return self._nested(item.publishing(publication) for item in self.middleware)

    def incoming(self, message: SQSMessage) -> str | None:
        for item in self.middleware:
            problem = item.incoming(message)
            if problem:
                return problem
        return None

    def handling(self, message: SQSMessage) -> AbstractContextManager[None]:
        if len(self.middleware) < 2:
            return self.middleware[0].handling(message) if self.middleware else NOTHING
        return self._nested(item.handling(message) for item in self.middleware)

    @staticmethod
    @contextmanager
    def _nested(contexts: Iterable[AbstractContextManager[None]]) -> Iterator[None]:
        """The contexts entered in order (the first outermost), made lazily so each sees the one before."""
        with ExitStack() as stack:
            for context in contexts:
                stack.enter_context(context)
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


# The old package's observability, on by itself when its conditions hold (oneagent importable,
# microcosm-metrics bound, Sentry configured); each component says whether it is active
AUTOMATIC = [
    "pubsub_dynatrace", "pubsub_send_metrics", "pubsub_send_batch_metrics", "sentry_logging_pubsub",
]


@defaults(
    # Binding names of middleware components, in order; a comma-separated string from the environment
    components=typed(key_list, default_value=[]),
    # Kept for old services: included before `components`, each only while active; [] turns them all off
    automatic=typed(key_list, default_value=AUTOMATIC),
)
def configure_pubsub_middleware(graph: Any) -> MiddlewareChain:
    config = graph.config.pubsub_middleware
    names = key_list(config.components)
    automatic = [getattr(graph, name) for name in key_list(config.automatic) if name not in names]
    return MiddlewareChain(
        [item for item in automatic if getattr(item, "active", True)] + [getattr(graph, name) for name in names]
    )
