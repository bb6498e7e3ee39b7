"""`pubsub_middleware`: small pluggable pieces around publishing, receiving and handling, run in a safe order."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from microcosm_pubsub.graph.config import defaults, key_list, typed
from microcosm_pubsub.wire.errors import ConfigurationError
from microcosm_pubsub.wire.outgoing import OutgoingMessage


if TYPE_CHECKING:
    from microcosm_pubsub.consume.message import SQSMessage
    from microcosm_pubsub.consume.result import Action, MessageHandlingResult


@dataclass
class Publication:
    """One SNS Publish call as middleware sees it: the message to send, then SNS's answer."""

    message: OutgoingMessage
    message_id: str | None = None


# What a middleware's outgoing hooks may change of a message (`Middleware.touches`)
BODY = "body"
ATTRIBUTES = "attributes"
# When its outgoing hook runs (`Middleware.phase`): transforms first, then seals
TRANSFORM = "transform"
SEAL = "seal"
PHASES = (TRANSFORM, SEAL)
# The context of a hook with nothing to do: shared, since entering it changes nothing
NOTHING: AbstractContextManager[None] = nullcontext()


class Middleware:
    """Every hook does nothing; override the ones you need.

    `touches` says what the `outgoing` and `publishing` hooks change of a message (`BODY`, `ATTRIBUTES`);
    `phase` says when they run: `TRANSFORM` changes the message, `SEAL` covers it as it reaches the wire
    (signing). Middleware declaring neither is a transform touching nothing, as before the declarations.
    """

    # Automatic middleware (see `pubsub_middleware.automatic`) that is not active is left out of the chain
    active = True
    touches: ClassVar[frozenset[str]] = frozenset()
    phase: ClassVar[str] = TRANSFORM

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
    """The configured middleware in order (handling: nested, first outermost), seals after every transform.

    A seal covers exactly what reaches the wire, so outgoing it runs last and again on a message a
    `publishing` hook replaced (Dynatrace's tag); incoming it checks first, before the others read.

    :raises ConfigurationError: for an undeclared phase or touch, or a seal that changes the body
        next to another seal (`names`, the binding names, say which)
    """

    def __init__(self, middleware: Sequence[Middleware], names: Sequence[str] | None = None) -> None:
        self.middleware = list(middleware)
        names = names or [type(item).__name__ for item in self.middleware]
        self.seals = _seals(zip(names, self.middleware, strict=True))
        transforms = [item for item in self.middleware if all(item is not seal for seal in self.seals)]
        self._outgoing = transforms + self.seals
        self._incoming = self.seals + transforms

    def outgoing(self, message: OutgoingMessage) -> OutgoingMessage:
        for item in self._outgoing:
            message = item.outgoing(message)
        return message

    def seal(self, message: OutgoingMessage) -> OutgoingMessage:
        """`message` through the seals' outgoing hooks only (after a publishing hook replaced it)."""
        for item in self.seals:
            message = item.outgoing(message)
        return message

    def publishing(self, publication: Publication) -> AbstractContextManager[None]:
        # Once per message: no generator or exit stack for an unsealed chain of none or one
        if not self.seals and len(self.middleware) < 2:
            return self.middleware[0].publishing(publication) if self.middleware else NOTHING
        return self._publishing(publication)

    @contextmanager
    def _publishing(self, publication: Publication) -> Iterator[None]:
        sent = publication.message
        with ExitStack() as stack:
            for item in self.middleware:
                stack.enter_context(item.publishing(publication))
            if publication.message is not sent:
                publication.message = self.seal(publication.message)
            yield

    def incoming(self, message: SQSMessage) -> str | None:
        for item in self._incoming:
            problem = item.incoming(message)
            if problem:
                return problem
        return None

    def handling(self, message: SQSMessage) -> AbstractContextManager[None]:
        if len(self.middleware) < 2:
            return self.middleware[0].handling(message) if self.middleware else NOTHING
        return _entered(item.handling(message) for item in self.middleware)

    def settled(self, result: MessageHandlingResult, action: Action) -> None:
        for item in self.middleware:
            item.settled(result, action)

    def received(self, messages: Sequence[SQSMessage]) -> None:
        for item in self.middleware:
            item.received(messages)

    def receive_failed(self, error: Exception) -> None:
        for item in self.middleware:
            item.receive_failed(error)


@contextmanager
def _entered(contexts: Iterable[AbstractContextManager[None]]) -> Iterator[None]:
    """The contexts entered in order (the first outermost), made lazily so each sees the one before."""
    with ExitStack() as stack:
        for context in contexts:
            stack.enter_context(context)
        yield


def _seals(named: Iterable[tuple[str, Middleware]]) -> list[Middleware]:
    """The seals among `named` (name, middleware), in order, once every declaration is known to hold together."""
    seals: list[tuple[str, Middleware, bool]] = []
    for name, item in named:
        # A component with the hooks but not derived from Middleware declares nothing
        phase, touches = getattr(item, "phase", TRANSFORM), set(getattr(item, "touches", ()))
        if phase not in PHASES:
            raise ConfigurationError(f"middleware {name} declares phase {phase!r}; use one of {', '.join(PHASES)}")
        unknown = touches - {BODY, ATTRIBUTES}
        if unknown:
            raise ConfigurationError(
                f"middleware {name} declares it touches {', '.join(sorted(unknown))}; "
                f"declare {BODY!r} and/or {ATTRIBUTES!r}"
            )
        if phase == SEAL:
            seals.append((name, item, BODY in touches))
    for name, item, changes_body in seals:
        others = [other for other, sealer, _ in seals if sealer is not item]
        if changes_body and others:
            # Whichever runs second, the body the first one sealed is not the body sent
            raise ConfigurationError(
                f"middleware {name} seals and changes the body, so it breaks the seal of {others[0]} in either order: "
                f"list only one of them in pubsub_middleware.components"
            )
    return [item for _, item, _ in seals]


# The old package's observability, on by itself when its conditions hold (oneagent importable,
# microcosm-metrics bound, Sentry configured); each component says whether it is active
AUTOMATIC = ["pubsub_dynatrace", "pubsub_send_metrics", "pubsub_send_batch_metrics", "sentry_logging_pubsub"]


@defaults(
    # Binding names of middleware components, in order; a comma-separated string from the environment
    components=typed(key_list, default_value=[]),
    # Kept for old services: included before `components`, each only while active; [] turns them all off
    automatic=typed(key_list, default_value=AUTOMATIC),
)
def configure_pubsub_middleware(graph: Any) -> MiddlewareChain:
    config = graph.config.pubsub_middleware
    names = key_list(config.components)
    automatic = [(name, getattr(graph, name)) for name in key_list(config.automatic) if name not in names]
    chosen = [(name, item) for name, item in automatic if getattr(item, "active", True)]
    chosen += [(name, getattr(graph, name)) for name in names]
    return MiddlewareChain([item for _, item in chosen], [name for name, _ in chosen])
