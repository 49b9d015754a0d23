"""How long a sent message waits for its durable record: the window in which a worker killed makes a
double send. Real SMTP (aiosmtpd) and real PostgreSQL; the delivery use case in process.

    python3 -m uv run python -m tests.integration.delivery.measure_record_window [--messages 2000]

Prints, for the outcome writer of today (group commit) and for the one before it (a `Batcher`
waiting up to 20 ms for company), the time from the sender's return (the server's 250 is in)
to the end of `record` (the outcome committed), as percentiles in milliseconds.
"""

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from uuid import UUID, uuid4

from services.delivery.adapters.postgres import PostgresAttempts
from services.delivery.adapters.smtp import SmtpOptions, SmtpSender, SmtpSettings
from services.delivery.app.deliver import DeliverMessage
from services.delivery.app.ports import ServerSender
from services.delivery.domain.attempts import AttemptRecord
from services.delivery.domain.retry import RetryPolicy
from shared.batching import Batcher
from tests.integration.delivery.messages import delivery_requested
from tests.support.egress import LOCAL_SINKS
from tests.support.infra import create_database, drop_database, migrated_pool
from tests.support.smtp import SmtpSink

SERVERS = 4
SENDS_PER_SERVER = 8


@dataclass
class Timings:
    sent_at: dict[UUID, float] = field(default_factory=dict)
    windows: list[float] = field(default_factory=list)


class TimedSender:
    def __init__(self, sender: SmtpSender, timings: Timings) -> None:
        self._sender, self._timings = sender, timings

    async def send(self, message):
        outcome = await self._sender.send(message)
        self._timings.sent_at[message.message_id] = time.perf_counter()
        return outcome


class TimedAttempts:
    """The store under test; `batched` puts the outcome writes of before behind a 20 ms `Batcher`."""

    def __init__(self, store: PostgresAttempts, timings: Timings, *, batched: bool) -> None:
        self._store, self._timings = store, timings
        self._batcher: Batcher[AttemptRecord, None] | None = (
            Batcher(self._write_batch, max_wait=0.02) if batched else None
        )

    async def _write_batch(self, records: list[AttemptRecord]) -> list[None]:
        await self._store._write_rows(records)
        return [None] * len(records)

    async def claim(self, message_id, server_id, attempt):
        return await self._store.claim(message_id, server_id, attempt)

    async def record(self, record: AttemptRecord) -> None:
        if self._batcher is not None:
            await self._batcher.submit(record)
        else:
            await self._store.record(record)
        self._timings.windows.append(time.perf_counter() - self._timings.sent_at[record.message_id])


class Senders:
    def __init__(self, sender) -> None:
        self._sender = sender

    async def sender_for(self, server_id: UUID) -> ServerSender:
        return ServerSender(self._sender, None)


class Quiet:
    """Outbound, gate, capacity, health, metrics and suppression: present, doing nothing."""

    async def publish_status(self, event) -> None: ...

    async def retry_later(self, send, wait_seconds: float) -> float:
        return wait_seconds

    async def hand_back(self, send) -> None: ...

    def refusal(self, server_id):
        return None

    async def wait_for_capacity(self, request) -> bool:
        return False

    async def suppressed(self, tenant_id, addresses) -> dict[str, str]:
        return {}

    def observe(self, server_id, outcome) -> None: ...

    def send_took(self, vendor, seconds) -> None: ...

    def concluded(self, vendor, server_id, status) -> None: ...


async def measure(database_url: str, messages: int, *, batched: bool) -> list[float]:
    timings = Timings()
    with SmtpSink() as sink:
        smtp = SmtpSender(
            SmtpSettings(host="127.0.0.1", port=sink.port, encryption="none"),
            SmtpOptions(max_connections=SENDS_PER_SERVER * SERVERS, egress=LOCAL_SINKS),
        )
        async with migrated_pool(database_url, "delivery", 4) as pool:
            quiet = Quiet()
            deliver = DeliverMessage(
                attempts=TimedAttempts(
                    PostgresAttempts(SimpleNamespace(pool=pool)), timings, batched=batched
                ),
                senders=Senders(TimedSender(smtp, timings)),
                outbound=quiet,
                retry_policy=RetryPolicy(max_attempts=3, base_seconds=30, max_age_seconds=3600),
                gate=quiet,
                capacity=quiet,
                health=quiet,
                metrics=quiet,
                suppression=quiet,
                verp_secret="measure",
                sends_per_server=SENDS_PER_SERVER,
            )
            servers = [uuid4() for _ in range(SERVERS)]
            requests = [
                delivery_requested(servers[n % SERVERS], f"reader{n}@inbox.example") for n in range(messages)
            ]
            await asyncio.gather(*(deliver(request, redelivered=False) for request in requests))
        await smtp.close()
    return timings.windows


def summary(windows: list[float]) -> str:
    ms = sorted(window * 1000 for window in windows)
    quantiles = statistics.quantiles(ms, n=100)
    return (
        f"n={len(ms)} mean={statistics.fmean(ms):.2f} p50={quantiles[49]:.2f} p90={quantiles[89]:.2f} "
        f"p99={quantiles[98]:.2f} max={ms[-1]:.2f} (ms)"
    )


async def main(messages: int) -> None:
    database_url = create_database("sendpool_measure")
    try:
        for label, batched in (("before: Batcher, 20 ms wait", True), ("after: group commit", False)):
            windows = await measure(database_url, messages, batched=batched)
            print(f"{label:32} {summary(windows)}")
    finally:
        drop_database(database_url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    asyncio.run(main(parser.parse_args().messages))
