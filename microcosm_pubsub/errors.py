"""Old import path: the module `microcosm_pubsub.wire.errors` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.wire import errors
from microcosm_pubsub.wire.errors import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = errors
