"""The `MetricsSink` interface and the in-memory sink (the default, and what tests read)."""
from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Protocol, TypeVar


Tags = Mapping[str, str]
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
V = TypeVar("V")


class MetricsSink(Protocol):
    """Where metrics go. Names carry no prefix; each sink applies its own naming convention."""

    def increment(self, name: str, value: float = 1, tags: Tags | None = None) -> None:
        """Add `value` to a counter."""

    def observe(self, name: str, value: float, tags: Tags | None = None) -> None:
        """Record one value of a distribution (a latency, a batch size)."""

    def gauge(self, name: str, value: float, tags: Tags | None = None) -> None:
        """Set a value that goes up and down (messages in flight)."""

    def close(self) -> None:
        """Release sockets and servers; the sink is not used afterwards."""


def series(name: str, tags: Tags | None) -> SeriesKey:
    return name, tuple(sorted((tags or {}).items()))


@dataclass(frozen=True)
class Summary:
    """What the in-memory sink keeps of a distribution: enough to check, bounded in memory."""

    count: int = 0
    total: float = 0.0
    minimum: float | None = None
    maximum: float | None = None

    def add(self, value: float) -> Summary:
        return Summary(
            self.count + 1,
            self.total + value,
            value if self.minimum is None else min(self.minimum, value),
            value if self.maximum is None else max(self.maximum, value),
        )

    def merge(self, other: Summary) -> Summary:
        lows = [value for value in (self.minimum, other.minimum) if value is not None]
        highs = [value for value in (self.maximum, other.maximum) if value is not None]
        total = self.total + other.total
        return Summary(self.count + other.count, total, min(lows, default=None), max(highs, default=None))


class InMemorySink:
    """Counters, distribution summaries and gauges; `count`, `summary` and `gauge_value` add up matching series."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[SeriesKey, float] = {}
        self.summaries: dict[SeriesKey, Summary] = {}
        self.gauges: dict[SeriesKey, float] = {}

    def increment(self, name: str, value: float = 1, tags: Tags | None = None) -> None:
        key = series(name, tags)
        with self._lock:
            self.counters[key] = self.counters.get(key, 0) + value

    def observe(self, name: str, value: float, tags: Tags | None = None) -> None:
        key = series(name, tags)
        with self._lock:
            self.summaries[key] = self.summaries.get(key, Summary()).add(value)

    def gauge(self, name: str, value: float, tags: Tags | None = None) -> None:
        with self._lock:
            self.gauges[series(name, tags)] = value

    def close(self) -> None:
        pass

    def _matching(self, store: dict[SeriesKey, V], name: str, tags: Tags) -> list[V]:
        """The values of `store`'s series named `name` that carry at least `tags`."""
        with self._lock:
            return [value for key, value in store.items() if key[0] == name and set(tags.items()) <= set(key[1])]

    def count(self, name: str, **tags: str) -> float:
        return sum(self._matching(self.counters, name, tags))

    def summary(self, name: str, **tags: str) -> Summary:
        return reduce(Summary.merge, self._matching(self.summaries, name, tags), Summary())

    def gauge_value(self, name: str, **tags: str) -> float | None:
        values = self._matching(self.gauges, name, tags)
        return sum(values) if values else None


class FanoutSink:
    """Sends every metric to each of `sinks` (for example in-memory and StatsD)."""

    def __init__(self, sinks: Iterable[MetricsSink]) -> None:
        self.sinks: Sequence[MetricsSink] = list(sinks)

    def increment(self, name: str, value: float = 1, tags: Tags | None = None) -> None:
        for sink in self.sinks:
            sink.increment(name, value, tags)

    def observe(self, name: str, value: float, tags: Tags | None = None) -> None:
        for sink in self.sinks:
            sink.observe(name, value, tags)

    def gauge(self, name: str, value: float, tags: Tags | None = None) -> None:
        for sink in self.sinks:
            sink.gauge(name, value, tags)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
