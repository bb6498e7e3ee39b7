"""`pubsub_message_schema_registry`: schemas by media type; `prefix.*` matches one final segment."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema
from microcosm.hooks import invoke_resolve_hook

from microcosm_pubsub.graph.config import defaults, typed
from microcosm_pubsub.schemas.codecs import PubSubMessageCodec
from microcosm_pubsub.schemas.handler_registry import (
    HANDLES_ATTRIBUTE,
    Handler,
    SQSMessageHandlerRegistry,
    handler_name,
)
from microcosm_pubsub.schemas.lifecycle import LifecycleChange
from microcosm_pubsub.schemas.messages import convention_schema
from microcosm_pubsub.wire.errors import AlreadyRegisteredError, SchemaNotFoundError
from microcosm_pubsub.wire.wildcards import candidate_keys, lookup


__all__ = [
    "HANDLES_ATTRIBUTE", "AlreadyRegisteredError", "Handler", "PubSubMessageSchemaRegistry",
    "SQSMessageHandlerRegistry", "candidate_keys", "handler_name", "lookup",
]


@defaults(
    # Media types with a lifecycle verb and no declared schema get the convention schema, as peers expect
    auto_register=typed(bool, default_value=True),
)
class PubSubMessageSchemaRegistry:
    """Schemas by media type; `@schema` declares them through a resolve hook."""

    def __init__(self, graph: Any, auto_register: bool | None = None) -> None:
        self.schemas: dict[str, type[Schema]] = {}
        # Convention schemas given on demand; a declared schema replaces one
        self.conventional: dict[str, type[Schema]] = {}
        self._codecs: dict[str, PubSubMessageCodec] = {}
        configured = True if graph is None else graph.config.pubsub_message_schema_registry.auto_register
        self.auto_register = bool(configured if auto_register is None else auto_register)
        self.lifecycle_change: LifecycleChange = LifecycleChange() if graph is None else graph.pubsub_lifecycle_change

    def register(self, media_type: str, schema_class: type[Schema]) -> None:
        """Declare the schema of a media type (`AlreadyRegisteredError` when it has another)."""
        known = self.schemas.get(media_type)
        if known is not None and known is not schema_class:
            raise AlreadyRegisteredError(f"media type {media_type} has two schemas, {known.__name__} and "
                                         f"{schema_class.__name__}; give one of them another MEDIA_TYPE")
        self.schemas[media_type] = schema_class
        if self.conventional.pop(media_type, None) is not None:
            self._codecs.pop(media_type, None)

    def find(self, media_type: str) -> PubSubMessageCodec:
        """The codec of the media type's schema (`.schema` is the schema instance)."""
        if (codec := self._codecs.get(media_type)) is not None:
            return codec
        schema_class = lookup(self.schemas, media_type)
        if schema_class is None:
            # Schemas imported after this registry was built declared themselves since
            invoke_resolve_hook(self)
            schema_class = lookup(self.schemas, media_type) or self._conventional(media_type)
        if schema_class is None:
            raise SchemaNotFoundError(f"no schema is registered for media type {media_type}; "
                                      "decorate a PubSubMessageSchema with @schema and import it before use")
        codec = self._codecs[media_type] = PubSubMessageCodec(schema_class())
        return codec

    def _conventional(self, media_type: str) -> type[Schema] | None:
        verb = self.lifecycle_change.verb_of(media_type) if self.auto_register else None
        if verb is None:
            return None
        schema_class = self.conventional[media_type] = convention_schema(verb)
        return schema_class

    def __contains__(self, media_type: str) -> bool:
        try:
            self.find(media_type)
        except SchemaNotFoundError:
            return False
        return True
