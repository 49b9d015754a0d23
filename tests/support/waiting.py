"""Waiting in tests: the one polling helper, shared with the harness (`tools.stack.waiting`).

    eventually(lambda: len(sink.messages) >= 5, timeout_seconds=30, what="five messages at the sink")
    message = await eventually_async(lambda: queue.get(fail=False), interval_seconds=0.1, what="a message")

`eventually(condition, *, timeout_seconds=120, interval_seconds=0.5, what="the condition")` calls
`condition` until it returns something truthy and returns that; at the deadline it raises
`TimedOut`, a `TimeoutError` whose message names `what` and the last value. `eventually_async`
is the same on an event loop (it sleeps with `asyncio.sleep`); its condition may be a plain or
a coroutine function. A blocking condition (an HTTP call with httpx.Client, say) belongs in
`eventually` run through `asyncio.to_thread`, so the loop stays free.
"""

from tools.stack.errors import TimedOut
from tools.stack.waiting import eventually, eventually_async

__all__ = ["TimedOut", "eventually", "eventually_async"]
