"""Old import path, kept for services: what lives in `microcosm_pubsub.schemas.naming` now."""
from microcosm_pubsub.schemas.naming import *  # noqa: F403
