"""The catalog on RabbitMQ: connection probes over RPC and change events on sendpool.catalog."""

from aio_pika.exceptions import DeliveryError
from faststream.rabbit.publisher import RabbitPublisher
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from services.catalog.app.ports import Unpublishable
from shared.contracts import CatalogEvent, ProbeRequest, ProbeResult
from shared.limits import CATALOG_EVENT_MAX_BYTES
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
    """Publishes through `CatalogPublishers.changes`, which says how (persistent JSON, not mandatory).

    An event larger than `max_bytes` is `Unpublishable`: RabbitMQ would close the channel on one
    above its `max_message_size`, and the relay would try it again, and fail again, for good."""

    def __init__(self, publisher: RabbitPublisher, max_bytes: int = CATALOG_EVENT_MAX_BYTES) -> None:
        self._publisher = publisher
        self._max_bytes = max_bytes

    async def publish(self, event: CatalogEvent) -> None:
        try:
            body = event.model_dump_json().encode()
        except PydanticSerializationError as exc:
            raise Unpublishable(f"cannot be serialised: {exc}") from exc
        if len(body) > self._max_bytes:
            raise Unpublishable(
                f"{len(body)} bytes, more than the {self._max_bytes} an event may have "
                "(SENDPOOL_CATALOG_OUTBOX_MAX_EVENT_BYTES)"
            )
        await self._publisher.publish(body, routing_key=event.kind.value)
