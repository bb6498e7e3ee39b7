"""Media-type naming conventions shared by every service of an organization."""
from __future__ import annotations

import os
from enum import Enum, unique


# Peers still on the old package publish under this organization; keep it the default
DEFAULT_ORGANIZATION = "globality"
ORGANIZATION_ENVIRON = "MICROCOSM_PUBSUB_ORGANIZATION"


@unique
class LifecycleChange(Enum):
    """What happened to a resource."""

    Created = "created"
    Changed = "changed"
    Deleted = "deleted"


def organization_name() -> str:
    """The organization in media types: `MICROCOSM_PUBSUB_ORGANIZATION`, else the default."""
    return os.environ.get(ORGANIZATION_ENVIRON) or DEFAULT_ORGANIZATION


def resource_name(resource: object) -> str:
    """A resource's name in a media type: a string as is, an enum's value, else a class's name."""
    if isinstance(resource, str):
        return resource
    if isinstance(resource, Enum):
        return str(resource.value)
    name = getattr(resource, "__name__", None)
    if name is None:
        raise TypeError(f"cannot name a media type after {resource!r}; pass a string")
    return str(name).lower()


def make_media_type(
    resource: object,
    lifecycle_change: LifecycleChange | str | None = None,
    organization: str | None = None,
    public: bool = False,
) -> str:
    """`application/vnd.<org>.pubsub._.<verb>.<name>`; `public=True` drops the `._`."""
    parts = [f"application/vnd.{organization or organization_name()}.pubsub"]
    if not public:
        parts.append("_")
    if lifecycle_change is not None:
        parts.append(LifecycleChange(lifecycle_change).value)
    parts.append(resource_name(resource))
    return ".".join(parts)


def parse_media_type(media_type: str) -> tuple[LifecycleChange, str] | None:
    """The lifecycle change and resource name of a conventional media type, if it is one."""
    head, _, rest = media_type.partition(".pubsub.")
    if not head.startswith("application/vnd.") or not rest:
        return None
    segments = rest.split(".")
    if segments[0] == "_":
        segments = segments[1:]
    if len(segments) < 2:
        return None
    try:
        change = LifecycleChange(segments[0])
    except ValueError:
        return None
    return change, ".".join(segments[1:])


def created(resource: object, organization: str | None = None, public: bool = False) -> str:
    """Media type announcing that a resource was created."""
    return make_media_type(resource, LifecycleChange.Created, organization, public)


def changed(resource: object, organization: str | None = None, public: bool = False) -> str:
    """Media type announcing that a resource changed."""
    return make_media_type(resource, LifecycleChange.Changed, organization, public)


def deleted(resource: object, organization: str | None = None, public: bool = False) -> str:
    """Media type announcing that a resource was deleted."""
    return make_media_type(resource, LifecycleChange.Deleted, organization, public)
