"""The exactly-once fault scenario: orders published with duplicates, daemons and relays SIGKILLed at random.

One run, on one store: MESSAGES orders (DUPLICATE_SHARE of them published twice under the same
idempotency key) reach the service of `exactly_once.py`, run with `--concurrency 16`; its daemon is
killed with SIGKILL when the handled orders cross random points (and restarted at once), and so is
the outbox relay (`pubsub outbox relay`, SQL stores) when the rows it has sent cross random points.
A downstream consumer, idempotent by `pubsub_message_id`, reads the follow-ups. Then: every order's
effect applied exactly once, one follow-up per effect, nothing lost, nothing left in the outbox or
on the queue, no dead letter without its reason.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.aws.local import DUMMY_CREDENTIALS, LocalEndpoint
from microcosm_pubsub.aws.provisioning import Stack, create_idempotency_table
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.daemons.exactly_once import (
    DYNAMODB_EFFECTS_TABLE_VARIABLE,
    NAME,
    PARENT_VARIABLE,
    RECORD_FILE_VARIABLE,
    OrderSchema,
    effects,
)
from microcosm_pubsub.tests.reliability.harness import ChildProcess, Records, attribute_value, queue_depth


MESSAGES = 2000
DUPLICATE_SHARE = 0.1
CONCURRENCY = 16
DAEMON_KILLS = 5
RELAY_KILLS = 5
# Seconds a received message stays hidden: a killed daemon's messages (and the leases of its handlings,
# which equal it) come back this soon
VISIBILITY_TIMEOUT = 2
# The kills fall between these shares of the work, so that each one interrupts work in full flow
KILL_RANGE = (0.05, 0.85)
# Longest the whole run may take before the test says what is missing: a guard against a hang, far above the
# 30-50 s a run takes, since a loaded machine (the suite's other workers) slows every process of it
RUN_TIMEOUT_SECONDS = 180.0
EXIT_TIMEOUT_SECONDS = 20.0
# Set to replay a run: the seed is printed with the figures
SEED_VARIABLE = "EXACTLY_ONCE_SEED"
ENDPOINT_MODULE = "microcosm_pubsub.tests.daemons.exactly_once_faults"
ENDPOINT_START_SECONDS = 30.0
# How often the run looks at its progress (the kill points) and its processes
POLL_SECONDS = 0.05
# Orders published at once, and the queue depth (visible and in flight) the publisher waits below
PUBLISH_BATCH = 30
MAX_QUEUE_DEPTH = 60
# Each look at the depth costs the endpoint a scan of the queue
DEPTH_POLL_SECONDS = 0.1


class Child(ChildProcess):
    """A process of the scenario (the endpoint, a daemon or a relay), ended with the test process."""

    exit_timeout = EXIT_TIMEOUT_SECONDS

    def __init__(self, role: str, argv: list[str], environ: dict[str, str]) -> None:
        self.role = role
        super().__init__(argv, {PARENT_VARIABLE: str(os.getpid()), **environ}, f"exactly-once-{role}-")

    def kill(self) -> int:
        self.send(signal.SIGKILL)
        return self.wait()

    def tail(self, lines: int = 40) -> str:
        return f"--- {self.role} (pid {self.pid}) ---\n" + super().tail(lines)


def config_environ(prefix: str, **sections: dict[str, Any]) -> dict[str, str]:
    """Environment variables configuring a graph named `prefix`, e.g. `sqs_consumer={"wait_seconds": 1}`."""
    return {
        f"{prefix.upper()}__{section.upper()}__{key.upper()}": value if isinstance(value, str) else json.dumps(value)
        for section, values in sections.items()
        for key, value in values.items()
        if value is not None
    }


class EndpointProcess:
    """A local endpoint of the scenario's own, in a child process: moto serves every request under one GIL, and
    a process of its own keeps the test's threads (publisher, downstream consumer, kill loop) off it."""

    def __init__(self) -> None:
        self.child = Child("endpoint", [sys.executable, "-m", ENDPOINT_MODULE, "--endpoint"], {})
        self.endpoint = LocalEndpoint(mode="process")
        deadline = time.monotonic() + ENDPOINT_START_SECONDS
        while not self.endpoint.url:
            first = self.child.log().partition("\n")
            if first[1]:
                if not first[0].startswith("LISTENING http://"):
                    raise AssertionError(f"the local endpoint printed {first[0]!r}:\n{self.child.tail()}")
                self.endpoint.url = first[0].split()[1]
            elif self.child.exited or time.monotonic() > deadline:
                raise AssertionError(f"the local endpoint did not start:\n{self.child.tail()}")
            else:
                time.sleep(POLL_SECONDS)

    def close(self) -> None:
        self.child.stop()
        self.child.close()


class Store:
    """Where idempotency records and effects are kept; the daemon's configuration for it; what the checks read."""

    name: str
    # Whether follow-ups go through the outbox (and a relay), or straight to SNS from the handler
    outbox = False

    def sections(self) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    def environ(self) -> dict[str, str]:
        return {}

    def effects(self) -> Counter[str]:
        """Applications of each order's effect, by order name."""
        raise NotImplementedError

    def outbox_counts(self) -> tuple[int, int]:
        """Rows of the outbox (pending, sent)."""
        return (0, 0)

    def relay_argv(self, endpoint_url: str) -> list[str]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class SqlStore(Store):
    """SQLite or PostgreSQL through SQLAlchemy: the inbox in one transaction, follow-ups through the outbox."""

    outbox = True

    def __init__(self, name: str, url: str) -> None:
        import sqlalchemy as sa

        from microcosm_pubsub.effects import database
        from microcosm_pubsub.effects.outbox import outbox_table

        self.name = name
        self.url = url
        self.engine = database.create_engine(url)
        # The package's tables (idempotency records, outbox) and the service's own
        database.create_tables(self.engine)
        self.effects_table = effects
        effects.metadata.create_all(self.engine)
        self.outbox_table = outbox_table
        self._sa = sa

    def sections(self) -> dict[str, dict[str, Any]]:
        return {
            "pubsub_idempotency": {"store": "sql"},
            "pubsub_database": {"url": self.url},
            "pubsub_outbox": {"enabled": True},
        }

    def effects(self) -> Counter[str]:
        sa = self._sa
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(self.effects_table.c.name, sa.func.count()).group_by(self.effects_table.c.name)
            ).all()
        return Counter({name: count for name, count in rows})

    def outbox_counts(self) -> tuple[int, int]:
        sa = self._sa
        sent = self.outbox_table.c.sent_at.is_not(None)
        with self.engine.connect() as connection:
            pending, done = connection.execute(sa.select(
                sa.func.count().filter(~sent), sa.func.count().filter(sent),
            ).select_from(self.outbox_table)).one()
        return int(pending), int(done)

    def relay_argv(self, endpoint_url: str) -> list[str]:
        # Sent rows kept for the whole run (the checks count them); the last rows found within a fifth of a second
        return [*pubsub_command(), "outbox", "relay", "--database-url", self.url, "--endpoint-url", endpoint_url,
                "--region", "us-east-1", "--keep-sent-seconds", "3600", "--poll-seconds", "0.2"]

    def close(self) -> None:
        self.engine.dispose()


class DynamoDBStore(Store):
    """DynamoDB on a local endpoint: effects written in the completion's TransactWriteItems, follow-ups direct.

    An endpoint process of its own: a claim and a transaction per message would otherwise wait behind
    the SNS and SQS calls in the same moto process (one GIL), and the run would take twice as long.
    """

    def __init__(self, endpoint: LocalEndpoint) -> None:
        self.name = "dynamodb"
        self.server = EndpointProcess()
        self.url = self.server.endpoint.url
        suffix = fixtures.unique_name("exactly-once")
        self.records_table = f"{suffix}-idempotency"
        self.effects_table = f"{suffix}-effects"
        self.client = dynamodb_client(self.url)
        self.client.create_table(
            TableName=self.effects_table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
        create_idempotency_table(self.client, self.records_table)

    def sections(self) -> dict[str, dict[str, Any]]:
        return {"pubsub_idempotency": {"store": "dynamodb", "table_name": self.records_table, "endpoint_url": self.url}}

    def environ(self) -> dict[str, str]:
        return {DYNAMODB_EFFECTS_TABLE_VARIABLE: self.effects_table}

    def effects(self) -> Counter[str]:
        names: Counter[str] = Counter()
        for page in self.client.get_paginator("scan").paginate(TableName=self.effects_table):
            names.update(item["name"]["S"] for item in page["Items"])
        return names

    def close(self) -> None:
        self.client.close()
        self.server.close()


def dynamodb_client(url: str) -> Any:
    session: Any = boto3.session.Session(
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1",
    )
    return session.client("dynamodb", endpoint_url=url, config=Config(proxies={}))


# The `pubsub` command line (its console script's function), in a process that ends with the test's
PUBSUB = (
    "import sys\n"
    "from microcosm_pubsub.tests.daemons.exactly_once import die_with_parent\n"
    "die_with_parent()\n"
    "from microcosm_pubsub.cli import main\n"
    "sys.argv[0] = 'pubsub'\n"
    "sys.exit(main())\n"
)


def pubsub_command() -> list[str]:
    """`pubsub`, run by this interpreter."""
    return [sys.executable, "-c", PUBSUB]


@dataclass
class Kills:
    """Where a process is killed: at these values of a progress count, each after a short random delay."""

    points: list[int]
    delays: list[float]
    # (progress at the kill, the killed process's status)
    done: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def random(cls, rng: random.Random, count: int, total: int) -> Kills:
        low, high = (int(total * share) for share in KILL_RANGE)
        return cls(sorted(rng.randint(low, high) for _ in range(count)), [rng.uniform(0, 0.3) for _ in range(count)])

    def due(self, progress: int) -> float | None:
        """The delay before the next kill, once `progress` has reached its point; else None.

        A process started after a kill is killed again only once it has moved the work on.
        """
        index = len(self.done)
        if self.done and progress <= self.done[-1][0]:
            return None
        if index < len(self.points) and progress >= self.points[index]:
            return self.delays[index]
        return None


class Downstream:
    """An idempotent consumer of the follow-ups: keeps one per `pubsub_message_id`, counts the copies."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.received = 0
        # pubsub_message_id -> the order it follows (a copy must name the same one)
        self.by_id: dict[str, str] = {}
        self.conflicts: list[str] = []
        self.without_id = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="downstream", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.receive():
                self._stop.wait(0.1)

    def receive(self) -> int:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        for message in messages:
            self.received += 1
            message_id = attribute_value(message, "pubsub_message_id")
            name = json.loads(message["Body"])["name"]
            if message_id is None:
                self.without_id += 1
            elif self.by_id.setdefault(message_id, name) != name:
                self.conflicts.append(f"{message_id}: {self.by_id[message_id]} and {name}")
        if messages:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(messages)
            ])
        return len(messages)

    def drain(self, quiet: int = 3) -> None:
        """Receive until `quiet` receives in a row come back empty."""
        empty = 0
        while empty < quiet:
            empty = 0 if self.receive() else empty + 1

    def names(self) -> Counter[str]:
        """Distinct follow-ups per order."""
        return Counter(self.by_id.values())


@dataclass
class Outcome:
    """What a run saw, for the checks and the figures."""

    store: str
    seed: int
    names: list[str]
    published: int
    effects: Counter[str]
    follow_ups: Counter[str]
    follow_up_copies: int
    follow_ups_without_id: int
    follow_up_conflicts: list[str]
    outbox_pending: int
    outbox_sent: int
    queue_left: int
    dead_letters: list[dict[str, Any]]
    daemon_kills: list[tuple[int, int]]
    relay_kills: list[tuple[int, int]]
    final_statuses: dict[str, int]
    settled: list[dict[str, Any]]
    calls: int
    seconds: float
    logs: str

    @property
    def lost(self) -> list[str]:
        return sorted(set(self.names) - set(self.effects))

    @property
    def applied_twice(self) -> dict[str, int]:
        return {name: count for name, count in self.effects.items() if count != 1}

    @property
    def missing_follow_ups(self) -> list[str]:
        return sorted(set(self.effects) - set(self.follow_ups))

    @property
    def extra_follow_ups(self) -> dict[str, int]:
        """Orders with more than one distinct follow-up, or a follow-up without an effect."""
        return {name: count for name, count in self.follow_ups.items() if count != 1 or name not in self.effects}

    @property
    def dead_letters_without_reason(self) -> list[str]:
        return [message["Body"][:200] for message in self.dead_letters
                if not attribute_value(message, "pubsub_reason")]

    def figures(self) -> dict[str, Any]:
        orders = [record for record in self.settled if record["media_type"] == OrderSchema.MEDIA_TYPE]
        outcomes = Counter(record["outcome"] for record in orders)
        return {
            "store": self.store, "seed": self.seed, "messages": len(self.names),
            "published": self.published, "published_twice": self.published - len(self.names),
            "effects": sum(self.effects.values()), "lost": len(self.lost), "applied_twice": len(self.applied_twice),
            "duplicates_dropped": sum(1 for record in orders if record["extra"].get("duplicate")),
            "deliveries_settled": len(orders), "redeliveries": sum(1 for record in orders
                                                                  if (record["receive_count"] or 1) > 1),
            "outcomes": dict(sorted(outcomes.items())),
            "handler_calls": self.calls, "handler_reruns": self.calls - sum(self.effects.values()),
            "follow_ups_distinct": sum(self.follow_ups.values()), "follow_ups_received": self.follow_up_copies,
            "outbox_pending": self.outbox_pending, "outbox_sent": self.outbox_sent,
            "dead_letters": len(self.dead_letters),
            "daemon_kills": len(self.daemon_kills), "daemon_killed_at": [point for point, _ in self.daemon_kills],
            "relay_kills": len(self.relay_kills), "relay_killed_at": [point for point, _ in self.relay_kills],
            "wall_seconds": round(self.seconds, 1),
        }


class Scenario:
    """One store's run: stacks, processes, kills, the downstream consumer; `close` reaps them all."""

    def __init__(self, make_store: Callable[[LocalEndpoint], Store], messages: int = MESSAGES) -> None:
        self.messages = messages
        self.seed = int(os.environ.get(SEED_VARIABLE) or random.SystemRandom().randrange(2**32))
        self.rng = random.Random(self.seed)
        self.cleanups = ExitStack()
        server = EndpointProcess()
        self.cleanups.callback(server.close)
        self.endpoint = server.endpoint
        self.store = make_store(self.endpoint)
        self.cleanups.callback(self.store.close)
        directory = Path(self.cleanups.enter_context(tempfile.TemporaryDirectory(prefix="exactly-once-")))
        self.records = Records(directory / "records.jsonl")
        self.sqs = self.endpoint.client("sqs")
        self.cleanups.callback(self.sqs.close)
        prefix = fixtures.unique_name("exactly-once")
        # Raw delivery (the message and its attributes as published): moto signs each enveloped notification
        # with a certificate it makes for it, which would be most of its work here
        self.orders_stack: Stack = self.endpoint.provision(prefix, raw=True, visibility_timeout=VISIBILITY_TIMEOUT,
                                                           max_receive_count=50)
        # Raw delivery: the downstream consumer reads the follow-up's attributes straight off the SQS message
        self.shipped: Stack = self.endpoint.provision(f"{prefix}-shipped", raw=True, dead_letter=False)
        self.children: list[Child] = []
        self._read = 0
        self._called: set[str] = set()

    def close(self) -> None:
        for child in self.children:
            child.close()
        self.cleanups.close()

    def environ(self) -> dict[str, str]:
        url = self.endpoint.url
        sections = {
            "sqs_consumer": {
                "endpoint_url": url, "region_name": "us-east-1", "sqs_queue_url": self.orders_stack.queue_url,
            },
            "sns_producer": {"endpoint_url": url, "region_name": "us-east-1"},
            "sns_topic_arns": {"default": self.shipped.topic_arn},
            **self.store.sections(),
        }
        return {
            # Every other client (DynamoDB) to the local endpoint too
            "AWS_ENDPOINT_URL": url, **DUMMY_CREDENTIALS,
            RECORD_FILE_VARIABLE: str(self.records.path),
            **config_environ(NAME, **sections), **self.store.environ(),
        }

    def start_daemon(self) -> Child:
        child = Child("daemon", [sys.executable, "-m", "microcosm_pubsub.tests.daemons.exactly_once",
                                 "--concurrency", str(CONCURRENCY)], self.environ())
        self.children.append(child)
        return child

    def start_relay(self) -> Child:
        child = Child("relay", self.store.relay_argv(self.endpoint.url), DUMMY_CREDENTIALS)
        self.children.append(child)
        return child

    def orders(self) -> tuple[list[str], list[str]]:
        """Every order's name, and what is sent: each once, DUPLICATE_SHARE of them twice, shuffled."""
        names = [f"order-{index}" for index in range(self.messages)]
        sends = names + self.rng.sample(names, int(self.messages * DUPLICATE_SHARE))
        self.rng.shuffle(sends)
        return names, sends

    def progress(self) -> int:
        """Orders whose handler has been called at least once."""
        records = self.records.all()
        for record in records[self._read:]:
            if record["event"] == "called":
                self._called.add(record["name"])
        self._read = len(records)
        return len(self._called)

    def run(self) -> Outcome:
        began = time.monotonic()
        downstream = Downstream(self.sqs, self.shipped.queue_url)
        names, sends = self.orders()
        publisher = Publisher(self.endpoint, self.orders_stack, sends)
        self.cleanups.callback(publisher.stop)
        publisher.start()
        downstream.start()
        daemon_kills = Kills.random(self.rng, DAEMON_KILLS, self.messages)
        relay_kills = Kills.random(self.rng, RELAY_KILLS if self.store.outbox else 0, self.messages)
        daemon = self.start_daemon()
        relay = self.start_relay() if self.store.outbox else None
        deadline = began + RUN_TIMEOUT_SECONDS
        done = False
        checked = 0.0
        while time.monotonic() < deadline:
            for child in filter(None, (daemon, relay)):
                if child.exited:
                    raise AssertionError(f"the {child.role} exited by itself ({child.process.returncode}):\n"
                                         f"{child.tail()}")
            progress = self.progress()
            delay = daemon_kills.due(progress)
            if delay is not None:
                time.sleep(delay)
                daemon_kills.done.append((self.progress(), daemon.kill()))
                daemon = self.start_daemon()
            if relay is not None:
                sent = self.store.outbox_counts()[1]
                delay = relay_kills.due(sent)
                if delay is not None:
                    time.sleep(delay)
                    relay_kills.done.append((self.store.outbox_counts()[1], relay.kill()))
                    relay = self.start_relay()
            killed = len(daemon_kills.done) == len(daemon_kills.points) and \
                len(relay_kills.done) == len(relay_kills.points)
            # The full checks read the store and the queue: twice a second is enough
            if publisher.error is not None:
                raise AssertionError(f"publishing the orders failed: {publisher.error!r}")
            if killed and progress >= self.messages and time.monotonic() - checked > 0.5:
                checked = time.monotonic()
                if self.finished(names):
                    done = True
                    break
            time.sleep(POLL_SECONDS)
        statuses = {"daemon": daemon.stop()}
        if relay is not None:
            statuses["relay"] = relay.stop()
        downstream.stop()
        downstream.drain()
        pending, sent = self.store.outbox_counts()
        assert self.orders_stack.dead_letter_queue_url is not None
        dead_letters = receive_every(self.sqs, self.orders_stack.dead_letter_queue_url)
        outcome = Outcome(
            store=self.store.name, seed=self.seed, names=names, published=publisher.published,
            effects=self.store.effects(),
            follow_ups=downstream.names(), follow_up_copies=downstream.received,
            follow_ups_without_id=downstream.without_id, follow_up_conflicts=downstream.conflicts,
            outbox_pending=pending, outbox_sent=sent, queue_left=queue_depth(self.sqs, self.orders_stack.queue_url),
            dead_letters=dead_letters, daemon_kills=daemon_kills.done, relay_kills=relay_kills.done,
            final_statuses=statuses, settled=self.records.events("settled"),
            calls=len(self.records.events("called")), seconds=time.monotonic() - began,
            logs="\n".join(child.tail() for child in self.children[-2:]),
        )
        if not done:
            raise AssertionError(f"not finished within {RUN_TIMEOUT_SECONDS:g}s: {outcome.figures()}\n{outcome.logs}")
        return outcome

    def finished(self, names: Iterable[str]) -> bool:
        """Every order's effect applied, nothing on the queue, nothing pending in the outbox."""
        if set(names) - set(self.store.effects()):
            return False
        if queue_depth(self.sqs, self.orders_stack.queue_url):
            return False
        return self.store.outbox_counts()[0] == 0


class Publisher:
    """Publishes the orders through SNS, ten a call, keeping the queue shallow.

    moto's SendMessage (SNS's fan-out too) reads every queue attribute, three of which scan the queue,
    about 10 us a message each: a message sent to a queue 1,500 deep costs 0.1 s of the endpoint's
    time, 60 deep 2 ms. Holding the depth near what the daemon takes at once keeps publishing in step
    with handling, as in production.
    """

    def __init__(self, endpoint: LocalEndpoint, stack: Stack, sends: list[str]) -> None:
        self.endpoint = endpoint
        self.stack = stack
        self.sends = sends
        self.published = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        graph: Any = create_object_graph("exactly-once-publisher", testing=True, loader=load_from_dict({
            "sns_producer": {"endpoint_url": self.endpoint.url, "region_name": "us-east-1"},
            "sns_topic_arns": {"default": self.stack.topic_arn},
        }))
        sqs = self.endpoint.client("sqs")
        try:
            producer = graph.sns_producer
            prepared = [producer.prepare(OrderSchema.MEDIA_TYPE, name=name, idempotency_key=f"key-{name}")
                        for name in self.sends]
            for start in range(0, len(prepared), PUBLISH_BATCH):
                while queue_depth(sqs, self.stack.queue_url) >= MAX_QUEUE_DEPTH:
                    if self._stop.wait(DEPTH_POLL_SECONDS):
                        return
                if self._stop.is_set():
                    return
                batch = prepared[start:start + PUBLISH_BATCH]
                producer.publish_batch(batch)
                self.published += len(batch)
        except BaseException as error:
            self.error = error
        finally:
            sqs.close()
            fixtures.close_clients(graph)


def receive_every(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message on a queue (hidden for a minute so none comes twice), until three empty receives."""
    received: list[dict[str, Any]] = []
    empty = 0
    while empty < 3:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60,
            MessageAttributeNames=["All"], AttributeNames=["All"],
        ).get("Messages", [])
        empty = 0 if messages else empty + 1
        received.extend(messages)
    return received


def run_and_close(make_store: Callable[[LocalEndpoint], Store]) -> Outcome:
    scenario = Scenario(make_store)
    try:
        return scenario.run()
    finally:
        scenario.close()




def check_exactly_once(outcome: Outcome) -> None:
    """Print the run's figures, then hold it to the promise: exactly once, nothing lost, nothing left."""
    from hamcrest import assert_that, equal_to, greater_than_or_equal_to, is_

    from microcosm_pubsub.tests.reliability.harness import record_figures

    figures = outcome.figures()
    relay = (f"outbox relay SIGKILLed {figures['relay_kills']} times" if outcome.relay_kills
             else "follow-ups published by the handler (no outbox)")
    record_figures(
        f"exactly-once-{outcome.store}", f"exactly-once effects on {outcome.store}",
        f"{figures['messages']} orders ({figures['published_twice']} published twice under one key), "
        f"daemon at concurrency {CONCURRENCY} SIGKILLed {figures['daemon_kills']} times, {relay}; "
        f"visibility {VISIBILITY_TIMEOUT} s", **figures,
    )
    context = f"{json.dumps(figures)}\n{outcome.logs}"
    assert_that(outcome.published, is_(equal_to(len(outcome.names) + int(len(outcome.names) * DUPLICATE_SHARE))))
    # Effects: every order's once
    assert_that(outcome.lost, is_(equal_to([])), context)
    assert_that(outcome.applied_twice, is_(equal_to({})), context)
    # Follow-ups, as an idempotent consumer sees them: one per effect, each naming its order
    assert_that((outcome.follow_ups_without_id, outcome.follow_up_conflicts), is_(equal_to((0, []))), context)
    assert_that(outcome.missing_follow_ups, is_(equal_to([])), context)
    assert_that(outcome.extra_follow_ups, is_(equal_to({})), context)
    # Nothing left behind, nothing dead-lettered without its reason
    assert_that((outcome.outbox_pending, outcome.queue_left), is_(equal_to((0, 0))), context)
    assert_that(outcome.dead_letters_without_reason, is_(equal_to([])), context)
    # Every published duplicate was dropped without calling the handler
    assert_that(figures["duplicates_dropped"], is_(greater_than_or_equal_to(figures["published_twice"])), context)
    # The faults happened: each kill a SIGKILL, the last processes stopped cleanly
    assert_that(len(outcome.daemon_kills), is_(greater_than_or_equal_to(DAEMON_KILLS)))
    if outcome.relay_kills or outcome.store != "dynamodb":
        assert_that(len(outcome.relay_kills), is_(greater_than_or_equal_to(RELAY_KILLS)))
    statuses = [status for _, status in outcome.daemon_kills + outcome.relay_kills]
    assert_that(set(statuses), is_(equal_to({-signal.SIGKILL})), context)
    assert_that(set(outcome.final_statuses.values()), is_(equal_to({0})), context)


if __name__ == "__main__" and sys.argv[1:] == ["--endpoint"]:
    # The scenario's own local endpoint process, tied to the test process's life
    from microcosm_pubsub.aws import local
    from microcosm_pubsub.tests.daemons.exactly_once import die_with_parent

    die_with_parent()
    local.main([])
