"""`pubsub_message_schema_registry`: schemas by media type; `prefix.*` matches one final segment."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema
from microcosm.hooks import invoke_resolve_hook

from microcosm_pubsub.errors import PubSubError, SchemaNotFoundError
from microcosm_pubsub.handler_registry import HANDLES_ATTRIBUTE, Handler, SQSMessageHandlerRegistry, handler_name
from microcosm_pubsub.wildcards import candidate_keys, lookup


__all__ = [
    "HANDLES_ATTRIBUTE",
    "Handler",
    "PubSubMessageSchemaRegistry",
    "SQSMessageHandlerRegistry",
    "candidate_keys",
    "handler_name",
    "lookup",
]


class PubSubMessageSchemaRegistry:
    """Schemas by media type; `@schema` declares them through a resolve hook."""

    def __init__(self, graph: Any) -> None:
        self.schemas: dict[str, type[Schema]] = {}
        self._instances: dict[str, Schema] = {}

    def register(self, media_type: str, schema_class: type[Schema]) -> None:
        known = self.schemas.get(media_type)
        if known is not None and known is not schema_class:
            raise PubSubError(
                f"media type {media_type} has two schemas, {known.__name__} and {schema_class.__name__}; "
                "give one of them another MEDIA_TYPE"
            )
        self.schemas[media_type] = schema_class

    def find(self, media_type: str) -> Schema:
        """A schema instance for the media type.

        :raises SchemaNotFoundError: when none is registered
        """
        instance = self._instances.get(media_type)
        if instance is not None:
            return instance
        schema_class = lookup(self.schemas, media_type)
        if schema_class is None:
            # Schemas imported after this registry was built declared themselves since
            invoke_resolve_hook(self)
            schema_class = lookup(self.schemas, media_type)
        if schema_class is None:
            raise SchemaNotFoundError(
                f"no schema is registered for media type {media_type}; "
                "decorate a PubSubMessageSchema with @schema and import it before use"
            )
        instance = self._instances[media_type] = schema_class()
        return instance

    def __contains__(self, media_type: str) -> bool:
        try:
            self.find(media_type)
        except SchemaNotFoundError:
            return False
        return True
