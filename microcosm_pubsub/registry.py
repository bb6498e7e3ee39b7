"""Old import path: the module `microcosm_pubsub.schemas.registry` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.schemas import registry
from microcosm_pubsub.schemas.registry import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = registry
