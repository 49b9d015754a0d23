"""What the catalog publishes, declared as FastStream publishers so that its AsyncAPI document says so."""

from dataclasses import dataclass

from faststream.rabbit import RabbitBroker
from faststream.rabbit.publisher import RabbitPublisher

from shared.contracts import CatalogEvent, ProbeRequest
from shared.publishers import contract_publisher
from shared.topology import CATALOG_EXCHANGE, probe_queue

SERVICE = "catalog"


@dataclass(frozen=True)
class CatalogPublishers:
    changes: RabbitPublisher
    """Catalog events, relayed from the outbox; each is published under its own `kind`."""
    probes: RabbitPublisher
    """Declared for the document only: probes are requests that wait for their answer, which
    `shared.rpc.RpcClient` publishes on a connection of its own (`RabbitProber`), not through FastStream."""


def declare_publishers(broker: RabbitBroker) -> CatalogPublishers:
    return CatalogPublishers(
        changes=contract_publisher(
            broker,
            SERVICE,
            "catalog changes",
            CatalogEvent,
            "Every change to servers, plans, tenants and sending policies, from the transactional "
            "outbox, in `event_id` order. Routing key: the event's `kind`.",
            exchange=CATALOG_EXCHANGE,
            routing_key="catalog.<entity>.<change>",
            # An event nobody is bound for yet is not an error: a consumer that starts later reads a
            # snapshot first, so the relay must not stall on an unroutable publish.
            mandatory=False,
        ),
        probes=contract_publisher(
            broker,
            SERVICE,
            "connection probes",
            ProbeRequest,
            "RPC to the vendor's delivery worker: test a server's connection, or send one test message.",
            queue=probe_queue("<vendor>"),
        ),
    )
