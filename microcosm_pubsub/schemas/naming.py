"""Media-type naming: `make_media_type`, `name_for`, the organization, and parsing a media type back."""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Protocol

# `underscore`: CamelCase to snake_case, hyphens to underscores, dots kept (`FooBar.ThisThat` -> `foo_bar.this_that`);
# inflection's (microcosm depends on it), with which the old package spelled the same names
from inflection import underscore as underscore


# Peers still on the old package publish under this organization; keep it the default
DEFAULT_ORGANIZATION = "globality"
ORGANIZATION_ENVIRON = "MICROCOSM_PUBSUB_ORGANIZATION"
CREATED = "created"
CHANGED = "changed"
DELETED = "deleted"
BUILT_IN_VERBS = (CREATED, CHANGED, DELETED)

_VERB = re.compile(r"[A-Za-z0-9_\-]+")


class MediaTypeFactory(Protocol):
    def __call__(self, resource: object, organization: str | None = None, public: bool = False) -> str: ...


def name_for(resource: object) -> str:
    """A resource's name in a media type, as the old package spelled it: a string, else `__alias__` or class name."""
    if isinstance(resource, str):
        # str.__str__ gives a str subclass's (for example a str enum's) own value
        return underscore(str.__str__(resource))
    kind = resource if isinstance(resource, type) else type(resource)
    alias = getattr(resource, "__alias__", None) or getattr(kind, "__alias__", None)
    return underscore(alias if isinstance(alias, str) and alias else kind.__name__)


def organization_name() -> str:
    """The organization in media types: `MICROCOSM_PUBSUB_ORGANIZATION`, else the default."""
    return os.environ.get(ORGANIZATION_ENVIRON) or DEFAULT_ORGANIZATION


def check_verb(verb: object) -> str:
    """A lifecycle verb as a media-type segment (`ValueError` unless a word of letters, digits, `_`, `-`)."""
    value = verb.value if hasattr(verb, "value") and not isinstance(verb, str) else verb
    if not isinstance(value, str) or not _VERB.fullmatch(value):
        raise ValueError(f"lifecycle verb {verb!r} is not a word; use letters, digits and underscores, "
                         "such as 'created'")
    return value


def make_media_type(
    resource: object, lifecycle_change: object = CREATED, organization: str | None = None, public: bool = False,
) -> str:
    """`application/vnd.<org>.pubsub._.<verb>.<name>`; the verb defaults to `created`; `public=True` drops `._`."""
    verb = check_verb(CREATED if lifecycle_change is None else lifecycle_change)
    scope = "" if public else "._"
    return f"application/vnd.{organization or organization_name()}.pubsub{scope}.{verb}.{name_for(resource)}"


def media_type(lifecycle_change: str) -> MediaTypeFactory:
    """The helper for one verb, as `created` is for `created`: `media_type("archived")(resource)`."""
    verb = check_verb(lifecycle_change)

    def make(resource: object, organization: str | None = None, public: bool = False) -> str:
        return make_media_type(resource, verb, organization, public)

    make.__name__ = verb
    make.__doc__ = f"Media type announcing that a resource was {verb}."
    return make


def parse_media_type(media_type: str, verbs: Iterable[str] = BUILT_IN_VERBS) -> tuple[str, str] | None:
    """The lifecycle verb and resource name of a conventional media type, if it is one."""
    head, _, rest = media_type.partition(".pubsub.")
    if not head.startswith("application/vnd.") or not rest:
        return None
    segments = rest.split(".")
    if segments[0] == "_":
        segments = segments[1:]
    if len(segments) < 2 or segments[0] not in set(verbs):
        return None
    return segments[0], ".".join(segments[1:])


created: MediaTypeFactory = media_type(CREATED)
changed: MediaTypeFactory = media_type(CHANGED)
deleted: MediaTypeFactory = media_type(DELETED)
