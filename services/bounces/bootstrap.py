"""The bounces service's composition root: everything the process runs, built from its settings.

`bootstrap` does no I/O and needs no event loop (documentation generators call it too);
`BouncesRuntime.open` and `close`, run by the process's lifecycle, reach PostgreSQL and RabbitMQ.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from faststream.rabbit import RabbitBroker

from services.bounces.adapters.catalog_servers import CatalogServers
from services.bounces.adapters.counter_store import PgCounterStore
from services.bounces.adapters.feedback_store import OUTBOX_CHANNEL, PgFeedbackStore, PgSentMessages
from services.bounces.adapters.publishers import feedback_status_publisher
from services.bounces.adapters.smtp_intake import SmtpListener
from services.bounces.adapters.suppression_store import PgFeedbackViews, PgSuppressionStore
from services.bounces.adapters.webhook_servers import CatalogWebhookServers
from services.bounces.adapters.webhook_sns import SnsHttpClient
from services.bounces.app.counters import RecordOutcomes
from services.bounces.app.feedback import (
    FeedbackPolicy,
    PruneFeedback,
    ReclassifyFeedback,
    RematchFeedback,
    TakeFeedback,
)
from services.bounces.app.protection import ServerProtection, WatchedCounters
from services.bounces.app.review import FeedbackReview
from services.bounces.app.sent import PruneSent, RememberSent
from services.bounces.app.suppressions import SuppressionLists
from services.bounces.app.unsubscribe import OneClickUnsubscribe
from services.bounces.app.webhooks import ReceiveWebhook
from services.bounces.entrypoints.http import BouncesUseCases, create_http_api
from services.bounces.entrypoints.rpc import register_rpc
from services.bounces.entrypoints.smtp import BounceMailHandler
from services.bounces.entrypoints.subscribers import bind_counted_statuses, subscribe
from services.bounces.settings import BouncesSettings
from shared.auth import (
    REVOCATIONS_RPC_TIMEOUT_SECONDS,
    RevokedTokens,
    follow_revocations,
    revocations_from_catalog,
)
from shared.background import BackgroundTasks
from shared.batching import Batcher
from shared.contracts import StatusEvent
from shared.db import Database
from shared.messaging import declare_dead_letters, service_broker
from shared.outbox import OutboxRelay
from shared.rpc import RpcClient

SCHEMA = "bounces"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

OUTCOME_PRUNING_SECONDS = 600.0
"""How often counters older than the rate window are deleted: a few rows per server and hour."""


@dataclass(frozen=True)
class BouncesRuntime:
    broker: RabbitBroker
    database: Database
    counters: PgCounterStore
    record_outcomes: Batcher[Sequence[StatusEvent], None]
    """`RecordOutcomes`, one database write for the events of the status messages in hand."""
    protection: ServerProtection
    """Pauses servers past their bounce or complaint limits; reports their rates to the catalog."""
    catalog_rpc: RpcClient
    background: BackgroundTasks
    settings: BouncesSettings
    http_api: FastAPI
    """Suppression lists, feedback, the audit log and the vendor webhooks."""
    smtp: SmtpListener
    """The bounce mail endpoint, listening from `start` to `stop`."""
    outbox_relay: OutboxRelay
    """Publishes the `bounced` and `complained` status events feedback caused, once committed."""
    revoked_tokens: RevokedTokens
    prune_sent: PruneSent
    prune_feedback: PruneFeedback
    rematch: RematchFeedback
    sns: SnsHttpClient
    """Fetches SNS signing certificates and confirms subscriptions for the SES webhooks."""

    async def open(self) -> None:
        """Before the consumers start: wait for PostgreSQL, migrate, open the pool."""
        await self.database.open()

    async def start(self) -> None:
        """Once the broker is connected: the dead-letter queue and the status queue's bindings."""
        await declare_dead_letters(self.broker)
        await bind_counted_statuses(self.broker)
        self.revoked_tokens.start_loading(
            revocations_from_catalog(self.catalog_rpc, timeout_seconds=REVOCATIONS_RPC_TIMEOUT_SECONDS)
        )
        self.outbox_relay.start()
        await self.smtp.start()
        self.background.repeat(
            "bounces-sent-pruning", self.prune_sent, every_seconds=self.settings.sent_prune_seconds
        )
        self.background.repeat(
            "bounces-feedback-pruning", self.prune_feedback, every_seconds=self.settings.sent_prune_seconds
        )
        if self.settings.rematch_window_seconds > 0:
            self.background.repeat(
                "bounces-rematch", self.rematch, every_seconds=self.settings.rematch_seconds
            )
        self.background.repeat(
            "bounces-server-protection", self.protection.evaluate, every_seconds=self.protection.every_seconds
        )
        self.background.repeat(
            "bounces-outcome-pruning", self.protection.prune, every_seconds=OUTCOME_PRUNING_SECONDS
        )

    async def stop(self) -> None:
        """The background rounds stop; the consumers are drained by the broker itself."""
        await self.smtp.stop()
        await self.revoked_tokens.stop()
        await self.background.stop()
        await self.outbox_relay.stop()

    async def close(self) -> None:
        """After the consumers stopped (each waited for its own write)."""
        await self.catalog_rpc.close()
        await self.sns.close()
        await self.database.close()


def bootstrap(settings: BouncesSettings) -> BouncesRuntime:
    broker = service_broker(settings, SCHEMA)
    database = Database.for_service(settings, SCHEMA, MIGRATIONS)
    counters = PgCounterStore(database)
    catalog_rpc = RpcClient(settings.amqp_url, name="bounces")
    catalog = CatalogServers(
        catalog_rpc,
        broker,
        view_seconds=settings.protection_catalog_view_seconds,
        timeout_seconds=settings.protection_catalog_timeout_seconds,
        report_expiry_seconds=settings.reputation_report_seconds,
    )
    protection = ServerProtection(
        counters,
        catalog,
        window_hours=settings.rate_window_hours,
        report_every_seconds=settings.reputation_report_seconds,
        every_seconds=settings.protection_interval_seconds,
    )
    sent_messages = PgSentMessages(database)
    record_outcomes: Batcher[Sequence[StatusEvent], None] = Batcher(
        RememberSent(sent_messages, RecordOutcomes(WatchedCounters(counters, protection))),
        max_items=settings.counter_batch_size,
    )
    feedback_store = PgFeedbackStore(database)
    policy = FeedbackPolicy(
        soft_bounce_limit=settings.soft_bounce_limit,
        soft_window=timedelta(days=settings.soft_window_days),
        soft_suppression_days=settings.soft_suppression_days,
        raw_max_bytes=settings.raw_max_bytes,
    )
    take_feedback = TakeFeedback(feedback_store, policy)
    suppression_store = PgSuppressionStore(database)
    suppressions = SuppressionLists(suppression_store)
    sns = SnsHttpClient(
        settings.egress_policy, tls_ca_file=str(settings.tls_ca_file) if settings.tls_ca_file else None
    )
    register_rpc(broker, suppressions)
    revoked_tokens = RevokedTokens()
    follow_revocations(broker, SCHEMA, settings.instance_id, revoked_tokens)
    use_cases = BouncesUseCases(
        suppressions=suppressions,
        review=FeedbackReview(PgFeedbackViews(database)),
        reclassify=ReclassifyFeedback(feedback_store, counters, policy),
        feedback_intake=take_feedback,
        receive_webhook=ReceiveWebhook(
            CatalogWebhookServers(
                catalog_rpc,
                timeout_seconds=settings.webhook_catalog_timeout_seconds,
                cache_seconds=settings.webhook_server_cache_seconds,
            ),
            sns,
            sns_cert_hosts=settings.sns_cert_hosts,
            tolerance_seconds=settings.webhook_timestamp_tolerance_seconds,
        ),
        unsubscribe=OneClickUnsubscribe(suppression_store, settings.unsubscribe_secrets),
    )
    smtp = SmtpListener(
        BounceMailHandler(
            take_feedback, verp_secret=settings.verp_secret, max_recipients=settings.smtp_max_recipients
        ),
        host=settings.smtp_host,
        port=settings.smtp_port,
        hostname=settings.smtp_hostname,
        data_size_limit=settings.mail_max_bytes,
        max_sessions=settings.smtp_max_sessions,
        timeout_seconds=settings.smtp_timeout_seconds,
        session_max_seconds=settings.smtp_session_max_seconds,
    )
    subscribe(broker, record_outcomes, prefetch=settings.status_prefetch)
    return BouncesRuntime(
        broker,
        database,
        counters,
        record_outcomes,
        protection,
        catalog_rpc,
        BackgroundTasks(),
        settings,
        create_http_api(settings, use_cases, revoked_tokens),
        smtp,
        OutboxRelay(database, feedback_status_publisher(broker), schema=SCHEMA, channel=OUTBOX_CHANNEL),
        revoked_tokens,
        PruneSent(sent_messages, timedelta(days=settings.sent_retention_days)),
        PruneFeedback(feedback_store, timedelta(days=settings.feedback_retention_days)),
        RematchFeedback(feedback_store, policy, window=timedelta(seconds=settings.rematch_window_seconds)),
        sns,
    )
