"""Old import path: the module `microcosm_pubsub.produce.batch` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.produce import batch
from microcosm_pubsub.produce.batch import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = batch
