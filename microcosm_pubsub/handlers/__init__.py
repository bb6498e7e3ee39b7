"""Kept for services written for the old package: the URI, chain and batch handler base classes."""
from __future__ import annotations

from typing import Any


try:
    import requests  # noqa: F401
except ImportError as error:
    raise ImportError("microcosm_pubsub.handlers fetches resources over HTTP with `requests`, which is not installed; "
                      "install it with the `uri` extra: pip install 'microcosm_pubsub[uri]'") from error

from microcosm_pubsub.handlers.chain_handlers import ChainHandler, ChainURIHandler
from microcosm_pubsub.handlers.uri_handler import URIHandler


__all__ = ["ChainHandler", "ChainURIHandler", "PublishBatchMessage", "URIHandler"]


def __getattr__(name: str) -> Any:
    # Imported on demand: it lives beside the producer's batch schema, which this package must not load
    if name == "PublishBatchMessage":
        from microcosm_pubsub.produce.batch import PublishBatchMessage

        return PublishBatchMessage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
