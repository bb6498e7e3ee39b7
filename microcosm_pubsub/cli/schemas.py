"""`pubsub schemas`: export the registered media types and their JSON Schema, lock them, and check changes."""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from microcosm.hooks import invoke_resolve_hook

from microcosm_pubsub.cli.common import EXIT_FAILED, UsageError, table
from microcosm_pubsub.contracts import gate, lock
from microcosm_pubsub.contracts.jsonschema import json_schema
from microcosm_pubsub.schemas.registry import PubSubMessageSchemaRegistry
from microcosm_pubsub.schemas.versioning import version_of
from microcosm_pubsub.schemas.versions import SchemaVersion, schema_versions
from microcosm_pubsub.wire.errors import PubSubError


HELP = "export the registered media types and their JSON Schema; lock them; check changes against the lock"
DESCRIPTION = """Import MODULE (and so its @schema and @handles declarations) and work on the media types it registers:

- export (the default): a catalogue of the media types, each with a JSON Schema (2020-12) of the message on the
  wire, built from the marshmallow fields (types without a JSON equivalent become {}). `mediaTypes` holds each
  media type's version-1 schema; `versions` holds one entry per media type and version, every major included.
- lock: write the lock file, one contract per media type and major version, to commit beside the service; a
  locked version that a new minor replaces is kept as that major's history.
- check: compare the schemas with the lock in a compatibility mode and exit 1 when a change breaks it, naming
  each break; safe changes are printed with the reason they are safe.

Modes: backward (consumers on the new schemas read messages written with the locked ones), forward (consumers
on the locked schemas read messages written with the new ones), full (both); their -transitive forms check
against every version the lock keeps of a major, not only the last.
"""
EPILOG = """examples:
  pubsub schemas --schemas myservice.schemas
  pubsub schemas lock --schemas myservice.schemas --output schemas.lock.json
  pubsub schemas check --schemas myservice.schemas --against schemas.lock.json --mode full-transitive

check exits 1 when a change breaks the mode, 2 when the lock file is missing or malformed.
"""
ACTIONS = ("export", "lock", "check")
# The options that belong to one action only, with the action
ACTION_OPTIONS = {
    "format": ("--format", "export"), "media_type": ("--media-type", "export"), "output": ("--output", "lock"),
    "against": ("--against", "check"), "mode": ("--mode", "check"),
    "allow_removed_major": ("--allow-removed-major", "check"),
}


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=ACTIONS, default="export",
                        help="export (default), lock or check")
    parser.add_argument("--schemas", required=True, metavar="MODULE",
                        help="dotted module that declares the schemas (the current directory is importable)")
    parser.add_argument("--format", choices=["jsonschema", "text"],
                        help="export: jsonschema, a JSON catalogue (default); text, a table of media types, versions "
                        "and schemas")
    parser.add_argument("--media-type", metavar="MT", help="export: this media type only")
    parser.add_argument("--output", metavar="FILE",
                        help=f"lock: the lock file to write, - for standard output (default: {lock.DEFAULT_PATH}); "
                        "an existing one's history is kept")
    parser.add_argument("--against", metavar="FILE",
                        help=f"check: the committed lock file (default: {lock.DEFAULT_PATH})")
    parser.add_argument("--mode", choices=list(gate.MODES),
                        help=f"check: the compatibility mode (default: {gate.DEFAULT_MODE})")
    parser.add_argument("--allow-removed-major", action="store_true", default=None,
                        help="check: a media type or major version the lock has and the schemas no longer "
                        "declare is reported, not a break")


def load_registry(module: str) -> PubSubMessageSchemaRegistry:
    """What importing `module` declared, in a registry; `UsageError` when it fails or declares conflicting schemas."""
    # `python -m` would put the current directory on the path; a console script does not
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        importlib.import_module(module)
    except ImportError as error:
        raise UsageError(f"cannot import schemas module {module!r}: {error}") from error
    except Exception as error:  # any failure inside the user's module is an input error here
        raise UsageError(f"importing schemas module {module!r} failed: {type(error).__name__}: {error}") from error
    registry = PubSubMessageSchemaRegistry(None)
    try:
        invoke_resolve_hook(registry)
    except PubSubError as error:
        raise UsageError(f"schemas module {module!r}: {error}") from error
    return registry


def unknown_media_type(media_type: str, module: str, registry: PubSubMessageSchemaRegistry) -> UsageError:
    known = ", ".join(sorted({name for table in registry.majors.values() for name in table})) or "none"
    return UsageError(f"no schema for media type {media_type!r} in {module} (registered: {known})")


def exported_versions(
    registry: PubSubMessageSchemaRegistry, module: str, media_type: str | None,
) -> list[SchemaVersion]:
    """Every declared schema version, or those of `media_type` (by the look-up messages get: wildcards, conventions)."""
    try:
        if media_type is None:
            return schema_versions(registry)
        classes = [type(registry.find_version(media_type, major).schema) for major in registry.known_majors(media_type)]
        return [SchemaVersion(media_type, str(version_of(schema_class)), schema_class) for schema_class in classes]
    except (PubSubError, TypeError) as error:
        raise UsageError(f"schemas module {module!r}: {error}") from error


def run(args: argparse.Namespace) -> int:
    misplaced = [option for name, (option, action) in ACTION_OPTIONS.items()
                 if getattr(args, name) is not None and action != args.action]
    if misplaced:
        raise UsageError(f"{', '.join(misplaced)} does not go with `pubsub schemas {args.action}`")
    if args.action == "lock":
        return write_lock(args)
    if args.action == "check":
        return check(args)
    return export(args)


def versions_of(module: str) -> list[SchemaVersion]:
    registry = load_registry(module)
    try:
        versions = schema_versions(registry)
    except (PubSubError, TypeError) as error:
        raise UsageError(f"schemas module {module!r}: {error}") from error
    if not versions:
        raise UsageError(f"{module} registers no schemas (decorate them with @schema or @handles)")
    return versions


def write_lock(args: argparse.Namespace) -> int:
    output = args.output or lock.DEFAULT_PATH
    previous = None
    # The lock it replaces is read first: a bad one stops the command before the service's code is imported
    if output != "-" and Path(output).exists():
        try:
            previous = lock.read(output)
        except lock.LockError as error:
            raise UsageError(f"{error} (or delete it to start a lock with no history)") from error
    versions = versions_of(args.schemas)
    try:
        built, notes = lock.build(versions, previous)
    except lock.LockError as error:
        raise UsageError(str(error)) from error
    text = lock.dumps(built)
    for note in notes:
        print(f"pubsub schemas lock: {note}", file=sys.stderr)
    if output == "-":
        sys.stdout.write(text)
        return 0
    # Written beside it and moved over it: an interrupted run leaves the committed lock whole
    partial = f"{output}.partial"
    try:
        with open(partial, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
        os.replace(partial, output)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.remove(partial)
        raise UsageError(f"cannot write lock file {output}: {error}") from error
    majors = sum(len(entry) for entry in built["mediaTypes"].values())
    print(f"wrote {output}: {len(built['mediaTypes'])} media types, {majors} major versions")
    return 0


def check(args: argparse.Namespace) -> int:
    against = args.against or lock.DEFAULT_PATH
    try:
        locked = lock.read(against)
    except lock.LockError as error:
        raise UsageError(str(error)) from error
    report = gate.check(locked, versions_of(args.schemas), args.mode or gate.DEFAULT_MODE,
                        bool(args.allow_removed_major))
    print("\n".join(report.lines()))
    return EXIT_FAILED if report.breaks else 0


def export(args: argparse.Namespace) -> int:
    registry = load_registry(args.schemas)
    versions = exported_versions(registry, args.schemas, args.media_type)
    if not versions:
        if args.media_type is not None:
            raise unknown_media_type(args.media_type, args.schemas, registry)
        raise UsageError(f"{args.schemas} registers no schemas (decorate them with @schema or @handles)")
    if args.format == "text":
        print(table(["MEDIA TYPE", "VERSION", "SCHEMA"],
                    [[entry.media_type, entry.version, _name(entry.schema)] for entry in versions]))
        return 0
    entries = [
        {"mediaType": entry.media_type, "version": entry.version, "schema": _name(entry.schema),
         "jsonSchema": json_schema(entry.schema(), entry.media_type)}
        for entry in versions
    ]
    # `mediaTypes` as before versions: each media type's major-1 schema, in the same shape, for the catalogue's
    # existing readers; `versions` lists every media type and version, major 1 included
    catalogue = {entry["mediaType"]: {"schema": entry["schema"], "jsonSchema": entry["jsonSchema"]}
                 for entry, version in zip(entries, versions, strict=True) if version_of(version.schema).major == 1}
    print(json.dumps({"module": args.schemas, "mediaTypes": catalogue, "versions": entries}, indent=2, default=str))
    return 0


def _name(schema_class: type[Any]) -> str:
    return f"{schema_class.__module__}.{schema_class.__qualname__}"
