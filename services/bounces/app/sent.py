"""Remember every sent message, so that feedback can be matched to it (its tenant, campaign, server,
recipient and vendor message id), and forget it once no feedback is expected any more."""

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain

from services.bounces.app.ports import SentMessageStore
from shared.contracts import MessageStatus, StatusEvent


class RememberSent:
    """The flush of the status consumer's `Batcher`: the `sent` events of the status messages in hand
    are remembered in one write, then `then` (the outcome counters) handles every event. Both writes
    are idempotent or redone together: a message is acked only once both are written."""

    def __init__(
        self, store: SentMessageStore, then: Callable[[list[Sequence[StatusEvent]]], Awaitable[list[None]]]
    ) -> None:
        self._store = store
        self._then = then

    async def __call__(self, groups: list[Sequence[StatusEvent]]) -> list[None]:
        sent = [event for event in chain.from_iterable(groups) if event.status is MessageStatus.SENT]
        await self._store.remember(sent)
        return await self._then(groups)


class PruneSent:
    """Forget messages sent more than `retention` ago (a periodic background round)."""

    def __init__(self, store: SentMessageStore, retention: timedelta) -> None:
        self._store = store
        self._retention = retention

    async def __call__(self) -> int:
        return await self._store.prune(datetime.now(UTC) - self._retention)
