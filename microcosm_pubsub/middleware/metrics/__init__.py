"""Metrics: the sink interface, in-memory, StatsD and Prometheus sinks, and the `pubsub_metrics` middleware."""
