"""What the suppression check costs expansion: a run of N recipients expanded with the check asked of a
responder on `bounces.rpc` (one round trip per expansion batch), and without it (an answer of
"nothing suppressed" given in process, which is what expansion did before the check). Real PostgreSQL
and RabbitMQ; the scheduler's expander in process, as the service builds it.

    python3 -m uv run python -m tests.integration.scheduler.measure_suppression_check \
        [--recipients 100000] [--batch 500] [--suppressed-share 0.02]

Prints, for each variant, the time to expand the run and the rate in recipients per second.
"""

import argparse
import asyncio
import logging
import os
import time
from collections.abc import Sequence
from uuid import UUID, uuid4

import structlog

from services.scheduler.adapters.metrics import PrometheusSchedulerMetrics
from services.scheduler.adapters.postgres import MIGRATIONS, SCHEMA, PostgresStore
from services.scheduler.adapters.publishers import declare_publishers
from services.scheduler.adapters.rabbit import RabbitSendPublisher, declare_topology
from services.scheduler.app.completion import RunCompletion
from services.scheduler.app.expansion import Expander
from services.scheduler.app.ports import ExpansionLease, SuppressionList
from services.scheduler.domain.campaign import CampaignState, RunState
from services.scheduler.domain.recipients import NewRecipient
from services.scheduler.settings import SchedulerSettings
from shared.contracts import MessageContent
from shared.db import Database
from shared.messaging import service_broker
from shared.rpc import RpcClient
from shared.suppression import SuppressionClient
from tests.support.infra import create_database, create_vhost, delete_vhost, drop_database
from tests.support.suppression_responder import suppression_responder

CONTENT = MessageContent(from_address="news@shop.example", subject="Spring sale", text="Hello")


class NothingSuppressed:
    """Expansion as it was before the check: no question asked."""

    async def suppressed(self, tenant_id: UUID, addresses: Sequence[str]) -> dict[str, str]:
        return {}


async def expand_once(
    store: PostgresStore, expander_of, suppression: SuppressionList, tenant: UUID, list_id: UUID
) -> float:
    async with store.transaction() as repo:
        campaign = await repo.create_campaign(tenant, "measure", list_id, CONTENT)
        snapshot = await repo.snapshot_list(list_id)
        run = await repo.create_run(campaign.id, RunState.EXPANDING, snapshot)
        await repo.set_campaign_state(campaign.id, CampaignState.RUNNING, stop_reason=None)
    started = time.perf_counter()
    await expander_of(suppression).expand(run.id)
    took = time.perf_counter() - started
    async with store.transaction() as repo:
        counts = await repo.status_counts(run.id)
    print(f"    counts: {counts}")
    return took


async def measure(recipients: int, batch: int, suppressed_share: float) -> None:
    database_url, amqp_url = create_database("sendpool_measure"), create_vhost("sendpool-measure")
    os.environ.setdefault("SENDPOOL_TOKEN_SECRET", "measure-token-secret")
    os.environ.setdefault("SENDPOOL_OPERATOR_TOKEN", "measure-operator-token")
    settings = SchedulerSettings(database_url=database_url, amqp_url=amqp_url, expand_batch_size=batch)
    broker = service_broker(settings, SCHEMA)
    publishers = declare_publishers(broker)
    database = Database.for_service(settings, SCHEMA, MIGRATIONS)
    rpc = RpcClient(amqp_url, name="measure")
    try:
        await database.open()
        await broker.connect()
        await declare_topology(broker)
        store = PostgresStore(database)
        tenant = uuid4()
        async with store.transaction() as repo:
            recipient_list = await repo.create_list(tenant, "measure")
            for start in range(0, recipients, 10_000):
                await repo.add_recipients(
                    recipient_list.id,
                    [
                        NewRecipient(f"user{i}@example.com", "")
                        for i in range(start, min(recipients, start + 10_000))
                    ],
                )
        metrics = PrometheusSchedulerMetrics()

        def expander_of(suppression: SuppressionList) -> Expander:
            return Expander(
                store,
                RabbitSendPublisher(publishers.send_requests),
                RunCompletion(store, metrics),
                suppression,
                batch_size=batch,
                send_batch_size=settings.send_batch_size,
                lease=ExpansionLease(holder="measure", seconds=60),
            )

        async with suppression_responder(amqp_url) as responder:
            if suppressed_share > 0:
                for i in range(0, recipients, max(1, round(1 / suppressed_share))):
                    responder.suppress(tenant, f"user{i}@example.com", "hard bounce")
            client = SuppressionClient(rpc, timeout_seconds=10)
            print(f"{recipients} recipients, expansion batches of {batch}")
            for name, suppression in (
                ("without the check (before)", NothingSuppressed()),
                ("with the check (after)", client),
                ("without the check (before), again", NothingSuppressed()),
                ("with the check (after), again", client),
            ):
                print(f"  {name}:")
                took = await expand_once(store, expander_of, suppression, tenant, recipient_list.id)
                print(f"    {took:.2f} s, {recipients / took:,.0f} recipients/s")
            print(f"  checks answered: {len(responder.checks)}")
    finally:
        await rpc.close()
        await broker.stop()
        await database.close()
        delete_vhost(amqp_url)
        drop_database(database_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--suppressed-share", type=float, default=0.02)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(measure(args.recipients, args.batch, args.suppressed_share))


if __name__ == "__main__":
    main()
