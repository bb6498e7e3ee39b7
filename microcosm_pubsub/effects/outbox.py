"""The transactional outbox: messages written to a table in the caller's transaction, published once it commits.

    with engine.begin() as connection, outbox.within(connection):
        connection.execute(orders.insert(), {...})
        producer.produce(media_type, order_id=...)   # a row of pubsub_outbox, in this transaction

A rollback leaves no row, so nothing is published; a commit leaves one, which the relay (relay.py)
publishes. The row holds the message as `prepare()` made it (signed, traced, with its
`pubsub_message_id`); a large body goes to S3 when the relay publishes it, not in the transaction.
This module holds the table and every statement run on it; the relay's loop is in relay.py.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from microcosm_pubsub.effects import current
from microcosm_pubsub.effects.database import check_tables, metadata, shown
from microcosm_pubsub.produce.destinations import is_queue
from microcosm_pubsub.produce.message_ids import message_id_of, with_message_id
from microcosm_pubsub.wire.errors import ConfigurationError
from microcosm_pubsub.wire.outgoing import OutgoingMessage


try:
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError
except ImportError as missing:  # pragma: no cover - the extra is installed wherever the tests run
    raise ImportError("the outbox needs SQLAlchemy and psycopg: pip install 'microcosm_pubsub[sql]'") from missing

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


OUTBOX_TABLE = "pubsub_outbox"
TOPIC = "topic"
QUEUE = "queue"
# The longest FIFO group and deduplication ids AWS takes, and the longest message id `produce()` takes
ID_LENGTH = 128
# The relay's databases: PostgreSQL (several relays) and SQLite (one)
DIALECTS = ("postgresql", "sqlite")
# Sent rows deleted per statement when pruning
PRUNE_CHUNK = 1_000
# A failure's reason kept on its row, at most
ERROR_LENGTH = 1_000

outbox_table = sa.Table(
    OUTBOX_TABLE, metadata,
    # The order rows are published in, per destination
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    # The message's `pubsub_message_id`: a row published twice (the relay killed before marking it) keeps it
    sa.Column("message_id", sa.String(ID_LENGTH), nullable=False),
    # A topic ARN, or a queue's URL or ARN (`kind` says which)
    sa.Column("destination", sa.Text, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("media_type", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("attributes", sa.JSON, nullable=False),
    sa.Column("message_group_id", sa.String(ID_LENGTH), nullable=True),
    sa.Column("deduplication_id", sa.String(ID_LENGTH), nullable=True),
    sa.Column("delay_seconds", sa.Integer, nullable=True),
    # Epoch seconds; `sent_at` is null until the row is published
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("sent_at", sa.Float, nullable=True),
    # Publishing attempts that failed, and the last one's reason: a row nobody can publish shows in the stats
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    # Pending rows in order (sent_at null), and sent rows by age for pruning
    sa.Index("ix_pubsub_outbox_sent_at_id", "sent_at", "id"),
)
table = outbox_table
pending = table.c.sent_at.is_(None)


class OutboxError(ConfigurationError):
    """The outbox cannot be written or read as configured: what is wrong and what to do."""


def row_of(message: OutgoingMessage, now: float) -> dict[str, Any]:
    """The outbox row holding `message` (which carries its message id)."""
    return {
        "message_id": message_id_of(message), "destination": message.topic_arn,
        "kind": QUEUE if is_queue(message.topic_arn) else TOPIC, "media_type": message.media_type,
        "body": message.body, "attributes": message.attributes, "message_group_id": message.message_group_id,
        "deduplication_id": message.deduplication_id, "delay_seconds": message.delay_seconds, "created_at": now,
    }


def message_of(row: Mapping[str, Any]) -> OutgoingMessage:
    """The message an outbox row holds, as `prepare()` made it."""
    return OutgoingMessage(
        topic_arn=row["destination"], media_type=row["media_type"], body=row["body"],
        attributes={str(name): {"DataType": str(value["DataType"]), "StringValue": str(value["StringValue"])}
                    for name, value in row["attributes"].items()},
        delay_seconds=row["delay_seconds"], message_group_id=row["message_group_id"],
        deduplication_id=row["deduplication_id"],
    )


# Writing

class OutboxWriter:
    """What `produce()` writes into inside `within(...)`: rows of `pubsub_outbox` on one connection or session."""

    def __init__(self, target: Connection | Session) -> None:
        if isinstance(target, Engine):
            raise OutboxError(
                "outbox.within() takes the Connection or Session whose transaction the messages join, not an "
                "Engine: `with engine.begin() as connection, outbox.within(connection): ...`"
            )
        # A Session is told by its methods: importing the ORM here would slow every service's start
        if not isinstance(target, Connection) and not (hasattr(target, "get_bind") and hasattr(target, "execute")):
            raise OutboxError(f"outbox.within() takes a SQLAlchemy Connection or Session, not {type(target).__name__}")
        self.target = target

    def add(self, messages: list[OutgoingMessage]) -> None:
        """Insert one row per message in the target's transaction; a message without an id is given one."""
        if not messages:
            return
        now = time.time()
        rows = [row_of(with_message_id(message), now) for message in messages]
        try:
            self.target.execute(table.insert(), rows)
        except DBAPIError as error:
            missing = missing_table(error, self.target)
            if missing is None:
                raise
            raise missing from error

    def __repr__(self) -> str:
        return f"<OutboxWriter on {type(self.target).__name__}>"


def missing_table(error: DBAPIError, target: Connection | Session) -> OutboxError | None:
    """An `OutboxError` naming the fix when `error` says the outbox table does not exist; else None."""
    text = str(error.orig)
    if OUTBOX_TABLE not in text or not ("no such table" in text or "does not exist" in text):
        return None
    bind = target.engine if isinstance(target, Connection) else target.get_bind()
    return OutboxError(
        f"table {OUTBOX_TABLE} does not exist in {shown(bind.engine.url)}: create it with "
        "microcosm_pubsub.effects.database.create_tables(engine) (after importing microcosm_pubsub.effects.outbox) "
        "or your migrations"
    )


@contextmanager
def within(target: Connection | Session) -> Iterator[OutboxWriter]:
    """Inside the block, `produce()`, `publish_batch()` and deferred blocks write to `target`'s transaction.

    Nothing is committed here: the caller's commit publishes (through the relay), its rollback does not.
    """
    writer = OutboxWriter(target)
    with current.writing_to(writer):
        yield writer


# What the relay does to the table

class Database(Protocol):
    """The database binding (`pubsub_database`): its engine, made at first use."""

    @property
    def engine(self) -> Engine: ...


def lock_key(destination: str) -> int:
    """A destination's PostgreSQL advisory lock key: the same in every process."""
    digest = hashlib.sha256(f"{OUTBOX_TABLE}\n{destination}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def database_error(error: BaseException) -> str:
    """An error's reason, without the statement and parameters (message bodies) SQLAlchemy appends."""
    detail = getattr(error, "orig", None) or error
    lines = str(detail).strip().splitlines()
    return f"{type(detail).__name__}: {lines[0] if lines else ''}"


class OutboxRows:
    """The statements the relay runs on `pubsub_outbox`, on the database binding's engine."""

    # What a database failure raises (the relay logs it and tries again)
    errors: tuple[type[Exception], ...] = (SQLAlchemyError,)

    def __init__(self, database: Database) -> None:
        self.database = database

    @property
    def engine(self) -> Engine:
        engine = self.database.engine
        if engine.dialect.name not in DIALECTS:
            raise OutboxError(
                f"the outbox relay runs on PostgreSQL or SQLite, not {engine.dialect.name} ({shown(engine.url)})"
            )
        return engine

    @property
    def shared(self) -> bool:
        """Whether several relays may claim rows at once (PostgreSQL); SQLite runs one."""
        return self.engine.dialect.name == "postgresql"

    @property
    def where(self) -> str:
        return shown(self.engine.url)

    @property
    def sqlite_path(self) -> str | None:
        """The SQLite database's file; None in memory or on PostgreSQL."""
        path = self.engine.url.database
        if self.shared or not path or path == ":memory:" or path.startswith("file::memory:"):
            return None
        return path

    def check(self) -> None:
        """A `ConfigurationError` naming the fix for a database unreachable, or without the outbox table."""
        check_tables(self.engine, [OUTBOX_TABLE])

    def connect(self) -> Any:
        return self.engine.connect()

    def begin(self) -> Any:
        return self.engine.begin()

    def pending_destinations(self, connection: Connection, scan: int) -> list[str]:
        """The destinations of the oldest `scan` pending rows, oldest first."""
        oldest = connection.execute(
            sa.select(table.c.destination).where(pending).order_by(table.c.id).limit(scan)
        ).scalars()
        return list(dict.fromkeys(oldest))

    def try_lock(self, connection: Connection, destination: str) -> bool:
        """Take the destination's advisory lock for this transaction, unless another relay holds it (PostgreSQL)."""
        key = sa.bindparam("key", lock_key(destination), type_=sa.BigInteger)
        return bool(connection.execute(sa.select(sa.func.pg_try_advisory_xact_lock(key))).scalar())

    def claim(
        self, connection: Connection, destinations: Sequence[str], limit: int, lock: bool,
    ) -> list[Mapping[str, Any]]:
        """The oldest pending rows of `destinations` in id order (with `lock`, FOR UPDATE SKIP LOCKED)."""
        if not destinations:
            return []
        query = sa.select(table).where(pending, table.c.destination.in_(destinations)).order_by(table.c.id).limit(limit)
        if lock:
            query = query.with_for_update(skip_locked=True)
        return [dict(row) for row in connection.execute(query).mappings()]

    def mark(
        self, connection: Connection, published: Sequence[int], failures: Mapping[int, str], now: float, keep: bool,
    ) -> None:
        """Published rows marked sent (deleted unless `keep`); each failure counted on its row with its reason."""
        if published:
            chosen = table.c.id.in_(published)
            done = sa.update(table).where(chosen).values(sent_at=now) if keep else sa.delete(table).where(chosen)
            connection.execute(done)
        for row_id, reason in failures.items():
            connection.execute(sa.update(table).where(table.c.id == row_id).values(
                attempts=table.c.attempts + 1, last_error=reason[:ERROR_LENGTH],
            ))

    def prune(self, cutoff: float) -> int:
        """Delete rows sent before `cutoff`, a chunk per transaction; how many."""
        old = sa.select(table.c.id).where(table.c.sent_at.is_not(None), table.c.sent_at < cutoff).limit(PRUNE_CHUNK)
        deleted = 0
        while True:
            with self.engine.begin() as connection:
                count = int(connection.execute(sa.delete(table).where(table.c.id.in_(old.scalar_subquery()))).rowcount)
            deleted += count
            if count < PRUNE_CHUNK:
                return deleted

    def pending_by_destination(self) -> tuple[list[tuple[str, int, float, int, str | None]], int]:
        """(destination, pending, oldest created_at, failing, a reason) per destination with pending rows; sent rows."""
        failing = sa.func.sum(sa.case((table.c.attempts > 0, 1), else_=0))
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(table.c.destination, sa.func.count(), sa.func.min(table.c.created_at), failing,
                          sa.func.max(table.c.last_error))
                .where(pending).group_by(table.c.destination).order_by(sa.func.min(table.c.id))
            ).all()
            sent = connection.execute(sa.select(sa.func.count()).select_from(table).where(table.c.sent_at.is_not(None)))
            kept = int(sent.scalar() or 0)
        return [
            (str(destination), int(count), float(oldest), int(failed or 0), error)
            for destination, count, oldest, failed, error in rows
        ], kept
