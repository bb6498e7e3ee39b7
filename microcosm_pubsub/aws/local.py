"""A local SNS/SQS endpoint: moto's server on 127.0.0.1, in a thread or a child process."""
from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request
from contextlib import closing
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal, overload

from botocore.config import Config

from microcosm_pubsub.aws.clients import new_session
from microcosm_pubsub.aws.local_speedups import MOTO_REQUIREMENT, TESTED_MOTO_RANGE, moto_tested, speed_up_moto
from microcosm_pubsub.aws.provisioning import DEFAULT_MAX_RECEIVE_COUNT, DEFAULT_VISIBILITY_TIMEOUT, Stack, provision
from microcosm_pubsub.wire.errors import LocalEndpointError


if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from werkzeug.serving import BaseWSGIServer

DUMMY_CREDENTIALS: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
}

logger = logging.getLogger("microcosm_pubsub.local")

HOST = "127.0.0.1"
# A child imports moto and boto3 before it serves; that takes seconds on a loaded CI machine
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
_LISTENING = re.compile(r"^LISTENING (http://\S+)$")


class LocalEndpoint:
    """moto's server on 127.0.0.1 and a free port: in a thread (sharing this process's moto state) or a child."""

    region_name: str = "us-east-1"

    def __init__(self, port: int = 0, mode: str = "thread") -> None:
        if mode not in ("thread", "process"):
            raise ValueError(f"mode must be 'thread' or 'process', not {mode!r}")
        self.port = port
        self.mode = mode
        self.url = ""
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        # The child serving in "process" mode, while started
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    def start(self) -> LocalEndpoint:
        """Serve, returning once requests are answered; `url` is set from here on."""
        if self._server is None and self.process is None:
            if self.mode == "process":
                self._start_process()
                return self
            self._server = _make_server(self.port)
            self.url = f"http://{HOST}:{self._server.server_port}"
            self._thread = threading.Thread(target=self._server.serve_forever, name=f"moto {self.url}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; safe to call more than once or before `start`."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        stderr, self._stderr = self._stderr, None
        if stderr is not None:
            stderr.close()

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @overload
    def client(self, service: Literal["sns"]) -> SNSClient: ...
    @overload
    def client(self, service: Literal["sqs"]) -> SQSClient: ...
    @overload
    def client(self, service: str) -> Any: ...
    def client(self, service: str) -> Any:
        """A boto3 client for this endpoint, with dummy credentials that never come from the environment."""
        if service not in ("sns", "sqs"):
            raise ValueError(f"the local endpoint serves 'sns' and 'sqs', not {service!r}")
        session: Any = new_session(
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"], region_name=self.region_name,
        )
        # An empty proxy map keeps HTTP(S)_PROXY from the environment off this loopback traffic
        return session.client(service, endpoint_url=self.url, config=Config(proxies={}))

    def environ(self) -> dict[str, str]:
        """The environment a service process needs to talk to this endpoint."""
        return {"AWS_ENDPOINT_URL": self.url, **DUMMY_CREDENTIALS}

    def provision(
        self, name: str, *, raw: bool = False, dead_letter: bool = True,
        max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT, visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
        filter_media_types: list[str] | None = None,
    ) -> Stack:
        """Topic, queue and dead-letter queue `name` on this endpoint; see `provisioning.provision`."""
        with closing(self.client("sns")) as sns, closing(self.client("sqs")) as sqs:
            return provision(sns, sqs, name, raw=raw, dead_letter=dead_letter, max_receive_count=max_receive_count,
                             visibility_timeout=visibility_timeout, filter_media_types=filter_media_types)

    def reset(self) -> None:
        """Forget every topic, queue and message (moto keeps all it has seen, which slows it down)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310 - our own loopback URL
        with urllib.request.urlopen(request, timeout=STOP_TIMEOUT_SECONDS):  # noqa: S310
            pass

    def _start_process(self) -> None:
        # The child must import this package however the parent found it (PYTHONPATH, sys.path, install)
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        # stderr goes to a file, not a pipe nobody drains, so a chatty child can never block on it
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "microcosm_pubsub.aws.local", "--port", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, env=env,
        )
        try:
            self.url = self._read_listening_url(self.process)
        except LocalEndpointError:
            self.stop()
            raise

    def _read_listening_url(self, process: subprocess.Popen[bytes]) -> str:
        stdout = process.stdout
        assert stdout is not None
        # Read in a thread, so that a child that never prints cannot hold start() past its timeout
        first: list[bytes] = []
        reader = threading.Thread(target=lambda: first.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_SECONDS)
        if not first:
            raise LocalEndpointError(self._child_failure(f"did not start within {START_TIMEOUT_SECONDS:g}s"))
        if not first[0].endswith(b"\n"):
            process.wait(STOP_TIMEOUT_SECONDS)
            raise LocalEndpointError(self._child_failure(f"exited with status {process.returncode}"))
        line = first[0].decode(errors="replace").strip()
        match = _LISTENING.match(line)
        if match is None:
            raise LocalEndpointError(self._child_failure(f"printed {line!r} instead of 'LISTENING <url>'"))
        return match.group(1)

    def _child_failure(self, what: str) -> str:
        if self._stderr is not None:
            self._stderr.seek(0)
        stderr = self._stderr.read() if self._stderr is not None else b""
        return f"local endpoint child process {what}; its stderr:\n{stderr.decode(errors='replace')}"


def _make_server(port: int) -> BaseWSGIServer:
    """moto's server app on 127.0.0.1 (moto's own default is every interface)."""
    try:
        import moto
    except ImportError as error:
        raise LocalEndpointError("the local endpoint needs moto: pip install 'microcosm_pubsub[local]'") from error
    version = str(getattr(moto, "__version__", "?"))
    if not moto_tested(version):
        logger.warning(
            "moto %s is outside the range the local endpoint is tested with (%s), whose internals it uses; "
            "if it misbehaves, pip install '%s'", version, TESTED_MOTO_RANGE, MOTO_REQUIREMENT,
        )
    try:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server
    except ImportError as error:
        raise LocalEndpointError(f"the local endpoint cannot use moto {version} (tested with {TESTED_MOTO_RANGE}): "
                                 f"pip install '{MOTO_REQUIREMENT}'") from error

    class QuietRequestHandler(MotoRequestHandler):
        # Errors still log; a line per request would drown test output
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

    # moto is slow with deep queues and busy dispatch, and races in DynamoDB transactions: see local_speedups
    speed_up_moto()
    app = DomainDispatcherApplication(create_backend_app)
    return make_server(HOST, port, app, threaded=True, request_handler=QuietRequestHandler)


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, printing 'LISTENING <url>' once requests are answered."""
    parser = argparse.ArgumentParser(prog="python -m microcosm_pubsub.aws.local", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    args = parser.parse_args(argv)
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with LocalEndpoint(args.port) as endpoint:
        print(f"LISTENING {endpoint.url}", flush=True)
        stopping.wait()


if __name__ == "__main__":
    main()
