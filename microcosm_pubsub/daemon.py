"""Old import path: the module `microcosm_pubsub.runtime.daemon` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.runtime import daemon
from microcosm_pubsub.runtime.daemon import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = daemon
