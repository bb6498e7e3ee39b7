"""The tests' PostgreSQL server: real, loopback only, not root, stopped and removed when its process ends."""
from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import sqlalchemy
from hamcrest import (
    assert_that,
    calling,
    contains_string,
    equal_to,
    is_,
    is_not,
    matches_regexp,
    not_,
    raises,
)

from microcosm_pubsub.testing.postgres import (
    RUN_AS_WHEN_ROOT,
    PostgresUnavailable,
    find_binaries,
    postgres_url,
    shared_server,
)
from microcosm_pubsub.tests.fixtures import wait_for
from microcosm_pubsub.tests.reliability.harness import ROOT, is_loopback, listening_addresses


# A child process that starts its own shared server, says where, then exits (or waits to be killed)
CHILD = """
import sys, time
from microcosm_pubsub.testing.postgres import shared_server
server = shared_server()
print(server.port, server.directory, flush=True)
if sys.argv[1] == "wait":
    time.sleep(120)
"""


def start_child(mode: str) -> tuple[subprocess.Popen[str], int, Path]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen([sys.executable, "-c", CHILD, mode], stdout=subprocess.PIPE, text=True, env=env,
                             cwd=ROOT)
    assert child.stdout is not None
    port, directory = child.stdout.readline().split()
    return child, int(port), Path(directory)


def server_uid(data: Path) -> int:
    """The real uid of the postmaster whose pid its data directory records."""
    pid = (data / "postmaster.pid").read_text().splitlines()[0]
    [uid_line] = [line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:")]
    return int(uid_line.split()[1])


class PostgresFixtureTest(unittest.TestCase):

    def test_a_new_database_keeps_tables_and_rows(self):
        """postgres_url() gives a fresh database on a real server: tables and rows persist; databases are separate."""
        first, second = postgres_url(), postgres_url()
        assert_that(first, matches_regexp(r"^postgresql\+psycopg://postgres@127\.0\.0\.1:\d+/test_[0-9a-f]{16}$"))
        engine = sqlalchemy.create_engine(first)
        self.addCleanup(engine.dispose)
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text("CREATE TABLE effects (key text PRIMARY KEY, amount int)"))
            connection.execute(sqlalchemy.text("INSERT INTO effects VALUES ('a', 1), ('b', 2)"))
        with engine.connect() as connection:
            total = connection.execute(sqlalchemy.text("SELECT sum(amount) FROM effects")).scalar()
            server_version = connection.execute(sqlalchemy.text("SHOW server_version")).scalar()
        other = sqlalchemy.create_engine(second)
        self.addCleanup(other.dispose)
        with other.connect() as connection:
            tables = connection.execute(sqlalchemy.text("SELECT count(*) FROM pg_tables WHERE tablename = 'effects'"))
            assert_that(tables.scalar(), is_(equal_to(0)))
        assert_that(total, is_(equal_to(3)))
        assert_that(server_version, matches_regexp(r"^\d+"))

    def test_listens_on_loopback_only_and_not_as_root(self):
        """The server listens on 127.0.0.1 alone; under root it runs as the postgres user, which it requires."""
        server = shared_server()
        addresses = listening_addresses(port=server.port)
        assert_that(addresses, is_not(equal_to([])))
        assert_that([address for address in addresses if not is_loopback(address)], is_(equal_to([])))
        assert_that(server_uid(server.data), is_not(equal_to(0)))
        if os.geteuid() == 0:
            assert_that(server_uid(server.data), is_(equal_to(pwd.getpwnam(RUN_AS_WHEN_ROOT).pw_uid)))

    def test_stopped_and_removed_when_its_process_exits(self):
        """A process's server is stopped and its directory removed when the process exits."""
        child, port, directory = start_child("exit")
        running = listening_addresses(port=port)
        status = child.wait(timeout=30)
        assert child.stdout is not None
        child.stdout.close()
        assert_that(running, is_not(equal_to([])))
        assert_that(status, is_(equal_to(0)))
        # pg_ctl stop --wait returned before the process exited: nothing is left to wait for
        assert_that((listening_addresses(port=port), directory.exists()), is_(equal_to(([], False))))

    def test_stopped_and_removed_when_its_process_is_killed(self):
        """SIGKILLed, a process runs no exit hooks: its watchdog stops the server and removes the directory."""
        child, port, directory = start_child("wait")
        running = listening_addresses(port=port)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.stdout is not None
        child.stdout.close()
        gone = wait_for(lambda: not listening_addresses(port=port) and not directory.exists(), timeout=30)
        assert_that(running, is_not(equal_to([])))
        assert_that(gone, is_(True), f"port {port} or {directory} still there")

    def test_missing_binaries_say_how_to_install_them(self):
        """Without initdb and pg_ctl on PATH or in the versioned directories, the error says how to install them."""
        with tempfile.TemporaryDirectory() as empty:
            pattern = os.path.join(empty, "*", "bin")
            assert_that(
                calling(find_binaries).with_args(path=empty, pattern=pattern),
                raises(PostgresUnavailable, "apt-get install postgresql"),
            )
            # A versioned directory holding both is found when PATH has neither; the newest version wins
            for version in ("9.6", "15", "13"):
                bin_directory = Path(empty, version, "bin")
                bin_directory.mkdir(parents=True)
                for program in ("initdb", "pg_ctl"):
                    (bin_directory / program).touch(mode=0o755)
            found = find_binaries(path=empty, pattern=pattern)
        assert_that(found.initdb, contains_string(os.path.join("15", "bin", "initdb")))
        assert_that(found.pg_ctl, not_(contains_string("9.6")))

