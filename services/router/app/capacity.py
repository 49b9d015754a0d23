"""Local leases on shared capacity: claim sends in batches, spend them without a round trip.

A replica claims a few sends at a time from the shared counters and spends them locally, within
the slot they were counted in (so a send is never counted earlier than it happens); when that
slot ends, the unspent part is given back, so idle leases do not starve the other replicas.
"""

import asyncio
from dataclasses import dataclass
from datetime import datetime

from services.router.app.ports import CapacityStore
from services.router.domain.limits import Bucket, Window, claim_size


@dataclass
class Lease:
    windows: tuple[Window, ...]
    tokens: int

    def covers(self, bucket: Bucket) -> bool:
        return self.windows == bucket.windows


@dataclass(frozen=True)
class Verdict:
    """A send taken (`until` is None), or refused because of `reason` until `until`, when the cap
    has room again."""

    until: datetime | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.until is None


TAKEN = Verdict()


class CapacityLedger:
    def __init__(self, store: CapacityStore) -> None:
        self._store = store
        self._leases: dict[str, Lease] = {}
        self._capped_until: dict[str, tuple[tuple[tuple[str, int], ...], datetime]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def take(self, bucket: Bucket, now: datetime) -> Verdict:
        """Spend one send from the bucket, claiming a batch from the shared counters if needed."""
        if (spent := self._spend_local(bucket, now)) is not None:
            return spent
        async with self._locks.setdefault(bucket.key, asyncio.Lock()):
            if (spent := self._spend_local(bucket, now)) is not None:
                return spent
            await self._end_lease(bucket)
            granted, until = await self._store.claim(bucket, claim_size(bucket))
            if granted == 0:
                until = until or max(w.all_counted_free_at for w in bucket.windows)
                self._capped_until[bucket.key] = (_limits_of(bucket), until)
                return Verdict(until, self._cap_reason(bucket))
            self._leases[bucket.key] = Lease(bucket.windows, granted - 1)
            return TAKEN

    def put_back(self, bucket: Bucket) -> None:
        """Return a send taken for a message that then went elsewhere (kept locally, spent next)."""
        lease = self._leases.get(bucket.key)
        if lease is not None and lease.covers(bucket):
            lease.tokens += 1

    async def uncount(self, buckets: list[Bucket]) -> None:
        """Take back one send counted in these buckets' slots (a message counted there, sent later)."""
        for bucket in buckets:
            await self._store.give_back(bucket, bucket.windows, 1)

    async def release_all(self) -> None:
        """Give every unspent send back, e.g. on shutdown."""
        for key in list(self._leases):
            lease = self._leases.pop(key)
            await self._store.give_back(Bucket(key, lease.windows, ""), lease.windows, lease.tokens)

    def _spend_local(self, bucket: Bucket, now: datetime) -> Verdict | None:
        capped = self._capped_until.get(bucket.key)
        if capped is not None:
            limits, until = capped
            # Slots move on every second, but nothing frees before `until` unless the limits change.
            if limits == _limits_of(bucket) and now < until:
                return Verdict(until, self._cap_reason(bucket))
            del self._capped_until[bucket.key]
        lease = self._leases.get(bucket.key)
        if lease is not None and lease.covers(bucket) and lease.tokens > 0:
            lease.tokens -= 1
            return TAKEN
        return None

    async def _end_lease(self, bucket: Bucket) -> None:
        lease = self._leases.pop(bucket.key, None)
        if lease is None or lease.tokens <= 0:
            return
        # To the slots they were claimed in: those count for a minute, an hour or a day yet.
        await self._store.give_back(bucket, lease.windows, lease.tokens)

    @staticmethod
    def _cap_reason(bucket: Bucket) -> str:
        limits = ", ".join(w.describe() for w in bucket.windows)
        return f"at cap ({bucket.label}: {limits})"


def _limits_of(bucket: Bucket) -> tuple[tuple[str, int], ...]:
    return tuple((w.kind, w.limit) for w in bucket.windows)
