"""`pubsub_tracing`: W3C trace context in message attributes and opaque data; OpenTelemetry spans if installed."""
from __future__ import annotations

import importlib
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from microcosm_pubsub.consume.result import Outcome, outcome_of
from microcosm_pubsub.graph.config import defaults, typed
from microcosm_pubsub.middleware.chain import ATTRIBUTES, BODY, Middleware
from microcosm_pubsub.wire.outgoing import OutgoingMessage


if TYPE_CHECKING:
    from microcosm_pubsub.consume.message import SQSMessage


# Dynatrace OneAgent, kept for old services (see microcosm_pubsub.dynatrace): None when not installed.
# The hook reads these names at call time, so tests can patch them on this module.
try:
    oneagent: Any = importlib.import_module("oneagent")
    _common: Any = importlib.import_module("oneagent.common")
    ChannelType, MessagingDestinationType = _common.ChannelType, _common.MessagingDestinationType
    Channel: Any = importlib.import_module("oneagent.sdk").Channel
except ImportError:
    oneagent = ChannelType = Channel = MessagingDestinationType = None


TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
# version-traceid-parentid-flags; version ff is forbidden, all-zero ids are invalid
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


@dataclass(frozen=True)
class TraceContext:
    """One span's W3C identity: what a message carries to name its parent."""

    trace_id: str
    span_id: str
    flags: str = "01"
    tracestate: str | None = None

    @classmethod
    def parse(cls, traceparent: str | None, tracestate: str | None = None) -> TraceContext | None:
        """The context in a `traceparent` header, or None when it is absent or malformed."""
        match = _TRACEPARENT.match((traceparent or "").strip().lower())
        if match is None:
            return None
        version, trace_id, span_id, flags, rest = match.groups()
        if version == "ff" or (version == "00" and rest) or set(trace_id) == {"0"} or set(span_id) == {"0"}:
            return None
        return cls(trace_id, span_id, flags, tracestate.strip() if tracestate and tracestate.strip() else None)

    @classmethod
    def root(cls) -> TraceContext:
        """The first span of a new trace, sampled."""
        return cls(secrets.token_hex(16), secrets.token_hex(8))

    def child(self) -> TraceContext:
        """A new span in the same trace."""
        return replace(self, span_id=secrets.token_hex(8))

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def headers(self) -> dict[str, str]:
        return {TRACEPARENT: self.traceparent, **({TRACESTATE: self.tracestate} if self.tracestate else {})}


# The span a handler runs in, when OpenTelemetry is not recording one: the parent of what it produces
_current: ContextVar[TraceContext | None] = ContextVar("microcosm_pubsub_trace", default=None)


def current_trace() -> TraceContext | None:
    """The pubsub trace context of the running handler (without OpenTelemetry), else None."""
    return _current.get()


def carried(message: SQSMessage) -> TraceContext | None:
    """The context a received message carries: its message attributes (SNS's or SQS's), then its opaque data."""
    return _found_in(message.opened.attributes) or _found_in(message.opaque_data)


def _found_in(headers: Mapping[str, Any]) -> TraceContext | None:
    return TraceContext.parse(headers.get(TRACEPARENT), headers.get(TRACESTATE))


def with_trace(message: OutgoingMessage, trace: TraceContext) -> OutgoingMessage:
    """`message` carrying `trace` in its SNS attributes and its opaque data (replacing what the caller's had)."""
    headers = trace.headers()
    attributes = {name: value for name, value in message.attributes.items() if name not in (TRACEPARENT, TRACESTATE)}
    attributes.update({name: {"DataType": "String", "StringValue": value} for name, value in headers.items()})

    def carry(opaque: dict[str, Any]) -> None:
        opaque.pop(TRACESTATE, None)
        opaque.update(headers)

    return message.with_opaque_data(carry, attributes)


class PubSubTracing(Middleware):
    """Puts a new span's context on each outgoing message and runs each handler in a span (docs/observability.md)."""

    touches = frozenset({BODY, ATTRIBUTES})

    def __init__(self, graph: Any, opentelemetry: bool = True, tracer_provider: Any = None) -> None:
        self.opaque = graph.opaque
        self.otel: Any = None
        try:
            # Optional (the `otel` extra): without it the context travels all the same
            from opentelemetry import context, trace

            self.otel = SimpleNamespace(trace=trace, context=context) if opentelemetry else None
        except ImportError:
            pass
        # None means OpenTelemetry's global provider; tests give an SDK provider of their own
        self.tracer_provider = tracer_provider

    @property
    def tracer(self) -> Any:
        return self.otel.trace.get_tracer("microcosm_pubsub", tracer_provider=self.tracer_provider)

    def local_parent(self) -> TraceContext | None:
        """The handler's context (set by `handling`), else the caller's opaque `traceparent` (a web request's)."""
        return _current.get() or _found_in(self.opaque)

    def outgoing(self, message: OutgoingMessage) -> OutgoingMessage:
        trace = None
        if self.otel is None:
            parent = self.local_parent()
        else:
            current = self.otel.trace.get_current_span()
            # A recording span (the consumer's, or the application's own) is the parent as it stands
            recording = current.is_recording()
            parent = from_span_context(current.get_span_context()) if recording else self.local_parent()
            span = self.tracer.start_span(
                f"publish {message.topic_arn.rsplit(':', 1)[-1]}",
                context=None if recording else self.otel_context(parent),
                kind=self.otel.trace.SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "aws_sns", "messaging.operation.type": "send",
                    "messaging.destination.name": message.topic_arn, "pubsub.media_type": message.media_type,
                },
            )
            # The span marks the message being sent; SNS's answer comes after the middleware
            span.end()
            trace = own_context(span, parent)
        return with_trace(message, trace or (parent.child() if parent is not None else TraceContext.root()))

    @contextmanager
    def handling(self, message: SQSMessage) -> Iterator[None]:
        parent = carried(message)
        span: Any = None
        local = None
        if self.otel is not None:
            span = self.tracer.start_span(
                f"process {message.media_type or 'message'}",
                context=self.otel_context(parent),
                kind=self.otel.trace.SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "aws_sqs", "messaging.operation.type": "process",
                    "messaging.message.id": message.message_id, "pubsub.media_type": message.media_type or "",
                    "pubsub.receive_count": message.approximate_receive_count,
                },
            )
            attached = self.otel.context.attach(self.otel.trace.set_span_in_context(span))
            local = own_context(span, parent)
        token = _current.set(local or (parent.child() if parent is not None else TraceContext.root()))
        try:
            yield
        except Exception as error:
            # Handling signals (Nack, SkipMessage...) are outcomes, not errors of the span
            if span is not None and span.is_recording() and outcome_of(error) is Outcome.FAILED:
                span.record_exception(error)
                span.set_status(self.otel.trace.Status(self.otel.trace.StatusCode.ERROR, str(error)))
            raise
        finally:
            _current.reset(token)
            if span is not None:
                self.otel.context.detach(attached)
                span.end()

    def otel_context(self, parent: TraceContext | None) -> Any:
        """An OpenTelemetry context whose span is `parent` (remote); None (the current context) without one."""
        if parent is None:
            return None
        trace = self.otel.trace
        span_context = trace.SpanContext(
            trace_id=int(parent.trace_id, 16), span_id=int(parent.span_id, 16), is_remote=True,
            trace_flags=trace.TraceFlags(int(parent.flags, 16)),
            trace_state=trace.TraceState.from_header([parent.tracestate]) if parent.tracestate else None,
        )
        return trace.set_span_in_context(trace.NonRecordingSpan(span_context))


def own_context(span: Any, parent: TraceContext | None) -> TraceContext | None:
    """The span's context when it is a new span; None when OpenTelemetry handed back the parent (no SDK)."""
    span_context = span.get_span_context()
    if not span_context.is_valid:
        return None
    own = from_span_context(span_context)
    return None if parent is not None and own.span_id == parent.span_id else own


def from_span_context(span_context: Any) -> TraceContext:
    state = span_context.trace_state.to_header() if span_context.trace_state else None
    ids = f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}", f"{int(span_context.trace_flags):02x}"
    return TraceContext(*ids, state or None)


@defaults(
    # Record OpenTelemetry spans when opentelemetry-api is installed (and a provider configured)
    opentelemetry=typed(bool, default_value=True),
)
def configure_pubsub_tracing(graph: Any) -> PubSubTracing:
    """`pubsub_tracing`: list it first in `pubsub_middleware.components` so its span wraps the others."""
    return PubSubTracing(graph, opentelemetry=bool(graph.config.pubsub_tracing.opentelemetry))
