"""Idempotent handlers: `@idempotent`, the `pubsub_idempotency` binding, and the guard the dispatcher runs them in.

A handling of an idempotent handler first claims its key in a store (one conditional write), runs the
handler only when the claim is won, and marks the key COMPLETED with the outcome; a later delivery of
the same payload under the key is settled as that outcome without a call, one of another payload is
INVALID. A claim is a lease as long as the message's visibility, extended with it by the runner's
heartbeat; a handling that lost its lease cannot complete. docs/exactly-once.md says what each store
guarantees.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from contextvars import ContextVar, Token
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from microcosm_pubsub.consume.result import MessageHandlingResult, Outcome
from microcosm_pubsub.effects.stores import COMPLETED, IN_PROGRESS, Attempt, Record, Store, StoreUnavailable
from microcosm_pubsub.graph.config import defaults, flag, typed
from microcosm_pubsub.schemas.handler_registry import handler_name
from microcosm_pubsub.wire.errors import ConfigurationError, PubSubError
from microcosm_pubsub.wire.outgoing import MESSAGE_ID_ATTRIBUTE


if TYPE_CHECKING:
    from microcosm_pubsub.consume.message import SQSMessage


logger = logging.getLogger("microcosm_pubsub.idempotency")

T = TypeVar("T")
KeyFunction = Callable[[Mapping[str, Any]], Any]

IDEMPOTENT_ATTRIBUTE = "__pubsub_idempotent__"
REUSED = "idempotency key reused with another payload"
STORES = ("dynamodb", "sql", "memory")
# Kept as NServiceBus keeps its deduplication records: a week covers any redrive or replay in practice
DEFAULT_EXPIRY_SECONDS = 7 * 24 * 3600
# SQS's default visibility timeout: the lease until the runner reads the queue's own
DEFAULT_LEASE_SECONDS = 30
# A stored key longer than this is `<handler>:sha256:<digest>` (the SQL column's width)
MAX_KEY_LENGTH = 512
# Outcomes after which a handling counts as done (its message is deleted), so that a duplicate is too
DONE = frozenset({Outcome.SUCCEEDED, Outcome.SKIPPED})
# Expired records of a store that keeps them (SQL) are deleted at most this often, by the handling that notices
PRUNE_INTERVAL_SECONDS = 3600
# Opaque data changes between a producer's tries of one message (its publish time): not part of the payload
UNHASHED = frozenset({"opaque_data", "opaqueData"})


class NoTransaction(PubSubError, RuntimeError):
    """`transaction()` was called outside an idempotent handling on a transactional store."""


@dataclass(frozen=True, slots=True)
class Idempotent:
    """How a handler is idempotent: its key is the producer's message id, or `key(content)`."""

    key: KeyFunction | None = None


@overload
def idempotent(target: T, *, key: KeyFunction | None = None) -> T: ...
@overload
def idempotent(target: None = None, *, key: KeyFunction | None = None) -> Callable[[T], T]: ...
def idempotent(target: Any = None, *, key: KeyFunction | None = None) -> Any:
    """Declare a handler (function or class) idempotent, above or below `@handles`.

    Its key is the producer's message id (the same across the producer's retries), or `key(content)`
    for messages whose content says which logical message they are.
    """
    options = Idempotent(key)

    def decorator(handler: T) -> T:
        setattr(handler, IDEMPOTENT_ATTRIBUTE, options)
        return handler

    return decorator if target is None else decorator(target)


def message_identity(message: SQSMessage) -> str:
    """The message's idempotency identity: its producer's message id, else SNS's MessageId, else SQS's."""
    return message.opened.attributes.get(MESSAGE_ID_ATTRIBUTE) or message.message_id


def payload_hash(content: Mapping[str, Any]) -> str:
    """sha256 of the decoded content as canonical JSON, its opaque data left out."""
    kept = {name: value for name, value in content.items() if name not in UNHASHED}
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def stored_key(handler: str, key: str) -> str:
    """`<handler name>:<key>`: two handlers of one message keep separate records."""
    scoped = f"{handler}:{key}"
    if len(scoped) <= MAX_KEY_LENGTH:
        return scoped
    return f"{handler[:MAX_KEY_LENGTH - 80]}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


_transaction: ContextVar[Any] = ContextVar("pubsub_idempotency_transaction", default=None)


def transaction() -> Any:
    """Inside an idempotent handling, what the handler writes its effects through so that they commit with the record.

    SQL store: the handling's SQLAlchemy `Connection` (its transaction commits with the completion).
    DynamoDB store: a list the handler appends `TransactWriteItems` entries to (written with the completion).
    """
    found = _transaction.get()
    if found is None:
        raise NoTransaction(
            "transaction() is only available inside a handler declared @idempotent (or in "
            "pubsub_idempotency.handlers) whose store is sql or dynamodb; the memory store has none"
        )
    return found


@dataclass(slots=True)
class Plan:
    """An idempotent handling's key and payload hash, and its record when a batch look-up found one."""

    key: str
    payload_hash: str
    known: Record | None = None


def handler_names(value: Any) -> frozenset[str]:
    """Handler names from configuration: a list, or a comma-separated string (environment variables)."""
    if not value:
        return frozenset()
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(str(item).strip() for item in items if str(item).strip())


@defaults(
    # Where records live: dynamodb, sql (pubsub_database.url) or memory (tests, one process); unset: memory only
    # in testing graphs, and an error at start when a handler is idempotent
    store=typed(str, default_value=None),
    # The DynamoDB table (`pubsub provision` creates it)
    table_name=typed(str, default_value="pubsub_idempotency"),
    # Handlers (`module.function` / `module.Class`) made idempotent without `@idempotent`, with the default key
    handlers=[],
    # How long a completed record keeps answering duplicates
    expiry_seconds=typed(int, default_value=DEFAULT_EXPIRY_SECONDS),
    # The lease of a claim; unset: the queue's visibility timeout (30 s until the runner has read it, and in Lambda)
    lease_seconds=typed(int, default_value=None),
    # Look a receive's keys up at once before handling (one read per receive) to settle duplicates without a claim
    batch_lookup=typed(bool, default_value=True),
    # DynamoDB's endpoint, region and profile; unset: the consumer's
    endpoint_url=typed(str, default_value=None),
    region_name=typed(str, default_value=None),
    profile_name=typed(str, default_value=None),
)
class Idempotency:
    """The guard around idempotent handlers: which handlers are, their keys, and each handling's claim."""

    def __init__(self, graph: Any) -> None:
        config = graph.config.pubsub_idempotency
        name = config.store or ("memory" if getattr(graph.metadata, "testing", False) else None)
        if name is not None and name not in STORES:
            raise ConfigurationError(
                f"pubsub_idempotency.store is {name!r}: give one of {', '.join(STORES)}"
            )
        self.store_name: str | None = name
        self.store: Store | None = build_store(graph, name, config) if name else None
        self.handlers = handler_names(config.handlers)
        self.expiry_seconds = int(config.expiry_seconds)
        self.configured_lease = config.lease_seconds
        self.lease_seconds = float(config.lease_seconds or DEFAULT_LEASE_SECONDS)
        self.batch_lookup = flag(config.batch_lookup, default=True)
        # Produces of an idempotent SQL handling go to the outbox in its transaction (the outbox's own setting)
        self.divert_to_outbox = name == "sql" and flag((graph.config.get("pubsub_outbox") or {}).get("enabled"))
        self.counts: Counter[str] = Counter()
        # Epoch seconds: leases and expiry are compared across processes and hosts
        self.clock: Callable[[], float] = time.time
        self._options: dict[str, Idempotent | None] = {}
        # Claims held by running handlings, by receipt handle: the heartbeat extends their leases
        self._held: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self._checked = False
        self._pruned_at = 0.0

    # -- which handlers, and their keys

    def options_for(self, handler: Any, name: str) -> Idempotent | None:
        """How `handler` (named `name`) is idempotent, or None; read once per handler name."""
        try:
            return self._options[name]
        except KeyError:
            pass
        options = getattr(handler, IDEMPOTENT_ATTRIBUTE, None)
        if not isinstance(options, Idempotent):
            options = Idempotent() if name in self.handlers else None
        self._options[name] = options
        return options

    def plan(self, message: SQSMessage, name: str, options: Idempotent) -> Plan | MessageHandlingResult:
        """The handling's key and payload hash; INVALID when its key function fails."""
        content = message.content or {}
        if options.key is None:
            key = message_identity(message)
        else:
            try:
                key = options.key(content)
            except Exception as error:
                reason = f"the idempotency key function of {name} failed: {type(error).__name__}: {error}"
                return MessageHandlingResult(message, Outcome.INVALID, handler=name, reason=reason)
            if key is None or key == "":
                reason = f"the idempotency key function of {name} gave no key ({key!r})"
                return MessageHandlingResult(message, Outcome.INVALID, handler=name, reason=reason)
        return Plan(stored_key(name, str(key)), payload_hash(content))

    def look_up(self, plans: Sequence[Plan]) -> None:
        """Read a receive's records at once, so that completed duplicates are settled without a claim."""
        store = self.store
        if store is None or not self.batch_lookup or len(plans) < 2:
            return
        try:
            found = store.get_many([plan.key for plan in plans])
        except Exception as error:
            # Only a saving is lost: each claim still decides
            logger.warning("looking up %d idempotency keys failed; each claim decides: %s", len(plans), error)
            return
        for plan in plans:
            plan.known = found.get(plan.key)

    # -- start

    def learn_lease(self, visibility_timeout: int) -> None:
        """The queue's visibility timeout, read at start: the lease, unless one is configured."""
        if self.configured_lease is None:
            self.lease_seconds = float(max(visibility_timeout, 1))

    def start(self, handlers: Mapping[str, Any]) -> None:
        """Check at start that the active idempotent handlers have a usable store (`ConfigurationError` if not)."""
        named: dict[str, Any] = {}
        for handler in handlers.values():
            named.setdefault(handler_name(handler), handler)
        idempotent = [name for name, handler in sorted(named.items()) if self.options_for(handler, name) is not None]
        if unknown := sorted(self.handlers - set(named)):
            logger.warning("pubsub_idempotency.handlers names handlers this daemon does not run: %s",
                           ", ".join(unknown))
        if not idempotent:
            return
        if self.store is None:
            raise ConfigurationError(
                f"{', '.join(idempotent)} {'is' if len(idempotent) == 1 else 'are'} idempotent but no store is "
                "configured: set pubsub_idempotency.store to dynamodb or sql (memory: tests and one process only)"
            )
        self.check()
        logger.info("idempotent handlers on the %s store: %s", self.store.name, ", ".join(idempotent))

    def check(self) -> None:
        """The store's own check, once (at start, or at the first handling where nothing started it: Lambda)."""
        if self._checked or self.store is None:
            return
        with self._lock:
            if not self._checked:
                self.store.check()
                self._checked = True

    # -- a handling

    def begin(self, message: SQSMessage, name: str, plan: Plan) -> Running | MessageHandlingResult:
        """Claim the key: a `Running` handling when won, else the outcome the message settles with."""
        store = self.store
        if store is None:
            raise ConfigurationError(
                f"{name} is idempotent but no store is configured: set pubsub_idempotency.store"
            )
        self.check()
        now = self.clock()
        known = plan.known
        if known is not None and known.status == COMPLETED and known.expires >= now:
            return self.settled(message, name, plan, known, now)
        # A token only its claim knows: 128 random bits
        owner = os.urandom(16).hex()
        lease = self.lease_seconds
        # The lease ends when the message's visibility does (from its receive): killed here, the next delivery
        # finds the lease over and claims at once, rather than wait for it and use up a receive
        started = min(message.delivery.received_at, now)
        record = Record(plan.key, IN_PROGRESS, plan.payload_hash, owner, started + lease, now + self.expiry_seconds)
        attempt = store.attempt(lease)
        try:
            claim = attempt.claim(record, now)
        except StoreUnavailable as error:
            self.counts["in_progress"] += 1
            return MessageHandlingResult(
                message, Outcome.RETRIED, name, f"idempotency key {plan.key} is being handled elsewhere: {error}",
                retry_seconds=math.ceil(lease), extra={"idempotency_key": plan.key},
            )
        if not claim.won:
            return self.settled(message, name, plan, claim.record, now)
        self.counts["claimed"] += 1
        with self._lock:
            self._held[message.receipt_handle] = (plan.key, owner)
        return Running(self, message, name, plan, attempt, owner)

    async def begin_async(self, message: SQSMessage, name: str, plan: Plan) -> Running | MessageHandlingResult:
        """`begin` for a handler on the event loop: a store call that leaves the process runs on a worker thread."""
        if self.store is not None and self.store.blocking:
            return await asyncio.to_thread(self.begin, message, name, plan)
        return self.begin(message, name, plan)

    def settled(
        self, message: SQSMessage, name: str, plan: Plan, record: Record | None, now: float,
    ) -> MessageHandlingResult:
        """The outcome of a delivery whose key is taken: a duplicate, a reused key, or a handling in progress."""
        extra = {"idempotency_key": plan.key}
        if record is None:
            # Taken when claimed, gone when read: the other handling has just ended; its result decides soon
            return MessageHandlingResult(message, Outcome.RETRIED, name, f"idempotency key {plan.key} was just "
                                         "released by another handling", retry_seconds=1, extra=extra)
        if record.payload_hash != plan.payload_hash:
            self.counts["reused"] += 1
            return MessageHandlingResult(message, Outcome.INVALID, name, REUSED, extra=extra)
        if record.status == COMPLETED:
            self.counts["duplicate"] += 1
            first = Outcome.SKIPPED if record.outcome == Outcome.SKIPPED.name else Outcome.SUCCEEDED
            return MessageHandlingResult(
                message, first, name, f"duplicate: {plan.key} was already handled ({first.value})",
                extra={**extra, "duplicate": True},
            )
        self.counts["in_progress"] += 1
        remaining = max(math.ceil(record.lease_expires - now), 1)
        return MessageHandlingResult(
            message, Outcome.RETRIED, name,
            f"idempotency key {plan.key} is in progress in another handling; visible again when its lease ends "
            f"in {remaining}s", retry_seconds=remaining, extra=extra,
        )

    def prune(self, now: float) -> None:
        """Delete expired records now and then, where the store keeps them (DynamoDB's TTL and memory do it alone)."""
        prune = getattr(self.store, "prune", None)
        if prune is None or now - self._pruned_at < PRUNE_INTERVAL_SECONDS:
            return
        with self._lock:
            if now - self._pruned_at < PRUNE_INTERVAL_SECONDS:
                return
            self._pruned_at = now
        try:
            removed = prune(now)
        except Exception as error:
            logger.warning("deleting expired idempotency records failed (tried again in an hour): %s", error)
        else:
            if removed:
                logger.info("deleted %d expired idempotency records", removed)

    def let_go(self, message: SQSMessage) -> None:
        with self._lock:
            self._held.pop(message.receipt_handle, None)

    def extend(self, messages: Iterable[SQSMessage], seconds: int) -> None:
        """The heartbeat: the leases of these messages' handlings end `seconds` from now, as their visibility does."""
        with self._lock:
            held = [(message, self._held[message.receipt_handle]) for message in messages
                    if message.receipt_handle in self._held]
        if not held or self.store is None:
            return
        lease_expires = self.clock() + seconds
        for message, (key, owner) in held:
            try:
                if not self.store.extend(key, owner, lease_expires):
                    logger.warning("the lease on %s (%s) was lost: another delivery claimed it; this handling "
                                   "cannot complete", key, message.message_id)
            except Exception as error:
                logger.warning("extending the lease on %s failed (its visibility was extended): %s", key, error)


class Running:
    """A won claim while its handler runs: `with running:` gives the handler its transaction, `finish` completes."""

    def __init__(self, guard: Idempotency, message: SQSMessage, name: str, plan: Plan, attempt: Attempt,
                 owner: str) -> None:
        self.guard, self.message, self.name, self.plan, self.attempt, self.owner = (
            guard, message, name, plan, attempt, owner)
        self._token: Token[Any] | None = None
        self._stack: ExitStack | None = None
        self._open = True

    def __enter__(self) -> Running:
        target = self.attempt.transaction()
        self._token = _transaction.set(target)
        if self.guard.divert_to_outbox and target is not None:
            from microcosm_pubsub.effects.outbox import within

            stack = self._stack = ExitStack()
            try:
                stack.enter_context(within(target))
            except BaseException as error:
                self.__exit__(type(error), error, error.__traceback__)
                raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        try:
            if stack is not None:
                stack.close()
        finally:
            if self._token is not None:
                _transaction.reset(self._token)
                self._token = None
            if error is not None:
                self.abandon()

    def abandon(self) -> None:
        """The handler failed: give the claim up (SQL: roll its transaction back)."""
        if not self._open:
            return
        self._open = False
        self.guard.let_go(self.message)
        try:
            self.attempt.release(self.plan.key, self.owner)
        except Exception as error:
            # The record stays leased: the next delivery waits for the lease, then claims it
            logger.warning("releasing idempotency key %s failed: %s", self.plan.key, error)

    def finish(self, result: MessageHandlingResult) -> MessageHandlingResult:
        """Complete the claim with a done result (lease held), or release it; the result the message settles with."""
        if result.outcome not in DONE:
            self.abandon()
            return result
        guard, key = self.guard, self.plan.key
        self._open = False
        guard.let_go(self.message)
        now = guard.clock()
        try:
            completed = self.attempt.complete(key, self.owner, result.outcome.name, now + guard.expiry_seconds, now)
        except Exception as error:
            self._open = True
            self.abandon()
            failed = MessageHandlingResult.from_error(self.message, error, self.name, result.elapsed_seconds)
            failed.reason = f"completing idempotency key {key} failed: {failed.reason}"
            return failed
        if completed:
            guard.prune(now)
            return result
        guard.counts["lease_lost"] += 1
        return MessageHandlingResult(
            self.message, Outcome.RETRIED, self.name,
            f"the lease on idempotency key {key} was lost while the handler ran (another delivery claimed it); "
            "this handling did not complete, and what it wrote through transaction() was not written",
            elapsed_seconds=result.elapsed_seconds, retry_seconds=math.ceil(guard.lease_seconds),
            extra={"idempotency_key": key},
        )

    async def finish_async(self, result: MessageHandlingResult) -> MessageHandlingResult:
        store = self.guard.store
        if store is not None and store.blocking and result.outcome in DONE:
            return await asyncio.to_thread(self.finish, result)
        return self.finish(result)


def build_store(graph: Any, name: str, config: Any) -> Store:
    """The store `name` from configuration (SQL and DynamoDB modules imported only when used)."""
    if name == "memory":
        from microcosm_pubsub.effects.stores.memory import MemoryStore

        return MemoryStore()
    if name == "sql":
        from microcosm_pubsub.effects.stores.sql import SQLStore

        database = graph.pubsub_database
        return SQLStore(database.engine)
    from microcosm_pubsub.aws.clients import make_client
    from microcosm_pubsub.effects.stores.dynamodb import DynamoDBStore

    own = {key: config.get(key) for key in ("endpoint_url", "region_name", "profile_name")}
    for key, value in own.items():
        if not value:
            own[key] = (graph.config.get("sqs_consumer") or {}).get(key)
    return DynamoDBStore(lambda: make_client("dynamodb", own, "pubsub_idempotency", 10.0, 25), config.table_name)
