"""Which clients a graph gets: stubs in a testing graph with no endpoint, real boto3 clients otherwise."""
from __future__ import annotations

import unittest
from typing import Any

from botocore.client import BaseClient
from hamcrest import assert_that, contains_string, has_entries, instance_of, is_, is_not
from marshmallow import fields
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.testing.stubs import StubClient
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import ConfigurationError


@schema
class ThingSchema(PubSubMessageSchema):
    MEDIA_TYPE = "application/vnd.microcosm.pubsub._.created.clients_thing"

    uri = fields.String(required=True)


def graph(testing: bool = True, **config: Any) -> Any:
    built: Any = create_object_graph("clients", testing=testing, loader=load_from_dict(config))
    return built


class ClientChoiceTests(unittest.TestCase):
    def test_testing_graph_without_endpoint_gets_stubs(self) -> None:
        """A testing graph with no endpoint configured resolves both clients to stubs."""
        built = graph()
        assert_that(built.sns_client, is_(instance_of(StubClient)))
        assert_that(built.sqs_client, is_(instance_of(StubClient)))

    def test_graph_that_is_not_testing_gets_real_clients(self) -> None:
        """Outside a testing graph the clients are boto3's, endpoint or not."""
        region = {"region_name": "us-east-1"}
        built = graph(testing=False, sns_producer=region, sqs_consumer=region)
        self.addCleanup(fixtures.close_clients, built)
        assert_that(built.sns_client, is_(instance_of(BaseClient)))
        assert_that(built.sqs_client, is_(instance_of(BaseClient)))

    def test_configured_endpoint_gets_real_client(self) -> None:
        """An endpoint_url in sns_producer makes the SNS client real; SQS, unconfigured, stays a stub."""
        built = graph(sns_producer={"endpoint_url": fixtures.endpoint().url, "region_name": "us-east-1"})
        self.addCleanup(built.sns_client.close)
        assert_that(built.sns_client, is_(instance_of(BaseClient)))
        assert_that(built.sqs_client, is_(instance_of(StubClient)))

    def test_environment_endpoint_gets_real_client(self) -> None:
        """AWS_ENDPOINT_URL_SQS makes the SQS client real; SNS, with no variable of its own, stays a stub."""
        with fixtures.environ(AWS_ENDPOINT_URL_SQS=fixtures.endpoint().url):
            built = graph(sqs_consumer={"region_name": "us-east-1"})
            self.addCleanup(built.sqs_client.close)
            assert_that(built.sqs_client, is_(instance_of(BaseClient)))
            assert_that(built.sns_client, is_(instance_of(StubClient)))

    def test_general_environment_endpoint_makes_both_real(self) -> None:
        """AWS_ENDPOINT_URL makes both clients real."""
        with fixtures.environ(AWS_ENDPOINT_URL=fixtures.endpoint().url):
            built = graph(sns_producer={"region_name": "us-east-1"}, sqs_consumer={"region_name": "us-east-1"})
            self.addCleanup(fixtures.close_clients, built)
            assert_that(built.sns_client, is_not(instance_of(StubClient)))
            assert_that(built.sqs_client, is_not(instance_of(StubClient)))

    def test_real_client_reaches_the_local_endpoint(self) -> None:
        """The suite's own graphs (fixtures.make_graph) publish for real over the local endpoint."""
        stack = fixtures.new_stack("clients")
        built = fixtures.make_graph(stack)
        self.addCleanup(fixtures.close_clients, built)
        assert_that(built.sns_client, is_(instance_of(BaseClient)))
        response = built.sns_client.publish(TopicArn=stack.topic_arn, Message="{}")
        assert_that(response, has_entries(MessageId=instance_of(str)))

    def test_stub_producer_publishes_through_the_stub(self) -> None:
        """A stubbed graph's producer publishes through the stub client, whose call the test can read."""
        built = graph(sns_topic_arns={"default": "arn:aws:sns:us-east-1:123456789012:topic"})
        message_id = built.sns_producer.produce(ThingSchema.MEDIA_TYPE, uri="http://x")
        publish = built.sns_client.publish
        assert_that(publish.call_count, is_(1))
        assert_that(publish.call_args[1], has_entries(TopicArn="arn:aws:sns:us-east-1:123456789012:topic"))
        assert_that(message_id, is_(instance_of(str)))


class TransportTests(unittest.TestCase):
    """`transport`: the SQS and SNS message calls on the lean transport unless botocore is asked for."""

    def built(self, **section: Any) -> Any:
        settings = {"endpoint_url": fixtures.endpoint().url, "region_name": "us-east-1", **section}
        built = graph(sns_producer=settings, sqs_consumer=settings)
        return built

    def test_lean_by_default(self) -> None:
        """Both clients send their message calls themselves: a publish is counted by the lean transport."""
        built = self.built()
        self.addCleanup(fixtures.close_clients, built)
        stack = fixtures.new_stack("clients-lean")
        built.sns_client.publish(TopicArn=stack.topic_arn, Message="{}")
        assert_that(built.sns_client.lean_sent["Publish"], is_(1))
        assert_that(built.sqs_client.lean_sent, is_(instance_of(dict)))

    def test_botocore_when_asked(self) -> None:
        """transport: botocore gives the plain botocore clients."""
        built = self.built(transport="botocore")
        self.addCleanup(fixtures.close_clients, built)
        assert_that(type(built.sns_client).__module__, is_("botocore.client"))
        assert_that(type(built.sqs_client).__module__, is_("botocore.client"))

    def test_unknown_transport_is_refused(self) -> None:
        """A typo in transport stops the graph with the key, the value and the choices."""
        built = self.built(transport="leen")
        with self.assertRaises(ConfigurationError) as raised:
            _ = built.sqs_client
        assert_that(str(raised.exception),
                    contains_string("sqs_consumer.transport is 'leen': it is one of lean, botocore"))
