"""The last suppression check: a delivery batch's recipients, asked about once, just before sending.

The scheduler skipped the recipients suppressed when it expanded the campaign, but a message may
wait a long time between the two (a backlog, retries, a paused server), and an address suppressed
meanwhile (it bounced hard, its owner complained) must not be mailed. So every batch a worker takes
from a server queue is asked about once (`SuppressionCheck`, per tenant, in requests of at most 1000
addresses) before its recipients are handed to `DeliverMessage`; a suppressed one is settled
unsent (`DeliverMessage.settle_suppressed`), the rest go on. No answer is a transient fault: the
batch waits with nothing of it sent (`shared.messaging.RetryTransientFaults`).

The check lives here, not in the vendors' adapters, so every way of sending goes through it.
"""

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

from services.delivery.app.ports import SuppressionList
from shared.contracts import DeliveryRequested

SettleSuppressed = Callable[[DeliveryRequested, str, bool], Awaitable[None]]
"""Settle one message unsent: (the request, why its recipient is suppressed, whether it was delivered
before). `DeliverMessage.settle_suppressed`."""


class SuppressionScreen:
    """`shared.server_queues.DeliveryScreen` for the delivery worker's server queues."""

    def __init__(self, suppression: SuppressionList, settle_suppressed: SettleSuppressed) -> None:
        self._suppression = suppression
        self._settle_suppressed = settle_suppressed

    async def screen(self, requests: Sequence[DeliveryRequested]) -> dict[UUID, str]:
        """The messages of the batch whose recipients are suppressed now, with why."""
        per_tenant: defaultdict[UUID, list[DeliveryRequested]] = defaultdict(list)
        for request in requests:
            per_tenant[request.send.tenant_id].append(request)
        screened: dict[UUID, str] = {}
        for tenant_id, tenant_requests in per_tenant.items():  # one tenant per batch, in practice
            suppressed = await self._suppression.suppressed(
                tenant_id, [request.send.recipient for request in tenant_requests]
            )
            screened.update(
                (request.send.message_id, suppressed[request.send.recipient])
                for request in tenant_requests
                if request.send.recipient in suppressed
            )
        return screened

    async def settle(
        self, server_id: UUID, request: DeliveryRequested, reason: str, redelivered: bool
    ) -> None:
        await self._settle_suppressed(request, reason, redelivered)
