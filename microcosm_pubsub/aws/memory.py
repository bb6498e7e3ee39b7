"""In-memory SNS and SQS clients that speak boto3: its method names, parameters, answers, errors and events."""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, wraps
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore import xform_name
from botocore.config import Config
from botocore.errorfactory import ClientExceptionsFactory
from botocore.exceptions import ClientError
from botocore.hooks import HierarchicalEmitter
from botocore.model import OperationModel, ServiceModel
from botocore.paginate import Paginator
from botocore.validate import validate_parameters


if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient


REGION = "us-east-1"
ACCOUNT_ID = "000000000000"
# SNS and SQS refuse a message (body and attributes) above 256 KiB
MAX_MESSAGE_BYTES = 262_144
MAX_BATCH = 10
# SQS's bound on any visibility timeout: 12 hours
MAX_VISIBILITY_SECONDS = 43_200

Response = dict[str, Any]


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def service_model(service: str) -> ServiceModel:
    """botocore's model of `service`, loaded once per process."""
    return _session().get_service_model(service)


@cache
def operation_names(service: str) -> dict[str, str]:
    """boto3 method name -> API operation name, e.g. `publish_batch` -> `PublishBatch`."""
    return {xform_name(name): name for name in service_model(service).operation_names}


def check(service: str, name: str, params: Mapping[str, Any], validate: bool = True) -> OperationModel:
    """The model of boto3 method `name`, once `params` pass its checks (else botocore's ParamValidationError)."""
    model = service_model(service).operation_model(operation_names(service)[name])
    if validate and model.input_shape is not None:
        validate_parameters(params, model.input_shape)
    return model


def metadata() -> dict[str, Any]:
    return {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}


def md5(text: str) -> str:
    # The digest SQS returns so a receiver can check the body arrived intact; not a security measure
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def now_ms() -> str:
    return str(int(time.time() * 1000))


def sns_notification(
    body: str, attributes: Mapping[str, Mapping[str, Any]] | None = None, *, topic_arn: str, message_id: str,
) -> dict[str, Any]:
    """The JSON SNS writes into an SQS body when raw delivery is off."""
    timestamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic_arn,
        "Message": body,
        "Timestamp": timestamp,
        "SignatureVersion": "1",
        "Signature": "TESTING",
        "SigningCertURL": f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-testing.pem",
        "UnsubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic_arn}:testing",
        # SNS renames DataType/StringValue to Type/Value inside its envelope, binary values in base64
        "MessageAttributes": {
            name: {"Type": str(value["DataType"]), "Value": base64.b64encode(value["BinaryValue"]).decode()}
            if "BinaryValue" in value else {"Type": str(value["DataType"]), "Value": str(value.get("StringValue", ""))}
            for name, value in (attributes or {}).items()
        },
    }


class Refused(Exception):
    """A request the service refuses: raised as its modeled `ClientError`, or a batch entry's `Failed` item."""

    def __init__(self, code: str, message: str, shape: str) -> None:
        super().__init__(message)
        self.code, self.message, self.shape = code, message, shape


def operation(method: Callable[..., Response]) -> Callable[..., Response]:
    """A client method: keyword arguments checked against the model, botocore's events, response metadata."""

    @wraps(method)
    def call(self: MemoryClient, *args: Any, **params: Any) -> Response:
        if args:
            raise TypeError(f"{method.__name__}() only accepts keyword arguments.")
        return self.call(method, params)

    return call


class MemoryClient:
    """What both clients share: `meta` (model, region, events), `exceptions`, the call path, paginators."""

    service = ""

    def __init__(self, world: MemoryAWS) -> None:
        self.world = world
        model = service_model(self.service)
        self.meta = SimpleNamespace(
            service_model=model, region_name=REGION, endpoint_url=None, partition="aws",
            config=Config(region_name=REGION), events=HierarchicalEmitter(),
        )
        self.exceptions = ClientExceptionsFactory().create_client_exceptions(model)

    def call(self, method: Callable[..., Response], params: dict[str, Any]) -> Response:
        model = check(self.service, method.__name__, params, self.world.checked)
        events, name, context = self.meta.events, f"{self.service}.{model.name}", dict[str, Any]()
        events.emit(f"before-parameter-build.{name}", params=params, model=model, context=context)
        events.emit(f"before-call.{name}", model=model, params=params, request_signer=None, context=context)
        if self.world.latency:
            time.sleep(self.world.latency)
        try:
            response = method(self, **params)
        except Refused as refused:
            raise self.client_error(refused, model.name) from None
        response["ResponseMetadata"] = metadata()
        events.emit(f"after-call.{name}", http_response=None, parsed=response, model=model, context=context)
        return response

    def error(self, shape: str, message: str) -> Refused:
        return Refused(self.meta.service_model.shape_for(shape).error_code or shape, message, shape)

    def client_error(self, refused: Refused, operation_name: str) -> ClientError:
        """`refused` as boto3 raises it: the modeled error's class under `exceptions`, its code."""
        error_class: type[ClientError] = getattr(self.exceptions, refused.shape)
        return error_class({"Error": {"Code": refused.code, "Message": refused.message}}, operation_name)

    def batch(self, entries: list[Mapping[str, Any]], one: Callable[[Mapping[str, Any]], Response]) -> Response:
        """Run `one` per entry: each answers in `Successful` (with its Id) or, refused, in `Failed`."""
        ids = [entry["Id"] for entry in entries]
        prefix = "" if self.service == "sqs" else "Exception"
        if not ids:
            raise self.error("EmptyBatchRequest" + prefix, "There should be at least one entry in the request.")
        if len(ids) > MAX_BATCH:
            raise self.error("TooManyEntriesInBatchRequest" + prefix, f"Maximum number of entries is {MAX_BATCH}.")
        if len(set(ids)) != len(ids):
            raise self.error("BatchEntryIdsNotDistinct" + prefix, "Two or more batch entries have the same Id.")
        successful, failed = [], []
        for entry in entries:
            try:
                successful.append({"Id": entry["Id"], **one(entry)})
            except Refused as refused:
                failed.append(
                    {"Id": entry["Id"], "SenderFault": True, "Code": refused.code, "Message": refused.message},
                )
        return {"Successful": successful, "Failed": failed}

    def get_paginator(self, name: str) -> Paginator[Any]:
        """botocore's paginator over this client's `name` operation (the double answers in one page)."""
        config = _session().get_paginator_model(self.service).get_paginator(operation_names(self.service)[name])
        model = self.meta.service_model.operation_model(operation_names(self.service)[name])
        return Paginator(getattr(self, name), config, model)

    def close(self) -> None:
        """Nothing to release: no connections."""


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


QUEUE_DEFAULTS = {
    "VisibilityTimeout": "30", "DelaySeconds": "0", "ReceiveMessageWaitTimeSeconds": "0",
    "MessageRetentionPeriod": "345600", "MaximumMessageSize": str(MAX_MESSAGE_BYTES),
}
TOPIC_DEFAULTS = {"DisplayName": "", "Policy": "", "SubscriptionsConfirmed": "0"}
# SQS's window for dropping a FIFO message sent again with the same deduplication id
DEDUPLICATION_SECONDS = 300


class MemoryAWS:
    """One account's in-memory SNS (`sns`) and SQS (`sqs`): what SNS publishes reaches subscribed queues.

    :param strict: refuse, as AWS does, topics, queues and receipt handles it never made; off, it
        makes them on first use and accepts any handle (the old testing mode's clients answer anything)
    :param latency: seconds each call waits before it is served, like a network round trip
    :param checked: check each call's parameters against botocore's model, as boto3 does (the
        benchmarks leave that CPU out, as they leave out the rest of botocore)
    """

    def __init__(self, strict: bool = True, latency: float = 0.0, checked: bool = True) -> None:
        self.strict, self.latency, self.checked = strict, latency, checked
        self.queues: dict[str, Queue] = {}
        self.topics: dict[str, dict[str, str]] = {}
        self.subscriptions: dict[str, dict[str, str]] = {}
        # Guards every queue and topic; receives wait on it for messages
        self.changed = threading.Condition()
        self.sequence = itertools.count(1)
        self.sns = MemorySNS(self)
        self.sqs = MemorySQS(self)

    def clients(self) -> tuple[SNSClient, SQSClient]:
        """The two clients, typed as the boto3 clients they stand in for (for code annotated with those)."""
        return cast("SNSClient", self.sns), cast("SQSClient", self.sqs)


class MemorySQS(MemoryClient):
    """SQS in memory: visibility timeouts, receive counts, long polls, redrive, FIFO groups and deduplication."""

    service = "sqs"

    def queue(self, url: str) -> Queue:
        queue = self.world.queues.get(url)
        if queue is None:
            if self.world.strict:
                raise self.error("QueueDoesNotExist", "The specified queue does not exist.")
            queue = self.make_queue(url.rstrip("/").rsplit("/", 1)[-1], {}, url)
        return queue

    def make_queue(self, name: str, attributes: Mapping[str, str], url: str | None = None) -> Queue:
        url = url or f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{name}"
        account = url.rstrip("/").rsplit("/", 2)[-2] if url.count("/") >= 4 else ACCOUNT_ID
        settings = {**QUEUE_DEFAULTS, "CreatedTimestamp": str(int(time.time())), **attributes}
        queue = Queue(name, url, f"arn:aws:sqs:{REGION}:{account}:{name}", settings)
        self.world.queues[url] = queue
        return queue

    def by_arn(self, arn: str) -> Queue | None:
        return next((queue for queue in self.world.queues.values() if queue.arn == arn), None)

    @operation
    def create_queue(
        self, *, QueueName: str, Attributes: Mapping[str, str] | None = None, tags: Any = None,
    ) -> Response:
        with self.world.changed:
            existing = next((queue for queue in self.world.queues.values() if queue.name == QueueName), None)
            if existing is None:
                if QueueName.endswith(".fifo") != ((Attributes or {}).get("FifoQueue") == "true"):
                    raise self.error("InvalidAttributeValue", "A queue is FIFO exactly when its name ends in .fifo.")
                existing = self.make_queue(QueueName, Attributes or {})
            return {"QueueUrl": existing.url}

    @operation
    def delete_queue(self, *, QueueUrl: str) -> Response:
        with self.world.changed:
            self.queue(QueueUrl)
            del self.world.queues[QueueUrl]
        return {}

    @operation
    def get_queue_url(self, *, QueueName: str, QueueOwnerAWSAccountId: str | None = None) -> Response:
        with self.world.changed:
            for queue in self.world.queues.values():
                if queue.name == QueueName and queue.arn.split(":")[4] == (QueueOwnerAWSAccountId or ACCOUNT_ID):
                    return {"QueueUrl": queue.url}
            account = QueueOwnerAWSAccountId or ACCOUNT_ID
            return {"QueueUrl": self.queue(f"https://sqs.{REGION}.amazonaws.com/{account}/{QueueName}").url}

    @operation
    def list_queues(
        self, *, QueueNamePrefix: str = "", NextToken: str | None = None, MaxResults: int | None = None,
    ) -> Response:
        with self.world.changed:
            urls = [queue.url for queue in self.world.queues.values() if queue.name.startswith(QueueNamePrefix)]
        return {"QueueUrls": urls[:MaxResults]} if urls else {}

    @operation
    def get_queue_attributes(self, *, QueueUrl: str, AttributeNames: list[str] | None = None) -> Response:
        with self.world.changed:
            queue = self.queue(QueueUrl)
            now = time.monotonic()
            waiting = [message for message in queue.messages.values() if message.visible_at <= now]
            hidden = [message for message in queue.messages.values() if message.visible_at > now]
            attributes = {
                **queue.attributes,
                "QueueArn": queue.arn,
                "ApproximateNumberOfMessages": str(len(waiting)),
                "ApproximateNumberOfMessagesNotVisible": str(sum(1 for message in hidden if message.receive_count)),
                "ApproximateNumberOfMessagesDelayed": str(sum(1 for message in hidden if not message.receive_count)),
            }
        names = AttributeNames or []
        if "All" not in names:
            attributes = {name: value for name, value in attributes.items() if name in names}
        return {"Attributes": attributes} if attributes else {}

    @operation
    def set_queue_attributes(self, *, QueueUrl: str, Attributes: Mapping[str, str]) -> Response:
        with self.world.changed:
            queue = self.queue(QueueUrl)
            for name, value in Attributes.items():
                # An empty value removes the setting (how a redrive policy is taken off)
                if value == "":
                    queue.attributes.pop(name, None)
                else:
                    queue.attributes[name] = value
        return {}

    def enqueue(self, queue: Queue, body: str, attributes: Mapping[str, Any] | None, delay: int | None,
                group: str | None, deduplication: str | None) -> Stored | None:
        """Put one message on `queue` (the lock held); None when FIFO deduplication drops it."""
        size = len(body.encode()) + sum(len(name) + len(json.dumps(value, default=str))
                                        for name, value in (attributes or {}).items())
        if size > MAX_MESSAGE_BYTES:
            raise self.error("InvalidMessageContents", f"Message must be shorter than {MAX_MESSAGE_BYTES} bytes.")
        fifo = queue.attributes.get("FifoQueue") == "true"
        if fifo and not group:
            raise self.error("InvalidAttributeValue", "The request must contain the parameter MessageGroupId.")
        message = Stored(body, dict(attributes or {}), now_ms())
        if fifo:
            if deduplication is None and queue.attributes.get("ContentBasedDeduplication") == "true":
                deduplication = hashlib.sha256(body.encode()).hexdigest()
            if deduplication is None:
                raise self.error("InvalidAttributeValue", "The queue should either have ContentBasedDeduplication "
                                 "enabled or MessageDeduplicationId provided explicitly.")
            now = time.monotonic()
            if queue.deduplicated.get(deduplication, -DEDUPLICATION_SECONDS) + DEDUPLICATION_SECONDS > now:
                return None
            queue.deduplicated[deduplication] = now
            message.group, message.deduplication = group, deduplication
            message.sequence = str(next(self.world.sequence)).zfill(20)
        message.visible_at = time.monotonic() + (queue.setting("DelaySeconds") if delay is None else delay)
        queue.messages[message.message_id] = message
        self.world.changed.notify_all()
        return message

    def sent(self, message: Stored | None) -> Response:
        if message is None:
            # A deduplicated send answers as if it were sent
            return {"MessageId": str(uuid.uuid4())}
        response = {"MessageId": message.message_id, "MD5OfMessageBody": md5(message.body)}
        return response | ({"SequenceNumber": message.sequence} if message.sequence else {})

    @operation
    def send_message(
        self, *, QueueUrl: str, MessageBody: str, DelaySeconds: int | None = None,
        MessageAttributes: Mapping[str, Any] | None = None, MessageDeduplicationId: str | None = None,
        MessageGroupId: str | None = None,
    ) -> Response:
        with self.world.changed:
            return self.sent(self.enqueue(self.queue(QueueUrl), MessageBody, MessageAttributes, DelaySeconds,
                                          MessageGroupId, MessageDeduplicationId))

    @operation
    def send_message_batch(self, *, QueueUrl: str, Entries: list[Mapping[str, Any]]) -> Response:
        with self.world.changed:
            queue = self.queue(QueueUrl)
            return self.batch(Entries, lambda entry: self.sent(self.enqueue(
                queue, entry["MessageBody"], entry.get("MessageAttributes"), entry.get("DelaySeconds"),
                entry.get("MessageGroupId"), entry.get("MessageDeduplicationId"),
            )))

    @operation
    def receive_message(
        self, *, QueueUrl: str, AttributeNames: list[str] | None = None,
        MessageSystemAttributeNames: list[str] | None = None, MessageAttributeNames: list[str] | None = None,
        MaxNumberOfMessages: int = 1, VisibilityTimeout: int | None = None, WaitTimeSeconds: int | None = None,
        ReceiveRequestAttemptId: str | None = None,
    ) -> Response:
        if not 1 <= MaxNumberOfMessages <= MAX_BATCH:
            raise self.error("OverLimit", f"MaxNumberOfMessages must be 1 to {MAX_BATCH}.")
        with self.world.changed:
            queue = self.queue(QueueUrl)
            wait = queue.setting("ReceiveMessageWaitTimeSeconds") if WaitTimeSeconds is None else WaitTimeSeconds
            deadline = time.monotonic() + wait
            # A long poll answers as soon as anything is there, else when its wait is up
            while not (taken := self.take(queue, MaxNumberOfMessages, VisibilityTimeout)):
                now = time.monotonic()
                if now >= deadline or QueueUrl not in self.world.queues:
                    break
                upcoming = [message.visible_at for message in queue.messages.values() if message.visible_at > now]
                self.world.changed.wait(min([deadline, *upcoming]) - now)
        names = {*(AttributeNames or []), *(MessageSystemAttributeNames or [])}
        return {"Messages": [self.shape(message, names, MessageAttributeNames or []) for message in taken]}

    def take(self, queue: Queue, limit: int, visibility: int | None) -> list[Stored]:
        """Up to `limit` visible messages (the lock held); over-received ones move to the dead-letter queue."""
        now = time.monotonic()
        redrive = json.loads(queue.attributes.get("RedrivePolicy") or "{}")
        dead_letter = self.by_arn(redrive["deadLetterTargetArn"]) if redrive else None
        # A FIFO group with a message in flight, or an earlier one not yet visible, hands out nothing
        blocked: set[str | None] = set()
        taken: list[Stored] = []
        moved: list[Stored] = []
        for message in queue.messages.values():
            if len(taken) >= limit:
                break
            if message.visible_at > now or message.group in blocked:
                if message.group is not None:
                    blocked.add(message.group)
                continue
            if dead_letter is not None and message.receive_count >= int(redrive["maxReceiveCount"]):
                moved.append(message)
                continue
            message.receive_count += 1
            message.first_received = message.first_received or now_ms()
            message.handle = f"{message.message_id}#{next(self.world.sequence)}"
            queue.handles[message.handle] = message
            message.visible_at = now + (queue.setting("VisibilityTimeout") if visibility is None else visibility)
            taken.append(message)
        for message in moved:
            assert dead_letter is not None
            del queue.messages[message.message_id]
            message.visible_at, message.handle = 0.0, None
            dead_letter.messages[message.message_id] = message
        return taken

    def shape(self, message: Stored, names: set[str], attribute_names: list[str]) -> dict[str, Any]:
        """A message as `receive_message` answers it, with the system and message attributes asked for."""
        system = {
            "ApproximateReceiveCount": str(message.receive_count), "SentTimestamp": message.sent,
            "SenderId": ACCOUNT_ID, "ApproximateFirstReceiveTimestamp": message.first_received,
            "MessageGroupId": message.group, "MessageDeduplicationId": message.deduplication,
            "SequenceNumber": message.sequence,
        }
        every = bool({"All", ".*"} & set(attribute_names))
        shaped: dict[str, Any] = {
            "MessageId": message.message_id, "ReceiptHandle": message.handle,
            "MD5OfBody": md5(message.body), "Body": message.body,
        }
        chosen = {name: value for name, value in system.items() if value and ("All" in names or name in names)}
        if chosen:
            shaped["Attributes"] = chosen
        attributes = {
            name: dict(value) for name, value in message.attributes.items()
            if every or name in attribute_names
            or any(pattern.endswith(".*") and name.startswith(pattern[:-1]) for pattern in attribute_names)
        }
        if attributes:
            shaped["MessageAttributes"] = attributes
        return shaped

    def held(self, queue: Queue, handle: str) -> Stored | None:
        """The message `handle` was handed out for, None when it is gone; an unknown handle is refused."""
        message = queue.handles.get(handle)
        if message is None and self.world.strict:
            raise self.error("ReceiptHandleIsInvalid", f"The input receipt handle {handle!r} is not valid.")
        return message

    def delete(self, queue: Queue, handle: str) -> Response:
        message = self.held(queue, handle)
        if message is not None:
            # A message already gone is deleted again quietly, as SQS does
            queue.messages.pop(message.message_id, None)
        return {}

    def change_visibility(self, queue: Queue, handle: str, seconds: int) -> Response:
        if not 0 <= seconds <= MAX_VISIBILITY_SECONDS:
            raise self.error("InvalidAttributeValue", f"VisibilityTimeout must be 0 to {MAX_VISIBILITY_SECONDS}.")
        message = self.held(queue, handle)
        # Its latest handle moves a message even once its timeout ran out, until it is received again
        if message is not None and (message.handle != handle or message.message_id not in queue.messages):
            raise self.error("MessageNotInflight", "The message referred to is not in flight.")
        if message is not None:
            message.visible_at = time.monotonic() + seconds
            self.world.changed.notify_all()
        return {}

    @operation
    def delete_message(self, *, QueueUrl: str, ReceiptHandle: str) -> Response:
        with self.world.changed:
            return self.delete(self.queue(QueueUrl), ReceiptHandle)

    @operation
    def delete_message_batch(self, *, QueueUrl: str, Entries: list[Mapping[str, Any]]) -> Response:
        with self.world.changed:
            queue = self.queue(QueueUrl)
            return self.batch(Entries, lambda entry: self.delete(queue, entry["ReceiptHandle"]))

    @operation
    def change_message_visibility(self, *, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int) -> Response:
        with self.world.changed:
            return self.change_visibility(self.queue(QueueUrl), ReceiptHandle, VisibilityTimeout)

    @operation
    def change_message_visibility_batch(self, *, QueueUrl: str, Entries: list[Mapping[str, Any]]) -> Response:
        with self.world.changed:
            queue = self.queue(QueueUrl)
            return self.batch(Entries, lambda entry: self.change_visibility(
                queue, entry["ReceiptHandle"], entry.get("VisibilityTimeout", 0),
            ))


def matches(policy: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """Whether SNS's filter policy lets through a message with these attribute values (strings, prefix,
    anything-but, exists; an array attribute matches when any element does)."""

    def one(condition: Any, value: Any) -> bool:
        if isinstance(condition, dict):
            if "exists" in condition:
                return bool(condition["exists"]) == (value is not None)
            if value is None:
                return False
            if "prefix" in condition:
                return str(value).startswith(condition["prefix"])
            if "anything-but" in condition:
                refused = condition["anything-but"]
                return value not in (refused if isinstance(refused, list) else [refused])
            return False
        return value is not None and condition == value

    for key, conditions in policy.items():
        value = values.get(key)
        candidates = value if isinstance(value, list) else [value]
        if not any(one(condition, item) for condition in conditions for item in candidates):
            return False
    return True


class MemorySNS(MemoryClient):
    """SNS in memory: topics and SQS subscriptions; a publish reaches each subscribed queue its filter lets through."""

    service = "sns"

    def topic(self, arn: str) -> dict[str, str]:
        topic = self.world.topics.get(arn)
        if topic is None:
            if self.world.strict:
                raise self.error("NotFoundException", "Topic does not exist")
            topic = self.world.topics[arn] = {**TOPIC_DEFAULTS, "TopicArn": arn}
        return topic

    def subscription(self, arn: str) -> dict[str, str]:
        subscription = self.world.subscriptions.get(arn)
        if subscription is None:
            raise self.error("NotFoundException", "Subscription does not exist")
        return subscription

    @operation
    def create_topic(
        self, *, Name: str, Attributes: Mapping[str, str] | None = None, Tags: Any = None,
        DataProtectionPolicy: str | None = None,
    ) -> Response:
        if Name.endswith(".fifo") != ((Attributes or {}).get("FifoTopic") == "true"):
            raise self.error("InvalidParameterException", "Invalid parameter: a FIFO topic's name ends in .fifo")
        arn = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{Name}"
        with self.world.changed:
            self.world.topics.setdefault(arn, {**TOPIC_DEFAULTS, **(Attributes or {}), "TopicArn": arn})
        return {"TopicArn": arn}

    @operation
    def delete_topic(self, *, TopicArn: str) -> Response:
        with self.world.changed:
            self.world.topics.pop(TopicArn, None)
            for arn, subscription in list(self.world.subscriptions.items()):
                if subscription["TopicArn"] == TopicArn:
                    del self.world.subscriptions[arn]
        return {}

    @operation
    def list_topics(self, *, NextToken: str | None = None) -> Response:
        with self.world.changed:
            return {"Topics": [{"TopicArn": arn} for arn in self.world.topics]}

    @operation
    def get_topic_attributes(self, *, TopicArn: str) -> Response:
        with self.world.changed:
            return {"Attributes": dict(self.topic(TopicArn))}

    @operation
    def subscribe(
        self, *, TopicArn: str, Protocol: str, Endpoint: str | None = None,
        Attributes: Mapping[str, str] | None = None, ReturnSubscriptionArn: bool = False,
    ) -> Response:
        if Protocol != "sqs":
            raise self.error("InvalidParameterException", f"Invalid parameter: only sqs is served, not {Protocol}")
        with self.world.changed:
            self.topic(TopicArn)
            for arn, subscription in self.world.subscriptions.items():
                if subscription["TopicArn"] == TopicArn and subscription["Endpoint"] == Endpoint:
                    return {"SubscriptionArn": arn}
            arn = f"{TopicArn}:{uuid.uuid4()}"
            self.world.subscriptions[arn] = {
                "SubscriptionArn": arn, "TopicArn": TopicArn, "Protocol": Protocol, "Endpoint": Endpoint or "",
                "Owner": ACCOUNT_ID, "RawMessageDelivery": "false", **(Attributes or {}),
            }
        return {"SubscriptionArn": arn}

    @operation
    def get_subscription_attributes(self, *, SubscriptionArn: str) -> Response:
        with self.world.changed:
            return {"Attributes": dict(self.subscription(SubscriptionArn))}

    @operation
    def set_subscription_attributes(
        self, *, SubscriptionArn: str, AttributeName: str, AttributeValue: str | None = None,
    ) -> Response:
        with self.world.changed:
            subscription = self.subscription(SubscriptionArn)
            # "{}" is how SNS takes a filter policy off
            if AttributeName == "FilterPolicy" and AttributeValue in ("{}", "", None):
                subscription.pop("FilterPolicy", None)
            else:
                subscription[AttributeName] = AttributeValue or ""
        return {}

    def listed(self, topic_arn: str | None) -> Response:
        keys = ("SubscriptionArn", "Owner", "Protocol", "Endpoint", "TopicArn")
        with self.world.changed:
            if topic_arn is not None:
                self.topic(topic_arn)
            return {"Subscriptions": [
                {key: subscription[key] for key in keys} for subscription in self.world.subscriptions.values()
                if topic_arn in (None, subscription["TopicArn"])
            ]}

    @operation
    def list_subscriptions(self, *, NextToken: str | None = None) -> Response:
        return self.listed(None)

    @operation
    def list_subscriptions_by_topic(self, *, TopicArn: str, NextToken: str | None = None) -> Response:
        return self.listed(TopicArn)

    def deliver(self, topic_arn: str, entry: Mapping[str, Any]) -> Response:
        """Publish one message (the lock held) to every queue subscribed to `topic_arn` that its filter lets in."""
        topic = self.topic(topic_arn)
        body: str = entry["Message"]
        if entry.get("MessageStructure") == "json":
            structure = json.loads(body)
            body = structure.get("sqs", structure["default"])
        attributes = dict(entry.get("MessageAttributes") or {})
        group, deduplication = entry.get("MessageGroupId"), entry.get("MessageDeduplicationId")
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
            name: json.loads(value["StringValue"]) if value["DataType"] == "String.Array" else value.get("StringValue")
            for name, value in attributes.items()
        }
        for subscription in list(self.world.subscriptions.values()):
            queue = self.world.sqs.by_arn(subscription["Endpoint"])
            if subscription["TopicArn"] != topic_arn or queue is None:
                continue
            policy = json.loads(subscription.get("FilterPolicy") or "{}")
            if subscription.get("FilterPolicyScope") == "MessageBody":
                if not matches(policy, json.loads(body)):
                    continue
            elif not matches(policy, values):
                continue
            raw = subscription.get("RawMessageDelivery") == "true"
            notification = sns_notification(body, attributes, topic_arn=topic_arn, message_id=message_id)
            try:
                self.world.sqs.enqueue(queue, body if raw else json.dumps(notification), attributes if raw else None,
                                       None, group, deduplication)
            except Refused:
                # SNS delivers after the publish has answered: a queue refusing the message does not fail it
                pass
        sequence = {"SequenceNumber": str(next(self.world.sequence)).zfill(20)} if fifo else {}
        return {"MessageId": message_id, **sequence}

    @operation
    def publish(
        self, *, Message: str, TopicArn: str | None = None, TargetArn: str | None = None,
        Subject: str | None = None, MessageStructure: str | None = None,
        MessageAttributes: Mapping[str, Any] | None = None, MessageDeduplicationId: str | None = None,
        MessageGroupId: str | None = None,
    ) -> Response:
        entry = {
            "Message": Message, "MessageStructure": MessageStructure, "MessageAttributes": MessageAttributes,
            "MessageGroupId": MessageGroupId, "MessageDeduplicationId": MessageDeduplicationId,
        }
        with self.world.changed:
            return self.deliver(TopicArn or TargetArn or "", entry)

    @operation
    def publish_batch(self, *, TopicArn: str, PublishBatchRequestEntries: list[Mapping[str, Any]]) -> Response:
        with self.world.changed:
            self.topic(TopicArn)
            return self.batch(PublishBatchRequestEntries, lambda entry: self.deliver(TopicArn, entry))
