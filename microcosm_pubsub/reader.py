"""Old import path: the module `microcosm_pubsub.consume.readers` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.consume import readers
from microcosm_pubsub.consume.readers import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = readers
