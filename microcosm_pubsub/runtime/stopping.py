"""`pubsub_runner`: the receive loop's settings (old keys elsewhere still read), and its opt-in stop conditions."""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from microcosm_pubsub.graph.config import OLD_KEYS, defaults, runner_setting, typed
from microcosm_pubsub.wire.errors import ConfigurationError


class StopCondition:
    """When the loop should stop receiving, drain and exit 0: once idle for `idle_seconds`, or once `max_messages`
    were received and handled, whichever comes first; with neither, never."""

    def __init__(self, idle_seconds: float | None = None, max_messages: int | None = None, now: float = 0.0) -> None:
        self.idle_seconds = idle_seconds
        self.max_messages = max_messages
        self.remaining = max_messages
        self.since = now

    def budget(self) -> int | None:
        """Messages the loop may still receive; None: no bound."""
        return None if self.remaining is None else max(self.remaining, 0)

    def received(self, count: int, now: float) -> None:
        """`count` messages (perhaps none) came back from one receive."""
        if count:
            self.since = now
        if self.remaining is not None:
            self.remaining -= count

    def reason(self, in_flight: int, now: float) -> str | None:
        """Why the loop should stop now, or None to go on; time with messages in flight is not idle."""
        if in_flight:
            self.since = now
            return None
        idle = now - self.since
        if self.idle_seconds is not None and idle >= self.idle_seconds:
            return f"idle for {idle:.1f}s (stop_when_idle_seconds={self.idle_seconds:g})"
        if self.remaining is not None and self.remaining <= 0:
            return f"{self.max_messages} messages handled (max_messages={self.max_messages})"
        return None


def setting(default: Any, kind: type, valid: Callable[[Any], bool], hint: str) -> Any:
    """A `pubsub_runner` key: its default, its type, the check a value must pass, and what its error asks for."""
    return field(default=default, metadata={"kind": kind, "valid": valid, "hint": hint})


@dataclass(frozen=True)
class RunnerSettings:
    # Exit 1 after this long without a receive instead of looking alive forever; 5 minutes rides out a restart
    unreachable_exit_seconds: float = setting(300.0, float, lambda value: value >= 0, "give 0 (retry forever) or more")
    # Opt-in: after this many seconds with nothing received or in flight, drain and exit 0 (batch and cron jobs)
    stop_when_idle_seconds: float | None = setting(None, float, lambda value: value > 0, "give more than 0")
    # Opt-in: receive at most this many messages, handle them, and exit 0
    max_messages: int | None = setting(None, int, lambda value: value >= 1, "give 1 or more")
    # Handlers run on this many threads (unset: sqs_consumer.concurrency, else 1)
    concurrency: int = setting(1, int, lambda value: value >= 1, "give 1 or more")
    # Messages waiting for or in a handler at most; 0: concurrency + the receive limit (unset: the dispatcher's)
    max_in_flight: int = setting(0, int, lambda value: value >= 0, "give 0 (the default bound) or more")
    # Seconds to wait for running handlers after SIGTERM (unset: the dispatcher's, else 30: Kubernetes' grace period)
    shutdown_timeout_seconds: float = setting(30.0, float, lambda value: value >= 0, "give 0 or more")

    @classmethod
    def from_graph_config(cls, config: Mapping[str, Any]) -> RunnerSettings:
        """The settings of a graph's configuration: `pubsub_runner`, then the old keys it leaves unset."""
        section = dict(config.get("pubsub_runner") or {})
        section.update({key: runner_setting(config, key) for key in OLD_KEYS})
        return cls.from_config(section)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> RunnerSettings:
        """The settings in a `pubsub_runner` section; `ConfigurationError` for one the loop cannot run with."""
        keys = {item.name: item.metadata for item in fields(cls)}
        section = {key: value for key, value in dict(config or {}).items() if value is not None and key in keys}
        settings = cls(**{key: keys[key]["kind"](value) for key, value in section.items()})
        for key, check in keys.items():
            value = getattr(settings, key)
            if value is not None and not check["valid"](value):
                shown = f"{value:g}" if check["kind"] is float else value
                raise ConfigurationError(f"pubsub_runner.{key} is {shown}; {check['hint']}")
        return settings

    def stop_condition(self, clock: Callable[[], float] = time.monotonic) -> StopCondition:
        return StopCondition(self.stop_when_idle_seconds, self.max_messages, clock())


# Keys that moved here from other components declare no default: unset, their old home is read (OLD_KEYS)
@defaults(**{
    item.name: typed(item.metadata["kind"], default_value=None if item.name in OLD_KEYS else item.default)
    for item in fields(RunnerSettings)
})
def configure_pubsub_runner(graph: Any) -> RunnerSettings:
    """`pubsub_runner`: the settings the daemon's receive loop reads, old keys included."""
    return RunnerSettings.from_graph_config(graph.config)
