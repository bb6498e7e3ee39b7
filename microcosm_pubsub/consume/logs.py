"""Structured logs: a JSON formatter for the per-message records, daemon log switches, redacted start-up config."""
from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.schemas.codecs import PUBLISHED_KEY
from microcosm_pubsub.wire.errors import ConfigurationError


if TYPE_CHECKING:
    from microcosm_pubsub.consume.result import Action, MessageHandlingResult


# The dispatcher's per-message lines; its level turns them down without touching any counter
MESSAGE_LOGGER = "microcosm_pubsub.dispatcher"
PUBSUB_ATTRIBUTE = "pubsub"
# The per-outcome line; its fields are also on the record (`pubsub`) for structured formatters
OUTCOME_LINE = "%s %s %s receive_count=%s handler=%s elapsed_ms=%.1f action=%s%s"
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

REDACTED = "***"
SECRET_KEY = re.compile(r"secret|passw|token|key|credential", re.IGNORECASE)
# Keys that match SECRET_KEY but name no secret, so operators can still read them
NOT_SECRET_KEYS = frozenset({"propagated_keys", "signing_key_id", "large_payload_key_prefix"})
# user:password@ inside a URL (a broker or proxy URL in some config value)
URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def published_at(opaque_data: Mapping[str, str]) -> float | None:
    """When the producer stamped `x-request-published` (epoch seconds), or None."""
    stamp = opaque_data.get(PUBLISHED_KEY)
    if stamp is None and opaque_data:
        # Keys off the wire are lower-case; opaque data built by hand (old tests, scripts) may not be
        stamp = next((value for key, value in opaque_data.items() if str(key).lower() == PUBLISHED_KEY), None)
    try:
        return None if stamp is None else float(stamp)
    except ValueError:
        return None


def seconds_since(published: float | None, now: float | None = None) -> float | None:
    if published is None:
        return None
    # Producers' clocks drift; a small negative age is skew, not time travel
    return max((time.time() if now is None else now) - published, 0.0)


def seconds_since_published(opaque_data: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds since the producer stamped `x-request-published`; None when absent or unreadable."""
    return seconds_since(published_at(opaque_data), now)


def log_outcome(
    logger: logging.Logger, result: MessageHandlingResult, action: Action, more: Mapping[str, Any] | None = None,
) -> None:
    """One line per outcome at its level, its fields under `pubsub`; `more`: the old `result.log`'s, ours win."""
    # The record is built here, naming the caller: `logger.log` finding the frame is a tenth of the line's cost
    level = result.level
    if not logger.isEnabledFor(level):
        return
    message = result.message
    outcome = result.outcome
    elapsed_ms = round(result.elapsed_seconds * 1000, 3)
    # The old API's results built from `result=` alone have no message
    since_published = seconds_since_published(message.opaque_data) if message else None
    fields = {
        **(more or {}), "media_type": result.media_type, "message_id": message and message.message_id,
        "outcome": outcome.value, "action": action.value, "reason": result.reason,
        "receive_count": message and message.approximate_receive_count, "handler": result.handler,
        "elapsed_ms": elapsed_ms,
        "since_published_ms": None if since_published is None else round(since_published * 1000, 3),
    }
    error = result.error if outcome is Outcome.FAILED else None
    caller = sys._getframe(1)
    logger.handle(logger.makeRecord(
        logger.name, level, caller.f_code.co_filename, caller.f_lineno, OUTCOME_LINE,
        (
            outcome.name, fields["media_type"], fields["message_id"], fields["receive_count"], fields["handler"],
            elapsed_ms, fields["action"], f" reason={result.reason}" if result.reason else "",
        ),
        (type(error), error, error.__traceback__) if error is not None else None,
        caller.f_code.co_name, {PUBSUB_ATTRIBUTE: fields},
    ))


# One encoder for every line: `json.dumps` with options builds a new one per call
_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the `pubsub` fields at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "thread": record.threadName,
        }
        fields = getattr(record, PUBSUB_ATTRIBUTE, None)
        if isinstance(fields, Mapping):
            document.update({key: value for key, value in fields.items() if key not in document})
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return _ENCODER.encode(document)


def level_of(value: Any) -> int:
    """A logging level from a name ("warning") or a number."""
    if isinstance(value, int):
        return value
    level = logging.getLevelName(str(value).strip().upper())
    if not isinstance(level, int):
        raise ConfigurationError(f"unknown log level {value!r}")
    return level


def configure_daemon_logging(
    graph: Any, log_format: str | None = None, handlers: Iterable[logging.Handler] | None = None,
) -> None:
    """Apply `logging.format` (`log_format` wins), `logging.level` and `logging.message_level` (per-message lines)."""
    section = graph.config.get("logging") or {}
    config: Mapping[str, Any] = section if isinstance(section, Mapping) else {}
    chosen = str(log_format or config.get("format") or "").lower()
    if chosen:
        if chosen not in FORMATS:
            raise ConfigurationError(f"log format {chosen!r} is not one of {', '.join(FORMATS)}")
        formatter = JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT)
        for handler in logging.getLogger().handlers if handlers is None else handlers:
            handler.setFormatter(formatter)
    # --debug wins: microcosm-logging, when installed, sets a default `logging.level` of INFO
    if config.get("level") is not None and not getattr(graph.metadata, "debug", False):
        logging.getLogger().setLevel(level_of(config["level"]))
    if config.get("message_level") is not None:
        logging.getLogger(MESSAGE_LOGGER).setLevel(level_of(config["message_level"]))


def redact(value: Any, key: str = "") -> Any:
    """A copy of `value` (a configuration) with secret-looking keys' values replaced by `***`."""
    if key and key.lower() not in NOT_SECRET_KEYS and SECRET_KEY.search(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(name): redact(item, str(name)) for name, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return URL_USERINFO.sub(f"{REDACTED}@", value)
    return value if value is None or isinstance(value, bool | int | float) else str(value)


def log_configuration(
    logger: logging.Logger, name: str, config: Mapping[str, Any], sections: Iterable[str] | None = None,
) -> None:
    """Log the configuration once at DEBUG, secrets redacted, as JSON; `sections`: those shown (None: all)."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    shown = config if sections is None else {key: config[key] for key in sorted(set(sections)) if key in config}
    redacted = redact(shown)
    logger.debug(
        "%s configuration: %s", name, json.dumps(redacted, sort_keys=True, default=str),
        extra={"configuration": redacted},
    )
