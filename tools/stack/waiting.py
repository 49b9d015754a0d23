"""Polling: ask until the answer is yes, or time runs out. The one such helper of the harness and
of the tests (`tests/support/waiting.py` hands it on).

    server = eventually(lambda: find_server(name), timeout_seconds=30, what=f"server {name}")
    await eventually_async(lambda: queue_is_empty(url), interval_seconds=0.1, what="an empty queue")

`condition` is called at once and then every `interval_seconds`; the first truthy value it returns
is returned. Once `timeout_seconds` have passed (counted from the first call) and the condition is
still falsy, `TimedOut` (a `TimeoutError`) says what was awaited and the last value seen. An
exception the condition raises is not caught: it ends the wait.
"""

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from tools.stack.errors import TimedOut

T = TypeVar("T")


def eventually(
    condition: Callable[[], T | None],
    *,
    timeout_seconds: float = 120.0,
    interval_seconds: float = 0.5,
    what: str = "the condition",
) -> T:
    """The first truthy value of `condition()`, polled every `interval_seconds`; `TimedOut` after `timeout_seconds`."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _timed_out(timeout_seconds, what, value)
        time.sleep(interval_seconds)


async def eventually_async(
    condition: Callable[[], T | None | Awaitable[T | None]],
    *,
    timeout_seconds: float = 120.0,
    interval_seconds: float = 0.5,
    what: str = "the condition",
) -> T:
    """`eventually` for a test or tool on an event loop: it sleeps without blocking the loop, and
    `condition` may be a coroutine function as well as a plain one."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        answer = condition()
        value = await answer if inspect.isawaitable(answer) else answer
        if value:
            return cast(T, value)
        if time.monotonic() >= deadline:
            raise _timed_out(timeout_seconds, what, value)
        await asyncio.sleep(interval_seconds)


def _timed_out(timeout_seconds: float, what: str, last: object) -> TimedOut:
    return TimedOut(f"timed out after {timeout_seconds:g}s waiting for {what}; last value: {last!r}")
