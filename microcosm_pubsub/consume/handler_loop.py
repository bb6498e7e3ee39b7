"""Async handlers: one asyncio event loop per process, in a thread of its own, runs their coroutines."""
from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import os
import threading
from collections.abc import Awaitable, Coroutine
from inspect import isawaitable, iscoroutinefunction, isfunction, ismethod
from typing import Any

from microcosm_pubsub.wire.errors import HandlerCancelledError


# What handlers return most: never awaitable, so the common case costs one set look-up
_PLAIN = frozenset({bool, type(None), int, str, dict, list, tuple, float})


def is_awaitable(value: object) -> bool:
    """Whether a handler's return value must be awaited rather than judged truthy or falsy."""
    return type(value) not in _PLAIN and isawaitable(value)


def is_coroutine_handler(handler: object) -> bool:
    """Whether calling `handler` gives a coroutine: an `async def` function, or an object with `async def __call__`."""
    if iscoroutinefunction(handler):
        return True
    if isfunction(handler) or ismethod(handler) or not callable(handler):
        return False
    # An instance whose class defines (or inherits) `async def __call__`: the first definition in its MRO counts
    call = next((vars(cls)["__call__"] for cls in type(handler).__mro__ if "__call__" in vars(cls)), None)
    return iscoroutinefunction(call)


class HandlerLoop:
    """The process's event loop for async handlers, running forever in a daemon thread."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run_forever, name="microcosm-pubsub-asyncio", daemon=True)
        self.thread.start()

    def _run_forever(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, awaitable: Awaitable[Any], context: contextvars.Context) -> Any:
        """Run `awaitable` on the loop in `context`; its result, or its exception raised here."""
        if threading.get_ident() == self.thread.ident:
            # From a coroutine on this loop, waiting would stop the loop that has to run it: a short-lived one does
            return _run_aside(awaitable, context)
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def start() -> None:
            try:
                task = self.loop.create_task(_coroutine(awaitable), context=context)
            except BaseException as error:  # handed to the waiting thread
                done.set_exception(error)
                return
            task.add_done_callback(lambda finished: _copy_outcome(finished, done))

        self.loop.call_soon_threadsafe(start)
        return done.result()

    def close(self, timeout: float = 1.0) -> None:
        if self.pid != os.getpid() or self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
        if not self.thread.is_alive():
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _coroutine(awaitable: Awaitable[Any]) -> Coroutine[Any, Any, Any]:
    return awaitable if asyncio.iscoroutine(awaitable) else _await(awaitable)


def _copy_outcome(task: asyncio.Task[Any], done: concurrent.futures.Future[Any]) -> None:
    if task.cancelled():
        done.set_exception(HandlerCancelledError("the async handler's task was cancelled before it finished"))
    elif (error := task.exception()) is not None:
        done.set_exception(error)
    else:
        done.set_result(task.result())


def _run_aside(awaitable: Awaitable[Any], context: contextvars.Context) -> Any:
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="microcosm-pubsub-asyncio-nested") as aside:
        return aside.submit(context.run, asyncio.run, _coroutine(awaitable)).result()


_lock = threading.Lock()
_current: HandlerLoop | None = None


def handler_loop() -> HandlerLoop:
    """The process's handler loop, started on first use (and anew in a forked child)."""
    global _current
    current = _current
    if current is not None and current.pid == os.getpid():
        return current
    with _lock:
        if _current is None or _current.pid != os.getpid():
            _current = HandlerLoop()
        return _current


def run_awaitable(awaitable: Awaitable[Any]) -> Any:
    """Run what an async handler returned, in the caller's context; its result or exception."""
    return handler_loop().run(awaitable, contextvars.copy_context())


@atexit.register
def _close_at_exit() -> None:
    if _current is not None:
        _current.close()
