"""FastStream subscribers of the delivery worker: each decodes a message, calls one use case, returns.

A message that does not validate never reaches a handler: `shared.messaging.DeadLetterOnError`
moves it to `sendpool.dead` with the reason and the consumer goes on with the next one. The
per-server queues are consumed by `shared.server_queues.ServerQueueConsumers`, which the fleet
starts and stops as servers change (see `services.delivery.bootstrap`).
"""

from faststream.rabbit import RabbitBroker, RabbitResponse

from services.delivery.app.campaign_holds import HeldCampaigns
from services.delivery.app.fleet import ServerFleet
from services.delivery.app.probe import ProbeServer
from shared.contracts import CampaignEvent, CatalogEvent, ProbeRequest
from shared.messaging import rpc_reply
from shared.topology import (
    CATALOG_EXCHANGE,
    STATUS_EXCHANGE,
    catalog_events_queue,
    instance_queue,
    probe_queue,
)


def subscribe_probes(broker: RabbitBroker, vendor: str, probe: ProbeServer) -> None:
    @broker.subscriber(probe_queue(vendor))
    async def answer_probe(request: ProbeRequest) -> RabbitResponse:
        return rpc_reply(await probe(request))


def subscribe_catalog_events(broker: RabbitBroker, vendor: str, instance_id: str, fleet: ServerFleet) -> None:
    @broker.subscriber(catalog_events_queue(f"delivery-{vendor}", instance_id), CATALOG_EXCHANGE)
    async def follow_catalog(event: CatalogEvent) -> None:
        await fleet.apply(event)


def subscribe_campaign_decisions(
    broker: RabbitBroker, vendor: str, instance_id: str, held: HeldCampaigns
) -> None:
    """The tenant's pauses, resumes and cancellations, on queues of this worker's own (topic
    wildcards match whole words only, so each kind has its binding, and its queue)."""
    for kind in ("campaign_paused", "campaign_resumed", "campaign_cancelled"):
        queue = instance_queue(f"delivery-{vendor}", kind.replace("_", "-"), f"*.*.{kind}", instance_id)

        @broker.subscriber(queue, STATUS_EXCHANGE)
        async def follow_campaign_decision(event: CampaignEvent) -> None:
            held.apply(event)
