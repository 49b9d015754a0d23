"""RabbitMQ topology: every exchange and queue name lives here, declared the same way everywhere.

Work queues are durable quorum queues with a delivery limit and a dead-letter exchange, so a
message that keeps crashing its consumer ends in `sendpool.dead` instead of looping forever.
"""

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

DELIVERY_LIMIT = 10
"""Redeliveries a quorum queue allows before RabbitMQ dead-letters a message (a crash loop backstop)."""

DEAD_EXCHANGE = RabbitExchange("sendpool.dead", type=ExchangeType.FANOUT, durable=True)
SEND_EXCHANGE = RabbitExchange("sendpool.send", type=ExchangeType.DIRECT, durable=True)
DELIVERY_EXCHANGE = RabbitExchange("sendpool.delivery", type=ExchangeType.DIRECT, durable=True)
STATUS_EXCHANGE = RabbitExchange("sendpool.status", type=ExchangeType.TOPIC, durable=True)
CATALOG_EXCHANGE = RabbitExchange("sendpool.catalog", type=ExchangeType.TOPIC, durable=True)
HEALTH_EXCHANGE = RabbitExchange("sendpool.health", type=ExchangeType.TOPIC, durable=True)
EVENTS_EXCHANGE = RabbitExchange("sendpool.events", type=ExchangeType.TOPIC, durable=True)
"""The public status stream (`shared.events.EventBatch`, routing key `<tenant>.<campaign>.<type>`):
what tenants' systems and the webhooks service read. `sendpool.status` is the platform's own."""

SEND_ROUTING_KEY = "send.requested"
CATALOG_RPC_QUEUE_NAME = "catalog.rpc"
ROUTER_ADMISSIONS_QUEUE_NAME = "router.admissions"
ROUTER_CAMPAIGN_HOLDS_QUEUE_NAME = "router.campaign-holds"
SCHEDULER_RPC_QUEUE_NAME = "scheduler.rpc"
BOUNCES_RPC_QUEUE_NAME = "bounces.rpc"


def work_queue(name: str, routing_key: str = "") -> RabbitQueue:
    """A durable quorum queue with a delivery limit, dead-lettering into sendpool.dead."""
    return RabbitQueue(
        name,
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=routing_key or name,
        arguments={
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": DEAD_EXCHANGE.name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        },
    )


DEAD_QUEUE = RabbitQueue("sendpool.dead", queue_type=QueueType.QUORUM, durable=True)
SEND_QUEUE = work_queue("router.send-requested", routing_key=SEND_ROUTING_KEY)
CATALOG_RPC_QUEUE = work_queue(CATALOG_RPC_QUEUE_NAME)
ROUTER_ADMISSIONS_QUEUE = work_queue(ROUTER_ADMISSIONS_QUEUE_NAME)
ROUTER_CAMPAIGN_HOLDS_QUEUE = work_queue(ROUTER_CAMPAIGN_HOLDS_QUEUE_NAME)
SCHEDULER_RPC_QUEUE = work_queue(SCHEDULER_RPC_QUEUE_NAME)
BOUNCES_RPC_QUEUE = work_queue(BOUNCES_RPC_QUEUE_NAME)


def delivery_queue_name(vendor: str, server_id: object) -> str:
    return f"delivery.{vendor}.{server_id}"


def delivery_queue(vendor: str, server_id: object) -> RabbitQueue:
    name = delivery_queue_name(vendor, server_id)
    return work_queue(name, routing_key=name)


def probe_queue(vendor: str) -> RabbitQueue:
    """RPC from the catalog. A probe names its server only (the worker fetches the secrets point to
    point), and nobody waits for it once its request timed out, so an expired or crashing probe is
    dropped, never kept in sendpool.dead."""
    name = f"delivery.probe.{vendor}"
    return RabbitQueue(
        name,
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=name,
        arguments={"x-delivery-limit": DELIVERY_LIMIT},
    )


def status_queue(consumer: str, binding: str = "#") -> RabbitQueue:
    """A consumer's own durable queue of status events (each consumer sees every event once)."""
    return work_queue(f"{consumer}.status", routing_key=binding)


INSTANCE_QUEUE_EXPIRES_MS = 10 * 60 * 1000
"""How long a replica's own queue outlives the replica's last connection to it."""


def instance_queue(consumer: str, purpose: str, binding: str, instance_id: str) -> RabbitQueue:
    """A queue of this process alone (`instance_id`, `ServiceSettings.instance_id`), removed by RabbitMQ once the process has been gone a while.

    Every replica must see every catalog change and campaign decision to keep its in-memory
    view whole, so these are not shared work queues; a replica that starts takes a snapshot
    first, so what it missed before it existed does not matter.

    It is not exclusive: an exclusive queue dies with its connection, so the events published
    while a replica reconnects (RabbitMQ closes a connection whose channel fails) would be lost
    and the replica would keep a stale view, say draining a server that is active again. This
    queue survives the reconnect and hands those events over; `x-expires` removes it after the
    replica is gone for good.
    """
    return RabbitQueue(
        f"{consumer}.{purpose}.{instance_id}",
        durable=True,
        routing_key=binding,
        arguments={"x-expires": INSTANCE_QUEUE_EXPIRES_MS},
    )


def catalog_events_queue(consumer: str, instance_id: str) -> RabbitQueue:
    return instance_queue(consumer, "catalog-events", "catalog.#", instance_id)


DELAY_STEPS_SECONDS = (1, 5, 15, 60, 300, 900, 3600)
"""Fixed waits, each a queue of its own: messages in one queue all share one TTL, so they expire in order."""


def delay_step(seconds: float) -> int:
    """The shortest fixed wait that is at least `seconds` (the longest one for anything longer)."""
    return next((step for step in DELAY_STEPS_SECONDS if step >= seconds), DELAY_STEPS_SECONDS[-1])


def delay_step_within(seconds: float) -> int:
    """The longest fixed wait that ends by `seconds` (the shortest one for anything shorter).

    For a message waiting for capacity: it comes back no later than the capacity does (61 s
    should not become 300 s), and if it comes back early, the router's memory of the cap sends
    it to wait again without asking the database.
    """
    return next((step for step in reversed(DELAY_STEPS_SECONDS) if step <= seconds), DELAY_STEPS_SECONDS[0])


def delay_queue(seconds: int) -> RabbitQueue:
    """A queue where messages wait `seconds` and then go back through routing (sendpool.send).

    Nobody consumes it: the TTL expires and RabbitMQ dead-letters the message to the send
    exchange. This is how throttled and deferred messages wait without a busy loop or a
    blocked consumer.

    It is a quorum queue with at-least-once dead-lettering: the waiting message stays in this
    queue until the queue it is dead-lettered into has confirmed it. A classic queue dead-letters
    at most once, so a message whose wait ended while `router.send-requested` had no leader (in
    the seconds after a broker restart) was dropped for good. `reject-publish` is what RabbitMQ
    requires for at-least-once dead-lettering; there is no length limit, so it never rejects.

    The name differs from the classic `sendpool.delay.<n>s` queues of earlier versions, since a
    queue's type cannot change: those drain into routing by themselves and may be deleted once empty.
    """
    return RabbitQueue(
        f"sendpool.wait.{seconds}s",
        queue_type=QueueType.QUORUM,
        durable=True,
        arguments={
            "x-message-ttl": seconds * 1000,
            "x-dead-letter-exchange": SEND_EXCHANGE.name,
            "x-dead-letter-routing-key": SEND_ROUTING_KEY,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        },
    )
