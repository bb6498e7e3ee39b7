"""Old import path, kept for services: what lives in `microcosm_pubsub.schemas.messages` now."""
from microcosm_pubsub.schemas.messages import *  # noqa: F403
