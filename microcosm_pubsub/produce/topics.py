"""`sns_topic_arns`: which SNS topic each media type is published to."""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from microcosm_pubsub.graph.config import defaults, typed
from microcosm_pubsub.schemas.naming import BUILT_IN_VERBS, parse_media_type
from microcosm_pubsub.wire.errors import ConfigurationError, TopicNotDefinedError
from microcosm_pubsub.wire.wildcards import lookup


# Old producers' batch messages (`created("batch_message")`) are never sent to the default topic
BATCH_RESOURCE = "batch_message"


def json_mapping(value: Any) -> dict[str, str]:
    """A mapping from configuration: a dict, or a JSON object in a string (environment variables)."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as error:
            raise ConfigurationError(f"expected a JSON object of media type to topic ARN: {error}") from error
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"expected a mapping of media type to topic ARN, got {value!r}")
    return {str(key): str(arn) for key, arn in value.items()}


def iter_topic_mappings(section: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested sections as dotted names (`{"foo": {"bar": arn}}`: `foo.bar`): environment variables spell no dot."""
    for key, value in section.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from iter_topic_mappings(value, f"{name}.")
        else:
            yield name, value


def is_batch_media_type(media_type: str) -> bool:
    """Whether this is the old producers' batch media type, `created("batch_message")` of any organization."""
    return parse_media_type(media_type) == ("created", BATCH_RESOURCE)


class TopicArns:
    """Resolve a media type to a topic ARN: exact mapping, wildcard, lifecycle section (verb, resource), default."""

    def __init__(
        self, default: str | None, mappings: Mapping[str, str], lifecycle: Mapping[str, Mapping[str, Any]],
        verbs: Iterable[str] = BUILT_IN_VERBS,
    ) -> None:
        self.default = default
        self.mappings = dict(mappings)
        self.lifecycle = {
            str(verb): {name: str(arn) for name, arn in iter_topic_mappings(section) if arn}
            for verb, section in lifecycle.items()
            if isinstance(section, Mapping)
        }
        # Live: a verb added to `pubsub_lifecycle_change` after start-up counts
        self.verbs = verbs
        self._resolved: dict[str, str] = {}

    def resolve(self, media_type: str) -> str:
        """The topic ARN for a media type, else `TopicNotDefinedError`."""
        cached = self._resolved.get(media_type)
        if cached is not None:
            return cached
        arn = lookup(self.mappings, media_type) or self._lifecycle_arn(media_type)
        if arn is None and not is_batch_media_type(media_type):
            arn = self.default
        if not arn:
            hint = (
                "batch messages need their own topic: map it in sns_topic_arns.mappings"
                if is_batch_media_type(media_type)
                else "set sns_topic_arns.default, or map it in sns_topic_arns.mappings"
            )
            raise TopicNotDefinedError(f"no SNS topic for media type {media_type}: {hint}")
        # Configuration does not change under a running graph; the producer asks once per message
        self._resolved[media_type] = arn
        return arn

    def _lifecycle_arn(self, media_type: str) -> str | None:
        parsed = parse_media_type(media_type, self.verbs)
        if parsed is None:
            return None
        verb, name = parsed
        section = self.lifecycle.get(verb, {})
        # Environment variables cannot spell hyphens or dots, so try underscores too
        return section.get(name) or section.get(name.replace("-", "_").replace(".", "_"))

    def __getitem__(self, media_type: str) -> str:
        return self.resolve(media_type)

    def get(self, media_type: str, default: str | None = None) -> str | None:
        """The topic ARN, or `default` when none is configured (the old dict's `get`)."""
        try:
            return self.resolve(media_type)
        except TopicNotDefinedError:
            return default

    def __contains__(self, media_type: object) -> bool:
        return isinstance(media_type, str) and self.get(media_type) is not None


@defaults(
    # Topic for every media type without a mapping; unset means unmapped types are an error
    default=typed(str, default_value=None),
    # {media_type: arn}; a JSON object when set from an environment variable
    mappings=typed(json_mapping, default_value={}),
    # {resource name: arn} per lifecycle verb; custom verbs may have a section of the same form
    created={},
    changed={},
    deleted={},
)
def configure_sns_topic_arns(graph: Any) -> TopicArns:
    config = graph.config.sns_topic_arns
    lifecycle = {
        str(key): value for key, value in config.items()
        if key not in ("default", "mappings") and isinstance(value, Mapping)
    }
    return TopicArns(config.default, config.mappings or {}, lifecycle, verbs=graph.pubsub_lifecycle_change)
