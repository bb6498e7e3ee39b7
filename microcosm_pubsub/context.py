"""`sqs_message_context`: the opaque data a handler's own messages inherit, through an allow-list."""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from microcosm_pubsub.config import defaults, typed


if TYPE_CHECKING:
    from microcosm_pubsub.message import SQSMessage


def key_list(value: Any) -> list[str]:
    """A list of keys from configuration: a list, or a comma-separated string (environment variables)."""
    if isinstance(value, str):
        value = value.split(",")
    return [str(key).strip().lower() for key in value if str(key).strip()]


# Request identity and trace context travel downstream; anything else must be allowed explicitly
DEFAULT_PROPAGATED_KEYS = [
    "x-request-id",
    "x-request-user",
    "x-request-client",
    "x-request-started-at",
    "traceparent",
    "tracestate",
]


@defaults(
    propagated_keys=typed(key_list, default_value=DEFAULT_PROPAGATED_KEYS),
)
class SQSMessageContext:
    """Callable: the allow-listed opaque data of a message, for `graph.opaque` while it is handled."""

    def __init__(self, graph: Any) -> None:
        self.allowed = frozenset(key_list(graph.config.sqs_message_context.propagated_keys))

    def __call__(self, message: SQSMessage) -> dict[str, str]:
        return self.select(message.opaque_data.items())

    def select(self, items: Iterable[tuple[str, str]]) -> dict[str, str]:
        return {key: value for key, value in items if key.lower() in self.allowed}
