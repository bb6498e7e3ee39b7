"""Old import path, kept for services: what lives in `microcosm_pubsub.consume.envelope` now."""
from microcosm_pubsub.consume.envelope import *  # noqa: F403
