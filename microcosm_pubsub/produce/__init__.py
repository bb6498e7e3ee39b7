"""The producing side: validate, encode and publish to SNS topics or SQS queues, now or deferred."""
