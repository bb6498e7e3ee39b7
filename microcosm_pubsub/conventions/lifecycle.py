"""Old import path, kept for services: the module `microcosm_pubsub.schemas.lifecycle` under its old name."""
import sys

from microcosm_pubsub.schemas import lifecycle
from microcosm_pubsub.schemas.lifecycle import *  # noqa: F403 (what type checkers see)


# One module under two names, so that what patches the old name patches the code that runs
sys.modules[__name__] = lifecycle
