"""Metrics: a small sink interface, in-memory, StatsD and Prometheus sinks, and the `pubsub_metrics` middleware.

The old package's bindings (`PubSubSendMetrics`, `PubSubSendBatchMetrics`, `PubSubProducerMetrics`)
are importable from here too, for old services.
"""
from microcosm_pubsub.metrics.bindings import PubSubProducerMetrics, PubSubSendBatchMetrics, PubSubSendMetrics
from microcosm_pubsub.middleware.metrics.sink import FanoutSink, InMemorySink, MetricsSink, Summary


__all__ = [
    "FanoutSink",
    "InMemorySink",
    "MetricsSink",
    "PubSubProducerMetrics",
    "PubSubSendBatchMetrics",
    "PubSubSendMetrics",
    "Summary",
]
