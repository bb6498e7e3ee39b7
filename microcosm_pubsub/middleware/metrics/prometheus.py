"""A Prometheus sink on `prometheus-client` (the `prometheus` extra), with an optional text endpoint."""
from __future__ import annotations

import logging
import threading
from typing import Any

from microcosm_pubsub.middleware.metrics.sink import Tags
from microcosm_pubsub.wire.errors import ConfigurationError


logger = logging.getLogger("microcosm_pubsub.metrics.prometheus")

# Handler and end-to-end latencies: from a fast handler to a message that waited out a long backoff
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
# SQS hands out at most ten messages per receive
COUNT_BUCKETS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)


class PrometheusSink:
    """Counters (`<prefix>_<name>_total`), histograms and gauges in a registry of its own; `render()` or `serve()`."""

    def __init__(self, prefix: str = "pubsub") -> None:
        try:
            # An optional extra, imported only when a graph asks for it
            import prometheus_client
        except ImportError as error:
            raise ConfigurationError(
                "pubsub_metrics.sinks names prometheus but prometheus-client is not installed: "
                "pip install 'microcosm_pubsub[prometheus]'"
            ) from error
        self.client: Any = prometheus_client
        self.prefix = f"{prefix}_" if prefix else ""
        self.registry = self.client.CollectorRegistry()
        self.metrics: dict[str, Any] = {}
        self.server: Any = None
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def metric(self, kind: str, name: str, tags: Tags | None) -> Any:
        labels = dict(tags or {})
        with self._lock:
            metric = self.metrics.get(name)
            if metric is None:
                buckets = SECONDS_BUCKETS if name.endswith("_seconds") else COUNT_BUCKETS
                options = {"buckets": buckets} if kind == "Histogram" else {}
                metric = getattr(self.client, kind)(
                    f"{self.prefix}{name}", f"microcosm_pubsub {name.replace('_', ' ')}",
                    labelnames=sorted(labels), registry=self.registry, **options,
                )
                self.metrics[name] = metric
        return metric.labels(**labels) if labels else metric

    def increment(self, name: str, value: float = 1, tags: Tags | None = None) -> None:
        self.metric("Counter", name, tags).inc(value)

    def observe(self, name: str, value: float, tags: Tags | None = None) -> None:
        self.metric("Histogram", name, tags).observe(value)

    def gauge(self, name: str, value: float, tags: Tags | None = None) -> None:
        self.metric("Gauge", name, tags).set(value)

    def render(self) -> str:
        """The registry in Prometheus's text exposition format."""
        return str(self.client.generate_latest(self.registry).decode())

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Serve `/metrics` (any path, in fact) on a thread; returns the bound address (port 0 picks one)."""
        if self.server is None:
            self.server, self.thread = self.client.start_http_server(port, addr=host, registry=self.registry)
            logger.info("Prometheus metrics on http://%s:%d/metrics", *self.server.server_address[:2])
        return str(self.server.server_address[0]), int(self.server.server_address[1])

    def close(self) -> None:
        server, thread, self.server, self.thread = self.server, self.thread, None, None
        if server is not None and thread is not None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
