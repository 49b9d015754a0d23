"""Routing use cases: route one message, wait when capped, stop a campaign that cannot send,
resume it, and move messages off servers that can no longer send.

The path of one message is a pipeline of small steps, each able to end it:
hold_if_stopped → eligible_servers → pick_with_capacity → publish (or wait, or stop).

Messages arrive in batches and the recipients of a batch are routed concurrently, each on its
own (its own pick, its own capacity, its own outcome). What they have in common is not worked
out again for each: a campaign's candidate servers are kept while the view they came from has
not changed, capacity is claimed from the shared counters in slices (`CapacityLedger`), and the
outbound adapter publishes what many recipients hand it at once as one batch message.

A stop is recorded with the held message and its announcements in one transaction (the held
store writes `campaign_stopped` and `held` to the outbox), so no failed publish can leave a
campaign stopped here and running in the scheduler. A resume marks the stop as being lifted,
releases the held messages and forgets the stop last, so it can be repeated after a crash; a
sweeper releases what a resume that died (or a release from before this scheme) left behind.

The tenant's decisions arrive as campaign events (`campaign_paused`, `campaign_resumed`,
`campaign_cancelled`), each recorded with when it was made, so a late copy of an older one
changes nothing. A pause stops the campaign without announcing a stop (the scheduler announced
the pause): its messages are held and a resume releases them, as for a stop. A cancellation is
final: held messages and every later one are dropped unrouted and reported `cancelled`.
"""

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

import structlog

from services.router.app.capacity import TAKEN, CapacityLedger, Verdict
from services.router.app.ports import CatalogSource, Decision, HeldMessages, Outbound, RoutingMetrics
from services.router.domain.controls import CANCELLED_REMEMBERED, cancelled_status
from services.router.domain.limits import Bucket, destination_bucket, server_bucket
from services.router.domain.selection import Candidates, eligible_servers, pick_by_weight, stop_reason
from services.router.domain.view import RoutingView
from shared.contracts import (
    AdmissionReply,
    AdmissionRequest,
    CampaignEvent,
    CampaignEventKind,
    CampaignHolds,
    DeliveryRequested,
    Exclusion,
    MessageStatus,
    SendingPolicy,
    SendRequested,
    ServerView,
)
from shared.messaging import MalformedMessage

log = structlog.get_logger("router")


@dataclass(frozen=True)
class Pick:
    """The server the message goes to, after the servers that were at their caps."""

    server: ServerView
    capped: list[Exclusion]
    counted: bool
    """The send through `server` was counted against its limits or a receiver's rule."""


@dataclass(frozen=True)
class AllCapped:
    """Every eligible server is at its cap; the first has room again at `wait_until`."""

    capped: list[Exclusion]
    wait_until: datetime


@dataclass
class Router:
    view: RoutingView
    catalog: CatalogSource
    outbound: Outbound
    held: HeldMessages
    capacity: CapacityLedger
    metrics: RoutingMetrics
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    stopped: set[UUID] = field(default_factory=set)
    """Campaigns held here: stopped (no eligible server) or paused by their tenant."""
    cancelled: set[UUID] = field(default_factory=set)
    """Campaigns their tenant cancelled: every message of theirs is dropped unrouted."""
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _policy_locks: dict[UUID, asyncio.Lock] = field(default_factory=dict)
    _candidates_by_campaign: dict[UUID, tuple[SendingPolicy, Candidates]] = field(
        default_factory=dict, init=False
    )
    """Each campaign's candidates, under the policy they were worked out from, for `_candidates_of`."""
    _candidates_view: RoutingView | None = field(default=None, init=False)
    _candidates_generation: int = field(default=-1, init=False)
    """The view and its generation `_candidates_by_campaign` were worked out on: any change empties them."""
    _refresh_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _refreshed_at: float = 0.0

    async def load_stops(self) -> None:
        """Learn which campaigns are stopped, paused or cancelled (before any message of theirs is routed)."""
        self.stopped = await self.held.stopped_campaigns()
        _paused, self.cancelled = await self.held.campaign_controls(self.clock() - CANCELLED_REMEMBERED)

    async def start(self) -> None:
        """Load the catalog's snapshot; routing waits until this is done."""
        self.view.load(await self.catalog.snapshot())
        self.ready.set()

    # ------------------------------------------------------------------ one message

    async def route(self, message: SendRequested) -> None:
        await self.ready.wait()
        if message.campaign_id in self.cancelled:
            await self._drop_cancelled(message)
            return
        if message.campaign_id in self.stopped:
            if await self._hold(message):
                return
            if await self.held.is_cancelled(message.campaign_id):
                # Cancelled meanwhile (the cancellation lifts the stop): this replica learns it here.
                self.cancelled.add(message.campaign_id)
                await self._drop_cancelled(message)
                return
            # Resumed meanwhile: one replica takes the resume from the shared queue, the others
            # learn of it here. The stop recorded in PostgreSQL decides; route the message.
            self._forget_stop(message.campaign_id)
        candidates = await self._candidates_for(message)
        if not candidates.weights:
            await self._stop(message, candidates)
            return
        now = self.clock()
        pick = await self._pick_with_capacity(message, candidates, now)
        decision = candidates.decision(pick.capped)
        if isinstance(pick, AllCapped):
            # Every eligible server is at its cap: the message waits, it is neither dropped nor failed,
            # and says so, with when it comes back, so that nobody takes it for stuck.
            waits = await self.outbound.wait(message, (pick.wait_until - now).total_seconds())
            await self.outbound.status(
                message.status_event(
                    MessageStatus.WAITING, retry_at=now + timedelta(seconds=waits), decision=decision
                )
            )
            self.metrics.decided(Decision.WAITING)
            return
        server = pick.server
        await self.outbound.to_server(
            server.vendor,
            server.id,
            # Validated, not `model_construct`ed: its parts are models already, which pydantic passes
            # through, and measured that way it is the cheaper of the two.
            DeliveryRequested(
                send=message,
                server_id=server.id,
                vendor=server.vendor,
                decision=decision,
                routed_at=now,
                counted=pick.counted,
            ),
        )
        await self.outbound.status(
            message.status_event(
                MessageStatus.ROUTED, server_id=server.id, vendor=server.vendor, decision=decision
            )
        )
        self.metrics.decided(Decision.ROUTED, server.id)

    async def _candidates_for(self, message: SendRequested) -> Candidates:
        policy = await self.policy_for(message)
        candidates = self._candidates_of(policy)
        if candidates.weights:
            return candidates
        # Events may lag a change the catalog has already committed (a server enabled a moment
        # ago): stopping a campaign is serious, so decide it on the catalog's current state.
        # The recipients of a batch all come here at once: one snapshot serves them, and a policy
        # another one fetched meanwhile is as fresh as this one needs, so it is not fetched again.
        await self.refresh_view()
        self.view.forget_policy(message.campaign_id, policy)
        return self._candidates_of(await self.policy_for(message))

    def _candidates_of(self, policy: SendingPolicy) -> Candidates:
        """`eligible_servers(policy, view)`, worked out once for all the messages of a campaign
        while neither the policy nor the view changes (it walks every server the view knows)."""
        view = self.view
        if self._candidates_view is not view or self._candidates_generation != view.generation:
            self._candidates_by_campaign.clear()
            self._candidates_view, self._candidates_generation = view, view.generation
        known = self._candidates_by_campaign.get(policy.campaign_id)
        if known is not None and known[0] is policy:
            return known[1]
        candidates = eligible_servers(policy, view)
        self._candidates_by_campaign[policy.campaign_id] = (policy, candidates)
        return candidates

    async def _pick_with_capacity(
        self, message: SendRequested, candidates: Candidates, now: datetime
    ) -> Pick | AllCapped:
        """Pick by weight; a server at its cap gives its share to the others. `candidates` has
        at least one server."""
        weights = dict(candidates.weights)
        capped: list[Exclusion] = []
        free_again: list[datetime] = []
        avoid = frozenset(message.avoid_server_ids)
        while weights:
            server = self.view.servers[pick_by_weight(weights, self.rng, avoid)]
            buckets = _buckets(server, message.recipient, now)
            verdict = await self._take_capacity(buckets, now)
            if verdict.until is None:
                return Pick(server, capped, counted=bool(buckets))
            capped.append(Exclusion(server_id=server.id, reason=verdict.reason))
            free_again.append(verdict.until)
            del weights[server.id]
        return AllCapped(capped, min(free_again))

    async def _take_capacity(self, buckets: list[Bucket], now: datetime) -> Verdict:
        """One send from each bucket (see `_buckets`), or none if any of them is at its cap."""
        taken: list[Bucket] = []
        for bucket in buckets:
            verdict = await self.capacity.take(bucket, now)
            if not verdict.ok:
                for earlier in taken:
                    self.capacity.put_back(earlier)
                return verdict
            taken.append(bucket)
        return TAKEN

    # ------------------------------------------------------------------ late sends

    async def admit(self, request: AdmissionRequest) -> AdmissionReply:
        """Count a late message's send now, and uncount it where it was counted when routed.

        Its worker sends it only when admitted, waiting for `retry_at` otherwise, so a backlog
        goes out at the server's rate. The message never moves: routing it again would spend
        capacity a second time, and a backlog behind a slow server would never catch up.
        """
        await self.ready.wait()
        server = self.view.servers.get(request.server_id)
        if server is None:  # deleted meanwhile: nothing to count against; the worker's view decides
            return AdmissionReply(admitted=True)
        now = self.clock()
        verdict = await self._take_capacity(_buckets(server, request.recipient, now), now)
        if not verdict.ok:
            self.metrics.decided(Decision.LATE_AT_CAP)
            return AdmissionReply(admitted=False, retry_at=verdict.until, reason=verdict.reason)
        await self.capacity.uncount(_buckets(server, request.recipient, request.routed_at))
        self.metrics.decided(Decision.ADMITTED_LATE)
        return AdmissionReply(admitted=True)

    # ------------------------------------------------------------------ policies and the catalog

    async def policy_for(self, message: SendRequested) -> SendingPolicy:
        policy = self.view.policies.get(message.campaign_id)
        if policy is None:
            policy = await self._fetch_policy(message)
        elif policy.tenant_id != message.tenant_id:
            # A policy another tenant stored for this campaign id (before the catalog verified owners)
            # must not stop the owner's messages: the catalog answers with the owner's own policy.
            policy = await self.catalog.policy(message.campaign_id, message.tenant_id)
        if policy.tenant_id != message.tenant_id:
            # A message may never borrow another tenant's policy (and through it, its servers).
            raise MalformedMessage(
                f"campaign {message.campaign_id} belongs to another tenant than the message"
            )
        return policy

    async def _fetch_policy(self, message: SendRequested) -> SendingPolicy:
        # Many messages of a new campaign arrive at once: one request to the catalog serves them all.
        lock = self._policy_locks.setdefault(message.campaign_id, asyncio.Lock())
        async with lock:
            policy = self.view.policies.get(message.campaign_id)
            if policy is None:
                policy = await self.catalog.policy(message.campaign_id, message.tenant_id)
                self.view.remember_policy(policy)
        self._policy_locks.pop(message.campaign_id, None)
        return policy

    async def refresh_view(self) -> None:
        """Re-read the catalog now (events may lag a change it has committed), once for all who
        ask while a refresh is under way."""
        await self._refresh(time.monotonic())

    async def _refresh(self, asked_at: float) -> None:
        """Re-read the catalog, once for all the messages that asked since the last refresh."""
        async with self._refresh_lock:
            if self._refreshed_at >= asked_at:
                return
            self.view.load(await self.catalog.snapshot())
            self._refreshed_at = time.monotonic()

    # ------------------------------------------------------------------ stop, hold, resume

    async def _stop(self, message: SendRequested, candidates: Candidates) -> None:
        reason = stop_reason(candidates)
        self.stopped.add(message.campaign_id)
        stopped = CampaignEvent(
            kind=CampaignEventKind.STOPPED,
            tenant_id=message.tenant_id,
            campaign_id=message.campaign_id,
            reason=reason,
            servers=candidates.excluded,
        )
        outcome = await self.held.stop_and_hold(
            message, reason, stopped, message.status_event(MessageStatus.HELD)
        )
        if outcome.cancelled:
            self.stopped.discard(message.campaign_id)
            self.cancelled.add(message.campaign_id)
            await self._drop_cancelled(message)
            return
        if outcome.recorded_stop:
            log.error(
                "campaign stopped: no eligible server",
                campaign_id=str(message.campaign_id),
                reason=reason,
                servers={str(e.server_id): e.reason for e in candidates.excluded},
            )
        if outcome.held:
            self.metrics.decided(Decision.HELD)
        else:
            # Another replica stopped it and it was resumed since: route it again under the policy of now.
            await self.outbound.back_to_routing(message)

    async def _hold(self, message: SendRequested) -> bool:
        if not await self.held.hold(message, message.status_event(MessageStatus.HELD)):
            return False
        self.metrics.decided(Decision.HELD)
        return True

    def campaign_stopped(self, campaign_id: UUID) -> None:
        self.stopped.add(campaign_id)

    def _forget_stop(self, campaign_id: UUID) -> None:
        self.stopped.discard(campaign_id)
        # Resumed with today's policy and servers, not those cached when it stopped.
        self.view.forget_policy(campaign_id)

    async def campaign_resumed(self, campaign_id: UUID) -> int:
        """Release the campaign's held messages back through routing (with today's policy and servers).

        Returns only once every held message is back on the send exchange and the stop is gone,
        so the resume event is acknowledged only then; if this fails half way, the event comes
        back and the release goes on where it stopped.
        """
        self._forget_stop(campaign_id)
        released = await self.held.resume(campaign_id, self.outbound.release)
        log.info(
            "campaign resumed: held messages sent back to routing",
            campaign_id=str(campaign_id),
            released=released,
        )
        return released

    async def _drop_cancelled(self, message: SendRequested) -> None:
        """The campaign is cancelled: the message goes nowhere, and says so (a final status)."""
        await self.outbound.status(cancelled_status(message))
        self.metrics.decided(Decision.CANCELLED)

    async def campaign_paused(self, event: CampaignEvent) -> bool:
        """Hold the campaign's messages from now on (as a stop does, without announcing a stop).

        Every replica records the pause it hears (the same decision twice changes nothing), so a
        replica never holds a campaign in memory that PostgreSQL does not hold: it would route
        its messages again at the first hold that finds no stop. False if a newer decision is
        recorded or the campaign is cancelled."""
        if event.kind is not CampaignEventKind.PAUSED or not await self.held.pause(event):
            return False
        self.stopped.add(event.campaign_id)
        log.info("campaign paused: its messages are held", campaign_id=str(event.campaign_id))
        return True

    async def resume_campaign(self, event: CampaignEvent) -> int:
        """`campaign_resumed`: release the held messages, unless the campaign is cancelled (final)
        or the event is older than a pause recorded since (a late copy)."""
        if event.kind is not CampaignEventKind.RESUMED:
            return 0
        if event.campaign_id in self.cancelled or not await self.held.record_resume(event):
            log.info(
                "campaign resume ignored: cancelled, or paused again since",
                campaign_id=str(event.campaign_id),
            )
            return 0
        return await self.campaign_resumed(event.campaign_id)

    async def campaign_cancelled(self, event: CampaignEvent) -> int:
        """Drop the campaign's held messages and every later one, each reported `cancelled`."""
        if event.kind is not CampaignEventKind.CANCELLED:
            return 0
        self.cancelled.add(event.campaign_id)
        self.stopped.discard(event.campaign_id)
        self.view.forget_policy(event.campaign_id)
        dropped = await self.held.cancel(event)
        log.info(
            "campaign cancelled: held messages dropped", campaign_id=str(event.campaign_id), dropped=dropped
        )
        return dropped

    async def campaign_holds(self) -> CampaignHolds:
        """What delivery workers must not send now: the campaigns paused and those cancelled lately
        (as recorded, so the answer is the same whichever replica gives it)."""
        paused, cancelled = await self.held.campaign_controls(self.clock() - CANCELLED_REMEMBERED)
        return CampaignHolds(paused=sorted(paused), cancelled=sorted(cancelled))

    async def release_orphans(self) -> int:
        """One sweeper round: release held messages whose campaign is not stopped any more (its
        resume died half way, and its event may never come back)."""
        released = 0
        for campaign_id in await self.held.orphaned_campaigns():
            count = await self.held.release_orphans(campaign_id, self.outbound.release)
            if count:
                log.warning(
                    "released held messages of a campaign no longer stopped",
                    campaign_id=str(campaign_id),
                    released=count,
                )
            released += count
        return released

    # ------------------------------------------------------------------ failover

    async def reroute_from(self, server_id: UUID, message: DeliveryRequested, redelivered: bool) -> None:
        """A message queued for a server that can no longer send goes back through routing.

        Routing sees its campaign's policy again, so it moves to another server of the same
        selection, or is held with the campaign if none is left; never outside the selection.
        A redelivered message may have been taken by a worker that stopped mid-send; it says so,
        so that the next worker does not wait for that worker's outcome forever.
        """
        await self.outbound.back_to_routing(message.send.avoiding(server_id, redelivered=redelivered))
        self.metrics.decided(Decision.REROUTED)


def _buckets(server: ServerView, recipient: str, at: datetime) -> list[Bucket]:
    """What a send through the server to the recipient is counted in: its own limits, the rule for
    the recipient's receiver, both or neither."""
    return [
        bucket
        for bucket in (server_bucket(server, at), destination_bucket(server, recipient, at))
        if bucket is not None
    ]
