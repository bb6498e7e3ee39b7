"""`sentry_logging_pubsub`: configuration, the default scrubber and reports of failed messages, captured in-process."""
from __future__ import annotations

import unittest
from typing import Any

from hamcrest import (
    assert_that,
    empty,
    equal_to,
    has_entries,
    has_item,
    has_length,
    has_properties,
    is_,
    is_not,
)
from marshmallow import fields
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.consume.result import MessageHandlingResult, Outcome
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.sentry import DEFAULT_TAG_MAPPING, REDACTED, SentryConfigPubsub, default_before_send
from microcosm_pubsub.testing import dispatch


MEDIA_TYPE = "application/vnd.microcosm.pubsub._.tests.sentry.order"
DSN = "https://public@sentry.example.invalid/1"


@schema
class OrderSchema(PubSubMessageSchema):
    MEDIA_TYPE = MEDIA_TYPE
    description = fields.String(required=True)
    uri = fields.String()


def event_with_locals(**variables: str) -> dict[str, Any]:
    frame = {"function": "handle", "vars": dict(variables)}
    return {"exception": {"values": [{"type": "TypeError", "stacktrace": {"frames": [frame]}}]}}


def frame_vars(event: dict[str, Any]) -> dict[str, str]:
    variables: dict[str, str] = event["exception"]["values"][0]["stacktrace"]["frames"][-1]["vars"]
    return variables


def sentry_graph(testing: bool = True, before_send: Any = None, **sentry: Any) -> Any:
    config = {
        "sentry_logging_pubsub": {"enabled": True, "dsn": DSN, **sentry},
        # Settling goes to the stub SQS client (a testing graph with no endpoint); it needs a queue name
        "sqs_consumer": {"sqs_queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/queue"},
    }
    graph: Any = create_object_graph("sentry", testing=testing, loader=load_from_dict(config))
    if before_send is not None:
        # Assigned to this graph alone: a @binding would stay registered for every later graph
        graph.assign("sentry_before_send", before_send)
    return graph


def failing(content: dict[str, Any]) -> bool:
    description = content["description"]
    raise TypeError(f"cannot handle {description[:0]}")


class ScrubberTests(unittest.TestCase):
    def test_free_text_locals_are_redacted(self) -> None:
        """A frame local holding text (message content) is redacted."""
        event = default_before_send(event_with_locals(description="'secret plans'"), None)
        assert_that(frame_vars(event), has_entries(description=REDACTED))

    def test_ids_urls_and_reprs_are_kept(self) -> None:
        """Locals named *_id, URLs, uuids and object reprs say where, not what: they are kept."""
        kept = {
            "order_id": "'o-1'",
            "link": "'http://example.com/orders/1'",
            "key": "'1f40066c-f457-41b3-aa4c-72cdac5146e4'",
            "message": "<SQSMessage object at 0x1>",
            "self": "<Handler object at 0x2>",
        }
        event = default_before_send(event_with_locals(**kept), None)
        assert_that(frame_vars(event), is_(equal_to(kept)))

    def test_what_is_not_an_event_is_returned_as_is(self) -> None:
        """A value that is not an event dict passes through unchanged."""
        assert_that(default_before_send(1, None), is_(equal_to(1)))


class ConfigurationTests(unittest.TestCase):
    def test_disabled_by_default(self) -> None:
        """With nothing configured, Sentry is off and not in the middleware chain."""
        graph: Any = create_object_graph("sentry", testing=True, loader=load_from_dict({}))
        assert_that(graph.sentry_logging_pubsub.enabled, is_(False))
        assert_that(graph.pubsub_middleware.middleware, is_not(has_item(graph.sentry_logging_pubsub)))

    def test_enabled_needs_a_dsn(self) -> None:
        """enabled without a dsn stays off."""
        graph = sentry_graph(dsn=None)
        assert_that(graph.sentry_logging_pubsub.enabled, is_(False))

    def test_old_section_name_is_read(self) -> None:
        """The section the old README named, sentry_logging, configures it too."""
        loader = load_from_dict({"sentry_logging": {"enabled": True, "dsn": DSN}})
        graph: Any = create_object_graph("sentry", testing=True, loader=loader)
        assert_that(graph.sentry_logging_pubsub, has_properties(enabled=True, dsn=DSN))

    def test_invalid_dsn_turns_it_off(self) -> None:
        """Outside testing, a DSN the SDK cannot parse leaves reporting off instead of failing the graph."""
        graph = sentry_graph(testing=False, dsn="not a dsn")
        assert_that(graph.sentry_logging_pubsub.enabled, is_(False))

    def test_testing_graph_captures_in_process(self) -> None:
        """A testing graph's client keeps events in memory; it is active middleware."""
        graph = sentry_graph()
        config: SentryConfigPubsub = graph.sentry_logging_pubsub
        assert_that(config.active, is_(True))
        assert_that(config.client.events if config.client else None, is_(empty()))
        assert_that(graph.pubsub_middleware.middleware, has_item(config))

    def test_custom_tags_merge_without_changing_the_defaults(self) -> None:
        """custom_tags_mapping adds to the default tags, and the module's defaults stay as they were."""
        before = dict(DEFAULT_TAG_MAPPING)
        graph = sentry_graph(custom_tags_mapping={"x-tenant": "tenant"})
        assert_that(graph.sentry_logging_pubsub.tag_mapping, has_entries({"x-tenant": "tenant", "uri": "uri"}))
        assert_that(dict(DEFAULT_TAG_MAPPING), is_(equal_to(before)))


class ReportingTests(unittest.TestCase):
    def setUp(self) -> None:
        self.graph = sentry_graph(custom_user_id="x-request-user")
        self.graph.sqs_message_handler_registry.register(MEDIA_TYPE, failing)
        self.config: SentryConfigPubsub = self.graph.sentry_logging_pubsub
        assert self.config.client is not None
        self.client = self.config.client

    def handle(self, content: dict[str, Any], **opaque: str) -> Any:
        result = dispatch(self.graph, MEDIA_TYPE, content, opaque_data=opaque)
        self.graph.sqs_message_dispatcher.settle([result])
        self.client.flush()
        return result

    def test_failed_message_is_reported_with_tags(self) -> None:
        """A FAILED message is reported once, tagged from its opaque data and delivery, with the user id."""
        result = self.handle({"description": "secret"}, **{"X-Request-Id": "req-1", "X-Request-User": "u-1"})
        assert_that(result.outcome, is_(Outcome.FAILED))
        [event] = self.client.events
        assert_that(event["tags"], has_entries({
            "x-request-id": "req-1", "media-type": MEDIA_TYPE, "message-id": result.message.message_id,
        }))
        assert_that(event["user"], has_entries(id="u-1"))
        assert_that(event["exception"]["values"][-1]["type"], is_(equal_to("TypeError")))

    def test_handler_locals_are_scrubbed(self) -> None:
        """The handler's locals holding content reach Sentry redacted."""
        self.handle({"description": "secret plans"})
        [event] = self.client.events
        assert_that(frame_vars(event), has_entries(description=REDACTED))

    def test_succeeded_message_is_not_reported(self) -> None:
        """A message handled successfully reports nothing."""
        self.graph.sqs_message_handler_registry.register(MEDIA_TYPE, lambda content: True)
        self.handle({"description": "fine"})
        assert_that(self.client.events, is_(empty()))

    def test_expired_message_with_error_is_reported(self) -> None:
        """An EXPIRED result that carries its error is reported too."""
        result = dispatch(self.graph, MEDIA_TYPE, {"description": "x"})
        expired = MessageHandlingResult(result.message, Outcome.EXPIRED, handler=result.handler, error=result.error)
        self.config.settled(expired, self.graph.sqs_message_dispatcher.action(expired))
        self.client.flush()
        [event] = self.client.events
        assert_that(event["tags"], has_entries(outcome="EXPIRED"))

    def test_expired_message_without_error_is_not_reported(self) -> None:
        """An EXPIRED result with no error (a spent TTL, too many receives) reports nothing."""
        result = dispatch(self.graph, MEDIA_TYPE, {"description": "x"})
        expired = MessageHandlingResult(result.message, Outcome.EXPIRED, handler=result.handler)
        self.config.settled(expired, self.graph.sqs_message_dispatcher.action(expired))
        assert_that(self.client.events, is_(empty()))

    def test_built_directly_it_has_no_default_tags(self) -> None:
        """SentryConfigPubsub(enabled=True), as old tests build it, has no tags and no user id key."""
        config = SentryConfigPubsub(enabled=True)
        assert_that(config, has_properties(tag_mapping={}, user_id_key=None, active=False))


class BeforeSendTests(unittest.TestCase):
    def test_bound_before_send_is_used(self) -> None:
        """A graph that binds sentry_before_send filters events with it instead of the default."""
        seen: list[Any] = []

        def before_send(event: Any, hint: Any) -> Any:
            seen.append(event)
            return None

        graph = sentry_graph(before_send=before_send)
        graph.sqs_message_handler_registry.register(MEDIA_TYPE, failing)
        client = graph.sentry_logging_pubsub.client
        result = dispatch(graph, MEDIA_TYPE, {"description": "x"})
        graph.sqs_message_dispatcher.settle([result])
        client.flush()
        assert_that(client.default_before_send, is_(before_send))
        assert_that(seen, has_length(1))
        assert_that(client.events, is_(empty()))
