"""Old import path: the module `microcosm_pubsub.schemas.codecs` under its old name (see `OLD_IMPORT_PATHS`)."""
import sys

from microcosm_pubsub.schemas import codecs
from microcosm_pubsub.schemas.codecs import *  # noqa: F403 (what type checkers see)


sys.modules[__name__] = codecs
