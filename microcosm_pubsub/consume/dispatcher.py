"""`sqs_message_dispatcher`: message -> handler -> outcome -> settled with the queue."""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from microcosm_pubsub.consume.consumer import SQSConsumer
from microcosm_pubsub.consume.deadletter import DeadLetterQueue, RedrivePolicy
from microcosm_pubsub.consume.handler_loop import is_awaitable, is_coroutine_handler, run_awaitable
from microcosm_pubsub.consume.logs import published_at, seconds_since, seconds_since_published
from microcosm_pubsub.consume.message import TTL_KEY, SQSMessage
from microcosm_pubsub.consume.opaque_scope import OpaqueScope
from microcosm_pubsub.consume.result import Action, MessageHandlingResult, Outcome
from microcosm_pubsub.consume.settle import Settlement
from microcosm_pubsub.effects import current
from microcosm_pubsub.effects.idempotency import Idempotency, Plan, Running, message_identity
from microcosm_pubsub.graph.config import defaults, typed
from microcosm_pubsub.schemas.handler_registry import Handler, handler_name
from microcosm_pubsub.schemas.registry import PubSubMessageSchemaRegistry, Upcaster
from microcosm_pubsub.schemas.versioning import parse_version
from microcosm_pubsub.wire.errors import HandlerNotFoundError
from microcosm_pubsub.wire.outgoing import VERSION_ATTRIBUTE


@dataclass(slots=True)
class Ready:
    """A message prepared for its handler's call."""

    handler: Any
    name: str
    opaque: Mapping[str, Any]
    published: float | None
    # What follow-up message ids derive from (`current.handling`)
    identity: str = ""
    # An idempotent handling's key and payload hash; None for other handlers
    plan: Plan | None = None
    # What the handler is called with: the message's content, upcast when its handler is of a later major
    content: Any = None


@dataclass(slots=True)
class Route:
    """Where a message of a major goes: a handler of that major, or of a later one through upcasters."""

    handler: Handler
    major: int
    upcasters: tuple[Upcaster, ...] = ()


@defaults(
    # Past this many receives a message is EXPIRED instead of handled; unset: the queue's redrive policy decides
    message_max_processing_attempts=typed(int, default_value=None),
    # Where INVALID and EXPIRED messages go with their reason; unset: the daemon uses its queue's redrive target
    dead_letter_queue_url=typed(str, default_value=None),
    # On the last receive the queue's redrive policy allows, dead-letter a failing message with its reason, not SQS
    dead_letter_from_redrive_policy=typed(bool, default_value=True),
    # Also dead-letter IGNORED messages (no handler, IgnoreMessage) instead of deleting them
    dead_letter_ignored=typed(bool, default_value=False),
    # The old homes of pubsub_runner.max_in_flight and pubsub_runner.shutdown_timeout_seconds, read when those are unset
    max_in_flight=typed(int, default_value=None),
    shutdown_timeout_seconds=typed(float, default_value=None),
)
class SQSMessageDispatcher:
    """Runs one message through its handler and turns the result into an outcome; settles in batches."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        config = graph.config.sqs_message_dispatcher
        # The old package's attribute name: services and tests set it on the dispatcher
        self.max_processing_attempts: int | None = config.message_max_processing_attempts
        self.handlers = graph.sqs_message_handler_registry
        self.schemas: PubSubMessageSchemaRegistry = graph.pubsub_message_schema_registry
        self.context = graph.sqs_message_context
        self.opaque = graph.opaque
        self.middleware = graph.pubsub_middleware
        self.consumer: SQSConsumer = graph.sqs_consumer
        self.idempotency: Idempotency = graph.pubsub_idempotency

    @property
    def opaque(self) -> Any:
        """`graph.opaque`, which handlers run in; assignable."""
        return self._opaque

    @opaque.setter
    def opaque(self, opaque: Any) -> None:
        self._opaque = opaque
        self._scope = OpaqueScope(opaque)

    @property
    def settlement(self) -> Settlement:
        return self.consumer.settlement

    @property
    def dead_letter_queue_url(self) -> str | None:
        return self.settlement.dead_letter_queue_url

    @property
    def dead_letters(self) -> DeadLetterQueue | None:
        return self.settlement.dead_letters

    @property
    def last_receive(self) -> int | None:
        return self.settlement.last_receive

    def follow_redrive_policy(self, policy: RedrivePolicy) -> None:
        self.settlement.follow_redrive_policy(policy, self.max_processing_attempts)

    @property
    def sqs_consumer(self) -> Any:
        """The old package's name for the consumer."""
        return self.consumer

    @property
    def max_attempts(self) -> int | None:
        return self.max_processing_attempts

    def prepare(self, messages: Sequence[SQSMessage], bound_handlers: dict[str, Any] | None = None) -> None:
        """Do each message's look-ups now: handler, the outcomes decided before any call, opaque context."""
        # Between two handler calls the CPU caches are cold (the handler waited): there less code costs far less
        plans: list[Plan] = []
        for message in messages:
            ready = self._prepare(message, bound_handlers)
            message._prepared = (bound_handlers, ready)
            if isinstance(ready, Ready) and ready.plan is not None:
                plans.append(ready.plan)
        if plans:
            # A receive's idempotency keys read at once: its completed duplicates need no claim
            self.idempotency.look_up(plans)

    def check_idempotency(self) -> None:
        """At start: the active idempotent handlers have a usable store (`ConfigurationError` naming the fix)."""
        self.idempotency.start(self.handlers.active)

    def handle_message(
        self, message: SQSMessage, bound_handlers: dict[str, Any] | None = None,
    ) -> MessageHandlingResult:
        """Decide the outcome of one message, with `bound_handlers` or the registry's; never raises, settles nothing."""
        started = time.perf_counter()
        ready = self._ready(message, bound_handlers)
        if not isinstance(ready, Ready):
            return _measured(ready, started, seconds_since_published(message.opaque_data))
        # The message's age when its handling starts, not once the handler is done
        age = seconds_since(ready.published)
        return _measured(self._call(message, ready, started), started, age)

    async def handle_message_async(
        self, message: SQSMessage, bound_handlers: dict[str, Any] | None = None,
    ) -> MessageHandlingResult:
        """`handle_message` as a coroutine, awaited on the handler loop, for a runner whose handlers are all async."""
        started = time.perf_counter()
        ready = self._ready(message, bound_handlers)
        if not isinstance(ready, Ready):
            return _measured(ready, started, seconds_since_published(message.opaque_data))
        age = seconds_since(ready.published)
        running: Running | None = None
        token = current.handling.set(current.Handling(ready.identity, ready.name, ready.plan is not None))
        try:
            if ready.plan is not None:
                begun = await self.idempotency.begin_async(message, ready.name, ready.plan)
                if isinstance(begun, MessageHandlingResult):
                    return _measured(begun, started, age)
                running = begun
            with self._scope(ready.opaque), self.middleware.handling(message), _guarding(running):
                returned = ready.handler(ready.content)
                if is_awaitable(returned):
                    returned = await returned
        except Exception as error:
            result = MessageHandlingResult.from_error(message, error, ready.name, time.perf_counter() - started)
        else:
            result = MessageHandlingResult.from_return(message, returned, ready.name, time.perf_counter() - started)
            if running is not None:
                result = await running.finish_async(result)
        finally:
            current.handling.reset(token)
        return _measured(result, started, age)

    def all_handlers_async(self) -> bool:
        handlers = list(self.handlers.active.values())
        return bool(handlers) and all(is_coroutine_handler(handler) for handler in handlers)

    def _ready(self, message: SQSMessage, bound_handlers: dict[str, Any] | None) -> Ready | MessageHandlingResult:
        """What `prepare` did for the message with the same handlers, else its look-ups now."""
        # Used once: a message handled again is looked up afresh
        prepared, message._prepared = message._prepared, None
        if prepared is not None and prepared[0] is bound_handlers:
            ready: Ready | MessageHandlingResult = prepared[1]
            return ready
        return self._prepare(message, bound_handlers)

    def _prepare(self, message: SQSMessage, bound_handlers: dict[str, Any] | None) -> Ready | MessageHandlingResult:
        """What calling the message's handler needs, or the outcome decided without a call."""
        media_type = message.media_type
        if media_type is None:
            reason = message.problem or "message has no media type"
            return MessageHandlingResult(message, Outcome.INVALID, reason=reason)
        upcasters: tuple[Upcaster, ...] = ()
        # Messages without a version (version 1: the old package's, and most of ours) pay this one look-up
        version = message.opened.attributes.get(VERSION_ATTRIBUTE)
        if version is None:
            try:
                handler = self.handlers.find(media_type, bound_handlers)
            except HandlerNotFoundError:
                # A later major's handler may take it through upcasters
                route = self._route(media_type, 1, bound_handlers)
                if route is None:
                    reason = f"no handler for media type {media_type}"
                    return MessageHandlingResult(message, Outcome.IGNORED, reason=reason)
                handler, upcasters = route.handler, route.upcasters
        else:
            routed = self._route_versioned(message, media_type, version, bound_handlers)
            if isinstance(routed, MessageHandlingResult):
                return routed
            handler, upcasters = routed.handler, routed.upcasters
        name = handler_name(handler)
        if not message.is_valid:
            outcome = Outcome.INVALID if message.opened.known else Outcome.IGNORED
            return MessageHandlingResult(message, outcome, handler=name, reason=message.problem)
        content = message.content
        if content is None:
            return MessageHandlingResult(message, Outcome.IGNORED, handler=name, reason=f"no content for {media_type}")
        if upcasters:
            upcast = self._upcast(message, content, upcasters, name)
            if isinstance(upcast, MessageHandlingResult):
                return upcast
            content = upcast
        ttl = self.context.ttl_of(message)
        if self.context.enable_ttl and ttl <= 0:
            reason = f"{TTL_KEY} is {ttl}: the message made its last hop (a publish loop?)"
            return MessageHandlingResult(message, Outcome.EXPIRED, handler=name, reason=reason)
        limit = self.max_processing_attempts
        if limit is not None and message.approximate_receive_count > limit:
            reason = f"received {message.approximate_receive_count} times, over message_max_processing_attempts={limit}"
            return MessageHandlingResult(message, Outcome.EXPIRED, handler=name, reason=reason)
        opaque = self._scope.normalized(self.context(message, name, ttl))
        plan = None
        if (options := self.idempotency.options_for(handler, name)) is not None:
            planned = self.idempotency.plan(message, name, options)
            if isinstance(planned, MessageHandlingResult):
                return planned
            plan = planned
        return Ready(handler, name, opaque, published_at(message.opaque_data), message_identity(message), plan, content)

    def _route_versioned(
        self, message: SQSMessage, media_type: str, version: str, bound_handlers: dict[str, Any] | None,
    ) -> Route | MessageHandlingResult:
        """A message naming its version: routed on its major (the envelope read it with that major's schema)."""
        parsed = parse_version(version)
        if parsed is None:
            # From the wire: quoted cut short before it goes into a reason (and a log line)
            reason = (f"message attribute {VERSION_ATTRIBUTE} is {version[:64]!r}, not a \"major.minor\" version such "
                      "as \"2.0\": its producer wrote it wrong; the message cannot be routed")
            return MessageHandlingResult(message, Outcome.INVALID, reason=reason)
        major = parsed.major
        route = self._route(media_type, major, bound_handlers)
        if route is None:
            return MessageHandlingResult(
                message, Outcome.IGNORED, reason=f"no handler for media type {media_type} of major version {major}"
                f"{self._handled_majors(media_type, bound_handlers)}",
            )
        # The envelope read the content with the major's own schema (before middleware judged the message)
        return route

    def _route(self, media_type: str, major: int, bound_handlers: dict[str, Any] | None) -> Route | None:
        """The handler of `major`, else of the first later major its upcasters reach; None when neither exists."""
        upcasters: list[Upcaster] = []
        target = major
        while True:
            handler = self.handlers.find_version(media_type, target, bound_handlers)
            if handler is not None:
                return Route(handler, target, tuple(upcasters))
            upcaster = self.schemas.upcaster(media_type, target)
            if upcaster is None:
                return None
            upcasters.append(upcaster)
            target += 1

    def _handled_majors(self, media_type: str, bound_handlers: dict[str, Any] | None) -> str:
        """For a reason: the majors of the media type that have handlers."""
        handled = [major for major in self.schemas.known_majors(media_type) or [1]
                   if self.handlers.find_version(media_type, major, bound_handlers) is not None]
        return f" (handled majors: {', '.join(map(str, handled))})" if handled else ""

    def _upcast(
        self, message: SQSMessage, content: dict[str, Any], upcasters: tuple[Upcaster, ...], name: str,
    ) -> dict[str, Any] | MessageHandlingResult:
        """The content through each upcaster in turn, or the outcome of one that raised."""
        for upcaster in upcasters:
            try:
                content = upcaster(content)
            except Exception as error:
                # A fault of the service's code, as a handler's: retried, then dead-lettered with this reason
                failed = MessageHandlingResult.from_error(message, error, name)
                failed.reason = f"upcaster {handler_name(upcaster)} failed: {failed.reason}"
                return failed
        return content

    def _call(self, message: SQSMessage, ready: Ready, started: float) -> MessageHandlingResult:
        token = current.handling.set(current.Handling(ready.identity, ready.name, ready.plan is not None))
        try:
            if ready.plan is not None:
                return self._call_idempotent(message, ready, ready.plan, started)
            with self._scope(ready.opaque), self.middleware.handling(message):
                returned = ready.handler(ready.content)
                if is_awaitable(returned):
                    returned = run_awaitable(returned)
        except Exception as error:
            return MessageHandlingResult.from_error(message, error, ready.name, time.perf_counter() - started)
        finally:
            current.handling.reset(token)
        return MessageHandlingResult.from_return(message, returned, ready.name, time.perf_counter() - started)

    def _call_idempotent(self, message: SQSMessage, ready: Ready, plan: Plan, started: float) -> MessageHandlingResult:
        """Claim the key, call the handler only when the claim is won, complete it with the outcome."""
        running = self.idempotency.begin(message, ready.name, plan)
        if isinstance(running, MessageHandlingResult):
            return running
        try:
            with self._scope(ready.opaque), self.middleware.handling(message), running:
                returned = ready.handler(ready.content)
                if is_awaitable(returned):
                    returned = run_awaitable(returned)
        except Exception as error:
            return MessageHandlingResult.from_error(message, error, ready.name, time.perf_counter() - started)
        result = MessageHandlingResult.from_return(message, returned, ready.name, time.perf_counter() - started)
        return running.finish(result)

    def handle_batch(
        self, messages: Sequence[SQSMessage] | None = None, bound_handlers: dict[str, Any] | None = None,
    ) -> list[MessageHandlingResult]:
        """Handle messages one after another, then settle them together; receives one batch when none are given."""
        if messages is None:
            messages = self.consumer.consume()
        self.prepare(messages, bound_handlers)
        results = [self.handle_message(message, bound_handlers) for message in messages]
        self.settle(results)
        return results

    def action(self, result: MessageHandlingResult) -> Action:
        return self.settlement.action(result)

    def decide(self, result: MessageHandlingResult) -> Action:
        return self.settlement.decide(result)

    def settle(self, results: Sequence[MessageHandlingResult], release: Sequence[SQSMessage] = ()) -> None:
        self.settlement.settle(results, release)


def _guarding(running: Running | None) -> Running | nullcontext[None]:
    return nullcontext() if running is None else running


def _measured(result: MessageHandlingResult, started: float, age: float | None) -> MessageHandlingResult:
    # Measured for every outcome, as the old package's results were (its metrics read them)
    result.elapsed_seconds = result.elapsed_seconds or time.perf_counter() - started
    result.handle_start_time = age
    return result
