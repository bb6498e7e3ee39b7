"""The old package's PyHamcrest matchers, kept for old service tests: thin names over `testing.matchers`."""
# First, so that a missing PyHamcrest raises the ImportError naming the testing extra
import microcosm_pubsub.testing.matchers  # noqa: F401
from microcosm_pubsub.matchers.message import (
    PublishedMessage,
    has_media_type,
    has_uri,
    published,
    published_inanyorder,
    published_messages_for,
    published_nothing,
)


__all__ = [
    "PublishedMessage", "has_media_type", "has_uri", "published", "published_inanyorder", "published_messages_for",
    "published_nothing",
]
