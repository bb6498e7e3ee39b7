"""An outgoing message: validated and encoded, ready for SNS."""
from __future__ import annotations

from dataclasses import dataclass

from microcosm_pubsub.limits import SNS_MAX_BATCH, SNS_MAX_MESSAGE_BYTES


# Kept importable from here: the limits themselves live in limits.py
SNS_MAX_BYTES = SNS_MAX_MESSAGE_BYTES
__all__ = ["SNS_MAX_BATCH", "SNS_MAX_BYTES", "OutgoingMessage"]


@dataclass(frozen=True)
class OutgoingMessage:
    """A validated, encoded message and the topic it goes to."""

    topic_arn: str
    media_type: str
    body: str
    attributes: dict[str, dict[str, str]]

    @property
    def size(self) -> int:
        """Bytes SNS counts against its limit: the body and every attribute's name, type and value."""
        attribute_bytes = sum(
            len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
            for name, value in self.attributes.items()
        )
        return len(self.body.encode()) + attribute_bytes
