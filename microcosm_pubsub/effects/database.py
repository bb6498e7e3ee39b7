"""The SQL database the idempotency records and the outbox live in: their tables, engines and checks."""
# SQLAlchemy is the `sql` extra: only modules used with SQL import this one (the graph's binding,
# `database_binding.py`, imports it at first use)
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from microcosm_pubsub.wire.errors import ConfigurationError


try:
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy.engine import URL, Engine, make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
except ImportError as missing:  # pragma: no cover - the extra is installed wherever the tests run
    raise ImportError(
        "the SQL idempotency store and the outbox need SQLAlchemy and psycopg: "
        "pip install 'microcosm_pubsub[sql]'"
    ) from missing


# Every table of the package, so that one `create_tables` creates them all (the outbox adds its own)
metadata = sa.MetaData()

IDEMPOTENCY_TABLE = "pubsub_idempotency"
# Keys are `<handler name>:<key>`; a handler's dotted name and a message id fit with room to spare
KEY_LENGTH = 512

idempotency_table = sa.Table(
    IDEMPOTENCY_TABLE, metadata,
    sa.Column("key", sa.String(KEY_LENGTH), primary_key=True),
    # IN_PROGRESS (leased by `owner` until `lease_expires`) or COMPLETED (kept until `expires`)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("payload_hash", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(32), nullable=False),
    # Epoch seconds
    sa.Column("lease_expires", sa.Float, nullable=False),
    sa.Column("expires", sa.Float, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=True),
)

# SQLite: readers do not block the writer, and a writer waits this long for another's lock instead of failing
SQLITE_BUSY_TIMEOUT_SECONDS = 30
# SQLite's `synchronous` in WAL mode: NORMAL keeps every commit through a crash of the process (not of the
# machine) at a fraction of FULL's cost, which syncs the disk at each commit
SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def shown(url: URL | str) -> str:
    """A database URL as it may be logged or shown: its password hidden."""
    try:
        return (url if isinstance(url, URL) else make_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "<a database URL that cannot be read>"


def engine_url(url: str) -> URL:
    """The URL SQLAlchemy is given: a PostgreSQL URL without a driver uses psycopg 3 (installed by the extra)."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ConfigurationError(
            f"pubsub_database.url is not a database URL ({error}): give a SQLAlchemy URL such as "
            "sqlite:///path/to/file.db or postgresql://user@host/database"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine(url: str, pool_size: int = 20, sqlite_synchronous: str = "NORMAL") -> Engine:
    """An engine for `url`: SQLite in WAL mode with a busy timeout, PostgreSQL through psycopg 3."""
    parsed = engine_url(url)
    synchronous = sqlite_synchronous.upper()
    if synchronous not in SQLITE_SYNCHRONOUS:
        raise ConfigurationError(
            f"pubsub_database.sqlite_synchronous is {sqlite_synchronous!r}: give one of {', '.join(SQLITE_SYNCHRONOUS)}"
        )
    options: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        # Handler threads share the pool: a connection is used by one thread at a time, not always the same one
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
    else:
        # A handling holds its connection for the handler's call: one per handler thread, with room for the rest.
        # No ping at checkout (a round trip per message): a connection the server dropped fails its handling,
        # which is retried on a fresh one
        options.update(pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600)
    try:
        engine = sa.create_engine(parsed, **options)
    except (ArgumentError, NoSuchModuleError) as error:
        raise ConfigurationError(
            f"cannot use the database {shown(parsed)}: {error}; give a sqlite:// or postgresql:// URL "
            "in pubsub_database.url"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", lambda connection, _record: _sqlite_pragmas(connection, synchronous))
    return engine


def _sqlite_pragmas(connection: Any, synchronous: str) -> None:
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    finally:
        cursor.close()


def one_line(error: SQLAlchemyError) -> str:
    """The driver's own message (psycopg's spans lines), on one line."""
    return " ".join(str(getattr(error, "orig", None) or error).split())


def create_tables(engine: Engine, names: Iterable[str] | None = None) -> None:
    """Create the package's tables (those in `names`, else all on `metadata`) that do not exist yet."""
    tables = None if names is None else [metadata.tables[name] for name in names]
    try:
        metadata.create_all(engine, tables=tables)
    except DBAPIError as error:
        raise ConfigurationError(f"cannot create the tables in {shown(engine.url)}: {one_line(error)}") from None


def provision_tables(url: str, dry_run: bool = False) -> list[str]:
    """Create the tables on `metadata` that `url`'s database lacks; what was done (or, `dry_run`, would be).

    The outbox's table is on `metadata` once `microcosm_pubsub.effects.outbox` is imported.
    """
    engine = create_engine(url, pool_size=1)
    where = shown(engine.url)
    try:
        try:
            existing = set(sa.inspect(engine).get_table_names())
        except SQLAlchemyError as error:
            raise ConfigurationError(f"cannot reach the database {where}: {one_line(error)}") from None
        missing = [name for name in metadata.tables if name not in existing]
        if missing and not dry_run:
            create_tables(engine, missing)
        return [f"create table {name} in {where}" for name in missing]
    finally:
        engine.dispose()


def check_tables(engine: Engine, names: Sequence[str]) -> None:
    """A `ConfigurationError` naming the fix when the database is unreachable or a table is missing or differs."""
    where = shown(engine.url)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            for name in names:
                expected = metadata.tables[name]
                if not inspector.has_table(name):
                    raise ConfigurationError(
                        f"table {name} does not exist in {where}: create it with `pubsub provision` "
                        "or microcosm_pubsub.effects.database.create_tables(engine)"
                    )
                found = {column["name"] for column in inspector.get_columns(name)}
                if missing := [column.name for column in expected.columns if column.name not in found]:
                    raise ConfigurationError(
                        f"table {name} in {where} does not match this version of microcosm_pubsub: it lacks the "
                        f"columns {', '.join(missing)}; rename it away and create it again (create_tables)"
                    )
    except SQLAlchemyError as error:
        raise ConfigurationError(
            f"cannot reach the database {where}: {one_line(error)}; check pubsub_database.url and that the server runs"
        ) from None
