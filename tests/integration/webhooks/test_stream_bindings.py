"""`webhooks.events` is bound to `sendpool.events` per tenant with endpoints (`<tenant>.#`), not to
everything: the events of other tenants cost the service nothing.

Whether an event reaches the queue is asked of RabbitMQ itself: published `mandatory`, an event
no binding routes comes back (`DeliveryError`). In the test's vhost `webhooks.events` is the only
queue bound to `sendpool.events`, and its consumer empties it at once, so its depth would say nothing.
"""

from collections.abc import Awaitable, Callable
from uuid import UUID, uuid4

import aio_pika
import pytest
from aio_pika.exceptions import DeliveryError
from faststream.rabbit import RabbitBroker

from services.webhooks.adapters.postgres import PgWebhookStore
from services.webhooks.adapters.rabbit import RabbitStreamSubscriptions
from services.webhooks.app.subscriptions import ReconcileSubscriptions
from services.webhooks.bootstrap import MIGRATIONS, SCHEMA
from services.webhooks.entrypoints.subscribers import EVENTS_QUEUE
from shared.db import Database
from shared.events import EventBatch
from shared.topology import EVENTS_EXCHANGE
from tests.integration.webhooks.test_webhooks import event_ids_of, events, register
from tests.support.waiting import eventually_async

Routed = Callable[[UUID], Awaitable[bool]]


@pytest.fixture
async def amqp(webhooks_service, webhooks_env):
    """A channel whose unroutable mandatory publishes raise, the events exchange, and the queue."""
    connection = await aio_pika.connect(webhooks_env["SENDPOOL_AMQP_URL"])
    async with connection:
        channel = await connection.channel(on_return_raises=True)
        exchange = await channel.get_exchange(EVENTS_EXCHANGE.name)
        queue = await channel.get_queue(EVENTS_QUEUE.name)  # passive: the service declared it
        yield exchange, queue


@pytest.fixture
def routed(amqp) -> Routed:
    exchange, _ = amqp

    async def publish_one(tenant_id: UUID) -> bool:
        """Publish one event of the tenant; whether a binding took it to `webhooks.events`."""
        batch = EventBatch.of(events(tenant_id, uuid4(), 1))[0]
        try:
            await exchange.publish(
                aio_pika.Message(batch.model_dump_json().encode(), content_type="application/json"),
                routing_key=batch.routing_key,
                mandatory=True,
            )
        except DeliveryError:
            return False
        return True

    return publish_one


async def test_the_queue_takes_the_events_of_tenants_with_endpoints_only(http, tenant, receiver, routed):
    tenant_id, headers = tenant
    assert not await routed(tenant_id)  # no endpoint yet: not even queued
    assert not await routed(uuid4())  # nor anybody else's: no catch-all binding

    path = f"/bound-{uuid4().hex[:6]}"
    first = await register(http, headers, receiver.url(path))
    assert await routed(tenant_id)  # bound before the endpoint was returned
    await eventually_async(
        lambda: len(receiver.received(path, accepted_only=True)) >= 1, timeout_seconds=10, what="delivery"
    )
    assert not await routed(uuid4())  # another tenant's events still go nowhere

    second = await register(http, headers, receiver.url(path))
    assert (await http.delete(f"/webhooks/endpoints/{first['id']}", headers=headers)).status_code == 204
    assert await routed(tenant_id)  # an endpoint is left
    assert (await http.delete(f"/webhooks/endpoints/{second['id']}", headers=headers)).status_code == 204
    assert not await routed(tenant_id)  # the last one gone: unbound


async def test_the_start_up_reconcile_binds_tenants_with_endpoints_and_drops_the_catch_all(
    http, tenant, receiver, routed, amqp, webhooks_env
):
    tenant_id, headers = tenant
    path = f"/reconciled-{uuid4().hex[:6]}"
    await register(http, headers, receiver.url(path))
    exchange, queue = amqp
    # A vhost re-created without the tenant's binding, and the catch-all of the previous version.
    await queue.unbind(exchange, routing_key=f"{tenant_id}.#")
    await queue.bind(exchange, routing_key="#")
    stranger = uuid4()
    assert await routed(stranger)  # the catch-all takes everything, as before

    broker = RabbitBroker(webhooks_env["SENDPOOL_AMQP_URL"], logger=None)
    await broker.connect()
    try:
        async with Database(
            webhooks_env["SENDPOOL_DATABASE_URL"], SCHEMA, MIGRATIONS, pool_size=1, wait_seconds=0
        ) as database:
            reconcile = ReconcileSubscriptions(
                PgWebhookStore(database), RabbitStreamSubscriptions(broker, EVENTS_QUEUE)
            )
            assert await reconcile() >= 1
            assert await routed(tenant_id)
            assert not await routed(stranger)
            # Again, with no catch-all left to unbind: RabbitMQ answers an absent binding's unbind with ok.
            await reconcile()
            assert await routed(tenant_id)
            assert not await routed(stranger)
    finally:
        await broker.stop()

    def delivered() -> set[str]:
        return {i for r in receiver.received(path, accepted_only=True) for i in event_ids_of(r.body)}

    await eventually_async(lambda: len(delivered()) >= 2, timeout_seconds=10, what="the events delivered")
