"""Old import path: the module `microcosm_pubsub.consume.envelope` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.consume import envelope
from microcosm_pubsub.consume.envelope import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = envelope
