"""The least-privilege IAM policies a stack's producers and consumers need."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from microcosm_pubsub.aws.provisioning import Resources, StackSpec


IAM_VERSION = "2012-10-17"
# What SNSProducer calls: publish and publish_batch (PublishBatch is authorised by sns:Publish)
PRODUCER_ACTIONS = ["sns:Publish"]
# A producer sending straight to a queue (destinations.py): SendMessage(Batch), GetQueueUrl for a queue ARN
QUEUE_PRODUCER_ACTIONS = ["sqs:GetQueueUrl", "sqs:SendMessage"]
# What the consumer and its runner call; the *Batch operations are authorised by these same actions
CONSUMER_ACTIONS = [
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
]
# The dispatcher sends INVALID, EXPIRED and last-receive FAILED messages to the dead-letter queue itself,
# with the reason; it finds the queue named by the redrive policy's ARN with GetQueueUrl
DEAD_LETTER_ACTIONS = ["sqs:GetQueueUrl", "sqs:SendMessage"]


def statement(sid: str, actions: list[str], resources: Iterable[str]) -> dict[str, Any]:
    """One Allow statement on these resources (sorted: the policy reads the same on every run)."""
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": sorted(resources)}


def producer_policy(stack: StackSpec, resources: Resources) -> dict[str, Any]:
    """Publish to the stack's topics and send to its destination queues, nothing else."""
    statements: list[dict[str, Any]] = []
    if stack.topics:
        statements.append(statement(
            "PublishToTopics", PRODUCER_ACTIONS, (resources.topic_arns[name] for name in stack.topics),
        ))
    destinations = destination_queues(stack)
    if destinations:
        statements.append(statement(
            "SendToQueues", QUEUE_PRODUCER_ACTIONS, (resources.queue_arns[name] for name in destinations),
        ))
    return {"Version": IAM_VERSION, "Statement": statements}


def destination_queues(stack: StackSpec) -> list[str]:
    """The queues producers send to directly (those declaring `mediaTypes`)."""
    return [queue.name for queue in stack.queues if queue.media_types]


def consumer_policy(stack: StackSpec, resources: Resources) -> dict[str, Any]:
    """Consume the stack's queues, and dead-letter to their dead-letter queues."""
    statements = [statement(
        "ConsumeQueues", CONSUMER_ACTIONS, (resources.queue_arns[queue.name] for queue in stack.queues),
    )]
    if stack.dead_letter_queues:
        statements.append(statement(
            "SendToDeadLetterQueues", DEAD_LETTER_ACTIONS,
            (resources.queue_arns[name] for name in stack.dead_letter_queues),
        ))
    return {"Version": IAM_VERSION, "Statement": statements}


def policies(stack: StackSpec, resources: Resources) -> dict[str, dict[str, Any]]:
    """Policies by role, leaving out a role the stack gives nothing to do."""
    result: dict[str, dict[str, Any]] = {}
    if stack.topics or destination_queues(stack):
        result["producer"] = producer_policy(stack, resources)
    if stack.queues:
        result["consumer"] = consumer_policy(stack, resources)
    return result
