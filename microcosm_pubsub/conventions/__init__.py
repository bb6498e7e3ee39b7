"""Media-type conventions shared by every service of an organization: naming, lifecycle verbs, reference messages."""
from __future__ import annotations

from microcosm_pubsub.conventions.lifecycle import LifecycleChange
from microcosm_pubsub.conventions.messages import (
    ChangedURIMessageSchema,
    IdentityMessageSchema,
    URIMessageSchema,
    convention_schema,
)
from microcosm_pubsub.conventions.naming import (
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
    "BUILT_IN_VERBS",
    "DEFAULT_ORGANIZATION",
    "ORGANIZATION_ENVIRON",
    "ChangedURIMessageSchema",
    "IdentityMessageSchema",
    "LifecycleChange",
    "URIMessageSchema",
    "changed",
    "convention_schema",
    "created",
    "deleted",
    "make_media_type",
    "media_type",
    "name_for",
    "organization_name",
    "parse_media_type",
    "underscore",
]
