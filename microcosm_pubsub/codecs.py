"""Old import path, kept for services: what lives in `microcosm_pubsub.schemas.codecs` now."""
from microcosm_pubsub.schemas.codecs import *  # noqa: F403
