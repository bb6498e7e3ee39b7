"""`pubsub_database`: the graph's SQL database, its URL from configuration and its engine made at first use.

Kept apart from `database.py` because microcosm imports every binding's module when it builds any graph:
this one imports SQLAlchemy (the `sql` extra) only once an engine is asked for.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from microcosm_pubsub.graph.config import defaults, typed
from microcosm_pubsub.wire.errors import ConfigurationError


if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@defaults(
    # A SQLAlchemy URL: sqlite:///file.db (development, tests, one host) or postgresql://user@host/db (psycopg 3)
    url=typed(str, default_value=None),
    # Connections kept open (PostgreSQL); an idempotent handling holds one while its handler runs
    pool_size=typed(int, default_value=20),
    # SQLite only: NORMAL (a commit survives the process crashing, not the machine losing power) or FULL
    sqlite_synchronous=typed(str, default_value="NORMAL"),
)
class PubSubDatabase:
    """The database binding: its URL from configuration, the engine made at first use."""

    def __init__(self, graph: Any) -> None:
        config = graph.config.pubsub_database
        self.url: str | None = config.url or None
        self.pool_size = int(config.pool_size)
        self.sqlite_synchronous = str(config.sqlite_synchronous)
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The engine, made at first use; a `ConfigurationError` when no URL is set."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    if not self.url:
                        raise ConfigurationError(
                            "no database: set pubsub_database.url to a SQLAlchemy URL (sqlite:///file.db, "
                            "postgresql://user@host/database)"
                        )
                    from microcosm_pubsub.effects.database import create_engine

                    self._engine = create_engine(self.url, self.pool_size, self.sqlite_synchronous)
        return self._engine

    def use(self, engine: Engine) -> None:
        """Use `engine` (a test's, or one the service already has) instead of making one from the URL."""
        with self._lock:
            self._engine = engine
            self.url = engine.url.render_as_string(hide_password=False)

    def __repr__(self) -> str:
        if not self.url:
            return "<PubSubDatabase unset>"
        from microcosm_pubsub.effects.database import shown

        return f"<PubSubDatabase {shown(self.url)}>"
