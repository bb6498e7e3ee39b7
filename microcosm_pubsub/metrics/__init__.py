"""Metrics sinks (in-memory, fan-out) and, for old services, the old package's metrics bindings."""
from microcosm_pubsub.metrics.bindings import PubSubProducerMetrics, PubSubSendBatchMetrics, PubSubSendMetrics
from microcosm_pubsub.middleware.metrics.sink import FanoutSink, InMemorySink, MetricsSink, Summary


__all__ = [
    "FanoutSink", "InMemorySink", "MetricsSink", "PubSubProducerMetrics", "PubSubSendBatchMetrics",
    "PubSubSendMetrics", "Summary",
]
