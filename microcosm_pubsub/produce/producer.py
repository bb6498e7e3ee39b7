"""`sns_producer`: validate, encode and publish messages to SNS."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from contextvars import ContextVar, Token
from time import perf_counter, time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from microcosm.constants import DEFAULTS
from microcosm.errors import NotBoundError

from microcosm_pubsub.aws.clients import old_testing_mode
from microcosm_pubsub.consume.context import configured_keys, propagated
from microcosm_pubsub.consume.large_payload import offloader
from microcosm_pubsub.graph.config import defaults, typed
from microcosm_pubsub.graph.doubles import INSPECTABLE_PRODUCER, RECORDING_PRODUCER, build_double
from microcosm_pubsub.middleware.chain import MiddlewareChain, Publication
from microcosm_pubsub.produce.arguments import check_arguments
from microcosm_pubsub.produce.deferred import (
    DeferredBatchProducer,
    DeferredProducer,
    DeferredProduction,
    deferred,
    deferred_batch,
)
from microcosm_pubsub.produce.destinations import QueueSender, check_delay, is_queue
from microcosm_pubsub.produce.message_ids import diverted, new_message_id
from microcosm_pubsub.produce.topics import TopicArns, iter_topic_mappings
from microcosm_pubsub.schemas.codecs import PubSubMessageCodec, encode
from microcosm_pubsub.schemas.registry import PubSubMessageSchemaRegistry
from microcosm_pubsub.schemas.versioning import FIRST, major_of, version_of
from microcosm_pubsub.wire.batching import sized_batches
from microcosm_pubsub.wire.errors import (
    BatchPublishError,
    ConfigurationError,
    MessageTooLargeError,
    ProduceArgumentError,
    PublishError,
    SchemaNotFoundError,
)
from microcosm_pubsub.wire.fifo import Deduplication, FifoIds, group_id_for
from microcosm_pubsub.wire.limits import SNS_MAX_BATCH, SNS_MAX_BATCH_BYTES, SNS_MAX_MESSAGE_BYTES
from microcosm_pubsub.wire.outgoing import (
    MESSAGE_ID_ATTRIBUTE,
    VERSION_ATTRIBUTE,
    OutgoingMessage,
    media_type_attributes,
)


if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import PublishBatchRequestEntryTypeDef

__all__ = [
    "DeferredBatchProducer", "DeferredProducer", "SNSProducer", "configure_sns_producer", "deferred",
    "deferred_batch", "iter_topic_mappings", "time",
]

logger = logging.getLogger("microcosm_pubsub.producer")


@defaults(
    endpoint_url=typed(str, default_value=None),
    profile_name=typed(str, default_value=None),
    region_name=typed(str, default_value=None),
    # Publishing nothing must be asked for: never implied by --debug or --testing
    skip=typed(bool, default_value=False),
    # Give every message a `pubsub_message_id` (idempotent consumers' default key). Off: only where one is
    # needed (an `idempotency_key`, an idempotent handler's follow-ups, the outbox), the old wire otherwise
    message_ids=typed(bool, default_value=False),
    # Messages per old-style batch message (DeferredBatchProducer); PublishBatch takes at most ten of them a call
    deferred_batch_size=typed(int, default_value=100),
    connect_timeout_seconds=typed(float, default_value=5.0),
    read_timeout_seconds=typed(float, default_value=10.0),
    # The old package's names of the two timeouts: when set, they win
    connect_timeout=typed(float, default_value=None),
    read_timeout=typed(float, default_value=None),
    # boto3's standard retry mode, counting the first try
    max_attempts=typed(int, default_value=3),
    # "lean": the calls that scale with messages skip botocore's per-call machinery (docs/operating.md);
    # "botocore": every call through botocore, for its event hooks
    transport=typed(str, default_value="lean"),
    # Record messages instead of publishing them (tests): see microcosm_pubsub.testing
    record=typed(bool, default_value=False),
    # Old testing mode: False in a testing graph gives the recording producer (unset: true; elsewhere unused)
    mock_sns=typed(bool, default_value=None),
    # Large payloads (see large_payload.py): unset, an oversized message raises MessageTooLargeError
    large_payload_bucket=typed(str, default_value=None),
    # Over this (body and attributes, as SNS and the AWS extended clients count), the body goes to S3
    large_payload_threshold_bytes=typed(int, default_value=SNS_MAX_MESSAGE_BYTES),
    large_payload_key_prefix=typed(str, default_value=""),
)
class SNSProducer:
    """Publishes messages; inside a `deferred()` block, holds them until the block succeeds."""

    def __init__(self, graph: Any) -> None:
        # Everything is resolved here, so that a locked graph can produce
        self.graph = graph
        config = graph.config.sns_producer
        self.skip = bool(config.skip)
        self.message_ids = bool(config.message_ids)
        self.deferred_batch_size = int(config.deferred_batch_size)
        if self.deferred_batch_size < 1:
            raise ConfigurationError(
                f"sns_producer.deferred_batch_size is {self.deferred_batch_size}; it must be at least 1"
            )
        self.batch_size = min(self.deferred_batch_size, SNS_MAX_BATCH)
        self._holding: ContextVar[DeferredProduction | None] = ContextVar(f"deferred-{id(self)}", default=None)
        self.schemas: PubSubMessageSchemaRegistry = graph.pubsub_message_schema_registry
        # The version attribute of each schema class published: None for 1.0, which carries none
        self._wire_versions: dict[type[Any], str | None] = {}
        # Configuration does not change under a running graph: read once, not per message
        self.propagated_keys = configured_keys(graph)
        self.topic_arns: TopicArns = graph.sns_topic_arns
        self.middleware: MiddlewareChain = graph.pubsub_middleware
        self._client: SNSClient | None = None
        # A producer that never publishes (skip) needs no region; publishing will say what is missing
        with suppress(ConfigurationError):
            self._client = None if config.record else graph.sns_client
        self.opaque: Any = graph.opaque
        self.offloader = offloader(graph)
        self.queues = QueueSender(graph)
        self.deduplication = Deduplication()
        # Nothing to measure when the graph binds no `pubsub_producer_metrics`
        self.pubsub_producer_metrics: Callable[..., Any] = lambda elapsed_ms, publish_result, **tags: None
        with suppress(NotBoundError):
            self.pubsub_producer_metrics = graph.pubsub_producer_metrics

    @property
    def client(self) -> SNSClient:
        """The SNS client (`sns_client`, its old name)."""
        if self._client is None:
            self._client = self.graph.sns_client
        return self._client

    @client.setter
    def client(self, client: SNSClient) -> None:
        self._client = client

    sns_client = client

    def produce(self, media_type: str, dct: Mapping[str, Any] | None = None, **kwargs: Any) -> str | None:
        """Validate and publish one message; returns its MessageId, None when skipped or deferred.

        Inside `outbox.within(transaction)` the message is written to the outbox instead, and its
        `pubsub_message_id` is returned: the relay publishes it once the transaction commits.

        :param kwargs: the content's fields, and `prepare`'s keywords: `delay_seconds` (0 to 900, for a
            queue), `message_group_id` (FIFO; else the schema's `MESSAGE_GROUP_KEY`), `deduplication_id`,
            `idempotency_key` (the message's id, for a caller that retries: the same key each time),
            `media_type_version` (the major to publish, a number or "major.minor"; unset: major 1 when the media
            type has a version-1 schema, else its highest registered major)
        :raises SchemaNotFoundError: when the registry has no schema of the media type (of that major: the error
            names those it has)
        :raises ValidationError: when the content does not fit its schema or has a key it does not know
        :raises TopicNotDefinedError: when no topic is configured for the media type
        :raises MessageTooLargeError: when the encoded message is over 256 KiB
        :raises ProduceArgumentError: when `delay_seconds` does not suit the destination, or the key is not a string
            of 1 to 128 characters
        :raises PublishError: when SNS refuses the message or cannot be reached
        :raises FifoError: a FIFO topic without a group id, or FIFO ids for a standard topic
        """
        message = self.prepare(media_type, dct, **kwargs)
        holding = self._holding.get()
        if holding is not None:
            holding.pending.append(message)
            return None
        if self.skip:
            logger.info("not publishing %s: sns_producer.skip is set", media_type)
            return None
        if (written := diverted([message])) is not None:
            return written[0]
        return self.publish(message)

    def prepare(
        self, media_type: str, dct: Mapping[str, Any] | None = None, *, delay_seconds: int | None = None,
        message_group_id: str | None = None, deduplication_id: str | None = None, idempotency_key: str | None = None,
        media_type_version: int | str | None = None, **kwargs: Any,
    ) -> OutgoingMessage:
        """Everything before the network: schema, validation, encoding, destination, FIFO group, size, message id."""
        schema = self.codec(media_type, media_type_version).schema
        content = {**dct, **kwargs} if dct and kwargs else (dct or kwargs)
        # A misspelled argument would otherwise vanish from the message without a word
        check_arguments(schema, media_type, content)
        # `time` is looked up here so that tests patching `microcosm_pubsub.producer.time` see their value
        body = encode(schema, media_type, content, self.opaque_data(), published=str(time()))
        destination = self.topic_arns.resolve(media_type)
        attributes = media_type_attributes(media_type)
        # The same on every copy of this message: botocore's retries, deferred blocks, the outbox, a handler's re-run
        if message_id := new_message_id(idempotency_key, self.message_ids):
            attributes[MESSAGE_ID_ATTRIBUTE] = {"DataType": "String", "StringValue": message_id}
        if (version := self.wire_version(type(schema))) is not None:
            attributes[VERSION_ATTRIBUTE] = {"DataType": "String", "StringValue": version}
        message = self.middleware.outgoing(OutgoingMessage(
            topic_arn=destination, media_type=media_type, body=body, attributes=attributes,
            delay_seconds=None if delay_seconds is None else check_delay(media_type, destination, delay_seconds),
            message_group_id=group_id_for(schema, media_type, content, destination, message_group_id, deduplication_id),
            deduplication_id=deduplication_id,
        ))
        if message.size > SNS_MAX_MESSAGE_BYTES and self.offloader is None:
            raise MessageTooLargeError(media_type, message.size, SNS_MAX_MESSAGE_BYTES)
        return message

    def codec(self, media_type: str, version: int | str | None = None) -> PubSubMessageCodec:
        """The codec of the media type's schema of the `version` asked for (see `produce`)."""
        if version is not None:
            try:
                major = major_of(version)
            except ValueError as error:
                raise ProduceArgumentError(f"media_type_version for {media_type}: {error}") from None
            return self.schemas.find_version(media_type, major)
        try:
            return self.schemas.find(media_type)
        except SchemaNotFoundError:
            # No version-1 schema: the highest major declared, when there is one
            majors = self.schemas.known_majors(media_type)
            if not majors:
                raise
            return self.schemas.find_version(media_type, majors[-1])

    def wire_version(self, schema_class: type[Any]) -> str | None:
        """The version attribute's value for messages of `schema_class`: None for version 1.0 (no attribute)."""
        try:
            return self._wire_versions[schema_class]
        except KeyError:
            version = version_of(schema_class)
            wire = self._wire_versions[schema_class] = None if version == FIRST else str(version)
            return wire

    def opaque_data(self) -> Mapping[str, Any]:
        """The caller's opaque context, carried into the message without the per-delivery keys."""
        return propagated(self.opaque.as_dict(), self.propagated_keys)

    def publish(self, message: OutgoingMessage) -> str:
        """Publish one prepared message (`PublishError` if refused); middleware sees the call and may amend it."""
        if (written := diverted([message])) is not None:
            return written[0]
        publication = Publication(message)
        with self.middleware.publishing(publication):
            message = publication.message = self.offload(publication.message)
            started = perf_counter()
            published = False
            try:
                response = self.queues.send(message) if is_queue(message.topic_arn) else self.client.publish(
                    TopicArn=message.topic_arn, Message=message.body, MessageAttributes=message.attributes,
                    **self.fifo_parameters(message),
                )
                published = True
            except (BotoCoreError, ClientError) as error:
                raise PublishError(f"publishing {message.media_type} to {message.topic_arn} failed: {error}") from error
            finally:
                self.pubsub_producer_metrics(
                    (perf_counter() - started) * 1000, publish_result=published, media_type=message.media_type,
                )
            message_id: str = response["MessageId"]
            publication.message_id = message_id
        logger.debug("published %s as %s", message.media_type, message_id)
        return message_id

    def publish_batch(self, messages: list[OutgoingMessage]) -> list[str]:
        """Publish with SNS PublishBatch, per topic; `BatchPublishError` names every entry that failed.

        Inside an outbox block the messages are written to it instead, and their message ids returned.
        """
        if (written := diverted(messages)) is not None:
            return written
        messages = [self.offload(message) for message in messages]
        message_ids: list[str | None] = [None] * len(messages)
        failures: list[dict[str, Any]] = []
        for chunk in batches(messages, self.batch_size):
            if failures:
                chunk = held_back(messages, chunk, failures)
            if chunk:
                self._publish_chunk(messages, chunk, message_ids, failures)
        if failures:
            raise BatchPublishError(sorted(failures, key=lambda failure: failure["index"]), message_ids)
        return [message_id for message_id in message_ids if message_id is not None]

    def _publish_chunk(
        self, messages: list[OutgoingMessage], chunk: list[int], message_ids: list[str | None],
        failures: list[dict[str, Any]],
    ) -> None:
        destination = messages[chunk[0]].topic_arn
        response: Mapping[str, Any]
        try:
            if is_queue(destination):
                response = self.queues.send_batch(destination, [messages[index] for index in chunk], chunk)
            else:
                response = self.client.publish_batch(TopicArn=destination, PublishBatchRequestEntries=[
                    self.batch_entry(index, messages[index]) for index in chunk
                ])
        except (BotoCoreError, ClientError) as error:
            failures.extend(_failure(messages, index, type(error).__name__, str(error)) for index in chunk)
            return
        for success in response.get("Successful", []):
            message_ids[int(success["Id"])] = success["MessageId"]
        for failed in response.get("Failed", []):
            failures.append(_failure(messages, int(failed["Id"]), failed.get("Code", ""), failed.get("Message", "")))

    def batch_entry(self, index: int, message: OutgoingMessage) -> PublishBatchRequestEntryTypeDef:
        """The PublishBatch entry of `message`, named by its index."""
        entry: PublishBatchRequestEntryTypeDef = {
            "Id": str(index), "Message": message.body, "MessageAttributes": message.attributes,
        }
        return {**entry, **self.fifo_parameters(message)}

    def fifo_parameters(self, message: OutgoingMessage) -> FifoIds:
        """A FIFO message's group and deduplication ids for Publish and PublishBatch; none off FIFO."""
        return self.deduplication.parameters(
            self.client, message.topic_arn, message.message_group_id, message.deduplication_id, message.body,
        )

    def offload(self, message: OutgoingMessage) -> OutgoingMessage:
        """The message as it goes on the wire (its body in S3 when too large)."""
        return message if self.offloader is None else self.offloader.offload(message)

    def deferred(self) -> DeferredProduction:
        """A block (or decorator) whose produces are published together, only if it succeeds."""
        return DeferredProduction(self)

    def start_deferring(self, block: DeferredProduction) -> Token[DeferredProduction | None] | None:
        """Hold this context's produces in `block`; the token for `stop_deferring`, None when joining an outer block."""
        return self._holding.set(block) if self._holding.get() is None else None

    def stop_deferring(self, token: Token[DeferredProduction | None]) -> None:
        """Publish directly again, as before the `start_deferring` that gave `token`."""
        self._holding.reset(token)


def configure_sns_producer(graph: Any) -> SNSProducer:
    """`sns_producer`: SNS's, or the testing toolkit's recording one (`record`, or the old testing mode)."""
    # The doubles are built by name (doubles.py), so a production graph never loads the toolkit
    record = graph.config.sns_producer.record
    if record or old_testing_mode(graph):
        double: SNSProducer = build_double(RECORDING_PRODUCER if record else INSPECTABLE_PRODUCER, graph)
        return double
    return SNSProducer(graph)


setattr(configure_sns_producer, DEFAULTS, getattr(SNSProducer, DEFAULTS))


def batches(messages: list[OutgoingMessage], batch_size: int) -> Iterator[list[int]]:
    """Indexes of messages grouped per topic, within SNS's count and size limits per PublishBatch call."""
    by_topic: dict[str, list[int]] = {}
    for index, message in enumerate(messages):
        by_topic.setdefault(message.topic_arn, []).append(index)
    for indexes in by_topic.values():
        yield from sized_batches(
            indexes, lambda index: messages[index].size, max_bytes=SNS_MAX_BATCH_BYTES, max_count=batch_size,
        )


def _failure(messages: list[OutgoingMessage], index: int, code: str, text: str) -> dict[str, Any]:
    return {"index": index, "media_type": messages[index].media_type, "code": code, "message": text}


def held_back(messages: list[OutgoingMessage], chunk: list[int], failures: list[dict[str, Any]]) -> list[int]:
    """The chunk without the FIFO messages whose group had an earlier message fail: they would overtake it."""
    failed = {
        (messages[failure["index"]].topic_arn, messages[failure["index"]].message_group_id) for failure in failures
    }
    kept = []
    for index in chunk:
        message = messages[index]
        if message.message_group_id is not None and (message.topic_arn, message.message_group_id) in failed:
            failures.append(_failure(messages, index, "NotSent", "an earlier message of group "
                                     f"{message.message_group_id} failed; sent after it, this one would overtake it"))
        else:
            kept.append(index)
    return kept
