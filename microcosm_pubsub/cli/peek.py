"""`pubsub peek`: show messages on a queue without consuming them."""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from microcosm_pubsub.cli.common import Clients, add_aws_options, aws_errors
from microcosm_pubsub.cli.output import format_age
from microcosm_pubsub.cli.queues import SQS_MAX_BATCH, find_queue, queue_attributes, read_message, release


# Long enough that one peek never receives the same message twice, short if a peek dies holding them
HOLD_SECONDS = 30
MAX_MESSAGES = 100


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "peek",
        help="show messages on a queue without consuming them",
        description=(
            "Receive up to N messages and show each one's media type, receive count, age, dead-letter "
            "reason (if any) and body, then make them all visible again at once. Nothing is deleted. "
            "A peek is a receive: it adds one to each message's receive count, so on a queue with a "
            "redrive policy a message at its maxReceiveCount may move to the dead-letter queue."
        ),
    )
    parser.add_argument("queue", metavar="QUEUE", help="queue name, URL or ARN")
    parser.add_argument(
        "-n", type=count, default=10, metavar="N", help=f"messages to show (1 to {MAX_MESSAGES}; default 10)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per message and line")
    add_aws_options(parser)
    parser.set_defaults(run=run)


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_MESSAGES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 1 to {MAX_MESSAGES}")
    return value


def receive(sqs: Any, url: str, wanted: int) -> list[dict[str, Any]]:
    """Up to `wanted` messages, stopping at the first empty receive."""
    messages: list[dict[str, Any]] = []
    while len(messages) < wanted:
        response = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(SQS_MAX_BATCH, wanted - len(messages)),
            VisibilityTimeout=HOLD_SECONDS,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        batch = response.get("Messages", [])
        if not batch:
            break
        messages.extend(batch)
    return messages


def summary(raw: dict[str, Any], now: float) -> dict[str, Any]:
    peeked = read_message(raw)
    attributes = raw.get("Attributes", {})
    sent = attributes.get("SentTimestamp")
    message_attributes = {
        name: value.get("StringValue", value.get("BinaryValue"))
        for name, value in (raw.get("MessageAttributes") or {}).items()
    }
    return {
        "message_id": raw.get("MessageId"),
        "media_type": peeked.media_type,
        "receive_count": int(attributes.get("ApproximateReceiveCount", 0)),
        "age_seconds": round(now - int(sent) / 1000, 3) if sent and str(sent).isdigit() else None,
        "reason": message_attributes.get("pubsub_reason"),
        "topic_arn": peeked.topic_arn,
        "attributes": message_attributes,
        "content": peeked.content,
    }


def show(index: int, total: int, message: dict[str, Any]) -> None:
    print(
        f"--- {index}/{total}  {message['media_type'] or '(no media type)'}  receives={message['receive_count']}  "
        f"age={format_age(message['age_seconds'])}  id={message['message_id']}"
    )
    if message["reason"]:
        print(f"reason: {message['reason']}")
    content = message["content"]
    print(content if isinstance(content, str) else json.dumps(content, indent=2, default=str))


def run(args: argparse.Namespace) -> int:
    sqs = Clients(args).sqs()
    queue = find_queue(sqs, args.queue)
    queue_attributes(sqs, queue)  # a missing queue is reported as such, not as a failed receive
    messages: list[dict[str, Any]] = []
    try:
        with aws_errors(f"receiving from {queue.name}"):
            messages = receive(sqs, queue.url, args.n)
    finally:
        # Even on Ctrl-C or a failed receive: what we hold goes back at once, not after HOLD_SECONDS
        refused = release(sqs, queue, [message["ReceiptHandle"] for message in messages])
    now = time.time()
    summaries = [summary(message, now) for message in messages]
    for index, message in enumerate(summaries, start=1):
        if args.json:
            print(json.dumps(message, default=str))
        else:
            show(index, len(summaries), message)
    if not summaries:
        print(f"queue {queue.name} has no visible messages", flush=True)
    if refused:
        print(f"pubsub peek: {refused} messages could not be made visible again; they reappear within "
              f"{HOLD_SECONDS}s", file=sys.stderr)
    return 0
