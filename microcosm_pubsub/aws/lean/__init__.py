"""The lean transport for the SQS and SNS calls that scale with messages (see `client`)."""
from microcosm_pubsub.aws.lean.client import LEAN_OPERATIONS, TRANSPORTS, LeanClient, lean_client


__all__ = ["LEAN_OPERATIONS", "TRANSPORTS", "LeanClient", "lean_client"]
