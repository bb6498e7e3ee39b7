"""`pubsub_dynatrace`: the old package's Dynatrace OneAgent spans, kept for old services."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from microcosm_pubsub.middleware import tracing
from microcosm_pubsub.middleware.chain import BODY, NOTHING, Middleware, Publication


if TYPE_CHECKING:
    from microcosm_pubsub.consume.message import SQSMessage


DYNATRACE_TAG = "x-dynatrace"
REQUEST_ID = "x-request-id"


def _lookup(opaque: Any, key: str) -> str | None:
    """A case-insensitive read of opaque data (old messages keep `X-Request-Id` as sent)."""
    if not isinstance(opaque, Mapping):
        return None
    return next((str(value) for name, value in opaque.items() if str(name).lower() == key and value is not None), None)


class DynatraceTracing(Middleware):
    """A OneAgent span per publish (its tag in the opaque data) and per handled message, where `oneagent` imports."""

    # Publishing puts the span's tag into the body's opaque data: the chain seals the message again
    touches = frozenset({BODY})

    def __init__(self, graph: Any) -> None:
        self.graph = graph

    @property
    def queue_name(self) -> str:
        config = self.graph.config.get("sqs_consumer") or {}
        return str(config.get("sqs_queue_url") or "").rstrip("/").rsplit("/", 1)[-1]

    def publishing(self, publication: Publication) -> AbstractContextManager[None]:
        # Without oneagent (the usual case) a publish costs one attribute check
        return NOTHING if tracing.oneagent is None else self._publish_span(publication)

    @contextmanager
    def _publish_span(self, publication: Publication) -> Iterator[None]:
        sdk, message = tracing.oneagent.get_sdk(), publication.message
        info = _system(sdk, "SNS", message.topic_arn.rsplit(":", 1)[-1], tracing.MessagingDestinationType.TOPIC)
        with sdk.trace_outgoing_message(info) as tracer:
            def tag(opaque: dict[str, Any]) -> None:
                opaque[DYNATRACE_TAG] = tracer.outgoing_dynatrace_string_tag
                _correlate(tracer, opaque)

            publication.message = message.with_opaque_data(tag)
            yield
            if publication.message_id is not None:
                tracer.set_vendor_message_id(publication.message_id)

    def handling(self, message: SQSMessage) -> AbstractContextManager[None]:
        return NOTHING if tracing.oneagent is None else self._handle_span(message)

    @contextmanager
    def _handle_span(self, message: SQSMessage) -> Iterator[None]:
        sdk, opaque = tracing.oneagent.get_sdk(), message.opaque_data
        info = _system(sdk, "SQS", self.queue_name, tracing.MessagingDestinationType.QUEUE)
        with sdk.trace_incoming_message_process(info, str_tag=_lookup(opaque, DYNATRACE_TAG)) as tracer:
            tracer.set_vendor_message_id(message.message_id)
            _correlate(tracer, opaque)
            yield


def _system(sdk: Any, vendor: str, name: str, kind: Any) -> Any:
    return sdk.create_messaging_system_info(vendor, name, kind, tracing.Channel(tracing.ChannelType.TCP_IP, None))


def _correlate(tracer: Any, opaque: Any) -> None:
    request_id = _lookup(opaque, REQUEST_ID)
    if request_id is not None:
        tracer.set_correlation_id(request_id)


def configure_pubsub_dynatrace(graph: Any) -> DynatraceTracing:
    """`pubsub_dynatrace`: automatic middleware (see `pubsub_middleware.automatic`)."""
    return DynatraceTracing(graph)
