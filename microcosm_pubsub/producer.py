"""Old import path, kept for services: what lives in `microcosm_pubsub.produce.producer` now."""
from microcosm_pubsub.produce.producer import *  # noqa: F403
