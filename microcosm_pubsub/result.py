"""Old import path, kept for services: what lives in `microcosm_pubsub.consume.result` now."""
from microcosm_pubsub.consume.result import *  # noqa: F403
