"""Services' tests written with moto's in-process mock (`mock_aws`) reach the mock through the lean transport.

moto answers botocore's requests from inside the process; the lean transport, which sends its own, must hand its
calls to botocore while the mock is on, or such tests would try the real AWS endpoint (and fail here, with no
network, which is what these tests would show).
"""
from __future__ import annotations

import json
import unittest
from typing import Any

import boto3
from hamcrest import assert_that, equal_to, has_entries, is_
from microcosm.api import create_object_graph, load_from_dict
from moto import mock_aws

from microcosm_pubsub.aws.lean import lean_client
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.test_clients import ThingSchema


REGION = "us-east-1"


class MockAwsTests(unittest.TestCase):
    def test_calls_reach_the_in_process_mock(self) -> None:
        """SendMessage and ReceiveMessage go to moto's mock (botocore's path), none through the lean one."""
        with mock_aws():
            session = boto3.session.Session(region_name=REGION)
            sqs = lean_client(session.client("sqs"))
            self.addCleanup(sqs.close)
            url = sqs.create_queue(QueueName="mocked")["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody="hello")
            received = sqs.receive_message(QueueUrl=url)
        assert_that(received["Messages"][0]["Body"], is_("hello"))
        assert_that(dict(sqs.lean_sent), equal_to({}))
        assert_that(sqs.fallbacks, has_entries(SendMessage=1, ReceiveMessage=1))

    def test_a_graph_publishes_into_the_mock(self) -> None:
        """A service graph (no endpoint configured, so AWS's) publishes into moto's mock, where a queue gets it."""
        with mock_aws():
            session = boto3.session.Session(region_name=REGION)
            sns, sqs = session.client("sns"), session.client("sqs")
            topic = sns.create_topic(Name="mocked")["TopicArn"]
            url = sqs.create_queue(QueueName="mocked")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
            graph: Any = create_object_graph("mocked", testing=False, loader=load_from_dict(
                sns_producer={"region_name": REGION}, sns_topic_arns={"default": topic},
            ))
            self.addCleanup(fixtures.close_clients, graph)
            graph.sns_producer.produce(ThingSchema.MEDIA_TYPE, uri="http://example.com/things/1")
            received = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
        assert_that(json.loads(json.loads(received["Messages"][0]["Body"])["Message"]),
                    has_entries(uri="http://example.com/things/1"))
        assert_that(graph.sns_client.fallbacks, has_entries(Publish=1))
