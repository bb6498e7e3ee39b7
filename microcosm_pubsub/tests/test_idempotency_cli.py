"""`pubsub provision` and `pubsub local` create the idempotency store's tables (DynamoDB, SQL) on request."""
from __future__ import annotations

import json
import signal
import unittest
from typing import Any

import boto3
import sqlalchemy as sa
from botocore.config import Config
from hamcrest import assert_that, contains_exactly, contains_string, equal_to, has_entries, has_item, has_items, is_
from microcosm.api import create_object_graph, load_from_environ

from microcosm_pubsub.aws.local import DUMMY_CREDENTIALS
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.cli_support import (
    assert_one_line_error,
    finish,
    pubsub_in_process,
    start,
    temporary_directory,
    write_json,
)
from microcosm_pubsub.tests.test_cli_local import read_until_ready, variables


def dynamodb() -> Any:
    return boto3.session.Session(
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1",
    ).client("dynamodb", endpoint_url=fixtures.endpoint().url, config=Config(proxies={}))


def provision(*args: str) -> tuple[int, str, str]:
    """`pubsub provision` in this process, on the local endpoint."""
    return pubsub_in_process("provision", *args, "--endpoint-url", fixtures.endpoint().url, "--region", "us-east-1")


class ProvisionTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.directory = temporary_directory(self)
        self.stack = write_json(self.directory, "stack.json", {"queues": [{"name": fixtures.unique_name("q")}]})

    def test_the_dynamodb_table_and_its_policy(self) -> None:
        """Created once (a second run changes nothing), and consumers' policy lets them use it."""
        table = fixtures.unique_name("records")
        status, dry, _ = provision("--stack", self.stack, "--idempotency-table", table, "--dry-run")
        assert_that((status, dry), is_(equal_to((0, dry))))
        assert_that(dry, contains_string(f"would create DynamoDB table {table}"))
        status, first, errors = provision("--stack", self.stack, "--idempotency-table", table)
        assert_that((status, errors), is_(equal_to((0, ""))))
        assert_that(first, contains_string(f"create DynamoDB table {table}"))
        policy = json.loads(first.split("IAM policy for consumers:\n", 1)[1])
        statements = {statement["Sid"]: statement for statement in policy["Statement"]}
        assert_that(statements["IdempotencyRecords"], has_entries(
            Resource=contains_exactly(contains_string(f"table/{table}")), Action=has_item("dynamodb:PutItem"),
        ))
        client = dynamodb()
        self.addCleanup(client.close)
        described = client.describe_table(TableName=table)["Table"]
        assert_that(described["KeySchema"], is_(equal_to([{"AttributeName": "key", "KeyType": "HASH"}])))
        assert_that(provision("--stack", self.stack, "--idempotency-table", table)[1], contains_string("no changes"))

    def test_the_sql_tables(self) -> None:
        url = f"sqlite:///{self.directory}/records.db"
        status, first, _ = provision("--stack", self.stack, "--database-url", url)
        assert_that(status, is_(equal_to(0)))
        assert_that(first, contains_string("create table pubsub_idempotency in sqlite:///"))
        assert_that(first, contains_string("create table pubsub_outbox in sqlite:///"))
        engine = sa.create_engine(url)
        self.addCleanup(engine.dispose)
        assert_that(sa.inspect(engine).get_table_names(), has_item("pubsub_idempotency"))
        assert_that(provision("--stack", self.stack, "--database-url", url)[1], contains_string("no changes"))

    def test_an_unreachable_database_is_one_line_without_its_password(self) -> None:
        status, _, errors = provision("--stack", self.stack, "--database-url",
                                      "postgresql://someone:secret-word@127.0.0.1:1/nothing")
        assert_that(status, is_(equal_to(1)))
        assert_one_line_error(errors, "cannot reach the database postgresql+psycopg://someone:***@")
        assert_that("secret-word" in errors, is_(False))


class LocalTestCase(unittest.TestCase):
    def test_local_creates_the_table_and_says_how_to_use_it(self) -> None:
        """A service loading the printed variables gets the DynamoDB store on the local endpoint, its table there,
        and the database (its tables made) for the outbox."""
        directory = temporary_directory(self)
        stack = write_json(directory, "stack.json", {"queues": [{"name": "cli-records"}]})
        url = f"sqlite:///{directory}/dev.db"
        process = start("local", "--stack", stack, "--service", "cli-records", "--idempotency-table",
                        "--database-url", url)
        try:
            env = variables(read_until_ready(process))
            assert_that(env, has_entries(
                CLI_RECORDS__PUBSUB_IDEMPOTENCY__STORE="dynamodb",
                CLI_RECORDS__PUBSUB_IDEMPOTENCY__TABLE_NAME="pubsub_idempotency",
                CLI_RECORDS__PUBSUB_IDEMPOTENCY__ENDPOINT_URL=env["AWS_ENDPOINT_URL"],
                CLI_RECORDS__PUBSUB_DATABASE__URL=url,
            ))
            engine = sa.create_engine(url)
            self.addCleanup(engine.dispose)
            assert_that(sa.inspect(engine).get_table_names(), has_items("pubsub_idempotency", "pubsub_outbox"))
            with fixtures.environ(**env):
                graph: Any = create_object_graph("cli-records", loader=load_from_environ)
                graph.pubsub_idempotency.check()
        finally:
            process.send_signal(signal.SIGINT)
            status, _, _ = finish(process)
        assert_that(status, is_(equal_to(0)))
