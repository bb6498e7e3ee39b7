"""Kept for old services: `microcosm_pubsub.result`, the core's outcomes with the old package's result API."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from microcosm_pubsub.consume import result as core
from microcosm_pubsub.consume.handler_loop import is_awaitable, run_awaitable
from microcosm_pubsub.consume.logs import log_outcome
from microcosm_pubsub.consume.result import RULES, Action, Outcome, SettlePolicy
from microcosm_pubsub.sentry import capture


if TYPE_CHECKING:
    from microcosm_pubsub.consume.message import SQSMessage


__all__ = [
    "RULES", "WITHOUT_DEAD_LETTER_QUEUE", "Action", "MessageHandlingResult", "MessageHandlingResultType", "Outcome",
    "SettlePolicy",
]
# The old package's name for the outcomes
MessageHandlingResultType = Outcome
# `resolve()` settles a message alone, with no dispatcher configuration to follow
WITHOUT_DEAD_LETTER_QUEUE = SettlePolicy()


def __getattr__(name: str) -> Any:
    """The rest of the outcome model (`RETURNING`, `actions`, ...), which the old module held too."""
    return getattr(core, name)


class MessageHandlingResult(core.MessageHandlingResult):
    """The core's result with the old package's API: `invoke`, `resolve`, `log`, `error_reporting`.

    Built the old way too, from keywords alone (`result=`, `media_type=`, `exc_info=`, `extra=`) without a message.
    """

    def __init__(
        self, message: SQSMessage | None = None, outcome: Outcome | None = None, *args: Any,
        result: Outcome | None = None, media_type: str | None = None, exc_info: Any = None,
        handle_start_time: float | None = None, **kwargs: Any,
    ) -> None:
        chosen = outcome if outcome is not None else result
        if chosen is None:
            raise TypeError("MessageHandlingResult needs an outcome (`outcome=` or the old `result=`)")
        # Only results built the old way, from `result=` alone, have no message
        super().__init__(cast("SQSMessage", message), chosen, *args, **kwargs)
        self._media_type = media_type
        self._exc_info = exc_info
        self.handle_start_time = handle_start_time

    @classmethod
    def invoke(cls, handler: Callable[[Any], Any], message: SQSMessage) -> MessageHandlingResult:
        """Call `handler` with the message's content; its return value or exception is the outcome."""
        started = time.perf_counter()
        try:
            returned = handler(message.content)
            if is_awaitable(returned):
                returned = run_awaitable(returned)
        except Exception as error:
            return cls.from_error(message, error, elapsed=time.perf_counter() - started)
        return cls.from_return(message, returned, elapsed=time.perf_counter() - started)

    @property
    def media_type(self) -> str | None:
        return self._media_type if self._media_type is not None or self.message is None else super().media_type

    @property
    def extra(self) -> dict[str, Any]:
        return super().extra

    @extra.setter
    def extra(self, extra: Mapping[str, Any]) -> None:
        self._extra = dict(extra)

    @property
    def exc_info(self) -> Any:
        return self._exc_info if self._exc_info is not None else super().exc_info

    def resolve(self, message: SQSMessage | None = None) -> MessageHandlingResult:
        """Settle the message alone, one SQS call, as the table says without a dead-letter queue."""
        target = message or self.message
        if target is None:
            raise TypeError("resolve() needs the message to settle")
        action = WITHOUT_DEAD_LETTER_QUEUE.action(self)
        if action is Action.DELETE:
            target.ack()
        elif action is Action.RETRY:
            target.nack(self.retry_seconds)
        return self

    def log(self, logger: logging.Logger, opaque: Mapping[str, Any] | None = None) -> None:
        """The dispatcher's outcome line, to `logger`, with the opaque context and the extra among its fields."""
        log_outcome(logger, self, WITHOUT_DEAD_LETTER_QUEUE.action(self), {**dict(opaque or {}), **self.extra})

    def error_reporting(self, sentry_config: Any, opaque: Mapping[str, Any] | None = None) -> None:
        """Report a FAILED or EXPIRED result that carries an exception, when error reporting is on."""
        if not RULES[self.outcome].reported or self.exc_info is None or not getattr(sentry_config, "enabled", False):
            return
        self._report_error(opaque, dict(getattr(sentry_config, "tag_mapping", None) or {}),
                           getattr(sentry_config, "user_id_key", None))

    def _report_error(
        self, opaque: Mapping[str, Any] | None, tag_mapping: Mapping[str, str], user_id_key: str | None,
    ) -> None:
        # The old package's seam: its tests (and services') patch it to see what would be reported
        context = {str(key).lower(): value for key, value in (opaque or {}).items()}
        tags = {tag: str(context[key.lower()]) for key, tag in tag_mapping.items() if key.lower() in context}
        user_id = context.get(user_id_key.lower()) if user_id_key else None
        try:
            capture(self.exc_info, tags, str(user_id) if user_id else None)
        except ImportError:
            # Without the `sentry` extra there is nothing to report to
            return
