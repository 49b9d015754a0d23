"""How a service declares what it publishes, and the publishers more than one service declares.

Every message is a contract in JSON that survives a broker restart; declaring that once on the
publisher means no call site can forget it. Each service lists its publishers in
`adapters/publishers.py`; its AsyncAPI document is generated from them, so the titles and
descriptions here are what a consumer of the documents reads. The status events, the messages
sent back to routing and the waiting messages are published by the router and by the delivery
workers alike: they are declared here once, with the one description both documents give.
"""

from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.publisher import RabbitPublisher
from pydantic import BaseModel

from shared.contracts import SendBatch, StatusBatch
from shared.topology import DELAY_STEPS_SECONDS, SEND_EXCHANGE, SEND_ROUTING_KEY, STATUS_EXCHANGE


def contract_publisher(
    broker: RabbitBroker,
    service: str,
    title: str,
    schema: type[BaseModel],
    description: str,
    *,
    queue: RabbitQueue | str = "",
    exchange: RabbitExchange | None = None,
    routing_key: str = "",
    mandatory: bool = True,
) -> RabbitPublisher:
    """A publisher of `schema` as persistent JSON. `queue` or `routing_key` is what the document shows
    as the target; each publish names the real one (the server's queue, the event's routing key)."""
    return broker.publisher(
        RabbitQueue(queue) if isinstance(queue, str) and queue else queue,
        exchange,
        routing_key=routing_key,
        title=f"{service}: {title}",
        description=description,
        schema=schema,
        content_type="application/json",
        persist=True,
        mandatory=mandatory,
    )


def status_events_publisher(broker: RabbitBroker, service: str) -> RabbitPublisher:
    return contract_publisher(
        broker,
        service,
        "status events",
        StatusBatch,
        "Status events of one campaign and one status, in batches: `routed`, `held`, `waiting` (router; "
        "every eligible server is at its cap, `retry_at` says when it is routed again); `sent`, `deferred`, "
        "`failed`, `unknown`, `suppressed` (delivery: the recipient was found suppressed just before sending; "
        "the scheduler too, for a recipient it skipped at expansion; `reply_text` says why). "
        "Routing key `<tenant>.<campaign>.<status>`; bind a queue of your own to follow a tenant or a "
        "campaign. Each event of `events` is about one message; delivery is at least once, and every copy "
        "of one fact carries the same `event_id`, so drop the ids you have seen.",
        exchange=STATUS_EXCHANGE,
        routing_key="<tenant>.<campaign>.<status>",
    )


def back_to_routing_publisher(broker: RabbitBroker, service: str) -> RabbitPublisher:
    return contract_publisher(
        broker,
        service,
        "back to routing",
        SendBatch,
        "A message handed back unsent (its server cannot send) or to be retried: routed again among its "
        "campaign's servers, avoiding `avoid_server_ids`.",
        exchange=SEND_EXCHANGE,
        routing_key=SEND_ROUTING_KEY,
    )


def waiting_publisher(broker: RabbitBroker, service: str) -> RabbitPublisher:
    """Each publish names the delay queue (`shared.topology.delay_queue`) the message waits in."""
    return contract_publisher(
        broker,
        service,
        "waiting",
        SendBatch,
        "A message that waits (every eligible server capped, or a retry's backoff) in the delay queue of "
        f"the step that ends nearest its time ({', '.join(f'{s}s' for s in DELAY_STEPS_SECONDS)}); the "
        "quorum queue dead-letters it back to routing, at least once.",
        queue="sendpool.wait.<seconds>s",
    )
