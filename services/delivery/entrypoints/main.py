"""The delivery worker process: `faststream run --factory services.delivery.entrypoints.main:create_app`."""

from datetime import timedelta
from pathlib import Path

import asyncpg
import structlog

from services.delivery.adapters.catalog import CatalogRpc
from services.delivery.adapters.direct_mx import MxOptions
from services.delivery.adapters.metrics import PrometheusDeliveryMetrics
from services.delivery.adapters.postgres import PostgresAttempts
from services.delivery.adapters.rabbit import RabbitOutbound
from services.delivery.adapters.router_admissions import RouterAdmissionsRpc
from services.delivery.adapters.smtp import SmtpOptions
from services.delivery.adapters.vendors import VendorSenders
from services.delivery.app.deliver import DeliverMessage
from services.delivery.app.fleet import ServerFleet
from services.delivery.app.health import ServerHealth
from services.delivery.app.late_sends import LateSends
from services.delivery.app.probe import ProbeServer
from services.delivery.app.senders import SenderCache
from services.delivery.domain.circuit import CircuitPolicy
from services.delivery.domain.retry import RetryPolicy
from services.delivery.entrypoints.subscribers import (
    ServerQueueConsumers,
    subscribe_catalog_events,
    subscribe_probes,
)
from services.delivery.settings import DeliverySettings
from shared import db, telemetry
from shared.contracts import DeliveryRequested
from shared.messaging import declare_dead_letters, make_broker
from shared.rpc import RpcClient
from shared.service import ServiceApp
from shared.topology import HEALTH_EXCHANGE, SEND_EXCHANGE, STATUS_EXCHANGE

SCHEMA = "delivery"
MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"

log = structlog.get_logger("delivery")


class DeliveryWorker:
    """The worker's parts, wired once; the database is opened when the process starts."""

    def __init__(self, settings: DeliverySettings) -> None:
        self.settings = settings
        self.broker = make_broker(
            settings.amqp_url,
            "delivery",
            prefetch=settings.prefetch,
            message_metrics=settings.message_metrics,
        )
        build_sender = VendorSenders(
            SmtpOptions(
                max_connections=settings.smtp_max_connections,
                timeout_seconds=settings.smtp_timeout_seconds,
                helo_hostname=settings.smtp_helo_hostname,
            ),
            mx=MxOptions(dns_servers=tuple(settings.delivery_dns_servers), port=settings.delivery_mx_port),
        )
        self.rpc = RpcClient(settings.amqp_url, name=f"delivery-{settings.vendor}")
        catalog = CatalogRpc(self.rpc, timeout_seconds=settings.catalog_rpc_timeout_seconds)
        self.senders = SenderCache(catalog, build_sender)
        self.late_sends = LateSends(
            RouterAdmissionsRpc(self.rpc, timeout_seconds=settings.catalog_rpc_timeout_seconds),
            late_after=timedelta(seconds=settings.delivery_late_after_seconds),
        )
        queues = ServerQueueConsumers(self.broker, settings.vendor, self.deliver)
        self.fleet = ServerFleet(settings.vendor, catalog, queues, self.senders)
        self.outbound = RabbitOutbound(self.broker)
        self.metrics = PrometheusDeliveryMetrics(settings.vendor)
        self.health = ServerHealth(
            settings.vendor,
            CircuitPolicy(settings.circuit_failure_threshold, settings.circuit_cooldown_seconds),
            publisher=self.outbound,
            switch=self.fleet,
            senders=self.senders,
            metrics=self.metrics,
        )
        self.probe = ProbeServer(build_sender, verp_secret=settings.verp_secret)
        self._pool: asyncpg.Pool | None = None
        self._attempts: PostgresAttempts | None = None
        self._deliver: DeliverMessage | None = None

    async def deliver(self, request: DeliveryRequested, redelivered: bool) -> None:
        if self._deliver is None:
            raise RuntimeError("a server queue was consumed before the database was opened")
        await self._deliver(request, redelivered=redelivered)

    async def open_database(self) -> None:
        self._pool = await db.open_database(
            self.settings.database_url,
            SCHEMA,
            MIGRATIONS,
            self.settings.db_pool_size,
            wait_seconds=self.settings.startup_database_wait_seconds,
        )
        self._attempts = PostgresAttempts(
            self._pool, record_retry_seconds=self.settings.delivery_record_retry_seconds
        )
        self._deliver = DeliverMessage(
            attempts=self._attempts,
            senders=self.senders,
            outbound=self.outbound,
            retry_policy=RetryPolicy(
                max_attempts=self.settings.delivery_max_attempts,
                base_seconds=self.settings.delivery_retry_base_seconds,
                max_age_seconds=self.settings.delivery_max_age_seconds,
            ),
            gate=self.fleet,
            capacity=self.late_sends,
            health=self.health,
            metrics=self.metrics,
            verp_secret=self.settings.verp_secret,
            sends_per_server=self.settings.delivery_sends_per_server,
        )

    async def start_serving(self) -> None:
        await declare_dead_letters(self.broker)
        await self.broker.declare_exchange(STATUS_EXCHANGE)
        await self.broker.declare_exchange(HEALTH_EXCHANGE)
        # Delay queues dead-letter retries into it; it must exist even before the router declares it.
        await self.broker.declare_exchange(SEND_EXCHANGE)
        await self.fleet.load()

    async def release(self) -> None:
        """After the broker has drained in-flight messages: close SMTP pools and the database."""
        await self.health.close()
        await self.senders.close()
        if self._attempts is not None:
            # Outcomes still waiting for the database are retried until here, through the broker's
            # drain: each one written spares its message a second send.
            await self._attempts.close()
        if self._pool is not None:
            await self._pool.close()
        await self.rpc.close()
        log.info("delivery worker released its SMTP connections and database pool")


def create_app() -> ServiceApp:
    settings = DeliverySettings()
    telemetry.configure(f"delivery-{settings.vendor}", settings.log_level, settings.log_json)
    worker = DeliveryWorker(settings)
    subscribe_probes(worker.broker, settings.vendor, worker.probe)
    subscribe_catalog_events(worker.broker, settings.vendor, worker.fleet)
    return ServiceApp(
        worker.broker,
        database_url=settings.database_url,
        on_startup=[worker.open_database],
        after_startup=[worker.start_serving],
        after_shutdown=[worker.release],
    )
