"""Kept for services written for the old package: `UUIDField`, a UUID that is a string on both sides."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from marshmallow import fields


class UUIDField(fields.Field):  # type: ignore[type-arg]
    """A UUID given as `uuid.UUID` or as text; loads and dumps its canonical string form, as JSON carries it."""

    default_error_messages = {"invalid_uuid": "Not a valid UUID: {value!r}."}

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else self._canonical(value)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        return self._canonical(value)

    def _canonical(self, value: Any) -> str:
        if isinstance(value, UUID):
            return str(value)
        if isinstance(value, str):
            try:
                return str(UUID(value))
            except ValueError:
                pass
        raise self.make_error("invalid_uuid", value=value)

