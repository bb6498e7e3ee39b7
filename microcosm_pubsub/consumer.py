"""Old import path, kept for services: what lives in `microcosm_pubsub.consume.consumer` now."""
from microcosm_pubsub.consume.consumer import *  # noqa: F403
