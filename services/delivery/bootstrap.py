"""The delivery worker's composition root: everything the process runs, built from its settings.

`bootstrap` does no I/O and needs no event loop (documentation generators call it too); the
`DeliveryRuntime` hooks, run by the process's lifecycle, reach PostgreSQL, RabbitMQ and the
catalog.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import structlog
from faststream.rabbit import RabbitBroker

from services.delivery.adapters.catalog import CatalogRpc
from services.delivery.adapters.direct_mx import MxOptions
from services.delivery.adapters.metrics import PrometheusDeliveryMetrics
from services.delivery.adapters.postgres import PostgresAttempts
from services.delivery.adapters.publishers import DeliveryPublishers, declare_publishers
from services.delivery.adapters.rabbit import RabbitOutbound
from services.delivery.adapters.router_admissions import RouterAdmissionsRpc
from services.delivery.adapters.router_holds import RouterCampaignHoldsRpc
from services.delivery.adapters.smtp import SmtpOptions
from services.delivery.adapters.vendors import VendorSenders
from services.delivery.app.campaign_holds import HeldCampaigns, load_held_campaigns
from services.delivery.app.deliver import DeliverMessage
from services.delivery.app.fleet import ServerFleet
from services.delivery.app.health import ServerHealth
from services.delivery.app.late_sends import LateSends
from services.delivery.app.probe import ProbeServer
from services.delivery.app.sender_cache import SenderCache
from services.delivery.app.suppression import SuppressionScreen
from services.delivery.domain.circuit import CircuitPolicy
from services.delivery.domain.retry import RetryPolicy
from services.delivery.domain.unsubscribe_links import UnsubscribeLinks
from services.delivery.entrypoints.subscribers import (
    subscribe_campaign_decisions,
    subscribe_catalog_events,
    subscribe_probes,
)
from services.delivery.settings import DeliverySettings
from shared.background import BackgroundTasks
from shared.contracts import DeliveryRequested
from shared.db import Database
from shared.messaging import declare_dead_letters, service_broker
from shared.readiness import StartupGate
from shared.rpc import RpcClient
from shared.server_queues import ServerQueueConsumers
from shared.suppression import SuppressionClient
from shared.topology import HEALTH_EXCHANGE, SEND_EXCHANGE, STATUS_EXCHANGE

SCHEMA = "delivery"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

log = structlog.get_logger("delivery")


@dataclass(frozen=True)
class DeliveryRuntime:
    broker: RabbitBroker
    database: Database
    publishers: DeliveryPublishers
    rpc: RpcClient
    """Asks the catalog (snapshot, a server's settings), the routers (admissions) and the bounces service
    (suppression checks), each answer awaited beside the others."""
    senders: SenderCache
    fleet: ServerFleet
    """Follows the catalog and consumes the queue of each of the vendor's servers that may send."""
    queues: ServerQueueConsumers
    health: ServerHealth
    attempts: PostgresAttempts
    deliver: DeliverMessage
    probe: ProbeServer
    held_campaigns: HeldCampaigns = field(default_factory=HeldCampaigns)
    """The campaigns paused or cancelled: their queued messages are not sent (`app.campaign_holds`)."""
    fetch_held_campaigns: RouterCampaignHoldsRpc | None = None
    background: BackgroundTasks = field(default_factory=BackgroundTasks)
    startup: StartupGate = field(
        default_factory=lambda: StartupGate(
            catalog_snapshot="not loaded yet (asking the catalog on catalog.rpc)"
        )
    )
    """`/readyz` waits for the catalog's snapshot: until then the worker knows none of its servers."""
    http_api: None = None
    """No HTTP API beside the probes."""

    async def open(self) -> None:
        """Before anything is consumed: wait for PostgreSQL, migrate, open the pool."""
        await self.database.open()

    async def start(self) -> None:
        """Once the broker is connected: the exchanges it publishes to, then the servers' queues."""
        await declare_dead_letters(self.broker)
        await self.broker.declare_exchange(STATUS_EXCHANGE)
        await self.broker.declare_exchange(HEALTH_EXCHANGE)
        # Delay queues dead-letter retries into it; it must exist even before the router declares it.
        await self.broker.declare_exchange(SEND_EXCHANGE)
        # Before the servers' queues: a paused campaign's queued messages must not go out meanwhile.
        # Its events are consumed already, so a decision made while a router answers is not missed.
        if self.fetch_held_campaigns is not None:
            fetch = self.fetch_held_campaigns
            if not await load_held_campaigns(self.held_campaigns, fetch, attempts=3):
                self.background.repeat(
                    "delivery-campaign-holds",
                    lambda: self._keep_loading_held_campaigns(fetch),
                    every_seconds=5.0,
                )
        await self.fleet.load()
        self.startup.done("catalog_snapshot")

    async def _keep_loading_held_campaigns(self, fetch: RouterCampaignHoldsRpc) -> None:
        if not self.held_campaigns.loaded:
            await load_held_campaigns(self.held_campaigns, fetch, attempts=1)

    async def stop(self) -> None:
        """The consumers are drained by the broker itself; only the background asking stops here."""
        await self.background.stop()

    async def close(self) -> None:
        """After the broker has drained in-flight messages: close SMTP pools and the database."""
        await self.health.close()
        await self.senders.close()
        # Outcomes still waiting for the database are retried until here, through the broker's
        # drain: each one written spares its message a second send.
        await self.attempts.close()
        await self.database.close()
        await self.rpc.close()
        log.info("delivery worker released its SMTP connections and database pool")


def bootstrap(settings: DeliverySettings) -> DeliveryRuntime:
    broker = service_broker(settings, SCHEMA)
    # Claims and outcome records keep nothing in a session: no full reset of a connection on every release.
    database = Database.for_service(settings, SCHEMA, MIGRATIONS, stateless_sessions=True)
    build_sender = VendorSenders(
        SmtpOptions(
            max_connections=settings.smtp_max_connections,
            timeout_seconds=settings.smtp_timeout_seconds,
            helo_hostname=settings.smtp_helo_hostname,
            egress=settings.egress_policy,
            tls_ca_file=str(settings.tls_ca_file) if settings.tls_ca_file else None,
        ),
        mx=MxOptions(dns_servers=tuple(settings.dns_servers), port=settings.mx_port),
        sendmail_path=settings.sendmail_path,
    )
    rpc = RpcClient(settings.amqp_url, name=f"delivery-{settings.vendor}")
    catalog = CatalogRpc(
        rpc,
        snapshot_timeout_seconds=settings.catalog_snapshot_timeout_seconds,
        server_settings_timeout_seconds=settings.server_settings_timeout_seconds,
    )
    senders = SenderCache(catalog, build_sender)
    suppression = SuppressionClient(rpc, timeout_seconds=settings.suppression_check_timeout_seconds)

    # The server queues hand their messages to `deliver`, which needs the fleet that starts and
    # stops those queues: the handler names it before it is built. It is first called once the
    # broker runs, long after this function returned.
    # A queue carries batches of recipients: `deliver` is called for each recipient of a batch at
    # once, and takes turns per server (`sends_per_server`) over the server's pooled connections.
    async def deliver_from_queue(server_id: UUID, request: DeliveryRequested, redelivered: bool) -> None:
        await deliver(request, redelivered=redelivered)

    async def deliver_suppressed(request: DeliveryRequested, reason: str, redelivered: bool) -> None:
        await deliver.settle_suppressed(request, reason, redelivered=redelivered)

    metrics = PrometheusDeliveryMetrics(settings.vendor)
    # Each batch is asked about once before its recipients reach `deliver` (`SuppressionScreen`).
    queues = ServerQueueConsumers(
        broker,
        deliver_from_queue,
        purpose="delivery",
        prefetch=settings.batch_prefetch,
        screen=SuppressionScreen(suppression, deliver_suppressed),
        taken=metrics.batch_taken,
    )
    fleet = ServerFleet(settings.vendor, catalog, queues, senders)
    publishers = declare_publishers(broker)
    outbound = RabbitOutbound(broker, publishers, status_linger=settings.status_linger_seconds)
    health = ServerHealth(
        settings.vendor,
        CircuitPolicy(settings.circuit_failure_threshold, settings.circuit_cooldown_seconds),
        publisher=outbound,
        switch=fleet,
        senders=senders,
        metrics=metrics,
    )
    attempts = PostgresAttempts(database, record_retry_seconds=settings.record_retry_seconds)
    held_campaigns = HeldCampaigns()
    deliver = DeliverMessage(
        attempts=attempts,
        senders=senders,
        outbound=outbound,
        retry_policy=RetryPolicy(
            max_attempts=settings.max_attempts,
            base_seconds=settings.retry_base_seconds,
            max_age_seconds=settings.max_age_seconds,
        ),
        gate=fleet,
        capacity=LateSends(
            RouterAdmissionsRpc(rpc, timeout_seconds=settings.admission_timeout_seconds),
            late_after=timedelta(seconds=settings.late_after_seconds),
        ),
        health=health,
        metrics=metrics,
        suppression=suppression,
        verp_secret=settings.verp_secret,
        sends_per_server=settings.sends_per_server,
        unsubscribe=UnsubscribeLinks(settings.unsubscribe_base_url or "", settings.unsubscribe_secret),
        campaigns=held_campaigns,
    )
    probe = ProbeServer(catalog, build_sender, verp_secret=settings.verp_secret)
    subscribe_probes(broker, settings.vendor, probe)
    subscribe_catalog_events(broker, settings.vendor, settings.instance_id, fleet)
    subscribe_campaign_decisions(broker, settings.vendor, settings.instance_id, held_campaigns)
    return DeliveryRuntime(
        broker=broker,
        database=database,
        publishers=publishers,
        rpc=rpc,
        senders=senders,
        fleet=fleet,
        queues=queues,
        health=health,
        attempts=attempts,
        deliver=deliver,
        probe=probe,
        held_campaigns=held_campaigns,
        fetch_held_campaigns=RouterCampaignHoldsRpc(
            rpc, timeout_seconds=settings.campaign_holds_timeout_seconds
        ),
    )
