"""Old import path: the module `microcosm_pubsub.middleware.tracing` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.middleware import tracing
from microcosm_pubsub.middleware.tracing import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = tracing
