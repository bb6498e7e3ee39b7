"""The schema lock file: each media type's contract by major version, with the earlier minors kept as history."""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from microcosm_pubsub.contracts.jsonschema import DIALECT, Contract, contract, qualified
from microcosm_pubsub.schemas.versioning import parse_version
from microcosm_pubsub.schemas.versions import SchemaVersion


# A lock is written to be committed: the same schemas give the same bytes on any machine (sorted keys, lists
# whose order says nothing sorted too, two-space indentation, a final newline, no timestamps)
FORMAT = "microcosm-pubsub-schema-lock/1"
DEFAULT_PATH = "schemas.lock.json"
# What every locked contract holds; history entries hold the same but no history of their own
ENTRY_KEYS = ("version", "schema", "jsonSchema", "objects", "fields")
# Values that are data, not keyword lists: their order is kept
DATA_KEYWORDS = frozenset({"const", "default", "examples"})
# Keyword lists whose order means nothing: sorted, so that reordering declarations changes no byte
UNORDERED_KEYWORDS = frozenset({"required", "enum"})
REWRITE = "write it again with `pubsub schemas lock` (from the last commit that had it right, to keep its history)"

Lock = dict[str, Any]
Entry = dict[str, Any]


class LockError(ValueError):
    """A lock file that cannot be used; the message says what is wrong in it and what to do."""


def major(version: str) -> str:
    """The major of a "major.minor" version, as the lock keys it ("2")."""
    parsed = parse_version(version)
    if parsed is None:
        raise LockError(f"version {version!r} is not a \"major.minor\" string such as \"2.0\"")
    return str(parsed.major)


def version_key(version: str) -> tuple[int, int]:
    parsed = parse_version(version)
    return (parsed.major, parsed.minor) if parsed is not None else (0, 0)


def canonical(value: Any) -> Any:
    """`value` with the keyword lists whose order says nothing sorted (by their JSON text)."""
    if isinstance(value, dict):
        return {
            key: item if key in DATA_KEYWORDS else
            sorted(item, key=lambda member: json.dumps(member, sort_keys=True))
            if key in UNORDERED_KEYWORDS and isinstance(item, list) else canonical(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def entry_of(version: SchemaVersion) -> Entry:
    """The locked form of one registered schema version."""
    described = contract(version.schema(), version.media_type)
    entry: Entry = canonical({"version": version.version, "schema": qualified(version.schema), **described})
    return entry


def as_contract(entry: Entry) -> Contract:
    return Contract(jsonSchema=entry["jsonSchema"], objects=entry["objects"], fields=entry["fields"])


def same_contract(one: Entry, other: Entry) -> bool:
    return all(one[key] == other[key] for key in ("jsonSchema", "objects", "fields"))


def build(versions: Iterable[SchemaVersion], previous: Lock | None = None) -> tuple[Lock, list[str]]:
    """The lock of `versions`, keeping `previous`'s history, and notes on what moved into (or out of) it.

    A locked entry whose version differs from the one declared now (a new minor) joins its major's history;
    one whose version is the same is replaced (a contract still changing before its release).
    """
    before: dict[str, dict[str, Entry]] = (previous or {}).get("mediaTypes", {})
    media_types: dict[str, dict[str, Entry]] = {}
    notes: list[str] = []
    for version in versions:
        entry = entry_of(version)
        key = major(version.version)
        locked = before.get(version.media_type, {}).get(key)
        history: list[Entry] = list(locked.get("history", [])) if locked else []
        if locked and locked["version"] != entry["version"]:
            history.append({name: locked[name] for name in ENTRY_KEYS})
            notes.append(f"{version.media_type} {locked['version']} kept in the history of major {key} "
                         f"({entry['version']} is locked now)")
        elif locked and not same_contract(locked, entry):
            notes.append(f"{version.media_type} {entry['version']}: contract replaced with no new version "
                         "(declare the next minor to keep the old one in history)")
        kept: dict[str, Entry] = {}
        for earlier in history:
            if earlier["version"] != entry["version"]:
                kept.setdefault(earlier["version"], earlier)  # a version locked once stays as it was locked
        if kept:
            entry["history"] = [kept[name] for name in sorted(kept, key=version_key)]
        media_types.setdefault(version.media_type, {})[key] = entry
    for media_type, majors in sorted(before.items()):
        for key in sorted(majors):
            if key not in media_types.get(media_type, {}):
                notes.append(f"{media_type} major {key} is no longer declared: left out of the lock")
    return {"format": FORMAT, "dialect": DIALECT, "mediaTypes": media_types}, notes


def dumps(lock: Lock) -> str:
    """The lock's bytes (as text): the same for the same lock, whatever order its dicts were built in."""
    return json.dumps(lock, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def loads(text: str, where: str) -> Lock:
    """A lock from its text (`LockError` naming `where` and the first problems when it is not one)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise LockError(f"{where} is not JSON ({error.msg} at line {error.lineno}, column {error.colno}); "
                        f"{REWRITE}") from None
    found = problems(data)
    if found:
        more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
        raise LockError(f"{where} is not a schema lock: {'; '.join(found[:3])}{more}; {REWRITE}")
    lock: Lock = data
    return lock


def read(path: str | Path) -> Lock:
    """The lock file at `path` (`LockError` when it is missing, unreadable or not a lock)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LockError(f"no lock file {path}: write one with `pubsub schemas lock --schemas MODULE --output "
                        f"{path}` and commit it") from None
    except (OSError, UnicodeDecodeError) as error:
        raise LockError(f"cannot read lock file {path}: {error}") from None
    return loads(text, str(path))


def problems(data: Any) -> list[str]:
    """What keeps `data` from being a lock this version reads, each naming where."""
    if not isinstance(data, dict):
        return [f"its top level is a JSON {type(data).__name__}, not an object"]
    if data.get("format") != FORMAT:
        return [f"format is {data.get('format')!r}, and this version reads {FORMAT!r}"]
    media_types = data.get("mediaTypes")
    if not isinstance(media_types, dict):
        return ["mediaTypes is missing or not an object"]
    found = []
    for media_type, majors in media_types.items():
        if not isinstance(majors, dict):
            found.append(f"mediaTypes[{media_type!r}] is not an object of major versions")
            continue
        for key, entry in majors.items():
            where = f"mediaTypes[{media_type!r}][{key!r}]"
            if not key.isdigit():
                found.append(f"{where}: a major version is a whole number")
            found += entry_problems(entry, where, key)
            history = entry.get("history", []) if isinstance(entry, dict) else []
            if not isinstance(history, list):
                found.append(f"{where}.history is not a list")
                continue
            for index, earlier in enumerate(history):
                found += entry_problems(earlier, f"{where}.history[{index}]", key)
    return found


def entry_problems(entry: Any, where: str, key: str) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{where} is not an object"]
    missing = [name for name in ENTRY_KEYS if name not in entry]
    if missing:
        return [f"{where} lacks {', '.join(missing)}"]
    found = [f"{where}.{name} is not an object" for name in ("jsonSchema", "objects", "fields")
             if not isinstance(entry[name], dict)]
    version = entry["version"]
    parsed = parse_version(version)
    if parsed is None:
        found.append(f"{where}.version {version!r} is not \"major.minor\"")
    elif str(parsed.major) != key:
        found.append(f"{where}.version {version} is not of major {key}")
    return found
