"""Foreign events: messages without a media type (S3 notifications, EventBridge events) routed to handlers by rules."""
from __future__ import annotations

import json
import unittest
from typing import Any

from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    equal_to,
    has_entries,
    is_,
    none,
    raises,
)
from microcosm.api import binding, load_from_dict

from microcosm_pubsub.consume.envelope import unwrap
from microcosm_pubsub.consume.foreign import (
    EVENTBRIDGE_EVENT,
    S3_EVENT,
    ForeignEvents,
    ForeignRule,
    configure_pubsub_foreign_events,
    eventbridge_events,
    handles_foreign_event,
    s3_notifications,
)
from microcosm_pubsub.consume.result import Action, Outcome
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import ConfigurationError
from microcosm_pubsub.wire.received import Unwrapped


SCHEDULE = "application/vnd.acme.nightly-report"
LEGACY = "application/vnd.acme.legacy"
BUCKET = "acme-uploads"
# The bucket of the rule declared in code below: declared rules hold in every graph, as `@schema` does
DAEMON_BUCKET = "acme-daemon-uploads"


def s3_event(key: str = "reports/2024-05-02.csv", bucket: str = BUCKET) -> dict[str, Any]:
    """An S3 event notification, field for field as S3 writes it (event structure version 2.1)."""
    return {"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2024-05-02T10:15:30.123Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.7"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "uploads-to-queue",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                       "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": key, "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                       "sequencer": "0055AED6DCD90281E5"},
        },
    }]}


def eventbridge_event(detail_type: str = "Object Created", source: str = "aws.s3") -> dict[str, Any]:
    """An EventBridge event, as a rule with an SQS target delivers it."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2024-05-02T10:15:30Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{BUCKET}"],
        "detail": {"version": "0", "bucket": {"name": BUCKET}, "object": {"key": "a.csv", "size": 5}},
    }


def schedule_event() -> dict[str, Any]:
    """A CloudWatch (EventBridge) scheduled event."""
    return {
        **eventbridge_event("Scheduled Event", "aws.events"),
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/nightly-report"],
        "detail": {},
    }


def wire(body: dict[str, Any], attributes: dict[str, str] | None = None) -> Unwrapped:
    return unwrap({
        "MessageId": "m-1", "Body": json.dumps(body),
        "MessageAttributes": {name: {"DataType": "String", "StringValue": value}
                              for name, value in (attributes or {}).items()},
    })


class TestRules(unittest.TestCase):
    def test_s3_rule_matches_any_record(self) -> None:
        """`Records[].eventSource` matches an S3 notification, not an EventBridge event."""
        events = ForeignEvents([s3_notifications()])
        assert_that(
            (events.route(s3_event(), {}), events.route(eventbridge_event(), {})),
            is_(equal_to((S3_EVENT, None))),
        )

    def test_fields_and_prefixes(self) -> None:
        """Every field must match; a list is any of its values and a trailing `*` is a prefix."""
        rule = ForeignRule(SCHEDULE, fields={"source": ["aws.events", "acme.*"], "detail-type": "Scheduled*"})
        assert_that(
            [rule.matches(body, {}) for body in (schedule_event(), eventbridge_event(source="acme.billing"),
                                                 eventbridge_event("Scheduled Event", "acme.cron"))],
            is_(equal_to([True, False, True])),
        )

    def test_first_matching_rule_wins(self) -> None:
        """Rules are tried in order: a specific rule before a general one takes the message."""
        events = ForeignEvents([eventbridge_events(SCHEDULE, detail_type="Scheduled Event"), eventbridge_events()])
        assert_that(
            (events.route(schedule_event(), {}), events.route(eventbridge_event(), {})),
            is_(equal_to((SCHEDULE, EVENTBRIDGE_EVENT))),
        )

    def test_attribute_and_callable_rules(self) -> None:
        """A message attribute or a callable can route a message as well as a body field."""
        events = ForeignEvents([
            ForeignRule(LEGACY, attributes={"origin": "legacy-*"}),
            ForeignRule(SCHEDULE, when=lambda body, attributes: body.get("kind") == "report"),
        ])
        assert_that(
            (events.route({"x": 1}, {"origin": "legacy-billing"}), events.route({"kind": "report"}, {}),
             events.route({"kind": "other"}, {"origin": "new"})),
            is_(equal_to((LEGACY, SCHEDULE, None))),
        )

    def test_rules_from_configuration(self) -> None:
        """Rules come from configuration as a list, or as a JSON array (an environment variable)."""
        rules = [{"media_type": S3_EVENT, "fields": {"Records[].eventSource": "aws:s3"}}]
        graph = fixtures.make_graph(pubsub_foreign_events={"rules": json.dumps(rules)})
        assert_that(graph.pubsub_foreign_events.route(s3_event(), {}), is_(equal_to(S3_EVENT)))

    def test_bad_rules_are_named(self) -> None:
        """A rule without a condition, with an unknown key or an empty value says which rule and what to fix."""
        cases = [
            ([{"media_type": S3_EVENT}], r"pubsub_foreign_events.rules\[0\]: .*has no condition"),
            ([{"media_type": S3_EVENT, "field": {}}], r"rules\[0\]: unknown key 'field'"),
            ([{"fields": {"a": "b"}}], "needs a media_type"),
            ([{"media_type": S3_EVENT, "fields": {"a": []}}], r"fields\['a'\]: expected a non-empty string"),
            ("[not json", "not a JSON array"),
        ]
        for rules, message in cases:
            def build(rules: Any = rules) -> Any:
                return configure_pubsub_foreign_events(fixtures.make_graph(pubsub_foreign_events={"rules": rules}))
            assert_that(calling(build), raises(ConfigurationError, message), message)


class TestEnvelope(unittest.TestCase):
    def setUp(self) -> None:
        self.graph = fixtures.make_graph()
        self.envelope = self.graph.sqs_envelope

    def test_without_rules_still_invalid(self) -> None:
        """With no rule, a message without a media type is still INVALID for want of one."""
        opened = self.envelope.load(wire(s3_event()))
        assert_that((opened.media_type, opened.problem), is_(equal_to((None, "message has no media type"))))

    def test_routed_message_carries_its_body(self) -> None:
        """A matched message gets the rule's media type and its parsed body, unchanged, as content."""
        self.graph.pubsub_foreign_events.add(s3_notifications())
        opened = self.envelope.load(wire(s3_event()))
        assert_that((opened.media_type, opened.content, opened.problem), is_(equal_to((S3_EVENT, s3_event(), None))))

    def test_rules_never_override_a_media_type(self) -> None:
        """A message with a media type of its own is never routed by a rule, even one matching everything."""
        self.graph.pubsub_foreign_events.add(ForeignRule(LEGACY, when=lambda body, attributes: True))
        opened = self.envelope.load(wire({"name": "x"}, {"media_type": "application/vnd.acme.unknown"}))
        assert_that(opened.media_type, is_(equal_to("application/vnd.acme.unknown")))


class ForeignQueueTestCase(unittest.TestCase):
    """A stack on the local endpoint, a graph routing S3 and EventBridge events; events sent as AWS sends them."""

    def setUp(self) -> None:
        self.stack = fixtures.new_stack("foreign")
        rules = [
            {"media_type": SCHEDULE, "fields": {"source": "aws.events", "detail-type": "Scheduled Event"}},
            {"media_type": S3_EVENT, "fields": {"Records[].eventSource": "aws:s3"}},
            {"media_type": EVENTBRIDGE_EVENT, "fields": {"source": "aws.s3", "detail-type": "Object *"}},
        ]
        self.graph = fixtures.make_graph(
            self.stack, pubsub_foreign_events={"rules": rules},
            sqs_message_dispatcher={"dead_letter_queue_url": self.stack.dead_letter_queue_url},
        )
        self.addCleanup(fixtures.close_clients, self.graph)
        self.handled: list[tuple[str, dict[str, Any]]] = []
        for media_type in (S3_EVENT, EVENTBRIDGE_EVENT, SCHEDULE):
            self.graph.sqs_message_handler_registry.register(media_type, self.recorder(media_type))
        self.sqs = self.graph.sqs_client

    def recorder(self, media_type: str) -> Any:
        def record(content: dict[str, Any]) -> bool:
            self.handled.append((media_type, content))
            if content.get("fail"):
                raise RuntimeError("the handler broke")
            return True
        return record

    def send(self, body: dict[str, Any]) -> None:
        """What S3 and EventBridge do with an SQS target: SendMessage with the event as the body."""
        self.sqs.send_message(QueueUrl=self.stack.queue_url, MessageBody=json.dumps(body))

    def dispatch(self, count: int = 1) -> list[Any]:
        results = self.graph.sqs_message_dispatcher.handle_batch(fixtures.receive(self.graph, count))
        return list(results)

    def test_s3_notification_straight_to_the_queue(self) -> None:
        """An S3 notification sent to the queue reaches the S3 handler with its records, and is deleted."""
        self.send(s3_event())
        [result] = self.dispatch()
        assert_that((result.outcome, self.handled), is_(equal_to((Outcome.SUCCEEDED, [(S3_EVENT, s3_event())]))))
        assert_that(fixtures.queue_counts(self.sqs, self.stack.queue_url), is_(equal_to((0, 0))))

    def test_s3_notification_through_sns(self) -> None:
        """An S3 notification S3 published to an SNS topic arrives wrapped in SNS's envelope and is routed the same."""
        sns = self.graph.sns_client
        sns.publish(TopicArn=self.stack.topic_arn, Subject="Amazon S3 Notification", Message=json.dumps(s3_event()))
        [result] = self.dispatch()
        assert_that((result.outcome, self.handled), is_(equal_to((Outcome.SUCCEEDED, [(S3_EVENT, s3_event())]))))
        assert_that(result.message.topic_arn, is_(equal_to(self.stack.topic_arn)))

    def test_eventbridge_events(self) -> None:
        """An EventBridge event and a schedule go to the handlers their source and detail-type name."""
        self.send(eventbridge_event())
        self.send(schedule_event())
        results = self.dispatch(2)
        assert_that([result.outcome for result in results], is_(equal_to([Outcome.SUCCEEDED] * 2)))
        expected = {EVENTBRIDGE_EVENT: eventbridge_event(), SCHEDULE: schedule_event()}
        assert_that(dict(self.handled), is_(equal_to(expected)))

    def test_failure_is_retried_like_any_message(self) -> None:
        """A foreign event whose handler raises is FAILED and returns to the queue for a retry."""
        self.send({**s3_event(), "fail": True})
        [result] = self.dispatch()
        assert_that((result.outcome, self.graph.sqs_message_dispatcher.action(result)),
                    is_(equal_to((Outcome.FAILED, Action.RETRY))))
        # Still on the queue, hidden for its retry delay
        assert_that(sum(fixtures.queue_counts(self.sqs, self.stack.queue_url)), is_(equal_to(1)))

    def test_unmatched_event_is_dead_lettered(self) -> None:
        """An event no rule matches is INVALID and goes to the dead-letter queue with its reason."""
        self.send(eventbridge_event(source="aws.ec2", detail_type="EC2 Instance State-change Notification"))
        [result] = self.dispatch()
        dead = self.sqs.receive_message(QueueUrl=self.stack.dead_letter_queue_url, WaitTimeSeconds=1,
                                        MessageAttributeNames=["All"]).get("Messages", [])
        assert_that((result.outcome, result.reason), is_(equal_to((Outcome.INVALID, "message has no media type"))))
        assert_that(dead, contains_exactly(has_entries(MessageAttributes=has_entries(
            pubsub_outcome=has_entries(StringValue="invalid")))))


UPLOADS: list[dict[str, Any]] = []


@binding("foreign_upload_handler")
@handles_foreign_event("application/vnd.acme.upload", fields={"Records[].s3.bucket.name": DAEMON_BUCKET})
class UploadHandler:
    """Remembers the S3 events it gets."""

    def __init__(self, graph: Any) -> None:
        pass

    def __call__(self, content: dict[str, Any]) -> bool:
        UPLOADS.append(content)
        return True


class UploadDaemon(ConsumerDaemon):
    name = "foreign_uploads"

    @property
    def components(self) -> list[str]:
        return [*super().components, "foreign_upload_handler"]


class TestDaemon(unittest.TestCase):
    def test_declared_in_code_and_run_by_the_daemon(self) -> None:
        """A handler declared with `@handles_foreign_event` gets the S3 events the daemon receives."""
        stack = fixtures.new_stack("foreign-daemon")
        config = fixtures.graph_config(stack, pubsub_runner={"max_messages": 2})
        daemon = UploadDaemon.create_for_testing(loader=load_from_dict(config))
        self.addCleanup(fixtures.close_clients, daemon.graph)
        sqs = daemon.graph.sqs_client
        for key in ("a.csv", "b.csv"):
            sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(s3_event(key, DAEMON_BUCKET)))
        UPLOADS.clear()

        daemon.start()
        assert daemon.runner is not None
        daemon.runner.run()

        keys = sorted(upload["Records"][0]["s3"]["object"]["key"] for upload in UPLOADS)
        assert_that(keys, is_(equal_to(["a.csv", "b.csv"])))
        assert_that(daemon.runner.failure, is_(none()))
        assert_that(fixtures.queue_counts(sqs, stack.queue_url), is_(equal_to((0, 0))))

