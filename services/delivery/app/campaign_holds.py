"""Which campaigns a delivery worker must not send now: those their tenant paused or cancelled.

Messages of a campaign may already sit in server queues when it is paused or cancelled. The
worker checks each message against what it knows (one dictionary lookup, beside the per-server
gate), when it arrives and again when its turn to be sent comes: a paused campaign's message
goes back to routing, where the router holds it until the resume; a cancelled campaign's is
dropped, reported `cancelled`. Only a message already being handed to its server goes out.

The worker learns the decisions from campaign events on a queue of its own, and, as it starts,
asks a router which campaigns are paused or cancelled now (`router.campaign-holds`): the router
records every such decision (it holds the paused messages these are handed back to), so the
worker and the router agree on what is held. The events the worker hears while the answer is
on its way are newer than it and win over it; a cancellation is final whatever comes after.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

import structlog

from shared.contracts import CampaignEvent, CampaignEventKind, CampaignHolds, utcnow

log = structlog.get_logger("delivery.campaign_holds")

CANCELLED_REMEMBERED = timedelta(days=7)
"""How long a cancellation is remembered (as the router answers: cancelled within a week)."""


class CampaignHold(StrEnum):
    PAUSED = "paused"
    """Hand the message back to routing unsent: the router holds it until the campaign is resumed."""
    CANCELLED = "cancelled"
    """Drop the message unsent, reported `cancelled`."""


_HOLD_OF_KIND = {
    CampaignEventKind.PAUSED: CampaignHold.PAUSED,
    CampaignEventKind.RESUMED: None,
    CampaignEventKind.CANCELLED: CampaignHold.CANCELLED,
}

FetchHolds = Callable[[], Awaitable[CampaignHolds]]


class HeldCampaigns:
    """The campaigns held now, as this worker heard of them (`hold_of` is what a send asks)."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._holds: dict[UUID, CampaignHold] = {}
        self._decided_at: dict[UUID, tuple[datetime, CampaignHold | None]] = {}
        """Each campaign's latest decision heard as an event: an older copy changes nothing."""
        self._clock = clock
        self.loaded = False

    def hold_of(self, campaign_id: UUID) -> CampaignHold | None:
        return self._holds.get(campaign_id)

    def apply(self, event: CampaignEvent) -> None:
        """A pause, resume or cancellation heard as an event; any other kind changes nothing."""
        if event.kind not in _HOLD_OF_KIND:
            return
        campaign_id = event.campaign_id
        if self._holds.get(campaign_id) is CampaignHold.CANCELLED:
            return  # final
        hold = _HOLD_OF_KIND[event.kind]
        known = self._decided_at.get(campaign_id)
        if known is not None and known[0] > event.occurred_at and hold is not CampaignHold.CANCELLED:
            return  # a late copy of an older decision
        self._decided_at[campaign_id] = (event.occurred_at, hold)
        self._set(campaign_id, hold)
        self._forget_old()
        log.info("campaign decision heard", campaign_id=str(campaign_id), kind=event.kind.value)

    def load(self, holds: CampaignHolds) -> None:
        """What a router said is held now; the events heard meanwhile are newer, and win."""
        for campaign_id in holds.paused:
            if campaign_id not in self._decided_at:
                self._set(campaign_id, CampaignHold.PAUSED)
        for campaign_id in holds.cancelled:
            self._set(campaign_id, CampaignHold.CANCELLED)
        self.loaded = True

    def _set(self, campaign_id: UUID, hold: CampaignHold | None) -> None:
        if hold is None:
            self._holds.pop(campaign_id, None)
        else:
            self._holds[campaign_id] = hold

    def _forget_old(self) -> None:
        """Bound the memory of decisions: resumes and cancellations older than a week go (a paused
        campaign stays held however long ago it was paused)."""
        if len(self._decided_at) < 10_000:
            return
        horizon = self._clock() - CANCELLED_REMEMBERED
        for campaign_id, (at, hold) in list(self._decided_at.items()):
            if at < horizon and hold is not CampaignHold.PAUSED:
                del self._decided_at[campaign_id]
                if hold is CampaignHold.CANCELLED:
                    self._holds.pop(campaign_id, None)


class NoRouterRunning(TimeoutError):
    """No router replica consumes the question of which campaigns are held: no answer can come, so
    none is waited for (a worker started while its routers are down sends, and asks again later)."""


async def load_held_campaigns(
    held: HeldCampaigns, fetch: FetchHolds, *, attempts: int, retry_seconds: float = 1.0
) -> bool:
    """Ask a router which campaigns are held, up to `attempts` times; True once loaded.

    No answer is logged, not fatal: a worker must not keep every campaign from being sent because
    routers are restarting; the caller keeps asking in the background."""
    for attempt in range(attempts):
        try:
            held.load(await fetch())
            return True
        except (TimeoutError, ValueError) as exc:  # no answer, or one that does not validate
            log.warning(
                "no router told which campaigns are paused or cancelled yet",
                attempt=attempt + 1,
                reason=str(exc) or type(exc).__name__,
            )
            if isinstance(exc, NoRouterRunning):
                return False  # asking again now would get no answer either
        if attempt + 1 < attempts:
            await asyncio.sleep(retry_seconds)
    return False
