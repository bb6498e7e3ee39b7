"""`pubsub_message_schema_registry`: schemas by media type and major version; `prefix.*` matches one final segment."""
from __future__ import annotations

from collections.abc import Callable
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
from microcosm_pubsub.schemas.versioning import parse_version, version_of
from microcosm_pubsub.wire.errors import AlreadyRegisteredError, SchemaNotFoundError
from microcosm_pubsub.wire.wildcards import candidate_keys, lookup


__all__ = [
    "HANDLES_ATTRIBUTE", "AlreadyRegisteredError", "Handler", "PubSubMessageSchemaRegistry",
    "SQSMessageHandlerRegistry", "Upcaster", "candidate_keys", "handler_name", "lookup",
]

# Content of one major to content of the next (attribute names, as handlers see them)
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@defaults(
    # Media types with a lifecycle verb and no declared schema get the convention schema, as peers expect
    auto_register=typed(bool, default_value=True),
)
class PubSubMessageSchemaRegistry:
    """Schemas by media type; `@schema` declares them through a resolve hook."""

    def __init__(self, graph: Any, auto_register: bool | None = None) -> None:
        # Major 1: what unversioned messages (the old package's, and ours of version 1.x) are read with
        self.schemas: dict[str, type[Schema]] = {}
        # Every major's schemas, by major then media type; major 1 is `schemas` itself
        self.majors: dict[int, dict[str, type[Schema]]] = {1: self.schemas}
        # Upcasters by the major they read, then media type
        self.upcasters: dict[int, dict[str, Upcaster]] = {}
        self._versioned_codecs: dict[tuple[str, int], PubSubMessageCodec] = {}
        # Convention schemas given on demand; a declared schema replaces one
        self.conventional: dict[str, type[Schema]] = {}
        self._codecs: dict[str, PubSubMessageCodec] = {}
        configured = True if graph is None else graph.config.pubsub_message_schema_registry.auto_register
        self.auto_register = bool(configured if auto_register is None else auto_register)
        self.lifecycle_change: LifecycleChange = LifecycleChange() if graph is None else graph.pubsub_lifecycle_change

    def register(self, media_type: str, schema_class: type[Schema]) -> None:
        """Declare a media type's schema at its `VERSION`'s major (`AlreadyRegisteredError` when it has another)."""
        major = version_of(schema_class).major
        table = self.majors.setdefault(major, {})
        known = table.get(media_type)
        if known is not None and known is not schema_class:
            if major == 1:
                raise AlreadyRegisteredError(f"media type {media_type} has two schemas, {known.__name__} and "
                                             f"{schema_class.__name__}; give one of them another MEDIA_TYPE")
            raise AlreadyRegisteredError(
                f"media type {media_type} has two schemas of major version {major}, {known.__name__} "
                f"({version_of(known)}) and {schema_class.__name__} ({version_of(schema_class)}); a major holds one "
                "schema: give the newer one the next major, or keep only the newest minor",
            )
        table[media_type] = schema_class
        if major == 1 and self.conventional.pop(media_type, None) is not None:
            self._codecs.pop(media_type, None)

    def register_upcaster(self, media_type: str, from_major: int, upcaster: Upcaster) -> None:
        """Declare the function turning content of `from_major` into content of the next major."""
        table = self.upcasters.setdefault(from_major, {})
        known = table.get(media_type)
        if known is not None and known is not upcaster:
            raise AlreadyRegisteredError(
                f"media type {media_type} has two upcasters from major {from_major}, {handler_name(known)} and "
                f"{handler_name(upcaster)}; keep one",
            )
        table[media_type] = upcaster

    def upcaster(self, media_type: str, from_major: int) -> Upcaster | None:
        """The upcaster from `from_major` to the next major, or None."""
        table = self.upcasters.get(from_major)
        found: Upcaster | None = lookup(table, media_type) if table else None
        return found

    def known_majors(self, media_type: str, resolve: bool = True) -> list[int]:
        """The majors with a declared schema for the media type, in order (a convention schema counts as 1)."""
        if resolve:
            invoke_resolve_hook(self)
        majors = [major for major, table in sorted(self.majors.items()) if lookup(table, media_type) is not None]
        if 1 not in majors and self.auto_register and self.lifecycle_change.verb_of(media_type) is not None:
            majors.insert(0, 1)
        return majors

    def find_version(self, media_type: str, major: int) -> PubSubMessageCodec:
        """The codec of the media type's schema of `major` (`SchemaNotFoundError` naming the known majors)."""
        if major == 1:
            return self.find(media_type)
        if (codec := self._versioned_codecs.get((media_type, major))) is not None:
            return codec
        schema_class = lookup(self.majors.get(major) or {}, media_type)
        if schema_class is None:
            invoke_resolve_hook(self)
            schema_class = lookup(self.majors.get(major) or {}, media_type)
        if schema_class is None:
            known = ", ".join(map(str, self.known_majors(media_type, resolve=False))) or "none"
            raise SchemaNotFoundError(f"no schema of major version {major} is registered for media type "
                                      f"{media_type} (registered majors: {known}); declare one with "
                                      f"VERSION = \"{major}.0\" and import it before use")
        codec = self._versioned_codecs[(media_type, major)] = PubSubMessageCodec(schema_class())
        return codec

    def find_published(self, media_type: str, version: str | None) -> PubSubMessageCodec:
        """The codec a message is read with: by its media type and its version attribute's value (None: 1)."""
        if version is None:
            return self.find(media_type)
        parsed = parse_version(version)
        if parsed is None:
            raise SchemaNotFoundError(f"{media_type} names version {version!r}, not a \"major.minor\" version")
        return self.find_version(media_type, parsed.major)

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
            # The resolve hook ran just above
            if others := self.known_majors(media_type, resolve=False):
                raise SchemaNotFoundError(
                    f"no schema of major version 1 is registered for media type {media_type} (registered majors: "
                    f"{', '.join(map(str, others))}); name the major to use, or declare a version-1 schema",
                )
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
