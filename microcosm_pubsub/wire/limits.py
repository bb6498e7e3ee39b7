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
# PublishBatch at most 256 KiB in total. That is a topic's default; a topic may be configured up to 1 MiB
# (its MaximumMessageSize attribute) but a producer cannot know per topic, so it holds to the default.
# Applies to: producer.py (one message, and each PublishBatch call), batch.py (old batch messages),
# `pubsub publish`.
# Source: https://docs.aws.amazon.com/sns/latest/api/API_Publish.html and API_PublishBatch.html
SNS_MAX_MESSAGE_BYTES = 262_144
SNS_MAX_BATCH_BYTES = 262_144

# SQS SendMessage / SendMessageBatch: 1 MiB a message and 1 MiB a batch in total since August 2025
# (256 KiB before). A queue's own MaximumMessageSize attribute may still be lower (queues made before
# then, or configured so), so these are AWS's ceilings, not what every queue takes.
# Source: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
SQS_MAX_MESSAGE_BYTES = 1_048_576
SQS_MAX_BATCH_BYTES = 1_048_576
# What this package puts in one SendMessageBatch (dead letters, `pubsub requeue`): the old 256 KiB
# ceiling, so a batch fits a queue still limited to it, and one huge message cannot make SQS refuse the
# batch it shares with nine small ones (a message over it goes alone).
SQS_BATCH_TARGET_BYTES = 262_144

# SQS: at most ten message attributes per message.
# Source: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
SQS_MAX_ATTRIBUTES = 10
