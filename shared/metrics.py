"""Prometheus metrics: one registry per process, FastStream's message metrics, and `GET /metrics`.

Every metric of a process lives in `REGISTRY`, not in prometheus_client's global default one,
so nothing a library registers there by itself ends up scraped. Services define their own
metrics once, at module level, against `REGISTRY`; FastStream's middleware finds its metrics
already registered when a second broker is made in the same process (tests build several apps),
so making brokers and apps again is safe.

Label values are bounded by servers, vendors and statuses, never by recipients, campaigns or
messages: a series per campaign would grow without end in Prometheus.
"""

from collections.abc import Callable
from typing import Any

from aio_pika import IncomingMessage
from faststream.message import StreamMessage
from faststream.prometheus import ConsumeAttrs, PrometheusMiddleware
from faststream.rabbit.prometheus.provider import RabbitMetricsSettingsProvider
from faststream.rabbit.response import RabbitPublishCommand
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    make_asgi_app,
)

from shared.topology import EVENTS_EXCHANGE, STATUS_EXCHANGE

REGISTRY = CollectorRegistry()
"""This process's metrics, with the usual process, platform and garbage collector ones."""
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

MESSAGE_METRICS_PREFIX = "faststream"
"""FastStream's own names (`faststream_received_messages_total`, ...), as its documentation shows them."""


_PER_CAMPAIGN_EXCHANGES = frozenset({STATUS_EXCHANGE.name, EVENTS_EXCHANGE.name})
"""Exchanges whose routing keys begin with the tenant and the campaign."""


def destination_label(exchange: str, routing_key: str) -> str:
    """The `handler`/`destination` label of a message: its exchange and routing key, bounded.

    Status events are routed `<tenant>.<campaign>.<status>`, and the public stream's batches
    `<tenant>.<campaign>.<type>`: as a label that would be a new series per campaign, so only the
    status or type is kept (`sendpool.status.*.*.sent`, `sendpool.events.*.*.delivered`).
    """
    if exchange in _PER_CAMPAIGN_EXCHANGES:
        routing_key = "*.*." + routing_key.rsplit(".", 1)[-1]
    return f"{exchange or 'default'}.{routing_key}"


class _BoundedRabbitMetrics(RabbitMetricsSettingsProvider):
    """FastStream's RabbitMQ labels, with status events' routing keys bounded (see `destination_label`)."""

    def get_consume_attrs_from_message(self, msg: StreamMessage[IncomingMessage]) -> ConsumeAttrs:
        attrs = super().get_consume_attrs_from_message(msg)
        raw = msg.raw_message
        attrs["destination_name"] = destination_label(raw.exchange or "", raw.routing_key or "")
        return attrs

    def get_publish_destination_name_from_cmd(self, cmd: RabbitPublishCommand) -> str:
        return destination_label(cmd.exchange.name or "", cmd.destination)


def broker_middleware(
    service: str, registry: CollectorRegistry = REGISTRY
) -> PrometheusMiddleware[IncomingMessage, RabbitPublishCommand]:
    """FastStream's message metrics for one service (what `RabbitPrometheusMiddleware` counts:
    received, processed with status and duration, exceptions, published), labelled
    `app_name="sendpool-<service>"`."""
    provider = _BoundedRabbitMetrics()
    return PrometheusMiddleware[IncomingMessage, RabbitPublishCommand](
        settings_provider_factory=lambda _msg: provider,
        registry=registry,
        app_name=f"sendpool-{service}",
        metrics_prefix=MESSAGE_METRICS_PREFIX,
    )


def metrics_app(registry: CollectorRegistry = REGISTRY) -> Callable[..., Any]:
    """An ASGI app answering with the registry in Prometheus' text format (`GET /metrics`)."""
    return make_asgi_app(registry)
