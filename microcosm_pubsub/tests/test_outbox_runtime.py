"""Where the outbox relay runs: inside the daemon (opt-in), as `pubsub outbox relay|stats`, from a scheduled Lambda."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest
from typing import Any

from hamcrest import assert_that, calling, contains_string, equal_to, has_entries, is_, is_not, raises
from marshmallow import fields
from microcosm.api import load_from_dict

from microcosm_pubsub.effects import outbox
from microcosm_pubsub.effects.database import create_engine, create_tables
from microcosm_pubsub.effects.outbox import OUTBOX_TABLE
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.cli_support import assert_one_line_error, pubsub_in_process
from microcosm_pubsub.wire.errors import ConfigurationError


PREFIX = "application/vnd.microcosm.pubsub._.tests.outbox-runtime"


@schema
class OrderSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.order"

    name = fields.String(required=True)


@schema
class ShippedSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.shipped"

    name = fields.String(required=True)


# Where the testing graphs' messages go: their producer records them
TOPIC = "arn:aws:sns:us-east-1:000000000000:outbox-runtime"


class OutboxDaemon(ConsumerDaemon):
    name = "outbox_runtime"


class LambdaContext:
    """What AWS Lambda hands a handler: here only the time left."""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RuntimeTestCase(unittest.TestCase):
    """A SQLite database and a daemon on a testing graph (its producer records what the relay publishes)."""

    def setUp(self) -> None:
        directory = tempfile.mkdtemp(prefix="outbox-runtime-")
        self.addCleanup(shutil.rmtree, directory, True)
        self.url = f"sqlite:///{directory}/service.db"
        self.engine = create_engine(self.url)
        self.addCleanup(self.engine.dispose)

    def daemon(self, **outbox_config: Any) -> ConsumerDaemon:
        return OutboxDaemon.create_for_testing(loader=load_from_dict({
            "sns_topic_arns": {"default": TOPIC},
            "pubsub_database": {"url": self.url},
            "pubsub_outbox": {"poll_seconds": 0.05, **outbox_config},
        }))

    def produce_rows(self, producer: Any, *names: str) -> None:
        with self.engine.begin() as connection, outbox.within(connection):
            for name in names:
                producer.produce(ShippedSchema.MEDIA_TYPE, name=name)


class DaemonRelayTests(RuntimeTestCase):
    def test_the_daemon_relays_what_commits_while_it_runs(self) -> None:
        """With relay_in_daemon the daemon publishes outbox rows as they commit, and its last round at stop."""
        create_tables(self.engine, [OUTBOX_TABLE])
        daemon = self.daemon(relay_in_daemon=True)
        producer = daemon.graph.sns_producer
        daemon.start()
        self.addCleanup(daemon.stop_outbox_relay)
        assert_that(daemon.relay_thread, is_not(None))
        self.produce_rows(producer, "a", "b")
        assert_that(fixtures.wait_for(lambda: len(producer.messages) == 2, timeout=5), is_(True))
        self.produce_rows(producer, "c")
        daemon.stop_outbox_relay()
        assert_that(daemon.relay_thread, is_(None))
        assert_that([message.content["name"] for message in producer.messages], is_(equal_to(["a", "b", "c"])))
        assert_that(daemon.graph.pubsub_outbox.stats().pending, is_(equal_to(0)))

    def test_a_missing_table_stops_the_start(self) -> None:
        """relay_in_daemon without the outbox table: the daemon does not start, and says how to create it."""
        daemon = self.daemon(relay_in_daemon=True)
        assert_that(calling(daemon.start), raises(ConfigurationError, f"table {OUTBOX_TABLE} does not exist"))

    def test_no_relay_unless_asked(self) -> None:
        """Without relay_in_daemon the daemon runs no relay (and needs no outbox table)."""
        daemon = self.daemon()
        daemon.start()
        assert_that(daemon.relay_thread, is_(None))


class LambdaRelayTests(RuntimeTestCase):
    def test_a_scheduled_lambda_publishes_what_is_pending(self) -> None:
        """The Lambda function publishes the pending rows and says what it did."""
        create_tables(self.engine, [OUTBOX_TABLE])
        daemon = self.daemon()
        handler = daemon.make_outbox_lambda_handler()
        self.produce_rows(daemon.graph.sns_producer, "a", "b")
        answer = handler({"source": "aws.events"}, LambdaContext())
        assert_that(answer, has_entries(published=2, failed=0, pending=0))
        assert_that([message.content["name"] for message in daemon.graph.sns_producer.messages],
                    is_(equal_to(["a", "b"])))

    def test_a_missing_table_fails_the_cold_start(self) -> None:
        """Making the handler checks the table, so a misconfigured function fails before its first schedule."""
        assert_that(calling(self.daemon().make_outbox_lambda_handler),
                    raises(ConfigurationError, f"table {OUTBOX_TABLE} does not exist"))


class CommandLineTests(RuntimeTestCase):
    def aws(self) -> list[str]:
        return ["--endpoint-url", fixtures.endpoint().url, "--region", "us-east-1"]

    def test_stats_then_relay_once(self) -> None:
        """`stats` shows the pending rows per destination; `relay --once` publishes them; `stats` then shows none."""
        create_tables(self.engine, [OUTBOX_TABLE])
        stack = fixtures.new_stack("outbox-cli", dead_letter=False)
        producer = OutboxDaemon.create_for_testing(loader=load_from_dict({
            "sns_topic_arns": {"default": stack.topic_arn},
        })).graph.sns_producer
        self.produce_rows(producer, "a", "b")
        status, out, _ = pubsub_in_process("outbox", "stats", "--database-url", self.url, "--json")
        assert_that(status, is_(equal_to(0)))
        assert_that(json.loads(out), has_entries(pending=2, failing=0, sent=0))
        status, out, _ = pubsub_in_process("outbox", "relay", "--once", "--database-url", self.url, *self.aws())
        assert_that((status, out.strip()), is_(equal_to((0, "published 2, failed 0, pruned 0, 0 pending"))))
        graph = fixtures.make_graph(stack)
        self.addCleanup(fixtures.close_clients, graph)
        names = sorted(message.content["name"] for message in fixtures.receive(graph, 2))
        assert_that(names, is_(equal_to(["a", "b"])))
        status, out, _ = pubsub_in_process("outbox", "stats", "--database-url", self.url)
        assert_that(out, contains_string("total"))
        assert_that(out, contains_string("sent, not yet pruned: 2"))

    def test_the_service_configuration_names_the_database(self) -> None:
        """With --service NAME the database comes from NAME__PUBSUB_DATABASE__URL, as the service's daemon reads it."""
        create_tables(self.engine, [OUTBOX_TABLE])
        with fixtures.environ(OUTBOX_CLI__PUBSUB_DATABASE__URL=self.url, PUBSUB_DATABASE_URL=None):
            status, out, _ = pubsub_in_process("outbox", "stats", "--service", "outbox_cli", "--json")
        assert_that(status, is_(equal_to(0)))
        assert_that(json.loads(out), has_entries(pending=0))

    def test_a_missing_table_is_one_line(self) -> None:
        """Without the table: exit 1, one line naming the table and how to create it."""
        status, _, err = pubsub_in_process("outbox", "stats", "--database-url", self.url)
        assert_that(status, is_(equal_to(1)))
        assert_one_line_error(err, f"table {OUTBOX_TABLE} does not exist")

    def test_no_database_is_a_usage_error(self) -> None:
        """Without a database URL anywhere: exit 2, saying where to give one."""
        with fixtures.environ(PUBSUB_DATABASE_URL=None):
            status, _, err = pubsub_in_process("outbox", "relay", "--once")
        assert_that(status, is_(equal_to(2)))
        assert_one_line_error(err, "no database: pass --database-url")

    def test_an_unreachable_database_is_one_line_without_its_password(self) -> None:
        """A database that cannot be reached: exit 1, its URL shown with the password hidden."""
        url = f"postgresql://relay:hunter2@127.0.0.1:{closed_port()}/service"
        status, _, err = pubsub_in_process("outbox", "stats", "--database-url", url)
        assert_that(status, is_(equal_to(1)))
        assert_one_line_error(err, "cannot reach the database")
        assert_that(err, is_not(contains_string("hunter2")))

    def test_an_option_of_the_other_action_is_refused(self) -> None:
        """`stats --once` or `relay --json`: exit 2, naming the option and the action."""
        status, _, err = pubsub_in_process("outbox", "stats", "--once", "--database-url", self.url)
        assert_that(status, is_(equal_to(2)))
        assert_one_line_error(err, "--once is not an option of `pubsub outbox stats`")

    def test_without_the_sql_extra_it_says_what_to_install(self) -> None:
        """Without SQLAlchemy installed: exit 2, one line naming the extra to install."""
        code = ("import sys; sys.modules['sqlalchemy'] = None; from microcosm_pubsub.cli import main; "
                "sys.exit(main(sys.argv[1:]))")
        completed = subprocess.run(
            [sys.executable, "-c", code, "outbox", "stats", "--database-url", self.url],
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert_that(completed.returncode, is_(equal_to(2)))
        assert_one_line_error(completed.stderr, "pip install 'microcosm_pubsub[sql]'")
