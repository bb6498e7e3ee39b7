"""Reading the stack file's JSON field by field, with errors that name the field's path."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from microcosm_pubsub.cli.common import UsageError


T = TypeVar("T")


class StackFileError(UsageError):
    """The stack file is missing, not JSON, or does not follow the format; one line per problem."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__("\n".join(self.problems))


class Problems:
    """Every problem found in the file, so that one run reports them all rather than the first."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def attempt(self, read: Callable[[], T], default: T) -> T:
        """`read()`, or `default` with its problem recorded when it raises `StackFileError`."""
        try:
            return read()
        except StackFileError as error:
            self.found.extend(error.problems)
            return default


class JsonObject:
    """One JSON object of the file at path `where` ('' for the document); each field's problem names its path."""

    def __init__(self, value: Any, where: str, allowed: set[str], problems: Problems) -> None:
        """:raises StackFileError: when `value` is not an object (nothing of it can be read)"""
        if not isinstance(value, dict):
            raise StackFileError(f"{where or 'the top level'}: must be an object, not {kind(value)}")
        self.value = value
        self.where = where
        self.problems = problems
        expected = ", ".join(sorted(allowed))
        for key in sorted(set(value) - allowed):
            problems.found.append(f"{self.path(key)}: unknown field (expected one of {expected})")

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def field(self, key: str, read: Callable[[Any, str], T], default: T) -> T:
        if key not in self.value:
            return default
        return self.problems.attempt(lambda: read(self.value[key], self.path(key)), default)


def kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def name_of(pattern: re.Pattern[str], what: str) -> Callable[[Any, str], str]:
    def read(value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise StackFileError(f"{where}: {what} name must be a string, not {kind(value)}")
        limit = pattern.pattern.rsplit(",", 1)[1].rstrip("}")
        # A FIFO topic's or queue's name ends in `.fifo`, within the same length limit
        base = value.removesuffix(".fifo")
        if not pattern.fullmatch(base) or len(value) > int(limit):
            rule = f"letters, digits, '-' and '_', optionally ending in '.fifo', at most {limit} characters"
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


def duplicates(names: list[str | None], where: str) -> list[str]:
    """A problem for each name declared again; `None` stands for an entry that has no valid name."""
    return [
        f"{where}[{index}]: {name!r} is declared twice"
        for index, name in enumerate(names)
        if name is not None and name in names[:index]
    ]
