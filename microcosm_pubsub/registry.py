"""Old import path, kept for services: what lives in `microcosm_pubsub.schemas.registry` now."""
from microcosm_pubsub.schemas.registry import *  # noqa: F403
