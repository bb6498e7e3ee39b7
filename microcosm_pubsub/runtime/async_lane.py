"""The runner's handlers when all of them are `async def`: tasks on the process's handler loop, no handler threads."""
from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from functools import partial
from typing import Protocol

from microcosm_pubsub.consume.handler_loop import handler_loop
from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import MessageHandlingResult, Outcome
from microcosm_pubsub.runtime.inflight import InFlight


logger = logging.getLogger("microcosm_pubsub.runner")


class HandlesAsync(Protocol):
    """The dispatcher's coroutine path (`SQSMessageDispatcher.handle_message_async`)."""

    async def handle_message_async(self, message: SQSMessage) -> MessageHandlingResult: ...


class AsyncLane:
    """Runs `dispatcher.handle_message_async` for the in-flight queue's messages, `concurrency` at a time.

    A handler thread waiting on a coroutine costs two thread switches a message; here the pollers wake
    the loop once per receive, and a task that ends starts the next pending message in the same turn.
    """

    def __init__(
        self, dispatcher: HandlesAsync, in_flight: InFlight, concurrency: int, hand_back: Callable[[SQSMessage], bool],
    ) -> None:
        self.dispatcher = dispatcher
        self.in_flight = in_flight
        self.concurrency = concurrency
        self.hand_back = hand_back
        self.loop = handler_loop().loop
        # Each task runs in a copy of the context the lane was made in, whatever thread woke the loop
        self.context = contextvars.copy_context()
        self.running = 0
        self.scheduled = False
        in_flight.on_pending = self.wake

    def wake(self) -> None:
        """Messages are pending (any thread): the loop takes them in its next turn."""
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon_threadsafe(self.fill)

    def fill(self) -> None:
        """Start tasks for pending messages while fewer than `concurrency` run (on the loop)."""
        self.scheduled = False
        while self.running < self.concurrency:
            message = self.in_flight.next_message(wait=False)
            if message is None:
                return
            if self.hand_back(message):
                self.in_flight.finish(message)
                continue
            self.running += 1
            task = self.loop.create_task(self.dispatcher.handle_message_async(message), context=self.context.copy())
            task.add_done_callback(partial(self.done, message))

    def done(self, message: SQSMessage, task: asyncio.Task[MessageHandlingResult]) -> None:
        self.running -= 1
        if task.cancelled():
            result = MessageHandlingResult(message, Outcome.FAILED, reason="the handler's task was cancelled")
        elif (error := task.exception()) is not None:
            # handle_message_async never raises but for a bug of ours: the message is tried again, not lost
            logger.error("handling %s failed outside its handler", message.message_id, exc_info=error)
            result = MessageHandlingResult.from_error(message, error)
        else:
            result = task.result()
        self.in_flight.finish(result)
        self.fill()
