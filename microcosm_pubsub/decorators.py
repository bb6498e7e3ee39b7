"""Old import path, kept for services: what lives in `microcosm_pubsub.schemas.decorators` now."""
from microcosm_pubsub.schemas.decorators import *  # noqa: F403
