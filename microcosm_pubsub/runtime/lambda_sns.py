"""AWS Lambda subscribed to an SNS topic: each record through the same envelope, handlers, outcomes and logs.

An SNS record's `Sns` object is the notification SNS would write into a queue (only the spelling of
two URL keys differs, and nothing reads those), so it is shaped into the SQS message that would carry
it and read by the one envelope: signing, tracing, large payloads and foreign-event rules apply as
they do to a queue's messages.

SNS-to-Lambda has no partial-batch response: when a record's outcome asks for a retry (FAILED, a
`Nack`, a record not started for lack of time, a dead letter that could not be sent), the invocation
raises `RetryInvocationError` after every record was tried, so Lambda's asynchronous retries run it
again and, once they are spent, its dead-letter queue or on-failure destination keeps the event.
Records already handled in that invocation run again then: handlers must be idempotent, as they must
for SQS's at-least-once delivery. INVALID and EXPIRED records go to the configured dead-letter queue
(`sqs_message_dispatcher.dead_letter_queue_url`, attribute `pubsub_source_queue` naming the topic);
without one they are retried like a failure, so that Lambda's on-failure destination keeps them.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from microcosm_pubsub.consume.result import Action, MessageHandlingResult
from microcosm_pubsub.wire.errors import RetryInvocationError


logger = logging.getLogger("microcosm_pubsub.lambda")

def _sent_millis(timestamp: Any) -> str | None:
    """SNS's ISO 8601 `Timestamp` as the milliseconds SQS's `SentTimestamp` counts."""
    if not isinstance(timestamp, str) or not timestamp:
        return None
    try:
        return str(int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000))
    except ValueError:
        return None


def sqs_message_from_sns_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A Lambda SNS event record as the SQS message (boto3's shape) a queue subscribed without raw delivery holds."""
    notification = record.get("Sns") or {}
    message_id = str(notification.get("MessageId", ""))
    attributes = {"ApproximateReceiveCount": "1"}
    sent = _sent_millis(notification.get("Timestamp"))
    if sent is not None:
        attributes["SentTimestamp"] = sent
    return {
        "MessageId": message_id,
        # Nothing to settle: Lambda's invocation is the delivery
        "ReceiptHandle": "",
        "Body": json.dumps(notification),
        "Attributes": attributes,
        "MessageAttributes": {},
    }


def handle_sns_records(
    graph: Any,
    records: Sequence[Mapping[str, Any]],
    retried: frozenset[Action],
    out_of_time: Callable[[], bool],
) -> None:
    """Handle every record; raise `RetryInvocationError` naming those to retry, once all were tried.

    `retried`: the actions that call for another delivery (lambda_handler's, shared with SQS events);
    `out_of_time()`: whether the invocation has too little time left to start a record.
    """
    dispatcher, consumer = graph.sqs_message_dispatcher, graph.sqs_consumer
    retry: list[tuple[str, str]] = []
    dead: dict[str, list[MessageHandlingResult]] = {}
    for record in records:
        notification = record.get("Sns") or {}
        message_id = str(notification.get("MessageId", ""))
        if out_of_time():
            retry.append((message_id, "not started: too little time left"))
            continue
        try:
            result = dispatcher.handle_message(consumer.wrap(sqs_message_from_sns_record(record)))
            action = dispatcher.decide(result)
        except Exception:
            logger.exception("handling SNS record %s failed", message_id)
            retry.append((message_id, "raised"))
            continue
        if action is Action.DEAD_LETTER:
            source = str(notification.get("TopicArn") or record.get("EventSubscriptionArn") or "unknown")
            dead.setdefault(source, []).append(result)
        elif action in retried:
            retry.append((message_id, result.outcome.name))
    dead_letters = dispatcher.dead_letters
    for source, results in dead.items():
        sent = set() if dead_letters is None else {id(message) for message in dead_letters.send(results, source)}
        retry.extend((result.message.message_id, "dead letter not sent") for result in results
                     if id(result.message) not in sent)
    if retry:
        listed = ", ".join(f"{message_id} ({why})" for message_id, why in retry)
        raise RetryInvocationError(
            f"{len(retry)} of {len(records)} SNS records must be retried: {listed}",
            [message_id for message_id, _ in retry],
        )
