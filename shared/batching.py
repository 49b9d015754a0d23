"""Group many small writes into one, while each caller still waits until its own item is durable.

Consumers ack a message only after its effect is written. With a prefetch of a few hundred,
handlers run concurrently; each hands its item to a `Batcher` and awaits it, and one flush
writes them all in a single round trip.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_items: int = 500,
        max_wait: float = 0.02,
    ) -> None:
        """`flush` writes a batch and returns one result per item, in order."""
        self._flush = flush
        self._max_items = max_items
        self._max_wait = max_wait
        self._items: list[tuple[T, asyncio.Future[R]]] = []
        self._timer: asyncio.TimerHandle | None = None
        # The event loop keeps only a weak reference to a task: a flush nobody holds could be
        # garbage-collected half-way, leaving its callers waiting for ever.
        self._flushing: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._items.append((item, future))
        if len(self._items) >= self._max_items:
            self._start_flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._max_wait, self._start_flush)
        return await future

    def _start_flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._items = self._items, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._run(batch), name="batcher-flush")
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        await _flush_and_settle(self._flush, batch)


class GroupCommit(Generic[T, R]):
    """Group commit without a timer: the first item is flushed at once (on the event loop's next
    turn, so the items handed in on this one join it), and the items that arrive while a flush is
    under way share the next one. Each caller gets its own item's result once it is flushed, or
    the flush's error.

    Under light load nothing waits for company; under heavy load batches grow by themselves, by
    as much as arrives during one flush, up to `max_items`. Where batches matter more than a few
    milliseconds (status events that each cost their consumers a message), `linger` seconds after
    the first item of an idle spell the flush starts, with what has arrived by then.
    """

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_items: int = 1000,
        linger: float = 0.0,
    ) -> None:
        """`flush` handles a batch and returns one result per item, in order."""
        self._flush = flush
        self._max_items = max_items
        self._linger = linger
        self._items: list[tuple[T, asyncio.Future[R]]] = []
        self._running: asyncio.Task[None] | None = None
        self._scheduled = False

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._items.append((item, future))
        if self._running is None and not self._scheduled:
            self._scheduled = True
            if self._linger > 0:
                asyncio.get_running_loop().call_later(self._linger, self._start)
            else:
                asyncio.get_running_loop().call_soon(self._start)
        return await future

    def _start(self) -> None:
        self._scheduled = False
        if self._running is None and self._items:
            self._running = asyncio.get_running_loop().create_task(self._run(), name="group-commit")

    async def _run(self) -> None:
        try:
            while self._items:
                batch, self._items = self._items[: self._max_items], self._items[self._max_items :]
                await _flush_and_settle(self._flush, batch)
        finally:
            self._running = None
            if self._items:  # cancelled with items waiting: they stop waiting too
                for _, future in self._items:
                    future.cancel()
                self._items = []


async def _flush_and_settle(
    flush: Callable[[list[T]], Awaitable[Sequence[R]]], batch: list[tuple[T, asyncio.Future[R]]]
) -> None:
    """Flush `batch` and settle every caller's future with the outcome (its handler acks or nacks by
    it). Only cancellation ends with an exception, so no error is left unseen in a flushing task."""
    try:
        results = await flush([item for item, _ in batch])
        if len(results) != len(batch):
            raise RuntimeError(f"a flush of {len(batch)} items returned {len(results)} results")
    except asyncio.CancelledError:  # the process is stopping: the callers stop waiting too
        for _, future in batch:
            future.cancel()
        raise
    except Exception as exc:  # every caller sees the failure and nacks its own message
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)
        return
    for (_, future), result in zip(batch, results, strict=True):
        if not future.done():
            future.set_result(result)
