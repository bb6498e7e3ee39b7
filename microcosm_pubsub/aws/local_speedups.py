"""A small, version-checked speed-up of moto's SQS receive for deep queues (local endpoint only)."""
# moto 5.x checks each message's retention by rebuilding every queue attribute, three of which scan the
# queue: O(10 n) a receive. The patch reads the one attribute it needs; the comparison stays the same.
from __future__ import annotations

import logging
from typing import Any


logger = logging.getLogger("microcosm_pubsub.local")

# The moto releases (major, minor, both ends included) tested with: the endpoint and this patch use moto's
# internals, which move between minor releases; setup.py pins the same range: widen both after the suite passes.
TESTED_MOTO = ((5, 0), (5, 2))
TESTED_MOTO_RANGE = f"{TESTED_MOTO[0][0]}.{TESTED_MOTO[0][1]} to {TESTED_MOTO[1][0]}.{TESTED_MOTO[1][1]}"
# What to install for a tested moto (setup.py's extras say the same; a test keeps them together)
MOTO_REQUIREMENT = f"moto[server]>={TESTED_MOTO[0][0]}.{TESTED_MOTO[0][1]},<{TESTED_MOTO[1][0]}.{TESTED_MOTO[1][1] + 1}"
PATCHED = "_microcosm_pubsub_patched"


def moto_tested(version: str) -> bool:
    """Whether a moto version string (e.g. "5.2.5", "5.3.0.dev1") is in the tested major.minor range."""
    parts = version.split(".")
    try:
        major_minor = (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        return False
    return TESTED_MOTO[0] <= major_minor <= TESTED_MOTO[1]


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
    version = str(getattr(moto, "__version__", "?"))
    if not moto_tested(version) or original is None:
        # local.py has already warned about the version itself
        logger.info("moto %s is not one the deep-queue speed-up was tested with (%s); not applied",
                    version, TESTED_MOTO_RANGE)
        return False

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention_period + message.sent_timestamp / 1000 > unix_time())

    setattr(SQSBackend, "is_message_valid_based_on_retention_period", is_message_valid_based_on_retention_period)  # noqa: B010
    setattr(SQSBackend, PATCHED, True)
    return True
