"""Old import path: the module `microcosm_pubsub.schemas.naming` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.schemas import naming
from microcosm_pubsub.schemas.naming import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = naming
