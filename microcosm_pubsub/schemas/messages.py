"""The convention schemas: a message is a reference (a URI, or an id once the resource is gone)."""
from __future__ import annotations

from typing import Any

from marshmallow import fields

from microcosm_pubsub.schemas.codecs import PubSubMessageSchema


class _ConventionSchema(PubSubMessageSchema):
    def __init__(self, media_type: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Old code passes the media type to the constructor
        if media_type is not None:
            self.MEDIA_TYPE = media_type  # type: ignore[misc]


class URIMessageSchema(_ConventionSchema):
    """Something happened to the resource at `uri`; consumers fetch it (and retry while it is not there yet)."""

    uri = fields.String(required=True)


class ChangedURIMessageSchema(URIMessageSchema):
    """The resource at `uri` changed; optionally which field and to what, so a consumer retries until it sees it."""

    field_name = fields.String()
    new_value = fields.String()


class IdentityMessageSchema(_ConventionSchema):
    """Something happened to the resource with `id`, where no URI is left to fetch (for example a deletion)."""

    id = fields.String(required=True)


def convention_schema(verb: str) -> type[PubSubMessageSchema]:
    """The schema a media type of this lifecycle verb gets when none is declared."""
    return {"deleted": IdentityMessageSchema, "changed": ChangedURIMessageSchema}.get(verb, URIMessageSchema)
