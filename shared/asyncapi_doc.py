"""The AsyncAPI documents of the five services, generated from their FastStream apps so that the
message docs cannot drift from the code.

What a service consumes comes from its subscribers as they are registered. What it publishes it
sends with `publish_model` rather than through FastStream publisher objects, so `PUBLISHES` lists
it here, with the contract of each message; a platform team's systems that consume the status
events find their schema in these documents.
"""

import json
import os
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitQueue
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from shared import topology
from shared.contracts import (
    CampaignEvent,
    CatalogEvent,
    DeliveryRequested,
    ProbeRequest,
    SendRequested,
    ServerHealthEvent,
    StatusEvent,
)

INSTANCE_PLACEHOLDER = "<instance>"
"""Written where a per-process queue name has the process's random id, so documents are stable."""


@dataclass(frozen=True)
class Published:
    title: str
    model: type[BaseModel]
    description: str
    exchange: RabbitExchange | None = None
    routing_key: str = ""
    queue: str = ""


_STATUS = Published(
    "status events",
    StatusEvent,
    "Per message: `routed`, `held`, `waiting` (router; every eligible server is at its cap, `retry_at` says "
    "when it is routed again); `sent`, `deferred`, `failed`, `unknown` (delivery). Routing key "
    "`<tenant>.<campaign>.<status>`; bind a queue of your own to follow a tenant or a campaign.",
    exchange=topology.STATUS_EXCHANGE,
    routing_key="<tenant>.<campaign>.<status>",
)
_BACK_TO_ROUTING = Published(
    "back to routing",
    SendRequested,
    "A message handed back unsent (its server cannot send) or to be retried: routed again among its "
    "campaign's servers, avoiding `avoid_server_ids`.",
    exchange=topology.SEND_EXCHANGE,
    routing_key=topology.SEND_ROUTING_KEY,
)
_DELAYED = Published(
    "waiting",
    SendRequested,
    "A message that waits (every eligible server capped, or a retry's backoff) in the delay queue of the "
    f"step that ends nearest its time ({', '.join(f'{s}s' for s in topology.DELAY_STEPS_SECONDS)}); the "
    "quorum queue dead-letters it back to routing, at least once.",
    queue="sendpool.wait.<seconds>s",
)

PUBLISHES: dict[str, tuple[Published, ...]] = {
    "catalog": (
        Published(
            "catalog changes",
            CatalogEvent,
            "Every change to servers, plans, tenants and sending policies, from the transactional outbox, in "
            "`event_id` order. Routing key: the event's `kind`.",
            exchange=topology.CATALOG_EXCHANGE,
            routing_key="catalog.<entity>.<change>",
        ),
        Published(
            "connection probes",
            ProbeRequest,
            "RPC to the vendor's delivery worker: test a server's connection, or send one test message.",
            queue="delivery.probe.<vendor>",
        ),
    ),
    "scheduler": (
        Published(
            "send requests",
            SendRequested,
            "One per recipient of a launched campaign run.",
            exchange=topology.SEND_EXCHANGE,
            routing_key=topology.SEND_ROUTING_KEY,
        ),
        Published(
            "campaign events",
            CampaignEvent,
            "`campaign_resumed` after a resume, `campaign_completed` once every message of a run is final; "
            "from the scheduler's transactional outbox, at least once. Routing key `<tenant>.<campaign>.<kind>`.",
            exchange=topology.STATUS_EXCHANGE,
            routing_key="<tenant>.<campaign>.<kind>",
        ),
    ),
    "router": (
        Published(
            "deliveries",
            DeliveryRequested,
            "A message and the server chosen for it, with the reason (`decision`).",
            queue="delivery.<vendor>.<server_id>",
        ),
        _STATUS,
        Published(
            "campaign events",
            CampaignEvent,
            "`campaign_stopped` (naming each selected server and why it is ineligible) when no selected "
            "server can send; from the router's transactional outbox, with the stop, at least once. Routing key "
            "`<tenant>.<campaign>.<kind>`.",
            exchange=topology.STATUS_EXCHANGE,
            routing_key="<tenant>.<campaign>.<kind>",
        ),
        _BACK_TO_ROUTING,
        _DELAYED,
    ),
    "delivery": (
        _STATUS,
        Published(
            "server health",
            ServerHealthEvent,
            "A server's circuit breaker opened (repeated connection failures) or closed again.",
            exchange=topology.HEALTH_EXCHANGE,
            routing_key="server.<server_id>",
        ),
        _BACK_TO_ROUTING,
        _DELAYED,
    ),
    "bounces": (),
}

_NOTES = {
    "delivery": " A worker (`SENDPOOL_VENDOR`) also consumes `delivery.<vendor>.<server_id>` of each active "
    "server of its vendor (`DeliveryRequested`, see the router's document), starting and stopping those "
    "consumers as servers change.",
    "router": " A router also consumes the queue of each server that cannot send (paused, disabled, "
    "inactive, unhealthy or deleted) to route its messages again.",
}

SERVICES = tuple(PUBLISHES)

_PLACEHOLDER_ENVIRONMENT = {
    # Read when an app is built, never used: the document is made without connecting anywhere.
    "SENDPOOL_CATALOG_SECRET_KEYS": "ZG9jdW1lbnRzLW5ldmVyLWRlY3J5cHQtYW55dGhpbmc=",
    "SENDPOOL_VENDOR": "smtp",
}


def _broker_of(service: str) -> RabbitBroker:
    """The service's broker with its subscribers, built the way `faststream run` builds the app.

    Building an app configures the process's logging: run this in a process of its own (the
    `sendpool asyncapi` command), not inside another service.
    """
    saved = {name: os.environ.get(name) for name in _PLACEHOLDER_ENVIRONMENT}
    os.environ.update(_PLACEHOLDER_ENVIRONMENT)  # the same document whatever this shell has set
    try:
        return import_module(f"services.{service}.entrypoints.main").create_app().broker
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def asyncapi_document(service: str) -> dict[str, Any]:
    instance_id = topology.INSTANCE_ID
    topology.INSTANCE_ID = INSTANCE_PLACEHOLDER  # read by instance_queue() as the app is built
    try:
        broker = _broker_of(service)
    finally:
        topology.INSTANCE_ID = instance_id
    for published in PUBLISHES[service]:
        target = RabbitQueue(published.queue) if published.queue else ""
        broker.publisher(
            target,
            exchange=published.exchange,
            routing_key=published.routing_key,
            title=f"{service}: {published.title}",
            description=published.description,
            schema=published.model,
        )
    specification = AsyncAPI(
        broker,
        title=f"sendpool {service}",
        version="1",
        description=f"The messages the {service} service consumes and publishes on RabbitMQ.{_NOTES.get(service, '')}",
    )
    return specification.to_specification().to_jsonable()


def asyncapi_text(service: str) -> str:
    """The document as it is written to docs/asyncapi/<service>.json."""
    return json.dumps(asyncapi_document(service), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
