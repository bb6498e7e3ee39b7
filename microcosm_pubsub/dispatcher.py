"""Old import path: the module `microcosm_pubsub.consume.dispatcher` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.consume import dispatcher
from microcosm_pubsub.consume.dispatcher import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = dispatcher
