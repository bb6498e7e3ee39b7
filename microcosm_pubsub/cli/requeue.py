"""`pubsub requeue`: move messages from a dead-letter queue back to a queue, never losing or doubling one."""
from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    CommandError,
    UsageError,
    add_aws_options,
    argument_type,
    aws_client,
    describe_aws_error,
    stop_on_signals,
)
from microcosm_pubsub.cli.queues import Queue, find_queue, queue_attributes, read_message, receive, release
from microcosm_pubsub.wire.batching import sized_batches
from microcosm_pubsub.wire.limits import SQS_BATCH_TARGET_BYTES, SQS_MAX_BATCH
from microcosm_pubsub.wire.wildcards import candidate_keys


# Messages we receive and keep (no match, dry run) stay hidden this long, or until we release them at the end
HOLD_SECONDS = 300
# Counted per message beside its body: the attributes we keep, generously
ATTRIBUTE_BYTES = 1_024
DEAD_LETTER_PREFIX = "pubsub_"
PROGRESS_EVERY_SECONDS = 5.0


@dataclass
class Counts:
    moved: int = 0
    would_move: int = 0
    skipped: int = 0
    failed: int = 0
    duplicated: int = 0


def kept_attributes(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value}
        for name, value in (raw.get("MessageAttributes") or {}).items()
        if not name.startswith(DEAD_LETTER_PREFIX)
    }


def message_bytes(message: dict[str, Any]) -> int:
    return len(message.get("Body", "").encode()) + ATTRIBUTE_BYTES


class Mover:
    """Receives from the source in batches, moves the matching messages, and holds the others until the end."""

    def __init__(self, sqs: Any, source: Queue, target: Queue, args: argparse.Namespace, stop: threading.Event) -> None:
        self.sqs = sqs
        self.source = source
        self.target = target
        self.args = args
        self.stop = stop
        self.counts = Counts()
        self.held: dict[str, str] = {}  # message id -> latest receipt handle
        self.seen: set[str] = set()
        self.batch_size = min(SQS_MAX_BATCH, max(1, int(args.rate))) if args.rate else SQS_MAX_BATCH
        self.error: str | None = None  # why receiving stopped early, if it did
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self.reported: float | None = None  # when progress was last shown

    def remaining(self) -> int:
        taken = self.counts.would_move + self.counts.moved + self.counts.duplicated
        return self.batch_size if self.args.limit is None else self.args.limit - taken

    def run(self) -> Counts:
        try:
            while not self.stop.is_set() and self.remaining() > 0:
                try:
                    received = receive(self.sqs, self.source, min(self.batch_size, self.remaining()), HOLD_SECONDS)
                except CommandError as error:
                    self.error = str(error)
                    break
                # SQS may deliver one message twice in a batch; only the latest receipt handle deletes it
                batch = list({message["MessageId"]: message for message in received}.values())
                fresh = [message for message in batch if message["MessageId"] not in self.seen]
                self.hold([message for message in batch if message not in fresh])
                if not fresh:
                    break  # the source is empty, or holds only messages this run already passed over
                self.seen.update(message["MessageId"] for message in fresh)
                matching = [message for message in fresh if self.matches(message)]
                self.hold([message for message in fresh if message not in matching])
                self.counts.skipped += len(fresh) - len(matching)
                if self.args.dry_run:
                    self.counts.would_move += len(matching)
                    self.hold(matching)
                else:
                    for chunk in sized_batches(matching, message_bytes, max_bytes=SQS_BATCH_TARGET_BYTES):
                        self.move(chunk)
                self.report_progress()
                if self.args.rate:
                    processed = self.counts.moved + self.counts.would_move + self.counts.failed + self.counts.duplicated
                    self.stop.wait(self.started + processed / self.args.rate - time.monotonic())
        finally:
            release(self.sqs, self.source, list(self.held.values()))
            if self.tty and self.reported is not None:
                sys.stderr.write("\n")
        return self.counts

    def report_progress(self) -> None:
        """One line on stderr: rewritten in place on a terminal, repeated now and then in a log."""
        if not self.tty and time.monotonic() - (self.reported or self.started) < PROGRESS_EVERY_SECONDS:
            return
        counts = self.counts
        done = f"{counts.would_move} would move" if self.args.dry_run else f"{counts.moved} moved"
        text = f"requeue: {done}, {counts.skipped} skipped, {counts.failed} failed"
        sys.stderr.write(f"\r{text}\033[K" if self.tty else f"{text}\n")
        sys.stderr.flush()
        self.reported = time.monotonic()

    def matches(self, message: dict[str, Any]) -> bool:
        if self.args.media_type is not None:
            media_type = read_message(message).media_type
            if media_type is None or self.args.media_type not in candidate_keys(media_type):
                return False
        if self.args.reason is not None:
            reason = (message.get("MessageAttributes") or {}).get("pubsub_reason", {}).get("StringValue") or ""
            return self.args.reason in reason
        return True

    def hold(self, messages: list[dict[str, Any]]) -> None:
        self.held.update((message["MessageId"], message["ReceiptHandle"]) for message in messages)

    def move(self, messages: list[dict[str, Any]]) -> None:
        """Send, then delete from the source exactly what was sent; what failed stays on the source."""
        entries = [
            {"Id": str(index), "MessageBody": message["Body"], "MessageAttributes": kept_attributes(message)}
            for index, message in enumerate(messages)
        ]
        try:
            response = self.sqs.send_message_batch(QueueUrl=self.target.url, Entries=entries)
        except (BotoCoreError, ClientError) as error:
            self.fail(messages, f"sending to {self.target.name} failed: {describe_aws_error(error)}")
            return
        for failure in response.get("Failed", []):
            self.fail([messages[int(failure["Id"])]], f"sending to {self.target.name} failed: {failure.get('Message')}")
        sent = [messages[int(success["Id"])] for success in response.get("Successful", [])]
        if not sent:
            return
        deletes = [{"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(sent)]
        try:
            undeleted = self.sqs.delete_message_batch(QueueUrl=self.source.url, Entries=deletes).get("Failed", [])
        except (BotoCoreError, ClientError) as error:
            undeleted = [{"Message": describe_aws_error(error)}] * len(sent)
        self.counts.moved += len(sent) - len(undeleted)
        if undeleted:
            # Sent but still on the source: the one case where a message is on both queues; say so loudly
            self.counts.duplicated += len(undeleted)
            print(f"pubsub requeue: error: {len(undeleted)} messages were sent to {self.target.name} but could "
                  f"not be deleted from {self.source.name}, so they are on both: {undeleted[0].get('Message')}",
                  file=sys.stderr)

    def fail(self, messages: list[dict[str, Any]], why: str) -> None:
        self.counts.failed += len(messages)
        self.hold(messages)
        print(f"pubsub requeue: error: {len(messages)} messages left on {self.source.name}: {why}", file=sys.stderr)


HELP = "move messages from a dead-letter queue back to a queue"
DESCRIPTION = (
    "Move messages from SOURCE (usually a dead-letter queue) to --to QUEUE in batches of up to ten: each batch is sent "
    "to the target first and deleted from SOURCE only once the send succeeded. The body and message attributes are "
    "kept as they are, except the pubsub_* attributes the dead-letter path added (pubsub_reason, pubsub_outcome, ...), "
    "which are dropped so the consumer sees the message as its producer sent it. Messages that do not match the "
    "filters stay on SOURCE, visible again when the run ends. Ctrl-C (or SIGTERM) finishes the batch in hand and stops "
    "(exit status 130): no message is dropped or sent twice. Progress goes to stderr, the final counts to stdout."
)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SOURCE", help="queue to take messages from: name, URL or ARN")
    parser.add_argument("--to", required=True, metavar="QUEUE", help="queue to put them on: name, URL or ARN")
    parser.add_argument("--media-type", metavar="MT", help="only this media type ('prefix.*' matches one last segment)")
    parser.add_argument("--reason", metavar="TEXT", help="only messages whose pubsub_reason attribute contains TEXT")
    parser.add_argument("--limit", type=positive(int), metavar="N", help="move at most N messages")
    parser.add_argument("--rate", type=positive(float), metavar="PER_SECOND",
                        help="move at most this many messages a second, to spare a recovering consumer")
    parser.add_argument("--dry-run", action="store_true", help="count what would move, and move nothing")
    add_aws_options(parser)


def positive(kind: Callable[[str], float]) -> Callable[[str], Any]:
    return argument_type(kind, lambda value: value > 0, lambda text: f"{text!r} is not a positive number")


def message_count(count: int) -> str:
    return f"{count} message{'' if count == 1 else 's'}"


def run(args: argparse.Namespace) -> int:
    sqs = aws_client(args, "sqs")
    source, target = find_queue(sqs, args.source), find_queue(sqs, args.to)
    source_arn = queue_attributes(sqs, source).get("QueueArn")
    if source.url == target.url or source_arn == queue_attributes(sqs, target).get("QueueArn"):
        raise UsageError(f"SOURCE and --to are the same queue ({source.name})")
    with stop_on_signals() as stop:
        mover = Mover(sqs, source, target, args, stop)
        counts = mover.run()
    if args.dry_run:
        print(f"dry run: would move {message_count(counts.would_move)} from {source.name} to {target.name} "
              f"({counts.skipped} not matching); nothing moved")
    else:
        print(f"moved {message_count(counts.moved)} from {source.name} to {target.name} "
              f"({counts.skipped} not matching, {counts.failed} failed, {counts.duplicated} on both queues)")
    if stop.is_set():
        print("pubsub requeue: interrupted: stopped after finishing the batch in hand", file=sys.stderr)
    if mover.error:
        print(f"pubsub requeue: error: {mover.error}", file=sys.stderr)
    if counts.failed or counts.duplicated or mover.error:
        return EXIT_FAILED
    return EXIT_INTERRUPTED if stop.is_set() else 0
