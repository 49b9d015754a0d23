"""Late messages wait for their server's capacity before they are sent.

The router counts a send against the server's limits when it routes the message. If the message
then waits in the server's queue (every worker of the vendor was down, or restarting), that count
was made at the wrong time: drained at the worker's speed, the backlog would reach the vendor in
one burst above its cap. So a counted message that arrives later than `late_after` is sent only
once the router has counted it again at the time of sending (and uncounted it where it was
counted before). The wait happens in the server's turn, so the messages behind it wait too and
the queue drains at the server's rate.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog

from services.delivery.app.ports import Admissions, AdmissionUnavailable
from shared.contracts import AdmissionRequest, DeliveryRequested, utcnow

log = structlog.get_logger("delivery.late_sends")

UNAVAILABLE_RETRY_SECONDS = 1.0
LONGEST_SLEEP_SECONDS = 30.0
"""Ask again at least this often, so a paused or changed server is noticed while waiting."""


class LateSends:
    def __init__(
        self,
        admissions: Admissions,
        *,
        late_after: timedelta,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._admissions = admissions
        self._late_after = late_after
        self._clock = clock
        self._sleep = sleep

    def is_late(self, request: DeliveryRequested) -> bool:
        return request.counted and self._clock() - request.routed_at > self._late_after

    async def wait_for_capacity(self, request: DeliveryRequested) -> bool:
        """Return when the message may be sent now: at once unless it is counted and late. Says
        whether it waited, since what was checked about the message before may have changed since."""
        if not self.is_late(request):
            return False
        question = AdmissionRequest(
            server_id=request.server_id, recipient=request.send.recipient, routed_at=request.routed_at
        )
        waited = warned = False
        while True:
            try:
                reply = await self._admissions.admit(question)
            except AdmissionUnavailable as exc:
                if not warned:  # once per message: a router outage would repeat it every second
                    warned = True
                    log.warning(
                        "no router answered a late message's admission; it waits and asks again",
                        message_id=str(request.send.message_id),
                        server_id=str(request.server_id),
                        reason=str(exc),
                    )
                await self._sleep(UNAVAILABLE_RETRY_SECONDS)
                continue
            if reply.admitted:
                return waited or warned
            if not waited:
                waited = True
                log.debug(  # per recipient: a backlog would log every one of its messages
                    "late message waits for its server's capacity",
                    message_id=str(request.send.message_id),
                    server_id=str(request.server_id),
                    routed_at=request.routed_at.isoformat(),
                    retry_at=reply.retry_at.isoformat() if reply.retry_at else None,
                    reason=reply.reason,
                )
            await self._sleep(self._seconds_until(reply.retry_at))

    def _seconds_until(self, retry_at: datetime | None) -> float:
        if retry_at is None:
            return UNAVAILABLE_RETRY_SECONDS
        return min(max((retry_at - self._clock()).total_seconds(), 0.01), LONGEST_SLEEP_SECONDS)
