"""`@schema` and `@handles`: declare schemas and handlers by media type."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from marshmallow import Schema
from microcosm.hooks import on_resolve

from microcosm_pubsub.schemas.handler_registry import HANDLES_ATTRIBUTE, SQSMessageHandlerRegistry
from microcosm_pubsub.schemas.registry import PubSubMessageSchemaRegistry


T = TypeVar("T")
S = TypeVar("S", bound=type[Schema])


def _register_schema(registry: PubSubMessageSchemaRegistry, schema_class: type[Schema]) -> None:
    registry.register(media_type_of(schema_class), schema_class)


def media_type_of(schema_class: type[Schema]) -> str:
    media_type = getattr(schema_class, "MEDIA_TYPE", None)
    if not isinstance(media_type, str) or not media_type:
        raise TypeError(f"{schema_class.__name__} needs a MEDIA_TYPE string to be registered")
    return media_type


def schema(schema_class: S) -> S:
    """Register a schema class under its `MEDIA_TYPE`."""
    media_type_of(schema_class)
    on_resolve(PubSubMessageSchemaRegistry, _register_schema, schema_class)
    return schema_class


def handles(schema_class_or_media_type: type[Schema] | str) -> Callable[[T], T]:
    """Register a function, or a class whose graph components are handlers, for a media type (and its schema)."""
    if isinstance(schema_class_or_media_type, str):
        media_type = schema_class_or_media_type
    else:
        media_type = media_type_of(schema(schema_class_or_media_type))

    def decorator(target: T) -> T:
        if isinstance(target, type):
            # Instances become active when the daemon's graph builds them as components
            declared = list(getattr(target, HANDLES_ATTRIBUTE, ()))
            setattr(target, HANDLES_ATTRIBUTE, [*declared, media_type])
            # Listed only to name it at start when no component makes it active
            on_resolve(SQSMessageHandlerRegistry, lambda registry: registry.declare_class(media_type, target))
        else:
            on_resolve(SQSMessageHandlerRegistry, lambda registry: registry.declare(media_type, target))
        return target

    return decorator
