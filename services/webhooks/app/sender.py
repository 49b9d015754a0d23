"""The sender: takes due endpoints and sends each its oldest pending events, one request at a time.

Isolation between endpoints and tenants:
- a bounded number of requests in flight per process (`concurrency`), at most one per endpoint
  (a lease in PostgreSQL, so across replicas too), and at most `tenant_cap` per tenant;
- every request is bounded in time (`request_timeout_seconds`), so a slow endpoint holds one slot
  for that long at most, and a failing one waits out its own backoff without holding any;
- due endpoints are taken in the order they were last served (round-robin), and several replicas
  share them (`FOR UPDATE SKIP LOCKED`).
"""

import asyncio
import contextlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import monotonic

import structlog

from services.webhooks.app.ports import Attempt, Claimed, DeliveryQueue, SecretBox, WebhookClient
from services.webhooks.domain.payloads import batch_size, payload_of
from services.webhooks.domain.retry import retry_delay, should_disable
from services.webhooks.domain.signing import signed_headers

log = structlog.get_logger("webhooks.sender")

LEASE_MARGIN_SECONDS = 30.0
"""A lease outlives its request by this much: a replica that died mid-request frees its endpoint then."""


@dataclass(frozen=True)
class SenderPolicy:
    concurrency: int
    tenant_cap: int
    batch_max_events: int
    request_timeout_seconds: float
    retry_base_seconds: float
    retry_max_seconds: float
    disable_after: timedelta
    poll_seconds: float


class Sender:
    def __init__(
        self, queue: DeliveryQueue, client: WebhookClient, secrets: SecretBox, policy: SenderPolicy
    ) -> None:
        self._queue = queue
        self._client = client
        self._secrets = secrets
        self._policy = policy
        self._in_flight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._random = random.Random()

    def wake(self) -> None:
        """Look for due endpoints now (new events were queued)."""
        self._wake.set()

    async def run(self) -> None:
        """Rounds for ever, each after a wake-up or `poll_seconds`; `shared.background` supervises it."""
        while True:
            self._wake.clear()
            await self.round()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._policy.poll_seconds)

    async def round(self) -> int:
        """Start a request for each due endpoint there is a free slot for; returns how many started."""
        free = self._policy.concurrency - len(self._in_flight)
        if free <= 0:
            return 0
        claimed = await self._queue.claim(
            free,
            tenant_cap=self._policy.tenant_cap,
            lease_seconds=self._policy.request_timeout_seconds + LEASE_MARGIN_SECONDS,
        )
        for endpoint in claimed:
            task = asyncio.create_task(self._deliver(endpoint), name=f"webhook-{endpoint.id}")
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
        return len(claimed)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Its lease runs out and the endpoint is taken again then.
            log.warning("webhook request could not be recorded", error=repr(task.exception()))
        self._wake.set()

    async def stop(self) -> None:
        """Cancel the requests in flight: their leases run out and another replica sends them again."""
        for task in list(self._in_flight):
            task.cancel()
        for task in list(self._in_flight):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver(self, endpoint: Claimed) -> None:
        events = await self._queue.due_events(endpoint.id, self._policy.batch_max_events)
        if not events:
            await self._queue.release(endpoint.id)
            return
        events = events[: batch_size(len(events), self._policy.batch_max_events)]
        payload = payload_of(endpoint.id, events)
        now = datetime.now(UTC)
        secrets = [self._secrets.open(endpoint.secret_sealed)]
        if (
            endpoint.previous_secret_sealed is not None
            and endpoint.previous_secret_until is not None
            and endpoint.previous_secret_until > now
        ):
            secrets.append(self._secrets.open(endpoint.previous_secret_sealed))
        headers = signed_headers(payload.webhook_id, now, payload.body, secrets)
        started = monotonic()
        response = await self._client.post(endpoint.url, payload.body, headers)
        attempt = Attempt(
            attempted_at=now,
            webhook_id=payload.webhook_id,
            event_ids=payload.event_ids,
            status_code=response.status_code,
            error=response.error,
            duration_ms=response.duration_ms or round((monotonic() - started) * 1000),
        )
        if attempt.succeeded:
            await self._queue.delivered(endpoint.id, attempt)
            return
        finished = datetime.now(UTC)
        failing_since = endpoint.failing_since or now
        disable = should_disable(failing_since, finished, self._policy.disable_after)
        delay = retry_delay(
            endpoint.failures + 1,
            base_seconds=self._policy.retry_base_seconds,
            max_seconds=self._policy.retry_max_seconds,
            rand=self._random,
        )
        await self._queue.failed(
            endpoint.id,
            attempt,
            next_attempt_at=finished + timedelta(seconds=delay),
            disable_reason=(
                f"failed without a success since {failing_since.isoformat()}; last: "
                f"{attempt.error or f'HTTP {attempt.status_code}'}"
                if disable
                else None
            ),
        )
        log.info(
            "webhook request failed",
            endpoint_id=str(endpoint.id),
            status_code=attempt.status_code,
            error=attempt.error,
            retry_in_seconds=round(delay, 3),
            disabled=disable,
        )
