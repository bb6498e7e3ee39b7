"""`make demo`: real messages through the local SNS/SQS endpoint, a producer and a consumer daemon."""
