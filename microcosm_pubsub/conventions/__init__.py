"""Media-type conventions shared by every service of an organization: naming, lifecycle verbs, reference messages."""
from __future__ import annotations

from microcosm_pubsub.schemas.lifecycle import LifecycleChange
from microcosm_pubsub.schemas.messages import (
    ChangedURIMessageSchema,
    IdentityMessageSchema,
    URIMessageSchema,
    convention_schema,
)
from microcosm_pubsub.schemas.naming import (
    BUILT_IN_VERBS,
    DEFAULT_ORGANIZATION,
    ORGANIZATION_ENVIRON,
    changed,
    created,
    deleted,
    make_media_type,
    media_type,
    name_for,
    organization_name,
    parse_media_type,
    underscore,
)


__all__ = [
    "BUILT_IN_VERBS", "DEFAULT_ORGANIZATION", "ORGANIZATION_ENVIRON", "ChangedURIMessageSchema",
    "IdentityMessageSchema", "LifecycleChange", "URIMessageSchema", "changed", "convention_schema", "created",
    "deleted", "make_media_type", "media_type", "name_for", "organization_name", "parse_media_type", "underscore",
]
