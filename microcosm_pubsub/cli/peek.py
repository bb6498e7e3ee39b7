"""`pubsub peek`: show messages on a queue without consuming them."""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from microcosm_pubsub.cli import queues
from microcosm_pubsub.cli.common import UsageError, add_aws_options, argument_type, aws_client, format_age
from microcosm_pubsub.consume.deadletter import RedrivePolicy
from microcosm_pubsub.wire.limits import SQS_MAX_BATCH


# Long enough that one peek never receives the same message twice, short if a peek dies holding them
HOLD_SECONDS = 30
MAX_MESSAGES = 100
# Below this maxReceiveCount, one peek takes at least half of every message's tries
MIN_SAFE_MAX_RECEIVE_COUNT = 3


def warning(receive_count: int, redrive: RedrivePolicy | None) -> str | None:
    """What this peek did to the message's chances, when that is worth saying."""
    if redrive is None:
        return None
    limit, dead_letter = redrive.max_receive_count, queues.dead_letter_queue(redrive)
    if receive_count >= limit:
        return (f"this peek was receive {receive_count} of {limit}: no consumer will get it again; SQS moves it "
                f"to {dead_letter}, without a reason, at its next receive")
    if receive_count == limit - 1:
        return f"receive {receive_count} of {limit}: a consumer gets one more try before SQS moves it to {dead_letter}"
    return None


HELP = "show messages on a queue without consuming them"
DESCRIPTION = (
    "Receive up to N messages and show each one's media type, receive count, age, dead-letter reason (if any) and "
    "body, then make them all visible again at once. Nothing is deleted.\n\n"
    "Peeking counts as a receive: it adds one to each message's receive count, and SQS cannot show a message's count "
    "before receiving it. On a queue with a redrive policy, a message this peek takes to maxReceiveCount is never "
    "handled again: SQS moves it to the dead-letter queue, without a reason, at its next receive. So peek says before "
    "receiving that it counts, marks each message with its receives out of maxReceiveCount, warns for each one it left "
    "with one receive or none, and refuses a queue whose maxReceiveCount is 1 or 2 (where any peek takes away half or "
    "all of a message's tries) unless --force."
)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("queue", metavar="QUEUE", help="queue name, URL or ARN")
    count = argument_type(int, lambda value: 1 <= value <= MAX_MESSAGES,
                          lambda text: f"{text!r} is not a number from 1 to {MAX_MESSAGES}")
    parser.add_argument("-n", type=count, default=10, metavar="N",
                        help=f"messages to show (1 to {MAX_MESSAGES}; default 10)")
    parser.add_argument("--json", action="store_true", help="one JSON object per message and line")
    parser.add_argument("--force", action="store_true",
                        help=f"peek even when the queue's maxReceiveCount is {MIN_SAFE_MAX_RECEIVE_COUNT - 1} or less")
    add_aws_options(parser)


def summary(raw: dict[str, Any], now: float, redrive: RedrivePolicy | None) -> dict[str, Any]:
    peeked = queues.read_message(raw)
    attributes = raw.get("Attributes", {})
    sent = attributes.get("SentTimestamp")
    message_attributes = {
        name: value.get("StringValue", value.get("BinaryValue"))
        for name, value in (raw.get("MessageAttributes") or {}).items()
    }
    receive_count = int(attributes.get("ApproximateReceiveCount", 0))
    return {
        "message_id": raw.get("MessageId"),
        "media_type": peeked.media_type,
        "receive_count": receive_count,
        "max_receive_count": redrive.max_receive_count if redrive else None,
        "warning": warning(receive_count, redrive),
        "age_seconds": round(now - int(sent) / 1000, 3) if sent and str(sent).isdigit() else None,
        "reason": message_attributes.get("pubsub_reason"),
        # A dead letter's ids before it was dead-lettered: the ones the daemon's log lines name
        "original_message_id": message_attributes.get("pubsub_message_id"),
        "original_sqs_message_id": message_attributes.get("pubsub_sqs_message_id"),
        "topic_arn": peeked.topic_arn,
        "attributes": message_attributes,
        "content": peeked.content,
    }


def show(index: int, total: int, message: dict[str, Any]) -> None:
    limit = f"/{message['max_receive_count']}" if message["max_receive_count"] else ""
    print(f"--- {index}/{total}  {message['media_type'] or '(no media type)'}  receives={message['receive_count']}"
          f"{limit}  age={format_age(message['age_seconds'])}  id={message['message_id']}")
    if message["warning"]:
        print(f"warning: {message['warning']}")
    if message["reason"]:
        print(f"reason: {message['reason']}")
    if message["original_message_id"] or message["original_sqs_message_id"]:
        print(f"original: message_id={message['original_message_id'] or '-'}  "
              f"sqs_message_id={message['original_sqs_message_id'] or '-'}")
    content = message["content"]
    print(content if isinstance(content, str) else json.dumps(content, indent=2, default=str))


def run(args: argparse.Namespace) -> int:
    sqs = aws_client(args, "sqs")
    queue = queues.find_queue(sqs, args.queue)
    # A missing queue is reported as such, not as a failed receive
    redrive = RedrivePolicy.from_attributes(queues.queue_attributes(sqs, queue))
    if redrive is not None:
        limit, dead_letter = redrive.max_receive_count, queues.dead_letter_queue(redrive)
        if limit < MIN_SAFE_MAX_RECEIVE_COUNT and not args.force:
            raise UsageError(f"queue {queue.name} moves a message to {dead_letter} after {limit} "
                             f"receive{'s' if limit > 1 else ''}, and peeking counts as a receive: this peek could "
                             "leave messages it shows with no try left (pass --force to peek anyway)")
        print(f"pubsub peek: peeking counts as a receive: {queue.name} moves a message to {dead_letter} after "
              f"{limit} receives", file=sys.stderr, flush=True)
    messages: list[dict[str, Any]] = []
    try:
        while len(messages) < args.n:
            batch = queues.receive(sqs, queue, min(SQS_MAX_BATCH, args.n - len(messages)), HOLD_SECONDS)
            if not batch:
                break
            messages.extend(batch)
    finally:
        # Even on Ctrl-C or a failed receive: what we hold goes back at once, not after HOLD_SECONDS
        refused = queues.release(sqs, queue, [message["ReceiptHandle"] for message in messages])
    now = time.time()
    summaries = [summary(message, now, redrive) for message in messages]
    for index, message in enumerate(summaries, start=1):
        if args.json:
            print(json.dumps(message, default=str))
        else:
            show(index, len(summaries), message)
    if not summaries:
        print(f"queue {queue.name} has no visible messages", flush=True)
    spent = sum(1 for message in summaries if redrive and message["receive_count"] >= redrive.max_receive_count)
    if spent and redrive:
        dead_letter = queues.dead_letter_queue(redrive)
        print(f"pubsub peek: warning: {spent} message{'s' if spent > 1 else ''} reached maxReceiveCount "
              f"{redrive.max_receive_count} with this peek and will move to {dead_letter} without a reason at the "
              f"next receive; `pubsub requeue {dead_letter} --to {queue.name}` brings them back after", file=sys.stderr)
    if refused:
        print(f"pubsub peek: {refused} messages could not be made visible again; they reappear within "
              f"{HOLD_SECONDS}s", file=sys.stderr)
    return 0
