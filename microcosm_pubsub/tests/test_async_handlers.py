"""Async handlers: their bodies run, their returns and exceptions mean what a sync handler's do, on every path."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import unittest
from pathlib import Path
from typing import Any

from hamcrest import assert_that, contains_inanyorder, equal_to, is_, starts_with
from marshmallow import fields
from microcosm.api import binding, load_from_dict

from microcosm_pubsub.consume.handler_loop import handler_loop, is_awaitable, is_coroutine_handler, run_awaitable
from microcosm_pubsub.consume.result import MessageHandlingResult, Outcome
from microcosm_pubsub.conventions import created
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import handles, schema
from microcosm_pubsub.testing import dispatch, lambda_record, sqs_message, testing_daemon
from microcosm_pubsub.tests.test_lambda import Context
from microcosm_pubsub.tests.test_lambda_sns import sns_record
from microcosm_pubsub.wire.errors import Nack, SkipMessage


# The repository's root (or the installed package's parent), where `python -m` finds the package
ROOT = Path(__file__).resolve().parents[2]
TASK = created("async_task")
FOLLOW_UP = created("async_follow_up")
WAIT_SECONDS = 20.0


@schema
class TaskSchema(PubSubMessageSchema):
    MEDIA_TYPE = TASK

    name = fields.String(required=True)


@schema
class FollowUpSchema(PubSubMessageSchema):
    MEDIA_TYPE = FOLLOW_UP

    name = fields.String(required=True)


@binding("async_task_handler")
@handles(TaskSchema)
class AsyncTaskHandler:
    """An `async def __call__`: awaits, then succeeds, skips, retries or fails as the task's name says."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.names: list[str] = []
        self.loops: set[int] = set()
        self.request_ids: list[str | None] = []

    async def __call__(self, message: dict[str, Any]) -> bool:
        await asyncio.sleep(0)
        self.loops.add(id(asyncio.get_running_loop()))
        self.request_ids.append(self.graph.opaque.as_dict().get("x-request-id"))
        self.names.append(message["name"])
        name = message["name"]
        if name == "fail":
            raise RuntimeError("the task broke after an await")
        if name == "nack":
            raise Nack(7)
        if name == "skip":
            raise SkipMessage("nothing to do")
        if name == "produce":
            self.graph.sns_producer.produce(FOLLOW_UP, name="from-async")
        return name != "falsy"


@binding("async_follow_up_handler")
@handles(FollowUpSchema)
class AsyncFollowUpHandler:
    def __init__(self, graph: Any) -> None:
        self.names: list[str] = []

    async def __call__(self, message: dict[str, Any]) -> bool:
        await asyncio.sleep(0)
        self.names.append(message["name"])
        return True


class AsyncDaemon(ConsumerDaemon):
    name = "async_tasks"

    @property
    def components(self) -> list[str]:
        return [*super().components, "async_task_handler", "async_follow_up_handler"]


class TestAsyncDispatch(unittest.TestCase):
    """The testing helpers' `dispatch` goes through the dispatcher: the daemon's own path for one message."""

    def setUp(self) -> None:
        self.graph = testing_daemon(AsyncDaemon).graph
        self.handler = self.graph.async_task_handler

    def outcome(self, name: str, **kwargs: Any) -> MessageHandlingResult:
        result: MessageHandlingResult = dispatch(self.graph, TASK, {"name": name}, **kwargs)
        return result

    def test_body_runs_and_truthy_succeeds(self) -> None:
        """The coroutine's body runs (not merely created), and its truthy return is SUCCEEDED."""
        result = self.outcome("ok")
        assert_that((result.outcome, self.handler.names), is_(equal_to((Outcome.SUCCEEDED, ["ok"]))))

    def test_falsy_return_is_skipped(self) -> None:
        """A coroutine returning a falsy value is SKIPPED, as a sync handler's falsy return is."""
        assert_that(self.outcome("falsy").outcome, is_(equal_to(Outcome.SKIPPED)))

    def test_signals_after_an_await(self) -> None:
        """Nack (with its delay) and SkipMessage raised after an await choose the outcome as in a sync handler."""
        nacked, skipped = self.outcome("nack"), self.outcome("skip")
        assert_that(
            (nacked.outcome, nacked.retry_seconds, skipped.outcome, skipped.reason),
            is_(equal_to((Outcome.RETRIED, 7, Outcome.SKIPPED, "nothing to do"))),
        )

    def test_exception_is_failed(self) -> None:
        """Any other exception from the coroutine is FAILED, with the error kept for the log."""
        result = self.outcome("fail")
        assert_that(
            (result.outcome, str(result.error)), is_(equal_to((Outcome.FAILED, "the task broke after an await"))),
        )

    def test_handler_sees_the_message_opaque_context(self) -> None:
        """Inside the coroutine, graph.opaque holds the message's opaque data, as in a sync handler."""
        self.outcome("ok", opaque_data={"X-Request-Id": "req-17"})
        assert_that(self.handler.request_ids, is_(equal_to(["req-17"])))

    def test_one_loop_for_every_handler_thread(self) -> None:
        """Calls from several threads run on one long-lived loop, so clients made on it can be reused."""
        threads = [threading.Thread(target=self.outcome, args=(f"t-{index}",)) for index in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_SECONDS)
        self.outcome("main")
        assert_that((len(self.handler.names), len(self.handler.loops)), is_(equal_to((5, 1))))

    def test_eager_mode_runs_nested_async_handlers(self) -> None:
        """In eager mode an async handler's own message is handled at once by another async handler."""
        graph = testing_daemon(AsyncDaemon, eager=True).graph
        result = dispatch(graph, TASK, {"name": "produce"})
        assert_that(
            (result.outcome, graph.async_follow_up_handler.names),
            is_(equal_to((Outcome.SUCCEEDED, ["from-async"]))),
        )


class TestAwaitableResults(unittest.TestCase):
    def test_unawaited_awaitable_is_never_success(self) -> None:
        """A coroutine reaching the outcome rules unrun is FAILED with a reason, not taken as truthy and deleted."""
        async def body() -> bool:
            return True

        coroutine = body()
        result = MessageHandlingResult.from_return(fixtures_message(), coroutine)
        assert_that(result.outcome, is_(equal_to(Outcome.FAILED)))
        assert_that(result.reason, starts_with("the handler returned coroutine that nothing awaited"))

    def test_any_awaitable_is_awaited(self) -> None:
        """Not only coroutines: a future (or any object with `__await__`) is awaited for its result."""
        class Later:
            def __await__(self) -> Any:
                yield from asyncio.sleep(0).__await__()
                return "done"

        assert_that((is_awaitable(Later()), run_awaitable(Later())), is_(equal_to((True, "done"))))

    def test_plain_values_are_not_awaitable(self) -> None:
        """What sync handlers return is never mistaken for an awaitable."""
        plain: tuple[object, ...] = (True, None, 0, "x", {}, [])
        assert_that([is_awaitable(value) for value in plain], is_(equal_to([False] * 6)))

    def test_forked_child_gets_a_loop_of_its_own(self) -> None:
        """After a fork (`--processes`), the child runs async handlers on a new loop; the parent's stays."""
        parent_loop = handler_loop()
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe and exits at once
            try:
                async def child_body() -> str:
                    await asyncio.sleep(0)
                    return "ran"

                ran = run_awaitable(child_body())
                os.write(write_end, json.dumps([ran, handler_loop().pid == os.getpid()]).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as reader:
            report = json.loads(reader.read() or "null")
        os.waitpid(pid, 0)
        assert_that((report, handler_loop() is parent_loop), is_(equal_to((["ran", True], True))))


def fixtures_message() -> Any:
    """A received message of TASK through a testing graph's real consumer wrap."""
    graph = testing_daemon(AsyncDaemon).graph
    body = json.dumps({"mediaType": TASK, "opaqueData": {}, "name": "n-1"})
    return graph.sqs_consumer.wrap(sqs_message(body, {"media_type": {"DataType": "String", "StringValue": TASK}}))


class TestAsyncLambda(unittest.TestCase):
    def setUp(self) -> None:
        self.daemon = AsyncDaemon.create_for_testing(loader=load_from_dict({}))
        self.handle = self.daemon.make_lambda_handler()
        self.handler = self.daemon.graph.async_task_handler

    def body(self, name: str) -> str:
        return json.dumps({"mediaType": TASK, "opaqueData": {}, "name": name})

    def test_sqs_event(self) -> None:
        """From an SQS event source, an async handler runs; its failure is reported for a retry."""
        attributes = {"media_type": {"DataType": "String", "StringValue": TASK}}
        event = {"Records": [
            lambda_record(sqs_message(self.body(name), attributes, message_id=f"m-{name}")) for name in ("ok", "fail")
        ]}
        response = self.handle(event, Context(60_000))
        assert_that(
            (response, self.handler.names),
            is_(equal_to(({"batchItemFailures": [{"itemIdentifier": "m-fail"}]}, ["ok", "fail"]))),
        )

    def test_sns_event(self) -> None:
        """Subscribed to a topic, an async handler runs for each SNS record."""
        attributes = {"media_type": {"Type": "String", "Value": TASK}}
        event = {"Records": [sns_record(name, attributes=attributes, message=self.body(name)) for name in ("a", "b")]}
        self.handle(event, Context(60_000))
        assert_that(self.handler.names, contains_inanyorder("a", "b"))


class TestAsyncDaemons(unittest.TestCase):
    def test_daemons_with_async_handlers(self) -> None:
        """Real daemons on the local endpoint, in a process of their own (`async_lane_checks`): see there.

        Whether the runner uses tasks depends on every handler active in the process being async, and
        this suite's process declares foreign-event functions (active in every daemon) that are sync.
        """
        done = subprocess.run(
            [sys.executable, "-m", "unittest", "-q", "microcosm_pubsub.tests.async_lane_checks"],
            capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
        )
        assert_that((done.returncode, done.stderr.strip().splitlines()[-1:]), is_(equal_to((0, ["OK"]))), done.stderr)


class TestCoroutineHandlers(unittest.TestCase):
    def test_what_counts_as_an_async_handler(self) -> None:
        """async functions and instances of classes with `async def __call__` (inherited too); not sync ones."""
        async def function(message: Any) -> bool:
            return True

        class Base:
            async def __call__(self, message: Any) -> bool:
                return True

        class Derived(Base):
            pass

        class Sync:
            def __call__(self, message: Any) -> bool:
                return True

        candidates = [function, Base(), Derived(), Sync(), lambda message: True, AsyncTaskHandler]
        assert_that(
            [is_coroutine_handler(candidate) for candidate in candidates],
            is_(equal_to([True, True, True, False, False, False])),
        )
