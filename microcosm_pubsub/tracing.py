"""Old import path, kept for services: what lives in `microcosm_pubsub.middleware.tracing` now."""
from microcosm_pubsub.middleware.tracing import *  # noqa: F403
