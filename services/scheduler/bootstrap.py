"""The scheduler's composition root: everything the process runs, built from its settings.

`bootstrap` does no I/O and needs no event loop (documentation generators call it too); the
`SchedulerRuntime` hooks, run by the process's lifecycle, reach PostgreSQL and RabbitMQ.
"""

from dataclasses import dataclass

import structlog
from fastapi import FastAPI
from faststream.rabbit import RabbitBroker

from services.scheduler.adapters.catalog import CatalogSenders
from services.scheduler.adapters.metrics import PrometheusSchedulerMetrics
from services.scheduler.adapters.postgres import MIGRATIONS, OUTBOX_CHANNEL, SCHEMA, PostgresStore
from services.scheduler.adapters.publishers import declare_publishers
from services.scheduler.adapters.rabbit import (
    RabbitCampaignEventPublisher,
    RabbitSendPublisher,
    declare_topology,
)
from services.scheduler.app.campaigns import Campaigns
from services.scheduler.app.completion import RunCompletion
from services.scheduler.app.control import CampaignControl
from services.scheduler.app.expansion import Expander, ExpansionSupervisor
from services.scheduler.app.lists import RecipientLists
from services.scheduler.app.ports import ExpansionLease
from services.scheduler.app.progress import ProgressReporter
from services.scheduler.app.running import RunningCampaigns
from services.scheduler.app.stale import StaleMessageSweeper
from services.scheduler.app.statuses import StatusFolding
from services.scheduler.entrypoints.http import create_http_api
from services.scheduler.entrypoints.rpc import register_rpc
from services.scheduler.entrypoints.subscribers import register_subscribers
from services.scheduler.settings import SchedulerSettings
from shared.auth import (
    REVOCATIONS_RPC_TIMEOUT_SECONDS,
    RevokedTokens,
    follow_revocations,
    revocations_from_catalog,
)
from shared.background import BackgroundTasks
from shared.db import Database
from shared.messaging import service_broker
from shared.outbox import OutboxRelay
from shared.rpc import RpcClient
from shared.suppression import SuppressionClient

log = structlog.get_logger("scheduler")


@dataclass(frozen=True)
class SchedulerRuntime:
    settings: SchedulerSettings
    broker: RabbitBroker
    database: Database
    http_api: FastAPI
    expansions: ExpansionSupervisor
    stale_messages: StaleMessageSweeper
    control: CampaignControl
    """Starts scheduled campaigns at their time (`start_due`, swept by every replica)."""
    progress: ProgressReporter
    """Publishes each running campaign's `campaign_progress` every interval (one replica per campaign)."""
    running_campaigns: RunningCampaigns
    """Reads the running campaigns as a whole for the metrics, every interval (every replica)."""
    outbox_relay: OutboxRelay
    """Publishes `campaign_resumed` and `campaign_completed` from the outbox, once committed."""
    background: BackgroundTasks
    revoked_tokens: RevokedTokens
    """Asked of the catalog as the process starts, then kept current by its events."""
    rpc: RpcClient
    """Asks the catalog (revoked tokens, a campaign's servers and From domains) and the bounces service
    (suppression checks)."""

    async def open(self) -> None:
        """Before the broker starts consuming: handlers need the tables, and publishes need the topology."""
        await self.database.open()
        await self.broker.connect()
        await declare_topology(self.broker)
        log.info(
            "scheduler ready",
            expand_batch_size=self.settings.expand_batch_size,
            send_batch_size=self.settings.send_batch_size,
        )

    async def start(self) -> None:
        """Once consuming: the revoked tokens, the outbox relay and the periodic sweeps."""
        self.revoked_tokens.start_loading(
            revocations_from_catalog(self.rpc, timeout_seconds=REVOCATIONS_RPC_TIMEOUT_SECONDS)
        )
        self.outbox_relay.start()
        self.background.repeat(
            "scheduler-stale-messages",
            self.stale_messages.sweep,
            every_seconds=self.settings.stale_sweep_seconds,
        )
        # Runs left half expanded by a replica that died or stopped, taken over once their lease ran out.
        self.background.repeat(
            "scheduler-expansion-sweep",
            self.expansions.start_unfinished,
            every_seconds=self.settings.expansion_sweep_seconds,
        )
        # Scheduled campaigns whose time has come; their send_at is in the database, so a restart keeps it.
        self.background.repeat(
            "scheduler-scheduled-campaigns",
            self.control.start_due,
            every_seconds=self.settings.schedule_sweep_seconds,
        )
        self.background.repeat(
            "scheduler-campaign-progress",
            self.progress.tick,
            every_seconds=self.settings.progress_interval_seconds,
        )
        self.background.repeat(
            "scheduler-campaign-metrics",
            self.running_campaigns.report,
            every_seconds=self.settings.campaign_metrics_interval_seconds,
        )

    async def stop(self) -> None:
        await self.revoked_tokens.stop()
        await self.background.stop()
        await self.outbox_relay.stop()
        await self.expansions.stop()

    async def close(self) -> None:
        """After the consumers stopped."""
        await self.rpc.close()
        await self.database.close()


def bootstrap(settings: SchedulerSettings) -> SchedulerRuntime:
    broker = service_broker(settings, SCHEMA)
    publishers = declare_publishers(broker)
    database = Database.for_service(settings, SCHEMA, MIGRATIONS)
    store = PostgresStore(database)
    send_publisher = RabbitSendPublisher(publishers.send_requests)
    metrics = PrometheusSchedulerMetrics()

    completion = RunCompletion(store, metrics)
    rpc = RpcClient(settings.amqp_url, name=SCHEMA)
    lease = ExpansionLease(
        holder=f"scheduler-{settings.instance_id}", seconds=settings.expansion_lease_seconds
    )
    expander = Expander(
        store,
        send_publisher,
        completion,
        SuppressionClient(rpc, timeout_seconds=settings.suppression_check_timeout_seconds),
        batch_size=settings.expand_batch_size,
        send_batch_size=settings.send_batch_size,
        lease=lease,
    )
    expansions = ExpansionSupervisor(expander, store, retry_pause=settings.expansion_retry_seconds)
    campaigns = Campaigns(store, expansions, completion, metrics)
    control = CampaignControl(
        store,
        expansions,
        completion,
        metrics,
        CatalogSenders(rpc, timeout_seconds=settings.catalog_timeout_seconds),
    )
    statuses = StatusFolding(
        store,
        completion,
        metrics,
        max_items=settings.status_batch_size,
        max_wait=settings.status_batch_wait_seconds,
    )
    register_subscribers(broker, statuses, campaigns, prefetch=settings.status_prefetch)
    register_rpc(broker, campaigns)
    revoked_tokens = RevokedTokens()
    follow_revocations(broker, SCHEMA, settings.instance_id, revoked_tokens)

    return SchedulerRuntime(
        settings=settings,
        broker=broker,
        database=database,
        http_api=create_http_api(
            settings,
            RecipientLists(store, max_recipients=settings.list_max_recipients),
            campaigns,
            revoked_tokens,
            control,
        ),
        expansions=expansions,
        control=control,
        stale_messages=StaleMessageSweeper(
            store,
            send_publisher,
            metrics,
            quiet_seconds=settings.stale_after_seconds,
            routed_quiet_seconds=settings.stale_routed_after_seconds,
            send_batch_size=settings.send_batch_size,
        ),
        outbox_relay=OutboxRelay(database, publishers.campaign_events, schema=SCHEMA, channel=OUTBOX_CHANNEL),
        progress=ProgressReporter(
            store,
            RabbitCampaignEventPublisher(publishers.campaign_events),
            every_seconds=settings.progress_interval_seconds,
        ),
        running_campaigns=RunningCampaigns(
            store, metrics, stalled_after_seconds=settings.stalled_after_seconds
        ),
        background=BackgroundTasks(),
        revoked_tokens=revoked_tokens,
        rpc=rpc,
    )
