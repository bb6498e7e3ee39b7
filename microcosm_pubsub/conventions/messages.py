"""Old import path: the module `microcosm_pubsub.schemas.messages` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.schemas import messages
from microcosm_pubsub.schemas.messages import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = messages
