"""Deliver one message through the server the router chose, at most once unless a worker dies.

The steps: find the server's sender and identity, build the message (VERP Return-Path, DKIM
signature), wait for the server's turn (and, for a message that arrives late, for the server's
capacity: see `late_sends`), check the server may still send, claim the message in
the attempts record (a copy that cannot claim it is settled from the record instead), send,
record the outcome, publish the status.

- A message for a server this worker knows cannot send now (not active, circuit open) is
  handed back to routing, steered away from the server, without being sent.
- A deferred message goes back through routing after a wait, steered away from this server,
  until it has been deferred too often or too long. A server that could not be reached at all
  says nothing about the message: it goes back through routing at once, with no attempt used.
- A message claimed by a worker that died before recording the outcome is sent again, so it
  is not lost, and reported `unknown`, since the recipient may now have it twice. Claims are
  made only when a message's turn to be sent has come, so a dying worker leaves few of them,
  and an outcome is recorded as soon as it is known (see `adapters.postgres`), so the ones it
  leaves are those it was sending when it died.
- A message whose recipient is suppressed (asked once per batch before its recipients are
  handed here, see `app.suppression`; asked again for a late message that waited for capacity)
  is not sent: it is claimed and recorded `suppressed` with the reason, a final outcome, so a
  redelivered copy re-publishes it instead of sending.
- A message whose connection was lost after it was transmitted, before the server answered, is
  deferred like any other (the server never said it took it) and the record remembers it may
  have arrived: whatever a later attempt comes to is reported `unknown`, unless the retries run
  out (then it is failed, saying it may have arrived).
- A message of a campaign its tenant paused is handed back to routing unsent (the router holds
  it until the resume); one of a cancelled campaign is dropped, reported `cancelled`. Asked when
  it arrives and again when its turn comes (see `app.campaign_holds`).
"""

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

import structlog

from services.delivery.app.campaign_holds import CampaignHold, HeldCampaigns
from services.delivery.app.ports import (
    AttemptStore,
    CampaignGate,
    ConnectionHealth,
    DeliveryMetrics,
    Outbound,
    Sender,
    SenderLookup,
    ServerCapacity,
    ServerGate,
    SuppressionList,
    UnusableServer,
)
from services.delivery.domain.attempts import (
    MAYBE_DELIVERED_BEFORE,
    AttemptRecord,
    AttemptState,
    Claimed,
    DuplicateAction,
    after_maybe_delivered,
    in_doubt,
    on_duplicate,
)
from services.delivery.domain.dkim import dkim_signed
from services.delivery.domain.identity import InvalidIdentity
from services.delivery.domain.mime import InvalidMessage, OutgoingMessage, PersonalizationFailed, compose
from services.delivery.domain.outcomes import Deferred, Failed, SendOutcome, trace_attributes
from services.delivery.domain.retry import (
    GiveUp,
    RetryPolicy,
    next_attempt,
    past_max_age,
    plan_retry,
)
from services.delivery.domain.unsubscribe_links import UnsubscribeLinks
from services.delivery.domain.verp import with_return_path
from shared import tracing
from shared.contracts import DeliveryRequested, MessageStatus, StatusEvent, utcnow

log = structlog.get_logger("delivery.deliver")

CANCELLED_REASON = "campaign cancelled by its tenant"


_STATUS_OF_STATE = {
    AttemptState.SENT: MessageStatus.SENT,
    AttemptState.DEFERRED: MessageStatus.DEFERRED,
    AttemptState.FAILED: MessageStatus.FAILED,
    AttemptState.UNKNOWN: MessageStatus.UNKNOWN,
    AttemptState.SUPPRESSED: MessageStatus.SUPPRESSED,
}


@dataclass(frozen=True)
class _Ready:
    sender: Sender
    message: OutgoingMessage


@dataclass(frozen=True)
class _Claim:
    record: AttemptRecord
    in_doubt: bool
    """Taken over from a worker that stopped before recording what became of the message."""


@dataclass(frozen=True)
class _Attempt:
    """A message this worker claimed (or took over from a dead worker) and tried to send."""

    claimed: AttemptRecord
    outcome: SendOutcome
    in_doubt: bool


class DeliverMessage:
    def __init__(
        self,
        *,
        attempts: AttemptStore,
        senders: SenderLookup,
        outbound: Outbound,
        retry_policy: RetryPolicy,
        gate: ServerGate,
        capacity: ServerCapacity,
        health: ConnectionHealth,
        metrics: DeliveryMetrics,
        suppression: SuppressionList,
        verp_secret: str,
        sends_per_server: int,
        clock: Callable[[], datetime] = utcnow,
        unsubscribe: UnsubscribeLinks | None = None,
        campaigns: CampaignGate | None = None,
    ) -> None:
        self._attempts = attempts
        self._senders = senders
        self._outbound = outbound
        self._retry_policy = retry_policy
        self._gate = gate
        self._capacity = capacity
        self._health = health
        self._metrics = metrics
        self._suppression = suppression
        self._verp_secret = verp_secret
        self._clock = clock
        self._unsubscribe = unsubscribe
        """Every message's one-click link (the bootstrap always gives it; None: only the content's own)."""
        self._campaigns: CampaignGate = campaigns if campaigns is not None else HeldCampaigns()
        """The campaigns paused or cancelled (the bootstrap gives the worker's own; None: none is)."""
        self._turns: defaultdict[UUID, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(sends_per_server)
        )
        self._in_flight: set[UUID] = set()

    async def __call__(self, request: DeliveryRequested, *, redelivered: bool) -> None:
        # Redelivered here, or before it was handed back to routing on its way here.
        redelivered = redelivered or request.send.redelivered
        if await self._held_back(request, redelivered=redelivered):
            return
        refusal = self._gate.refusal(request.server_id)
        if refusal is not None:  # asked again when the message's turn comes: the server may change meanwhile
            await self._hand_back(request, refusal, redelivered=redelivered)
            return
        # Whatever may fail for a transient reason (asking the catalog for settings) happens
        # before the claim, so a claimed message is one that really was handed to a sender.
        prepared = await self._prepare(request)
        attempt = await self._claim_and_send(request, prepared, redelivered=redelivered)
        if attempt is None:
            return
        try:
            if attempt.in_doubt and not isinstance(attempt.outcome, Deferred):
                await self._conclude(request, attempt.claimed.concluded(in_doubt(attempt.outcome)))
            elif isinstance(attempt.outcome, Deferred):
                # Taken over from a stopped worker, the message may have arrived through it: sending
                # it again was refused for now, so it is retried like any deferral (reporting
                # `unknown` now could leave a recipient without it) and remembered as maybe delivered.
                claimed = (
                    replace(attempt.claimed, maybe_delivered=True) if attempt.in_doubt else attempt.claimed
                )
                await self._defer(request, claimed, attempt.outcome)
            elif attempt.claimed.maybe_delivered:
                reported = after_maybe_delivered(attempt.outcome)
                await self._conclude(request, attempt.claimed.concluded(reported))
            else:
                await self._conclude(request, attempt.claimed.concluded(attempt.outcome))
        finally:
            self._in_flight.discard(request.send.message_id)

    async def settle_suppressed(self, request: DeliveryRequested, reason: str, *, redelivered: bool) -> None:
        """Settle a message whose recipient is suppressed, without sending it.

        Through the claim, as a send would be: a message already sent (or settled) keeps its record,
        which is published again; one a stopped worker left `sending` is not sent again."""
        claim = await self._claim(request, redelivered=redelivered or request.send.redelivered)
        if claim is not None:
            await self._conclude(request, claim.record.suppressed(reason))

    async def _suppressed_now(self, request: DeliveryRequested) -> str | None:
        """Why the message's recipient is suppressed now, or None. For a message that waited for its
        server's capacity only, which is asked about per message as its admission is."""
        send = request.send
        suppressed = await self._suppression.suppressed(send.tenant_id, [send.recipient])
        return suppressed.get(send.recipient)

    async def _prepare(self, request: DeliveryRequested) -> _Ready | SendOutcome:
        """The sender and the message, or the outcome that makes sending pointless."""
        send = request.send
        try:
            message = compose(
                send.message_id,
                send.content,
                send.recipient,
                recipient_name=send.recipient_name,
                now=self._clock(),
                unsubscribe_url=self._unsubscribe.url_for(send) if self._unsubscribe else None,
                fields=send.fields,
            )
        except PersonalizationFailed as exc:
            # This recipient's rendering failed: it fails alone; the rest of its batch goes on.
            return Failed(None, None, f"personalization failed: {exc}")
        except InvalidMessage as exc:
            return Failed(None, None, f"message refused before sending: {exc}")
        try:
            server = await self._senders.sender_for(request.server_id)
            message = with_return_path(message, server.identity, self._verp_secret)
            if server.identity is not None and server.identity.signs:
                # dkimpy signs in pure Python (a few milliseconds of RSA): off the event loop.
                message = await asyncio.to_thread(dkim_signed, message, server.identity)
        except (UnusableServer, InvalidIdentity) as exc:
            # The message itself is fine: another server of the campaign may take it.
            return Deferred(None, None, f"server {request.server_id} cannot send: {exc}")
        return _Ready(server.sender, message)

    async def _claim_and_send(
        self, request: DeliveryRequested, prepared: _Ready | SendOutcome, *, redelivered: bool
    ) -> _Attempt | None:
        """Claim and send in the server's turn; None when the message was settled without sending.

        On return the message is marked in flight here until the caller has recorded the outcome.
        """
        send = request.send
        async with self._turns[request.server_id]:
            # In the turn, so that the messages behind a late one wait with it.
            if await self._capacity.wait_for_capacity(request):
                # Its batch was checked when it arrived; it may have been suppressed while it waited.
                reason = await self._suppressed_now(request)
                if reason is not None:
                    await self.settle_suppressed(request, reason, redelivered=redelivered)
                    return None
            refusal = self._gate.refusal(request.server_id)
            if refusal is not None:
                await self._hand_back(request, refusal, redelivered=redelivered)
                return None
            # Paused or cancelled while it waited for its turn: the pause takes effect here.
            if await self._held_back(request, redelivered=redelivered):
                return None
            claim = await self._claim(request, redelivered=redelivered)
            if claim is None:
                return None
            if claim.in_doubt:
                log.warning(
                    "message left in doubt by a stopped worker; sending it again",
                    message_id=str(send.message_id),
                    server_id=str(request.server_id),
                )
            self._in_flight.add(send.message_id)
            try:
                outcome = await self._send(request, prepared)
            except BaseException:
                self._in_flight.discard(send.message_id)
                raise
        return _Attempt(claim.record, outcome, in_doubt=claim.in_doubt)

    async def _claim(self, request: DeliveryRequested, *, redelivered: bool) -> _Claim | None:
        """The message is this worker's to settle now, or None when its record settled this copy
        (republished, or left to the copy under way)."""
        send = request.send
        claim = await self._attempts.claim(send.message_id, request.server_id, send.attempt)
        if isinstance(claim, Claimed):
            return _Claim(claim.record, in_doubt=False)
        action = on_duplicate(
            claim, redelivered=redelivered, in_flight_here=send.message_id in self._in_flight
        )
        if action is not DuplicateAction.RESEND_IN_DOUBT:
            await self._settle_duplicate(request, claim, action)
            return None
        return _Claim(claim, in_doubt=True)

    async def _send(self, request: DeliveryRequested, prepared: _Ready | SendOutcome) -> SendOutcome:
        if not isinstance(prepared, _Ready):
            return prepared
        started = time.perf_counter()
        outcome = await prepared.sender.send(prepared.message)
        self._metrics.send_took(request.vendor, time.perf_counter() - started)
        if tracing.ENABLED:
            tracing.annotate(trace_attributes(outcome))
        self._health.observe(request.server_id, outcome)
        return outcome

    async def _hand_back(self, request: DeliveryRequested, refusal: str, *, redelivered: bool) -> None:
        await self._outbound.hand_back(request.send.avoiding(request.server_id, redelivered=redelivered))
        log.debug(
            "message handed back to routing unsent",
            message_id=str(request.send.message_id),
            server_id=str(request.server_id),
            reason=refusal,
        )

    async def _held_back(self, request: DeliveryRequested, *, redelivered: bool) -> bool:
        """Settle the message unsent if its campaign is paused or cancelled; False to send it."""
        hold = self._campaigns.hold_of(request.send.campaign_id)
        if hold is None:
            return False
        send = request.send
        if hold is CampaignHold.PAUSED:
            # Not steered away from this server: nothing is wrong with it. Marked redelivered if it
            # was, so that a copy a stopped worker left `sending` is taken over after the resume.
            await self._outbound.hand_back(
                send.model_copy(update={"redelivered": True}) if redelivered else send
            )
        else:
            await self._outbound.publish_status(
                send.status_event(MessageStatus.CANCELLED, reply_text=CANCELLED_REASON)
            )
        log.debug(
            "message of a held campaign not sent",
            message_id=str(send.message_id),
            campaign_id=str(send.campaign_id),
            hold=hold.value,
        )
        return True

    async def _record_outcome(self, request: DeliveryRequested, record: AttemptRecord) -> None:
        """Record what the attempt came to; counted here, once per attempt (not when a duplicate
        delivery re-publishes a recorded outcome)."""
        await self._attempts.record(record)
        self._metrics.concluded(request.vendor, record.server_id, _STATUS_OF_STATE[record.state])

    async def _conclude(self, request: DeliveryRequested, record: AttemptRecord) -> None:
        await self._record_outcome(request, record)
        await self._outbound.publish_status(self._status(request, record))
        log.debug(
            "message delivery concluded",
            message_id=str(record.message_id),
            state=record.state.value,
            server_id=str(record.server_id),
            reply_code=record.reply_code,
        )

    async def _defer(self, request: DeliveryRequested, claimed: AttemptRecord, outcome: Deferred) -> None:
        if outcome.connection_failure:
            await self._reroute(request, claimed, outcome)
            return
        send = request.send
        plan = plan_retry(
            self._retry_policy,
            attempt=send.attempt,
            first_attempt_at=send.first_attempt_at,
            now=self._clock(),
            retry_after=outcome.retry_after,
        )
        if isinstance(plan, GiveUp):
            await self._give_up(request, claimed, outcome, plan)
            return
        deferred = claimed.concluded(outcome)
        # Recorded before the retry is published: if the worker dies in between, the redelivered
        # message finds `deferred` (not `sending`) and is simply tried again.
        await self._record_outcome(request, deferred)
        waited = await self._outbound.retry_later(next_attempt(send, request.server_id), plan.wait_seconds)
        retry_at = self._clock() + timedelta(seconds=waited)
        await self._outbound.publish_status(self._status(request, deferred, retry_at=retry_at))
        log.debug(
            "message deferred",
            message_id=str(send.message_id),
            server_id=str(request.server_id),
            reply_code=outcome.reply_code,
            retry_at=retry_at.isoformat(),
        )

    async def _reroute(self, request: DeliveryRequested, claimed: AttemptRecord, outcome: Deferred) -> None:
        """The server could not be reached: route the message again now, elsewhere if routing can."""
        send = request.send
        too_old = past_max_age(self._retry_policy, first_attempt_at=send.first_attempt_at, now=self._clock())
        if too_old is not None:
            await self._give_up(request, claimed, outcome, too_old)
            return
        deferred = claimed.concluded(outcome)
        await self._record_outcome(request, deferred)
        await self._outbound.hand_back(send.avoiding(request.server_id))
        await self._outbound.publish_status(self._status(request, deferred, retry_at=self._clock()))
        log.debug(
            "server unreachable; message routed again",
            message_id=str(send.message_id),
            server_id=str(request.server_id),
            reason=outcome.reply_text,
        )

    async def _give_up(
        self, request: DeliveryRequested, claimed: AttemptRecord, outcome: Deferred, plan: GiveUp
    ) -> None:
        reason = plan.reason
        if claimed.maybe_delivered or outcome.maybe_delivered:
            reason = f"{reason}; {MAYBE_DELIVERED_BEFORE}"
        given_up = Failed(
            outcome.reply_code, outcome.enhanced_code, f"{outcome.reply_text} (gave up: {reason})"
        )
        await self._conclude(request, claimed.concluded(given_up))

    async def _settle_duplicate(
        self, request: DeliveryRequested, existing: AttemptRecord, action: DuplicateAction
    ) -> None:
        log.debug(
            "duplicate delivery settled from the record",
            message_id=str(request.send.message_id),
            recorded_state=existing.state.value,
            action=action.value,
        )
        if action is DuplicateAction.REPUBLISH:
            await self._outbound.publish_status(self._status(request, existing))

    @staticmethod
    def _status(
        request: DeliveryRequested, record: AttemptRecord, *, retry_at: datetime | None = None
    ) -> StatusEvent:
        return request.send.status_event(
            _STATUS_OF_STATE[record.state],
            attempt=record.attempt,
            server_id=record.server_id,
            vendor=request.vendor,
            reply_code=record.reply_code,
            enhanced_code=record.enhanced_code,
            reply_text=record.reply_text,
            vendor_message_id=record.vendor_message_id,
            retry_at=retry_at,
        )
