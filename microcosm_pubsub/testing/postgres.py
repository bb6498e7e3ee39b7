"""A real PostgreSQL server for tests: `initdb` into a temporary directory, `pg_ctl` on a free loopback port.

    from microcosm_pubsub.testing.postgres import postgres_url
    url = postgres_url()  # postgresql+psycopg://postgres@127.0.0.1:<port>/<a new database>

One server per process, started on first use and stopped at exit (`pg_ctl stop -m immediate`, its
directory removed); a watchdog process stops it too if this process dies without running its exit
hooks. It listens on 127.0.0.1 only (and on a unix socket inside its directory), trusts local
connections, and runs with fsync off: a test database, never a place for data. PostgreSQL refuses to
run as root, so under root it runs as the `postgres` user Debian's package creates. The binaries come
from PATH or /usr/lib/postgresql/<version>/bin; `make test` installs the package when they are missing.
"""
from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO


SUPERUSER = "postgres"
# Debian keeps the server's programs off PATH, one directory per major version
DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"
# The account PostgreSQL runs as when this process is root (it refuses to run as root)
RUN_AS_WHEN_ROOT = "postgres"
HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 60
# Another process may take the free port between our probe and the server's bind: try a few
START_ATTEMPTS = 3
# Fast and throwaway: nothing is synced to disk, and plenty of connections for concurrent test daemons
SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "32MB",
    "log_min_messages": "warning",
}
INSTALL_HINT = (
    "install PostgreSQL (Debian/Ubuntu: `apt-get install postgresql`, which `make test` runs when it can) "
    "or put the directory holding initdb and pg_ctl on PATH"
)


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here: what is missing and how to install it."""


@dataclass(frozen=True)
class Binaries:
    initdb: str
    pg_ctl: str


def find_binaries(path: str | None = None, pattern: str = DEBIAN_BINARIES) -> Binaries:
    """`initdb` and `pg_ctl` from `path` (default PATH), else from the newest directory matching `pattern`."""
    initdb, pg_ctl = shutil.which("initdb", path=path), shutil.which("pg_ctl", path=path)
    if initdb and pg_ctl:
        return Binaries(initdb, pg_ctl)
    directories = sorted(glob.glob(pattern), key=_version_key, reverse=True)
    for directory in directories:
        initdb, pg_ctl = os.path.join(directory, "initdb"), os.path.join(directory, "pg_ctl")
        if os.access(initdb, os.X_OK) and os.access(pg_ctl, os.X_OK):
            return Binaries(initdb, pg_ctl)
    raise PostgresUnavailable(
        f"PostgreSQL's initdb and pg_ctl are not on PATH nor under {pattern}: {INSTALL_HINT}"
    )


def _version_key(directory: str) -> tuple[int, ...]:
    version = Path(directory).parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _run_as() -> list[str]:
    """The command prefix that runs a PostgreSQL program as an account it accepts."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(RUN_AS_WHEN_ROOT)
    except KeyError:
        raise PostgresUnavailable(
            f"PostgreSQL refuses to run as root and there is no {RUN_AS_WHEN_ROOT!r} user to run it as: "
            f"{INSTALL_HINT} (Debian's package creates the user), or run the tests as another user"
        ) from None
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", RUN_AS_WHEN_ROOT, "--"]
    su = shutil.which("su")
    if su:
        # su runs one shell command: the program and its arguments follow as that shell's "$@"
        return [su, RUN_AS_WHEN_ROOT, "-s", "/bin/sh", "-c", 'exec "$@"', "--"]
    raise PostgresUnavailable("PostgreSQL refuses to run as root, and neither runuser nor su is here to run it "
                              f"as {RUN_AS_WHEN_ROOT!r}: run the tests as another user")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    """One throwaway PostgreSQL server: `start()`, then `url()` or `create_database()`, then `stop()`."""

    def __init__(self, binaries: Binaries | None = None) -> None:
        self.binaries = binaries or find_binaries()
        self.prefix = _run_as()
        self.directory: Path | None = None
        self.port = 0
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def data(self) -> Path:
        assert self.directory is not None, "the server is not started"
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        assert self.directory is not None, "the server is not started"
        return self.directory / "server.log"

    @property
    def running(self) -> bool:
        return self.directory is not None and (self.data / "postmaster.pid").exists()

    def start(self) -> PostgresServer:
        """initdb and start on a free port; returns once the server accepts connections."""
        if self.directory is not None:
            return self
        self.directory = Path(tempfile.mkdtemp(prefix="pubsub-postgres-"))
        try:
            if self.prefix:
                # The server's account must own its directory; the temporary one is root's, mode 0700
                account = pwd.getpwnam(RUN_AS_WHEN_ROOT)
                os.chown(self.directory, account.pw_uid, account.pw_gid)
            self._run(self.binaries.initdb, "--pgdata", str(self.data), "--username", SUPERUSER, "--auth", "trust",
                      "--encoding", "UTF8", "--locale", "C", "--no-sync", what="initdb")
            self._watch()
            for attempt in range(START_ATTEMPTS):
                self.port = free_port()
                self._configure()
                try:
                    self._run(self.binaries.pg_ctl, "start", "--pgdata", str(self.data), "--log", str(self.log_path),
                              "--wait", "--timeout", str(START_TIMEOUT_SECONDS), what="pg_ctl start")
                    break
                except PostgresUnavailable:
                    if attempt == START_ATTEMPTS - 1 or "already in use" not in self.log():
                        raise
        except BaseException:
            self.stop()
            raise
        return self

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of `database` on this server (psycopg 3; no password: loopback is trusted)."""
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database (named `name`, else a unique one); returns its SQLAlchemy URL."""
        name = name or f"test_{uuid.uuid4().hex[:16]}"
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database names here are letters, digits and underscores, not {name!r}")
        try:
            import psycopg
        except ImportError as error:
            raise PostgresUnavailable("the PostgreSQL driver is missing: pip install 'microcosm_pubsub[sql]'") \
                from error
        with psycopg.connect(host=HOST, port=self.port, user=SUPERUSER, dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')  # name checked above: letters, digits, underscores
        return self.url(name)

    def stop(self) -> None:
        """Stop at once (`-m immediate`: nothing here needs a clean shutdown) and remove the directory."""
        with self._lock:
            directory, self.directory = self.directory, None
            if directory is None:
                return
            if (directory / "data" / "postmaster.pid").exists():
                subprocess.run([*self.prefix, self.binaries.pg_ctl, "stop", "--pgdata", str(directory / "data"),  # noqa: S603
                                "--mode", "immediate", "--wait"], cwd=directory, capture_output=True, check=False)
            shutil.rmtree(directory, ignore_errors=True)
            watchdog, self._watchdog = self._watchdog, None
            if watchdog is not None:
                # Its stdin closing tells it we are done; it finds nothing left to stop
                assert watchdog.stdin is not None
                watchdog.stdin.close()
                watchdog.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except (OSError, AssertionError):
            return ""

    def _configure(self) -> None:
        settings = {**SETTINGS, "port": str(self.port), "unix_socket_directories": f"'{self.directory}'"}
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        # Appended: the last setting of a name wins, so a retry on another port overrides the first
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(lines)

    def _run(self, program: str, *args: str, what: str) -> None:
        assert self.directory is not None
        # The working directory must be one the server's account can enter (root's home is not)
        result = subprocess.run([*self.prefix, program, *args], cwd=self.directory,  # noqa: S603
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"{what} failed with status {result.returncode}:\n{result.stdout}{result.stderr}{self.log()}"
            )

    def _watch(self) -> None:
        """A process that stops the server when this one dies, even by SIGKILL (its stdin pipe then closes)."""
        assert self.directory is not None
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self._watchdog = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "microcosm_pubsub.testing.postgres", "--watch", str(self.directory),
             self.binaries.pg_ctl, *self.prefix],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
            # Its own session: a Ctrl-C to the tests' process group must not take it before it has stopped the server
            start_new_session=True,
        )


def _watchdog_main(directory: str, pg_ctl: str, prefix: list[str], stdin: IO[bytes]) -> None:
    """Wait for the test process to go (stdin at EOF), then stop its server if it still runs."""
    while stdin.read(4096):
        pass
    data = Path(directory) / "data"
    if (data / "postmaster.pid").exists():
        subprocess.run([*prefix, pg_ctl, "stop", "--pgdata", str(data), "--mode", "immediate", "--wait"],  # noqa: S603
                       cwd=directory, capture_output=True, check=False)
    shutil.rmtree(directory, ignore_errors=True)


_shared_lock = threading.Lock()
_shared: PostgresServer | None = None


def shared_server() -> PostgresServer:
    """The process's one server, started on first use and stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            server = PostgresServer()
            atexit.register(server.stop)
            _shared = server.start()
        return _shared


def postgres_url(database: str | None = None) -> str:
    """The SQLAlchemy URL of a new database on the process's shared server (a unique name unless given)."""
    return shared_server().create_database(database)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--watch"]:
        _watchdog_main(sys.argv[2], sys.argv[3], sys.argv[4:], sys.stdin.buffer)
    else:
        sys.exit("usage: python -m microcosm_pubsub.testing.postgres --watch DIRECTORY PG_CTL [RUN_AS...]")
