"""Old import path, kept for services: what lives in `microcosm_pubsub.runtime.daemon` now."""
from microcosm_pubsub.runtime.daemon import *  # noqa: F403
