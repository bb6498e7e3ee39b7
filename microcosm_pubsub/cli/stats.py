"""`pubsub stats`: depth, in flight, delayed, oldest age and dead-letter depth of queues, as a table."""
from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.cli.common import CommandError, add_aws_options, aws_client, format_age, table
from microcosm_pubsub.cli.queues import find_queue, queue_attributes
from microcosm_pubsub.consume.deadletter import RedrivePolicy


HEADERS = ["QUEUE", "VISIBLE", "IN FLIGHT", "DELAYED", "OLDEST", "DLQ", "DLQ VISIBLE"]
# CloudWatch publishes SQS metrics every minute, a few minutes late
METRIC_WINDOW = datetime.timedelta(minutes=15)


HELP = "queue depths, in flight, delayed, oldest message age and dead-letter depth"
DESCRIPTION = (
    "Print one row per queue: visible messages, in flight (received, not yet deleted), delayed, the age of the oldest "
    "message, and the dead-letter queue its redrive policy names with that queue's visible messages. OLDEST is "
    "CloudWatch's ApproximateAgeOfOldestMessage (latest data point of the last 15 minutes); it is n/a when CloudWatch "
    "has none or cannot be read, as on the local endpoint. A queue that cannot be read is reported on stderr and the "
    "rest are still shown; the exit status is then 1."
)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("queues", nargs="+", metavar="QUEUE", help="queue names, URLs or ARNs")
    parser.add_argument("--json", action="store_true", help="a JSON list of rows instead of the table")
    add_aws_options(parser)


def oldest_age(cloudwatch: Any, queue_name: str) -> float | None:
    now = datetime.datetime.now(datetime.UTC)
    try:
        response = cloudwatch.get_metric_statistics(
            Namespace="AWS/SQS", MetricName="ApproximateAgeOfOldestMessage", Period=60, Statistics=["Maximum"],
            Dimensions=[{"Name": "QueueName", "Value": queue_name}], StartTime=now - METRIC_WINDOW, EndTime=now,
        )
    except (BotoCoreError, ClientError):
        return None
    points = sorted(response.get("Datapoints", []), key=lambda point: point["Timestamp"])
    return float(points[-1]["Maximum"]) if points else None


def row(sqs: Any, cloudwatch: Any, name: str) -> dict[str, Any]:
    queue = find_queue(sqs, name)
    attributes = queue_attributes(sqs, queue)
    redrive = RedrivePolicy.from_attributes(attributes)
    dead_letter = find_queue(sqs, redrive.dead_letter_target_arn) if redrive else None
    return {
        "queue": queue.name,
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        "oldest_age_seconds": oldest_age(cloudwatch, queue.name),
        "dead_letter_queue": dead_letter and dead_letter.name,
        "dead_letter_visible": dead_letter
        and int(queue_attributes(sqs, dead_letter).get("ApproximateNumberOfMessages", 0)),
    }


def run(args: argparse.Namespace) -> int:
    sqs, cloudwatch = aws_client(args, "sqs"), aws_client(args, "cloudwatch")
    rows: list[dict[str, Any]] = []
    failed = 0
    for name in args.queues:
        try:
            rows.append(row(sqs, cloudwatch, name))
        except CommandError as error:
            failed += 1
            print(f"pubsub stats: error: {error}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif rows:
        print(table(HEADERS, [[
            item["queue"], str(item["visible"]), str(item["in_flight"]), str(item["delayed"]),
            format_age(item["oldest_age_seconds"]), item["dead_letter_queue"] or "-",
            "-" if item["dead_letter_visible"] is None else str(item["dead_letter_visible"]),
        ] for item in rows]))
    return 1 if failed else 0
