"""Kept for services written for the old package: the opaque-data keys and defaults it exported by name."""
from typing import Final

from microcosm_pubsub.consume.message import TTL_KEY as TTL_KEY


# Keys of a message's opaque data, as they travel on the wire (lower-cased, like all opaque keys); TTL_KEY too
PUBLISHED_KEY: Final = "x-request-published"
REQUEST_ID_KEY: Final = "x-request-id"
DYNATRACE_KEY: Final = "x-dynatrace"

# Keys the consumer adds to the opaque context while a message is handled
URI_KEY: Final = "uri"
RECEIPT_HANDLE_KEY: Final = "receipt_handle"
MESSAGE_ID_KEY: Final = "message_id"
HANDLER_KEY: Final = "handler"

# Seconds a fetched resource stays in `resource_cache`: short, because only immutable resources are cached
DEFAULT_RESOURCE_CACHE_TTL: Final = 60
