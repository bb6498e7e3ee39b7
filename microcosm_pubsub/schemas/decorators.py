"""`@schema`, `@handles` and `@upcaster`: declare schemas, handlers and upcasters by media type (and major)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from marshmallow import Schema
from microcosm.hooks import on_resolve

from microcosm_pubsub.schemas.handler_registry import HANDLES_ATTRIBUTE, SQSMessageHandlerRegistry
from microcosm_pubsub.schemas.registry import PubSubMessageSchemaRegistry, Upcaster
from microcosm_pubsub.schemas.versioning import major_of, version_of, versioned_key


T = TypeVar("T")
S = TypeVar("S", bound=type[Schema])
U = TypeVar("U", bound=Upcaster)


def _register_schema(registry: PubSubMessageSchemaRegistry, schema_class: type[Schema]) -> None:
    registry.register(media_type_of(schema_class), schema_class)


def media_type_of(schema_class: type[Schema]) -> str:
    media_type = getattr(schema_class, "MEDIA_TYPE", None)
    if not isinstance(media_type, str) or not media_type:
        raise TypeError(f"{schema_class.__name__} needs a MEDIA_TYPE string to be registered")
    return media_type


def schema(schema_class: S) -> S:
    """Register a schema class under its `MEDIA_TYPE`, at its `VERSION`'s major ("1.0" when it declares none)."""
    media_type_of(schema_class)
    # A malformed VERSION is refused where it is written, not when the first message needs the schema
    version_of(schema_class)
    on_resolve(PubSubMessageSchemaRegistry, _register_schema, schema_class)
    return schema_class


def handles(schema_class_or_media_type: type[Schema] | str, version: int | str | None = None) -> Callable[[T], T]:
    """Register a function, or a class whose graph components are handlers, for a media type (and its schema).

    A schema class says its major through its `VERSION`; with a media type string, `version` names the major
    (a number, or a "major.minor" string); none is major 1, what unversioned messages are.
    """
    try:
        asked = None if version is None else major_of(version)
    except ValueError as error:
        named = schema_class_or_media_type
        shown = repr(named) if isinstance(named, str) else named.__name__
        raise TypeError(f"@handles({shown}, version={version!r}): {error}") from None
    if isinstance(schema_class_or_media_type, str):
        media_type = versioned_key(schema_class_or_media_type, asked or 1)
    else:
        schema_class = schema(schema_class_or_media_type)
        major = version_of(schema_class).major
        if asked is not None and asked != major:
            raise TypeError(f"@handles({schema_class.__name__}, version={version!r}): the schema's VERSION is "
                            f"{version_of(schema_class)}; drop version=, or name a schema of that major")
        media_type = versioned_key(media_type_of(schema_class), major)

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


def upcaster(schema_class_or_media_type: type[Schema] | str, from_major: int) -> Callable[[U], U]:
    """Register a function turning content of `from_major` into content of the next major (both as handlers see them).

    A message of `from_major` that no handler of its own major takes goes through it (and any next ones) to
    the first major with a handler.
    """
    media_type = (
        schema_class_or_media_type if isinstance(schema_class_or_media_type, str)
        else media_type_of(schema_class_or_media_type)
    )
    if isinstance(from_major, bool) or not isinstance(from_major, int) or from_major < 1:
        raise TypeError(f"@upcaster({media_type!r}, from_major={from_major!r}): from_major is a major version, "
                        "a whole number from 1")

    def decorator(function: U) -> U:
        on_resolve(PubSubMessageSchemaRegistry, lambda registry: registry.register_upcaster(
            media_type, from_major, function,
        ))
        return function

    return decorator
