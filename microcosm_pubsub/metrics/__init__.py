"""Metrics: a small sink interface, in-memory, StatsD and Prometheus sinks, and the `pubsub_metrics` middleware."""
from microcosm_pubsub.metrics.sink import FanoutSink, InMemorySink, MetricsSink, Summary


__all__ = ["FanoutSink", "InMemorySink", "MetricsSink", "Summary"]
