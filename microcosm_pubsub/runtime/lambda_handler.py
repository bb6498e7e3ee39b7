"""AWS Lambda entry point: handle the records of an SQS event and report the ones to retry."""
from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from microcosm_pubsub.consume.result import Action, MessageHandlingResult
from microcosm_pubsub.wire.fifo import is_fifo


if TYPE_CHECKING:
    from microcosm_pubsub.runtime.daemon import ConsumerDaemon


logger = logging.getLogger("microcosm_pubsub.lambda")

# Lambda deletes every record not reported; these must come back. LEAVE is INVALID without a
# dead-letter queue: reported, so the queue's redrive policy moves it after maxReceiveCount.
RETRIED_ACTIONS = frozenset({Action.RETRY, Action.LEAVE, Action.RELEASE})
# With less time left than this, records not yet started are reported instead of risking a
# timeout, after which Lambda would retry the whole batch, successes included
TIME_MARGIN_MILLIS = 1000

# What a keep-warm event (one with a "warm" key) gets back
WARM_UP_ANSWER = "warming up"

Response = dict[str, list[dict[str, str]]]


def sqs_message_from_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A Lambda SQS event record in the shape boto3's `receive_message` returns."""
    attributes: dict[str, dict[str, Any]] = {}
    for name, value in (record.get("messageAttributes") or {}).items():
        if not isinstance(value, Mapping):
            continue
        attribute: dict[str, Any] = {"DataType": str(value.get("dataType", "String"))}
        if value.get("stringValue") is not None:
            attribute["StringValue"] = str(value["stringValue"])
        if value.get("binaryValue") is not None:
            # Lambda base64-encodes binary attributes; boto3 hands out (and takes) bytes
            try:
                attribute["BinaryValue"] = base64.b64decode(value["binaryValue"])
            except (binascii.Error, TypeError, ValueError):
                continue
        attributes[name] = attribute
    return {
        "MessageId": str(record.get("messageId", "")),
        "ReceiptHandle": str(record.get("receiptHandle", "")),
        "MD5OfBody": str(record.get("md5OfBody", "")),
        "Body": record.get("body", ""),
        "Attributes": dict(record.get("attributes") or {}),
        "MessageAttributes": attributes,
    }


def queue_url_from_arn(arn: str) -> str | None:
    """`https://sqs.<region>.amazonaws.com/<account>/<name>` for an SQS queue ARN, else None."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "sqs"]:
        return None
    _, _, _, region, account, name = parts
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


class LambdaHandler:
    """`handler(event, context)` for a Lambda function subscribed to an SQS queue.

    The daemon's graph is built on the first call (`ConsumerDaemon.lambda_graph`) and kept for the
    container's life. Each record runs through the dispatcher like a received message and its action
    comes from the same table the daemon settles by; the response names the records to retry
    (`ReportBatchItemFailures` must be on in the event source mapping). Nothing is deleted here:
    Lambda deletes every record not named. A configured dead-letter queue gets INVALID and EXPIRED
    records with their reason (and the queue they came from) before they are left for Lambda to
    delete. Retry delays come from the queue's visibility timeout: an explicit `Nack` delay cannot
    be honoured.
    """

    def __init__(self, daemon: ConsumerDaemon) -> None:
        self.daemon = daemon
        self._graph: Any = None

    @property
    def graph(self) -> Any:
        if self._graph is None:
            graph = self.daemon.lambda_graph()
            handlers = graph.sqs_message_handler_registry.activate()
            logger.info("%s handling in Lambda: %s", self.daemon.name, ", ".join(sorted(handlers)) or "nothing")
            self._graph = graph
        return self._graph

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> Response | str | None:
        if "warm" in event:
            # A scheduled keep-warm ping (the old package's convention): the container is up, nothing to handle
            return WARM_UP_ANSWER
        graph = self.graph
        dispatcher, consumer = graph.sqs_message_dispatcher, graph.sqs_consumer
        records = [record for record in event.get("Records") or [] if isinstance(record, Mapping)]
        if records and records[0].get("EventSource") == "aws:sns":
            from microcosm_pubsub.runtime.lambda_sns import handle_sns_records  # a function subscribed to SNS, no queue

            handle_sns_records(graph, records, RETRIED_ACTIONS, lambda: out_of_time(context))
            return None
        retry: set[int] = set()
        # FIFO groups with a record reported: their later records must wait for it, to keep their order
        held: set[str] = set()
        dead: dict[str, list[tuple[int, MessageHandlingResult]]] = {}
        for index, record in enumerate(records):
            group = fifo_group(record)
            if group in held or out_of_time(context):
                retry.add(index)
                continue
            try:
                result = dispatcher.handle_message(consumer.wrap(sqs_message_from_record(record)))
                action = dispatcher.decide(result)
            except Exception:
                logger.exception("handling record %s failed", record.get("messageId"))
                action = Action.RETRY
            if action is Action.DEAD_LETTER:
                dead.setdefault(source_queue(record, consumer.sqs_queue_url), []).append((index, result))
            elif action in RETRIED_ACTIONS:
                retry.add(index)
                if group is not None:
                    held.add(group)
        retry.update(self.dead_letter(dead))
        return {"batchItemFailures": [{"itemIdentifier": str(records[index].get("messageId", ""))}
                                      for index in sorted(retry)]}

    def dead_letter(self, dead: Mapping[str, list[tuple[int, MessageHandlingResult]]]) -> set[int]:
        """Send to the dead-letter queue, by source queue; returns the indexes that could not be sent (to retry)."""
        dead_letters = self.graph.sqs_message_dispatcher.dead_letters
        if dead_letters is None:
            return {index for entries in dead.values() for index, _ in entries}
        failed: set[int] = set()
        for source, entries in dead.items():
            sent = {id(message) for message in dead_letters.send([result for _, result in entries], source)}
            failed.update(index for index, result in entries if id(result.message) not in sent)
        return failed


def source_queue(record: Mapping[str, Any], configured: str | None) -> str:
    """The queue a record came from, for its dead-letter attributes: its event source's URL where it has one."""
    arn = str(record.get("eventSourceARN") or "")
    return queue_url_from_arn(arn) or configured or arn or "unknown"


def fifo_group(record: Mapping[str, Any]) -> str | None:
    """A FIFO record's message group (a FIFO record without one counts as one group with the others); None off FIFO."""
    if not is_fifo(record.get("eventSourceARN")):
        return None
    attributes = record.get("attributes")
    group = attributes.get("MessageGroupId") if isinstance(attributes, Mapping) else None
    return str(group) if group is not None else ""


def out_of_time(context: Any) -> bool:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return callable(remaining) and remaining() < TIME_MARGIN_MILLIS
