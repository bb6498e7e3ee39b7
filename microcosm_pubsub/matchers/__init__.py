"""The old package's PyHamcrest matchers (`microcosm_pubsub.matchers`), kept for old service tests.

They are thin names over `microcosm_pubsub.testing.matchers`, which new tests should use
(`published`, `published_inanyorder`, `not_published`, `a_message`). Unlike the old ones, they see
content passed positionally and every media type, not only `application/vnd.globality...`.
"""
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
    "PublishedMessage",
    "has_media_type",
    "has_uri",
    "published",
    "published_inanyorder",
    "published_messages_for",
    "published_nothing",
]
