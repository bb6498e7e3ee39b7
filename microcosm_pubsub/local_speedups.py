"""A small, version-checked speed-up of moto's SQS receive for deep queues (local endpoint only).

moto 5.x checks each message it returns against the queue's retention period by rebuilding every
queue attribute, and three of those (the ApproximateNumberOf* counts) scan the whole queue. A
receive of ten from a queue of n messages therefore costs O(10 n), and a few thousand queued
messages drain at single-digit messages per second. The patch reads the one attribute it needs.
Behaviour is unchanged: the same comparison on the same value.
"""
from __future__ import annotations

import logging
from typing import Any


logger = logging.getLogger("microcosm_pubsub.local")

# Checked with moto 5.0 to 5.2; a newer major version is left alone until checked again
SUPPORTED_MAJOR = "5."
PATCHED = "_microcosm_pubsub_patched"


def speed_up_deep_queues() -> bool:
    """Patch moto's SQS backend in this process; returns whether the patch is in place."""
    try:
        import moto
        from moto.core.utils import unix_time
        from moto.sqs.models import SQSBackend
    except ImportError:
        return False
    if getattr(SQSBackend, PATCHED, False):
        return True
    original = getattr(SQSBackend, "is_message_valid_based_on_retention_period", None)
    if not str(getattr(moto, "__version__", "")).startswith(SUPPORTED_MAJOR) or original is None:
        logger.info("moto %s is not one the deep-queue speed-up was checked with; not applied",
                    getattr(moto, "__version__", "?"))
        return False

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention_period + message.sent_timestamp / 1000 > unix_time())

    setattr(SQSBackend, "is_message_valid_based_on_retention_period", is_message_valid_based_on_retention_period)  # noqa: B010
    setattr(SQSBackend, PATCHED, True)
    return True
