"""Kept for services written for the old package: its import path of `PublishBatchMessage` (now in `batch`)."""
from microcosm_pubsub.produce.batch import PublishBatchMessage


__all__ = ["PublishBatchMessage"]
