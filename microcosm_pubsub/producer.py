"""Old import path: the module `microcosm_pubsub.produce.producer` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.produce import producer
from microcosm_pubsub.produce.producer import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = producer
