"""Everything the scheduler publishes, declared once, so that the AsyncAPI document is generated from it."""

from dataclasses import dataclass

from faststream.rabbit import RabbitBroker
from faststream.rabbit.publisher import RabbitPublisher

from shared.contracts import CampaignEvent, SendBatch
from shared.publishers import contract_publisher, status_events_publisher
from shared.topology import SEND_EXCHANGE, SEND_ROUTING_KEY, STATUS_EXCHANGE

SERVICE = "scheduler"


@dataclass(frozen=True)
class SchedulerPublishers:
    send_requests: RabbitPublisher
    campaign_events: RabbitPublisher
    """Published by the outbox relay (`shared.outbox`), each with its own routing key."""
    suppressed_statuses: RabbitPublisher
    """`suppressed` status events of recipients skipped at expansion: published by the outbox relay
    too (declared for the AsyncAPI document)."""


def declare_publishers(broker: RabbitBroker) -> SchedulerPublishers:
    return SchedulerPublishers(
        send_requests=contract_publisher(
            broker,
            SERVICE,
            "send requests",
            SendBatch,
            "A batch of recipients of one campaign run, the content once: each recipient is one message "
            "(its own `message_id`, stable across re-expansions), routed, sent and reported on its own.",
            exchange=SEND_EXCHANGE,
            routing_key=SEND_ROUTING_KEY,
        ),
        campaign_events=contract_publisher(
            broker,
            SERVICE,
            "campaign events",
            CampaignEvent,
            "`campaign_resumed` after a resume, `campaign_completed` once every message of a run is final; "
            "from the scheduler's transactional outbox, at least once. Routing key `<tenant>.<campaign>.<kind>`. "
            "`campaign_progress` every SENDPOOL_SCHEDULER_PROGRESS_INTERVAL_SECONDS while a campaign runs "
            "(published directly: one may be lost, the next one replaces it), and a last one, through the "
            "outbox, just before `campaign_completed`.",
            exchange=STATUS_EXCHANGE,
            routing_key="<tenant>.<campaign>.<kind>",
        ),
        suppressed_statuses=status_events_publisher(broker, SERVICE),
    )
