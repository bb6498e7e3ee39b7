"""What the fault tests share: daemon subprocesses, their records, queue counts, waiting, and the figures."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.aws.local import LocalEndpoint
from microcosm_pubsub.aws.provisioning import Stack
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.reliability.daemon import FAIL_RATE_VARIABLE, RECORD_FILE_VARIABLE, WorkSchema


ROOT = Path(__file__).resolve().parents[3]
DAEMON_MODULE = "microcosm_pubsub.tests.reliability.daemon"
# The daemon's name: its configuration comes from RELIABILITY__<BINDING>__<KEY> variables
PREFIX = "RELIABILITY"
# "test" keeps `make test` short; "soak" (make soak) runs the long versions
SCALE_VARIABLE = "PUBSUB_RELIABILITY_SCALE"
# When set, each test merges its row into this JSON file (docs/reliability-figures.json for the report)
FIGURES_VARIABLE = "PUBSUB_RELIABILITY_FIGURES"
# Longest a daemon may take to exit after SIGTERM before a test calls it hung
EXIT_TIMEOUT_SECONDS = 30.0


def scale() -> str:
    return os.environ.get(SCALE_VARIABLE, "test")


def daemon_config(**sections: dict[str, Any]) -> dict[str, str]:
    """Environment variables configuring the daemon's bindings, e.g. `sqs_consumer={"concurrency": 4}`."""
    return {
        f"{PREFIX}__{binding.upper()}__{key.upper()}": value if isinstance(value, str) else json.dumps(value)
        for binding, values in sections.items()
        for key, value in values.items()
        if value is not None
    }


class ChildProcess:
    """A process a fault test starts, with the repository importable, its output (stdout and stderr) in a file."""

    # How long a stop or a wait waits for the process to exit
    exit_timeout = EXIT_TIMEOUT_SECONDS

    def __init__(self, argv: list[str], environ: dict[str, str], log_prefix: str) -> None:
        self.log_file: IO[bytes] = tempfile.NamedTemporaryFile(prefix=log_prefix, suffix=".log")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            **environ,
        }
        self.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def exited(self) -> bool:
        return self.process.poll() is not None

    def send(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(self.exit_timeout if timeout is None else timeout)

    def stop(self) -> int:
        """SIGTERM and wait; a process that hangs is killed (and the test sees its non-zero status)."""
        if self.process.poll() is None:
            self.send(signal.SIGTERM)
        try:
            return self.wait()
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log_file.close()

    def log(self) -> str:
        return Path(self.log_file.name).read_text(errors="replace")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


class DaemonProcess(ChildProcess):
    """The reliability daemon in a subprocess."""

    def __init__(self, record_file: Path, environ: dict[str, str], args: Iterable[str] = (), fail_rate: float = 0.0):
        super().__init__(
            [sys.executable, "-m", DAEMON_MODULE, *args],
            {RECORD_FILE_VARIABLE: str(record_file), FAIL_RATE_VARIABLE: str(fail_rate), **environ},
            "reliability-daemon-",
        )

    def rss_kib(self) -> int | None:
        """Resident memory from /proc, or None when the process is gone."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None


class Records:
    """The daemon's JSON-line records, read incrementally (daemons append while tests look)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self._records: list[dict[str, Any]] = []

    def all(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            return self._records
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        # The last piece is a line still being written, or empty
        self._partial = lines.pop()
        self._records.extend(json.loads(line) for line in lines if line.strip())
        return self._records

    def events(self, event: str) -> list[dict[str, Any]]:
        return [record for record in self.all() if record["event"] == event]

    def counts(self, event: str) -> Counter[str]:
        return Counter(record["name"] for record in self.events(event))

    def handled(self) -> set[str]:
        return set(self.counts("handled"))

    def duplicates(self) -> int:
        """Handlings beyond the first of each message."""
        counts = self.counts("handled")
        return sum(counts.values()) - len(counts)


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages on the queue, visible or in flight."""
    return sum(fixtures.queue_counts(sqs, queue_url))


def receive_all(sqs: Any, queue_url: str, quiet: int = 3, limit: int = 200) -> list[dict[str, Any]]:
    """Every message on a queue, hidden for a minute so none comes twice; bounded by `limit` receives."""
    received: list[dict[str, Any]] = []
    empty = 0
    for _ in range(limit):
        if empty >= quiet:
            break
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60,
            MessageAttributeNames=["All"], AttributeNames=["All"],
        ).get("Messages", [])
        empty = 0 if messages else empty + 1
        received.extend(messages)
    return received


def attribute_value(message: dict[str, Any], name: str) -> str | None:
    value = message.get("MessageAttributes", {}).get(name, {}).get("StringValue")
    return value if isinstance(value, str) else None


def record_figures(key: str, fault: str, action: str, **figures: Any) -> dict[str, Any]:
    """Print this test's figures and, when asked, merge them into the figures file under `<scale>/<key>`."""
    row = {"fault": fault, "action": action, "scale": scale(),
           "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"), **figures}
    print(f"\nRELIABILITY FIGURES {key}: {json.dumps(row)}", file=sys.stderr, flush=True)
    target = os.environ.get(FIGURES_VARIABLE)
    if target:
        path = Path(target)
        existing = json.loads(path.read_text()) if path.exists() else {}
        existing[f"{scale()}/{key}"] = row
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
    return row


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def _address(hex_address: str) -> str:
    """An address as /proc/net/tcp{,6} writes it (little-endian 32-bit words) in the usual notation."""
    host, port = hex_address.split(":")
    words = [bytes.fromhex(host[index:index + 8])[::-1] for index in range(0, len(host), 8)]
    raw = b"".join(words)
    if len(raw) == 4:
        return f"{'.'.join(str(byte) for byte in raw)}:{int(port, 16)}"
    return f"[{':'.join(raw[index:index + 2].hex() for index in range(0, 16, 2))}]:{int(port, 16)}"


def listening_addresses(port: int | None = None, pid: int | None = None) -> list[str]:
    """Addresses of listening TCP sockets on this machine, of one port or one process (Linux /proc)."""
    inodes = _socket_inodes(pid) if pid is not None else None
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            columns = line.split()
            # State 0A is LISTEN; column 9 is the socket's inode
            if columns[3] != "0A":
                continue
            address = _address(columns[1])
            if port is not None and not address.endswith(f":{port}"):
                continue
            if inodes is not None and columns[9] not in inodes:
                continue
            found.append(address)
    return found


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0]
    return host.startswith("127.") or host == "[0000:0000:0000:0000:0000:0000:0000:0001]"


class Lab:
    """One test's (or one class's) stacks, producer graphs, daemons and records; `close` reaps them all."""

    def __init__(self, endpoint: LocalEndpoint | None = None) -> None:
        self.endpoint = endpoint or fixtures.endpoint()
        self.cleanups = ExitStack()
        self.sqs = self.endpoint.client("sqs")
        self.cleanups.callback(self.sqs.close)
        directory = self.cleanups.enter_context(tempfile.TemporaryDirectory(prefix="reliability-"))
        self.records = Records(Path(directory) / "records.jsonl")

    def close(self) -> None:
        self.cleanups.close()

    def new_stack(self, prefix: str, **kwargs: Any) -> Stack:
        # A high maxReceiveCount keeps the queue's own redrive out of the way unless a test wants it
        kwargs.setdefault("max_receive_count", 50)
        return self.endpoint.provision(fixtures.unique_name(prefix), **kwargs)

    def graph(self, stack: Stack | None = None, **overrides: Any) -> Any:
        """A graph whose clients talk to this lab's endpoint (and whose sockets are closed with the lab)."""
        config = fixtures.graph_config(stack, **overrides)
        for section in ("sns_producer", "sqs_consumer"):
            config[section]["endpoint_url"] = self.endpoint.url
        graph = create_object_graph("reliability-test", testing=True, loader=load_from_dict(config))
        self.cleanups.callback(fixtures.close_clients, graph)
        return graph

    def publish(self, stack: Stack, names: list[str], **fields: Any) -> None:
        producer = self.graph(stack).sns_producer
        producer.publish_batch([producer.prepare(WorkSchema.MEDIA_TYPE, name=name, **fields) for name in names])

    def start_daemon(
        self, stack: Stack, concurrency: int = 1, sqs_endpoint_url: str | None = None,
        args: tuple[str, ...] = (), fail_rate: float = 0.0, environ: dict[str, str] | None = None,
        **sections: dict[str, Any],
    ) -> DaemonProcess:
        consumer = {
            "endpoint_url": sqs_endpoint_url or self.endpoint.url, "region_name": "us-east-1",
            "sqs_queue_url": stack.queue_url, "concurrency": concurrency, **sections.pop("sqs_consumer", {}),
        }
        producer = {"endpoint_url": self.endpoint.url, "region_name": "us-east-1", **sections.pop("sns_producer", {})}
        config = daemon_config(sqs_consumer=consumer, sns_producer=producer, **sections)
        daemon = DaemonProcess(self.records.path, {**config, **(environ or {})}, args, fail_rate)
        self.cleanups.callback(daemon.close)
        return daemon

    def wait_handled(self, daemon: DaemonProcess, names: list[str], timeout: float) -> bool:
        """Whether every one of `names` was handled within `timeout` seconds."""
        handled = fixtures.wait_for(lambda: daemon.exited or self.records.handled() >= set(names), timeout)
        return handled and not daemon.exited

    def depth(self, queue_url: str | None) -> int:
        assert queue_url is not None
        return queue_depth(self.sqs, queue_url)
