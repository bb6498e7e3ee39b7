"""The outbox relay: publishes committed outbox rows in order, marks them sent, and prunes old sent rows.

Each round claims the oldest pending rows, publishes them through the producer's batch path (PublishBatch
or SendMessageBatch, ten a call, per destination; FIFO group order kept, large bodies to S3 now), and
marks those published. Killed between publishing and marking, the next round publishes those rows again
with the same `pubsub_message_id`, which an idempotent consumer drops.

PostgreSQL: several relays share the work. A round takes a transaction-scoped advisory lock per
destination, so one relay at a time publishes a destination (its order kept), and claims that
destination's rows `FOR UPDATE SKIP LOCKED`; the rows are marked in the same transaction. SQLite: one
relay at a time (a lock file beside the database; another waits on standby), reading, publishing and
marking in short transactions so producers are never blocked while it publishes.

SQLAlchemy is imported when a relay is made, not with this module: every graph loads its binding.
"""
from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol

from microcosm_pubsub.effects import current
from microcosm_pubsub.graph.config import defaults, typed
from microcosm_pubsub.wire.errors import BatchPublishError, ConfigurationError, PubSubError
from microcosm_pubsub.wire.outgoing import OutgoingMessage


if TYPE_CHECKING:
    from microcosm_pubsub.effects.outbox import Database, OutboxRows


logger = logging.getLogger("microcosm_pubsub.outbox")

# Rows one round claims at most: ten PublishBatch calls
CLAIM_SIZE = 100
# Pending rows a round looks at to choose its destinations (bounded, whatever the backlog)
SCAN_SIZE = 1_000
# A round that could publish nothing waits longer each time, up to this
MAX_BACKOFF_SECONDS = 30.0
# A FIFO message held back because an earlier one of its group failed: not a failure of its own
NOT_SENT = "NotSent"


class BatchPublisher(Protocol):
    """What the relay publishes through: the producer's batch path (`sns_producer.publish_batch`)."""

    def publish_batch(self, messages: list[OutgoingMessage]) -> list[str]: ...


@dataclass
class RelayRound:
    """What one or more rounds did: rows claimed, published (and marked sent), failed; on standby (SQLite)."""

    claimed: int = 0
    published: int = 0
    failed: int = 0
    standby: bool = False

    def add(self, other: RelayRound) -> None:
        self.claimed += other.claimed
        self.published += other.published
        self.failed += other.failed
        self.standby = other.standby


@dataclass(frozen=True)
class DestinationStats:
    destination: str
    pending: int
    oldest_age_seconds: float
    # Pending rows whose publishing failed at least once, and one of their reasons
    failing: int
    error: str | None = None


@dataclass(frozen=True)
class OutboxStats:
    """Pending rows and the oldest one's age, in all and per destination; sent rows not yet pruned."""

    pending: int
    oldest_age_seconds: float | None
    failing: int
    sent: int
    destinations: list[DestinationStats] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class OutboxRelay:
    """Publishes committed outbox rows through `producer`; see the module's docstring for the guarantees.

    :param database: the `pubsub_database` binding (its engine is made at first use)
    :param keep_sent_seconds: sent rows are kept this long, then pruned; 0 deletes each once published
    """

    def __init__(
        self, database: Database, producer: BatchPublisher, *, claim_size: int = CLAIM_SIZE,
        keep_sent_seconds: float = 3600.0, poll_seconds: float = 1.0, prune_interval_seconds: float = 60.0,
        scan_size: int = SCAN_SIZE, clock: Callable[[], float] = time.time,
    ) -> None:
        if claim_size < 1 or keep_sent_seconds < 0 or poll_seconds <= 0:
            raise ConfigurationError(
                f"pubsub_outbox: claim_size ({claim_size}) must be at least 1, keep_sent_seconds "
                f"({keep_sent_seconds:g}) at least 0 and poll_seconds ({poll_seconds:g}) above 0"
            )
        # The table's statements, and SQLAlchemy with them: only a service that relays needs them
        from microcosm_pubsub.effects.outbox import OutboxRows

        self.rows: OutboxRows = OutboxRows(database)
        self.producer = producer
        self.claim_size = claim_size
        self.scan_size = max(scan_size, claim_size)
        self.keep_sent_seconds = keep_sent_seconds
        self.poll_seconds = poll_seconds
        self.prune_interval_seconds = prune_interval_seconds
        self.clock = clock
        self._lock_file: IO[bytes] | None = None
        self._standby_logged = False
        self._pruned_at: float | None = None

    def check(self) -> None:
        """A clear `ConfigurationError` now, not at the first round: the database unreachable, the table missing."""
        self.rows.check()

    # Rounds

    def relay_once(self) -> RelayRound:
        """Claim up to `claim_size` pending rows, publish them, mark those published; what it did."""
        rows = self.rows
        if not rows.shared:
            if not self.hold_sqlite_lock():
                return RelayRound(standby=True)
            with rows.connect() as connection:
                claimed = rows.claim(connection, rows.pending_destinations(connection, self.scan_size),
                                     self.claim_size, lock=False)
            if not claimed:
                return RelayRound()
            published, failures = self.publish(claimed)
            with rows.begin() as connection:
                self.mark(connection, published, failures)
        else:
            with rows.begin() as connection:
                destinations = [
                    destination for destination in rows.pending_destinations(connection, self.scan_size)
                    if rows.try_lock(connection, destination)
                ]
                claimed = rows.claim(connection, destinations, self.claim_size, lock=True)
                if not claimed:
                    return RelayRound()
                published, failures = self.publish(claimed)
                self.mark(connection, published, failures)
        failed = {row_id: reason for row_id, reason in failures.items() if not reason.startswith(NOT_SENT)}
        if failures:
            logger.warning("outbox relay: %d of %d messages not published, kept pending: %s",
                           len(failures), len(claimed), next(iter(failures.values())))
        logger.debug("outbox relay: published %d of %d rows", len(published), len(claimed))
        return RelayRound(claimed=len(claimed), published=len(published), failed=len(failed))

    def publish(self, rows: Sequence[Mapping[str, Any]]) -> tuple[list[int], dict[int, str]]:
        """Publish the rows' messages: the ids of rows published, and each other row's reason."""
        from microcosm_pubsub.effects.outbox import message_of

        messages = [message_of(row) for row in rows]
        ids = [int(row["id"]) for row in rows]
        # The relay publishes: it never writes into an outbox, whatever context it was called from
        token = current.outbox.set(None)
        try:
            self.producer.publish_batch(messages)
            return ids, {}
        except BatchPublishError as error:
            failed = {ids[failure["index"]]: f"{failure['code']}: {failure['message']}" for failure in error.failures}
            return [row_id for row_id in ids if row_id not in failed], failed
        except PubSubError as error:
            # Not per entry (S3 refused a large body, say): each row alone, so one bad row holds back no other
            logger.debug("outbox relay: publishing %d rows together failed (%s); publishing each", len(rows), error)
            return self.publish_each(messages, ids)
        finally:
            current.outbox.reset(token)

    def publish_each(self, messages: list[OutgoingMessage], ids: list[int]) -> tuple[list[int], dict[int, str]]:
        published: list[int] = []
        failed: dict[int, str] = {}
        stopped: set[tuple[str, str]] = set()
        for row_id, message in zip(ids, messages, strict=True):
            group = (message.topic_arn, message.message_group_id or "")
            if message.message_group_id is not None and group in stopped:
                failed[row_id] = f"{NOT_SENT}: an earlier message of group {message.message_group_id} failed"
                continue
            try:
                self.producer.publish_batch([message])
                published.append(row_id)
            except PubSubError as problem:
                failed[row_id] = f"{type(problem).__name__}: {problem}"
                if message.message_group_id is not None:
                    stopped.add(group)
        return published, failed

    def mark(self, connection: Any, published: Sequence[int], failures: Mapping[int, str]) -> None:
        counted = {row_id: reason for row_id, reason in failures.items() if not reason.startswith(NOT_SENT)}
        self.rows.mark(connection, published, counted, self.clock(), keep=self.keep_sent_seconds > 0)

    # SQLite: one relay at a time

    def hold_sqlite_lock(self) -> bool:
        """Whether this relay holds the database's relay lock (taken now if free); always for an in-memory database."""
        if self._lock_file is not None:
            return True
        path = self.rows.sqlite_path
        if path is None:
            return True
        handle = open(f"{path}.outbox-relay.lock", "ab")  # held open while this relay runs
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            if not self._standby_logged:
                logger.info("outbox relay on standby: another relay publishes from %s (SQLite runs one)", path)
                self._standby_logged = True
            return False
        self._lock_file = handle
        if self._standby_logged:
            logger.info("outbox relay: the other relay stopped; this one publishes from %s", path)
        return True

    def close(self) -> None:
        """Let another relay take over (SQLite)."""
        if self._lock_file is not None:
            with suppress(OSError):
                self._lock_file.close()
            self._lock_file = None

    # Loops

    def drain(self, deadline: float | None = None, stop: threading.Event | None = None) -> RelayRound:
        """Rounds until nothing is pending, a round publishes nothing, `deadline` (`time.monotonic()`) or `stop`.

        A SQLite relay lock it took, it lets go of at the end (a one-off relay: Lambda, `--once`).
        """
        held = self._lock_file is not None
        total = RelayRound()
        try:
            while not (stop is not None and stop.is_set()) and (deadline is None or time.monotonic() < deadline):
                done = self.relay_once()
                total.add(done)
                if done.standby or done.claimed < self.claim_size or not done.published:
                    break
        finally:
            if not held:
                self.close()
        return total

    def run(self, stop: threading.Event) -> None:
        """Relay until `stop` is set: rounds back to back while rows wait, a poll when none do; prunes as it goes.

        Database and AWS errors are logged and retried with a growing wait: the relay outlives an outage.
        """
        from microcosm_pubsub.effects.outbox import database_error

        logger.info("outbox relay started on %s", self.rows.where)
        # What a round may raise that waiting heals: the database or AWS unreachable for a while
        passing: tuple[type[Exception], ...] = (*self.rows.errors, PubSubError)
        delay = self.poll_seconds
        try:
            while not stop.is_set():
                try:
                    done = self.relay_once()
                    self.prune_when_due()
                except passing as error:
                    logger.warning("outbox relay: %s; trying again in %.1fs", database_error(error), delay)
                    stop.wait(delay)
                    delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                    continue
                if done.claimed and not done.published:
                    # Nothing could be published (AWS unreachable, say): wait longer each time
                    stop.wait(delay)
                    delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                    continue
                delay = self.poll_seconds
                if done.claimed < self.claim_size:
                    stop.wait(self.poll_seconds)
        finally:
            self.close()
            logger.info("outbox relay stopped")

    # Upkeep

    def prune_when_due(self) -> int:
        now = time.monotonic()
        if self._pruned_at is not None and now - self._pruned_at < self.prune_interval_seconds:
            return 0
        self._pruned_at = now
        return self.prune()

    def prune(self) -> int:
        """Delete sent rows older than `keep_sent_seconds`; how many."""
        deleted = self.rows.prune(self.clock() - self.keep_sent_seconds)
        if deleted:
            logger.info("outbox relay: pruned %d sent rows", deleted)
        return deleted

    def stats(self) -> OutboxStats:
        """Pending rows (and the oldest one's age) per destination, rows that failed, sent rows kept."""
        now = self.clock()
        found, sent = self.rows.pending_by_destination()
        destinations = [
            DestinationStats(destination, count, max(0.0, now - oldest), failing, error)
            for destination, count, oldest, failing, error in found
        ]
        return OutboxStats(
            pending=sum(item.pending for item in destinations),
            oldest_age_seconds=max((item.oldest_age_seconds for item in destinations), default=None),
            failing=sum(item.failing for item in destinations), sent=sent, destinations=destinations,
        )

    def __repr__(self) -> str:
        return f"<OutboxRelay claim_size={self.claim_size} keep_sent_seconds={self.keep_sent_seconds:g}>"


# The last round must end before the invocation does
LAMBDA_MARGIN_MILLIS = 10_000


def outbox_lambda_handler(relay: OutboxRelay) -> Callable[[Any, Any], dict[str, Any]]:
    """`handler(event, context)` for a scheduled Lambda: relays while rows wait and time remains, then prunes.

    The table is checked here, at the cold start, so that a misconfigured function fails at once.
    """
    relay.check()

    def handler(event: Any, context: Any) -> dict[str, Any]:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        deadline = None if remaining is None else time.monotonic() + (remaining() - LAMBDA_MARGIN_MILLIS) / 1000
        done = relay.drain(deadline=deadline)
        pruned = relay.prune()
        left = relay.stats()
        relay.close()
        logger.info("outbox relay: published %d, failed %d, pruned %d, %d pending",
                    done.published, done.failed, pruned, left.pending)
        return {"published": done.published, "failed": done.failed, "pruned": pruned, "pending": left.pending,
                "oldest_age_seconds": left.oldest_age_seconds}

    return handler


@defaults(
    # An idempotent SQL handling's produce() calls are written to the outbox in its transaction
    enabled=typed(bool, default_value=False),
    # Run a relay in the daemon (a thread beside the handlers)
    relay_in_daemon=typed(bool, default_value=False),
    # Sent rows are kept this long, then pruned; 0 deletes each row once published
    keep_sent_seconds=typed(float, default_value=3600.0),
    # How often an idle relay looks for new rows
    poll_seconds=typed(float, default_value=1.0),
    # Rows a round claims at most
    claim_size=typed(int, default_value=CLAIM_SIZE),
)
def configure_pubsub_outbox(graph: Any) -> OutboxRelay:
    """`pubsub_outbox`: the relay over `pubsub_database`, publishing through `sns_producer`."""
    config = graph.config.pubsub_outbox
    return OutboxRelay(
        graph.pubsub_database, graph.sns_producer, claim_size=int(config.claim_size),
        keep_sent_seconds=float(config.keep_sent_seconds), poll_seconds=float(config.poll_seconds),
    )
