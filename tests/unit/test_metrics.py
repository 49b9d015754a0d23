"""Prometheus metrics: the process registry, FastStream's message metrics, `/metrics`, and the names."""

from uuid import uuid4

import httpx
import prometheus_client
from fastapi import FastAPI
from faststream.rabbit import TestRabbitBroker
from prometheus_client.parser import text_string_to_metric_families

from services.delivery.adapters.metrics import PrometheusDeliveryMetrics
from services.router.adapters.metrics import PrometheusRoutingMetrics
from services.router.app.routing import Decision
from services.scheduler.adapters.metrics import PrometheusSchedulerMetrics
from shared.contracts import MessageStatus
from shared.messaging import make_broker
from shared.metrics import REGISTRY, destination_label
from shared.service import ServiceApp
from shared.topology import SEND_EXCHANGE, SEND_QUEUE, SEND_ROUTING_KEY, STATUS_EXCHANGE, status_queue


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_brokers_messages_are_counted_in_the_process_registry_under_the_services_name():
    service = f"unit-{uuid4().hex[:6]}"
    broker = make_broker("amqp://unused/", service)
    make_broker("amqp://unused/", service)  # a second broker in the process finds the metrics registered
    received: list[str] = []

    @broker.subscriber(SEND_QUEUE, SEND_EXCHANGE)
    async def on_send(body: dict) -> None:
        received.append(body["n"])

    @broker.subscriber(status_queue("unit"), STATUS_EXCHANGE)
    async def on_status(body: dict) -> None: ...

    app_name = f"sendpool-{service}"
    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish({"n": 1}, exchange=SEND_EXCHANGE, routing_key=SEND_ROUTING_KEY)
        await test_broker.publish({"n": 2}, exchange=SEND_EXCHANGE, routing_key=SEND_ROUTING_KEY)
        await test_broker.publish({}, exchange=STATUS_EXCHANGE, routing_key=f"{uuid4()}.{uuid4()}.sent")

    assert received == [1, 2]
    consumed = {"app_name": app_name, "broker": "rabbitmq", "handler": "sendpool.send.send.requested"}
    assert sample("faststream_received_messages_total", **consumed) == 2
    assert sample("faststream_received_processed_messages_total", **consumed, status="acked") == 2
    published = {"app_name": app_name, "broker": "rabbitmq", "destination": "sendpool.status.*.*.sent"}
    assert sample("faststream_published_messages_total", **published, status="success") == 1
    assert (
        sample(
            "faststream_received_messages_total",
            app_name=app_name,
            broker="rabbitmq",
            handler="sendpool.status.*.*.sent",
        )
        == 1
    )
    default_names = {metric.name for metric in prometheus_client.REGISTRY.collect()}
    assert not {name for name in default_names if name.startswith(("faststream", "sendpool"))}, (
        "nothing goes to prometheus_client's global registry"
    )


async def test_message_metrics_can_be_turned_off_for_throughput():
    service = f"unit-{uuid4().hex[:6]}"
    broker = make_broker("amqp://unused/", service, message_metrics=False)

    @broker.subscriber(SEND_QUEUE, SEND_EXCHANGE)
    async def on_send(body: dict) -> None: ...

    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish({"n": 1}, exchange=SEND_EXCHANGE, routing_key=SEND_ROUTING_KEY)

    consumed = {
        "app_name": f"sendpool-{service}",
        "broker": "rabbitmq",
        "handler": "sendpool.send.send.requested",
    }
    assert sample("faststream_received_messages_total", **consumed) == 0


def test_status_and_public_events_routing_keys_become_bounded_labels():
    tenant, campaign = uuid4(), uuid4()

    assert (
        destination_label("sendpool.status", f"{tenant}.{campaign}.deferred")
        == "sendpool.status.*.*.deferred"
    )
    assert (
        destination_label("sendpool.events", f"{tenant}.{campaign}.campaign_started")
        == "sendpool.events.*.*.campaign_started"
    )
    assert destination_label("", "delivery.smtp.abc") == "default.delivery.smtp.abc"
    assert (
        destination_label("sendpool.catalog", "catalog.server.changed")
        == "sendpool.catalog.catalog.server.changed"
    )


async def get_metrics(app) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        return await client.get("/metrics")


async def test_every_service_serves_the_registry_at_metrics_beside_its_http_api():
    api = FastAPI()

    @api.get("/metrics")
    def not_this_one() -> dict:
        return {"served by": "the http api"}

    for app in (
        ServiceApp(make_broker("amqp://unused/", "unit")),
        ServiceApp(make_broker("amqp://unused/", "unit"), http_api=api),
    ):
        response = await get_metrics(app)

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        names = {family.name for family in text_string_to_metric_families(response.text)}
        assert {
            "process_resident_memory_bytes",
            "sendpool_delivery_outcomes",
            "sendpool_router_decisions",
        } <= names


def test_delivery_metrics_count_outcomes_send_times_and_open_circuits():
    server_id, metrics = uuid4(), PrometheusDeliveryMetrics("smtp")
    sent_before = sample("sendpool_delivery_send_seconds_count", vendor="smtp")

    metrics.concluded("smtp", server_id, MessageStatus.SENT)
    metrics.concluded("smtp", server_id, MessageStatus.SENT)
    metrics.concluded("smtp", server_id, MessageStatus.DEFERRED)
    metrics.send_took("smtp", 0.2)

    outcome = {"vendor": "smtp", "server_id": str(server_id)}
    assert sample("sendpool_delivery_outcomes_total", **outcome, status="sent") == 2
    assert sample("sendpool_delivery_outcomes_total", **outcome, status="deferred") == 1
    assert sample("sendpool_delivery_send_seconds_count", vendor="smtp") == sent_before + 1
    assert sample("sendpool_delivery_send_seconds_bucket", vendor="smtp", le="0.25") >= 1

    circuit = {"vendor": "smtp", "server_id": str(server_id)}
    metrics.circuit_opened(server_id)
    assert REGISTRY.get_sample_value("sendpool_delivery_circuit_open", circuit) == 1
    metrics.circuit_closed(server_id)
    assert REGISTRY.get_sample_value("sendpool_delivery_circuit_open", circuit) == 0
    metrics.circuit_forgotten(server_id)
    assert REGISTRY.get_sample_value("sendpool_delivery_circuit_open", circuit) is None


def test_router_metrics_count_decisions_and_routed_messages_per_server():
    server_id, metrics = uuid4(), PrometheusRoutingMetrics()
    before = {
        decision: sample("sendpool_router_decisions_total", outcome=decision.value) for decision in Decision
    }

    metrics.decided(Decision.ROUTED, server_id)
    metrics.decided(Decision.ROUTED, server_id)
    for decision in (Decision.HELD, Decision.WAITING, Decision.REROUTED, Decision.ADMITTED_LATE):
        metrics.decided(decision)

    counted = {
        decision: sample("sendpool_router_decisions_total", outcome=decision.value) - before[decision]
        for decision in Decision
    }
    assert counted == {
        Decision.ROUTED: 2,
        Decision.HELD: 1,
        Decision.WAITING: 1,
        Decision.REROUTED: 1,
        Decision.ADMITTED_LATE: 1,
        Decision.LATE_AT_CAP: 0,
        Decision.CANCELLED: 0,
    }
    assert sample("sendpool_router_routed_total", server_id=str(server_id)) == 2


def test_scheduler_metrics_count_campaigns_and_folded_statuses():
    metrics = PrometheusSchedulerMetrics()
    launched, completed = (
        sample("sendpool_scheduler_campaigns_launched_total"),
        sample("sendpool_scheduler_campaigns_completed_total"),
    )
    sent = sample("sendpool_scheduler_statuses_total", status="sent")

    metrics.campaign_launched()
    metrics.campaign_completed()
    metrics.statuses_folded({"sent": 3, "routed": 1})

    assert sample("sendpool_scheduler_campaigns_launched_total") == launched + 1
    assert sample("sendpool_scheduler_campaigns_completed_total") == completed + 1
    assert sample("sendpool_scheduler_statuses_total", status="sent") == sent + 3
