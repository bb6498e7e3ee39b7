"""Reading the stack file's JSON field by field, with errors that name the field's path."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from microcosm_pubsub.cli.common import UsageError


T = TypeVar("T")


class StackFileError(UsageError):
    """The stack file is missing, not JSON, or does not follow the format."""


class JsonObject:
    """One JSON object of the file, read field by field; errors name the field's path."""

    def __init__(self, value: Any, where: str, allowed: set[str]) -> None:
        """`where` is the object's path, empty for the document itself."""
        if not isinstance(value, dict):
            raise StackFileError(f"{where or 'the top level'}: must be an object, not {kind(value)}")
        self.value = value
        self.where = where
        unknown = sorted(set(value) - allowed)
        if unknown:
            expected = ", ".join(sorted(allowed))
            raise StackFileError(f"{self.path(unknown[0])}: unknown field (expected one of {expected})")

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def field(self, key: str, read: Callable[[Any, str], T], default: T) -> T:
        if key not in self.value:
            return default
        return read(self.value[key], self.path(key))


def kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def name_of(pattern: re.Pattern[str], what: str) -> Callable[[Any, str], str]:
    def read(value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise StackFileError(f"{where}: {what} name must be a string, not {kind(value)}")
        if value.endswith(".fifo"):
            raise StackFileError(f"{where}: {value!r}: FIFO {what}s are not supported")
        if not pattern.fullmatch(value):
            limit = pattern.pattern.rsplit(",", 1)[1].rstrip("}")
            rule = f"letters, digits, '-' and '_', at most {limit} characters"
            raise StackFileError(f"{where}: {value!r} is not a valid {what} name ({rule})")
        return value
    return read


def integer(low: int, high: int) -> Callable[[Any, str], int]:
    def read(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise StackFileError(f"{where}: must be an integer from {low} to {high}, not {json.dumps(value)}")
        return value
    return read


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise StackFileError(f"{where}: must be true or false, not {json.dumps(value)}")
    return value


def json_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise StackFileError(f"{where}: must be a list, not {kind(value)}")
    return value


def no_duplicates(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise StackFileError(f"{where}[{index}]: {name!r} is declared twice")
        seen.add(name)
