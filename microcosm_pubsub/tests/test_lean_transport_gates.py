"""Where the lean transport stands aside: the client stays botocore's own, and works as before."""
from __future__ import annotations

import unittest
from typing import Any
from unittest import mock

import botocore
from botocore.config import Config
from hamcrest import assert_that, contains_string, same_instance

from microcosm_pubsub.aws.clients import new_session
from microcosm_pubsub.aws.lean import LeanClient, lean_client
from microcosm_pubsub.tests import fixtures


def plain_client(**config: Any) -> Any:
    session: Any = new_session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    return session.client("sqs", endpoint_url="https://sqs.example.com", config=Config(**config))


class GateTests(unittest.TestCase):
    def setUp(self) -> None:
        self.client = plain_client(retries={"mode": "standard"})
        self.addCleanup(self.client.close)

    def test_lean_when_nothing_stands_in_the_way(self) -> None:
        lean = lean_client(self.client)
        assert_that(type(lean), same_instance(LeanClient))
        lean.close()

    def test_other_retry_modes_stay_on_botocore(self) -> None:
        client = plain_client(retries={"mode": "adaptive"})
        self.addCleanup(client.close)
        assert_that(lean_client(client), same_instance(client))

    def test_a_proxy_in_the_environment_keeps_botocore(self) -> None:
        with fixtures.environ(HTTPS_PROXY="http://proxy.example.com:3128", NO_PROXY=None, no_proxy=None):
            assert_that(lean_client(self.client), same_instance(self.client))

    def test_an_untested_botocore_keeps_botocore(self) -> None:
        with mock.patch.object(botocore, "__version__", "1.33.0"), self.assertLogs("microcosm_pubsub.aws.lean",
                                                                                   "DEBUG") as logs:
            assert_that(lean_client(self.client), same_instance(self.client))
        assert_that(logs.output[0], contains_string("botocore 1.33.0 is older than the lean transport is tested"))

    def test_a_botocore_whose_internals_moved_keeps_botocore(self) -> None:
        """Construction failing (here botocore's retry handler refusing its arguments) warns and keeps botocore."""
        moved = mock.patch("botocore.retries.standard.RetryHandler", side_effect=TypeError("unexpected keyword"))
        with moved, self.assertLogs("microcosm_pubsub.aws.lean", "WARNING") as logs:
            assert_that(lean_client(self.client), same_instance(self.client))
        assert_that(logs.output[0], contains_string("sqs stays on botocore's transport: it cannot be built"))
