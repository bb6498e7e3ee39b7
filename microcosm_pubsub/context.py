"""Old import path: the module `microcosm_pubsub.consume.context` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.consume import context
from microcosm_pubsub.consume.context import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = context
