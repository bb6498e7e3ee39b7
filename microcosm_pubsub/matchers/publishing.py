"""Old import path: the module `microcosm_pubsub.matchers.message` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.matchers import message
from microcosm_pubsub.matchers.message import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = message
