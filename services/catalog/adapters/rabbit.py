"""The catalog on RabbitMQ: connection probes over RPC and change events on sendpool.catalog."""

from aio_pika.exceptions import DeliveryError
from faststream.rabbit.publisher import RabbitPublisher
from pydantic import ValidationError

from shared.contracts import CatalogEvent, ProbeRequest, ProbeResult
from shared.rpc import RpcClient
from shared.topology import probe_queue


class RabbitProber:
    """Asks `delivery.probe.<vendor>` and waits for the worker's answer; silence is a failed test.

    Through `RpcClient`, so the tests of several servers run side by side: one that waits for an
    unreachable server holds up no other."""

    def __init__(self, rpc: RpcClient, timeout_seconds: float) -> None:
        self._rpc = rpc
        self._timeout = timeout_seconds

    async def probe(self, vendor: str, request: ProbeRequest) -> ProbeResult:
        queue = probe_queue(vendor).name
        try:
            reply = await self._rpc.request(
                request.model_dump_json().encode(),
                queue=queue,
                timeout=self._timeout,
                # A probe nobody took in time must not be run later, when nobody waits for it.
                expiration=self._timeout,
            )
        except TimeoutError:
            return ProbeResult(
                ok=False, message=f"no delivery worker for vendor {vendor} answered within {self._timeout:g}s"
            )
        except DeliveryError:  # returned unroutable: no worker ever declared the vendor's probe queue
            return ProbeResult(
                ok=False, message=f"no delivery worker for vendor {vendor} is running (no queue {queue})"
            )
        try:
            return ProbeResult.model_validate_json(reply)
        except ValidationError:
            return ProbeResult(
                ok=False, message=f"the delivery worker for vendor {vendor} sent an unreadable answer"
            )


class RabbitEventPublisher:
    """Publishes through `CatalogPublishers.changes`, which says how (persistent JSON, not mandatory)."""

    def __init__(self, publisher: RabbitPublisher) -> None:
        self._publisher = publisher

    async def publish(self, event: CatalogEvent) -> None:
        await self._publisher.publish(event.model_dump_json().encode(), routing_key=event.kind.value)
