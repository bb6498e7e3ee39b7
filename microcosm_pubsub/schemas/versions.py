"""Every registered schema version of a registry, as a sorted list: what schema locks and checks read."""
from __future__ import annotations

from typing import NamedTuple

from marshmallow import Schema
from microcosm.hooks import invoke_resolve_hook

from microcosm_pubsub.schemas.registry import PubSubMessageSchemaRegistry
from microcosm_pubsub.schemas.versioning import version_of


__all__ = ["SchemaVersion", "schema_versions"]


class SchemaVersion(NamedTuple):
    """One registered schema: its media type, its version ("major.minor", "1.0" when undeclared) and its class."""

    media_type: str
    version: str
    schema: type[Schema]


def schema_versions(registry: PubSubMessageSchemaRegistry) -> list[SchemaVersion]:
    """One entry per declared schema version, sorted by media type, then version (numerically: 2.10 after 2.9)."""
    # Schemas imported since the registry was built declare themselves now; convention schemas are not declared
    invoke_resolve_hook(registry)
    entries = [
        (media_type, version_of(schema_class), schema_class)
        for table in registry.majors.values() for media_type, schema_class in table.items()
    ]
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    return [SchemaVersion(media_type, str(version), schema_class) for media_type, version, schema_class in entries]
