"""Old import path, kept for services: what lives in `microcosm_pubsub.consume.dispatcher` now."""
from microcosm_pubsub.consume.dispatcher import *  # noqa: F403
