"""Old import path: the module `microcosm_pubsub.schemas.lifecycle` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.schemas import lifecycle
from microcosm_pubsub.schemas.lifecycle import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = lifecycle
