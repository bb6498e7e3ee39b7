"""A StatsD sink: one UDP datagram per metric, DogStatsD tags, never blocking or raising."""
from __future__ import annotations

import logging
import socket
import threading
import weakref

from microcosm_pubsub.middleware.metrics.sink import Tags


logger = logging.getLogger("microcosm_pubsub.metrics.statsd")

DEFAULT_PORT = 8125
SECONDS_SUFFIX = "_seconds"
# Characters StatsD reads as separators inside a name or tag
UNSAFE = str.maketrans({":": "_", "|": "_", "@": "_", "#": "_", ",": "_", "\n": "_"})


def clean(text: str) -> str:
    return text.translate(UNSAFE)


class StatsdSink:
    """Sends `<prefix>.<name>:<value>|<type>|#tag:value,...` to `host:port` over UDP; `*_seconds` as `*_ms` timers."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, prefix: str = "pubsub") -> None:
        self.address = (host, port)
        self.prefix = f"{clean(prefix)}." if prefix else ""
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # A full or absent collector must never slow a handler down
        self.socket.setblocking(False)
        # A graph dropped without close() must not leave its socket to a ResourceWarning
        self._finalizer = weakref.finalize(self, self.socket.close)
        self.errors = 0
        self._lock = threading.Lock()

    def increment(self, name: str, value: float = 1, tags: Tags | None = None) -> None:
        self.send(name, value, "c", tags)

    def observe(self, name: str, value: float, tags: Tags | None = None) -> None:
        if name.endswith(SECONDS_SUFFIX):
            self.send(name[: -len(SECONDS_SUFFIX)] + "_ms", value * 1000, "ms", tags)
        else:
            self.send(name, value, "h", tags)

    def gauge(self, name: str, value: float, tags: Tags | None = None) -> None:
        if value < 0:
            # A signed gauge value means "change by", so a negative level is set in two steps
            self.send(name, 0, "g", tags)
        self.send(name, value, "g", tags)

    def line(self, name: str, value: float, kind: str, tags: Tags | None = None) -> str:
        number = f"{value:.6g}" if isinstance(value, float) and not value.is_integer() else str(int(value))
        text = f"{self.prefix}{clean(name)}:{number}|{kind}"
        if tags:
            text += "|#" + ",".join(f"{clean(key)}:{clean(str(item))}" for key, item in sorted(tags.items()))
        return text

    def send(self, name: str, value: float, kind: str, tags: Tags | None = None) -> None:
        payload = self.line(name, value, kind, tags).encode()
        try:
            with self._lock:
                self.socket.sendto(payload, self.address)
        except OSError as error:
            # Metrics are best effort: count and log rarely instead of failing the message
            self.errors += 1
            if self.errors in (1, 10, 100) or self.errors % 1000 == 0:
                logger.warning("statsd send to %s:%d failed (%d so far): %s", *self.address, self.errors, error)

    def close(self) -> None:
        self._finalizer()
