"""Old import path, kept for services: what lives in `microcosm_pubsub.consume.backoff` now."""
from microcosm_pubsub.consume.backoff import *  # noqa: F403
