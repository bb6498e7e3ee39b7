"""Old import path: the module `microcosm_pubsub.consume.backoff` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.consume import backoff
from microcosm_pubsub.consume.backoff import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = backoff
