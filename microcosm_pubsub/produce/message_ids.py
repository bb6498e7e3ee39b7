"""Message ids: the `pubsub_message_id` attribute, an idempotent consumer's key by default.

Every copy of one logical message carries the same id: botocore's retries send the prepared message
again, a deferred block prepares each message once, the outbox stores it with its row, and a handler run
again after a crash derives the same ids for its follow-ups (a uuid5 of the handled message's id, the
handler and the follow-up's rank). Peers on the old package ignore the attribute.

A message carries one where something needs it: a caller's `idempotency_key`, an idempotent handler's
follow-ups, an outbox row; every message once `sns_producer.message_ids` is set. Otherwise the wire stays
the old package's, attribute for attribute (services' tests compare it exactly).
"""
from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import replace

from microcosm_pubsub.effects import current
from microcosm_pubsub.wire.errors import ProduceArgumentError
from microcosm_pubsub.wire.outgoing import MESSAGE_ID_ATTRIBUTE, OutgoingMessage


# The longest id `produce(..., idempotency_key=...)` takes (AWS's limit on its own ids)
MAX_MESSAGE_ID_LENGTH = 128
# Fixed for good: every process, every version, derives the same follow-up ids from the same handling
FOLLOW_UP_NAMESPACE = uuid.UUID("5b0f3a57-4d0e-4c38-9a3c-0d6f1e7c2a91")
_NAMESPACE_BYTES = FOLLOW_UP_NAMESPACE.bytes


def new_message_id(idempotency_key: str | None = None, always: bool = True) -> str | None:
    """The caller's key; else, inside a handler, the handling's next follow-up id; else a new uuid4 (hex).

    Without `always`, only the caller's key or an idempotent handling's follow-up id: None otherwise.
    """
    if idempotency_key is not None:
        return checked_key(idempotency_key)
    handling = current.handling.get()
    if handling is None or not (always or handling.idempotent):
        return uuid_hex(os.urandom(16), 4) if always else None
    rank = handling.produced
    handling.produced = rank + 1
    name = f"{handling.message_id}\n{handling.handler}\n{rank}".encode()
    return uuid_hex(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest(), 5)


def uuid_hex(raw: bytes, version: int) -> str:
    """`uuid.UUID(bytes=raw[:16], version=version).hex` (uuid4 from random bytes, uuid5 from a SHA-1), without
    building UUID objects: this runs for every message produced."""
    octets = bytearray(raw[:16])
    octets[6] = (octets[6] & 0x0F) | (version << 4)
    octets[8] = (octets[8] & 0x3F) | 0x80
    return octets.hex()


def checked_key(key: object) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_MESSAGE_ID_LENGTH:
        shown = repr(key) if not isinstance(key, str) or len(key) <= 40 else f"{key[:40]!r}... ({len(key)} characters)"
        raise ProduceArgumentError(
            f"idempotency_key is {shown}; give a non-empty string of at most {MAX_MESSAGE_ID_LENGTH} characters that "
            "names the logical message (the same key each time the caller retries it)"
        )
    return key


def message_id_of(message: OutgoingMessage) -> str | None:
    """The message's `pubsub_message_id`; None for a message built without `prepare()`."""
    attribute = message.attributes.get(MESSAGE_ID_ATTRIBUTE)
    return None if attribute is None else attribute.get("StringValue")


def with_message_id(message: OutgoingMessage) -> OutgoingMessage:
    """`message` carrying a message id: its own, else a new one (a message built by hand, an old batch entry)."""
    if message_id_of(message):
        return message
    attributes = dict(message.attributes)
    attributes[MESSAGE_ID_ATTRIBUTE] = {"DataType": "String", "StringValue": new_message_id() or ""}
    return replace(message, attributes=attributes)


def diverted(messages: list[OutgoingMessage]) -> list[str] | None:
    """Inside an outbox block (`current.outbox`), `messages` written to it and their ids; else None."""
    target = current.outbox.get()
    if target is None:
        return None
    messages = [with_message_id(message) for message in messages]
    target.add(messages)
    return [message_id_of(message) or "" for message in messages]
