"""A stand-in for the bounces service's suppression check, for the scheduler's and delivery's tests.

It answers `SuppressionCheck` on `bounces.rpc` (the queue as the bounces service declares it) from
lists the test fills, the way the bounces service answers: per tenant plus a global list, addresses
compared case-insensitively, each suppressed one named as it was asked. `down()` stops consuming, so
checks go unanswered (they wait in the queue until they expire) as when the bounces service is down;
`up()` answers again. Every check is kept in `checks`, so a test can count the round trips.
"""

import contextlib
import logging
from collections.abc import AsyncIterator
from uuid import UUID

from faststream.rabbit import Channel, RabbitBroker, RabbitResponse

from shared.contracts import SuppressionCheck, SuppressionCheckReply
from shared.messaging import rpc_reply, stop_consuming
from shared.topology import BOUNCES_RPC_QUEUE


class SuppressionResponder:
    def __init__(self, amqp_url: str) -> None:
        self.tenants: dict[UUID, dict[str, str]] = {}
        """Each tenant's suppressed addresses (lower case) with why."""
        self.everyone: dict[str, str] = {}
        """The global (operator's) list, applied to every tenant."""
        self.checks: list[SuppressionCheck] = []
        self.broker = RabbitBroker(
            amqp_url, default_channel=Channel(publisher_confirms=True), log_level=logging.WARNING
        )
        self._subscriber = self.broker.subscriber(BOUNCES_RPC_QUEUE)

        @self._subscriber
        async def answer(check: SuppressionCheck) -> RabbitResponse:
            self.checks.append(check)
            return rpc_reply(self.answer(check))

    def suppress(self, tenant_id: UUID | None, address: str, reason: str) -> None:
        """Suppress `address` for the tenant, or for everyone (`tenant_id` None)."""
        target = self.everyone if tenant_id is None else self.tenants.setdefault(tenant_id, {})
        target[address.lower()] = reason

    def lift(self, tenant_id: UUID, address: str) -> None:
        self.tenants.get(tenant_id, {}).pop(address.lower(), None)

    def answer(self, check: SuppressionCheck) -> SuppressionCheckReply:
        own = self.tenants.get(check.tenant_id, {})
        suppressed = {}
        for address in check.addresses:
            reason = own.get(address.lower()) or self.everyone.get(address.lower())
            if reason is not None:
                suppressed[address] = reason
        return SuppressionCheckReply(suppressed=suppressed)

    def addresses_checked(self, tenant_id: UUID | None = None) -> list[str]:
        return [
            address
            for check in self.checks
            if tenant_id is None or check.tenant_id == tenant_id
            for address in check.addresses
        ]

    async def down(self) -> None:
        """Stop answering: checks wait unanswered in `bounces.rpc` (and expire there)."""
        await stop_consuming(self._subscriber)

    async def up(self) -> None:
        await self._subscriber.start()

    async def start(self) -> "SuppressionResponder":
        await self.broker.start()
        return self

    async def stop(self) -> None:
        await self.broker.stop()


@contextlib.asynccontextmanager
async def suppression_responder(amqp_url: str) -> AsyncIterator[SuppressionResponder]:
    responder = await SuppressionResponder(amqp_url).start()
    try:
        yield responder
    finally:
        await responder.stop()
