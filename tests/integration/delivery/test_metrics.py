"""The delivery worker's `GET /metrics`: its outcomes and send times, and FastStream's message metrics."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from shared.topology import delivery_queue_name
from tests.integration.delivery.messages import delivery_requested, recipient
from tests.support.metrics import scrape, total

pytestmark = pytest.mark.usefixtures("worker")


async def test_a_sent_message_shows_in_the_workers_metrics(bus, worker, server_id):
    queue = delivery_queue_name("smtp", server_id)
    request = delivery_requested(server_id, recipient())

    await bus.publish_to_queue(request, queue)
    await bus.wait_for_status(request.send.message_id, "sent")
    samples = await asyncio.to_thread(scrape, worker.url)

    outcome = {"vendor": "smtp", "server_id": str(server_id)}
    assert total(samples, "sendpool_delivery_outcomes_total", **outcome, status="sent") >= 1
    assert total(samples, "sendpool_delivery_send_seconds_count", vendor="smtp") >= 1
    consumed = {"app_name": "sendpool-delivery", "handler": f"default.{queue}"}
    assert total(samples, "faststream_received_messages_total", **consumed) >= 1
    assert total(samples, "faststream_received_processed_messages_total", **consumed, status="acked") >= 1
    published = {"app_name": "sendpool-delivery", "destination": "sendpool.status.*.*.sent"}
    assert total(samples, "faststream_published_messages_total", **published, status="success") >= 1
    assert not [s for s in samples if str(request.send.campaign_id) in str(s.labels)], (
        "no label names a campaign: a series per campaign would grow without end"
    )


async def test_a_batch_taken_from_its_queue_shows_when_it_was_routed_and_how_long_it_waited(
    bus, worker, server_id
):
    queue = delivery_queue_name("smtp", server_id)
    waited_before = total(
        await asyncio.to_thread(scrape, worker.url), "sendpool_delivery_queue_wait_seconds_sum", vendor="smtp"
    )
    # Routed a while ago (not counted against a limit, so it is not "late"): it waited that long.
    routed_at = datetime.now(UTC) - timedelta(seconds=1234.5)
    request = delivery_requested(server_id, recipient()).model_copy(update={"routed_at": routed_at})

    await bus.publish_to_queue(request, queue)
    await bus.wait_for_status(request.send.message_id, "sent")
    samples = await asyncio.to_thread(scrape, worker.url)

    head = total(
        samples,
        "sendpool_delivery_queue_head_routed_timestamp_seconds",
        vendor="smtp",
        server_id=str(server_id),
    )
    assert head == pytest.approx(routed_at.timestamp(), abs=1e-3)
    waited = total(samples, "sendpool_delivery_queue_wait_seconds_sum", vendor="smtp") - waited_before
    assert 1234.5 <= waited < 1234.5 + 60


async def test_a_malformed_message_counts_as_an_exception_and_is_still_dead_lettered(bus, worker, server_id):
    queue = delivery_queue_name("smtp", server_id)
    handler = {"app_name": "sendpool-delivery", "handler": f"default.{queue}"}
    before = total(
        await asyncio.to_thread(scrape, worker.url),
        "faststream_received_processed_messages_exceptions_total",
        **handler,
        exception_type="ValidationError",
    )
    dead_before = total(
        await asyncio.to_thread(scrape, worker.url),
        "sendpool_dead_letters_total",
        service="delivery",
        reason_kind="malformed",
    )
    body = b'{"send": {"recipient": "metrics"}}'

    await bus.broker.publish(body, queue=queue, content_type="application/json", persist=True)
    await bus.dead.wait_for(lambda letter: letter.body == body)
    samples = await asyncio.to_thread(scrape, worker.url)

    exceptions = total(
        samples,
        "faststream_received_processed_messages_exceptions_total",
        **handler,
        exception_type="ValidationError",
    )
    assert exceptions == before + 1
    dead = {"service": "delivery", "reason_kind": "malformed"}
    assert total(samples, "sendpool_dead_letters_total", **dead) == dead_before + 1
