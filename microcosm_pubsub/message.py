"""Old import path, kept for services: what lives in `microcosm_pubsub.consume.message` now."""
from microcosm_pubsub.consume.message import *  # noqa: F403
