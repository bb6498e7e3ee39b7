"""`sns_topic_arns`: which SNS topic each media type is published to."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from microcosm_pubsub.config import defaults, typed
from microcosm_pubsub.conventions import LifecycleChange, parse_media_type
from microcosm_pubsub.errors import ConfigurationError, TopicNotDefinedError
from microcosm_pubsub.wildcards import lookup


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


class TopicArns:
    """Resolve a media type to a topic ARN: exact mapping, wildcard, lifecycle section, default."""

    def __init__(
        self,
        default: str | None,
        mappings: Mapping[str, str],
        lifecycle: Mapping[LifecycleChange, Mapping[str, str]],
    ) -> None:
        self.default = default
        self.mappings = dict(mappings)
        self.lifecycle = {change: dict(arns) for change, arns in lifecycle.items()}
        self._resolved: dict[str, str] = {}

    def resolve(self, media_type: str) -> str:
        """The topic ARN for a media type.

        :raises TopicNotDefinedError: when nothing maps it and there is no default
        """
        cached = self._resolved.get(media_type)
        if cached is not None:
            return cached
        arn = lookup(self.mappings, media_type)
        if arn is None:
            parsed = parse_media_type(media_type)
            if parsed is not None:
                change, name = parsed
                section = self.lifecycle.get(change, {})
                # Environment variables cannot spell hyphens or dots, so try underscores too
                arn = section.get(name) or section.get(name.replace("-", "_").replace(".", "_"))
        if arn is None:
            arn = self.default
        if not arn:
            raise TopicNotDefinedError(
                f"no SNS topic for media type {media_type}: set sns_topic_arns.default, "
                f"or map it in sns_topic_arns.mappings"
            )
        # Configuration does not change under a running graph; the producer asks once per message
        self._resolved[media_type] = arn
        return arn

    def __getitem__(self, media_type: str) -> str:
        return self.resolve(media_type)


@defaults(
    # Topic for every media type without a mapping; unset means unmapped types are an error
    default=typed(str, default_value=None),
    # {media_type: arn}; a JSON object when set from an environment variable
    mappings=typed(json_mapping, default_value={}),
    created={},
    changed={},
    deleted={},
)
def configure_sns_topic_arns(graph: Any) -> TopicArns:
    config = graph.config.sns_topic_arns
    return TopicArns(
        default=config.default,
        mappings=config.mappings or {},
        lifecycle={change: dict(config.get(change.value) or {}) for change in LifecycleChange},
    )
