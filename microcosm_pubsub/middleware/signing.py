"""`pubsub_signing`: HMAC-SHA256 message signatures as middleware, with key rotation by key id."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from microcosm.config.types import boolean

from microcosm_pubsub.consume.envelope import MEDIA_TYPE_ATTRIBUTE
from microcosm_pubsub.graph.config import defaults, typed
from microcosm_pubsub.middleware.chain import ATTRIBUTES, SEAL, Middleware
from microcosm_pubsub.wire.errors import ConfigurationError
from microcosm_pubsub.wire.outgoing import VERSION_ATTRIBUTE, OutgoingMessage


if TYPE_CHECKING:
    from microcosm_pubsub.consume.message import SQSMessage


KEY_ID_ATTRIBUTE = "pubsub_key_id"
SIGNATURE_ATTRIBUTE = "pubsub_signature"
# A key id comes from the wire: quoted and cut short before it goes into a reason or a log line
MAX_SHOWN_KEY_ID_CHARS = 64


def key_map(value: Any) -> dict[str, str]:
    """Key id -> secret, from a mapping or a JSON object string (environment variables).

    :raises ConfigurationError: not `ValueError`, which microcosm would quote, secrets included, in its own message
    """
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            raise ConfigurationError("pubsub_signing.keys is not valid JSON") from None
    if not isinstance(value, Mapping) or not all(isinstance(secret, str) and secret for secret in value.values()):
        raise ConfigurationError("pubsub_signing.keys must be a JSON object of key id -> non-empty secret string")
    return {str(key_id): secret for key_id, secret in value.items()}


def sign(secret: bytes, media_type: str, body: str, version: str | None = None) -> str:
    """The base64 HMAC-SHA256 of the media type, a newline and the exact JSON body, then the version if any.

    `version` is the message's `media_type_version` attribute, which routes it to a major: signed, it cannot be
    changed, added or removed on the way. Without it (version 1) the signed text is what it always was.
    """
    text = f"{media_type}\n{body}"
    if version is not None:
        # After the body, not beside the media type: the media type attribute is free text, so a version-1 reading
        # of "<media type>;version=2.0" would match a version-2 signature; the body is fixed and a JSON object
        # never ends with "=<version>", so neither reading can pass for the other
        text = f"{text}\n{VERSION_ATTRIBUTE}={version}"
    # surrogatepass: a body decoded from the wire may hold lone surrogates; they must not raise
    signed = text.encode("utf-8", "surrogatepass")
    return base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode("ascii")


def _shown(key_id: str) -> str:
    return repr(key_id[:MAX_SHOWN_KEY_ID_CHARS])


class MessageSigning(Middleware):
    """Signs what the producer sends with `signing_key_id`; verifies what arrives with any configured key."""

    # The chain signs after every middleware that changes the body, so the signature covers what is sent
    phase = SEAL
    touches = frozenset({ATTRIBUTES})

    def __init__(
        self, keys: Mapping[str, str], signing_key_id: str | None = None, required: bool | None = None,
    ) -> None:
        if signing_key_id is not None and signing_key_id not in keys:
            raise ConfigurationError(
                f"pubsub_signing.signing_key_id {signing_key_id!r} is not among pubsub_signing.keys"
            )
        if required and not keys:
            raise ConfigurationError("pubsub_signing.required is set but pubsub_signing.keys is empty")
        self._secrets = {key_id: secret.encode() for key_id, secret in keys.items()}
        self.signing_key_id = signing_key_id
        # Once keys are configured, an unsigned message is refused unless asked otherwise (a migration)
        self.required = bool(keys) if required is None else required

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._secrets)

    def outgoing(self, message: OutgoingMessage) -> OutgoingMessage:
        if self.signing_key_id is None:
            return message
        # As a consumer reads it: the attribute's string value (a binary value is not read, so not signed)
        attribute = message.attributes.get(VERSION_ATTRIBUTE)
        version = None if attribute is None else attribute.get("StringValue")
        signature = sign(self._secrets[self.signing_key_id], message.media_type, message.body, version)
        return replace(message, attributes={
            **message.attributes,
            KEY_ID_ATTRIBUTE: {"DataType": "String", "StringValue": self.signing_key_id},
            SIGNATURE_ATTRIBUTE: {"DataType": "String", "StringValue": signature},
        })

    def incoming(self, message: SQSMessage) -> str | None:
        if not self._secrets:
            return None
        # The message as its producer published it, and the attributes it was published with
        body, attributes = message.opened.payload, message.opened.attributes
        key_id, signature = attributes.get(KEY_ID_ATTRIBUTE), attributes.get(SIGNATURE_ATTRIBUTE)
        if key_id is None and signature is None:
            return "unsigned message" if self.required else None
        if key_id is None or signature is None:
            missing = KEY_ID_ATTRIBUTE if key_id is None else SIGNATURE_ATTRIBUTE
            return f"unsigned message: {missing} attribute is missing"
        secret = self._secrets.get(key_id)
        if secret is None:
            return f"unknown key id {_shown(key_id)}"
        # The version the dispatcher routes on is read from these same attributes
        version = attributes.get(VERSION_ATTRIBUTE)
        expected = sign(secret, attributes.get(MEDIA_TYPE_ATTRIBUTE) or message.media_type or "", body, version)
        if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "surrogatepass")):
            if version is None:
                return f"signature does not match: tampered or wrong key (key id {_shown(key_id)})"
            return (f"signature does not match with {VERSION_ATTRIBUTE} {_shown(version)}: tampered (the version "
                    f"included) or wrong key (key id {_shown(key_id)})")
        return None

    def __repr__(self) -> str:
        # Key ids only: the secrets never reach a log line, a traceback or a debugger's display
        return f"<MessageSigning keys={self.key_ids} signing_key_id={self.signing_key_id!r} required={self.required}>"


@defaults(
    # Key id -> secret; a JSON object string from the environment. Empty: signing is off
    keys=typed(key_map, default_value={}),
    # The key id new messages are signed with; unset: verify only (a consumer, or mid-rotation)
    signing_key_id=typed(str, default_value=None),
    # Refuse unsigned messages as INVALID; unset means "yes once keys are configured"
    required=typed(boolean, default_value=None),
)
def configure_pubsub_signing(graph: Any) -> MessageSigning:
    config = graph.config.pubsub_signing
    return MessageSigning(key_map(config.keys), config.signing_key_id or None, config.required)
