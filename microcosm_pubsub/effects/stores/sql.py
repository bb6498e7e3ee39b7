"""The SQL idempotency store (SQLAlchemy 2; SQLite, PostgreSQL): claim, handler and completion in one transaction.

The claim is an INSERT ... ON CONFLICT DO UPDATE ... WHERE (the record is missing, expired, or leased past
its lease) on the handling's connection, and nothing is committed until the completion: the uncommitted
row is the lease. A concurrent delivery of the same key waits on it (PostgreSQL: the row lock; SQLite: the
database's write lock) at most a lease, then sees the outcome, wins after a rollback, or comes back later.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from microcosm_pubsub.effects.database import IDEMPOTENCY_TABLE, check_tables, create_engine, idempotency_table
from microcosm_pubsub.effects.stores import COMPLETED, IN_PROGRESS, Claim, Record, StoreUnavailable


try:
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.engine import Connection, Engine, RootTransaction
    from sqlalchemy.exc import DBAPIError, OperationalError
except ImportError as missing:  # pragma: no cover - database.py says what to install first
    raise ImportError("the SQL idempotency store needs pip install 'microcosm_pubsub[sql]'") from missing


# A key looked up at once in one IN (...): a receive has at most ten; a bound keeps the statement small
MAX_KEYS_PER_QUERY = 500
# Where a connection remembers the lock wait it was given
LOCK_WAIT = "pubsub_idempotency_lock_wait_ms"
# What a lock held past its wait looks like: PostgreSQL's lock_not_available, SQLite's busy database
LOCK_CODES = frozenset({"55P03"})


COLUMNS = ("key", "status", "payload_hash", "owner", "lease_expires", "expires", "outcome")


def _columns(record: Record) -> dict[str, Any]:
    return {
        "key": record.key, "status": record.status, "payload_hash": record.payload_hash, "owner": record.owner,
        "lease_expires": record.lease_expires, "expires": record.expires, "outcome": record.outcome,
    }


def _record(row: Any) -> Record:
    return Record(row.key, row.status, row.payload_hash, row.owner, float(row.lease_expires), float(row.expires),
                  row.outcome)


def _lock_wait(error: DBAPIError) -> bool:
    """Whether `error` is a lock held past the wait (a concurrent handling of the key), not a broken database."""
    code = getattr(error.orig, "sqlstate", None)
    return code in LOCK_CODES or "database is locked" in str(error.orig)


class SQLStore:
    """Records in `pubsub_idempotency`; a handling holds one connection and one transaction."""

    name = "sql"
    transactional = True
    blocking = True

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name == "postgresql":
            # A pool of its own: its connections keep the lock wait a claim sets (a SET for the session, so
            # that a claim costs no round trip for it), which the service's and the relay's must not inherit
            size = getattr(engine.pool, "size", None)
            engine = create_engine(engine.url.render_as_string(hide_password=False), size() if callable(size) else 20)
        self.engine = engine
        self.table = idempotency_table
        self.operations = 0
        dialect = engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"the SQL idempotency store runs on SQLite and PostgreSQL, not {dialect}")
        self.dialect = dialect
        # Built once with bound parameters: building a statement costs more CPU than SQLite's whole commit
        self.claim_statement = self._claim_statement()
        table = self.table
        self.complete_statement = (
            sa.update(table)
            .where(table.c.key == sa.bindparam("b_key"), table.c.owner == sa.bindparam("b_owner"),
                   table.c.status == IN_PROGRESS)
            .values(status=COMPLETED, outcome=sa.bindparam("b_outcome"), expires=sa.bindparam("b_expires"))
        )
        self.read_statement = sa.select(table).where(table.c.key == sa.bindparam("b_key"))

    def check(self) -> None:
        check_tables(self.engine, [IDEMPOTENCY_TABLE])

    def close(self) -> None:
        """Close the store's connections (PostgreSQL: its own pool; SQLite: the database's)."""
        self.engine.dispose()

    def attempt(self, lease_seconds: float) -> SQLAttempt:
        return SQLAttempt(self, lease_seconds)

    def _claim_statement(self) -> Any:
        table = self.table
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = insert(table).values({name: sa.bindparam(name) for name in COLUMNS})
        excluded = statement.excluded
        now: Any = sa.bindparam("now")
        return statement.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={name: excluded[name] for name in COLUMNS if name != "key"},
            where=sa.or_(table.c.expires < now, sa.and_(table.c.status == IN_PROGRESS, table.c.lease_expires < now)),
        ).returning(table.c.owner)

    def get_many(self, keys: Sequence[str]) -> dict[str, Record]:
        found: dict[str, Record] = {}
        if not keys:
            return found
        with self.engine.connect() as connection:
            for start in range(0, len(keys), MAX_KEYS_PER_QUERY):
                chunk = list(keys[start:start + MAX_KEYS_PER_QUERY])
                self.operations += 1
                rows = connection.execute(sa.select(self.table).where(self.table.c.key.in_(chunk)))
                found.update((row.key, _record(row)) for row in rows)
        return found

    def extend(self, key: str, owner: str, lease_expires: float) -> bool:
        # The uncommitted claim is the lease: it lasts as long as the handling's transaction
        return True

    def prune(self, now: float) -> int:
        """Delete the records expired before `now`; how many."""
        with self.engine.begin() as connection:
            self.operations += 1
            return int(connection.execute(sa.delete(self.table).where(self.table.c.expires < now)).rowcount)


class SQLAttempt:
    """One handling's connection and transaction: opened by the claim, closed by the completion or release."""

    def __init__(self, store: SQLStore, lease_seconds: float) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.connection: Connection | None = None
        self.transaction_: RootTransaction | None = None

    def claim(self, record: Record, now: float) -> Claim:
        store = self.store
        connection = self.connection = store.engine.connect()
        try:
            self.transaction_ = connection.begin()
            # Wait for a concurrent handling of the key at most a lease: past it the delivery comes back later.
            # Set on the store's own connection once, not per claim (a round trip); PostgreSQL forgets a SET
            # made in a transaction that rolls back
            wait_ms = max(int(self.lease_seconds * 1000), 1)
            if connection.info.get(LOCK_WAIT) != wait_ms:
                if store.dialect == "postgresql":
                    connection.exec_driver_sql(f"SET lock_timeout = {wait_ms}")
                else:
                    connection.exec_driver_sql(f"PRAGMA busy_timeout = {wait_ms}")
                connection.info[LOCK_WAIT] = wait_ms
            store.operations += 1
            won = connection.execute(store.claim_statement, {**_columns(record), "now": now}).scalar_one_or_none()
            if won == record.owner:
                return Claim(True, record)
            store.operations += 1
            row = connection.execute(store.read_statement, {"b_key": record.key}).one_or_none()
        except OperationalError as error:
            self.release(record.key, record.owner)
            if _lock_wait(error):
                raise StoreUnavailable(f"the key is held by another handling ({error.orig})") from error
            raise
        except BaseException:
            self.release(record.key, record.owner)
            raise
        # Lost: nothing of ours to keep
        self.release(record.key, record.owner)
        return Claim(False, None if row is None else _record(row))

    def transaction(self) -> Connection | None:
        return self.connection

    def complete(self, key: str, owner: str, outcome: str, expires: float, now: float) -> bool:
        connection, transaction = self.connection, self.transaction_
        if connection is None or transaction is None:
            return False
        try:
            self.store.operations += 1
            updated = connection.execute(self.store.complete_statement, {
                "b_key": key, "b_owner": owner, "b_outcome": outcome, "b_expires": expires,
            }).rowcount
            if updated != 1:
                return False
            transaction.commit()
            return True
        finally:
            self._close()

    def release(self, key: str, owner: str) -> None:
        self._close()

    def _close(self) -> None:
        transaction, self.transaction_ = self.transaction_, None
        connection, self.connection = self.connection, None
        try:
            if transaction is not None and transaction.is_active:
                if connection is not None and self.store.dialect == "postgresql":
                    # A SET inside a transaction that rolls back is undone
                    connection.info.pop(LOCK_WAIT, None)
                transaction.rollback()
        finally:
            if connection is not None:
                connection.close()
