"""Schema versions: `VERSION = "major.minor"` on a schema, parsed, and the keys versioned handlers live under."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple


# What a schema without `VERSION`, and a message without the version attribute, are
DEFAULT_VERSION = "1.0"
_VERSION = re.compile(r"([1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})")


class Version(NamedTuple):
    """A parsed version: consumers route on `major`; `minor` names a compatible revision of it."""

    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


FIRST = Version(1, 0)


def parse_version(text: object) -> Version | None:
    """`"2.1"` as `Version(2, 1)`; None unless a "major.minor" string of whole numbers, the major at least 1."""
    return _parse(text) if isinstance(text, str) else None


# Each versioned message's attribute is parsed: the few values in use are remembered (a bounded cache, as the
# values come from the wire)
@lru_cache(maxsize=256)
def _parse(text: str) -> Version | None:
    match = _VERSION.fullmatch(text)
    return Version(int(match[1]), int(match[2])) if match else None


def version_of(schema_class: type[Any]) -> Version:
    """A schema class's declared `VERSION` ("1.0" when it declares none); `TypeError` naming a malformed one."""
    declared = getattr(schema_class, "VERSION", None)
    if declared is None:
        return FIRST
    version = parse_version(declared)
    if version is None:
        raise TypeError(f"{schema_class.__name__}.VERSION is {declared!r}; declare a \"major.minor\" string "
                        "such as \"2.0\" (the major at least 1)")
    return version


def major_of(version: int | str | None) -> int:
    """A major given as a number or a "major.minor" string (`ValueError` saying what is accepted); None is 1."""
    if version is None:
        return 1
    if isinstance(version, bool) or not isinstance(version, (int, str)):
        raise ValueError(f"version {version!r} is neither a major number nor a \"major.minor\" string")
    if isinstance(version, int):
        if version < 1:
            raise ValueError(f"version {version} is not a major version; majors start at 1")
        return version
    parsed = parse_version(version)
    if parsed is None:
        raise ValueError(f"version {version!r} is not a \"major.minor\" string such as \"2.0\"")
    return parsed.major


def versioned_key(media_type: str, major: int) -> str:
    """Where a handler of `major` is kept among handlers by media type: major 1 under the media type itself."""
    # No media type ends this way, and no wildcard of an unversioned lookup reaches it (see `versioned_lookup`)
    return media_type if major == 1 else f"{media_type} (version {major})"


def versioned_lookup(table: dict[str, Any], media_type: str, major: int) -> Any:
    """`table`'s entry for `media_type` at `major`: its exact key, else its `prefix.*` wildcard at that major."""
    key = versioned_key(media_type, major)
    if key in table:
        return table[key]
    head, dot, _ = media_type.rpartition(".")
    return table.get(versioned_key(f"{head}.*", major)) if dot else None
