"""AWS's SNS and SQS limits that this package works within: one place, each with its source."""
from __future__ import annotations


# Batch calls: SNS PublishBatch and SQS SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch
# take at most ten entries, and SQS ReceiveMessage returns at most ten messages (MaxNumberOfMessages 1-10).
# Sources: https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html
#          https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
SNS_MAX_BATCH = 10
SQS_MAX_BATCH = 10
# The count every batch call here shares
MAX_BATCH_ENTRIES = 10

# SNS Publish: a message (body plus every attribute's name, type and value) is at most 256 KiB, and a
# PublishBatch at most 256 KiB in total: a topic's default, which a producer cannot know to be raised (to 1 MiB).
# Source: https://docs.aws.amazon.com/sns/latest/api/API_Publish.html and API_PublishBatch.html
SNS_MAX_MESSAGE_BYTES = 262_144
SNS_MAX_BATCH_BYTES = 262_144

# SQS SendMessageBatch: 1 MiB a batch since August 2025, 256 KiB before, and a queue's MaximumMessageSize may
# still be lower. One batch here (dead letters, `pubsub requeue`) holds to the old 256 KiB, so it fits such a
# queue and one huge message cannot make SQS refuse the nine small ones it shares a batch with (it goes alone).
# Source: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
SQS_BATCH_TARGET_BYTES = 262_144

# SQS: at most ten message attributes per message.
# Source: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
SQS_MAX_ATTRIBUTES = 10
