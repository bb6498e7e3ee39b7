"""The least-privilege IAM policies a stack's producers and consumers need."""
from __future__ import annotations

from typing import Any

from microcosm_pubsub.provisioning import Resources, StackSpec


IAM_VERSION = "2012-10-17"
# What SNSProducer calls: publish and publish_batch (PublishBatch is authorised by sns:Publish)
PRODUCER_ACTIONS = ["sns:Publish"]
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


def producer_policy(stack: StackSpec, resources: Resources) -> dict[str, Any]:
    """Publish to the stack's topics, nothing else."""
    return {
        "Version": IAM_VERSION,
        "Statement": [
            {
                "Sid": "PublishToTopics",
                "Effect": "Allow",
                "Action": PRODUCER_ACTIONS,
                "Resource": sorted(resources.topic_arns[name] for name in stack.topics),
            }
        ],
    }


def consumer_policy(stack: StackSpec, resources: Resources) -> dict[str, Any]:
    """Consume the stack's queues, and dead-letter to their dead-letter queues."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ConsumeQueues",
            "Effect": "Allow",
            "Action": CONSUMER_ACTIONS,
            "Resource": sorted(resources.queue_arns[queue.name] for queue in stack.queues),
        }
    ]
    if stack.dead_letter_queues:
        statements.append({
            "Sid": "SendToDeadLetterQueues",
            "Effect": "Allow",
            "Action": DEAD_LETTER_ACTIONS,
            "Resource": sorted(resources.queue_arns[name] for name in stack.dead_letter_queues),
        })
    return {"Version": IAM_VERSION, "Statement": statements}


def policies(stack: StackSpec, resources: Resources) -> dict[str, dict[str, Any]]:
    """Policies by role, leaving out a role the stack gives nothing to do."""
    result: dict[str, dict[str, Any]] = {}
    if stack.topics:
        result["producer"] = producer_policy(stack, resources)
    if stack.queues:
        result["consumer"] = consumer_policy(stack, resources)
    return result
