"""Old import path: the module `microcosm_pubsub.consume.message` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.consume import message
from microcosm_pubsub.consume.message import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = message
