"""The old package's PyHamcrest matchers, kept for old service tests: thin names over `testing.matchers`."""
# First, so that a missing PyHamcrest raises the ImportError naming the testing extra
import microcosm_pubsub.testing.matchers  # noqa: F401
from microcosm_pubsub.matchers.message import *  # noqa: F403 (the names of message.__all__)
from microcosm_pubsub.matchers.message import __all__  # noqa: F401
