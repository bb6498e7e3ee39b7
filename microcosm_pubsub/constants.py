"""Kept for services written for the old package: the opaque-data keys and defaults it exported by name."""
from typing import Final

from microcosm_pubsub.consume.context import HANDLER_KEY as HANDLER_KEY
from microcosm_pubsub.consume.context import MESSAGE_ID_KEY as MESSAGE_ID_KEY
from microcosm_pubsub.consume.context import RECEIPT_HANDLE_KEY as RECEIPT_HANDLE_KEY
from microcosm_pubsub.consume.context import URI_KEY as URI_KEY
from microcosm_pubsub.consume.message import TTL_KEY as TTL_KEY
from microcosm_pubsub.middleware.dynatrace import DYNATRACE_TAG as DYNATRACE_KEY
from microcosm_pubsub.middleware.dynatrace import REQUEST_ID as REQUEST_ID_KEY
from microcosm_pubsub.schemas.codecs import PUBLISHED_KEY as PUBLISHED_KEY


__all__ = [
    "DEFAULT_RESOURCE_CACHE_TTL", "DYNATRACE_KEY", "HANDLER_KEY", "MESSAGE_ID_KEY", "PUBLISHED_KEY",
    "RECEIPT_HANDLE_KEY", "REQUEST_ID_KEY", "TTL_KEY", "URI_KEY",
]

# Seconds a fetched resource stays in `resource_cache`: short, because only immutable resources are cached
DEFAULT_RESOURCE_CACHE_TTL: Final = 60
