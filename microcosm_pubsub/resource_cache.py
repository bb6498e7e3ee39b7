"""Kept for services written for the old package: the `resource_cache` binding `URIHandler` reads."""
# microcosm-caching's memcached cache when installed; else an in-process stand-in of the same shape
from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from microcosm.config.types import boolean, comma_separated_list

from microcosm_pubsub.graph.config import defaults, typed


logger = logging.getLogger(__name__)

# Bounds memory when memcached is not there; URI resources are small JSON documents
IN_PROCESS_MAX_ENTRIES = 1024


class ResourceCache(Protocol):
    """What `URIHandler` needs from a cache: JSON values by key, each with a time to live."""

    def get(self, key: str) -> Any: ...
    def set(self, key: str, value: Any, ttl: int | None = None) -> Any: ...


class InProcessResourceCache:
    """JSON values kept in this process for `ttl` seconds; the oldest entry goes first when full."""

    def __init__(self, max_entries: int = IN_PROCESS_MAX_ENTRIES, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self.entries: OrderedDict[str, tuple[float | None, str]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> Any:
        """The value stored under `key`, or None when absent or expired."""
        with self.lock:
            expires_at, encoded = self.entries.get(key, (None, None))
            if encoded is None:
                return None
            if expires_at is not None and expires_at <= self.clock():
                del self.entries[key]
                return None
        # Decoded afresh on each read, as from memcached: a caller's edits never reach the cache
        return json.loads(encoded)

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        """Store a JSON-serialisable `value` under `key` for `ttl` seconds (forever when None or 0)."""
        encoded = json.dumps(value)
        expires_at = self.clock() + ttl if ttl else None
        with self.lock:
            self.entries.pop(key, None)
            self.entries[key] = (expires_at, encoded)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)


# microcosm-caching's keys and defaults: a service's configuration means the same with either cache
@defaults(
    enabled=typed(boolean, default_value=False),
    servers=typed(comma_separated_list, default_value="localhost:11211"),
    connect_timeout=typed(float, default_value=3.0),
    read_timeout=typed(float, default_value=2.0),
    ignore_exc=typed(boolean, default_value=False),
)
def configure_resource_cache(graph: Any) -> ResourceCache | None:
    """The resource cache when `resource_cache.enabled`, else None."""
    if not graph.config.resource_cache.enabled:
        return None
    try:
        from microcosm_caching.factories import (  # type: ignore[import-not-found,unused-ignore]
            configure_resource_cache as configure_memcached,
        )
    except ImportError:
        if not graph.metadata.testing:
            logger.warning(
                "resource_cache: microcosm-caching is not installed, so resources are cached in this "
                "process only (servers=%s is not used); install microcosm-caching for memcached",
                ",".join(graph.config.resource_cache.servers),
            )
        return InProcessResourceCache()
    return configure_memcached(graph)  # type: ignore[no-any-return,unused-ignore]
