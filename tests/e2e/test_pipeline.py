"""The foundation's promises, end to end: real RabbitMQ, PostgreSQL, SMTP sinks, five service processes."""

import asyncio
import email
from collections import Counter

import aio_pika
import psycopg
import pytest
from scipy.stats import chisquare

from tests.support.api import TenantClient
from tests.support.smtp import SmtpSink
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


def final_count(status: dict) -> int:
    counts = status["counts"]
    return sum(counts.get(s, 0) for s in ("sent", "failed", "unknown"))


def test_weighted_campaign_is_delivered_exactly_once_in_proportion(pipeline):
    tenant = TenantClient.create(pipeline.operator, pipeline.scheduler_url, "weights")
    with SmtpSink() as a, SmtpSink() as b, SmtpSink() as c:
        sinks = {
            tenant.smtp_server(name, sink.port)["id"]: sink for name, sink in (("a", a), ("b", b), ("c", c))
        }
        weights = dict(zip(sinks, (1, 2, 7), strict=True))
        list_id = tenant.recipients_list(2000)
        campaign_id = tenant.campaign(list_id)
        tenant.narrow(campaign_id, weights)
        tenant.launch(campaign_id)

        status = wait_for(
            lambda: (s := tenant.status(campaign_id))["state"] == "completed" and s,
            timeout=300,
            what="completion",
        )
        assert status["counts"].get("sent") == 2000
        received = [rcpt for sink in sinks.values() for m in sink.messages for rcpt in m.rcpt_tos]
        assert len(received) == 2000
        assert len(set(received)) == 2000, "a recipient received the campaign more than once"

        observed = [len(sinks[s].messages) for s in weights]
        expected = [2000 * w / 10 for w in weights.values()]
        assert chisquare(observed, expected).pvalue > 0.001, (observed, expected)
        assert {k: v for k, v in status["per_server"].items()} == {
            s: len(sink.messages) for s, sink in sinks.items()
        }

        # The bounces service counts each server's outcomes, and only outcomes (not `routed`).
        def counted_by_bounces() -> dict[tuple[str, str], int]:
            with psycopg.connect(pipeline.env["SENDPOOL_DATABASE_URL"]) as conn:
                rows = conn.execute(
                    "SELECT server_id::text, status, sum(count) FROM bounces.server_outcomes"
                    " WHERE server_id = ANY(%s::uuid[]) GROUP BY 1, 2",
                    (list(sinks),),
                ).fetchall()
            return {(server, state): total for server, state, total in rows}

        expected_counts = {(s, "sent"): len(sink.messages) for s, sink in sinks.items()}
        wait_for(lambda: counted_by_bounces() == expected_counts, what="bounces to count every sent message")

        sample = email.message_from_bytes(c.messages[0].data)
        assert sample["Subject"] == "Hello"
        assert sample["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert sample["Message-ID"]


def test_campaign_whose_selected_servers_are_all_inactive_stops_and_sends_nothing(pipeline):
    tenant = TenantClient.create(pipeline.operator, pipeline.scheduler_url, "inactive")
    with SmtpSink() as selected_sink, SmtpSink() as other_sink:
        never_enabled = tenant.smtp_server("never-enabled", selected_sink.port, enable=False)
        disabled = tenant.smtp_server("disabled", selected_sink.port)
        tenant.catalog.post(f"/servers/{disabled['id']}/disable").raise_for_status()
        tenant.smtp_server("active-but-not-selected", other_sink.port)

        campaign_id = tenant.campaign(tenant.recipients_list(50))
        tenant.narrow(campaign_id, {never_enabled["id"]: 1, disabled["id"]: 1})
        tenant.launch(campaign_id)

        status = wait_for(lambda: (s := tenant.status(campaign_id))["state"] == "stopped" and s, what="stop")
        assert never_enabled["id"] in status["stop_reason"] and disabled["id"] in status["stop_reason"]
        assert "inactive" in status["stop_reason"] and "disabled" in status["stop_reason"]
        # Give any stray message time to be delivered before asserting that none was.
        wait_for(lambda: tenant.status(campaign_id)["counts"].get("held", 0) == 50, what="all 50 held")
        assert selected_sink.messages == [] and other_sink.messages == []
        assert tenant.status(campaign_id)["counts"].get("sent", 0) == 0


def test_server_cannot_be_enabled_before_a_passing_test(pipeline):
    tenant = TenantClient.create(pipeline.operator, pipeline.scheduler_url, "lifecycle")
    with SmtpSink() as sink:
        server = tenant.smtp_server("lifecycle", sink.port, enable=False)
        assert server["state"] == "inactive"
        server_url = f"/servers/{server['id']}"

        refused = tenant.catalog.post(f"{server_url}/enable")
        assert refused.status_code == 409
        assert "test" in refused.json()["detail"]

        port_with_nobody = sink.port + 1 if sink.port < 65535 else sink.port - 1
        tenant.catalog.patch(
            server_url,
            json={"settings": {"host": "127.0.0.1", "port": port_with_nobody, "encryption": "none"}},
        ).raise_for_status()
        failed = tenant.catalog.post(f"{server_url}/test").json()
        assert failed["ok"] is False and failed["message"].startswith("Connection failed:")
        assert tenant.catalog.post(f"{server_url}/enable").status_code == 409

        tenant.catalog.patch(
            server_url, json={"settings": {"host": "127.0.0.1", "port": sink.port, "encryption": "none"}}
        ).raise_for_status()
        passed = tenant.catalog.post(f"{server_url}/test").json()
        assert passed == {**passed, "ok": True, "message": "Connection successful."}
        enabled = tenant.catalog.post(f"{server_url}/enable")
        assert enabled.status_code == 200 and enabled.json()["state"] == "active"

        # A change of connection settings makes it inactive until tested again.
        tenant.catalog.patch(
            server_url,
            json={
                "settings": {
                    "host": "127.0.0.1",
                    "port": sink.port,
                    "encryption": "none",
                    "username": "u2",
                    "password": "p",
                }
            },
        ).raise_for_status()
        assert tenant.catalog.get(server_url).json()["state"] == "inactive"


MALFORMED_BODIES = [b"not json at all", b'{"schema_version": 1, "message_id": "not-a-uuid"}']


async def _drain_dead_letters(
    amqp_url: str, expected: int, timeout: float = 60.0
) -> list[aio_pika.IncomingMessage]:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue("sendpool.dead")
        found: list = []
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found) < expected and asyncio.get_running_loop().time() < deadline:
            message = await queue.get(fail=False)
            if message is None:
                await asyncio.sleep(0.3)
                continue
            await message.ack()
            found.append(message)
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
    tenant = TenantClient.create(pipeline.operator, pipeline.scheduler_url, "malformed")
    with SmtpSink() as sink:
        server = await asyncio.to_thread(tenant.smtp_server, "dlq", sink.port)
        queues = [
            "router.send-requested",
            "scheduler.status",
            "bounces.status",
            "catalog.rpc",
            f"delivery.smtp.{server['id']}",
        ]
        # The router declares a server's queue on its first message; declare it here so the garbage lands.
        connection = await aio_pika.connect_robust(pipeline.env["SENDPOOL_AMQP_URL"])
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
        await _publish_raw(pipeline.env["SENDPOOL_AMQP_URL"], queues, MALFORMED_BODIES)

        dead = await _drain_dead_letters(
            pipeline.env["SENDPOOL_AMQP_URL"], len(queues) * len(MALFORMED_BODIES)
        )
        sources = Counter(m.headers["x-sendpool-source"].rsplit("/", 1)[1] for m in dead)
        assert sources == Counter({q: len(MALFORMED_BODIES) for q in queues})
        assert all(m.headers["x-sendpool-dead-reason"].startswith("malformed message:") for m in dead)
        assert {m.body for m in dead} == set(MALFORMED_BODIES)

        # Every consumer is still at work: a campaign through that very server completes.
        campaign_id = await asyncio.to_thread(
            tenant.campaign, await asyncio.to_thread(tenant.recipients_list, 20)
        )
        await asyncio.to_thread(tenant.narrow, campaign_id, {server["id"]: 1})
        await asyncio.to_thread(tenant.launch, campaign_id)
        status = await asyncio.to_thread(
            wait_for,
            lambda: (s := tenant.status(campaign_id))["state"] == "completed" and s,
            120,
            0.5,
            "completion",
        )
        assert status["counts"]["sent"] == 20 and len(sink.messages) == 20
