"""One recipient of a batch whose send raises (a bug nobody foresaw) is dead-lettered alone, with its
reason; every other recipient of the batch is sent once and reported, and nobody is sent twice.

No real server makes the worker's sender raise, so the worker is assembled here, in process, as
`services.delivery.bootstrap` assembles it: the real server-queue consumer, attempts record
(PostgreSQL), publishers (RabbitMQ) and SMTP sender (aiosmtpd), the sender wrapped so that it
raises for one address before anything reaches the server."""

import asyncio
import json
import os
from dataclasses import dataclass, field
from types import SimpleNamespace
from uuid import UUID, uuid4

import pytest
import pytest_asyncio

from services.delivery.adapters.postgres import PostgresAttempts
from services.delivery.adapters.publishers import declare_publishers
from services.delivery.adapters.rabbit import RabbitOutbound
from services.delivery.adapters.smtp import SmtpOptions, SmtpSender, SmtpSettings
from services.delivery.app.deliver import DeliverMessage
from services.delivery.app.ports import ServerSender
from services.delivery.domain.mime import OutgoingMessage
from services.delivery.domain.outcomes import SendOutcome
from services.delivery.domain.retry import RetryPolicy
from shared.contracts import DeliveryBatch, DeliveryRequested
from shared.messaging import DEAD_REASON_HEADER, declare_dead_letters, make_broker
from shared.server_queues import ServerQueueConsumers
from shared.topology import SEND_EXCHANGE, STATUS_EXCHANGE, delivery_queue_name
from tests.integration.delivery.harness import Bus, FakeCatalog
from tests.integration.delivery.messages import delivery_batch, recipient
from tests.integration.delivery.smtp_scripts import ScriptedSink
from tests.support.egress import LOCAL_SINKS
from tests.support.infra import create_vhost, delete_vhost, migrated_pool

SETTLE_SECONDS = 1.0


class SendBug(RuntimeError):
    """What the wrapped sender raises for the poisoned address."""


@dataclass
class PoisonedSender:
    """The real SMTP sender, except that a send to `poisoned` raises before anything is transmitted."""

    sender: SmtpSender
    poisoned: str
    tries: int = 0

    async def send(self, message: OutgoingMessage) -> SendOutcome:
        if message.recipient == self.poisoned:
            self.tries += 1
            raise SendBug(f"unexpected failure while sending to {message.recipient}")
        return await self.sender.send(message)

    async def probe(self):
        return await self.sender.probe()

    async def close(self) -> None:
        await self.sender.close()


@dataclass
class OneServer:
    sender: PoisonedSender

    async def sender_for(self, server_id: UUID) -> ServerSender:
        return ServerSender(self.sender, None)


@dataclass
class Unrestricted:
    """Gate, capacity, health, metrics and suppression: every server may send, at once, to anyone;
    nothing is counted."""

    outcomes: list = field(default_factory=list)

    def refusal(self, server_id: UUID) -> str | None:
        return None

    async def wait_for_capacity(self, request: DeliveryRequested) -> bool:
        return False

    async def suppressed(self, tenant_id: UUID, addresses) -> dict[str, str]:
        return {}

    def observe(self, server_id: UUID, outcome: SendOutcome) -> None:
        self.outcomes.append(outcome)

    def send_took(self, vendor: str, seconds: float) -> None: ...

    def concluded(self, vendor, server_id, status) -> None: ...


@pytest.fixture(scope="module")
def vhost_url():
    """A vhost of its own: the package's worker process must not consume this test's queue."""
    url = create_vhost("sendpool-delivery-poison")
    yield url
    if not os.environ.get("SENDPOOL_TEST_KEEP"):
        delete_vhost(url)


@pytest_asyncio.fixture
async def bus(vhost_url):
    bus = Bus(vhost_url, FakeCatalog())
    await bus.broker.start()
    yield bus
    await bus.broker.stop()


async def test_a_recipient_whose_send_raises_is_dead_lettered_alone_and_the_others_are_sent_once(
    bus, vhost_url, database_url
):
    server_id = uuid4()
    poisoned = recipient("poisoned")
    others = [recipient() for _ in range(9)]
    batch = delivery_batch(server_id, [*others[:4], poisoned, *others[4:]])
    by_recipient = {request.send.recipient: request.send.message_id for request in batch.requests()}
    queue = delivery_queue_name("smtp", server_id)

    broker = make_broker(vhost_url, "delivery", message_metrics=False)
    outbound = RabbitOutbound(broker, declare_publishers(broker))
    with ScriptedSink() as sink:
        smtp = SmtpSender(
            SmtpSettings(host="127.0.0.1", port=sink.port, encryption="none"),
            SmtpOptions(max_connections=2, timeout_seconds=5, egress=LOCAL_SINKS),
        )
        sender = PoisonedSender(smtp, poisoned)
        unrestricted = Unrestricted()
        async with migrated_pool(database_url, "delivery", 4) as pool:
            deliver = DeliverMessage(
                attempts=PostgresAttempts(SimpleNamespace(pool=pool)),
                senders=OneServer(sender),
                outbound=outbound,
                retry_policy=RetryPolicy(max_attempts=3, base_seconds=1, max_age_seconds=3600),
                gate=unrestricted,
                capacity=unrestricted,
                health=unrestricted,
                metrics=unrestricted,
                suppression=unrestricted,
                verp_secret="poison-test",
                sends_per_server=4,
            )

            async def deliver_from_queue(_: UUID, request: DeliveryRequested, redelivered: bool) -> None:
                await deliver(request, redelivered=redelivered)

            queues = ServerQueueConsumers(broker, deliver_from_queue, purpose="delivery", prefetch=4)
            await broker.start()
            try:
                await declare_dead_letters(broker)
                await broker.declare_exchange(STATUS_EXCHANGE)
                await broker.declare_exchange(SEND_EXCHANGE)
                await queues.consume("smtp", server_id)

                await bus.publish_to_queue(batch, queue)
                for to in others:
                    await bus.wait_for_status(by_recipient[to], "sent")
                letter = await bus.dead.wait_for(
                    lambda letter: str(by_recipient[poisoned]).encode() in letter.body
                )
                await asyncio.sleep(SETTLE_SECONDS)
                depth = await bus.queue_depth(queue)
                await queues.stop_all()
            finally:
                await broker.stop()
                await sender.close()

    for to in others:
        assert len(sink.to(to)) == 1, f"{to} got the message {len(sink.to(to))} times"
        assert len(bus.status_of(by_recipient[to], "sent")) == 1
    assert sink.to(poisoned) == [] and bus.status_of(by_recipient[poisoned]) == []
    assert sender.tries == 3, "tried again alone, as a redelivery would, then given up"
    assert "SendBug" in letter.headers[DEAD_REASON_HEADER]
    assert "unexpected failure while sending to" in letter.headers[DEAD_REASON_HEADER]
    dead = DeliveryBatch.model_validate(json.loads(letter.body))
    assert [request.send.message_id for request in dead.requests()] == [by_recipient[poisoned]], (
        "the poisoned recipient alone, so that replaying it re-drives no other"
    )
    assert (dead.server_id, dead.batch.run_id) == (server_id, batch.batch.run_id)
    assert depth == 0, "the batch was acknowledged once every recipient was settled"
    assert len(bus.dead.items) == 1
