"""`pubsub schemas`: export the registered media types and their JSON Schema, the contract other teams read."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

from microcosm.hooks import invoke_resolve_hook

from microcosm_pubsub.cli.common import UsageError, table
from microcosm_pubsub.cli.jsonschema import json_schema
from microcosm_pubsub.schemas.registry import PubSubMessageSchemaRegistry
from microcosm_pubsub.wire.errors import PubSubError


HELP = "export the registered media types and their JSON Schema"
DESCRIPTION = (
    "Import MODULE (and so its @schema and @handles declarations) and export the catalogue of media types it "
    "registers, each with a JSON Schema (2020-12) of the message on the wire, built from the marshmallow fields (types "
    "without a JSON equivalent become {})."
)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--schemas", required=True, metavar="MODULE",
                        help="dotted module that declares the schemas (the current directory is importable)")
    parser.add_argument("--format", choices=["jsonschema", "text"], default="jsonschema",
                        help="jsonschema: a JSON catalogue (default); text: a table of media types and schemas")
    parser.add_argument("--media-type", metavar="MT", help="export this media type only")


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
    known = ", ".join(sorted(registry.schemas)) or "none"
    return UsageError(f"no schema for media type {media_type!r} in {module} (registered: {known})")


def run(args: argparse.Namespace) -> int:
    registry = load_registry(args.schemas)
    if args.media_type is not None and args.media_type not in registry:
        raise unknown_media_type(args.media_type, args.schemas, registry)
    media_types = sorted(registry.schemas) if args.media_type is None else [args.media_type]
    if not media_types:
        raise UsageError(f"{args.schemas} registers no schemas (decorate them with @schema or @handles)")
    schemas = {media_type: registry.find(media_type).schema for media_type in media_types}
    names = {media_type: f"{type(schema).__module__}.{type(schema).__qualname__}"
             for media_type, schema in schemas.items()}
    if args.format == "text":
        print(table(["MEDIA TYPE", "SCHEMA"], [list(item) for item in names.items()]))
    else:
        catalogue = {media_type: {"schema": names[media_type], "jsonSchema": json_schema(schema, media_type)}
                     for media_type, schema in schemas.items()}
        print(json.dumps({"module": args.schemas, "mediaTypes": catalogue}, indent=2, default=str))
    return 0
