"""In-memory SNS and SQS clients that speak boto3: its method names, parameters, answers, errors and events."""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore import xform_name
from botocore.config import Config
from botocore.model import OperationModel

from microcosm_pubsub.wire.limits import MAX_BATCH_ENTRIES as MAX_BATCH
from microcosm_pubsub.wire.limits import SNS_MAX_MESSAGE_BYTES as MAX_MESSAGE_BYTES


if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient


REGION = "us-east-1"
ACCOUNT_ID = "000000000000"
# SQS's bound on any visibility timeout: 12 hours
MAX_VISIBILITY_SECONDS = 43_200
# SQS's window for dropping a FIFO message sent again with the same deduplication id
DEDUPLICATION_SECONDS = 300
QUEUE_DEFAULTS = {
    "VisibilityTimeout": "30", "DelaySeconds": "0", "ReceiveMessageWaitTimeSeconds": "0",
    "MessageRetentionPeriod": "345600", "MaximumMessageSize": str(MAX_MESSAGE_BYTES),
}
TOPIC_DEFAULTS = {"DisplayName": "", "Policy": "", "SubscriptionsConfirmed": "0"}

Response = dict[str, Any]
# A call's keyword arguments, which botocore's model has checked
Params = Mapping[str, Any]


@cache
def _session() -> botocore.session.Session:
    # The clients are made with everything they need: a profile named in the environment must not matter
    return botocore.session.Session(session_vars={"profile": (None, None, None, None)})


def md5(text: str) -> str:
    # The digest SQS returns so a receiver can check the body arrived intact; not a security measure
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def now_ms() -> str:
    return str(int(time.time() * 1000))


def present(**members: Any) -> Response:
    """`members` without the empty ones: AWS leaves out what it has nothing for."""
    return {name: value for name, value in members.items() if value}


def chosen(values: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The set `values` that `names` asks for: by name, by a prefix ending in `.*`, or all ("All", ".*")."""
    names = set(names)
    prefixes = tuple(name[:-1] for name in names if name.endswith(".*"))
    every = bool({"All", ".*"} & names)
    return {
        name: value for name, value in values.items()
        if value is not None and (every or name in names or name.startswith(prefixes))
    }


def sns_notification(
    body: str, attributes: Mapping[str, Mapping[str, Any]] | None = None, *, topic_arn: str, message_id: str,
) -> dict[str, Any]:
    """The JSON SNS writes into an SQS body when raw delivery is off."""
    return {
        "Type": "Notification", "MessageId": message_id, "TopicArn": topic_arn, "Message": body,
        "Timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "SignatureVersion": "1", "Signature": "TESTING",
        "SigningCertURL": f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-testing.pem",
        "UnsubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic_arn}:testing",
        # SNS renames DataType/StringValue to Type/Value inside its envelope, binary values in base64
        "MessageAttributes": {
            name: {"Type": value["DataType"], "Value": base64.b64encode(value["BinaryValue"]).decode()
                   if "BinaryValue" in value else str(value.get("StringValue", ""))}
            for name, value in (attributes or {}).items()
        },
    }


class Refused(Exception):
    """A request the service refuses: raised as its modeled `ClientError`, or a batch entry's `Failed` item."""

    def __init__(self, code: str, message: str, shape: str) -> None:
        super().__init__(message)
        self.code, self.message, self.shape = code, message, shape


def batch_of(single: str) -> Callable[[Any, Params], Response]:
    """The batch form of operation `single`: each entry is a `single` call, with the batch's other parameters."""
    return lambda self, p: self.batch(p, getattr(self, single))


class MemoryClient:
    """What both services share: a boto3 client whose calls are served here instead of sent, batches, errors.

    botocore checks each call against its model, raises the modeled errors and emits its events; its
    `before-call` event, which may answer instead of the network, hands the call to the method of the
    operation's name (an operation served by none answers with metadata only).
    """

    service = ""

    def __init__(self, world: MemoryAWS) -> None:
        self.world = world
        self.client = _session().create_client(
            self.service, region_name=REGION, endpoint_url=f"https://{self.service}.{REGION}.amazonaws.com",
            aws_access_key_id="memory", aws_secret_access_key="memory",  # noqa: S106  # never sent
            config=Config(parameter_validation=world.checked),
        )
        self.client.meta.events.register(f"before-parameter-build.{self.service}", self.keep)
        # botocore's stubs type handlers as answering nothing; a before-call handler may answer the call
        self.client.meta.events.register_last(f"before-call.{self.service}", self.serve)  # type: ignore[arg-type]

    @staticmethod
    def keep(params: Params, context: dict[str, Any], **_: Any) -> None:
        # before-call sees the serialized request; the call's own parameters are kept for it
        context["memory_params"] = dict(params)

    def serve(self, model: OperationModel, context: dict[str, Any], **_: Any) -> tuple[Any, Response]:
        if self.world.latency:
            time.sleep(self.world.latency)
        method = getattr(type(self), xform_name(model.name), None)
        status = 200
        try:
            with self.world.changed:
                response = method(self, context["memory_params"]) if method is not None else {}
        except Refused as refused:
            response, status = {"Error": {"Code": refused.code, "Message": refused.message}}, 400
        response["ResponseMetadata"] = {
            "RequestId": str(uuid.uuid4()), "HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0,
        }
        return SimpleNamespace(status_code=status, headers={}), response

    def error(self, shape: str, message: str) -> Refused:
        code = getattr(self.client.meta.service_model.shape_for(shape), "error_code", None)
        return Refused(code or shape, message, shape)

    def batch(self, p: Params, one: Callable[[Params], Response]) -> Response:
        """`one` per entry: each answers in `Successful` (with its Id) or, refused, in `Failed`."""
        key = "PublishBatchRequestEntries" if self.service == "sns" else "Entries"
        outer, ids = {name: value for name, value in p.items() if name != key}, [entry["Id"] for entry in p[key]]
        suffix = "" if self.service == "sqs" else "Exception"
        successful, failed = [], []
        if not ids:
            raise self.error("EmptyBatchRequest" + suffix, "There should be at least one entry in the request.")
        if len(ids) > MAX_BATCH:
            raise self.error("TooManyEntriesInBatchRequest" + suffix, f"Maximum number of entries is {MAX_BATCH}.")
        if len(set(ids)) != len(ids):
            raise self.error("BatchEntryIdsNotDistinct" + suffix, "Two or more batch entries have the same Id.")
        for entry in p[key]:
            try:
                successful.append({"Id": entry["Id"], **one({**outer, **entry})})
            except Refused as refused:
                if refused.shape in ("QueueDoesNotExist", "NotFoundException"):
                    # A missing queue or topic fails the whole call, not one entry
                    raise
                failed.append({"Id": entry["Id"], "SenderFault": True, "Code": refused.code,
                               "Message": refused.message})
        return {"Successful": successful, "Failed": failed}


@dataclass
class Stored:
    """One message on a queue, with its per-delivery state."""

    body: str
    attributes: dict[str, Any]
    sent: str
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    group: str | None = None
    deduplication: str | None = None
    sequence: str | None = None
    # time.monotonic() from which a receive may hand it out
    visible_at: float = 0.0
    receive_count: int = 0
    first_received: str | None = None
    handle: str | None = None


def received(message: Stored, system: list[str], attributes: list[str]) -> Response:
    """A message as `receive_message` answers it, with the system and message attributes asked for."""
    values = {
        "ApproximateReceiveCount": str(message.receive_count), "SentTimestamp": message.sent,
        "SenderId": ACCOUNT_ID, "ApproximateFirstReceiveTimestamp": message.first_received,
        "MessageGroupId": message.group, "MessageDeduplicationId": message.deduplication,
        "SequenceNumber": message.sequence,
    }
    return {
        "MessageId": message.message_id, "ReceiptHandle": message.handle,
        "MD5OfBody": md5(message.body), "Body": message.body,
        **present(Attributes=chosen(values, system), MessageAttributes={
            name: dict(value) for name, value in chosen(message.attributes, attributes).items()
        }),
    }


@dataclass
class Queue:
    name: str
    url: str
    arn: str
    attributes: dict[str, str]
    messages: dict[str, Stored] = field(default_factory=dict)
    # Every receipt handle handed out, the stale ones and those of messages gone included
    handles: dict[str, Stored] = field(default_factory=dict)
    deduplicated: dict[str, float] = field(default_factory=dict)

    def setting(self, name: str) -> int:
        return int(self.attributes.get(name) or 0)


class MemoryAWS:
    """One account's in-memory SNS (`sns`) and SQS (`sqs`): what SNS publishes reaches subscribed queues.

    :param strict: refuse, as AWS does, topics, queues and receipt handles it never made; off, it
        makes them on first use and accepts any handle (the old testing mode's clients answer anything)
    :param latency: seconds each call waits before it is served, like a network round trip
    :param checked: check each call's parameters against botocore's model, as boto3 does (the benchmarks
        leave that CPU out)
    """

    def __init__(self, strict: bool = True, latency: float = 0.0, checked: bool = True) -> None:
        self.strict, self.latency, self.checked = strict, latency, checked
        self.queues: dict[str, Queue] = {}
        self.topics: dict[str, dict[str, str]] = {}
        self.subscriptions: dict[str, dict[str, str]] = {}
        # Held through every call; receives wait on it for messages
        self.changed = threading.Condition()
        self.sequence = itertools.count(1)
        self.queues_served = MemorySQS(self)
        self.sns = cast("SNSClient", MemorySNS(self).client)
        self.sqs = cast("SQSClient", self.queues_served.client)

    def clients(self) -> tuple[SNSClient, SQSClient]:
        return self.sns, self.sqs


class MemorySQS(MemoryClient):
    """SQS in memory: visibility timeouts, receive counts, long polls, redrive, FIFO groups and deduplication."""

    service = "sqs"

    def queue(self, url: str) -> Queue:
        if url not in self.world.queues:
            if self.world.strict:
                raise self.error("QueueDoesNotExist", "The specified queue does not exist.")
            self.make_queue(url.rstrip("/").rsplit("/", 1)[-1], {}, url)
        return self.world.queues[url]

    def make_queue(self, name: str, attributes: Mapping[str, str], url: str | None = None) -> Queue:
        url = url or f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{name}"
        account = url.rstrip("/").rsplit("/", 2)[-2] if url.count("/") >= 4 else ACCOUNT_ID
        settings = {**QUEUE_DEFAULTS, "CreatedTimestamp": str(int(time.time())), **attributes}
        queue = self.world.queues[url] = Queue(name, url, f"arn:aws:sqs:{REGION}:{account}:{name}", settings)
        return queue

    def find(self, **members: str) -> Queue | None:
        return next((queue for queue in self.world.queues.values()
                     if all(getattr(queue, name) == value for name, value in members.items())), None)

    def create_queue(self, p: Params) -> Response:
        name, attributes = p["QueueName"], p.get("Attributes") or {}
        queue = self.find(name=name)
        if queue is None:
            if name.endswith(".fifo") != (attributes.get("FifoQueue") == "true"):
                raise self.error("InvalidAttributeValue", "A queue is FIFO exactly when its name ends in .fifo.")
            queue = self.make_queue(name, attributes)
        return {"QueueUrl": queue.url}

    def delete_queue(self, p: Params) -> Response:
        del self.world.queues[self.queue(p["QueueUrl"]).url]
        return {}

    def get_queue_url(self, p: Params) -> Response:
        name, account = p["QueueName"], p.get("QueueOwnerAWSAccountId") or ACCOUNT_ID
        queue = self.find(arn=f"arn:aws:sqs:{REGION}:{account}:{name}")
        return {"QueueUrl": (queue or self.queue(f"https://sqs.{REGION}.amazonaws.com/{account}/{name}")).url}

    def list_queues(self, p: Params) -> Response:
        prefix = p.get("QueueNamePrefix", "")
        urls = [queue.url for queue in self.world.queues.values() if queue.name.startswith(prefix)]
        return present(QueueUrls=urls[:p.get("MaxResults")])

    def get_queue_attributes(self, p: Params) -> Response:
        queue, now = self.queue(p["QueueUrl"]), time.monotonic()
        hidden = [message for message in queue.messages.values() if message.visible_at > now]
        attributes = {
            **queue.attributes,
            "QueueArn": queue.arn,
            "ApproximateNumberOfMessages": str(len(queue.messages) - len(hidden)),
            "ApproximateNumberOfMessagesNotVisible": str(sum(1 for message in hidden if message.receive_count)),
            "ApproximateNumberOfMessagesDelayed": str(sum(1 for message in hidden if not message.receive_count)),
        }
        return present(Attributes=chosen(attributes, p.get("AttributeNames") or []))

    def set_queue_attributes(self, p: Params) -> Response:
        queue = self.queue(p["QueueUrl"])
        # An empty value removes the setting (how a redrive policy is taken off)
        queue.attributes = {name: value for name, value in {**queue.attributes, **p["Attributes"]}.items()
                            if value != ""}
        return {}

    def enqueue(self, queue: Queue, p: Params) -> Stored | None:
        """Put one message on `queue`; None when FIFO deduplication drops it."""
        body, attributes = p["MessageBody"], dict(p.get("MessageAttributes") or {})
        group, deduplication = p.get("MessageGroupId"), p.get("MessageDeduplicationId")
        size = len(body.encode()) + sum(len(name) + len(json.dumps(value, default=str))
                                        for name, value in attributes.items())
        if size > MAX_MESSAGE_BYTES:
            raise self.error("InvalidMessageContents", f"Message must be shorter than {MAX_MESSAGE_BYTES} bytes.")
        message, now = Stored(body, attributes, now_ms()), time.monotonic()
        if queue.attributes.get("FifoQueue") == "true":
            if not group:
                raise self.error("InvalidAttributeValue", "The request must contain the parameter MessageGroupId.")
            if deduplication is None and queue.attributes.get("ContentBasedDeduplication") == "true":
                deduplication = hashlib.sha256(body.encode()).hexdigest()
            if deduplication is None:
                raise self.error("InvalidAttributeValue", "The queue should either have ContentBasedDeduplication "
                                 "enabled or MessageDeduplicationId provided explicitly.")
            if queue.deduplicated.get(deduplication, -DEDUPLICATION_SECONDS) + DEDUPLICATION_SECONDS > now:
                return None
            queue.deduplicated[deduplication] = now
            message.group, message.deduplication = group, deduplication
            message.sequence = f"{next(self.world.sequence):020d}"
        delay = p.get("DelaySeconds")
        message.visible_at = now + (queue.setting("DelaySeconds") if delay is None else delay)
        queue.messages[message.message_id] = message
        self.world.changed.notify_all()
        return message

    def send_message(self, p: Params) -> Response:
        message = self.enqueue(self.queue(p["QueueUrl"]), p)
        if message is None:
            # A deduplicated send answers as if it were sent
            return {"MessageId": str(uuid.uuid4())}
        return present(MessageId=message.message_id, MD5OfMessageBody=md5(message.body),
                       SequenceNumber=message.sequence)

    send_message_batch = batch_of("send_message")

    def receive_message(self, p: Params) -> Response:
        limit, wait = p.get("MaxNumberOfMessages", 1), p.get("WaitTimeSeconds")
        if not 1 <= limit <= MAX_BATCH:
            raise self.error("OverLimit", f"MaxNumberOfMessages must be 1 to {MAX_BATCH}.")
        queue = self.queue(p["QueueUrl"])
        deadline = time.monotonic() + (queue.setting("ReceiveMessageWaitTimeSeconds") if wait is None else wait)
        # A long poll answers as soon as anything is there, else when its wait is up
        while not (taken := self.take(queue, limit, p.get("VisibilityTimeout"))):
            now = time.monotonic()
            if now >= deadline or queue.url not in self.world.queues:
                break
            upcoming = [message.visible_at for message in queue.messages.values() if message.visible_at > now]
            self.world.changed.wait(min([deadline, *upcoming]) - now)
        names = [*(p.get("AttributeNames") or []), *(p.get("MessageSystemAttributeNames") or [])]
        return {"Messages": [received(message, names, p.get("MessageAttributeNames") or []) for message in taken]}

    def take(self, queue: Queue, limit: int, visibility: int | None) -> list[Stored]:
        """Up to `limit` visible messages; over-received ones move to the dead-letter queue."""
        now = time.monotonic()
        redrive = json.loads(queue.attributes.get("RedrivePolicy") or "{}")
        dead_letter = self.find(arn=redrive["deadLetterTargetArn"]) if redrive else None
        # A FIFO group with a message in flight, or an earlier one not yet visible, hands out nothing
        blocked: set[str | None] = set()
        taken: list[Stored] = []
        for message in list(queue.messages.values()):
            if len(taken) >= limit:
                break
            if message.visible_at > now or message.group in blocked:
                if message.group is not None:
                    blocked.add(message.group)
            elif dead_letter is not None and message.receive_count >= int(redrive["maxReceiveCount"]):
                del queue.messages[message.message_id]
                message.visible_at, message.handle = 0.0, None
                dead_letter.messages[message.message_id] = message
            else:
                message.receive_count += 1
                message.first_received = message.first_received or now_ms()
                message.handle = f"{message.message_id}#{next(self.world.sequence)}"
                queue.handles[message.handle] = message
                message.visible_at = now + (queue.setting("VisibilityTimeout") if visibility is None else visibility)
                taken.append(message)
        return taken

    def held(self, p: Params) -> tuple[Queue, Stored | None]:
        """The queue, and the message its receipt handle was handed out for (None when it is gone)."""
        queue, handle = self.queue(p["QueueUrl"]), p["ReceiptHandle"]
        if handle not in queue.handles and self.world.strict:
            raise self.error("ReceiptHandleIsInvalid", f"The input receipt handle {handle!r} is not valid.")
        return queue, queue.handles.get(handle)

    def delete_message(self, p: Params) -> Response:
        queue, message = self.held(p)
        if message is not None:
            # A message already gone is deleted again quietly, as SQS does
            queue.messages.pop(message.message_id, None)
        return {}

    delete_message_batch = batch_of("delete_message")

    def change_message_visibility(self, p: Params) -> Response:
        # A batch entry may leave the timeout out
        seconds = p.get("VisibilityTimeout", 0)
        if not 0 <= seconds <= MAX_VISIBILITY_SECONDS:
            raise self.error("InvalidAttributeValue", f"VisibilityTimeout must be 0 to {MAX_VISIBILITY_SECONDS}.")
        queue, message = self.held(p)
        if message is None:
            return {}
        # Its latest handle moves a message even once its timeout ran out, until it is received again
        if message.handle != p["ReceiptHandle"] or message.message_id not in queue.messages:
            raise self.error("MessageNotInflight", "The message referred to is not in flight.")
        message.visible_at = time.monotonic() + seconds
        self.world.changed.notify_all()
        return {}

    change_message_visibility_batch = batch_of("change_message_visibility")


def matches(policy: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """Whether SNS's filter policy lets through a message with these attribute values (strings, prefix,
    anything-but, exists; an array attribute matches when any element does)."""

    def one(condition: Any, value: Any) -> bool:
        if not isinstance(condition, dict):
            return value is not None and condition == value
        if "exists" in condition:
            return bool(condition["exists"]) == (value is not None)
        if value is not None and "prefix" in condition:
            return str(value).startswith(condition["prefix"])
        if value is not None and "anything-but" in condition:
            refused = condition["anything-but"]
            return value not in (refused if isinstance(refused, list) else [refused])
        return False

    for key, conditions in policy.items():
        value = values.get(key)
        items = value if isinstance(value, list) else [value]
        if not any(one(condition, item) for condition in conditions for item in items):
            return False
    return True


class MemorySNS(MemoryClient):
    """SNS in memory: topics and SQS subscriptions; a publish reaches each subscribed queue its filter lets through."""

    service = "sns"

    def topic(self, arn: str) -> dict[str, str]:
        if arn not in self.world.topics:
            if self.world.strict:
                raise self.error("NotFoundException", "Topic does not exist")
            self.world.topics[arn] = {**TOPIC_DEFAULTS, "TopicArn": arn}
        return self.world.topics[arn]

    def subscription(self, arn: str) -> dict[str, str]:
        if arn not in self.world.subscriptions:
            raise self.error("NotFoundException", "Subscription does not exist")
        return self.world.subscriptions[arn]

    def create_topic(self, p: Params) -> Response:
        name, attributes = p["Name"], p.get("Attributes") or {}
        if name.endswith(".fifo") != (attributes.get("FifoTopic") == "true"):
            raise self.error("InvalidParameterException", "Invalid parameter: a FIFO topic's name ends in .fifo")
        arn = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}"
        self.world.topics.setdefault(arn, {**TOPIC_DEFAULTS, **attributes, "TopicArn": arn})
        return {"TopicArn": arn}

    def delete_topic(self, p: Params) -> Response:
        self.world.topics.pop(p["TopicArn"], None)
        for arn, subscription in list(self.world.subscriptions.items()):
            if subscription["TopicArn"] == p["TopicArn"]:
                del self.world.subscriptions[arn]
        return {}

    def list_topics(self, p: Params) -> Response:
        return {"Topics": [{"TopicArn": arn} for arn in self.world.topics]}

    def get_topic_attributes(self, p: Params) -> Response:
        return {"Attributes": dict(self.topic(p["TopicArn"]))}

    def subscribe(self, p: Params) -> Response:
        topic_arn, endpoint = p["TopicArn"], p.get("Endpoint") or ""
        if p["Protocol"] != "sqs":
            raise self.error("InvalidParameterException", f"Invalid parameter: only sqs is served, not {p['Protocol']}")
        self.topic(topic_arn)
        for arn, subscription in self.world.subscriptions.items():
            if subscription["TopicArn"] == topic_arn and subscription["Endpoint"] == endpoint:
                return {"SubscriptionArn": arn}
        arn = f"{topic_arn}:{uuid.uuid4()}"
        self.world.subscriptions[arn] = {
            "SubscriptionArn": arn, "TopicArn": topic_arn, "Protocol": "sqs", "Endpoint": endpoint,
            "Owner": ACCOUNT_ID, "RawMessageDelivery": "false", **(p.get("Attributes") or {}),
        }
        return {"SubscriptionArn": arn}

    def get_subscription_attributes(self, p: Params) -> Response:
        return {"Attributes": dict(self.subscription(p["SubscriptionArn"]))}

    def set_subscription_attributes(self, p: Params) -> Response:
        name, value = p["AttributeName"], p.get("AttributeValue")
        subscription = self.subscription(p["SubscriptionArn"])
        # "{}" is how SNS takes a filter policy off
        if name == "FilterPolicy" and value in ("{}", "", None):
            subscription.pop("FilterPolicy", None)
        else:
            subscription[name] = value or ""
        return {}

    def listed(self, p: Params) -> Response:
        keys = ("SubscriptionArn", "Owner", "Protocol", "Endpoint", "TopicArn")
        if "TopicArn" in p:
            self.topic(p["TopicArn"])
        return {"Subscriptions": [
            {key: subscription[key] for key in keys} for subscription in self.world.subscriptions.values()
            if p.get("TopicArn") in (None, subscription["TopicArn"])
        ]}

    list_subscriptions = list_subscriptions_by_topic = listed

    def publish(self, p: Params) -> Response:
        topic_arn, body = p.get("TopicArn") or p.get("TargetArn") or "", p["Message"]
        group, deduplication = p.get("MessageGroupId"), p.get("MessageDeduplicationId")
        attributes = dict(p.get("MessageAttributes") or {})
        topic = self.topic(topic_arn)
        if p.get("MessageStructure") == "json":
            structure = json.loads(body)
            body = structure.get("sqs", structure["default"])
        if len(body.encode()) > MAX_MESSAGE_BYTES:
            raise self.error("InvalidParameterException", "Invalid parameter: Message too long")
        fifo = topic.get("FifoTopic") == "true"
        if fifo and not group:
            raise self.error("InvalidParameterException", "Invalid parameter: The MessageGroupId parameter is "
                             "required for FIFO topics")
        if fifo and deduplication is None and topic.get("ContentBasedDeduplication") == "true":
            deduplication = hashlib.sha256(body.encode()).hexdigest()
        message_id = str(uuid.uuid4())
        values = {
            name: json.loads(value["StringValue"]) if value["DataType"] == "String.Array"
            else value.get("StringValue") for name, value in attributes.items()
        }
        for subscription in list(self.world.subscriptions.values()):
            queue = self.world.queues_served.find(arn=subscription["Endpoint"])
            policy = json.loads(subscription.get("FilterPolicy") or "{}")
            on_body = subscription.get("FilterPolicyScope") == "MessageBody"
            if subscription["TopicArn"] != topic_arn or queue is None or not matches(
                    policy, json.loads(body) if on_body else values):
                continue
            raw = subscription.get("RawMessageDelivery") == "true"
            notification = sns_notification(body, attributes, topic_arn=topic_arn, message_id=message_id)
            # SNS delivers after the publish has answered: a queue refusing the message does not fail it
            with suppress(Refused):
                self.world.queues_served.enqueue(queue, {
                    "MessageBody": body if raw else json.dumps(notification), "MessageGroupId": group,
                    "MessageAttributes": attributes if raw else None, "MessageDeduplicationId": deduplication,
                })
        return present(MessageId=message_id, SequenceNumber=f"{next(self.world.sequence):020d}" if fifo else None)

    publish_batch = batch_of("publish")
