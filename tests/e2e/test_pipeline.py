"""The foundation's promises, end to end: real RabbitMQ, PostgreSQL, SMTP sinks, five service processes."""

import asyncio
import email
from collections import Counter
from uuid import UUID

import aio_pika
import psycopg
import pytest
from scipy.stats import chisquare

from tests.support.api import CONTENT, tenant_of
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually, eventually_async
from tools.stack.api import ApiError
from tools.stack.campaigns import draft_campaign, enabled_smtp_server, recipient_addresses, wait_for_state

pytestmark = pytest.mark.e2e


def test_weighted_campaign_is_delivered_exactly_once_in_proportion(pipeline):
    tenant = tenant_of(pipeline, "weights")
    with SmtpSink() as a, SmtpSink() as b, SmtpSink() as c:
        sinks = {
            str(enabled_smtp_server(tenant, name, sink.port).id): sink
            for name, sink in (("a", a), ("b", b), ("c", c))
        }
        weights = dict(zip(sinks, (1, 2, 7), strict=True))
        campaign = draft_campaign(tenant, recipient_addresses(2000), CONTENT)
        tenant.set_sending_policy(campaign.id, {UUID(s): w for s, w in weights.items()})
        tenant.launch(campaign.id)

        status = wait_for_state(tenant, campaign.id, "completed", timeout_seconds=300)
        assert status.counts.get("sent") == 2000
        received = [rcpt for sink in sinks.values() for m in sink.messages for rcpt in m.rcpt_tos]
        assert len(received) == 2000
        assert len(set(received)) == 2000, "a recipient received the campaign more than once"

        observed = [len(sinks[s].messages) for s in weights]
        expected = [2000 * w / 10 for w in weights.values()]
        assert chisquare(observed, expected).pvalue > 0.001, (observed, expected)
        assert status.per_server == {s: len(sink.messages) for s, sink in sinks.items()}

        # The bounces service counts each server's outcomes, and only outcomes (not `routed`).
        def counted_by_bounces() -> dict[tuple[str, str], int]:
            with psycopg.connect(pipeline.database_url) as conn:
                rows = conn.execute(
                    "SELECT server_id::text, status, sum(count) FROM bounces.server_outcome_hours"
                    " WHERE server_id = ANY(%s::uuid[]) GROUP BY 1, 2",
                    (list(sinks),),
                ).fetchall()
            return {(server, state): total for server, state, total in rows}

        expected_counts = {(s, "sent"): len(sink.messages) for s, sink in sinks.items()}
        eventually(
            lambda: counted_by_bounces() == expected_counts, what="bounces to count every sent message"
        )

        sample = email.message_from_bytes(c.messages[0].data)
        assert sample["Subject"] == "Hello"
        assert sample["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert sample["Message-ID"]


def test_campaign_whose_selected_servers_are_all_inactive_stops_and_sends_nothing(pipeline):
    tenant = tenant_of(pipeline, "inactive")
    with SmtpSink() as selected_sink, SmtpSink() as other_sink:
        never_enabled = tenant.create_smtp_server("never-enabled", host="127.0.0.1", port=selected_sink.port)
        disabled = enabled_smtp_server(tenant, "disabled", selected_sink.port)
        tenant.disable_server(disabled.id)
        enabled_smtp_server(tenant, "active-but-not-selected", other_sink.port)

        campaign = draft_campaign(tenant, recipient_addresses(50), CONTENT)
        tenant.set_sending_policy(campaign.id, {never_enabled.id: 1, disabled.id: 1})
        tenant.launch(campaign.id)

        status = wait_for_state(tenant, campaign.id, "stopped", timeout_seconds=120)
        assert status.stop_reason is not None
        assert str(never_enabled.id) in status.stop_reason and str(disabled.id) in status.stop_reason
        assert "inactive" in status.stop_reason and "disabled" in status.stop_reason
        # Give any stray message time to be delivered before asserting that none was.
        eventually(lambda: tenant.campaign(campaign.id).counts.get("held", 0) == 50, what="all 50 held")
        assert selected_sink.messages == [] and other_sink.messages == []
        assert tenant.campaign(campaign.id).counts.get("sent", 0) == 0


def test_server_cannot_be_enabled_before_a_passing_test(pipeline):
    tenant = tenant_of(pipeline, "lifecycle")
    with SmtpSink() as sink:
        server = tenant.create_smtp_server("lifecycle", host="127.0.0.1", port=sink.port)
        assert server.state == "inactive"

        with pytest.raises(ApiError) as refused:
            tenant.enable_server(server.id)
        assert refused.value.status_code == 409
        assert "test" in refused.value.detail

        port_with_nobody = sink.port + 1 if sink.port < 65535 else sink.port - 1
        tenant.change_server(
            server.id, settings={"host": "127.0.0.1", "port": port_with_nobody, "encryption": "none"}
        )
        failed = tenant.test_server(server.id)
        assert failed.ok is False and failed.message.startswith("Connection failed:")
        with pytest.raises(ApiError) as refused_again:
            tenant.enable_server(server.id)
        assert refused_again.value.status_code == 409

        tenant.change_server(
            server.id, settings={"host": "127.0.0.1", "port": sink.port, "encryption": "none"}
        )
        passed = tenant.test_server(server.id)
        assert passed.ok is True and passed.message == "Connection successful."
        assert tenant.enable_server(server.id).state == "active"

        # A change of connection settings makes it inactive until tested again.
        tenant.change_server(
            server.id,
            settings={
                "host": "127.0.0.1",
                "port": sink.port,
                "encryption": "none",
                "username": "u2",
                "password": "p",
            },
        )
        assert tenant.server(server.id).state == "inactive"


MALFORMED_BODIES = [b"not json at all", b'{"schema_version": 1, "message_id": "not-a-uuid"}']


async def _drain_dead_letters(
    amqp_url: str, expected: int, timeout: float = 60.0
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue("sendpool.dead")
        found: list[aio_pika.abc.AbstractIncomingMessage] = []

        async def all_arrived() -> bool:
            while len(found) < expected and (message := await queue.get(fail=False)) is not None:
                await message.ack()
                found.append(message)
            return len(found) >= expected

        await eventually_async(
            all_arrived, timeout_seconds=timeout, interval_seconds=0.3, what=f"{expected} dead letters"
        )
        return found


async def _publish_raw(amqp_url: str, queue_names: list[str], bodies: list[bytes]) -> None:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        for name in queue_names:
            for body in bodies:
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        body, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                    ),
                    routing_key=name,
                )


async def test_malformed_message_on_any_queue_is_dead_lettered_with_reason_and_consumers_go_on(pipeline):
    tenant = tenant_of(pipeline, "malformed")
    with SmtpSink() as sink:
        server = await asyncio.to_thread(enabled_smtp_server, tenant, "dlq", sink.port)
        queues = [
            "router.send-requested",
            "scheduler.status",
            "bounces.status",
            "catalog.rpc",
            f"delivery.smtp.{server.id}",
        ]
        # The router declares a server's queue on its first message; declare it here so the garbage lands.
        connection = await aio_pika.connect_robust(pipeline.amqp_url)
        async with connection:
            channel = await connection.channel()
            await channel.declare_queue(
                queues[-1],
                durable=True,
                arguments={
                    "x-queue-type": "quorum",
                    "x-delivery-limit": 10,
                    "x-dead-letter-exchange": "sendpool.dead",
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                },
            )
        await _publish_raw(pipeline.amqp_url, queues, MALFORMED_BODIES)

        dead = await _drain_dead_letters(pipeline.amqp_url, len(queues) * len(MALFORMED_BODIES))
        sources = Counter(m.headers["x-sendpool-source"].rsplit("/", 1)[1] for m in dead)
        assert sources == Counter({q: len(MALFORMED_BODIES) for q in queues})
        assert all(m.headers["x-sendpool-dead-reason"].startswith("malformed message:") for m in dead)
        assert {m.body for m in dead} == set(MALFORMED_BODIES)

        # Every consumer is still at work: a campaign through that very server completes.
        campaign = await asyncio.to_thread(draft_campaign, tenant, recipient_addresses(20), CONTENT)
        await asyncio.to_thread(tenant.set_sending_policy, campaign.id, {server.id: 1})
        await asyncio.to_thread(tenant.launch, campaign.id)
        status = await asyncio.to_thread(
            wait_for_state, tenant, campaign.id, "completed", timeout_seconds=120
        )
        assert status.counts["sent"] == 20 and len(sink.messages) == 20
