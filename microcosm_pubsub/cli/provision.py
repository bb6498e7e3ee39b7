"""`pubsub provision`: make an endpoint match a stack file, and give the IAM policies it calls for."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from microcosm_pubsub.aws.provisioning import (
    IDEMPOTENCY_TABLE,
    Provisioner,
    Resources,
    StackSpec,
    create_idempotency_table,
)
from microcosm_pubsub.cli import stack as stack_module
from microcosm_pubsub.cli.common import CommandError, UsageError, add_aws_options, aws_client, aws_errors
from microcosm_pubsub.wire.errors import ConfigurationError


IAM_VERSION = "2012-10-17"
# What SNSProducer calls: publish and publish_batch (PublishBatch is authorised by sns:Publish)
PRODUCER_ACTIONS = ["sns:Publish"]
# Sending to a queue: a producer's destination (destinations.py), or the dispatcher's dead-letter queue for
# INVALID, EXPIRED and last-receive FAILED messages; both find a queue named by its ARN with GetQueueUrl
SEND_ACTIONS = ["sqs:GetQueueUrl", "sqs:SendMessage"]
# What the consumer and its runner call; the *Batch operations are authorised by these same actions
CONSUMER_ACTIONS = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
# What the DynamoDB idempotency store calls (a TransactWriteItems is authorised by the item actions in it)
IDEMPOTENCY_ACTIONS = [
    "dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem",
    "dynamodb:UpdateItem",
]
HELP = "create topics, queues, dead-letter queues and subscriptions from a stack file"
DESCRIPTION = (
    "Create or update the topics, queues, dead-letter queues (with redrive policies) and subscriptions a stack file "
    "declares, on the endpoint the environment names (AWS or local). Idempotent: only what differs is changed, and a "
    "second run says 'no changes'. Then prints the least-privilege IAM policies for producers and consumers."
)
EPILOG = "stack file format:\n" + (stack_module.__doc__ or "").split("\n", 1)[1]


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, metavar="FILE", help="the stack file (JSON; format below)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    parser.add_argument(
        "--iam-policy-out", metavar="DIR",
        help="write producer-policy.json and consumer-policy.json into DIR instead of printing them",
    )
    parser.add_argument(
        "--idempotency-table", nargs="?", const=IDEMPOTENCY_TABLE, metavar="NAME",
        help=f"also create the DynamoDB table of idempotent handlers' records (NAME default {IDEMPOTENCY_TABLE}) "
        "unless it exists, and let consumers use it",
    )
    parser.add_argument(
        "--database-url", metavar="URL",
        help="also create the SQL tables of idempotency records and the outbox (a SQLAlchemy URL) unless they exist",
    )
    add_aws_options(parser)


def run(args: argparse.Namespace) -> int:
    stack = stack_module.load_stack(args.stack)
    sts = aws_client(args, "sts") if args.dry_run else None
    provisioner = Provisioner(aws_client(args, "sns"), aws_client(args, "sqs"), dry_run=args.dry_run, sts=sts,
                              errors=aws_errors)
    resources = provisioner.run(stack)
    tables, table_arns = effects_tables(args)
    provisioner.changes.extend(tables)
    count = len(provisioner.changes)
    changes = f"{count} change{'' if count == 1 else 's'}"
    summary = f"dry run: {changes} planned, nothing applied" if args.dry_run else f"{changes} applied"
    verb = "would " if args.dry_run else ""
    print("\n".join([*(verb + change for change in provisioner.changes), summary if count else "no changes"]))
    by_role = policies(stack, resources, table_arns)
    if args.iam_policy_out:
        write_policies(Path(args.iam_policy_out), by_role)
    else:
        for role, policy in by_role.items():
            print(f"IAM policy for {role}s:\n{json.dumps(policy, indent=2)}")
    return 0


def effects_tables(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Create the tables --idempotency-table and --database-url ask for: the changes, and the DynamoDB table ARNs."""
    changes: list[str] = []
    arns: list[str] = []
    if name := args.idempotency_table:
        client = aws_client(args, "dynamodb")
        with aws_errors(f"creating the DynamoDB table {name}"):
            arn = table_arn(client, name)
            if arn is None:
                changes.append(f"create DynamoDB table {name}")
                if not args.dry_run:
                    create_idempotency_table(client, name)
                    arn = table_arn(client, name)
        arns += [arn] if arn else []
    if args.database_url:
        from microcosm_pubsub.effects import outbox  # noqa: F401 - its table joins the package's metadata
        from microcosm_pubsub.effects.database import provision_tables

        try:
            changes += provision_tables(args.database_url, args.dry_run)
        except ConfigurationError as error:
            raise CommandError(str(error)) from error
    return changes, arns


def table_arn(client: Any, name: str) -> str | None:
    """The DynamoDB table's ARN, None when it does not exist."""
    try:
        return str(client.describe_table(TableName=name)["Table"]["TableArn"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def write_policies(directory: Path, by_role: dict[str, dict[str, Any]]) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for role, policy in by_role.items():
            path = directory / f"{role}-policy.json"
            path.write_text(json.dumps(policy, indent=2) + "\n", encoding="utf-8")
            print(f"wrote {path}")
    except OSError as error:
        raise UsageError(f"cannot write IAM policies to {directory}: {error.strerror or error}") from error


def policies(stack: StackSpec, resources: Resources, table_arns: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Policies by role, leaving out a role the stack gives nothing to do and a statement with no resource."""
    queue_arns = resources.queue_arns
    roles = {
        "producer": [
            ("PublishToTopics", PRODUCER_ACTIONS, [resources.topic_arns[name] for name in stack.topics]),
            ("SendToQueues", SEND_ACTIONS, [queue_arns[queue.name] for queue in stack.queues if queue.media_types]),
        ],
        "consumer": [
            ("ConsumeQueues", CONSUMER_ACTIONS, [queue_arns[queue.name] for queue in stack.queues]),
            ("SendToDeadLetterQueues", SEND_ACTIONS, [queue_arns[name] for name in stack.dead_letter_queues]),
            ("IdempotencyRecords", IDEMPOTENCY_ACTIONS, list(table_arns or [])),
        ],
    }
    # Resources sorted: the policy reads the same on every run
    statements = {
        role: [{"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": sorted(arns)}
               for sid, actions, arns in candidates if arns]
        for role, candidates in roles.items()
    }
    return {role: {"Version": IAM_VERSION, "Statement": found} for role, found in statements.items() if found}
