"""Old import path, kept for services: what lives in `microcosm_pubsub.consume.context` now."""
from microcosm_pubsub.consume.context import *  # noqa: F403
