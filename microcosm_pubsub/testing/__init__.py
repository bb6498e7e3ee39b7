"""What services' tests import (docs/testing.md): PyHamcrest matchers in `.matchers`, fixtures in `.pytest_plugin`."""
from microcosm_pubsub.testing.capture import PublishCapture, capture_published
from microcosm_pubsub.testing.dispatch import dispatch, dispatch_body, dispatch_sqs_message
from microcosm_pubsub.testing.environment import IntegrationEnvironment
from microcosm_pubsub.testing.events import (
    delivered,
    lambda_event,
    lambda_record,
    lambda_sns_record,
    sns_notification,
    sqs_message,
)
from microcosm_pubsub.testing.graphs import recording_producer, testing_config, testing_daemon, testing_graph
from microcosm_pubsub.testing.queues import drain, queue_consumer, shared_endpoint
from microcosm_pubsub.testing.recording import EagerLoopError, RecordedMessage, RecordingProducer, dispatch_recorded


__all__ = [
    "EagerLoopError", "IntegrationEnvironment", "PublishCapture", "RecordedMessage", "RecordingProducer",
    "capture_published", "delivered", "dispatch", "dispatch_body", "dispatch_recorded", "dispatch_sqs_message",
    "drain", "lambda_event", "lambda_record", "lambda_sns_record", "queue_consumer", "recording_producer",
    "shared_endpoint", "sns_notification", "sqs_message", "testing_config", "testing_daemon", "testing_graph",
]
