"""AWS Lambda entry point: the records of an SQS event, or of an SNS subscription, through the dispatcher."""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from microcosm_pubsub.consume.lambda_records import sqs_message_from_record, sqs_message_from_sns_record
from microcosm_pubsub.consume.result import RETURNING, Action, MessageHandlingResult
from microcosm_pubsub.wire.errors import RetryInvocationError
from microcosm_pubsub.wire.fifo import is_fifo


logger = logging.getLogger("microcosm_pubsub.lambda")

# With less time left, records not started are reported rather than risk a timeout (Lambda retries it all)
TIME_MARGIN_MILLIS = 1000
# What a scheduled keep-warm event (one with a "warm" key: the old package's convention) gets back
WARM_UP_ANSWER = "warming up"

Response = dict[str, list[dict[str, str]]]
Record = Mapping[str, Any]


class Daemon(Protocol):
    """What the handler needs of its `ConsumerDaemon`: a name, and the graph built for Lambda."""

    name: str

    def lambda_graph(self) -> Any: ...


def queue_url_from_arn(arn: str) -> str | None:
    """`https://sqs.<region>.amazonaws.com/<account>/<name>` for an SQS queue ARN, else None."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "sqs"]:
        return None
    return f"https://sqs.{parts[3]}.amazonaws.com/{parts[4]}/{parts[5]}"


class LambdaHandler:
    """`handler(event, context)` for a Lambda function subscribed to an SQS queue or an SNS topic.

    Each record runs through the dispatcher, its action from the daemon's table; Lambda deletes every
    record not reported. From SQS the response names the records to retry (`ReportBatchItemFailures`);
    SNS has no partial-batch response, so a record to retry makes the invocation raise
    `RetryInvocationError` once every record was tried, and Lambda retries the whole event.
    """

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self._graph: Any = None

    @property
    def graph(self) -> Any:
        """The daemon's graph, built on the first call and kept for the container's life."""
        if self._graph is None:
            graph = self.daemon.lambda_graph()
            handlers = graph.sqs_message_handler_registry.activate()
            logger.info("%s handling in Lambda: %s", self.daemon.name, ", ".join(sorted(handlers)) or "nothing")
            self._graph = graph
        return self._graph

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> Response | str | None:
        if "warm" in event:
            return WARM_UP_ANSWER
        records = [record for record in event.get("Records") or [] if isinstance(record, Mapping)]
        if records and records[0].get("EventSource") == "aws:sns":
            self.handle_sns(records, context)
            return None
        configured = self.graph.sqs_consumer.sqs_queue_url
        retry = self.handle(records, context, sqs_message_from_record,
                            lambda record: source_queue(record, configured), fifo_group)
        return {"batchItemFailures": [{"itemIdentifier": str(records[index].get("messageId", ""))}
                                      for index in sorted(retry)]}

    def handle_sns(self, records: Sequence[Record], context: Any) -> None:
        """Handle every record; raise `RetryInvocationError` naming those to retry, once all were tried."""
        if retry := self.handle(records, context, sqs_message_from_sns_record, topic):
            ids = {index: str((records[index].get("Sns") or {}).get("MessageId", "")) for index in sorted(retry)}
            raise RetryInvocationError(
                f"{len(retry)} of {len(records)} SNS records must be retried: "
                + ", ".join(f"{message_id} ({retry[index]})" for index, message_id in ids.items()),
                list(ids.values()),
            )

    def handle(
        self, records: Sequence[Record], context: Any, shape: Callable[[Record], dict[str, Any]],
        source: Callable[[Record], str], group: Callable[[Record], str | None] = lambda record: None,
    ) -> dict[int, str]:
        """Run each record through the dispatcher; the indexes of those to deliver again, with why.

        :param shape: the record as the SQS message it stands for
        :param source: the queue or topic it came from, named in its dead-letter attributes
        :param group: its FIFO message group, None off FIFO
        """
        dispatcher, consumer = self.graph.sqs_message_dispatcher, self.graph.sqs_consumer
        retry: dict[int, str] = {}
        # FIFO groups with a record to retry: their later records must wait for it, to keep their order
        held: set[str] = set()
        dead: dict[str, list[tuple[int, MessageHandlingResult]]] = {}
        for index, record in enumerate(records):
            key = group(record)
            if key in held or out_of_time(context):
                retry[index] = "not started"
                continue
            try:
                result = dispatcher.handle_message(consumer.wrap(shape(record)))
                action = dispatcher.decide(result)
            except Exception:
                logger.exception("handling record %d of the event failed", index)
                retry[index] = "raised"
            else:
                if action is Action.DEAD_LETTER:
                    dead.setdefault(source(record), []).append((index, result))
                elif action in RETURNING:
                    retry[index] = result.outcome.name
            if index in retry and key is not None:
                held.add(key)
        dead_letters = dispatcher.dead_letters
        for queue, entries in dead.items():
            results = [result for _, result in entries]
            sent = set() if dead_letters is None else {id(message) for message in dead_letters.send(results, queue)}
            retry.update({index: "dead letter not sent" for index, result in entries if id(result.message) not in sent})
        return retry


def source_queue(record: Record, configured: str | None) -> str:
    """The queue a record came from, for its dead-letter attributes: its event source's URL where it has one."""
    arn = str(record.get("eventSourceARN") or "")
    return queue_url_from_arn(arn) or configured or arn or "unknown"


def topic(record: Record) -> str:
    """The topic an SNS record came from, for its dead-letter attributes."""
    return str((record.get("Sns") or {}).get("TopicArn") or record.get("EventSubscriptionArn") or "unknown")


def fifo_group(record: Record) -> str | None:
    """A FIFO record's message group (a FIFO record without one counts as one group with the others); None off FIFO."""
    if not is_fifo(record.get("eventSourceARN")):
        return None
    attributes = record.get("attributes")
    key = attributes.get("MessageGroupId") if isinstance(attributes, Mapping) else None
    return str(key) if key is not None else ""


def out_of_time(context: Any) -> bool:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return callable(remaining) and remaining() < TIME_MARGIN_MILLIS
