"""The webhooks service's composition root: everything the process runs, built from its settings.

`bootstrap` does no I/O and needs no event loop (documentation generators call it too);
`WebhooksRuntime.open` and `close`, run by the process's lifecycle, reach PostgreSQL and RabbitMQ.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from fastapi import FastAPI
from faststream.rabbit import RabbitBroker

from services.webhooks.adapters.destinations import EgressDestinationCheck
from services.webhooks.adapters.http_client import HttpWebhookClient
from services.webhooks.adapters.postgres import PgWebhookStore
from services.webhooks.adapters.rabbit import RabbitStreamSubscriptions
from services.webhooks.adapters.secret_box import FernetSecretBox
from services.webhooks.app.endpoints import EndpointRules, Endpoints
from services.webhooks.app.ingest import IngestEvents
from services.webhooks.app.sender import Sender, SenderPolicy
from services.webhooks.app.subscriptions import ReconcileSubscriptions
from services.webhooks.entrypoints.http import create_http_api
from services.webhooks.entrypoints.subscribers import EVENTS_QUEUE, subscribe
from services.webhooks.settings import WebhooksSettings
from shared.auth import (
    REVOCATIONS_RPC_TIMEOUT_SECONDS,
    RevokedTokens,
    follow_revocations,
    revocations_from_catalog,
)
from shared.background import BackgroundTasks
from shared.db import Database
from shared.messaging import declare_dead_letters, service_broker
from shared.rpc import RpcClient

SCHEMA = "webhooks"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

log = structlog.get_logger("webhooks")


@dataclass(frozen=True)
class WebhooksRuntime:
    broker: RabbitBroker
    database: Database
    store: PgWebhookStore
    sender: Sender
    """Sends each due endpoint its pending events, in the background."""
    client: HttpWebhookClient
    catalog_rpc: RpcClient
    background: BackgroundTasks
    settings: WebhooksSettings
    http_api: FastAPI
    revoked_tokens: RevokedTokens
    reconcile_subscriptions: ReconcileSubscriptions
    """At start-up: the events queue bound to every tenant with endpoints, and to nothing else."""

    async def open(self) -> None:
        """Before the consumer starts: wait for PostgreSQL, migrate, open the pool."""
        await self.database.open()

    async def start(self) -> None:
        await declare_dead_letters(self.broker)
        await self.reconcile_subscriptions()
        self.revoked_tokens.start_loading(
            revocations_from_catalog(self.catalog_rpc, timeout_seconds=REVOCATIONS_RPC_TIMEOUT_SECONDS)
        )
        self.background.run("webhooks-sender", self.sender.run)
        self.background.repeat("webhooks-pruning", self.prune, every_seconds=self.settings.prune_seconds)

    async def prune(self) -> None:
        now = datetime.now(UTC)
        events, entries = await self.store.prune(
            events_before=now - timedelta(days=self.settings.event_retention_days),
            log_before=now - timedelta(days=self.settings.delivery_log_retention_days),
        )
        if events or entries:
            log.info("old webhook events and log entries deleted", events=events, log_entries=entries)

    async def stop(self) -> None:
        await self.revoked_tokens.stop()
        await self.background.stop()
        await self.sender.stop()

    async def close(self) -> None:
        await self.client.close()
        await self.catalog_rpc.close()
        await self.database.close()


def bootstrap(settings: WebhooksSettings) -> WebhooksRuntime:
    broker = service_broker(settings, SCHEMA)
    database = Database.for_service(settings, SCHEMA, MIGRATIONS)
    store = PgWebhookStore(database)
    secrets = FernetSecretBox(settings.secret_keys)
    subscriptions = RabbitStreamSubscriptions(broker, EVENTS_QUEUE)
    policy = settings.egress_policy
    client = HttpWebhookClient(
        policy,
        tls_ca_file=str(settings.tls_ca_file) if settings.tls_ca_file else None,
        timeout_seconds=settings.request_timeout_seconds,
        response_max_bytes=settings.response_max_bytes,
        max_connections=settings.concurrency,
    )
    sender = Sender(
        store,
        client,
        secrets,
        SenderPolicy(
            concurrency=settings.concurrency,
            tenant_cap=settings.tenant_concurrency,
            batch_max_events=settings.batch_max_events,
            request_timeout_seconds=settings.request_timeout_seconds,
            retry_base_seconds=settings.retry_base_seconds,
            retry_max_seconds=settings.retry_max_seconds,
            disable_after=timedelta(hours=settings.disable_after_hours),
            poll_seconds=settings.poll_seconds,
        ),
    )
    endpoints = Endpoints(
        store,
        secrets,
        EgressDestinationCheck(policy),
        subscriptions,
        EndpointRules(
            max_per_tenant=settings.max_endpoints_per_tenant,
            url_max_length=settings.url_max_length,
            allow_http=settings.allow_http,
            secret_grace=timedelta(hours=settings.secret_grace_hours),
            replay_max_events=settings.replay_max_events,
        ),
    )
    subscribe(broker, IngestEvents(store, sender.wake), prefetch=settings.events_prefetch)
    catalog_rpc = RpcClient(settings.amqp_url, name="webhooks")
    revoked_tokens = RevokedTokens()
    follow_revocations(broker, SCHEMA, settings.instance_id, revoked_tokens)
    return WebhooksRuntime(
        broker,
        database,
        store,
        sender,
        client,
        catalog_rpc,
        BackgroundTasks(),
        settings,
        create_http_api(settings, endpoints, revoked_tokens),
        revoked_tokens,
        ReconcileSubscriptions(store, subscriptions),
    )
