"""Old import path, kept for services: what lives in `microcosm_pubsub.schemas.lifecycle` now."""
from microcosm_pubsub.schemas.lifecycle import *  # noqa: F403
