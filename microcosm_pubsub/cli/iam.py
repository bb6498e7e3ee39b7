"""The least-privilege IAM policies a stack's producers and consumers need."""
from __future__ import annotations

from typing import Any

from microcosm_pubsub.aws.provisioning import Resources, StackSpec


IAM_VERSION = "2012-10-17"
# What SNSProducer calls: publish and publish_batch (PublishBatch is authorised by sns:Publish)
PRODUCER_ACTIONS = ["sns:Publish"]
# Sending to a queue: a producer's destination (destinations.py), or the dispatcher's dead-letter queue for
# INVALID, EXPIRED and last-receive FAILED messages; both find a queue named by its ARN with GetQueueUrl
SEND_ACTIONS = ["sqs:GetQueueUrl", "sqs:SendMessage"]
# What the consumer and its runner call; the *Batch operations are authorised by these same actions
CONSUMER_ACTIONS = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]


def policies(stack: StackSpec, resources: Resources) -> dict[str, dict[str, Any]]:
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
        ],
    }
    # Resources sorted: the policy reads the same on every run
    statements = {
        role: [{"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": sorted(arns)}
               for sid, actions, arns in candidates if arns]
        for role, candidates in roles.items()
    }
    return {role: {"Version": IAM_VERSION, "Statement": found} for role, found in statements.items() if found}
