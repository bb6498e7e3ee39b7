"""`pubsub requeue`: move messages from a dead-letter queue back to a queue, never losing or doubling one."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from microcosm_pubsub.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    Clients,
    UsageError,
    add_aws_options,
    stop_on_signals,
)
from microcosm_pubsub.cli.mover import Mover
from microcosm_pubsub.cli.queues import find_queue, queue_attributes


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "requeue",
        help="move messages from a dead-letter queue back to a queue",
        description=(
            "Move messages from SOURCE (usually a dead-letter queue) to --to QUEUE in batches of up to ten: "
            "each batch is sent to the target first and deleted from SOURCE only once the send succeeded. "
            "The body and message attributes are kept as they are, except the pubsub_* attributes the "
            "dead-letter path added (pubsub_reason, pubsub_outcome, ...), which are dropped so the consumer "
            "sees the message as its producer sent it. Messages that do not match the filters stay on "
            "SOURCE, visible again when the run ends. Ctrl-C (or SIGTERM) finishes the batch in hand and "
            "stops (exit status 130): no message is dropped or sent twice. Progress goes to stderr, the "
            "final counts to stdout."
        ),
    )
    parser.add_argument("source", metavar="SOURCE", help="queue to take messages from: name, URL or ARN")
    parser.add_argument("--to", required=True, metavar="QUEUE", help="queue to put them on: name, URL or ARN")
    parser.add_argument("--media-type", metavar="MT", help="only this media type ('prefix.*' matches one last segment)")
    parser.add_argument("--reason", metavar="TEXT", help="only messages whose pubsub_reason attribute contains TEXT")
    parser.add_argument("--limit", type=positive(int), metavar="N", help="move at most N messages")
    parser.add_argument("--rate", type=positive(float), metavar="PER_SECOND",
                        help="move at most this many messages a second, to spare a recovering consumer")
    parser.add_argument("--dry-run", action="store_true", help="count what would move, and move nothing")
    add_aws_options(parser)
    parser.set_defaults(run=run)


def positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
        return value
    return parse


def messages(count: int) -> str:
    return f"{count} message{'' if count == 1 else 's'}"


def run(args: argparse.Namespace) -> int:
    sqs = Clients(args).sqs()
    source, target = find_queue(sqs, args.source), find_queue(sqs, args.to)
    source_arn = queue_attributes(sqs, source).get("QueueArn")
    if source.url == target.url or source_arn == queue_attributes(sqs, target).get("QueueArn"):
        raise UsageError(f"SOURCE and --to are the same queue ({source.name})")
    with stop_on_signals() as stop:
        mover = Mover(sqs, source, target, args, stop)
        counts = mover.run()
    if args.dry_run:
        print(f"dry run: would move {messages(counts.would_move)} from {source.name} to {target.name} "
              f"({counts.skipped} not matching); nothing moved")
    else:
        print(f"moved {messages(counts.moved)} from {source.name} to {target.name} "
              f"({counts.skipped} not matching, {counts.failed} failed, {counts.duplicated} on both queues)")
    if stop.is_set():
        print("pubsub requeue: interrupted: stopped after finishing the batch in hand", file=sys.stderr)
    if mover.error:
        print(f"pubsub requeue: error: {mover.error}", file=sys.stderr)
    if counts.failed or counts.duplicated or mover.error:
        return EXIT_FAILED
    return EXIT_INTERRUPTED if stop.is_set() else 0
