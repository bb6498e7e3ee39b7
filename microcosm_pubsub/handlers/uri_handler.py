"""Kept for services written for the old package: `URIHandler`, which fetches the resource a message points at."""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from inflection import titleize
from microcosm.errors import LockedGraphError, NotBoundError
from requests.exceptions import InvalidSchema, MissingSchema

from microcosm_pubsub.constants import (
    DEFAULT_RESOURCE_CACHE_TTL,
    HANDLER_KEY,
    MESSAGE_ID_KEY,
    RECEIPT_HANDLE_KEY,
    URI_KEY,
)
from microcosm_pubsub.handlers.pinned import PinnedSession
from microcosm_pubsub.handlers.url_policy import DEFAULT_URL_POLICY, UrlPolicy
from microcosm_pubsub.wire.errors import Nack


Timeout = float | tuple[float, float]

# Connect 5 s, read 20 s: under SQS's default 30 s visibility timeout, so a hung service fails the message first
DEFAULT_REQUEST_TIMEOUT: Timeout = (5.0, 20.0)

# An HTTP header name is an RFC 9110 token; anything else in the opaque context is not forwarded
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# Event resources are immutable once created, so only they may be served from the cache
EVENT_PATH = re.compile(r"/[a-z]+_event/")


def get(url: str, headers: Mapping[str, str] | None = None, timeout: Timeout = DEFAULT_REQUEST_TIMEOUT,
        url_policy: UrlPolicy = DEFAULT_URL_POLICY) -> Any:
    """`requests.get` with a timeout, going only where `url_policy` allows; the one name tests patch."""
    with PinnedSession(url_policy) as session:
        return session.get(url, headers=headers, timeout=timeout)


def binding_allowed_hosts(graph: Any, handler_class: type) -> Any:
    """`allowed_hosts` from the configuration of the binding whose factory is `handler_class`, else None."""
    config = getattr(graph, "config", None)
    if not isinstance(config, Mapping):
        return None
    for section, values in config.items():
        if not isinstance(values, Mapping) or values.get("allowed_hosts") is None:
            continue
        try:
            factory = graph.factory_for(section)
        except (NotBoundError, LookupError):
            continue
        if factory is handler_class:
            return values["allowed_hosts"]
    return None


def resource_cache_whitelist_callable(media_type: str | None, uri: str) -> bool:
    """Whether a resource may be cached: a `created` message about an event resource."""
    return bool(media_type and "created" in media_type.split(".") and EVENT_PATH.search(uri))


class URIHandler:
    """Base handler for messages that carry a resource's URI: fetch it, then `handle` it (True when handled)."""

    # Per-delivery state (a receipt handle lets its holder delete the message): not for the service called
    private_opaque_keys: frozenset[str] = frozenset({RECEIPT_HANDLE_KEY, MESSAGE_ID_KEY, URI_KEY, HANDLER_KEY})

    # Hosts resource URIs may point at when the binding's `allowed_hosts` sets none; None or empty: any host
    allowed_hosts: ClassVar[Sequence[str] | str | None] = None

    def __init__(
        self, graph: Any, retry_nack_timeout: int = 1, resource_nack_timeout: int = 1,
        resource_cache_enabled: bool = True, resource_cache_ttl: int = DEFAULT_RESOURCE_CACHE_TTL,
        resource_cache_whitelist_callable: Callable[..., bool] = resource_cache_whitelist_callable,
        request_timeout: Timeout | None = None,
    ) -> None:
        self.opaque = graph.opaque
        self.retry_nack_timeout = retry_nack_timeout
        self.resource_nack_timeout = resource_nack_timeout
        self.resource_cache_ttl = resource_cache_ttl
        self.resource_cache: Any = self.get_resource_cache(graph) if resource_cache_enabled else None
        self.resource_cache_whitelist_callable = resource_cache_whitelist_callable
        self.request_timeout = request_timeout
        self.logger = logging.getLogger(f"{type(self).__module__}.{type(self).__qualname__}")
        configured = binding_allowed_hosts(graph, type(self))
        self.url_policy: UrlPolicy = UrlPolicy.from_config(configured if configured is not None else self.allowed_hosts)

    @property
    def nack_timeout(self) -> int:
        """Deprecated: `retry_nack_timeout`."""
        return self.retry_nack_timeout

    @property
    def name(self) -> str:
        """The class name in words, for logs: `URIHandler` -> `Uri Handler`."""
        return str(titleize(type(self).__name__))

    @property
    def nack_if_not_found(self) -> bool:
        """Retry (rather than fail) when the resource is missing or does not match the message yet."""
        return True

    @property
    def resource_type(self) -> Callable[..., Any]:
        """What the fetched JSON becomes: called with its fields as keyword arguments."""
        return dict

    def get_resource_cache(self, graph: Any) -> Any:
        try:
            return graph.resource_cache
        except (LockedGraphError, NotBoundError):
            return None

    def __call__(self, message: Mapping[str, Any]) -> bool:
        uri = message[URI_KEY]
        self.on_call(message, uri)
        reason = self.get_reason_to_skip(message, uri)
        if reason is not None:
            self.on_skip(message, uri, reason)
            return False
        resource = self.convert_resource(self.get_resource(message, uri))
        if self.handle(message, uri, resource):
            self.on_handle(message, uri, resource)
            return True
        self.on_ignore(message, uri, resource)
        return False

    def get_reason_to_skip(self, message: Mapping[str, Any], uri: str) -> str | None:
        """A reason not to fetch at all, or None to go on."""
        return None

    def handle(self, message: Mapping[str, Any], uri: str, resource: Any) -> bool:
        """Act on the resource; a falsy result means the message was ignored."""
        return True

    def on_call(self, message: Mapping[str, Any], uri: str) -> None:
        self.logger.debug("%s: starting", self.name, extra={"handler": self.name, "uri": uri})

    def on_skip(self, message: Mapping[str, Any], uri: str, reason: str) -> None:
        self.logger.info("%s: skipped because %s", self.name, reason,
                         extra={"handler": self.name, "uri": uri, "reason": reason})

    def on_handle(self, message: Mapping[str, Any], uri: str, resource: Any) -> None:
        self.logger.debug("%s: handled", self.name, extra={"handler": self.name, "uri": uri})

    def on_ignore(self, message: Mapping[str, Any], uri: str, resource: Any) -> None:
        self.logger.info("%s: ignored", self.name, extra={"handler": self.name, "uri": uri})

    def is_cacheable(self, message: Mapping[str, Any], uri: str) -> bool:
        # The media type of decoded content (`media_type`), or of raw JSON (`mediaType`)
        media_type = message.get("media_type") or message.get("mediaType")
        return self.resource_cache is not None and bool(
            self.resource_cache_whitelist_callable(media_type=str(media_type) if media_type else None, uri=uri))

    def get_resource(self, message: Mapping[str, Any], uri: str) -> Any:
        """The resource's JSON, from the cache when allowed, else fetched; `Nack` when missing or stale."""
        cache = self.resource_cache if self.is_cacheable(message, uri) else None
        if cache is not None and (cached := cache.get(uri)) is not None:
            return cached
        response = self.fetch(message, uri)
        if response.status_code == HTTPStatus.NOT_FOUND and self.nack_if_not_found:
            raise Nack(self.resource_nack_timeout, "URI resource not found", extra={"uri": uri})
        response.raise_for_status()
        resource = response.json()
        self.validate_changed_field(message, resource)
        if cache is not None:
            cache.set(uri, resource, ttl=self.resource_cache_ttl)
        return resource

    def fetch(self, message: Mapping[str, Any], uri: str) -> Any:
        """GET the URI with the forwarded headers, where `url_policy` allows (else `URLRefused`)."""
        headers = self.get_headers(message)
        # Defaults left to `get`, keeping the call shape services' tests assert on when they patch `get`
        options: dict[str, Any] = {} if self.request_timeout is None else {"timeout": self.request_timeout}
        if self.url_policy is not DEFAULT_URL_POLICY:
            options["url_policy"] = self.url_policy
        try:
            # Checked here too, so that a refused URI is refused even where tests patch `get`
            self.url_policy.check_url(uri)
            return get(uri, headers=headers, **options)
        except (InvalidSchema, MissingSchema):
            self.logger.error("Error was found when trying to process uri. Check schema",
                              extra={"handler": self.name, "uri": uri})
            raise

    def validate_changed_field(self, message: Mapping[str, Any], resource: Any) -> None:
        """For a `changed` message naming a field, `Nack` until the resource holds the new value."""
        field_name = message.get("field_name")
        if not field_name or not self.nack_if_not_found:
            return
        if resource.get(field_name) != message.get("new_value"):
            raise Nack(self.resource_nack_timeout, "Resource field value does not match message",
                       extra={"uri": message.get(URI_KEY), "field_name": field_name})

    def get_headers(self, message: Mapping[str, Any]) -> dict[str, str]:
        """HTTP headers for the request: the opaque context, less per-delivery state and unsafe entries."""
        headers: dict[str, str] = {}
        for key, value in self.opaque.as_dict().items():
            if value is None or not isinstance(key, str) or key.lower() in self.private_opaque_keys:
                continue
            text = str(value)
            # A line break in a value would let message content inject headers of its own
            if HEADER_NAME.fullmatch(key) and "\r" not in text and "\n" not in text:
                headers[key] = text
        return headers

    def convert_resource(self, resource: Any) -> Any:
        """The fetched JSON as `resource_type` (unchanged when it already is one)."""
        resource_type = self.resource_type
        if isinstance(resource_type, type) and isinstance(resource, resource_type):
            return resource
        return resource_type(**resource)
