"""The old package's metrics bindings, kept for old services: histograms to microcosm-metrics' `graph.metrics`."""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from microcosm.errors import LockedGraphError, NotBoundError

from microcosm_pubsub.consume.logs import seconds_since_published
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.graph.config import defaults, typed
from microcosm_pubsub.middleware.chain import Middleware


if TYPE_CHECKING:
    from microcosm_pubsub.consume.message import SQSMessage
    from microcosm_pubsub.consume.result import Action, MessageHandlingResult


SOURCE_TAG = "source:microcosm-pubsub"


@defaults(
    # On wherever microcosm-metrics is configured; each binding reads its own section's flag
    # (the old package read pubsub_send_metrics.enabled for all three)
    enabled=typed(bool, default_value=True),
)
class OldMetrics(Middleware):
    """One of the old metrics bindings, active when `<key>.enabled` and `graph.metrics` is a configured client."""

    key = ""

    def __init__(self, graph: Any) -> None:
        self.metrics = self.get_metrics(graph)
        configured = bool(graph.config[self.key].enabled)
        # microcosm-metrics points at localhost when nothing is configured: treat that as "no metrics"
        self.active = self.enabled = (
            configured and self.metrics is not None and getattr(self.metrics, "host", None) != "localhost"
        )

    def get_metrics(self, graph: Any) -> Any:
        """`graph.metrics` when microcosm-metrics is bound, else None."""
        try:
            return graph.metrics
        except (NotBoundError, LockedGraphError):
            return None

    def histogram(self, name: str, value: float, **tags: Any) -> None:
        if self.enabled:
            # Datadog-style `key:value` tags, the form microcosm-metrics' client takes
            tagged = [SOURCE_TAG] + [f"{key.replace('_', '-')}:{item}" for key, item in tags.items()]
            self.metrics.histogram(name, value, tags=tagged)


class PubSubSendMetrics(OldMetrics):
    """`message` (handling milliseconds) and `message_handle_start` (seconds since published) per message."""

    key = "pubsub_send_metrics"

    def settled(self, result: MessageHandlingResult, action: Action) -> None:
        # As before: ignored messages (no handler here) are not this service's work
        if result.outcome is Outcome.IGNORED:
            return
        tags = {"result": result.outcome.name, "media_type": result.message.media_type or "unknown"}
        self.histogram("message", result.elapsed_seconds * 1000, **tags)
        since_published = seconds_since_published(result.message.opaque_data)
        if since_published is not None:
            self.histogram("message_handle_start", since_published, **tags)


class PubSubSendBatchMetrics(OldMetrics):
    """`message_batch_size` per receive and `message_batch` (milliseconds until its last message settles)."""

    key = "pubsub_send_batch_metrics"

    def __init__(self, graph: Any) -> None:
        super().__init__(graph)
        self._lock = threading.Lock()
        # message id -> (batch started, ids of the batch still unsettled)
        self._batches: dict[str, tuple[float, set[str]]] = {}

    def received(self, messages: Sequence[SQSMessage]) -> None:
        if not messages or not self.enabled:
            return
        self.histogram("message_batch_size", len(messages))
        batch = (time.monotonic(), {message.message_id for message in messages})
        with self._lock:
            self._batches.update(dict.fromkeys(batch[1], batch))

    def settled(self, result: MessageHandlingResult, action: Action) -> None:
        with self._lock:
            batch = self._batches.pop(result.message.message_id, None)
            if batch is None:
                return
            started, pending = batch
            pending.discard(result.message.message_id)
            done = not pending
        if done:
            self.histogram("message_batch", (time.monotonic() - started) * 1000)


class PubSubProducerMetrics(OldMetrics):
    """`sns_producer`: milliseconds per publish, tagged with its media type and SUCCESS or FAILURE."""

    key = "pubsub_producer_metrics"

    def __call__(self, elapsed_ms: float, publish_result: bool, **tags: Any) -> None:
        self.histogram("sns_producer", elapsed_ms, publish_result="SUCCESS" if publish_result else "FAILURE", **tags)
