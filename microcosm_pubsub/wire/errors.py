"""One error tree for the package, and the signals a handler raises to choose an outcome."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError


class PubSubError(Exception):
    """Root of every error this package raises."""


class ConfigurationError(PubSubError):
    """Configuration is missing or wrong; the message says which key to set."""


class TopicNotDefinedError(PubSubError):
    """No SNS topic is configured for a media type."""


class LookupFailed(PubSubError, KeyError):
    """A `KeyError` too, as the old package raised, whose text is not quoted."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SchemaNotFoundError(LookupFailed):
    """No schema is registered for a media type."""


class AlreadyRegisteredError(PubSubError):
    """A media type already has a different schema, or two active handlers (the old package's name)."""


class DuplicateHandlerError(AlreadyRegisteredError):
    """Two active handlers claim the same media type."""


class SchemaValidationError(PubSubError, ValidationError):
    """Content does not fit its schema; a marshmallow `ValidationError` whose text names the schema.

    `arguments` maps each wire key to the name a caller (`produce`, `encode`) passes: `amountCents` -> `amount_cents`.
    """

    def __init__(self, schema_name: str, error: ValidationError, arguments: Mapping[str, str] | None = None) -> None:
        ValidationError.__init__(self, error.messages, error.field_name, error.data, error.valid_data)
        self.schema_name = schema_name
        self.arguments = dict(arguments) if arguments is not None else None

    @property
    def argument_messages(self) -> dict[str, Any] | list[Any] | Any:
        """`messages` keyed by the names the caller passed (as `messages` when the content came off the wire)."""
        if self.arguments is None or not isinstance(self.messages, dict):
            return self.messages
        return {self.arguments.get(key, key): value for key, value in self.messages.items()}

    def __str__(self) -> str:
        if self.arguments is None or not isinstance(self.messages, dict):
            return f"content does not fit {self.schema_name}: {self.messages}"
        problems = []
        for key, value in self.messages.items():
            argument = self.arguments.get(key, key)
            name = argument if argument == key else f"{argument} ({key} in the message)"
            text = " ".join(str(item) for item in value) if isinstance(value, list) else str(value)
            problems.append(f"{name}: {text}" if key != "_schema" else text)
        return f"content does not fit {self.schema_name}: " + "; ".join(problems)


class MessageTooLargeError(PubSubError):
    """An encoded message is over the SNS/SQS size limit; nothing was sent."""

    def __init__(self, media_type: str, size: int, limit: int) -> None:
        super().__init__(f"message of media type {media_type} is {size} bytes, over the limit of {limit} bytes; "
                         "set sns_producer.large_payload_bucket to send it through S3, or publish a "
                         "reference to the data instead")
        self.media_type = media_type
        self.size = size
        self.limit = limit


class PublishError(PubSubError):
    """SNS refused or could not be reached for a publish; chained from the boto error."""


class BatchPublishError(PublishError):
    """Some entries of a batched publish failed; `failures` says exactly which."""

    def __init__(self, failures: list[dict[str, Any]], message_ids: list[str | None]) -> None:
        summary = "; ".join(f"#{failure['index']} {failure['media_type']}: {failure['code']} {failure['message']}"
                            for failure in failures)
        super().__init__(f"{len(failures)} of {len(message_ids)} messages were not published: {summary}")
        self.failures = failures
        self.message_ids = message_ids


class LocalEndpointError(PubSubError):
    """The local SNS/SQS endpoint could not start."""


class ConsumeError(PubSubError):
    """Receiving from SQS failed (endpoint unreachable, throttled, queue missing)."""


class HandlerSignal(PubSubError):
    """Base of the exceptions a handler raises on purpose to choose an outcome; not logged as failures."""

    def __init__(self, reason: str | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(reason or type(self).__name__)
        self.reason = reason
        self.extra = extra or {}


class Nack(HandlerSignal):
    """Retry the message after `visibility_timeout_seconds` (0 means at once)."""

    def __init__(self, visibility_timeout_seconds: int | None = None, reason: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(reason, extra)
        self.visibility_timeout_seconds = visibility_timeout_seconds


class SkipMessage(HandlerSignal):
    """The message needs no work; delete it."""

    def __init__(self, reason: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(reason, extra)


class IgnoreMessage(HandlerSignal):
    """The message is not for this service; delete it (or dead-letter it if configured)."""

    def __init__(self, reason: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(reason, extra)


class TTLExpired(HandlerSignal):
    """The message is too old to act on."""


class InvalidMessage(HandlerSignal):
    """The message cannot be acted on as it stands: INVALID, dead-lettered with its reason, never retried."""

    def __init__(self, reason: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(reason, extra)


class HandlerNotFoundError(LookupFailed):
    """No active handler for a media type."""


class QueueExhausted(PubSubError):
    """A reader standing in for SQS (a file, stdin, a Lambda event) has no message left: consuming stops."""


class RetryInvocationError(PubSubError):
    """A Lambda invocation from SNS fails on purpose for `message_ids`: SNS-to-Lambda has no partial response."""

    def __init__(self, message: str, message_ids: list[str]) -> None:
        super().__init__(message)
        self.message_ids = message_ids


class ProduceArgumentError(PubSubError, ValueError):
    """`produce` was given an argument its destination cannot take (a delay for a topic, say); nothing was sent."""


class HandlerCancelledError(PubSubError):
    """An async handler's task was cancelled before it finished: FAILED, so the message is tried again."""
