"""AsyncAPI 3.0 documents: a service's messages, and its stack's topics, queues and subscriptions with AWS bindings."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from microcosm_pubsub.aws.provisioning import DEAD_LETTER_RETENTION_SECONDS, QueueSpec, StackSpec, SubscriptionSpec
from microcosm_pubsub.wire.fifo import is_fifo


__all__ = [
    "ASYNCAPI_VERSION", "CONTENT_TYPE", "SNS_BINDING_VERSION", "SQS_BINDING_VERSION", "ContractError", "Message",
    "Service", "asyncapi_document",
]

ASYNCAPI_VERSION = "3.0.0"
# The binding versions AsyncAPI 3.0.0's own JSON Schema accepts (a later binding version fails its validation)
SNS_BINDING_VERSION = "0.1.0"
SQS_BINDING_VERSION = "0.2.0"
# Every body on the wire is a JSON object, whatever its media type
CONTENT_TYPE = "application/json"
# The SNS message attribute every message carries and every filter policy of a stack file reads (wire/outgoing)
MEDIA_TYPE_ATTRIBUTE = "media_type"


class ContractError(ValueError):
    """The messages and the stack cannot make one document (two messages share a media type and version)."""


@dataclass(frozen=True)
class Message:
    """A media type at one version, and the JSON Schema (2020-12) of its body (None: no schema is registered)."""

    media_type: str
    version: str
    payload: dict[str, Any] | None
    # Where the schema is declared (`module.Class`), for the reader of the document
    schema_name: str | None = None


@dataclass(frozen=True)
class Service:
    """Who the document describes: its title and version, the topics it publishes to and the queues it consumes.

    `publishes` maps each topic the service sends to to the media types it sends there (exact, or `prefix.*`),
    an empty tuple for every message; None is every topic of the stack, every message. `consumes` None is every
    queue of the stack.
    """

    title: str
    version: str
    description: str | None = None
    publishes: Mapping[str, tuple[str, ...]] | None = None
    consumes: tuple[str, ...] | None = None


def asyncapi_document(service: Service, messages: Sequence[Message], stack: StackSpec) -> dict[str, Any]:
    """An AsyncAPI 3.0.0 document of `messages` on `stack`'s topics and queues.

    - each message is a component message (name: its media type) with its payload in `components.schemas`;
      a media type the stack names (a destination, a filter's exact entry) without a message in `messages`
      becomes a message without payload, so that nothing the stack routes is missing from the document;
    - a topic is a channel with the SNS binding (name, FIFO ordering); it carries every message but those
      sent straight to a queue; the service `send`s to the topics it publishes (the media types `service`
      names for each, else every message the topic carries), and that operation's SNS
      binding lists the topic's subscribed queues with their delivery and filter policy, its SQS binding
      defines those queues (and their dead-letter queues) for the SNS binding to name;
    - a queue is a channel with the SQS binding (FIFO, visibility timeout, delivery delay, redrive policy and
      the dead-letter queue); it carries what its subscriptions' filters let through and the media types
      sent straight to it; the service `receive`s from the queues it consumes and `send`s to the queues
      that are destinations.

    Same input, same document (key for key, in the same order).

    :raises ContractError: when two messages share a media type and version, or `service` names a topic or
        queue the stack does not declare, or publishes a media type no message has (or one sent straight to a queue)
    """
    return _Builder(service, messages, stack).document()


class _Builder:
    def __init__(self, service: Service, messages: Sequence[Message], stack: StackSpec) -> None:
        self.service = service
        self.messages = messages
        self.stack = stack
        self.keys: dict[tuple[str, str], str] = {}

    def document(self) -> dict[str, Any]:
        self.check_service()
        messages = self.all_messages()
        self.keys = message_keys(messages)
        by_key = {self.keys[(item.media_type, item.version)]: item for item in messages}
        # A channel lists its messages in the components' order: by media type, then version
        order = {key: index for index, key in enumerate(by_key)}
        destinations = {media_type: queue.name for queue in self.stack.queues for media_type in queue.media_types}
        routed = [item for item in messages if item.media_type not in destinations]

        channels: dict[str, Any] = {}
        operations: dict[str, Any] = {}
        published = self.service.publishes
        if published is None:
            published = {topic: () for topic in self.stack.topics}
        for topic in self.stack.topics:
            key = channel_key("topic", topic)
            carried = [self.keys[(item.media_type, item.version)] for item in routed
                       if item.payload is not None or self.filtered_on(topic, item.media_type)]
            channels[key] = channel(topic, f"SNS topic {topic}.", carried, {"sns": topic_binding(topic)})
            if topic in published:
                chosen = published[topic]
                sent = [message_key for message_key in carried
                        if not chosen or any(overlaps(entry, by_key[message_key].media_type) for entry in chosen)]
                operations[f"send.{key}"] = self.send_to_topic(topic, key, sent)
        consumed = self.service.consumes if self.service.consumes is not None else [q.name for q in self.stack.queues]
        for queue in self.stack.queues:
            key = channel_key("queue", queue.name)
            sent = [self.keys[(item.media_type, item.version)] for item in messages
                    if destinations.get(item.media_type) == queue.name]
            delivered = [
                message_key
                for subscription in self.stack.subscriptions if subscription.queue == queue.name
                for message_key in channels[channel_key("topic", subscription.topic)]["messages"]
                if admits(subscription, by_key[message_key].media_type)
            ]
            carried = unique([*delivered, *sent])
            channels[key] = channel(queue.name, f"SQS queue {queue.name}.", sorted(carried, key=order.__getitem__),
                                    {"sqs": queue_channel_binding(queue)})
            if queue.name in consumed:
                operations[f"receive.{key}"] = operation("receive", key, channels[key]["messages"],
                                                         f"The service receives from queue {queue.name}.")
            if sent:
                operations[f"send.{key}"] = operation("send", key, sent,
                                                      f"The service sends straight to queue {queue.name}.")

        info: dict[str, Any] = {"title": self.service.title, "version": self.service.version}
        if self.service.description:
            info["description"] = self.service.description
        components: dict[str, Any] = {
            "messages": {key: message_object(key, item) for key, item in by_key.items()},
        }
        schemas = {key: payload_schema(item.payload) for key, item in by_key.items() if item.payload is not None}
        if schemas:
            components["schemas"] = schemas
        return {
            "asyncapi": ASYNCAPI_VERSION,
            "info": info,
            "defaultContentType": CONTENT_TYPE,
            "channels": channels,
            "operations": operations,
            "components": components,
        }

    def check_service(self) -> None:
        problems = [f"topic {name!r} is published but the stack declares no such topic"
                    for name in self.service.publishes or () if name not in self.stack.topics]
        destinations = {media_type for queue in self.stack.queues for media_type in queue.media_types}
        registered = [item.media_type for item in self.messages if item.payload is not None]
        for topic, entries in (self.service.publishes or {}).items():
            for entry in entries:
                matched = [media_type for media_type in registered if overlaps(entry, media_type)]
                if not matched:
                    problems.append(f"media type {entry!r} is published to topic {topic!r} but no schema is "
                                    "registered for it")
                elif all(media_type in destinations for media_type in matched):
                    problems.append(f"media type {entry!r} is published to topic {topic!r} but the stack sends it "
                                    "straight to a queue (queues[].mediaTypes)")
        queues = [queue.name for queue in self.stack.queues]
        problems += [f"queue {name!r} is consumed but the stack declares no such queue"
                     for name in self.service.consumes or () if name not in queues]
        if problems:
            raise ContractError("; ".join(problems))

    def all_messages(self) -> list[Message]:
        """The messages given, and one without payload for each media type the stack names that has none."""
        seen: set[tuple[str, str]] = set()
        for item in self.messages:
            if (item.media_type, item.version) in seen:
                raise ContractError(f"media type {item.media_type!r} version {item.version!r} is given twice")
            seen.add((item.media_type, item.version))
        known = {item.media_type for item in self.messages}
        named = [media_type for queue in self.stack.queues for media_type in queue.media_types]
        named += [entry for subscription in self.stack.subscriptions for entry in subscription.media_types or ()
                  if not entry.endswith(".*")]
        missing = [Message(media_type, "", None) for media_type in unique(named) if media_type not in known]
        return sorted([*self.messages, *missing], key=lambda item: (item.media_type, version_order(item.version)))

    def filtered_on(self, topic: str, media_type: str) -> bool:
        """Whether a subscription of `topic` names `media_type` exactly (a message the stack routes from it)."""
        return any(media_type in (subscription.media_types or ())
                   for subscription in self.stack.subscriptions if subscription.topic == topic)

    def send_to_topic(self, topic: str, key: str, sent: list[str]) -> dict[str, Any]:
        result = operation("send", key, sent, f"The service publishes to topic {topic}.")
        subscriptions = [item for item in self.stack.subscriptions if item.topic == topic]
        if subscriptions:
            queues = {queue.name: queue for queue in self.stack.queues}
            subscribed = [queues[item.queue] for item in subscriptions]
            definitions = [queue_definition(queue) for queue in subscribed]
            dead_letters = unique([queue.dead_letter.name for queue in subscribed if queue.dead_letter])
            definitions += [dead_letter_definition(name) for name in dead_letters]
            # The SNS binding names each queue; the SQS binding beside it defines them (the bindings' own pattern)
            result["bindings"] = {
                "sns": {"consumers": [consumer(item) for item in subscriptions], "bindingVersion": SNS_BINDING_VERSION},
                "sqs": {"queues": definitions, "bindingVersion": SQS_BINDING_VERSION},
            }
        return result


def message_keys(messages: Sequence[Message]) -> dict[tuple[str, str], str]:
    """A key of `components.messages` for each message: its media type and version in the characters keys allow."""
    keys: dict[tuple[str, str], str] = {}
    taken: set[str] = set()
    for item in messages:
        text = item.media_type.removeprefix("application/")
        if item.version:
            text += f".v{item.version.removeprefix('v')}"
        base = re.sub(r"[^\w.\-]", "_", text.replace(".*", ".any")) or "message"
        key, number = base, 1
        # Two media types differing only in characters keys cannot hold; the later in order gets a suffix
        while key in taken:
            number += 1
            key = f"{base}-{number}"
        taken.add(key)
        keys[(item.media_type, item.version)] = key
    return keys


def channel_key(kind: str, name: str) -> str:
    """`topic.orders`, `queue.orders`: a topic and a queue may share a name."""
    # Stack names are letters, digits, '-', '_' and '.fifo': a key as they are
    return f"{kind}.{name}"


def version_order(version: str) -> tuple[tuple[int, str], ...]:
    """Versions in natural order (2 before 10)."""
    return tuple((int(part), "") if part.isdigit() else (-1, part) for part in re.findall(r"\d+|\D+", version))


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def admits(subscription: SubscriptionSpec, media_type: str) -> bool:
    """Whether the subscription's filter can let a message of `media_type` (maybe a `prefix.*` schema) through."""
    if subscription.media_types is None:
        return True
    return any(overlaps(entry, media_type) for entry in subscription.media_types)


def overlaps(entry: str, media_type: str) -> bool:
    """A filter entry (exact, or `prefix.*`: SNS's prefix match) and a registered media type (`prefix.*` there
    matches one final segment) have a media type in common."""
    entry_prefix = entry[:-1] if entry.endswith(".*") else None
    type_prefix = media_type[:-1] if media_type.endswith(".*") else None
    if entry_prefix is None and type_prefix is None:
        return entry == media_type
    if type_prefix is None:
        return media_type.startswith(entry_prefix or "")
    if entry_prefix is None:
        rest = entry.removeprefix(type_prefix)
        return entry.startswith(type_prefix) and bool(rest) and "." not in rest
    return entry_prefix.startswith(type_prefix) or type_prefix.startswith(entry_prefix)


def channel(address: str, description: str, message_keys: Sequence[str], bindings: dict[str, Any]) -> dict[str, Any]:
    return {
        "address": address,
        "description": description,
        "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in message_keys},
        "bindings": bindings,
    }


def operation(action: str, channel_key: str, message_keys: Sequence[str], description: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel_key}"},
        "description": description,
    }
    if message_keys:
        # An operation's messages must be its channel's (AsyncAPI 3.0): referenced there, not in components
        result["messages"] = [{"$ref": f"#/channels/{channel_key}/messages/{key}"} for key in message_keys]
    return result


def topic_binding(topic: str) -> dict[str, Any]:
    # pubsub provision makes a FIFO topic with content-based deduplication (aws/provisioning)
    ordering = {"type": "FIFO", "contentBasedDeduplication": True} if is_fifo(topic) else {"type": "standard"}
    return {"name": topic, "ordering": ordering, "bindingVersion": SNS_BINDING_VERSION}


def queue_definition(queue: QueueSpec) -> dict[str, Any]:
    """A queue as `pubsub provision` makes it; the stack file has no delay, so the delivery delay is SQS's 0."""
    definition: dict[str, Any] = {
        "name": queue.name,
        "fifoQueue": is_fifo(queue.name),
        "deliveryDelay": 0,
        "visibilityTimeout": queue.visibility_timeout,
    }
    if is_fifo(queue.name):
        # The binding has no field for it; provisioning turns it on for every FIFO queue
        definition["x-contentBasedDeduplication"] = True
    if queue.dead_letter is not None:
        definition["redrivePolicy"] = {
            "deadLetterQueue": {"name": queue.dead_letter.name},
            "maxReceiveCount": queue.dead_letter.max_receive_count,
        }
    return definition


def dead_letter_definition(name: str) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "name": name, "fifoQueue": is_fifo(name), "messageRetentionPeriod": int(DEAD_LETTER_RETENTION_SECONDS),
    }
    if is_fifo(name):
        definition["x-contentBasedDeduplication"] = True
    return definition


def queue_channel_binding(queue: QueueSpec) -> dict[str, Any]:
    binding: dict[str, Any] = {"queue": queue_definition(queue)}
    if queue.dead_letter is not None:
        binding["deadLetterQueue"] = dead_letter_definition(queue.dead_letter.name)
    binding["bindingVersion"] = SQS_BINDING_VERSION
    return binding


def consumer(subscription: SubscriptionSpec) -> dict[str, Any]:
    """A subscribed queue, as the SNS binding lists it: how SNS delivers to it, and what it lets through."""
    result: dict[str, Any] = {
        "protocol": "sqs",
        "endpoint": {"name": subscription.queue},
        "rawMessageDelivery": subscription.raw,
    }
    if subscription.media_types is not None:
        # The policy pubsub provision sets: `x.*` is SNS's prefix match on `x.`
        values: list[Any] = [{"prefix": item[:-1]} if item.endswith(".*") else item
                             for item in subscription.media_types]
        policy = {MEDIA_TYPE_ATTRIBUTE: values}
        # The SNS binding 0.1.0's schema takes a list of strings only: a policy with a prefix match goes in an
        # extension, as SNS reads it, rather than in a shape SNS would not
        if all(isinstance(value, str) for value in values):
            result["filterPolicy"] = policy
        else:
            result["x-filterPolicy"] = policy
        result["filterPolicyScope"] = "MessageAttributes"
    return result


def message_object(key: str, item: Message) -> dict[str, Any]:
    result: dict[str, Any] = {"name": item.media_type}
    payload = item.payload or {}
    if isinstance(payload.get("title"), str):
        result["title"] = payload["title"]
    if isinstance(payload.get("description"), str):
        result["summary"] = payload["description"]
    result["contentType"] = CONTENT_TYPE
    wildcard = item.media_type.endswith(".*")
    attribute: dict[str, Any] = {"type": "string"}
    if wildcard:
        attribute["description"] = f"a media type of the form {item.media_type} (one final segment)"
    else:
        attribute["const"] = item.media_type
    # SNS message attributes: on a raw delivery SQS message attributes too, else inside the SNS envelope
    result["headers"] = {
        "type": "object", "properties": {MEDIA_TYPE_ATTRIBUTE: attribute}, "required": [MEDIA_TYPE_ATTRIBUTE],
    }
    if item.payload is not None:
        result["payload"] = {"$ref": f"#/components/schemas/{key}"}
    else:
        result["description"] = "No schema is registered for this media type."
    result["x-pubsub-media-type"] = item.media_type
    if item.version:
        result["x-pubsub-version"] = item.version
    if item.schema_name:
        result["x-pubsub-schema"] = item.schema_name
    return result


def payload_schema(payload: dict[str, Any]) -> Any:
    """A JSON Schema 2020-12 document as an AsyncAPI Schema Object (a superset of draft 07), which AsyncAPI tools
    read without a schema format: no `$schema`, and a tuple's `prefixItems` as draft 07's list of `items`."""
    return _draft07({key: value for key, value in payload.items() if key != "$schema"})


def _draft07(value: Any) -> Any:
    if isinstance(value, list):
        return [_draft07(item) for item in value]
    if not isinstance(value, dict):
        return value
    result = {key: _draft07(item) for key, item in value.items() if key not in ("prefixItems", "items")}
    if "prefixItems" in value:
        result["items"] = _draft07(value["prefixItems"])
        # In 2020-12 `items` beside `prefixItems` is the schema of the items after them: draft 07's additionalItems
        if "items" in value:
            result["additionalItems"] = _draft07(value["items"])
    elif "items" in value:
        result["items"] = _draft07(value["items"])
    return result
