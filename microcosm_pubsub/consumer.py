"""Old import path: the module `microcosm_pubsub.consume.consumer` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.consume import consumer
from microcosm_pubsub.consume.consumer import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = consumer
