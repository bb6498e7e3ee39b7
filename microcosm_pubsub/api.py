"""The public surface in one import."""
from microcosm_pubsub.consume.backoff import ConstantBackoff, ExponentialBackoff
from microcosm_pubsub.consume.logs import JsonFormatter
from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import MessageHandlingResult, Outcome
from microcosm_pubsub.conventions import LifecycleChange, changed, created, deleted, make_media_type
from microcosm_pubsub.effects.idempotency import idempotent, transaction
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import handles, schema, upcaster
from microcosm_pubsub.wire.errors import (
    BatchPublishError,
    ConfigurationError,
    ConsumeError,
    DuplicateHandlerError,
    IgnoreMessage,
    InvalidMessage,
    MessageTooLargeError,
    Nack,
    PublishError,
    PubSubError,
    SchemaNotFoundError,
    SkipMessage,
    TopicNotDefinedError,
    TTLExpired,
)


__all__ = [
    "BatchPublishError", "ConfigurationError", "ConstantBackoff", "ConsumeError", "ConsumerDaemon",
    "DuplicateHandlerError", "ExponentialBackoff", "IgnoreMessage", "InvalidMessage", "JsonFormatter",
    "LifecycleChange",
    "MessageHandlingResult", "MessageTooLargeError", "Nack", "Outcome", "PubSubError", "PubSubMessageSchema",
    "PublishError", "SQSMessage", "SchemaNotFoundError", "SkipMessage", "TTLExpired", "TopicNotDefinedError", "changed",
    "created", "deleted", "handles", "idempotent", "make_media_type", "schema", "transaction", "upcaster",
]
