"""Settling (the consumer's `settlement`): each outcome through the one action table, logged, sent in batches."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cached_property
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.consume.deadletter import BatchSender, DeadLetterQueue, RedrivePolicy
from microcosm_pubsub.consume.large_payload import Cleaner
from microcosm_pubsub.consume.logs import log_outcome
from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import Action, MessageHandlingResult, SettlePolicy
from microcosm_pubsub.middleware.chain import MiddlewareChain
from microcosm_pubsub.wire.errors import ConfigurationError


# The per-outcome lines keep the logger they always had
logger = logging.getLogger("microcosm_pubsub.dispatcher")


class Queue(BatchSender, Protocol):
    """The queue calls settling makes (the consumer's)."""

    @property
    def queue_url(self) -> str: ...

    def retry_delay(self, message: SQSMessage, visibility_timeout_seconds: int | None = None) -> int: ...

    def delete_batch(self, messages: Sequence[SQSMessage]) -> list[SQSMessage]: ...

    def change_visibility_batch(self, settings: Sequence[tuple[SQSMessage, int]]) -> list[SQSMessage]: ...

    def find_queue_url(self, name: str, account: str) -> str: ...


class Settlement:
    """What SQS is told about results: deleted, returned after a delay, or dead-lettered with a reason."""

    def __init__(
        self, consumer: Queue, middleware: MiddlewareChain, config: Any, payload_cleaner: Cleaner | None,
    ) -> None:
        if config.dead_letter_ignored and not config.dead_letter_queue_url:
            raise ConfigurationError(
                "sqs_message_dispatcher.dead_letter_ignored needs sqs_message_dispatcher.dead_letter_queue_url"
            )
        self.consumer = consumer
        self.middleware = middleware
        self.dead_letter_ignored = bool(config.dead_letter_ignored)
        self.follows_redrive_policy = bool(config.dead_letter_from_redrive_policy)
        self.dead_letter_queue_url: str | None = config.dead_letter_queue_url
        self.policy = SettlePolicy(bool(self.dead_letter_queue_url), self.dead_letter_ignored)
        self.payload_cleaner = payload_cleaner

    @cached_property
    def dead_letters(self) -> DeadLetterQueue | None:
        return DeadLetterQueue(self.consumer, self.dead_letter_queue_url) if self.dead_letter_queue_url else None

    @property
    def last_receive(self) -> int | None:
        """The receive count from which a failure is the message's last try."""
        return self.policy.last_receive

    def follow_redrive_policy(self, policy: RedrivePolicy, max_processing_attempts: int | None) -> None:
        """Dead-letter with a reason what SQS's redrive would move without one; explicit configuration wins."""
        if not self.follows_redrive_policy:
            return
        if max_processing_attempts is not None:
            if max_processing_attempts >= policy.max_receive_count:
                logger.warning(
                    "message_max_processing_attempts=%d is not below the queue's maxReceiveCount %d: SQS moves "
                    "a message that keeps failing to %s without a reason before that limit is reached",
                    max_processing_attempts, policy.max_receive_count, policy.dead_letter_target_arn,
                )
            return
        if not self.dead_letter_queue_url:
            try:
                self.dead_letter_queue_url = policy.dead_letter_queue_url(self.consumer.find_queue_url)
            except (BotoCoreError, ClientError, KeyError, ValueError) as error:
                logger.warning(
                    "cannot find the dead-letter queue %s of the redrive policy (%s); messages that keep failing "
                    "reach it without a reason: set sqs_message_dispatcher.dead_letter_queue_url",
                    policy.dead_letter_target_arn, error,
                )
                return
            self.__dict__.pop("dead_letters", None)
        self.policy = SettlePolicy(True, self.dead_letter_ignored, last_receive=policy.max_receive_count)
        logger.info(
            "dead-lettering to %s with a reason: invalid messages, and failed ones at receive %d "
            "(the queue's maxReceiveCount)", self.dead_letter_queue_url, policy.max_receive_count,
        )

    def action(self, result: MessageHandlingResult) -> Action:
        return self.policy.action(result)

    def decide(self, result: MessageHandlingResult) -> Action:
        """The result's action, logged and told to the middleware: every settle path does this."""
        action = result.action or self.policy.action(result)
        log_outcome(logger, result, action)
        self.middleware.settled(result, action)
        return action

    def settle(self, results: Sequence[MessageHandlingResult], release: Sequence[SQSMessage] = ()) -> None:
        """Tell SQS every result in as few calls as it allows; `release` messages (not handled) are visible at once."""
        consumer = self.consumer
        deletes: list[SQSMessage] = []
        visibility: list[tuple[SQSMessage, int]] = [(message, 0) for message in release]
        dead: list[MessageHandlingResult] = []
        for result in results:
            action = self.decide(result)
            if action is Action.DELETE:
                deletes.append(result.message)
            elif action is Action.RETRY:
                visibility.append((result.message, consumer.retry_delay(result.message, result.retry_seconds)))
            elif action is Action.DEAD_LETTER:
                dead.append(result)
        # Dead-lettered messages keep their object: only those deleted after handling give it up
        handled = list(deletes) if self.payload_cleaner is not None else []
        if dead and self.dead_letters is not None:
            deletes.extend(self.dead_letters.send(dead, consumer.queue_url))
        if deletes:
            undeleted = consumer.delete_batch(deletes)
            if handled and self.payload_cleaner is not None:
                self.payload_cleaner.delete_objects(handled, undeleted)
        if visibility:
            consumer.change_visibility_batch(visibility)
