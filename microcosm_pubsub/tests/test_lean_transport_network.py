"""The lean transport against botocore when the network fails: a refused connection, an answer that never comes."""
from __future__ import annotations

import socket
import traceback
from pathlib import Path
from typing import Any
from unittest import mock

from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from hamcrest import assert_that, equal_to, has_length, instance_of

import microcosm_pubsub.aws.lean
from microcosm_pubsub.tests.test_lean_transport import QUEUE_URL, Canned, Differential, Outcome


LEAN_FOLDER = str(Path(microcosm_pubsub.aws.lean.__file__).parent)
RECEIVE = {"QueueUrl": QUEUE_URL, "MaxNumberOfMessages": 10}


class RefusedConnectionTests(Differential):
    """A port bound but not listening refuses at once: both clients retry, then raise the same error."""

    def test_refused(self) -> None:
        holder = socket.socket()
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        plain, fast = self.clients(f"http://127.0.0.1:{port}")
        # Who tried to connect to the port, attempt by attempt: the lean transport's code, or botocore's
        attempts: list[bool] = []
        connect = socket.socket.connect

        def counted(sock: socket.socket, address: Any) -> None:
            if isinstance(address, tuple) and address[1] == port:
                attempts.append(any(frame.filename.startswith(LEAN_FOLDER) for frame in traceback.extract_stack()))
            connect(sock, address)

        outcomes: list[Outcome] = []
        tries: list[list[bool]] = []
        with mock.patch.object(socket.socket, "connect", counted):
            for client in (plain, fast):
                outcomes.append(self.call(client, "receive_message", RECEIVE))
                tries.append(attempts[:])
                attempts.clear()
        assert_that(outcomes[0].error, instance_of(EndpointConnectionError))
        self.assert_same_outcome(*outcomes)
        # botocore's standard mode tries as often on both; each of the lean client's tries is its own
        assert_that(tries[0], has_length(plain.meta.config.retries["total_max_attempts"]))
        assert_that(tries[1], equal_to([True] * len(tries[0])))
        assert_that(tries[0], equal_to([False] * len(tries[0])))
        assert_that(fast.fallbacks["ReceiveMessage"], equal_to(0))
        # Nothing reached a server
        assert_that(fast.lean_sent["ReceiveMessage"], equal_to(0))


class ReadTimeoutTests(Differential):
    """A server that reads the request and never answers: both time out each attempt, then raise ReadTimeoutError."""

    read_timeout = 0.5

    def test_read_timeout(self) -> None:
        plain, requests = self.same("ReceiveMessage", RECEIVE, Canned(200, hang=True))
        assert_that(plain.error, instance_of(ReadTimeoutError))
        assert_that(requests, has_length(self.plain.meta.config.retries["total_max_attempts"]))
