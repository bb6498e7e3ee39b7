"""`sqs_message_context`: the opaque context a handler runs in, and what of it travels downstream."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from microcosm_pubsub.consume.message import TTL_KEY
from microcosm_pubsub.graph.config import defaults, flag, key_list, typed


if TYPE_CHECKING:
    from microcosm_pubsub.consume.message import SQSMessage


MESSAGE_ID_KEY = "message_id"
URI_KEY = "uri"
RECEIPT_HANDLE_KEY = "receipt_handle"
HANDLER_KEY = "handler"
# Describe this delivery only: never written into a child message or sent as a header
LOCAL_KEYS = frozenset({MESSAGE_ID_KEY, URI_KEY, RECEIPT_HANDLE_KEY, HANDLER_KEY})
ALL_KEYS = "*"


def propagated(opaque: Mapping[str, Any], allowed: frozenset[str] = frozenset({ALL_KEYS})) -> dict[str, Any]:
    """The opaque data a message produced in this context carries: no delivery-local key, only `allowed` ones."""
    everything = ALL_KEYS in allowed
    return {
        key: value
        for key, value in opaque.items()
        if key.lower() not in LOCAL_KEYS and (everything or key.lower() in allowed)
    }


@defaults(
    # Count hops down in x-request-ttl and expire a message that arrives with none left: cuts publish loops
    enable_ttl=typed(bool, default_value=True),
    # Hops a chain of messages may make when its first message carries no x-request-ttl
    initial_ttl=typed(int, default_value=32),
    # Opaque keys a handler's own messages inherit; "*" is every key but the delivery-local ones
    propagated_keys=typed(key_list, default_value=[ALL_KEYS]),
)
class SQSMessageContext:
    """Callable: the opaque context of a message, for `graph.opaque` while it is handled."""

    def __init__(self, graph: Any) -> None:
        config = graph.config.sqs_message_context
        self.enable_ttl = flag(config.enable_ttl, default=True)
        self.initial_ttl = int(config.initial_ttl)
        self.allowed = frozenset(key_list(config.propagated_keys))

    def __call__(self, message: SQSMessage, handler: str | None = None, ttl: int | None = None) -> dict[str, Any]:
        """The context for `message`; the dispatcher passes the handler's name and the TTL it already read."""
        # No lower-casing here: `graph.opaque` normalizes the keys, and the delivery keys set last win
        context: dict[str, Any] = dict(message.opaque_data)
        for key, value in (
            (MESSAGE_ID_KEY, message.message_id), (URI_KEY, message.uri), (RECEIPT_HANDLE_KEY, message.receipt_handle),
            (HANDLER_KEY, handler),
        ):
            if value:
                context[key] = value
        if self.enable_ttl:
            context[TTL_KEY] = str((self.ttl_of(message) if ttl is None else ttl) - 1)
        return context

    def ttl_of(self, message: SQSMessage) -> int:
        """The hops the message had left when it arrived, else `initial_ttl`."""
        ttl = message.ttl
        return self.initial_ttl if ttl is None else ttl

    def expired(self, message: SQSMessage) -> bool:
        return self.enable_ttl and self.ttl_of(message) <= 0

    def propagated(self, opaque: Mapping[str, Any]) -> dict[str, Any]:
        """What of `opaque` a produced message or an outgoing request carries."""
        return propagated(opaque, self.allowed)


def configured_keys(graph: Any) -> frozenset[str]:
    """`sqs_message_context.propagated_keys` from configuration alone: a locked graph may lack the component."""
    section = graph.config.get("sqs_message_context") or {}
    return frozenset(key_list(section.get("propagated_keys", [ALL_KEYS])))


def outgoing_opaque(graph: Any) -> dict[str, Any]:
    """`graph.opaque` as a produced message carries it."""
    return propagated(graph.opaque.as_dict(), configured_keys(graph))
