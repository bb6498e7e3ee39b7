"""Old import path, kept for services: what lives in `microcosm_pubsub.produce.batch` now."""
from microcosm_pubsub.produce.batch import *  # noqa: F403
