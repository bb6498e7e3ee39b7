"""The public surface in one import."""
from microcosm_pubsub.backoff import ConstantBackoff, ExponentialBackoff
from microcosm_pubsub.codecs import PubSubMessageSchema
from microcosm_pubsub.conventions import LifecycleChange, changed, created, deleted, make_media_type
from microcosm_pubsub.daemon import ConsumerDaemon
from microcosm_pubsub.decorators import handles, schema
from microcosm_pubsub.errors import (
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
from microcosm_pubsub.message import SQSMessage
from microcosm_pubsub.result import MessageHandlingResult, Outcome


__all__ = [
    "BatchPublishError",
    "ConfigurationError",
    "ConstantBackoff",
    "ConsumeError",
    "ConsumerDaemon",
    "DuplicateHandlerError",
    "ExponentialBackoff",
    "IgnoreMessage",
    "InvalidMessage",
    "LifecycleChange",
    "MessageHandlingResult",
    "MessageTooLargeError",
    "Nack",
    "Outcome",
    "PubSubError",
    "PubSubMessageSchema",
    "PublishError",
    "SQSMessage",
    "SchemaNotFoundError",
    "SkipMessage",
    "TTLExpired",
    "TopicNotDefinedError",
    "changed",
    "created",
    "deleted",
    "handles",
    "make_media_type",
    "schema",
]
