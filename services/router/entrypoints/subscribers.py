"""What the router consumes: each handler decodes a message and hands it to one use case."""

from faststream.rabbit import RabbitBroker, RabbitResponse
from faststream.rabbit.annotations import RabbitMessage

from services.router.adapters.drainers import QueueDrainers
from services.router.app.routing import Router
from shared import tracing
from shared.batch_items import handle_each
from shared.contracts import (
    AdmissionRequest,
    CampaignEvent,
    CampaignHoldsRequest,
    CatalogEvent,
    IncomingSends,
    SendBatch,
    SendRequested,
    ServerHealthEvent,
    sends_of,
)
from shared.messaging import batch_subscription, item_dead_letters, rpc_reply
from shared.topology import (
    CATALOG_EXCHANGE,
    HEALTH_EXCHANGE,
    ROUTER_ADMISSIONS_QUEUE,
    ROUTER_CAMPAIGN_HOLDS_QUEUE,
    SEND_EXCHANGE,
    SEND_QUEUE,
    STATUS_EXCHANGE,
    catalog_events_queue,
    instance_queue,
    work_queue,
)

CAMPAIGN_RESUMED_QUEUE = work_queue("router.campaign-resumed", routing_key="*.*.campaign_resumed")
"""Shared by every replica and durable: one replica releases a resumed campaign's held messages,
whichever replicas restart meanwhile, and a resume that fails half way is delivered again."""

CAMPAIGN_PAUSED_QUEUE = work_queue("router.campaign-paused", routing_key="*.*.campaign_paused")
CAMPAIGN_CANCELLED_QUEUE = work_queue("router.campaign-cancelled", routing_key="*.*.campaign_cancelled")
"""Shared and durable, as the resume's: a pause or cancellation published while every router is
down (or restarting under a new instance id) is still recorded. Each replica also hears it on a
queue of its own, to update its memory; recording the same decision twice changes nothing, and
the decision's time keeps a late pause from undoing a later resume, whichever queue brings it."""


def register(
    broker: RabbitBroker, router: Router, drainers: QueueDrainers, instance_id: str, *, batch_prefetch: int
) -> None:
    """Subscribe the router's handlers; `instance_id` names the queues of this process alone, and
    `batch_prefetch` is how many batches of recipients the send queue's consumer has in hand."""

    # A channel of its own: its prefetch counts batches of up to a thousand recipients, not messages.
    @broker.subscriber(
        SEND_QUEUE,
        SEND_EXCHANGE,
        **batch_subscription(IncomingSends, batch_prefetch),
        description="Routes each recipient of a `SendBatch` (or a `SendRequested` an earlier version "
        "published) on its own; a recipient that cannot be routed is dead-lettered alone, as a batch of one.",
    )
    async def on_send_requested(body: IncomingSends, message: RabbitMessage) -> None:
        """Routes every recipient of the batch on its own; the batch is acknowledged once each is
        routed, waiting, held, or dead-lettered alone with its reason."""

        async def route(send: SendRequested, retry: bool) -> None:
            with tracing.message_span("router.route", send.message_id, send.traceparent):
                await router.route(send)

        # A recipient that is malformed (a campaign of another tenant) is dead-lettered at once.
        await handle_each(
            sends_of(body),
            route,
            item_dead_letters(broker, message, SEND_QUEUE.name, _alone),
            redelivered=bool(message.raw_message.redelivered),
        )

    @broker.subscriber(
        ROUTER_ADMISSIONS_QUEUE,
        title="router.admissions",
        description="Counts a late message's send now, if its server's limits have room (any replica answers).",
    )
    async def on_admission(request: AdmissionRequest) -> RabbitResponse:
        return rpc_reply(await router.admit(request))

    # A change to a server may make it unable to send, or able again: its queue is drained, or not.
    @broker.subscriber(catalog_events_queue("router", instance_id), CATALOG_EXCHANGE)
    async def on_catalog_event(event: CatalogEvent) -> None:
        router.view.apply(event)
        await drainers.sync()

    @broker.subscriber(instance_queue("router", "health", "server.*", instance_id), HEALTH_EXCHANGE)
    async def on_server_health(event: ServerHealthEvent) -> None:
        router.view.apply_health(event)
        await drainers.sync()

    # Topic wildcards match whole words only, so each campaign decision gets a binding of its own.
    @broker.subscriber(
        instance_queue("router", "campaign-stopped", "*.*.campaign_stopped", instance_id), STATUS_EXCHANGE
    )
    async def on_campaign_stopped(event: CampaignEvent) -> None:
        router.campaign_stopped(event.campaign_id)

    @broker.subscriber(
        ROUTER_CAMPAIGN_HOLDS_QUEUE,
        title="router.campaign-holds",
        description="Tells a delivery worker starting which campaigns are paused or cancelled (any replica answers).",
    )
    async def on_campaign_holds(request: CampaignHoldsRequest) -> RabbitResponse:
        return rpc_reply(await router.campaign_holds())

    @broker.subscriber(
        instance_queue("router", "campaign-paused", "*.*.campaign_paused", instance_id), STATUS_EXCHANGE
    )
    async def on_campaign_paused_here(event: CampaignEvent) -> None:
        await router.campaign_paused(event)

    @broker.subscriber(
        CAMPAIGN_PAUSED_QUEUE,
        STATUS_EXCHANGE,
        title="router.campaign-paused",
        description="Records a paused campaign (any one replica), so its messages are held even by "
        "replicas that start later.",
    )
    async def on_campaign_paused(event: CampaignEvent) -> None:
        await router.campaign_paused(event)

    @broker.subscriber(
        instance_queue("router", "campaign-cancelled", "*.*.campaign_cancelled", instance_id),
        STATUS_EXCHANGE,
    )
    async def on_campaign_cancelled_here(event: CampaignEvent) -> None:
        await router.campaign_cancelled(event)

    @broker.subscriber(
        CAMPAIGN_CANCELLED_QUEUE,
        STATUS_EXCHANGE,
        title="router.campaign-cancelled",
        description="Records a cancelled campaign and drops its held messages, each reported `cancelled` "
        "(any one replica); acknowledged once all are dropped.",
    )
    async def on_campaign_cancelled(event: CampaignEvent) -> None:
        await router.campaign_cancelled(event)

    # A replica that did not take the resume learns of it from PostgreSQL when it next routes a
    # message of the campaign (its stop is gone or being lifted), so only one replica needs to hear of it.
    @broker.subscriber(
        CAMPAIGN_RESUMED_QUEUE,
        STATUS_EXCHANGE,
        title="router.campaign-resumed",
        description="Releases a resumed campaign's held messages back to routing (any one replica); "
        "acknowledged once all are released.",
    )
    async def on_campaign_resumed(event: CampaignEvent) -> None:
        await router.resume_campaign(event)


def _alone(send: SendRequested) -> SendBatch:
    """One recipient dead-lettered as a batch of its own, which `sendpool dead-letters replay` re-drives alone."""
    [batch] = SendBatch.of([send])
    return batch
