"""Old import path, kept for services: what lives in `microcosm_pubsub.wire.errors` now."""
from microcosm_pubsub.wire.errors import *  # noqa: F403
