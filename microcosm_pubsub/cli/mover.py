"""Moving messages between queues in batches: send first, delete what was sent, hold the rest until the end."""
from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.cli.common import CommandError, aws_errors, describe_aws_error
from microcosm_pubsub.cli.queues import Queue, read_message, release
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


class Progress:
    """One line on stderr: rewritten in place on a terminal, repeated now and then in a log."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.shown = False
        self.last = time.monotonic()

    def update(self, counts: Counts, dry_run: bool) -> None:
        done = f"{counts.would_move} would move" if dry_run else f"{counts.moved} moved"
        text = f"requeue: {done}, {counts.skipped} skipped, {counts.failed} failed"
        if self.tty:
            self.stream.write(f"\r{text}\033[K")
        elif time.monotonic() - self.last >= PROGRESS_EVERY_SECONDS:
            self.stream.write(f"{text}\n")
            self.last = time.monotonic()
        else:
            return
        self.shown = True
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.shown:
            self.stream.write("\n")
            self.stream.flush()


def kept_attributes(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value}
        for name, value in (raw.get("MessageAttributes") or {}).items()
        if not name.startswith(DEAD_LETTER_PREFIX)
    }


def message_bytes(message: dict[str, Any]) -> int:
    return len(message.get("Body", "").encode()) + ATTRIBUTE_BYTES


class Mover:
    """Receives from the source, moves matching messages, and holds the others until the end."""

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
        self.progress = Progress(sys.stderr)
        self.error: str | None = None  # why receiving stopped early, if it did

    def remaining(self) -> int:
        taken = self.counts.would_move + self.counts.moved + self.counts.duplicated
        return self.batch_size if self.args.limit is None else self.args.limit - taken

    def run(self) -> Counts:
        started = time.monotonic()
        try:
            while not self.stop.is_set() and self.remaining() > 0:
                try:
                    batch = self.receive()
                except CommandError as error:
                    self.error = str(error)
                    break
                fresh = [message for message in batch if message["MessageId"] not in self.seen]
                for message in batch:
                    if message["MessageId"] in self.seen:
                        self.held[message["MessageId"]] = message["ReceiptHandle"]
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
                self.progress.update(self.counts, self.args.dry_run)
                if self.args.rate:
                    counts = self.counts
                    processed = counts.moved + counts.would_move + counts.failed + counts.duplicated
                    self.stop.wait(started + processed / self.args.rate - time.monotonic())
        finally:
            release(self.sqs, self.source, list(self.held.values()))
            self.progress.close()
        return self.counts

    def receive(self) -> list[dict[str, Any]]:
        with aws_errors(f"receiving from {self.source.name}"):
            messages = self.sqs.receive_message(
                QueueUrl=self.source.url, MaxNumberOfMessages=min(self.batch_size, self.remaining()),
                VisibilityTimeout=HOLD_SECONDS, WaitTimeSeconds=0,
                AttributeNames=["All"], MessageAttributeNames=["All"],
            ).get("Messages", [])
        # SQS may deliver one message twice in a batch; only the latest receipt handle deletes it
        return list({message["MessageId"]: message for message in messages}.values())

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
            response = self.sqs.delete_message_batch(QueueUrl=self.source.url, Entries=deletes)
            undeleted = [sent[int(failure["Id"])] for failure in response.get("Failed", [])]
        except (BotoCoreError, ClientError) as error:
            undeleted, response = sent, {"Failed": [{"Message": describe_aws_error(error)}]}
        self.counts.moved += len(sent) - len(undeleted)
        if undeleted:
            # Sent but still on the source: the one case where a message is on both queues; say so loudly
            self.counts.duplicated += len(undeleted)
            why = response["Failed"][0].get("Message") if response.get("Failed") else "unknown"
            print(f"pubsub requeue: error: {len(undeleted)} messages were sent to {self.target.name} but could "
                  f"not be deleted from {self.source.name}, so they are on both: {why}", file=sys.stderr)

    def fail(self, messages: list[dict[str, Any]], why: str) -> None:
        self.counts.failed += len(messages)
        self.hold(messages)
        print(f"pubsub requeue: error: {len(messages)} messages left on {self.source.name}: {why}", file=sys.stderr)
