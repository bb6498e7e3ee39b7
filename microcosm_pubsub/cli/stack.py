"""The stack file: the topics, queues and subscriptions `pubsub provision` and `pubsub local` create.

A stack file is one JSON object with three optional lists:

    {
      "topics": ["orders"],
      "queues": [
        {"name": "billing", "visibilityTimeout": 60,
         "deadLetter": {"name": "billing-dlq", "maxReceiveCount": 5}},
        {"name": "audit", "deadLetter": false},
        {"name": "thumbnails", "mediaTypes": ["application/vnd.acme.pubsub._.thumbnail.image"]}
      ],
      "subscriptions": [
        {"topic": "orders", "queue": "billing",
         "mediaTypes": ["application/vnd.acme.pubsub._.created.order"]},
        {"topic": "orders", "queue": "audit", "raw": true}
      ]
    }

- `topics`: SNS topic names (letters, digits, `-`, `_`; at most 256 characters).
- `queues[].name`: SQS queue name (letters, digits, `-`, `_`; at most 80 characters). A name ending in `.fifo`
  (topics too) makes a FIFO queue (topic, with content-based deduplication); a FIFO queue's dead-letter queue must
  be FIFO (default `<name>-dlq.fifo`), and it takes FIFO topics only.
- `queues[].visibilityTimeout`: seconds a received message stays hidden, 0 to 43200 (default 30).
- `queues[].deadLetter`: `false` for no dead-letter queue; otherwise an object with `name` (default `<queue>-dlq`)
  and `maxReceiveCount` (1 to 1000, default 3): after that many receives SQS moves a message to the dead-letter
  queue. Absent means the defaults. Dead-letter queues keep messages for 14 days, the most SQS allows, so there is
  time to look at them. Several queues may share one.
- `queues[].mediaTypes`: media types producers send straight to this queue (SendMessage, no topic): map each to the
  queue's ARN in `sns_topic_arns.mappings`; the producer IAM policy may send to it. A media type goes to one queue
  at most.
- `subscriptions[].topic` / `.queue`: a topic and a queue declared above.
- `subscriptions[].raw`: `true` delivers the message JSON itself; `false` (default) wraps it in the SNS notification
  envelope. Consumers read both.
- `subscriptions[].mediaTypes`: deliver only these media types (an SNS filter policy on the `media_type` message
  attribute); an entry ending in `.*` matches every media type with that prefix. Absent means every message.

Provisioning never deletes anything: a topic, queue or subscription removed from the file stays.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from microcosm_pubsub.aws import provisioning
from microcosm_pubsub.aws.provisioning import DeadLetterSpec, QueueSpec, StackSpec, SubscriptionSpec, dead_letter_name
from microcosm_pubsub.cli.common import UsageError, parse_json, read_text
from microcosm_pubsub.wire.fifo import is_fifo


__all__ = ["StackFileError", "load_stack", "parse_stack"]

T = TypeVar("T")
SECTIONS = ("topics", "queues", "subscriptions")
TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
# SQS's own limits
MAX_VISIBILITY_TIMEOUT = 43_200
MAX_RECEIVE_COUNT = 1_000
# SNS allows 150 values in one filter policy
MAX_FILTER_VALUES = 150


class StackFileError(UsageError):
    """The stack file is missing, not JSON, or does not follow the format; one line per problem."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__("\n".join(self.problems))


def attempt(found: list[str], read: Callable[[], T], default: T) -> T:
    """`read()`, or `default` with its problem added to `found` when it raises `StackFileError`: one run of the
    file reports every problem rather than the first."""
    try:
        return read()
    except StackFileError as error:
        found.extend(error.problems)
        return default


class JsonObject:
    """One JSON object of the file at path `where` ('' for the document); each field's problem names its path."""

    def __init__(
        self, value: Any, where: str, allowed: set[str], found: list[str], required: tuple[str, ...] = (),
    ) -> None:
        """:raises StackFileError: when `value` is not an object (nothing of it can be read)"""
        if not isinstance(value, dict):
            raise StackFileError(f"{where or 'the top level'}: must be an object, not {kind(value)}")
        self.value = value
        self.where = where
        self.found = found
        expected = ", ".join(sorted(allowed))
        for key in sorted(set(value) - allowed):
            found.append(f"{self.path(key)}: unknown field (expected one of {expected})")
        found.extend(f"{self.path(key)}: required" for key in required if key not in value)

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def field(self, key: str, read: Callable[[Any, str], T], default: T) -> T:
        if key not in self.value:
            return default
        return attempt(self.found, lambda: read(self.value[key], self.path(key)), default)


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


def _media_types(value: Any, where: str) -> tuple[str, ...]:
    items = json_list(value, where)
    if not items or len(items) > MAX_FILTER_VALUES:
        raise StackFileError(f"{where}: must list 1 to {MAX_FILTER_VALUES} media types (leave it out for all)")
    bad = [
        f"{where}[{index}]: must be a non-empty string, not {json.dumps(item)}"
        for index, item in enumerate(items) if not isinstance(item, str) or not item.strip()
    ]
    if bad:
        raise StackFileError(bad[0], bad)
    return tuple(items)


def _dead_letter(value: Any, where: str, queue: str, found: list[str]) -> DeadLetterSpec | None:
    if value is False:
        return None
    spec = JsonObject(value, where, {"name", "maxReceiveCount"}, found)
    return DeadLetterSpec(
        name=spec.field("name", name_of(QUEUE_NAME, "queue"), dead_letter_name(queue)),
        max_receive_count=spec.field("maxReceiveCount", integer(1, MAX_RECEIVE_COUNT),
                                      provisioning.DEFAULT_MAX_RECEIVE_COUNT),
    )


def _queue(value: Any, where: str, found: list[str]) -> QueueSpec | None:
    """The queue, or None when it has no valid name (its other fields are still checked)."""
    spec = JsonObject(value, where, {"name", "visibilityTimeout", "deadLetter", "mediaTypes"}, found, ("name",))
    name = spec.field("name", name_of(QUEUE_NAME, "queue"), "")
    default: DeadLetterSpec | None = DeadLetterSpec(dead_letter_name(name), provisioning.DEFAULT_MAX_RECEIVE_COUNT)
    queue = QueueSpec(
        name,
        spec.field("visibilityTimeout", integer(0, MAX_VISIBILITY_TIMEOUT), provisioning.DEFAULT_VISIBILITY_TIMEOUT),
        spec.field("deadLetter", partial(_dead_letter, queue=name or "queue", found=found), default),
        spec.field("mediaTypes", _media_types, ()),
    )
    return queue if name else None


def _subscription(value: Any, where: str, found: list[str]) -> SubscriptionSpec:
    """The subscription; a missing or invalid topic or queue is left empty (and its problem recorded)."""
    spec = JsonObject(value, where, {"topic", "queue", "raw", "mediaTypes"}, found, ("topic", "queue"))
    return SubscriptionSpec(
        topic=spec.field("topic", name_of(TOPIC_NAME, "topic"), ""),
        queue=spec.field("queue", name_of(QUEUE_NAME, "queue"), ""),
        raw=spec.field("raw", boolean, False),
        media_types=spec.field("mediaTypes", _media_types, None),
    )


def _strings(items: list[Any], key: str | None = None) -> set[str]:
    """The names as written (valid or not), so that a bad name is reported once, not again where it is used."""
    values = [item.get(key) if key and isinstance(item, dict) else item for item in items]
    return {value for value in values if isinstance(value, str)}


def parse_stack(document: Any, source: str = "stack") -> StackSpec:
    """Validate a parsed stack document.

    :raises StackFileError: naming every bad field, one `<source>: <path>: <problem>` line each
    """
    found: list[str] = []
    root = attempt(found, lambda: JsonObject(document, "", set(SECTIONS), found), None)
    items: dict[str, list[Any]] = {key: root.field(key, json_list, []) if root else [] for key in SECTIONS}

    def each(key: str, read: Callable[[Any, str], T]) -> list[T | None]:
        return [attempt(found, partial(read, item, f"{key}[{index}]"), None) for index, item in enumerate(items[key])]

    topic_names = each("topics", name_of(TOPIC_NAME, "topic"))
    queues = each("queues", partial(_queue, found=found))
    subscriptions = each("subscriptions", partial(_subscription, found=found))
    found.extend(duplicates(topic_names, "topics"))
    found.extend(duplicates([queue.name if queue else None for queue in queues], "queues"))
    declared_topics, declared_queues = _strings(items["topics"]), _strings(items["queues"], "name")
    destinations: dict[str, str] = {}
    for index, queue in ((index, queue) for index, queue in enumerate(queues) if queue):
        for media_type in queue.media_types:
            if destinations.setdefault(media_type, queue.name) != queue.name:
                found.append(f"queues[{index}].mediaTypes: {media_type!r} is sent to queue "
                             f"{destinations[media_type]!r} already; a media type has one destination")
        dead_letter = queue.dead_letter.name if queue.dead_letter else None
        if dead_letter in declared_queues:
            found.append(f"queues[{index}].deadLetter.name: {dead_letter!r} is declared as a queue; "
                         "a dead-letter queue must be its own")
        if dead_letter and is_fifo(queue.name) != is_fifo(dead_letter):
            found.append(f"queues[{index}].deadLetter.name: {dead_letter!r}: a FIFO queue's dead-letter queue "
                         "must be FIFO (a name ending in .fifo), and a standard queue's standard")
    for index, item in ((index, item) for index, item in enumerate(subscriptions) if item):
        if item.topic and item.topic not in declared_topics:
            found.append(f"subscriptions[{index}].topic: {item.topic!r} is not declared in topics")
        if item.queue and item.queue not in declared_queues:
            found.append(f"subscriptions[{index}].queue: {item.queue!r} is not declared in queues")
        if is_fifo(item.queue) and not is_fifo(item.topic):
            found.append(f"subscriptions[{index}]: the FIFO queue {item.queue!r} can only subscribe to a FIFO topic")
    pairs = [f"{item.topic} -> {item.queue}" if item and item.topic and item.queue else None for item in subscriptions]
    found.extend(duplicates(pairs, "subscriptions"))
    if found:
        lines = [f"{source}: {problem}" for problem in found]
        raise StackFileError(lines[0], lines)
    # An entry read as None had a problem, so with none found the filters drop nothing
    return StackSpec(tuple(filter(None, topic_names)), tuple(filter(None, queues)), tuple(filter(None, subscriptions)))


def load_stack(path: str) -> StackSpec:
    """Read and validate a stack file.

    :raises StackFileError: when it cannot be read, is not JSON, or is not a valid stack
    """
    text = read_text(path, f"stack file {path}", StackFileError)
    return parse_stack(parse_json(text, path, StackFileError), path)
