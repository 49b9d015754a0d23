"""What the catalog publishes, declared as FastStream publishers so that its AsyncAPI document says so."""

from dataclasses import dataclass

from faststream.rabbit import RabbitBroker
from faststream.rabbit.publisher import RabbitPublisher

from shared.contracts import CatalogEvent, ProbeRequest
from shared.topology import CATALOG_EXCHANGE, probe_queue


@dataclass(frozen=True)
class CatalogPublishers:
    changes: RabbitPublisher
    """Catalog events, relayed from the outbox; each is published under its own `kind`."""
    probes: RabbitPublisher
    """Declared for the document only: probes are requests that wait for their answer, which
    `shared.rpc.RpcClient` publishes on a connection of its own (`RabbitProber`), not through FastStream."""


def declare_publishers(broker: RabbitBroker) -> CatalogPublishers:
    return CatalogPublishers(
        changes=broker.publisher(
            exchange=CATALOG_EXCHANGE,
            routing_key="catalog.<entity>.<change>",
            title="catalog: catalog changes",
            description="Every change to servers, plans, tenants and sending policies, from the transactional "
            "outbox, in `event_id` order. Routing key: the event's `kind`.",
            schema=CatalogEvent,
            persist=True,
            # An event nobody is bound for yet is not an error: a consumer that starts later reads a
            # snapshot first, so the relay must not stall on an unroutable publish.
            mandatory=False,
            content_type="application/json",
        ),
        probes=broker.publisher(
            probe_queue("<vendor>"),
            title="catalog: connection probes",
            description="RPC to the vendor's delivery worker: test a server's connection, or send one test "
            "message.",
            schema=ProbeRequest,
        ),
    )
