"""Old import path: the module `microcosm_pubsub.schemas.decorators` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.schemas import decorators
from microcosm_pubsub.schemas.decorators import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = decorators
