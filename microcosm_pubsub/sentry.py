"""`sentry_logging_pubsub`: the old package's Sentry reporting of failed messages, kept for old services."""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from microcosm.errors import LockedGraphError, NotBoundError

from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.graph.config import defaults, flag, typed
from microcosm_pubsub.middleware.chain import Middleware


if TYPE_CHECKING:
    from microcosm_pubsub.consume.result import Action, MessageHandlingResult


logger = logging.getLogger("microcosm_pubsub.sentry")

BeforeSend = Callable[[Any, Any], Any]

# Opaque key -> Sentry tag: what a failure is searched by
DEFAULT_TAG_MAPPING: Mapping[str, str] = {
    "x-request-id": "x-request-id",
    "message_id": "message-id",
    "media_type": "media-type",
    "span_name": "span",
    "uri": "uri",
    "handler": "handler",
}
DEFAULT_USER_ID_KEY = "x-request-user"
REDACTED = "<redacted>"
# Frame locals kept as they are: identifiers and addresses say where, not what
_KEPT_VALUE = re.compile(r"^'?(https?://\S*|[0-9a-fA-F-]{32,36})'?$")
_KEPT_TYPE = re.compile(r"^<.*>$", re.DOTALL)
REPORTED = frozenset({Outcome.FAILED, Outcome.EXPIRED})


def capture(error: Any, tags: Mapping[str, str], user_id: str | None = None, client: Any = None) -> None:
    """Report `error` (an exception or `exc_info`) in a scope of its own; to `client`, else the global one."""
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        if client is not None:
            scope.set_client(client)
        for name, value in tags.items():
            scope.set_tag(name, value)
        if user_id is not None:
            scope.set_user({"id": user_id})
        scope.capture_exception(error)


def _kept(name: str, value: Any) -> bool:
    """A frame local worth keeping: an `_id`, `self`/`cls`, a URL or uuid, or an object's repr."""
    if name.endswith("_id") or name in ("self", "cls"):
        return True
    text = str(value)
    return bool(_KEPT_VALUE.match(text) or _KEPT_TYPE.match(text))


def default_before_send(event: Any, hint: Any) -> Any:
    """Redact the frame locals of every exception's stack trace, except ids, URLs and object reprs."""
    # Handlers' locals hold message content (names, free text): it must not reach Sentry
    if not isinstance(event, dict):
        return event
    for exception in (event.get("exception") or {}).get("values") or []:
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            variables = frame.get("vars")
            if isinstance(variables, dict):
                frame["vars"] = {name: value if _kept(name, value) else REDACTED for name, value in variables.items()}
    return event


def _capturing_transport() -> Any:
    # Imported here: sentry-sdk is an optional extra, and only testing graphs need this
    from sentry_sdk.transport import Transport

    class CapturingTransport(Transport):
        def __init__(self) -> None:
            super().__init__(None)
            self.events: list[dict[str, Any]] = []

        def capture_envelope(self, envelope: Any) -> None:
            event = envelope.get_event()
            if event is not None:
                self.events.append(event)

    return CapturingTransport()


class SentryClient:
    """The SDK client reports go to, and the `before_send` it filters them with."""

    def __init__(self, client: Any, default_before_send: BeforeSend, transport: Any = None) -> None:
        self.client = client
        self.default_before_send = default_before_send
        self.transport = transport

    @property
    def events(self) -> list[dict[str, Any]]:
        """Events captured in memory (testing graphs); empty when they go to Sentry."""
        return list(getattr(self.transport, "events", []))

    def flush(self, timeout: float = 2.0) -> None:
        self.client.flush(timeout=timeout)


class SentryConfigPubsub(Middleware):
    """Reports FAILED (and EXPIRED, with their error) messages to Sentry while `enabled`."""

    def __init__(
        self, dsn: str | None = None, enabled: bool = False, client: SentryClient | None = None,
        tag_mapping: Mapping[str, str] | None = None, user_id_key: str | None = None,
    ) -> None:
        self.dsn = dsn
        self.enabled = enabled
        self.client = client
        self.tag_mapping = dict(tag_mapping or {})
        self.user_id_key = user_id_key

    @property
    def active(self) -> bool:  # type: ignore[override]  # decided by configuration, per graph
        return self.enabled and self.client is not None

    def settled(self, result: MessageHandlingResult, action: Action) -> None:
        if self.enabled and self.client is not None and result.outcome in REPORTED and result.error is not None:
            tags, user_id = self.tags_of(result)
            capture(result.error, {**tags, "outcome": result.outcome.name}, user_id, self.client.client)

    def tags_of(self, result: MessageHandlingResult) -> tuple[dict[str, str], str | None]:
        """The Sentry tags and user id of a result, from its opaque data and delivery."""
        message = result.message
        values: dict[str, Any] = {str(key).lower(): value for key, value in (message.opaque_data or {}).items()}
        content = message.content if isinstance(message.content, Mapping) else {}
        values.update(message_id=message.message_id, media_type=message.media_type, handler=result.handler,
                      uri=content.get("uri"))
        tags = {tag: str(values[key.lower()]) for key, tag in self.tag_mapping.items()
                if values.get(key.lower()) is not None}
        user_id = values.get(self.user_id_key.lower()) if self.user_id_key else None
        return tags, None if user_id is None else str(user_id)


SETTINGS_DEFAULTS: Mapping[str, Any] = {
    "enabled": False, "dsn": None, "custom_tags_mapping": None, "custom_user_id": None}


@defaults(
    # Off unless asked for, and then only with a DSN and sentry-sdk installed
    enabled=typed(bool, default_value=False),
    dsn=typed(str, default_value=None),
    # Opaque key -> tag name, merged over DEFAULT_TAG_MAPPING
    custom_tags_mapping=None,
    custom_user_id=typed(str, default_value=None),
)
def configure_sentry_pubsub(graph: Any) -> SentryConfigPubsub:
    """`sentry_logging_pubsub`: automatic middleware (see `pubsub_middleware.automatic`)."""
    # `sentry_logging` (the old README's name) fills in what `sentry_logging_pubsub` leaves at its default
    own, old = graph.config.get("sentry_logging_pubsub") or {}, graph.config.get("sentry_logging") or {}
    settings = {key: old.get(key, default) if own.get(key, default) == default else own[key]
                for key, default in SETTINGS_DEFAULTS.items()}
    dsn = settings.get("dsn")
    tags = {**DEFAULT_TAG_MAPPING, **(settings.get("custom_tags_mapping") or {})}
    user_id_key = settings.get("custom_user_id") or DEFAULT_USER_ID_KEY
    if not (flag(settings.get("enabled")) and dsn):
        return SentryConfigPubsub(dsn, False, None, tags, user_id_key)
    try:
        import sentry_sdk
        from sentry_sdk.utils import BadDsn
    except ImportError:
        logger.warning("sentry_logging_pubsub is enabled but sentry-sdk is not installed: "
                       "pip install microcosm_pubsub[sentry]")
        return SentryConfigPubsub(dsn, False, None, tags, user_id_key)
    try:
        before_send: BeforeSend = graph.sentry_before_send
    except (NotBoundError, LockedGraphError):
        before_send = default_before_send
    if graph.metadata.testing:
        transport = _capturing_transport()
        # Nothing process-wide (excepthook, logging capture, atexit): this client only serves the graph's reports
        client = sentry_sdk.Client(dsn=None, transport=transport, before_send=before_send,
                                   default_integrations=False, auto_enabling_integrations=False)
        return SentryConfigPubsub(dsn, True, SentryClient(client, before_send, transport), tags, user_id_key)
    build = graph.config.get("build_info_convention") or {}
    try:
        sentry_sdk.init(dsn=dsn, server_name=f"{graph.metadata.name}_daemon", release=build.get("sha1"),
                        environment=os.environ.get("MICROCOSM_ENVIRONMENT"), before_send=before_send)
    except BadDsn:
        # The DSN is a credential: say what is wrong without printing it
        logger.warning("sentry_logging_pubsub.dsn is not a valid Sentry DSN; Sentry reporting is off")
        return SentryConfigPubsub(dsn, False, None, tags, user_id_key)
    return SentryConfigPubsub(dsn, True, SentryClient(sentry_sdk.get_client(), before_send), tags, user_id_key)
