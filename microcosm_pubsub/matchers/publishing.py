"""Old import path, kept for services: the module `microcosm_pubsub.matchers.message` under its old name."""
import sys

from microcosm_pubsub.matchers import message
from microcosm_pubsub.matchers.message import *  # noqa: F403 (what type checkers see)


# One module under two names, so that what patches the old name patches the code that runs
sys.modules[__name__] = message
